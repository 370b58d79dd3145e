//! The maintenance window of `[update]`: `HH:MM-HH:MM` local time, which
//! may wrap midnight (`22:00-04:00`); empty means any time.

/// Minutes after midnight: [start, end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() == 5).then_some(h * 60 + m)
}

impl Window {
    /// `Ok(None)` for an empty window (any time).
    pub fn parse(text: &str) -> Result<Option<Window>, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let bad = || format!("maintenance window {text:?}: write it as HH:MM-HH:MM, for example 02:00-04:30");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start == end {
            return Err(format!("maintenance window {text:?} is empty: its start and end are the same"));
        }
        Ok(Some(Window { start, end }))
    }

    /// Whether `minute` (after midnight, local) is inside.
    pub fn contains(&self, minute: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Minutes from `minute` until the window opens (0 inside it).
    pub fn until_open(&self, minute: u32) -> u32 {
        if self.contains(minute) {
            0
        } else {
            (self.start + 24 * 60 - minute) % (24 * 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_plain_and_across_midnight() {
        assert_eq!(Window::parse("").unwrap(), None);
        let w = Window::parse("02:00-04:30").unwrap().unwrap();
        assert!(w.contains(120) && w.contains(269) && !w.contains(270) && !w.contains(119));
        assert_eq!(w.until_open(60), 60);
        assert_eq!(w.until_open(300), 24 * 60 - 180);
        let n = Window::parse("22:00-04:00").unwrap().unwrap();
        assert!(n.contains(23 * 60) && n.contains(0) && n.contains(239) && !n.contains(240) && !n.contains(12 * 60));
        assert_eq!(n.until_open(21 * 60), 60);
        for bad in ["2-4", "02:00", "25:00-01:00", "02:00-02:00", "02:60-03:00", "aa:bb-cc:dd"] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }
}
