//! Checks of what the user types, with the reason when it is wrong.

pub use enroll::input::{address, fingerprint, group_fingerprint, Fingerprint};

/// A date as YYYY-MM-DD.
pub fn date(typed: &str) -> Option<(i32, u32, u32)> {
    let p: Vec<&str> = typed.trim().split('-').collect();
    if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (p[0].parse().ok()?, p[1].parse().ok()?, p[2].parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    ((1970..=2199).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days[m as usize - 1]).then_some((y, m, d))
}

/// A time as HH:MM or HH:MM:SS.
pub fn time(typed: &str) -> Option<(u32, u32, u32)> {
    let p: Vec<&str> = typed.trim().split(':').collect();
    if !(2..=3).contains(&p.len()) || p.iter().any(|x| x.len() != 2) {
        return None;
    }
    let h: u32 = p[0].parse().ok()?;
    let m: u32 = p[1].parse().ok()?;
    let s: u32 = if p.len() == 3 { p[2].parse().ok()? } else { 0 };
    (h < 24 && m < 60 && s < 60).then_some((h, m, s))
}

pub use devconfig::{civil, unix_time};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(date("2026-11-23"), Some((2026, 11, 23)));
        assert_eq!(date("2024-02-29"), Some((2024, 2, 29)));
        for bad in ["2025-02-29", "2026-13-01", "2026-1-1", "26-11-23", "2026-11-31", "x"] {
            assert_eq!(date(bad), None, "{bad}");
        }
        assert_eq!(time("09:05"), Some((9, 5, 0)));
        assert_eq!(time("23:59:59"), Some((23, 59, 59)));
        for bad in ["24:00", "9:05", "12:60", "12"] {
            assert_eq!(time(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_time_round_trips() {
        assert_eq!(unix_time((1970, 1, 1), (0, 0, 0)), 0);
        assert_eq!(unix_time((2026, 11, 23), (12, 34, 56)), 1_795_437_296);
        for t in [0i64, 951_782_400, 1_795_437_296, 4_102_444_799] {
            let (d, tm) = civil(t);
            assert_eq!(unix_time(d, tm), t);
        }
    }
}
