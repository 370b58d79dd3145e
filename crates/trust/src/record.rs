//! The trust record: the device's [`Evidence`] kept on the boot disk itself,
//! outside every partition, so that what DATA says can be checked against
//! it and a lost or forged DATA cannot lower the rollback floor or forget a
//! revocation. Layout in docs/trust-record.md.
//!
//! Where: two 8 KiB copies at 512 KiB and 520 KiB from the start of the
//! disk, in the gap between the primary GPT's entries and the first
//! partition (which starts at 1 MiB on every Quill disk). An update writes
//! only a slot and the GPT; nothing but this module writes here, and it
//! checks first that no partition covers the place.
//!
//! Why not the ESP or DATA: DATA is what the record guards against; a
//! file on the ESP would need a FAT driver writing the partition the
//! firmware boots from (a torn FAT write there can leave a device that no
//! longer starts), while two raw copies written alternately need no
//! filesystem: a cut leaves the older copy intact.
//!
//! Crash safety: each write goes to the copy that does not hold the newest
//! valid record, is flushed, and is read back; a torn write leaves the
//! other copy, which still wins.

use crate::evidence::Evidence;
use blockdev::{BlockDevice, GptView};
use bundle::format::{Dec, Enc};
use bundle::KeyStatement;
use gptedit::Gpt;

/// Byte offset of copy 0; copy 1 follows it.
pub const OFFSET: u64 = 512 << 10;
/// Bytes of one copy.
pub const COPY_LEN: usize = 8 << 10;
const MAGIC: [u8; 8] = *b"QTRUST\x00\x01";
const HEAD_LEN: usize = 48;
const STATEMENT_LEN: usize = 113;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the trust record on the boot disk: {0}")]
    Io(#[from] std::io::Error),
    #[error("the boot disk has no room for the trust record ({0}); is this a Quill disk?")]
    NoRoom(String),
    /// Both copies hold something, and neither is a valid record.
    #[error(
        "the trust record on the boot disk is damaged (both copies fail their checksum); \
         run `fwupdate repair-state` to rebuild it from the state on DATA"
    )]
    Damaged,
    #[error("the trust record on the boot disk reads back differently after writing it (a failing disk?)")]
    ReadBack,
    #[error("the trust record holds {0} key statements, more than fit")]
    TooLarge(usize),
}

/// Where the record lies on one disk (checked against its GPT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordArea {
    offset: u64,
}

impl RecordArea {
    /// Finds the record's place on a disk and checks that no partition
    /// covers it and the GPT leaves it unused.
    pub fn locate<D: BlockDevice + ?Sized>(dev: &mut D, block_size: u32) -> Result<RecordArea, RecordError> {
        let gpt = Gpt::load(&mut GptView { dev, block_size }).map_err(|e| RecordError::NoRoom(e.to_string()))?;
        let bs = block_size as u64;
        let (first_usable, _) = gpt.usable_range();
        let (start, end) = (OFFSET, OFFSET + 2 * COPY_LEN as u64);
        if first_usable * bs > start {
            return Err(RecordError::NoRoom(format!("the GPT's entries reach {} KiB", (first_usable * bs) >> 10)));
        }
        if let Some(p) = gpt.partitions().iter().find(|p| p.first_lba * bs < end && start < (p.last_lba + 1) * bs) {
            return Err(RecordError::NoRoom(format!(
                "partition {} ({}) starts at {} KiB",
                p.number,
                p.name,
                (p.first_lba * bs) >> 10
            )));
        }
        Ok(RecordArea { offset: OFFSET })
    }

    fn copy_at(&self, i: usize) -> u64 {
        self.offset + (i * COPY_LEN) as u64
    }

    /// The newest valid copy; `None` when the record was never written
    /// (both copies all zeros: a fresh disk).
    pub fn read<D: BlockDevice + ?Sized>(&self, dev: &mut D) -> Result<Option<Evidence>, RecordError> {
        let (copies, zero) = self.read_copies(dev)?;
        match copies.into_iter().flatten().max_by_key(|e| e.seq) {
            Some(e) => Ok(Some(e)),
            None if zero => Ok(None),
            None => Err(RecordError::Damaged),
        }
    }

