//! The progress protocol of `fwupdate`'s long operations (`install`,
//! `install-to-disk`, `flash`): with `--progress json` it writes one
//! [`Progress`] object per line on stdout, and a last one whose stage is
//! [`Stage::Done`] or [`Stage::Failed`] with the outcome in `message`.
//! The Setup Assistant reads these lines instead of the text meant for
//! people. RAUC's D-Bus `Progress` property is the model: a front end needs
//! how far the whole operation is, what it does now, and why it ended.
//!
//! The field names and the stage names are a stable interface (documented
//! in docs/progress-protocol.md): add, never rename.

use serde::{Deserialize, Serialize};

/// The operation a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Install,
    InstallToDisk,
    Flash,
}

/// What the operation is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The bundle's signature and frames are being checked (nothing written yet).
    Checking,
    /// The bundle was accepted; `message` names version, slot and signer.
    Verified,
    /// The old partition tables are wiped (whole disks).
    Wiping,
    /// Bytes are being written; `done`/`total`/`rate` count them.
    Writing,
    /// Written data is flushed to the medium.
    Syncing,
    /// What was written is read back and compared; `done`/`total` count it.
    Verifying,
    /// The partition table is written (whole disks).
    Table,
    /// The boot state flips to the new slot.
    Switching,
    /// The settings are copied onto the new disk (install-to-disk).
    Settings,
    /// A note that does not stop the operation.
    Warning,
    /// Finished; `message` is the summary.
    Done,
    /// Ended with an error; `message` is why, `code` the exit code.
    Failed,
}

/// One line of the protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub op: Op,
    pub stage: Stage,
    /// Bytes done in this stage.
    #[serde(default)]
    pub done: u64,
    /// Bytes this stage will handle (0 when it does not count bytes).
    #[serde(default)]
    pub total: u64,
    /// Bytes per second in this stage so far (0 when not measured).
    #[serde(default)]
    pub rate: f64,
    /// How far the whole operation is, from 0 to 1.
    #[serde(default)]
    pub fraction: f32,
    #[serde(default)]
    pub message: String,
    /// The exit code, on the last line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
}

impl Progress {
    pub fn new(op: Op, stage: Stage) -> Progress {
        Progress { op, stage, done: 0, total: 0, rate: 0.0, fraction: 0.0, message: String::new(), code: None }
    }

    pub fn bytes(mut self, done: u64, total: u64) -> Progress {
        self.done = done;
        self.total = total;
        self
    }

    pub fn rate(mut self, bytes_per_second: f64) -> Progress {
        self.rate = bytes_per_second;
        self
    }

    pub fn fraction(mut self, f: f32) -> Progress {
        self.fraction = f.clamp(0.0, 1.0);
        self
    }

    pub fn message(mut self, m: impl Into<String>) -> Progress {
        self.message = m.into();
        self
    }

    /// The line to write (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("progress serializes")
    }

    /// Reads a line; `None` for anything that is not a progress object.
    pub fn from_line(line: &str) -> Option<Progress> {
        serde_json::from_str(line.trim()).ok()
    }

    /// Whether this is the last line of the operation.
    pub fn is_end(&self) -> bool {
        matches!(self.stage, Stage::Done | Stage::Failed)
    }

    /// `done` as a share of `total` (0 without a total).
    pub fn stage_fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).min(1.0) as f32
        }
    }
}

/// How the stages of an operation share the bar: writing, then verifying,
/// with the given weight for writing (the rest is verifying).
pub fn overall(stage: Stage, stage_fraction: f32, write_weight: f32) -> f32 {
    match stage {
        Stage::Checking | Stage::Verified | Stage::Wiping => 0.0,
        Stage::Writing => stage_fraction * write_weight,
        Stage::Syncing => write_weight,
        Stage::Verifying => write_weight + stage_fraction * (1.0 - write_weight),
        Stage::Table | Stage::Switching | Stage::Settings | Stage::Done => 1.0,
        Stage::Warning | Stage::Failed => f32::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_other_text_is_not_progress() {
        let p = Progress::new(Op::InstallToDisk, Stage::Writing).bytes(40, 100).rate(1e6).fraction(0.2);
        let line = p.to_line();
        assert!(line.starts_with(r#"{"op":"install-to-disk","stage":"writing","done":40,"total":100"#), "{line}");
        assert!(!line.contains('\n'));
        assert_eq!(Progress::from_line(&line), Some(p));
        assert_eq!(Progress::from_line("fwupdate: written  40%"), None);
        let end = Progress::from_line(r#"{"op":"install","stage":"failed","message":"no","code":3}"#).unwrap();
        assert!(end.is_end());
        assert_eq!((end.code, end.fraction, end.done), (Some(3), 0.0, 0));
    }

    #[test]
    fn the_bar_fills_once_across_the_stages() {
        assert_eq!(overall(Stage::Writing, 0.5, 0.5), 0.25);
        assert_eq!(overall(Stage::Verifying, 0.0, 0.5), 0.5);
        assert_eq!(overall(Stage::Verifying, 1.0, 0.9), 1.0);
        assert_eq!(overall(Stage::Writing, 1.0, 0.9), 0.9);
        assert_eq!(overall(Stage::Done, 0.0, 0.5), 1.0);
        assert_eq!(Progress::new(Op::Flash, Stage::Writing).bytes(1, 4).stage_fraction(), 0.25);
    }
}
