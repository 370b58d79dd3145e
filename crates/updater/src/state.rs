//! The updater's record on DATA (`/data/quill/updater.json`): what each
//! slot holds, the rollback floor, the keyring state, the last install and
//! the history (installs, proven boots, rollbacks). Written crash-safe
//! through devconfig's `write_atomic` (temporary file, fsync, rename, fsync
//! of the folder). The kinds and results are enums; files written by
//! earlier firmware, which stored them as free text, still load.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
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

/// How an install ended (or that it has not ended yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallResult {
    /// Recorded before the disk is touched; replaced when the install ends.
    InProgress,
    Ok,
    /// The boot state had flipped when the system went down, but the
    /// record had not been updated yet: found so at the next boot.
    CompletedUnrecorded,
    Failed {
        reason: String,
    },
    /// Power lost or the bundle removed; the slot was left not bootable.
    Interrupted,
    /// It installed, but did not prove healthy within its tries.
    RolledBack,
}

impl InstallResult {
    /// Whether the new slot was written and switched to.
    pub fn completed(&self) -> bool {
        matches!(self, InstallResult::Ok | InstallResult::CompletedUnrecorded)
    }

    /// Reads what earlier firmware wrote as text.
    fn from_legacy(s: &str) -> InstallResult {
        if s == "ok" {
            InstallResult::Ok
        } else if s == "in progress" {
            InstallResult::InProgress
        } else if s.starts_with("ok (completed") {
            InstallResult::CompletedUnrecorded
        } else if s.starts_with("interrupted") {
            InstallResult::Interrupted
        } else if s.starts_with("rolled back") {
            InstallResult::RolledBack
        } else {
            InstallResult::Failed { reason: s.strip_prefix("failed: ").unwrap_or(s).to_string() }
        }
    }
}

impl fmt::Display for InstallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallResult::InProgress => f.write_str("in progress"),
            InstallResult::Ok => f.write_str("ok"),
            InstallResult::CompletedUnrecorded => {
                f.write_str("ok (completed; the system went down before it was recorded)")
            }
            InstallResult::Failed { reason } => write!(f, "failed: {reason}"),
            InstallResult::Interrupted => {
                f.write_str("interrupted (power lost or bundle removed); the slot was left not bootable")
            }
            InstallResult::RolledBack => f.write_str("rolled back: it did not prove healthy within its tries"),
        }
    }
}

/// The result as stored: the enum, or the text of earlier firmware.
#[derive(Deserialize)]
#[serde(untagged)]
enum ResultWire {
    Current(InstallResult),
    Legacy(String),
}

fn de_result<'de, D: serde::Deserializer<'de>>(d: D) -> Result<InstallResult, D::Error> {
    Ok(match ResultWire::deserialize(d)? {
        ResultWire::Current(r) => r,
        ResultWire::Legacy(s) => InstallResult::from_legacy(&s),
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstallRecord {
    pub version: String,
    pub slot: char,
    #[serde(deserialize_with = "de_result")]
    pub result: InstallResult,
    pub bundle: String,
}

/// What happened, in the history. The names are stored (kebab-case, as
/// earlier firmware wrote them): do not rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Install,
    InstallFailed,
    Proven,
    Rollback,
    SetActive,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Install => "install",
            EventKind::InstallFailed => "install-failed",
            EventKind::Proven => "proven",
            EventKind::Rollback => "rollback",
            EventKind::SetActive => "set-active",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Seconds since 1970 by the device clock (may be wrong on devices that
    /// were offline; `seq` gives the order).
    pub time: u64,
    pub kind: EventKind,
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

    pub fn record(&mut self, kind: EventKind, slot: char, version: &str, detail: impl Into<String>) {
        let seq = self.history.last().map(|e| e.seq + 1).unwrap_or(1);
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.history.push(Event { seq, time, kind, slot, version: version.into(), detail: detail.into() });
        if self.history.len() > KEEP_EVENTS {
            let cut = self.history.len() - KEEP_EVENTS;
            self.history.drain(..cut);
        }
    }

    /// Whether this version was installed here before and rolled back.
    pub fn rolled_back_before(&self, version: &str) -> bool {
        self.history.iter().any(|e| e.kind == EventKind::Rollback && e.version == version)
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
        s.record(EventKind::Install, 'b', "2.0", "from usb");
        s.last_install = Some(InstallRecord {
            version: "2.0".into(),
            slot: 'b',
            result: InstallResult::Failed { reason: "x".into() },
            bundle: "b.qbundle".into(),
        });
        s.save(t.path()).unwrap();
        let text = fs::read_to_string(State::path(t.path())).unwrap();
        assert!(text.contains("future_field"), "{text}");
        let (s2, _) = State::load(t.path());
        assert_eq!(s2.history[0].seq, 1);
        assert_eq!(s2, s);
    }

    #[test]
    fn files_of_earlier_firmware_load_with_their_text_results() {
        let t = tempfile::tempdir().unwrap();
        let old = |result: &str| {
            format!(
                r#"{{"schema":1,"last_install":{{"version":"2.0.0","slot":"b","result":{result:?},"bundle":"x"}},
                "history":[{{"seq":1,"time":0,"kind":"install-failed","slot":"b","version":"2.0.0","detail":"d"}},
                           {{"seq":2,"time":0,"kind":"rollback","slot":"b","version":"2.0.0","detail":"d"}}]}}"#
            )
        };
        for (text, want) in [
            ("ok", InstallResult::Ok),
            ("in progress", InstallResult::InProgress),
            ("ok (completed; the system went down before it was recorded)", InstallResult::CompletedUnrecorded),
            ("interrupted (power lost or bundle removed); slot B was left not bootable", InstallResult::Interrupted),
            ("rolled back: 2.0.0 did not prove healthy within its tries", InstallResult::RolledBack),
            ("failed: writing slot B at 0: EIO", InstallResult::Failed { reason: "writing slot B at 0: EIO".into() }),
        ] {
            fs::write(State::path(t.path()), old(text)).unwrap();
            let (s, warn) = State::load(t.path());
            assert!(warn.is_none(), "{text}: {warn:?}");
            assert_eq!(s.last_install.as_ref().unwrap().result, want, "{text}");
            assert_eq!(s.history[0].kind, EventKind::InstallFailed);
            assert!(s.rolled_back_before("2.0.0"));
        }
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
