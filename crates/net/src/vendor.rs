//! DHCP option 43 for vendor class `quill-dhcp-1` (option 60): sub-options
//! a DHCP server's administrator sets so devices find their management
//! server and update channel without typing (docs/dhcp-options.md).
//! Codes are fixed: do not renumber.

/// The management server's address (`host` or `host:port`), text.
pub const MGMT_ADDRESS: u8 = 1;
/// The SHA-256 of the management server's certificate, 32 bytes.
pub const MGMT_FINGERPRINT: u8 = 2;
/// The update repository's root URL, text (used when the settings name none).
pub const CHANNEL_URL: u8 = 3;

/// Quill's sub-options of option 43.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vendor {
    pub mgmt_address: Option<String>,
    /// Lowercase hex.
    pub mgmt_fingerprint: Option<String>,
    pub channel_url: Option<String>,
    /// Sub-options that were dropped, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

fn text(code: u8, v: &[u8]) -> Result<String, String> {
    let s = std::str::from_utf8(v).map_err(|_| format!("sub-option {code} is not UTF-8"))?;
    if s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("sub-option {code} holds an empty value, spaces or control characters"));
    }
    Ok(s.to_string())
}

impl Vendor {
    /// Parses the TLV list (code, length, value); `0` is padding, `255` ends it.
    pub fn parse(raw: &[u8]) -> Vendor {
        let mut v = Vendor::default();
        let mut i = 0;
        while i < raw.len() {
            let code = raw[i];
            if code == 0 {
                i += 1;
                continue;
            }
            if code == 255 {
                break;
            }
            let Some(&len) = raw.get(i + 1) else {
                v.dropped.push(format!("sub-option {code} has no length"));
                break;
            };
            let Some(value) = raw.get(i + 2..i + 2 + len as usize) else {
                v.dropped.push(format!("sub-option {code} is cut short ({len} bytes announced)"));
                break;
            };
            let r = match code {
                MGMT_ADDRESS => text(code, value).map(|s| v.mgmt_address = Some(s)),
                MGMT_FINGERPRINT if value.len() == 32 => {
                    v.mgmt_fingerprint = Some(hex::encode(value));
                    Ok(())
                }
                MGMT_FINGERPRINT => Err(format!("sub-option 2 is {} bytes, not a SHA-256 (32)", value.len())),
                CHANNEL_URL => text(code, value).map(|s| v.channel_url = Some(s)),
                other => Err(format!("sub-option {other} is not one of Quill's")),
            };
            if let Err(e) = r {
                v.dropped.push(e);
            }
            i += 2 + len as usize;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_options_and_bad_input() {
        let mut raw = vec![1, 13];
        raw.extend_from_slice(b"mgmt.example:8443"[..13].as_ref());
        raw.extend_from_slice(&[2, 32]);
        raw.extend_from_slice(&[0xab; 32]);
        raw.extend_from_slice(&[0, 3, 5]);
        raw.extend_from_slice(b"http:");
        raw.extend_from_slice(&[9, 1, 0, 255, 1, 1, b'x']);
        let v = Vendor::parse(&raw);
        assert_eq!(v.mgmt_address.as_deref(), Some("mgmt.example:"));
        assert_eq!(v.mgmt_fingerprint.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(v.channel_url.as_deref(), Some("http:"));
        assert_eq!(v.dropped, ["sub-option 9 is not one of Quill's"]);
        let v = Vendor::parse(&[1, 200, b'a']);
        assert!(v.dropped[0].contains("cut short"));
        let v = Vendor::parse(&[2, 3, 1, 2, 3, 1, 2, b'\n', b'x']);
        assert_eq!(v.dropped.len(), 2, "{:?}", v.dropped);
        assert_eq!(Vendor::parse(&[]), Vendor::default());
    }
}
