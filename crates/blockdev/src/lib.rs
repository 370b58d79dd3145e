//! Byte-addressed storage behind one small trait, [`BlockDevice`]: a disk
//! image file or a block device node ([`FileDevice`]), memory in tests
//! ([`MemDevice`]), the whole device as gptedit's [`gptedit::Disk`]
//! ([`GptView`]) and a read-only window onto one partition
//! ([`ReadOnlyRegion`]). Around it: [`SparseWriter`] (empty space becomes
//! zero ranges, never writes) and [`verify_region`] (the read-back of what
//! was written, chunk by chunk). The updater writes slots through it and the
//! flasher whole disks.

mod aligned;
mod file;
mod mem;
mod sparse;
mod verify;
mod views;

pub use aligned::{AlignedBuf, ALIGN};
pub use file::FileDevice;
pub use mem::MemDevice;
pub use sparse::{SparseWriter, WriteError};
pub use verify::{verify_region, ChunkSum, VerifyError, Written};
pub use views::{GptView, ReadOnlyRegion};

use std::io;

/// Byte-addressed storage. Writes are issued in whole, aligned chunks by the
/// installer; `flush` makes them durable.
pub trait BlockDevice {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
    /// Forgets cached pages, so a readback reads the medium (best effort).
    fn drop_cache(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Whether `len` bytes at `offset` are known to read as zeros without
    /// reading them (a hole in an image file). False when unknown.
    fn is_hole(&mut self, _offset: u64, _len: u64) -> bool {
        false
    }
    /// Makes `len` bytes at `offset` read back as zeros. The default writes
    /// zeros; a device that can do better (a hole in a file, the block
    /// layer's write-zeroes) overrides it.
    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        write_zeros(self, offset, len)
    }
    /// A second handle that reads the medium itself (not a cache) and may
    /// run on another thread while this one writes, so that a read-back
    /// can follow the writes; None where reads could be served from memory.
    fn medium_reader(&self) -> Option<Box<dyn BlockDevice + Send>> {
        None
    }
}

/// A borrowed device is a device (the next boot of a crash state borrows it).
impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
    fn len(&self) -> u64 {
        (**self).len()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        (**self).write_at(offset, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (**self).flush()
    }
    fn drop_cache(&mut self) -> io::Result<()> {
        (**self).drop_cache()
    }
    fn is_hole(&mut self, offset: u64, len: u64) -> bool {
        (**self).is_hole(offset, len)
    }
    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        (**self).zero_range(offset, len)
    }
    fn medium_reader(&self) -> Option<Box<dyn BlockDevice + Send>> {
        (**self).medium_reader()
    }
}

/// Writes `len` zero bytes at `offset`, 1 MiB at a time.
pub fn write_zeros<D: BlockDevice + ?Sized>(dev: &mut D, offset: u64, len: u64) -> io::Result<()> {
    let zeros = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len() as u64) as usize;
        dev.write_at(offset + done, &zeros[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// Whether every byte is zero (16 bytes at a time; the compiler vectorises it).
pub fn is_zero(b: &[u8]) -> bool {
    let words = b.chunks_exact(16);
    let rest = words.remainder();
    words.fold(0u128, |acc, c| acc | u128::from_ne_bytes(c.try_into().unwrap())) == 0 && rest.iter().all(|&x| x == 0)
}
