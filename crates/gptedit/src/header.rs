//! The 92-byte GPT header (UEFI 2.10 §5.3.2).

use crate::Guid;
use core::fmt;

pub(crate) const SIGNATURE: &[u8; 8] = b"EFI PART";
pub(crate) const REVISION_1_0: u32 = 0x0001_0000;
pub(crate) const HEADER_SIZE: u32 = 92;
pub(crate) const ENTRY_SIZE: u32 = 128;

/// What is wrong with one copy of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Problem {
    /// No "EFI PART" signature: not a GPT, or the block was overwritten.
    NoSignature,
    /// The header's CRC32 does not match its bytes.
    HeaderCrc,
    /// A header field is out of range (sizes, LBAs outside the disk).
    Geometry,
    /// The partition entry array's CRC32 does not match.
    EntriesCrc,
    /// The block could not be read.
    Unreadable,
    /// Intact, but its partition entries differ from the primary's.
    Stale,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::NoSignature => "no GPT signature",
            Problem::HeaderCrc => "header CRC mismatch",
            Problem::Geometry => "header fields out of range",
            Problem::EntriesCrc => "partition entry array CRC mismatch",
            Problem::Unreadable => "could not be read",
            Problem::Stale => "out of date (differs from the primary)",
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Header {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    pub disk_guid: Guid,
    pub entries_lba: u64,
    pub num_entries: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

impl Header {
    /// Parses and checks the header in `block` (one whole logical block) that
    /// is expected to sit at `lba` on a disk of `block_count` blocks.
    pub fn parse(block: &[u8], lba: u64, block_count: u64) -> Result<Header, Problem> {
        if &block[0..8] != SIGNATURE {
            return Err(Problem::NoSignature);
        }
        let size = u32_at(block, 12);
        if size < HEADER_SIZE || size as usize > block.len() {
            return Err(Problem::Geometry);
        }
        let stored_crc = u32_at(block, 16);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&block[0..16]);
        hasher.update(&[0; 4]);
        hasher.update(&block[20..size as usize]);
        if hasher.finalize() != stored_crc {
            return Err(Problem::HeaderCrc);
        }
        let h = Header {
            my_lba: u64_at(block, 24),
            alternate_lba: u64_at(block, 32),
            first_usable_lba: u64_at(block, 40),
            last_usable_lba: u64_at(block, 48),
            disk_guid: Guid(block[56..72].try_into().unwrap()),
            entries_lba: u64_at(block, 72),
            num_entries: u32_at(block, 80),
            entry_size: u32_at(block, 84),
            entries_crc: u32_at(block, 88),
        };
        let sane = h.my_lba == lba
            && h.alternate_lba < block_count
            && h.entries_lba < block_count
            && h.first_usable_lba <= h.last_usable_lba
            && h.last_usable_lba < block_count
            && h.entry_size >= ENTRY_SIZE
            && h.entry_size.is_multiple_of(8)
            && h.num_entries > 0
            && (h.num_entries as u64) * (h.entry_size as u64) <= 1 << 20;
        if !sane {
            return Err(Problem::Geometry);
        }
        Ok(h)
    }

    /// Serializes into a zeroed block with a fresh header CRC.
    pub fn write(&self, block: &mut [u8]) {
        block.fill(0);
        block[0..8].copy_from_slice(SIGNATURE);
        block[8..12].copy_from_slice(&REVISION_1_0.to_le_bytes());
        block[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        block[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        block[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        block[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        block[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        block[56..72].copy_from_slice(&self.disk_guid.0);
        block[72..80].copy_from_slice(&self.entries_lba.to_le_bytes());
        block[80..84].copy_from_slice(&self.num_entries.to_le_bytes());
        block[84..88].copy_from_slice(&self.entry_size.to_le_bytes());
        block[88..92].copy_from_slice(&self.entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&block[0..HEADER_SIZE as usize]);
        block[16..20].copy_from_slice(&crc.to_le_bytes());
    }

    /// Bytes in the entry array.
    pub fn entries_len(&self) -> usize {
        self.num_entries as usize * self.entry_size as usize
    }
}
