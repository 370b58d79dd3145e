//! A [`Disk`] over a file: a disk image, or a block device under /dev.

use crate::Disk;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

pub struct FileDisk {
    file: File,
    block_size: u32,
    block_count: u64,
}

impl FileDisk {
    /// `block_size` is the logical block size (512 for images; a block
    /// device's `queue/logical_block_size`). The size is taken by seeking to
    /// the end, which works for both files and block devices.
    pub fn new(mut file: File, block_size: u32) -> io::Result<FileDisk> {
        let len = file.seek(SeekFrom::End(0))?;
        Ok(FileDisk { file, block_size, block_count: len / block_size as u64 })
    }

    pub fn into_inner(self) -> File {
        self.file
    }
}

impl Disk for FileDisk {
    type Error = io::Error;
    fn block_size(&self) -> u32 {
        self.block_size
    }
    fn block_count(&self) -> u64 {
        self.block_count
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(lba * self.block_size as u64))?;
        self.file.read_exact(buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(lba * self.block_size as u64))?;
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}
