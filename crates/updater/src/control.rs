//! The running system's A/B control: status, mark good, set active, roll
//! back, and the rollback check at boot. Each one loads the slot table
//! (`abctl`), changes it in memory, writes it, and records what happened in
//! the state on DATA.

use crate::evidence;
use crate::lock::StateLock;
use crate::state::{EventKind, InstallRecord, InstallResult, Loaded, State};
use crate::{Error, Paths};
use abctl::SlotTable;
use abslot::{Slot, SlotAttr};
use blockdev::BlockDevice;
use gptedit::Guid;
use serde::Serialize;
use std::time::Duration;

/// The running system's view of its boot disk.
pub struct Updater<D: BlockDevice> {
    pub dev: D,
    pub block_size: u32,
    /// The slot this system booted from (`quill.slot=`).
    pub booted: Slot,
    pub paths: Paths,
    /// The booted slot's partition GUID (`quill.partuuid=`), when known:
    /// an install refuses a target that is that partition.
    pub booted_partuuid: Option<Guid>,
    /// How long a state change waits for another one to finish.
    pub lock_wait: Duration,
}

#[derive(Clone, Debug, Serialize)]
pub struct SlotInfo {
    pub slot: char,
    pub partition: u32,
    pub booted: bool,
    pub priority: u8,
    pub tries: u8,
    pub successful: bool,
    pub bootable: bool,
    /// From the slot's release.txt, read without mounting.
    pub version: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub booted: char,
    /// The slot the boot selector will pick next.
    pub next_boot: char,
    pub slots: Vec<SlotInfo>,
    pub rollback_floor: u64,
    /// `ok`, or why the trust evidence cannot be read (installs are refused
    /// until `fwupdate repair-state`).
    pub trust: String,
    pub last_install: Option<InstallRecord>,
    pub history: Vec<crate::state::Event>,
}

/// What mark-good did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarkedGood {
    pub changed: bool,
    /// The rollback floor after it.
    pub floor: u64,
    /// Copies of the evidence that could not be read or written (the slot
    /// is marked good anyway: a healthy boot must never be undone by them).
    pub problems: Vec<String>,
}

/// A failed update that the boot selector rolled back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollback {
    pub failed_slot: Slot,
    pub failed_version: String,
    pub running_version: String,
}

impl Rollback {
    pub fn message(&self) -> String {
        format!("Update to {} failed and was rolled back to {}", self.failed_version, self.running_version)
    }
}

impl<D: BlockDevice> Updater<D> {
    pub fn new(dev: D, block_size: u32, booted: Slot, paths: Paths) -> Updater<D> {
        Updater { dev, block_size, booted, paths, booted_partuuid: None, lock_wait: Duration::from_secs(5) }
    }

    /// The keys this device trusts and its rollback floor, from evidence
    /// both copies agree on (fails closed, as an install does).
    pub fn trusted(&mut self) -> Result<(bundle::Keyring, u64), Error> {
        let loaded = State::read(&self.paths.state);
        let t = evidence::load_strict(&mut self.dev, self.block_size, &loaded)?;
        let (ring, _) = evidence::keyring(&t.evidence, &self.paths.keyring)?;
        Ok((ring, t.evidence.floor))
    }

    /// The evidence a disk installed from this running system starts with
    /// (install-to-disk): the floor and the key statements, and the booted
    /// slot's rollback index for both slots (both hold the running slot).
    /// Read leniently; what could not be read is returned as problems.
    pub fn evidence_for_new_disk(&mut self) -> (trust::Evidence, Vec<String>) {
        let loaded = State::read(&self.paths.state);
        let (ev, _, problems) = evidence::load_lenient(&mut self.dev, self.block_size, &loaded);
        let index = ev.slot_index[self.booted.index()];
        (trust::Evidence { seq: 0, floor: ev.floor, slot_index: [index, index], statements: ev.statements }, problems)
    }

    /// Takes the state lock for one change.
    pub fn lock(&self) -> Result<StateLock, Error> {
        StateLock::acquire(&self.paths.state, self.lock_wait)
    }

