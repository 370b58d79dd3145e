//! A/B control: the state bits of the two system slots in both GPT copies
//! of the boot disk, in the manner of Bottlerocket's signpost: [`SlotTable::load`]
//! reads the table, the transitions change it in memory (the rules are
//! `abslot`'s), [`SlotTable::write`] writes both copies (backup first, each
//! flushed). Nothing here writes a slot's contents or knows about bundles,
//! DATA or the network: that is the updater's job.
//!
//! Architecture Invariant: a table whose slot entries are reversed, lie
//! outside the disk's usable area, or overlap another partition is refused
//! at load, so no caller can write into the wrong place.

mod geometry;

pub use geometry::GeometryError;

use abslot::{Slot, SlotAttr};
use blockdev::{BlockDevice, GptView, ReadOnlyRegion};
use gptedit::{Gpt, Partition};
use std::io::Read;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither GPT copy could be read (or the disk failed).
    #[error("boot disk: {0}")]
    Table(String),
    /// The table has no partition of this name: not a Quill disk.
    #[error("boot disk: no partition named {0}; is this a Quill disk?")]
    NoSlot(&'static str),
    #[error("boot disk: {0}; the disk's partition table must be repaired (flash the disk image again)")]
    Geometry(#[from] GeometryError),
    /// Writing the table failed; the message says which copy.
    #[error("boot disk: writing the GPT: {0}")]
    Write(String),
}

/// The two slots' entries of a loaded GPT, ready to change and write back.
#[derive(Clone, Debug)]
pub struct SlotTable {
    gpt: Gpt,
    parts: [Partition; 2],
    block_size: u32,
}

impl SlotTable {
    /// Reads the GPT (repairing nothing yet: a damaged copy is rewritten by
    /// the next [`SlotTable::write`]) and checks the slots' geometry.
    pub fn load<D: BlockDevice + ?Sized>(dev: &mut D, block_size: u32) -> Result<SlotTable, Error> {
        let mut view = GptView { dev, block_size };
        let gpt = Gpt::load(&mut view).map_err(|e| Error::Table(e.to_string()))?;
        let find = |s: Slot| gpt.find_by_name(s.partition_name()).ok_or(Error::NoSlot(s.partition_name()));
        let parts = [find(Slot::A)?, find(Slot::B)?];
        geometry::check(&gpt, &parts)?;
        Ok(SlotTable { gpt, parts, block_size })
    }

    pub fn partition(&self, s: Slot) -> &Partition {
        &self.parts[s.index()]
    }

    /// Byte offset and length of a slot's partition.
    pub fn range(&self, s: Slot) -> (u64, u64) {
        let p = self.partition(s);
        let bs = self.block_size as u64;
        (p.first_lba * bs, (p.last_lba + 1 - p.first_lba) * bs)
    }

    pub fn attr(&self, s: Slot) -> SlotAttr {
        SlotAttr::from_gpt(self.parts[s.index()].attributes)
    }

    pub fn attrs(&self) -> [SlotAttr; 2] {
        [self.attr(Slot::A), self.attr(Slot::B)]
    }

    /// The slot the boot selector will start next.
    pub fn next_boot(&self) -> Slot {
        let [a, b] = self.attrs();
        abslot::boot_plan(a, b).first().slot
    }

    /// Changes a slot's bits in memory (other attribute bits are kept).
    pub fn set(&mut self, s: Slot, attr: SlotAttr) {
        let p = &mut self.parts[s.index()];
        p.attributes = attr.to_gpt(p.attributes);
    }

    /// Writes both GPT copies with the changed bits (backup first, each
    /// flushed; a cut in between leaves an intact primary, which wins).
    pub fn write<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), Error> {
        for p in &self.parts {
            self.gpt
                .set_attributes::<std::io::Error>(p.number, p.attributes)
                .map_err(|e| Error::Write(e.to_string()))?;
        }
        let mut view = GptView { dev, block_size: self.block_size };
        self.gpt.write(&mut view).map_err(|e| Error::Write(e.to_string()))
    }

    /// The target of an install is unbootable (0/0/0) while it is written.
    /// Returns whether that changed anything.
    pub fn make_unbootable(&mut self, target: Slot) -> bool {
        let off = SlotAttr::new(0, 0, false);
        let changed = self.attr(target) != off;
        self.set(target, off);
        changed
    }

    /// After a verified install into `target`: priority above the other
    /// slot, fresh tries, unproven.
    pub fn after_install(&mut self, target: Slot) {
        let (t, o) = abslot::after_install(self.attr(target), self.attr(target.other()));
        self.set(target, t);
        self.set(target.other(), o);
    }

    /// A healthy boot of `booted`: successful. Returns whether that changed anything.
    pub fn mark_good(&mut self, booted: Slot) -> bool {
        let before = self.attr(booted);
        let after = abslot::mark_successful(before);
        self.set(booted, after);
        after != before
    }

    /// Boot `slot` next: priority above the other; an unproven slot gets
    /// fresh tries, a proven one stays proven.
    pub fn set_active(&mut self, slot: Slot) {
        let was_proven = self.attr(slot).successful();
        self.after_install(slot);
        if was_proven {
            let a = self.attr(slot).with_successful(true).with_tries(0);
            self.set(slot, a);
        }
    }

    /// When the other slot outranks `booted` but used up its tries
    /// unproven, the boot selector fell back from it: that update failed.
    pub fn failed_update(&self, booted: Slot) -> Option<Slot> {
        let (me, other) = (self.attr(booted), self.attr(booted.other()));
        (other.priority() > me.priority() && !other.successful() && other.tries() == 0).then_some(booted.other())
    }

    /// Takes a failed slot out of the rotation.
    pub fn retire(&mut self, slot: Slot) {
        let a = abslot::mark_rolled_back(self.attr(slot));
        self.set(slot, a);
    }

    /// The `VERSION=` of the slot's release.txt, read with fatfs straight
    /// from the partition (read-only; never mounted).
    pub fn slot_version<D: BlockDevice + ?Sized>(&self, dev: &mut D, slot: Slot) -> Option<String> {
        let (start, len) = self.range(slot);
        let region = ReadOnlyRegion { dev, start, len, pos: 0 };
        let fs = fatfs::FileSystem::new(region, fatfs::FsOptions::new()).ok()?;
        let mut text = String::new();
        fs.root_dir().open_file("release.txt").ok()?.read_to_string(&mut text).ok()?;
        text.lines().find_map(|l| l.strip_prefix("VERSION=")).map(|v| v.trim().to_string())
    }
}

#[cfg(test)]
mod tests;
