//! The updater's record on DATA (`/data/quill/updater.json`): what each
//! slot holds, the rollback floor, the keyring state, the last install and
//! the history (installs, proven boots, rollbacks). Written crash-safe:
//! temporary file, fsync, rename, fsync of the directory.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;
const FILE: &str = "updater.json";
const KEEP_EVENTS: usize = 200;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub version: String,
    pub rollback_index: u64,
    #[serde(default)]
    pub build_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstallRecord {
    pub version: String,
    pub slot: char,
    /// `ok`, or `failed: <reason>`.
    pub result: String,
    pub bundle: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Seconds since 1970 by the device clock (may be wrong on devices that
    /// were offline; `seq` gives the order).
    pub time: u64,
    /// `install`, `install-failed`, `proven`, `rollback`, `set-active`.
    pub kind: String,
    pub slot: char,
    pub version: String,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub schema: u32,
    #[serde(default)]
    pub rollback_floor: u64,
    #[serde(default)]
    pub slots: BTreeMap<char, SlotRecord>,
    #[serde(default)]
    pub last_install: Option<InstallRecord>,
    #[serde(default)]
    pub history: Vec<Event>,
    /// Keys trusted and revoked through key statements (bundle::Keyring::state_text).
    #[serde(default)]
    pub keyring: String,
    /// Fields written by newer firmware are kept as they are.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {op}: {source}; is DATA mounted, writable and not full?")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
}

impl State {
    /// The keys this device trusts: the image's `*.pub` files in
    /// `keyring_dir` with the rotations and revocations it has kept.
    pub fn keyring(&self, keyring_dir: &Path) -> Result<bundle::Keyring, String> {
        let mut ring = bundle::Keyring::load_dir(keyring_dir)?;
        ring.merge_state(&self.keyring)?;
        Ok(ring)
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// Loads the state; a missing file is a fresh state. A corrupt file is
    /// moved aside (`updater.json.corrupt`) and a fresh state returned, with
    /// the reason, so a damaged file never stops updates.
    pub fn load(dir: &Path) -> (State, Option<String>) {
        let path = State::path(dir);
        match fs::read(&path) {
            Err(_) => (State { schema: SCHEMA, ..State::default() }, None),
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) => (s, None),
                Err(e) => {
                    let aside = path.with_extension("json.corrupt");
                    let _ = fs::rename(&path, &aside);
                    (
                        State { schema: SCHEMA, ..State::default() },
                        Some(format!("{} was unreadable ({e}); moved to {}", path.display(), aside.display())),
                    )
                }
            },
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let mut text = serde_json::to_vec_pretty(self).expect("state serializes");
        text.push(b'\n');
        write_atomic(&State::path(dir), &text)
    }

    pub fn record(&mut self, kind: &str, slot: char, version: &str, detail: impl Into<String>) {
        let seq = self.history.last().map(|e| e.seq + 1).unwrap_or(1);
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.history.push(Event { seq, time, kind: kind.into(), slot, version: version.into(), detail: detail.into() });
        if self.history.len() > KEEP_EVENTS {
            let cut = self.history.len() - KEEP_EVENTS;
            self.history.drain(..cut);
        }
    }
}

/// Writes `path` so that a crash leaves either the old or the new contents
/// (devconfig's crash-safe write, shared with the device settings).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StateError> {
    devconfig::write_atomic(path, data).map_err(|e| StateError::Io {
        path: path.to_path_buf(),
        op: e.op,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_fields() {
        let t = tempfile::tempdir().unwrap();
        fs::write(State::path(t.path()), r#"{"schema":1,"rollback_floor":3,"future_field":{"x":1}}"#).unwrap();
        let (mut s, warn) = State::load(t.path());
        assert!(warn.is_none());
        assert_eq!(s.rollback_floor, 3);
        s.record("install", 'b', "2.0", "from usb");
        s.save(t.path()).unwrap();
        let text = fs::read_to_string(State::path(t.path())).unwrap();
        assert!(text.contains("future_field"), "{text}");
        let (s2, _) = State::load(t.path());
        assert_eq!(s2.history[0].seq, 1);
        assert_eq!(s2, s);
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let t = tempfile::tempdir().unwrap();
        fs::write(State::path(t.path()), "{ torn").unwrap();
        let (s, warn) = State::load(t.path());
        assert_eq!(s.schema, SCHEMA);
        assert!(warn.unwrap().contains("moved to"));
        assert!(t.path().join("updater.json.corrupt").exists());
    }

    #[test]
    fn unwritable_folder_is_a_clear_error() {
        let e = State::default().save(Path::new("/proc/quill-nope")).unwrap_err().to_string();
        assert!(e.contains("DATA"), "{e}");
    }
}
