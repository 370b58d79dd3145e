//! Quill's A/B updater library, in the manner of Bottlerocket's updog: it
//! installs a verified bundle into the inactive slot through a
//! [`BlockDevice`], reads it back, then flips the boot state (through
//! `abctl`, which only flips GPT bits); it marks a healthy boot good,
//! detects and records a rollback, and chooses an update on USB storage.
//! Its roots (the boot disk, the DATA folder, the keyring) are passed in;
//! it knows no command line, asks nothing and prints nothing: the `fwupdate`
//! binary (crates/fwupdate) does that.
//!
//! Architecture Invariant: the active slot is never written; the target
//! slot is made unbootable before its first byte is written and bootable
//! only after the read-back matched, so an interruption at any point
//! leaves the old slot bootable and the new one not.

mod control;
mod error;
pub mod evidence;
mod follow;
mod install;
pub mod lock;
mod repair;
mod reuse;
pub mod state;
pub mod usb;
pub mod version;

pub use blockdev::{BlockDevice, FileDevice, MemDevice};
pub use control::{MarkedGood, Rollback, SlotInfo, Status, Updater};
pub use error::{Error, WriteFailure};
pub use install::{install, install_partial, Checkpoint, Frames, InstallOptions, Installed, Stage};
pub use repair::Repaired;

use std::path::PathBuf;

/// Where the updater finds things (a device's defaults; tests and hosts
/// point them elsewhere).
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
