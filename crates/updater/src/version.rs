//! Comparing firmware versions: dotted parts compared numerically when both
//! are numbers (`1.10.0` > `1.9.3`), as text otherwise.

use std::cmp::Ordering;

pub fn compare(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| s.split(['.', '-', '+']).map(String::from).collect::<Vec<_>>();
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (pa.get(i).map(String::as_str).unwrap_or("0"), pb.get(i).map(String::as_str).unwrap_or("0"));
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn table() {
        for (a, b, want) in [
            ("1.0.0", "1.0.0", Equal),
            ("1.10.0", "1.9.3", Greater),
            ("2.0", "2.0.0", Equal),
            ("0.1.0", "0.2.0", Less),
            ("1.0.0-rc1", "1.0.0-rc2", Less),
            ("11", "9", Greater),
        ] {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
        }
    }
}
