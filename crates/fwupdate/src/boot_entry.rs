//! The firmware's boot entry for Quill (crates/efiboot): what `fwupdate
//! status` says about it, `fwupdate boot-entry [--repair]` (init runs the
//! repair at every boot), and its registration after install-to-disk and
//! flash onto a disk of this machine.
//!
//! A system running from removable storage (a UD Pocket) never writes the
//! firmware's variables: the Pocket touches nothing of the PC, except when
//! asked to install onto one of its disks.

use efiboot::{Done, EfiVarFs, HardDrive, VarStore};
use serde::Serialize;
use std::path::Path;

/// The ESP of a GPT disk (by name) as a device path node.
pub fn esp_of(disk: &Path) -> Result<HardDrive, String> {
    let f = std::fs::File::open(disk).map_err(|e| format!("{}: {e}", disk.display()))?;
    let mut d = gptedit::FileDisk::new(f, 512).map_err(|e| format!("{}: {e}", disk.display()))?;
    let gpt = gptedit::Gpt::load(&mut d).map_err(|e| format!("{}: {e}", disk.display()))?;
    let p = gpt.find_by_name("ESP").ok_or_else(|| format!("{} has no partition named ESP", disk.display()))?;
    Ok(HardDrive {
        number: p.number,
        start_lba: p.first_lba,
        size_lba: p.last_lba + 1 - p.first_lba,
        guid: p.unique_guid.0,
    })
}

/// What `fwupdate status` shows about the entry.
#[derive(Clone, Debug, Serialize)]
pub struct EntryStatus {
    /// `ok`, `missing`, `not-first`, `points-elsewhere`, `no-uefi-variables`
    /// or `unreadable`.
    pub state: String,
    /// `Boot####`, when there is an entry named Quill.
    pub entry: Option<String>,
    pub first: bool,
    pub points_here: bool,
    /// The ESP the entry should point at.
    pub esp_guid: Option<String>,
    /// What it means, for people.
    pub note: String,
}

pub fn status(disk: &Path, vars_root: &Path) -> EntryStatus {
    let hd = esp_of(disk);
    let esp_guid = hd.as_ref().ok().map(|h| h.guid_text());
    let none = |state: &str, note: String| EntryStatus {
        state: state.into(),
        entry: None,
        first: false,
        points_here: false,
        esp_guid: esp_guid.clone(),
        note,
    };
    let Some(store) = EfiVarFs::open(vars_root) else {
        return none("no-uefi-variables", "no UEFI variables here (not booted through UEFI)".into());
    };
    let hd = match hd {
        Ok(h) => h,
        Err(e) => return none("unreadable", e),
    };
    match efiboot::check(&store, &hd) {
        Err(e) => none("unreadable", format!("reading the UEFI variables: {e}")),
        Ok(c) => {
            let state = match (c.entry, c.points_here, c.first) {
                (None, ..) => "missing",
                (Some(_), false, _) => "points-elsewhere",
                (Some(_), true, false) => "not-first",
                (Some(_), true, true) => "ok",
            };
            let entry = c.entry.map(|n| format!("Boot{n:04X}"));
            let note = match state {
                "ok" => format!("{} \"Quill\" boots first, from this disk's ESP", entry.clone().unwrap_or_default()),
                "missing" => "no \"Quill\" entry: the firmware may not find this disk".into(),
                "points-elsewhere" => "the \"Quill\" entry points at another disk".into(),
                _ => "the \"Quill\" entry is not first in BootOrder".into(),
            };
            EntryStatus { state: state.into(), entry, first: c.first, points_here: c.points_here, esp_guid, note }
        }
    }
}

/// Makes the entry point at `disk`'s ESP and come first; says what it did.
pub fn register(disk: &Path, store: &mut dyn VarStore) -> Result<String, String> {
    let hd = esp_of(disk)?;
    let done = efiboot::ensure(store, &hd).map_err(|e| format!("writing the UEFI boot entry: {e}"))?;
    Ok(done
        .iter()
        .map(|d| match d {
            Done::Nothing => "the \"Quill\" boot entry was already right".to_string(),
            Done::Created(n) => format!("boot entry Boot{n:04X} \"Quill\" created for ESP {}", hd.guid_text()),
            Done::Rewritten(n) => {
                format!("boot entry Boot{n:04X} \"Quill\" pointed elsewhere; now at ESP {}", hd.guid_text())
            }
            Done::MovedFirst(n) => format!("Boot{n:04X} is now first in BootOrder"),
        })
        .collect::<Vec<_>>()
        .join("; "))
}

/// After writing Quill onto `disk` of this machine: registers the entry
/// when UEFI variables are there; a failure is reported, never fatal (the
/// firmware's fallback path still finds the disk).
pub fn register_new_disk(disk: &Path, vars_root: &Path) -> String {
    match EfiVarFs::open(vars_root) {
        None => {
            "No UEFI variables here: no boot entry was written (the firmware's fallback path finds the disk).".into()
        }
        Some(mut store) => match register(disk, &mut store) {
            Ok(s) => format!("{s}."),
            Err(e) => {
                format!("The boot entry could not be written ({e}); the firmware's fallback path still finds the disk.")
            }
        },
    }
}
