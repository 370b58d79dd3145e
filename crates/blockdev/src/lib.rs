//! Byte-addressed storage behind one small trait, [`BlockDevice`]: a disk
//! image file or a block device node ([`FileDevice`]), memory in tests
//! ([`MemDevice`]), the whole device as gptedit's [`gptedit::Disk`]
//! ([`GptView`]) and a read-only window onto one partition
//! ([`ReadOnlyRegion`]). The updater writes slots through it and the flasher
//! whole disks.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Byte-addressed storage. Writes are issued in whole, aligned chunks by the
/// installer; `flush` makes them durable.
pub trait BlockDevice {
    fn len(&self) -> u64;
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

/// A disk image file or a block device node.
pub struct FileDevice {
    file: File,
    len: u64,
    is_block: bool,
}

impl FileDevice {
    pub fn open(path: &std::path::Path) -> io::Result<FileDevice> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        FileDevice::from_file(file)
    }

    /// Opens for reading only (writes fail with the OS's error).
    pub fn open_read_only(path: &std::path::Path) -> io::Result<FileDevice> {
        FileDevice::from_file(File::open(path)?)
    }

    pub fn from_file(file: File) -> io::Result<FileDevice> {
        use std::io::Seek;
        use std::os::unix::fs::FileTypeExt;
        let is_block = file.metadata()?.file_type().is_block_device();
        let len = (&file).seek(io::SeekFrom::End(0))?;
        Ok(FileDevice { file, len, is_block })
    }

    pub fn is_block_device(&self) -> bool {
        self.is_block
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

impl BlockDevice for FileDevice {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
    fn drop_cache(&mut self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: plain advisory call on our own descriptor.
        let rc = unsafe { libc::posix_fadvise(self.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(rc))
        }
    }
    fn is_hole(&mut self, offset: u64, len: u64) -> bool {
        use std::os::fd::AsRawFd;
        if self.is_block {
            return false;
        }
        // SAFETY: plain syscall on our own descriptor.
        let next_data = unsafe { libc::lseek(self.file.as_raw_fd(), offset as libc::off_t, libc::SEEK_DATA) };
        if next_data < 0 {
            // ENXIO: no data from `offset` to the end of the file.
            return io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
        }
        next_data as u64 >= offset + len
    }
    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let rc = if self.is_block {
            // BLKZEROOUT: the block layer zeroes the range (offloaded where
            // the device can, else it writes zero pages itself).
            let range = [offset, len];
            // SAFETY: BLKZEROOUT reads two u64 from the pointer we pass.
            unsafe { libc::ioctl(fd, BLKZEROOUT as _, range.as_ptr()) }
        } else {
            // A hole in a regular file reads back as zeros.
            // SAFETY: plain syscall on our own descriptor.
            unsafe {
                libc::fallocate(
                    fd,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    offset as libc::off_t,
                    len as libc::off_t,
                )
            }
        };
        if rc == 0 {
            return Ok(());
        }
        // Not supported here (an old filesystem, a device without the
        // ioctl): write the zeros.
        write_zeros(self, offset, len)
    }
}

/// `_IO(0x12, 127)` from linux/fs.h (the libc crate does not export it).
const BLKZEROOUT: u32 = 0x127f;

/// A device in memory, for tests.
#[derive(Clone)]
pub struct MemDevice(pub Vec<u8>);

impl BlockDevice for MemDevice {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let o = offset as usize;
        let src = self.0.get(o..o + buf.len()).ok_or_else(|| io::Error::other("read beyond the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let o = offset as usize;
        let dst = self.0.get_mut(o..o + buf.len()).ok_or_else(|| io::Error::other("write beyond the end"))?;
        dst.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_range_reads_back_zeros_on_files_and_in_memory() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("d");
        std::fs::write(&p, vec![7u8; 3 << 20]).unwrap();
        let mut f = FileDevice::open(&p).unwrap();
        assert!(!f.is_block_device());
        f.zero_range(1 << 20, 1 << 20).unwrap();
        // Hole punching works on the filesystems tests run on (ext4, tmpfs, xfs).
        assert!(f.is_hole(1 << 20, 1 << 20));
        assert!(!f.is_hole(0, 4096));
        assert!(!f.is_hole((1 << 20) - 4096, 8192));
        let mut m = MemDevice(vec![7u8; 3 << 20]);
        m.zero_range(1 << 20, 1 << 20).unwrap();
        for dev in [&mut f as &mut dyn BlockDevice, &mut m] {
            let mut buf = vec![1u8; 3 << 20];
            dev.read_at(0, &mut buf).unwrap();
            assert!(buf[..1 << 20].iter().all(|&b| b == 7));
            assert!(buf[1 << 20..2 << 20].iter().all(|&b| b == 0));
            assert!(buf[2 << 20..].iter().all(|&b| b == 7));
        }
    }
}
