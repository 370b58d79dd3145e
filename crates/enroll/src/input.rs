//! What a user types for the management server: its address and its
//! certificate's SHA-256 fingerprint, checked as typed (the Setup
//! Assistant's cloud-gateway step and the local Setup's Management page).

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
}
