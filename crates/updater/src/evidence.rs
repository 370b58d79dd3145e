//! The trust evidence as the updater uses it: read from both places (the
//! state on DATA and the trust record on the boot disk), merged, and turned
//! into the keys this device trusts. Installing needs both copies readable
//! (fail closed); proving a boot and recording a rollback work with
//! whatever can be read, because they must never stop a device from booting.

use crate::state::{Loaded, State};
use crate::Error;
use blockdev::BlockDevice;
use bundle::Keyring;
use std::path::Path;
use trust::{Evidence, RecordArea};

/// The evidence both copies agree on, and where the disk's copy lives.
pub struct Trust {
    pub evidence: Evidence,
    pub area: RecordArea,
}

/// Reads both copies for an install (or a USB offer): any copy that cannot
/// be read, or a state missing from DATA while the disk's record says this
/// device has installed before, refuses with the way to repair it.
pub fn load_strict<D: BlockDevice + ?Sized>(dev: &mut D, block_size: u32, data: &Loaded) -> Result<Trust, Error> {
    let area = RecordArea::locate(dev, block_size).map_err(Error::TrustRecord)?;
    let record = area.read(dev).map_err(Error::TrustRecord)?;
    let evidence = match (data, record) {
        (Loaded::Damaged { path, reason }, _) => {
            return Err(Error::StateDamaged { path: path.clone(), reason: reason.clone() })
        }
        (Loaded::Missing, None) => Evidence::default(),
        (Loaded::Missing, Some(r)) if r.is_fresh() => r,
        (Loaded::Missing, Some(r)) => return Err(Error::StateMissing { floor: r.floor }),
        (Loaded::Found(s), r) => {
            let on_data = s
                .evidence()
                .map_err(|reason| Error::StateDamaged { path: std::path::PathBuf::from(crate::state::FILE), reason })?;
            match r {
                Some(r) => Evidence::merge(&on_data, &r),
                // Written by firmware before the record existed: DATA's
                // evidence goes to the disk at the next change.
                None => on_data,
            }
        }
    };
    Ok(Trust { evidence, area })
}

/// Reads what can be read, for steps that must not stop a boot (marking a
/// healthy boot good). Returns the merged evidence, where the record lives
/// (when it can be located), and what could not be read.
pub fn load_lenient<D: BlockDevice + ?Sized>(
    dev: &mut D,
    block_size: u32,
    data: &Loaded,
) -> (Evidence, Option<RecordArea>, Vec<String>) {
    let mut problems = Vec::new();
    let area = RecordArea::locate(dev, block_size).map_err(|e| problems.push(e.to_string())).ok();
    let record = area.and_then(|a| a.read(dev).map_err(|e| problems.push(e.to_string())).ok().flatten());
    let on_data = match data {
        Loaded::Found(s) => s.evidence().map_err(|e| problems.push(e)).ok(),
        Loaded::Damaged { path, reason } => {
            problems.push(format!("{}: {reason}", path.display()));
            None
        }
        Loaded::Missing => None,
    };
    let ev = match (on_data, record) {
        (Some(a), Some(b)) => Evidence::merge(&a, &b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => Evidence::default(),
    };
    (ev, area, problems)
}

/// The keys this device trusts: the image's `*.pub` files in `keyring_dir`
/// with the evidence's statements replayed onto them.
pub fn keyring(evidence: &Evidence, keyring_dir: &Path) -> Result<(Keyring, usize), Error> {
    let image = Keyring::load_dir(keyring_dir).map_err(Error::Keyring)?;
    let r = evidence.keyring(&image);
    Ok((r.keyring, r.skipped))
}

/// The state to save after a change: the one read, with the evidence
/// written to the disk's record.
pub fn state_with(data: Loaded, ev: &Evidence) -> State {
    let mut s = data.found_or_fresh();
    s.set_evidence(ev);
    s
}