    /// The slot to install into must not be the partition the system runs
    /// from (a mislabelled `--booted`, a cloned table).
    pub(crate) fn check_target(&self, table: &SlotTable) -> Result<(), Error> {
        let Some(running) = self.booted_partuuid else { return Ok(()) };
        let target = self.booted.other();
        if table.partition(target).unique_guid == running || table.partition(self.booted).unique_guid != running {
            return Err(Error::RunningSlot { slot: target, partuuid: running.to_string() });
        }
        Ok(())
    }

    /// The slot table as it is on the disk now.
    pub fn table(&mut self) -> Result<SlotTable, Error> {
        Ok(SlotTable::load(&mut self.dev, self.block_size)?)
    }

    pub fn attrs(&mut self) -> Result<[SlotAttr; 2], Error> {
        Ok(self.table()?.attrs())
    }

    /// The `VERSION=` of the slot's release.txt (read-only; never mounted).
    pub fn slot_version(&mut self, slot: Slot) -> Option<String> {
        let t = self.table().ok()?;
        t.slot_version(&mut self.dev, slot)
    }

    pub fn status(&mut self) -> Result<Status, Error> {
        let t = self.table()?;
        let loaded = State::read(&self.paths.state);
        let trust = match evidence::load_strict(&mut self.dev, self.block_size, &loaded) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        let (ev, _, _) = evidence::load_lenient(&mut self.dev, self.block_size, &loaded);
        let state = loaded.found_or_fresh();
        let mut slots = Vec::new();
        for s in Slot::ALL {
            let a = t.attr(s);
            slots.push(SlotInfo {
                slot: s.letter(),
                partition: t.partition(s).number,
                booted: s == self.booted,
                priority: a.priority(),
                tries: a.tries(),
                successful: a.successful(),
                bootable: a.is_bootable(),
                version: t.slot_version(&mut self.dev, s),
            });
        }
        Ok(Status {
            booted: self.booted.letter(),
            next_boot: t.next_boot().letter(),
            slots,
            rollback_floor: ev.floor,
            trust,
            last_install: state.last_install,
            history: state.history,
        })
    }

    /// Marks the booted slot successful (the health check passed) and raises
    /// the rollback floor to its rollback index: the floor is written (trust
    /// record, then DATA) before the successful bit, so no cut leaves a
    /// proven slot with the old floor.
    pub fn mark_good(&mut self) -> Result<MarkedGood, Error> {
        let _lock = self.lock()?;
        let mut t = self.table()?;
        if t.attr(self.booted).successful() {
            return Ok(MarkedGood { changed: false, ..MarkedGood::default() });
        }
        let loaded = State::read(&self.paths.state);
        let (mut ev, area, mut problems) = evidence::load_lenient(&mut self.dev, self.block_size, &loaded);
        ev.prove(self.booted);
        if let Some(area) = area {
            match area.write(&mut self.dev, &ev) {
                Ok(w) => ev = w,
                Err(e) => problems.push(e.to_string()),
            }
        }
        let version = t.slot_version(&mut self.dev, self.booted).unwrap_or_default();
        if loaded.is_damaged() {
            problems.push("the state on DATA is damaged and was not rewritten; run `fwupdate repair-state`".into());
        } else {
            let mut state = evidence::state_with(loaded, &ev);
            let what = format!("slot {} marked successful; rollback floor {}", self.booted, ev.floor);
            state.record(EventKind::Proven, self.booted.letter(), &version, what);
            if let Err(e) = state.save(&self.paths.state) {
                problems.push(e.to_string());
            }
        }
        t.mark_good(self.booted);
        t.write(&mut self.dev)?;
        Ok(MarkedGood { changed: true, floor: ev.floor, problems })
    }

