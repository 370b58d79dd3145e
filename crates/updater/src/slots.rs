//! The A/B state on the boot disk: status, mark good, set active, roll
//! back, and the rollback check at boot. Pure policy is in `abslot`; this
//! module loads the GPT, applies it and writes both copies.

use crate::blockdev::{BlockDevice, GptView, ReadOnlyRegion};
use crate::state::State;
use crate::{Error, Paths};
use abslot::{Slot, SlotAttr};
use gptedit::{Gpt, Partition};
use serde::Serialize;
use std::io::Read;

/// The running system's view of its boot disk.
pub struct Updater<D: BlockDevice> {
    pub dev: D,
    pub block_size: u32,
    /// The slot this system booted from (`quill.slot=`).
    pub booted: Slot,
    pub paths: Paths,
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
    pub last_install: Option<crate::state::InstallRecord>,
    pub history: Vec<crate::state::Event>,
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
        Updater { dev, block_size, booted, paths }
    }

    pub(crate) fn gpt(&mut self) -> Result<(Gpt, [Partition; 2]), Error> {
        let mut view = GptView { dev: &mut self.dev, block_size: self.block_size };
        let gpt = Gpt::load(&mut view).map_err(|e| Error::Gpt(e.to_string()))?;
        let find = |s: Slot| {
            gpt.find_by_name(s.partition_name())
                .ok_or_else(|| Error::Gpt(format!("no partition named {}; is this a Quill disk?", s.partition_name())))
        };
        let parts = [find(Slot::A)?, find(Slot::B)?];
        Ok((gpt, parts))
    }

    /// Writes new attribute words for the slots (both GPT copies).
    pub(crate) fn write_attrs(&mut self, gpt: &mut Gpt, changes: &[(&Partition, SlotAttr)]) -> Result<(), Error> {
        for (p, attr) in changes {
            gpt.set_attributes::<std::io::Error>(p.number, attr.to_gpt(p.attributes))
                .map_err(|e| Error::Gpt(e.to_string()))?;
        }
        let mut view = GptView { dev: &mut self.dev, block_size: self.block_size };
        gpt.write(&mut view).map_err(|e| Error::Gpt(format!("writing the GPT: {e}")))
    }

    pub fn attrs(&mut self) -> Result<[SlotAttr; 2], Error> {
        let (_, p) = self.gpt()?;
        Ok([SlotAttr::from_gpt(p[0].attributes), SlotAttr::from_gpt(p[1].attributes)])
    }

    /// The `VERSION=` of the slot's release.txt, read with fatfs from the
    /// partition (read-only; never mounted).
    pub fn slot_version(&mut self, slot: Slot) -> Option<String> {
        let (_, parts) = self.gpt().ok()?;
        let p = &parts[slot.index()];
        let bs = self.block_size as u64;
        let region = ReadOnlyRegion {
            dev: &mut self.dev,
            start: p.first_lba * bs,
            len: (p.last_lba + 1 - p.first_lba) * bs,
            pos: 0,
        };
        let fs = fatfs::FileSystem::new(region, fatfs::FsOptions::new()).ok()?;
        let mut text = String::new();
        fs.root_dir().open_file("release.txt").ok()?.read_to_string(&mut text).ok()?;
        text.lines().find_map(|l| l.strip_prefix("VERSION=")).map(|v| v.trim().to_string())
    }

    pub fn status(&mut self) -> Result<Status, Error> {
        let attrs = self.attrs()?;
        let (_, parts) = self.gpt()?;
        let (state, _) = State::load(&self.paths.state);
        let mut slots = Vec::new();
        for s in Slot::ALL {
            let a = attrs[s.index()];
            slots.push(SlotInfo {
                slot: s.letter(),
                partition: parts[s.index()].number,
                booted: s == self.booted,
                priority: a.priority(),
                tries: a.tries(),
                successful: a.successful(),
                bootable: a.is_bootable(),
                version: self.slot_version(s),
            });
        }
        Ok(Status {
            booted: self.booted.letter(),
            next_boot: abslot::boot_plan(attrs[0], attrs[1]).first().slot.letter(),
            slots,
            rollback_floor: state.rollback_floor,
            last_install: state.last_install,
            history: state.history,
        })
    }

    /// Marks the booted slot successful (the health check passed) and raises
    /// the rollback floor to its rollback index. Returns whether anything changed.
    pub fn mark_good(&mut self) -> Result<bool, Error> {
        let (mut gpt, parts) = self.gpt()?;
        let p = &parts[self.booted.index()];
        let before = SlotAttr::from_gpt(p.attributes);
        let after = abslot::mark_successful(before);
        if after == before {
            return Ok(false);
        }
        let (mut state, _) = State::load(&self.paths.state);
        let version = self.slot_version(self.booted).unwrap_or_default();
        let index = state.slots.get(&self.booted.letter()).map(|r| r.rollback_index).unwrap_or(0);
        state.rollback_floor = state.rollback_floor.max(index);
        state.record("proven", self.booted.letter(), &version, format!("slot {} marked successful", self.booted));
        self.write_attrs(&mut gpt, &[(p, after)])?;
        state.save(&self.paths.state)?;
        Ok(true)
    }

    /// Makes `slot` the one to boot next: priority above the other; an
    /// unproven slot gets fresh tries.
    pub fn set_active(&mut self, slot: Slot) -> Result<(), Error> {
        let (mut gpt, parts) = self.gpt()?;
        let (t, o) = (&parts[slot.index()], &parts[slot.other().index()]);
        let (ta, oa) = (SlotAttr::from_gpt(t.attributes), SlotAttr::from_gpt(o.attributes));
        let (mut new_t, new_o) = abslot::after_install(ta, oa);
        if ta.successful() {
            new_t = new_t.with_successful(true).with_tries(0);
        }
        let version = self.slot_version(slot).unwrap_or_default();
        self.write_attrs(&mut gpt, &[(t, new_t), (o, new_o)])?;
        let (mut state, _) = State::load(&self.paths.state);
        state.record("set-active", slot.letter(), &version, format!("slot {slot} set active: {new_t}"));
        let _ = state.save(&self.paths.state);
        Ok(())
    }

    /// Goes back to the other slot, which must have been proven.
    pub fn rollback(&mut self) -> Result<Slot, Error> {
        let other = self.booted.other();
        let a = self.attrs()?[other.index()];
        if !a.successful() {
            return Err(Error::Refused(format!(
                "slot {other} was never proven to boot ({a}); use `fwupdate set-active {}` to try it anyway",
                other.letter()
            )));
        }
        self.set_active(other)?;
        Ok(other)
    }

    /// An install that was still "in progress" when the system went down:
    /// if the boot state had already flipped to its slot, it completed;
    /// otherwise it was interrupted and its slot is not bootable.
    fn settle_interrupted_install(&mut self) -> Result<(), Error> {
        let (mut state, _) = State::load(&self.paths.state);
        let Some(last) = state.last_install.clone() else { return Ok(()) };
        if last.result != "in progress" {
            return Ok(());
        }
        let Some(slot) = Slot::from_letter(&last.slot.to_string()) else { return Ok(()) };
        let a = self.attrs()?[slot.index()];
        let (result, kind) = if a.is_bootable() && a.tries() > 0 || a.successful() || slot == self.booted {
            ("ok (completed; the system went down before it was recorded)".to_string(), "install")
        } else {
            (format!("interrupted (power lost or bundle removed); slot {slot} was left not bootable"), "install-failed")
        };
        state.record(kind, last.slot, &last.version, result.clone());
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
        self.settle_interrupted_install()?;
        let (mut gpt, parts) = self.gpt()?;
        let (me, other) = (&parts[self.booted.index()], &parts[self.booted.other().index()]);
        let (ma, oa) = (SlotAttr::from_gpt(me.attributes), SlotAttr::from_gpt(other.attributes));
        if !(oa.priority() > ma.priority() && !oa.successful() && oa.tries() == 0) {
            return Ok(None);
        }
        let failed = self.booted.other();
        let (mut state, _) = State::load(&self.paths.state);
        let failed_version = state
            .slots
            .get(&failed.letter())
            .map(|r| r.version.clone())
            .or_else(|| self.slot_version(failed))
            .unwrap_or_else(|| "an unknown version".into());
        let running_version = self.slot_version(self.booted).unwrap_or_else(|| "the previous version".into());
        self.write_attrs(&mut gpt, &[(other, abslot::mark_rolled_back(oa))])?;
        let rb = Rollback { failed_slot: failed, failed_version, running_version };
        state.record("rollback", failed.letter(), &rb.failed_version, rb.message());
        if let Some(last) = state.last_install.as_mut() {
            if last.slot == failed.letter() && last.result == "ok" {
                last.result = format!("rolled back: {} did not prove healthy within its tries", last.version);
            }
        }
        state.save(&self.paths.state)?;
        Ok(Some(rb))
    }
}
