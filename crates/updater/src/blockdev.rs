//! Where slot images are written: a `BlockDevice` (a file in tests, the
//! boot disk's device node on a device), and a bounded view of one partition.

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
}

/// A disk image file or a block device node.
pub struct FileDevice {
    file: File,
    len: u64,
}

impl FileDevice {
    pub fn open(path: &std::path::Path) -> io::Result<FileDevice> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        use std::io::Seek;
        let len = (&file).seek(io::SeekFrom::End(0))?;
        Ok(FileDevice { file, len })
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
}

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