    /// Both copies decoded, and whether both are all zeros.
    fn read_copies<D: BlockDevice + ?Sized>(&self, dev: &mut D) -> Result<([Option<Evidence>; 2], bool), RecordError> {
        let mut out = [None, None];
        let mut zero = true;
        for (i, slot) in out.iter_mut().enumerate() {
            let mut buf = vec![0u8; COPY_LEN];
            dev.read_at(self.copy_at(i), &mut buf)?;
            zero &= blockdev::is_zero(&buf);
            *slot = decode(&buf);
        }
        Ok((out, zero))
    }

    /// Writes `ev` as the next record (its `seq` is set above every copy's)
    /// into the copy that does not hold the newest one; flushes and reads
    /// it back. Returns what was written.
    pub fn write<D: BlockDevice + ?Sized>(&self, dev: &mut D, ev: &Evidence) -> Result<Evidence, RecordError> {
        let (copies, _) = self.read_copies(dev)?;
        let newest = copies.iter().enumerate().filter_map(|(i, c)| c.as_ref().map(|c| (i, c.seq))).max_by_key(|x| x.1);
        let (target, seq) = match newest {
            Some((i, s)) => (1 - i, s.max(ev.seq) + 1),
            None => (0, ev.seq + 1),
        };
        let ev = Evidence { seq, ..ev.clone() };
        let bytes = encode(&ev)?;
        dev.write_at(self.copy_at(target), &bytes)?;
        dev.flush()?;
        let mut back = vec![0u8; COPY_LEN];
        let _ = dev.drop_cache();
        dev.read_at(self.copy_at(target), &mut back)?;
        if back != bytes {
            return Err(RecordError::ReadBack);
        }
        Ok(ev)
    }
}

/// The bytes of both copies for a new disk (install-to-disk writes them
/// with the rest of the disk): `ev` as copy 0 with seq 1, copy 1 empty.
pub fn new_disk_image(ev: &Evidence) -> Result<(u64, Vec<u8>), RecordError> {
    let mut bytes = encode(&Evidence { seq: 1, ..ev.clone() })?;
    bytes.resize(2 * COPY_LEN, 0);
    Ok((OFFSET, bytes))
}

/// One copy of the record for `ev` (its length is [`COPY_LEN`]).
pub fn encode(ev: &Evidence) -> Result<Vec<u8>, RecordError> {
    if HEAD_LEN + ev.statements.len() * STATEMENT_LEN + 4 > COPY_LEN {
        return Err(RecordError::TooLarge(ev.statements.len()));
    }
    let mut e = Enc::default();
    e.bytes(&MAGIC).u64(ev.seq).u64(ev.floor).u64(ev.slot_index[0]).u64(ev.slot_index[1]);
    e.u16(ev.statements.len() as u16).bytes(&[0; 6]);
    for s in &ev.statements {
        s.encode(&mut e);
    }
    let crc = crc32fast::hash(&e.0);
    e.u32(crc);
    let mut out = e.0;
    out.resize(COPY_LEN, 0);
    Ok(out)
}

/// One copy of the record as read from the disk; `None` unless it is a
/// whole, valid copy (magic, count, reserved bytes, CRC). Public for the
/// fuzzer (tests/fuzz).
pub fn decode(buf: &[u8]) -> Option<Evidence> {
    if buf.len() < HEAD_LEN || buf[..8] != MAGIC {
        return None;
    }
    let count = u16::from_le_bytes([buf[40], buf[41]]) as usize;
    let end = HEAD_LEN + count * STATEMENT_LEN;
    if end + 4 > buf.len() || buf[42..48] != [0; 6] {
        return None;
    }
    let crc = u32::from_le_bytes(buf[end..end + 4].try_into().ok()?);
    if crc32fast::hash(&buf[..end]) != crc {
        return None;
    }
    let mut d = Dec::new(&buf[8..end], "trust record");
    let (seq, floor, a, b) = (d.u64().ok()?, d.u64().ok()?, d.u64().ok()?, d.u64().ok()?);
    d.take(8).ok()?;
    let statements = (0..count).map(|_| KeyStatement::decode(&mut d)).collect::<Result<Vec<_>, _>>().ok()?;
    Some(Evidence { seq, floor, slot_index: [a, b], statements })
}

#[cfg(test)]
mod tests;
