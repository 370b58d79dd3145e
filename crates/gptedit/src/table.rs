//! Loading, checking, editing and writing both copies of the table.

use crate::header::{Header, Problem};
use crate::{Disk, Guid};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Which copy of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Copy {
    Primary,
    Backup,
}

impl fmt::Display for Copy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Copy::Primary => "primary",
            Copy::Backup => "backup",
        })
    }
}

/// The state each copy was found in when the table was loaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Health {
    pub primary: Result<(), Problem>,
    pub backup: Result<(), Problem>,
}

impl Health {
    pub fn is_clean(&self) -> bool {
        self.primary.is_ok() && self.backup.is_ok()
    }
}

#[derive(Debug)]
pub enum Error<E> {
    /// The disk failed to read or write; the message comes from the disk.
    Io { op: &'static str, lba: u64, source: E },
    /// Neither copy is usable.
    NoValidTable { primary: Problem, backup: Problem },
    /// The disk's block size is not one a GPT can use.
    BlockSize(u32),
    /// No partition with this 1-based index holds anything.
    NoSuchPartition(u32),
    /// A requested layout does not fit: the message says what and where.
    Layout(&'static str),
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, lba, source } => write!(f, "disk {op} at LBA {lba} failed: {source}"),
            Error::NoValidTable { primary, backup } => write!(
                f,
                "no usable GPT on the disk (primary: {primary}; backup: {backup}); \
                 re-flash the disk image"
            ),
            Error::BlockSize(n) => write!(f, "unsupported block size {n}"),
            Error::NoSuchPartition(i) => write!(f, "partition {i} does not exist"),
            Error::Layout(why) => write!(f, "{why}"),
        }
    }
}

/// One used entry of the partition array.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Partition {
    /// 1-based, as Linux numbers partitions (`/dev/vda2` is 2).
    pub number: u32,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub first_lba: u64,
    pub last_lba: u64,
    pub attributes: u64,
    pub name: String,
}

/// A GPT read from a disk: the header of the copy that was used, the entry
/// array, and how each copy was found.
#[derive(Clone, Debug)]
pub struct Gpt {
    block_size: u32,
    header: Header,
    entries: Vec<u8>,
    health: Health,
    /// Where the primary entry array lives (LBA 2 unless the primary said otherwise).
    primary_entries_lba: u64,
    /// Where the backup header lives (the last LBA unless the primary said otherwise).
    backup_lba: u64,
}

struct Loaded {
    header: Header,
    entries: Vec<u8>,
}

fn read_copy<D: Disk>(disk: &mut D, lba: u64) -> Result<Loaded, Problem> {
    let bs = disk.block_size() as usize;
    let mut block = vec![0u8; bs];
    disk.read_blocks(lba, &mut block).map_err(|_| Problem::Unreadable)?;
    let header = Header::parse(&block, lba, disk.block_count())?;
    let len = header.entries_len();
    let blocks = len.div_ceil(bs);
    if header.entries_lba + blocks as u64 > disk.block_count() {
        return Err(Problem::Geometry);
    }
    let mut entries = vec![0u8; blocks * bs];
    disk.read_blocks(header.entries_lba, &mut entries).map_err(|_| Problem::Unreadable)?;
    entries.truncate(len);
    if crc32fast::hash(&entries) != header.entries_crc {
        return Err(Problem::EntriesCrc);
    }
    Ok(Loaded { header, entries })
}

