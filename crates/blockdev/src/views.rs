//! Views of a device: the whole device as gptedit's [`gptedit::Disk`]
//! and a read-only window onto one partition.

use crate::BlockDevice;
use std::io;

/// The whole device seen through gptedit's block interface.
pub struct GptView<'a, D: BlockDevice + ?Sized> {
    pub dev: &'a mut D,
    pub block_size: u32,
}

impl<D: BlockDevice + ?Sized> gptedit::Disk for GptView<'_, D> {
    type Error = io::Error;
    fn block_size(&self) -> u32 {
        self.block_size
    }
    fn block_count(&self) -> u64 {
        self.dev.len() / self.block_size as u64
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> io::Result<()> {
        self.dev.read_at(lba * self.block_size as u64, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> io::Result<()> {
        self.dev.write_at(lba * self.block_size as u64, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.dev.flush()
    }
}

/// A read-only window onto one partition, for reading a slot's FAT without
/// mounting it (writes are refused: the updater never edits a slot filesystem).
pub struct ReadOnlyRegion<'a, D: BlockDevice + ?Sized> {
    pub dev: &'a mut D,
    pub start: u64,
    pub len: u64,
    pub pos: u64,
}

impl<D: BlockDevice + ?Sized> io::Read for ReadOnlyRegion<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos) as usize).min(buf.len());
        self.dev.read_at(self.start + self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: BlockDevice + ?Sized> io::Write for ReadOnlyRegion<'_, D> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, "slot filesystems are read-only to the updater"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<D: BlockDevice + ?Sized> io::Seek for ReadOnlyRegion<'_, D> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let p = match to {
            io::SeekFrom::Start(p) => p as i64,
            io::SeekFrom::End(d) => self.len as i64 + d,
            io::SeekFrom::Current(d) => self.pos as i64 + d,
        };
        if p < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}
