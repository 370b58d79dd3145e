//! [`FileDevice`]: a disk image file or a block device node.

use crate::{write_zeros, BlockDevice};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

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
            // In a regular file: an unwritten range (ZERO_RANGE keeps the
            // blocks, so it costs no discard on a filesystem mounted with
            // `discard`: measured 0.01 s against 0.07 s for punching 400 MiB
            // on ext4), else a hole (tmpfs has only PUNCH_HOLE). Both read
            // back as zeros and SEEK_DATA skips both.
            let (o, l) = (offset as libc::off_t, len as libc::off_t);
            // SAFETY: plain syscalls on our own descriptor.
            unsafe {
                match libc::fallocate(fd, libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE, o, l) {
                    0 => 0,
                    _ => libc::fallocate(fd, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, o, l),
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDevice;

    #[test]
    fn zero_range_reads_back_zeros_on_files_and_in_memory() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("d");
        std::fs::write(&p, vec![7u8; 3 << 20]).unwrap();
        let mut f = FileDevice::open(&p).unwrap();
        assert!(!f.is_block_device());
        f.zero_range(1 << 20, 1 << 20).unwrap();
        // Once flushed and out of the cache (as the read-back sees it), the
        // zeroed range is a hole or unwritten, which SEEK_DATA skips on the
        // filesystems tests run on (ext4, tmpfs, xfs).
        f.flush().unwrap();
        f.drop_cache().unwrap();
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
