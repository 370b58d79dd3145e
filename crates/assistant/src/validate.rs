//! Checks of what the user types, with the reason when it is wrong.

/// A SHA-256 fingerprint as typed: 64 hex digits, shown as 4 groups of 16.
/// Spaces, colons and dashes between digits are ignored.
#[derive(Debug, PartialEq, Eq)]
pub enum Fingerprint {
    /// All 64 digits, lowercase.
    Complete(String),
    /// Only hex digits so far, this many.
    Partial(usize),
    /// Characters that are not hex digits.
    Invalid(String),
}

pub fn fingerprint(typed: &str) -> Fingerprint {
    let mut digits = String::new();
    let mut bad = String::new();
    for c in typed.chars() {
        match c {
            ' ' | ':' | '-' => {}
            c if c.is_ascii_hexdigit() => digits.push(c.to_ascii_lowercase()),
            c => {
                if !bad.contains(c) {
                    bad.push(c)
                }
            }
        }
    }
    if !bad.is_empty() {
        Fingerprint::Invalid(bad)
    } else if digits.len() == 64 {
        Fingerprint::Complete(digits)
    } else if digits.len() > 64 {
        Fingerprint::Invalid(format!("{} digits", digits.len()))
    } else {
        Fingerprint::Partial(digits.len())
    }
}

/// `hex` (64 digits) as 4 groups of 16, uppercase: how the gateway shows it.
pub fn group_fingerprint(hex: &str) -> String {
    let up = hex.to_ascii_uppercase();
    up.as_bytes().chunks(16).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// A gateway address: a host name or IP address, optionally with a port
/// (`[v6]:port` for IPv6). Returns (host, port); the port defaults to 443.
pub fn address(typed: &str) -> Option<(String, u16)> {
    let s = typed.trim();
    if s.is_empty() || s.contains(char::is_whitespace) || s.contains('/') {
        return None;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 443,
            None => return None,
        };
        (h.to_string(), port)
    } else if s.matches(':').count() > 1 {
        s.parse::<std::net::Ipv6Addr>().ok()?;
        (s.to_string(), 443)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (s.to_string(), 443),
        }
    };
    if port == 0 || host.is_empty() {
        return None;
    }
    let valid_name = host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    (host.contains(':') || valid_name).then_some((host, port))
}

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
    fn fingerprints_as_typed() {
        let fp = "a1b2c3d4e5f60718".repeat(4);
        assert_eq!(fingerprint(&group_fingerprint(&fp)), Fingerprint::Complete(fp.clone()));
        assert_eq!(fingerprint(&fp.to_uppercase()), Fingerprint::Complete(fp.clone()));
        assert_eq!(fingerprint("A1:B2:C3"), Fingerprint::Partial(6));
        assert_eq!(fingerprint(""), Fingerprint::Partial(0));
        assert_eq!(fingerprint("A1B2 XYZ"), Fingerprint::Invalid("XYZ".into()));
        assert_eq!(fingerprint(&format!("{fp}00")), Fingerprint::Invalid("66 digits".into()));
        assert_eq!(group_fingerprint(&fp), "A1B2C3D4E5F60718 A1B2C3D4E5F60718 A1B2C3D4E5F60718 A1B2C3D4E5F60718");
    }

    #[test]
    fn addresses() {
        assert_eq!(address("gw.example.com"), Some(("gw.example.com".into(), 443)));
        assert_eq!(address(" 127.0.0.1:8443 "), Some(("127.0.0.1".into(), 8443)));
        assert_eq!(address("[::1]:8443"), Some(("::1".into(), 8443)));
        assert_eq!(address("::1"), Some(("::1".into(), 443)));
        for bad in ["", "gw example", "https://gw", "gw:0", "gw:99999", "-gw", "gw..com", "[gw]:1", "gw:"] {
            assert_eq!(address(bad), None, "{bad:?}");
        }
    }

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
