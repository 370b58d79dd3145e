//! `/etc/quill/release`: what this image is (written by the image build).

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub version: String,
    pub board: String,
    pub build_id: String,
}

impl Release {
    /// Parses `KEY=value` lines; missing keys read as `unknown`.
    pub fn parse(text: &str) -> Release {
        let map: BTreeMap<&str, &str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let get = |k: &str| map.get(k).copied().unwrap_or("unknown").to_string();
        Release { version: get("VERSION"), board: get("BOARD"), build_id: get("BUILD_ID") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_key_values() {
        let r = Release::parse("# comment\nVERSION=1.2.3\nBOARD=\"x86-ud\"\n");
        assert_eq!(r.version, "1.2.3");
        assert_eq!(r.board, "x86-ud");
        assert_eq!(r.build_id, "unknown");
    }
}