impl Gpt {
    /// Reads both copies. Uses the primary when it is intact, else the
    /// backup; [`Gpt::health`] tells which copies need [`Gpt::write`] to heal.
    pub fn load<D: Disk>(disk: &mut D) -> Result<Gpt, Error<D::Error>> {
        let bs = disk.block_size();
        if !(512..=65536).contains(&bs) || !bs.is_power_of_two() {
            return Err(Error::BlockSize(bs));
        }
        let last = disk.block_count().saturating_sub(1);
        let primary = read_copy(disk, 1);
        // The backup is where the primary says; without a primary, at the end.
        let backup_lba = match &primary {
            Ok(p) => p.header.alternate_lba,
            Err(_) => last,
        };
        let mut backup = read_copy(disk, backup_lba);
        if backup.is_err() && backup_lba != last {
            // A primary pointing somewhere odd: the end is the standard place.
            if let Ok(b) = read_copy(disk, last) {
                backup = Ok(b);
            }
        }
        let mut health = Health {
            primary: primary.as_ref().map(|_| ()).map_err(|p| *p),
            backup: backup.as_ref().map(|_| ()).map_err(|p| *p),
        };
        let backup_at = match &backup {
            Ok(b) => b.header.my_lba,
            Err(_) => last,
        };
        let (used, primary_entries_lba) = match (primary, backup) {
            (Ok(p), Ok(b)) => {
                // Both intact but different (a write cut between the two
                // copies): the primary counts, the backup is rewritten from it.
                if b.entries != p.entries {
                    health.backup = Err(Problem::Stale);
                }
                let lba = p.header.entries_lba;
                (p, lba)
            }
            (Ok(p), Err(_)) => {
                let lba = p.header.entries_lba;
                (p, lba)
            }
            // The primary is rebuilt in the standard place.
            (Err(_), Ok(b)) => (b, 2),
            (Err(primary), Err(backup)) => return Err(Error::NoValidTable { primary, backup }),
        };
        Ok(Gpt {
            block_size: bs,
            header: used.header,
            entries: used.entries,
            health,
            primary_entries_lba,
            backup_lba: backup_at,
        })
    }

    pub fn health(&self) -> Health {
        self.health
    }

