//! When the home screen blanks (User Interface › Display › blanking): after
//! a while without input; the input that wakes it does nothing else, and a
//! new offer (an update on a stick or from the network) wakes it too.

use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Blanker {
    after: Option<Duration>,
    last: Instant,
    blanked: bool,
}

/// What the screen must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Blank,
    Wake,
}

impl Blanker {
    /// `after`: how long without input (`None`: never).
    pub fn new(after: Option<Duration>, now: Instant) -> Blanker {
        Blanker { after, last: now, blanked: false }
    }

    pub fn set_after(&mut self, after: Option<Duration>) {
        self.after = after;
    }

    pub fn blanked(&self) -> bool {
        self.blanked
    }

    /// When the last input came.
    pub fn last_input(&self) -> Instant {
        self.last
    }

    /// An input came; whether it acts (false: it only woke the screen).
    pub fn input(&mut self, now: Instant) -> bool {
        self.last = now;
        !std::mem::replace(&mut self.blanked, false)
    }

    /// Time passed; `offered`: a box offering something just opened.
    pub fn tick(&mut self, now: Instant, offered: bool) -> Option<Change> {
        if self.blanked && offered {
            self.blanked = false;
            self.last = now;
            return Some(Change::Wake);
        }
        if !self.blanked && self.after.is_some_and(|a| now.duration_since(self.last) >= a) {
            self.blanked = true;
            return Some(Change::Blank);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_after_the_idle_time_and_the_waking_input_does_nothing_else() {
        let t0 = Instant::now();
        let m = Duration::from_secs(60);
        let mut b = Blanker::new(Some(m), t0);
        assert_eq!(b.tick(t0 + Duration::from_secs(59), false), None);
        assert!(b.input(t0 + Duration::from_secs(59)), "an input on a lit screen acts");
        assert_eq!(b.tick(t0 + Duration::from_secs(100), false), None, "counted from the last input");
        assert_eq!(b.tick(t0 + Duration::from_secs(119), false), Some(Change::Blank));
        assert!(b.blanked());
        assert_eq!(b.tick(t0 + Duration::from_secs(200), false), None, "blank once");
        assert!(!b.input(t0 + Duration::from_secs(201)), "the waking input is swallowed");
        assert!(!b.blanked());
        assert!(b.input(t0 + Duration::from_secs(202)));
        // An offer wakes it.
        assert_eq!(b.tick(t0 + Duration::from_secs(262), false), Some(Change::Blank));
        assert_eq!(b.tick(t0 + Duration::from_secs(263), true), Some(Change::Wake));
        assert_eq!(b.last_input(), t0 + Duration::from_secs(263));
        // Never, when switched off.
        b.set_after(None);
        assert_eq!(b.tick(t0 + Duration::from_secs(100_000), false), None);
    }
}
