//! The updater's failures, one variant each. `fwupdate` maps every variant
//! to its documented exit code; [`Error::touched_slot`] tells whether the
//! target slot may have been changed.

use crate::state::StateError;
use abslot::{Slot, SlotAttr};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Refused before anything was written.
    /// The bundle file could not be opened or read at the start.
    #[error("{bundle}: cannot be read: {source}")]
    BundleUnreadable { bundle: String, source: std::io::Error },
    /// The bundle's signature, board, rollback index, size or a frame's
    /// hash was refused (bundle::ErrorKind says which).
    #[error("{0}")]
    Bundle(#[from] bundle::Error),
    #[error("{bundle}: this firmware installs bundles with exactly one slot image; this one has {count} payload(s)")]
    Payloads { bundle: String, count: usize },
    #[error(
        "{bundle}: version {version} is older than the running {running}; use --allow-downgrade to install it anyway"
    )]
    Downgrade { bundle: String, version: String, running: String },
    /// The trusted keys could not be loaded.
    #[error("the trusted keys: {0}")]
    Keyring(String),
    /// The bundle's key statements would not fit the device's evidence.
    #[error("{0}; nothing was changed")]
    TooManyStatements(String),
    /// DATA did not take the install's record, so nothing was started.
    #[error("{0}; nothing was changed")]
    DataNotWritable(StateError),
    /// The state on DATA cannot be read: no trust decision is made on it.
    #[error(
        "the updater's state {} cannot be read ({reason}); nothing was changed. \
         Run `fwupdate repair-state` to rebuild it from the trust record on the boot disk",
        path.display()
    )]
    StateDamaged { path: std::path::PathBuf, reason: String },
    /// DATA has no state, but the boot disk says updates were installed here.
    #[error(
        "the updater's state is missing from DATA, but this device has installed updates before \
         (rollback floor {floor}); nothing was changed. Run `fwupdate repair-state` to rebuild it \
         from the trust record on the boot disk"
    )]
    StateMissing { floor: u64 },
    /// The trust record on the boot disk cannot be read or has no place.
    #[error("{0}; nothing was changed")]
    TrustRecord(trust::RecordError),
    /// The folder given for the state is not on the boot disk's DATA.
    #[error("{0}; nothing was changed")]
    NotOnData(String),
    /// The slot an install would write is the one the system runs from.
    #[error("slot {slot} holds the running system (partition {partuuid}); the install would overwrite it. Nothing was changed")]
    RunningSlot { slot: Slot, partuuid: String },
    /// Another install or state change holds the lock.
    #[error("another fwupdate is changing the updater's state (an install?); wait for it to finish")]
    Busy,
    #[error("slot {slot} was never proven to boot ({attr}); use `fwupdate set-active {letter}` to try it anyway", letter = slot.letter())]
    NeverProven { slot: Slot, attr: SlotAttr },

    // The boot disk or DATA, outside an install's write phase.
    #[error(transparent)]
    Slots(#[from] abctl::Error),
    #[error(transparent)]
    State(#[from] StateError),

    /// The install failed after the target slot was touched; it is left
    /// not bootable and the running slot is unchanged.
    #[error("{cause}; slot {slot} is left not bootable, the running slot is unchanged")]
    Failed { slot: Slot, cause: WriteFailure },
}

/// Why an install failed once it had started writing.
#[derive(Debug, thiserror::Error)]
pub enum WriteFailure {
    #[error("reading {bundle} failed ({why}): was the USB storage removed? Install again")]
    BundleRead { bundle: String, why: String },
    /// The bundle changed under the installer (a frame or chunk no longer
    /// matches its signed hash, or it ends early).
    #[error("{0}")]
    BundleChanged(bundle::Error),
    #[error("the image does not fit the slot")]
    TooLarge,
    #[error("writing slot {slot} at {at}: {source}")]
    Write { slot: Slot, at: u64, source: std::io::Error },
    #[error("flushing slot {slot}: {source}")]
    Flush { slot: Slot, source: std::io::Error },
    #[error("the slot does not hold what was written ({} MiB into it differs on readback)", at >> 20)]
    Mismatch { at: u64 },
    #[error("reading back at {at}: {source}")]
    Readback { at: u64, source: std::io::Error },
    /// The GPT could not be written with the new state.
    #[error(transparent)]
    Slots(abctl::Error),
    /// The trust record could not take the new slot's rollback index.
    #[error(transparent)]
    TrustRecord(trust::RecordError),
    /// DATA could not take the new slot's record before the flip.
    #[error(transparent)]
    State(StateError),
}

impl Error {
    /// Whether the target slot may have been changed (it is then left not bootable).
    pub fn touched_slot(&self) -> bool {
        matches!(self, Error::Failed { .. })
    }

    /// Whether the install was refused before anything was written.
    pub fn refused(&self) -> bool {
        matches!(
            self,
            Error::BundleUnreadable { .. }
                | Error::Bundle(_)
                | Error::Payloads { .. }
                | Error::Downgrade { .. }
                | Error::Keyring(_)
                | Error::DataNotWritable(_)
                | Error::NeverProven { .. }
                | Error::StateDamaged { .. }
                | Error::StateMissing { .. }
                | Error::TrustRecord(_)
                | Error::NotOnData(_)
                | Error::RunningSlot { .. }
                | Error::TooManyStatements(_)
        )
    }
}
