//! The enrollment on DATA: one JSON file, mode 0600, written crash-safe
//! (temporary file, fsync, rename, fsync of the folder), holding the
//! device's private key, its certificate, the CA certificates, the server
//! it belongs to and the state of renewal. One file, so that a power cut
//! leaves the old enrollment or the new one, never a key of one and a
//! certificate of the other.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE: &str = "enrollment.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enrollment {
    pub schema: u32,
    /// `host` or `host:port`, as the user typed it or DHCP gave it.
    pub address: String,
    /// The pinned SHA-256 of the server's certificate, lowercase hex.
    pub fingerprint: String,
    pub unit_id: String,
    /// The device's private key, PKCS#8 PEM. Never leaves the device.
    pub key: String,
    /// The device's certificate, then any chain EST sent, PEM.
    pub certs: Vec<String>,
    /// The CA certificates from /cacerts, PEM.
    pub cacerts: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    /// When this certificate was issued to the device (its clock).
    pub enrolled_at: i64,
    /// The last renewal attempt that failed, with why; cleared by success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_failed: Option<Failure>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    pub at: i64,
    pub reason: String,
}

impl Enrollment {
    /// When renewal is due: two thirds of the validity.
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }
}

/// Where the file lives: the DATA folder passed in (`/data/quill` on the
/// device), so that tests use a temporary folder.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store { dir: dir.to_path_buf() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// `Ok(None)` when the device is not enrolled. A file that cannot be
    /// read or parsed is an error, never "not enrolled": no call is made on
    /// state that could not be read.
    pub fn load(&self) -> Result<Option<Enrollment>, Error> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Store(format!("reading {}: {e}", path.display()))),
        };
        let e: Enrollment = serde_json::from_slice(&text).map_err(|e| {
            Error::Store(format!(
                "{} cannot be read ({e}); enroll again with `quill-enroll enroll` to replace it",
                path.display()
            ))
        })?;
        if e.schema != 1 {
            return Err(Error::Store(format!("{} has schema {}, this firmware reads 1", path.display(), e.schema)));
        }
        Ok(Some(e))
    }

    pub fn save(&self, e: &Enrollment) -> Result<(), Error> {
        let data = serde_json::to_vec_pretty(e).map_err(|e| Error::Store(e.to_string()))?;
        devconfig::write_private(&self.path(), &data)
            .map_err(|err| Error::Store(format!("writing {}: {err}", self.path().display())))
    }

    /// Forgets the enrollment (a factory reset, or leaving the server).
    pub fn remove(&self) -> Result<bool, Error> {
        devconfig::remove_durably(&self.path()).map_err(|e| Error::Store(e.to_string()))
    }
}

pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside one PEM block of `label`.
pub fn unpem(label: &str, text: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(b, _)| b)
        .ok_or_else(|| Error::Store(format!("the enrollment holds no {label}")))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| Error::Store(format!("the enrollment's {label} is damaged: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> Enrollment {
        Enrollment {
            schema: 1,
            address: "mgmt.example:8443".into(),
            fingerprint: "ab".repeat(32),
            unit_id: "525400123456".into(),
            key: pem("PRIVATE KEY", b"key"),
            certs: vec![pem("CERTIFICATE", b"cert")],
            cacerts: vec![],
            not_before: 1000,
            not_after: 4000,
            enrolled_at: 1000,
            renewal_failed: None,
        }
    }

    #[test]
    fn saved_private_and_read_back() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path());
        assert_eq!(s.load().unwrap(), None);
        s.save(&sample()).unwrap();
        let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = s.load().unwrap().unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.renew_at(), 3000);
        assert_eq!(unpem("PRIVATE KEY", &back.key).unwrap(), b"key");
        assert!(s.remove().unwrap());
        assert_eq!(s.load().unwrap(), None);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_unenrolled() {
        let t = tempfile::tempdir().unwrap();
        let s = Store::new(t.path());
        std::fs::write(s.path(), b"{\"schema\": 1, \"addr").unwrap();
        let e = s.load().unwrap_err().to_string();
        assert!(e.contains("enroll again"), "{e}");
        let mut v = serde_json::to_value(sample()).unwrap();
        v["schema"] = 2.into();
        std::fs::write(s.path(), v.to_string()).unwrap();
        assert!(s.load().unwrap_err().to_string().contains("schema 2"));
    }
}
