//! What this device trusts and the lowest firmware it accepts. Nothing here
//! is a conclusion: the device keeps *evidence* ([`Evidence`]: the signed key
//! statements it has installed, the rollback floor, the rollback index of
//! each slot's bundle) and derives the trusted keys from it at every load by
//! replaying the statements onto the image's own keyring
//! ([`Evidence::keyring`]). A key removed from the image is no longer
//! trusted; a statement nobody trusted signed is never applied.
//!
//! The evidence is kept twice: in the updater's state on DATA, and in a raw
//! record on the boot disk ([`record`], two copies in the gap between the
//! GPT and the first partition, which an update never writes). The higher
//! floor wins; a copy that cannot be read makes the updater refuse installs
//! (fail closed) until `fwupdate repair-state` rebuilds it from the other.
//!
//! Architecture Invariant: no trust decision is made on state that could not
//! be read, and nothing on DATA alone can lower the floor or add a key.

mod evidence;
pub mod record;

pub use evidence::{Evidence, Replayed, MAX_STATEMENTS};
pub use record::{RecordArea, RecordError};