    /// Makes `slot` the one to boot next: priority above the other; an
    /// unproven slot gets fresh tries.
    pub fn set_active(&mut self, slot: Slot) -> Result<(), Error> {
        let _lock = self.lock()?;
        let mut t = self.table()?;
        t.set_active(slot);
        let version = t.slot_version(&mut self.dev, slot).unwrap_or_default();
        t.write(&mut self.dev)?;
        let loaded = State::read(&self.paths.state);
        if !loaded.is_damaged() {
            let mut state = loaded.found_or_fresh();
            let what = format!("slot {slot} set active: {}", t.attr(slot));
            state.record(EventKind::SetActive, slot.letter(), &version, what);
            let _ = state.save(&self.paths.state);
        }
        Ok(())
    }

    /// Goes back to the other slot, which must have been proven.
    pub fn rollback(&mut self) -> Result<Slot, Error> {
        let other = self.booted.other();
        let a = self.table()?.attr(other);
        if !a.successful() {
            return Err(Error::NeverProven { slot: other, attr: a });
        }
        self.set_active(other)?;
        Ok(other)
    }

    /// An install that was still "in progress" when the system went down:
    /// if the boot state had already flipped to its slot, it completed;
    /// otherwise it was interrupted and its slot is not bootable.
    fn settle_interrupted_install(&mut self) -> Result<(), Error> {
        let Loaded::Found(mut state) = State::read(&self.paths.state) else { return Ok(()) };
        let Some(last) = state.last_install.clone() else { return Ok(()) };
        if last.result != InstallResult::InProgress {
            return Ok(());
        }
        let Some(slot) = Slot::from_letter(&last.slot.to_string()) else { return Ok(()) };
        let a = self.table()?.attr(slot);
        let completed = a.is_bootable() && a.tries() > 0 || a.successful() || slot == self.booted;
        let (result, kind) = if completed {
            (InstallResult::CompletedUnrecorded, EventKind::Install)
        } else {
            (InstallResult::Interrupted, EventKind::InstallFailed)
        };
        state.record(kind, last.slot, &last.version, result.to_string());
        if let Some(l) = state.last_install.as_mut() {
            l.result = result;
        }
        state.save(&self.paths.state)?;
        Ok(())
    }

    /// Run at every boot once DATA is mounted: when the other slot has a
    /// higher priority but used up its tries unproven, the boot selector fell
    /// back to us: the update failed. Takes that slot out of rotation and
    /// records the rollback.
    pub fn boot_check(&mut self) -> Result<Option<Rollback>, Error> {
        let _lock = self.lock()?;
        self.settle_interrupted_install()?;
        let mut t = self.table()?;
        let Some(failed) = t.failed_update(self.booted) else { return Ok(None) };
        let loaded = State::read(&self.paths.state);
        let damaged = loaded.is_damaged();
        let mut state = loaded.found_or_fresh();
        let failed_version = state
            .slots
            .get(&failed.letter())
            .map(|r| r.version.clone())
            .or_else(|| t.slot_version(&mut self.dev, failed))
            .unwrap_or_else(|| "an unknown version".into());
        let running_version =
            t.slot_version(&mut self.dev, self.booted).unwrap_or_else(|| "the previous version".into());
        let rb = Rollback { failed_slot: failed, failed_version, running_version };
        // The record first, then the slot out of rotation: a power cut in
        // between finds the failed update again at the next boot, which
        // sees it recorded and only retires the slot (the crash simulation
        // found the other order losing the rollback from the history).
        let recorded = state.history.last().is_some_and(|e| {
            e.kind == EventKind::Rollback && e.slot == failed.letter() && e.version == rb.failed_version
        });
        let mut saved = Ok(());
        if !recorded {
            state.record(EventKind::Rollback, failed.letter(), &rb.failed_version, rb.message());
            if let Some(last) = state.last_install.as_mut() {
                if last.slot == failed.letter() && last.result.completed() {
                    last.result = InstallResult::RolledBack;
                }
            }
            // A damaged state is not replaced here (repair-state keeps it
            // aside); the rollback itself is done and reported either way.
            if !damaged {
                saved = state.save(&self.paths.state);
            }
        }
        t.retire(failed);
        t.write(&mut self.dev)?;
        saved?;
        Ok(Some(rb))
    }
}
