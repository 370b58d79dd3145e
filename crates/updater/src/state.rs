//! The updater's record on DATA (`/data/quill/updater.json`): what each
//! slot holds, the trust evidence (rollback floor, the slots' rollback
//! indexes, the signed key statements; the same as the trust record on the
//! boot disk, see the `trust` crate), the last install and the history
//! (installs, proven boots, rollbacks). Written crash-safe through
//! devconfig's `write_atomic` (temporary file, fsync, rename, fsync of the
//! folder). The kinds and results are enums in memory and stay the text of
//! earlier firmware on disk, so either firmware reads the other's file.
//!
//! A file that cannot be read is never replaced by a fresh one here: it is
//! reported ([`Loaded::Damaged`]) and the updater refuses to install until
//! `fwupdate repair-state` rebuilds it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use trust::Evidence;

pub const SCHEMA: u32 = 1;
pub const FILE: &str = "updater.json";
const KEEP_EVENTS: usize = 200;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub version: String,
    pub rollback_index: u64,
    #[serde(default)]
    pub build_id: String,
}

/// How an install ended (or that it has not ended yet). Stored as the text
/// of its `Display` (what earlier firmware wrote).
#[derive(Clone, Debug, PartialEq, Eq)]
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

    /// Reads the stored text.
    pub fn parse(s: &str) -> InstallResult {
        if s == "ok" {
            InstallResult::Ok
        } else if s == "in progress" || s == "in-progress" {
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

impl Serialize for InstallResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for InstallResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<InstallResult, D::Error> {
        Ok(InstallResult::parse(&String::deserialize(d)?))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstallRecord {
    pub version: String,
    pub slot: char,
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
    /// `fwupdate repair-state` rebuilt the state or the trust record.
    Repaired,
    /// A kind written by newer firmware.
    #[serde(other)]
    Other,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Install => "install",
            EventKind::InstallFailed => "install-failed",
            EventKind::Proven => "proven",
            EventKind::Rollback => "rollback",
            EventKind::SetActive => "set-active",
            EventKind::Repaired => "repaired",
            EventKind::Other => "other",
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
    /// The signed key statements of the bundles installed (hex, in order):
    /// evidence, replayed onto the image's keyring at every load.
    #[serde(default)]
    pub statements: Vec<String>,
    /// The trust record's seq when this state was last written with it.
    #[serde(default)]
    pub trust_seq: u64,
    /// What earlier firmware kept instead of statements: the conclusions
    /// (trusted keys). Read and ignored: a line on DATA never adds a key.
    #[serde(default, skip_serializing)]
    pub keyring: String,
    /// Fields written by newer firmware are kept as they are.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// What [`State::read`] found.
#[derive(Clone, Debug)]
pub enum Loaded {
    /// No state file: nothing was recorded on this DATA.
    Missing,
    Found(State),
    /// The file is there but cannot be read or parsed.
    Damaged {
        path: PathBuf,
        reason: String,
    },
}

impl Loaded {
    pub fn found_or_fresh(self) -> State {
        match self {
            Loaded::Found(s) => s,
            _ => State::fresh(),
        }
    }

    pub fn is_damaged(&self) -> bool {
        matches!(self, Loaded::Damaged { .. })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {op}: {source}; is DATA mounted, writable and not full?")]
    Io { path: PathBuf, op: &'static str, source: std::io::Error },
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// A fresh state (nothing installed, nothing recorded).
    pub fn fresh() -> State {
        State { schema: SCHEMA, ..State::default() }
    }

    /// Reads the state in `dir`.
    pub fn read(dir: &Path) -> Loaded {
        let path = State::path(dir);
        match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::Missing,
            Err(e) => Loaded::Damaged { path, reason: e.to_string() },
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) => Loaded::Found(s),
                Err(e) => Loaded::Damaged { path, reason: e.to_string() },
            },
        }
    }

    /// The state for records that must not stop the device (history,
    /// rollbacks): a missing or damaged file reads as fresh here, and the
    /// caller does not save over a damaged one ([`Loaded::found_or_fresh`]).
    pub fn load(dir: &Path) -> State {
        State::read(dir).found_or_fresh()
    }

    /// The trust evidence this state holds. Statements that do not decode
    /// are reported, not dropped silently.
    pub fn evidence(&self) -> Result<Evidence, String> {
        let statements = self.statements.iter().map(|h| Evidence::statement_from_hex(h)).collect::<Result<_, _>>()?;
        let index = |s: char| self.slots.get(&s).map(|r| r.rollback_index).unwrap_or(0);
        Ok(Evidence {
            seq: self.trust_seq,
            floor: self.rollback_floor,
            slot_index: [index('a'), index('b')],
            statements,
        })
    }

    /// Takes the evidence over (after the trust record was written with it).
    pub fn set_evidence(&mut self, ev: &Evidence) {
        self.trust_seq = ev.seq;
        self.rollback_floor = ev.floor;
        self.statements = ev.statements.iter().map(Evidence::statement_hex).collect();
        for (slot, index) in [('a', ev.slot_index[0]), ('b', ev.slot_index[1])] {
            if index != 0 || self.slots.contains_key(&slot) {
                self.slots.entry(slot).or_default().rollback_index = index;
            }
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        write_atomic(&State::path(dir), &self.to_bytes())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("state serializes");
        text.push(b'\n');
        text
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
        let mut s = State::load(t.path());
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
        assert!(text.contains(r#""result": "failed: x""#), "stored as text: {text}");
        let s2 = State::load(t.path());
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
            let Loaded::Found(s) = State::read(t.path()) else { panic!("{text}: not read") };
            assert_eq!(s.last_install.as_ref().unwrap().result, want, "{text}");
            assert_eq!(s.history[0].kind, EventKind::InstallFailed);
            assert!(s.rolled_back_before("2.0.0"));
        }
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_where_it_is() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(State::read(t.path()), Loaded::Missing));
        fs::write(State::path(t.path()), "{ torn").unwrap();
        assert!(matches!(State::read(t.path()), Loaded::Damaged { .. }));
        assert!(State::path(t.path()).exists(), "not moved or replaced");
        assert_eq!(State::load(t.path()), State::fresh());
    }

    #[test]
    fn conclusions_of_earlier_firmware_are_ignored_and_kinds_of_newer_firmware_read() {
        let t = tempfile::tempdir().unwrap();
        fs::write(
            State::path(t.path()),
            r#"{"schema":1,"keyring":"trust 00","history":[{"seq":1,"time":0,"kind":"teleported","slot":"a","version":"9","detail":""}]}"#,
        )
        .unwrap();
        let s = State::load(t.path());
        assert_eq!(s.history[0].kind, EventKind::Other);
        assert!(s.evidence().unwrap().statements.is_empty(), "the keyring text adds no key");
        s.save(t.path()).unwrap();
        assert!(!fs::read_to_string(State::path(t.path())).unwrap().contains("keyring"));
    }

    #[test]
    fn evidence_round_trips_through_the_state() {
        use bundle::{KeyStatement, SecretKey, StatementKind};
        let k = SecretKey::from_seed(&[1; 32]);
        let st = KeyStatement::sign(StatementKind::Revoke(SecretKey::from_seed(&[2; 32]).id()), &k);
        let ev = Evidence { seq: 4, floor: 2, slot_index: [2, 5], statements: vec![st] };
        let mut s = State::fresh();
        s.set_evidence(&ev);
        assert_eq!(s.evidence().unwrap(), ev);
        s.statements.push("zz".into());
        assert!(s.evidence().is_err());
    }

    #[test]
    fn unwritable_folder_is_a_clear_error() {
        let e = State::default().save(Path::new("/proc/quill-nope")).unwrap_err().to_string();
        assert!(e.contains("DATA"), "{e}");
    }
}
