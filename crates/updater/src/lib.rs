//! Quill's A/B updater: installs a verified bundle into the inactive slot
//! through a [`BlockDevice`], reads it back, then flips the boot state in
//! both GPT copies; marks a healthy boot good; detects and reports a
//! rollback. The CLI around it is `fwupdate` (src/main.rs).
//!
//! Invariants: the active slot is never written; the target slot is made
//! unbootable before its first byte is written and bootable only after the
//! readback matched, so an interruption at any point leaves the old slot
//! bootable and the new one not.

pub use ::blockdev;
pub mod carry;
pub mod device;
pub mod disks;
mod install;
mod slots;
pub mod state;
pub mod tryboot;
pub mod usb;
pub mod version;

pub use blockdev::{BlockDevice, FileDevice, MemDevice};
pub use install::{install, InstallOptions, Installed, Pause, Stage};
pub use slots::{Rollback, SlotInfo, Status, Updater};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Bundle(#[from] bundle::Error),
    #[error("boot disk: {0}")]
    Gpt(String),
    #[error("{op}: {source}")]
    Io { op: String, source: std::io::Error },
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The install was refused before anything was written.
    #[error("{0}")]
    Refused(String),
    /// The install failed after the target slot was touched; it is left not bootable.
    #[error("{0}; slot {slot} is left not bootable, the running slot is unchanged", slot = .1.to_ascii_uppercase())]
    Failed(String, char),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let op = op.into();
        move |source| Error::Io { op, source }
    }
}

/// Where the updater finds things on a device (tests point them elsewhere).
#[derive(Clone, Debug)]
pub struct Paths {
    /// Folder of the image's trusted `*.pub` keys.
    pub keyring: PathBuf,
    /// The updater's folder on DATA.
    pub state: PathBuf,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths { keyring: "/etc/quill/keys".into(), state: "/data/quill".into() }
    }
}