    pub fn disk_guid(&self) -> Guid {
        self.header.disk_guid
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    fn entry(&self, number: u32) -> Option<&[u8]> {
        if number == 0 || number > self.header.num_entries {
            return None;
        }
        let size = self.header.entry_size as usize;
        let off = (number as usize - 1) * size;
        self.entries.get(off..off + size)
    }

    /// The partition with this 1-based number, if the entry is in use.
    pub fn partition(&self, number: u32) -> Option<Partition> {
        let e = self.entry(number)?;
        let type_guid = Guid(e[0..16].try_into().unwrap());
        if type_guid.is_zero() {
            return None;
        }
        let name_units: Vec<u16> =
            e[56..128].chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
        Some(Partition {
            number,
            type_guid,
            unique_guid: Guid(e[16..32].try_into().unwrap()),
            first_lba: u64::from_le_bytes(e[32..40].try_into().unwrap()),
            last_lba: u64::from_le_bytes(e[40..48].try_into().unwrap()),
            attributes: u64::from_le_bytes(e[48..56].try_into().unwrap()),
            name: String::from_utf16_lossy(&name_units),
        })
    }

    /// Every used entry, in partition-number order.
    pub fn partitions(&self) -> Vec<Partition> {
        (1..=self.header.num_entries).filter_map(|n| self.partition(n)).collect()
    }

    /// The first partition whose GPT name is `name`.
    pub fn find_by_name(&self, name: &str) -> Option<Partition> {
        self.partitions().into_iter().find(|p| p.name == name)
    }

    /// Changes the 64-bit attribute field of a partition, in memory.
    pub fn set_attributes<E>(&mut self, number: u32, attributes: u64) -> Result<(), Error<E>> {
        if self.partition(number).is_none() {
            return Err(Error::NoSuchPartition(number));
        }
        let off = (number as usize - 1) * self.header.entry_size as usize;
        self.entries[off + 48..off + 56].copy_from_slice(&attributes.to_le_bytes());
        Ok(())
    }

    /// First and last LBA that partitions may use.
    pub fn usable_range(&self) -> (u64, u64) {
        (self.header.first_usable_lba, self.header.last_usable_lba)
    }

    /// Where the backup header sits (the disk's last LBA in a standard table).
    pub fn backup_lba(&self) -> u64 {
        self.backup_lba
    }

    /// Gives the disk a new GUID, in memory.
    pub fn set_disk_guid(&mut self, guid: Guid) {
        self.header.disk_guid = guid;
    }

    /// Gives a partition a new unique GUID (its PARTUUID), in memory.
    pub fn set_unique_guid<E>(&mut self, number: u32, guid: Guid) -> Result<(), Error<E>> {
        if self.partition(number).is_none() {
            return Err(Error::NoSuchPartition(number));
        }
        let off = (number as usize - 1) * self.header.entry_size as usize;
        self.entries[off + 16..off + 32].copy_from_slice(&guid.0);
        Ok(())
    }

    /// Moves the backup copy to the last block of a disk of `block_count`
    /// blocks (after an image was written to a bigger disk) and lets
    /// partitions use the space up to it. In memory; [`Gpt::write`] stores it.
    pub fn fit_to_disk<E>(&mut self, block_count: u64) -> Result<(), Error<E>> {
        let bs = self.block_size as usize;
        let entry_blocks = self.entries.len().div_ceil(bs) as u64;
        let last = block_count.checked_sub(1).ok_or(Error::Layout("the disk is empty"))?;
        let last_usable = last
            .checked_sub(entry_blocks + 1)
            .filter(|&l| l >= self.header.first_usable_lba)
            .ok_or(Error::Layout("the disk is too small for a GPT"))?;
        if self.partitions().iter().any(|p| p.last_lba > last_usable) {
            return Err(Error::Layout("a partition would end beyond the end of the disk"));
        }
        self.backup_lba = last;
        self.header.alternate_lba = last;
        self.header.last_usable_lba = last_usable;
        Ok(())
    }

    /// Moves a partition's first and last LBA, in memory. It must stay in
    /// the usable range and not overlap another partition.
    pub fn set_range<E>(&mut self, number: u32, first_lba: u64, last_lba: u64) -> Result<(), Error<E>> {
        if self.partition(number).is_none() {
            return Err(Error::NoSuchPartition(number));
        }
        let (lo, hi) = self.usable_range();
        if first_lba > last_lba || first_lba < lo || last_lba > hi {
            return Err(Error::Layout("the partition would leave the usable area of the disk"));
        }
        if self.partitions().iter().any(|p| p.number != number && p.first_lba <= last_lba && first_lba <= p.last_lba) {
            return Err(Error::Layout("the partition would overlap another one"));
        }
        let off = (number as usize - 1) * self.header.entry_size as usize;
        self.entries[off + 32..off + 40].copy_from_slice(&first_lba.to_le_bytes());
        self.entries[off + 40..off + 48].copy_from_slice(&last_lba.to_le_bytes());
        Ok(())
    }

    /// Writes both copies with fresh CRCs: the backup first, then the
    /// primary, flushing after each, so a cut in between leaves one intact copy.
    pub fn write<D: Disk>(&mut self, disk: &mut D) -> Result<(), Error<D::Error>> {
        let bs = self.block_size as usize;
        let entries_crc = crc32fast::hash(&self.entries);
        let entry_blocks = self.entries.len().div_ceil(bs) as u64;
        let mut entries_buf = vec![0u8; entry_blocks as usize * bs];
        entries_buf[..self.entries.len()].copy_from_slice(&self.entries);

        let backup_entries_lba = self.backup_lba - entry_blocks;
        let primary = Header {
            my_lba: 1,
            alternate_lba: self.backup_lba,
            entries_lba: self.primary_entries_lba,
            entries_crc,
            ..self.header
        };
        let backup = Header {
            my_lba: self.backup_lba,
            alternate_lba: 1,
            entries_lba: backup_entries_lba,
            entries_crc,
            ..self.header
        };
        let mut block = vec![0u8; bs];
        let io = |op, lba| move |source| Error::Io { op, lba, source };

        disk.write_blocks(backup_entries_lba, &entries_buf).map_err(io("write", backup_entries_lba))?;
        backup.write(&mut block);
        disk.write_blocks(self.backup_lba, &block).map_err(io("write", self.backup_lba))?;
        disk.flush().map_err(io("flush", self.backup_lba))?;

        disk.write_blocks(primary.entries_lba, &entries_buf).map_err(io("write", primary.entries_lba))?;
        primary.write(&mut block);
        disk.write_blocks(1, &block).map_err(io("write", 1))?;
        disk.flush().map_err(io("flush", 1))?;

        self.header = primary;
        self.health = Health { primary: Ok(()), backup: Ok(()) };
        Ok(())
    }
}
