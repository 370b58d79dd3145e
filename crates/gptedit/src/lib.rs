//! Both copies of a GUID partition table on a block device: read them, check
//! their CRCs, fall back to the backup when the primary is damaged, change a
//! partition's attribute bits, and write both copies back with fresh CRCs.
//!
//! Written by hand because it has to run inside the UEFI boot selector: the
//! `gpt` crate needs `std::io` and files, while this crate is `no_std` + alloc
//! and talks to the disk through the small [`Disk`] trait (UEFI BlockIO in
//! bootsel, a file or `/dev/...` in the updater, memory in tests). Creating
//! new tables on the host is left to the `gpt` crate (see `imagebuild`).
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
mod file;
#[cfg(feature = "std")]
pub use file::FileDisk;

mod guid;
mod header;
mod table;

pub use guid::Guid;
pub use header::Problem;
pub use table::{Copy, Error, Gpt, Health, Partition};

/// Sector-addressed storage. Buffers are whole blocks.
pub trait Disk {
    type Error: core::fmt::Debug + core::fmt::Display;
    /// Bytes per logical block (512 or 4096).
    fn block_size(&self) -> u32;
    /// Number of logical blocks.
    fn block_count(&self) -> u64;
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error>;
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error>;
    /// Makes earlier writes durable.
    fn flush(&mut self) -> Result<(), Self::Error>;
}

/// A disk in memory, for tests and for editing images in memory.
pub struct MemDisk {
    pub bytes: alloc::vec::Vec<u8>,
    pub block_size: u32,
}

impl Disk for MemDisk {
    type Error = &'static str;
    fn block_size(&self) -> u32 {
        self.block_size
    }
    fn block_count(&self) -> u64 {
        self.bytes.len() as u64 / self.block_size as u64
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        let start = (lba * self.block_size as u64) as usize;
        let src = self.bytes.get(start..start + buf.len()).ok_or("read beyond the end")?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error> {
        let start = (lba * self.block_size as u64) as usize;
        let dst = self.bytes.get_mut(start..start + buf.len()).ok_or("write beyond the end")?;
        dst.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
