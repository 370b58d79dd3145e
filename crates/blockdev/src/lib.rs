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

/// A write that failed, and where.
#[derive(Debug)]
pub struct WriteError {
    pub at: u64,
    pub source: io::Error,
}

/// Writes a stream of pieces in ascending order, turning runs of zero
/// blocks into [`BlockDevice::zero_range`] calls instead of writes: a hole
/// in an image file, write-zeroes on a block device. Zero runs are merged
/// across pieces and issued when data follows them or at [`finish`].
///
/// [`finish`]: SparseWriter::finish
pub struct SparseWriter {
    block: usize,
    /// A zero run not yet issued: (start, length).
    run: Option<(u64, u64)>,
    /// Bytes that went through zero_range, and through write_at.
    pub zeroed: u64,
    pub written: u64,
}

impl SparseWriter {
    /// Zero runs are found at `block` granularity (64 KiB in Quill's tools).
    pub fn new(block: usize) -> SparseWriter {
        SparseWriter { block: block.max(512), run: None, zeroed: 0, written: 0 }
    }

    /// Writes `data` at `at`: its non-zero runs now, its zero blocks later as
    /// part of a zero run.
    pub fn write<D: BlockDevice + ?Sized>(&mut self, dev: &mut D, at: u64, data: &[u8]) -> Result<(), WriteError> {
        let mut i = 0;
        while i < data.len() {
            let end = (i + self.block).min(data.len());
            if is_zero(&data[i..end]) {
                self.zero(dev, at + i as u64, (end - i) as u64)?;
                i = end;
                continue;
            }
            // A data run: as many non-zero blocks as follow.
            let mut j = end;
            while j < data.len() {
                let e = (j + self.block).min(data.len());
                if is_zero(&data[j..e]) {
                    break;
                }
                j = e;
            }
            self.issue_run(dev)?;
            let pos = at + i as u64;
            dev.write_at(pos, &data[i..j]).map_err(|source| WriteError { at: pos, source })?;
            self.written += (j - i) as u64;
            i = j;
        }
        Ok(())
    }

    /// Records `len` bytes at `at` known to be zeros (no scan); a pending
    /// run that does not end at `at` is issued first.
    pub fn zero<D: BlockDevice + ?Sized>(&mut self, dev: &mut D, at: u64, len: u64) -> Result<(), WriteError> {
        match &mut self.run {
            Some((s, l)) if *s + *l == at => *l += len,
            _ => {
                self.issue_run(dev)?;
                self.run = Some((at, len));
            }
        }
        self.zeroed += len;
        Ok(())
    }

    fn issue_run<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), WriteError> {
        if let Some((s, l)) = self.run.take() {
            dev.zero_range(s, l).map_err(|source| WriteError { at: s, source })?;
        }
        Ok(())
    }

    /// Issues the pending zero run. Call before flushing the device.
    pub fn finish<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), WriteError> {
        self.issue_run(dev)
    }
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
    fn sparse_writer_writes_data_and_zeroes_the_rest_exactly() {
        let mut src = vec![3u8; 1 << 20];
        src[64 << 10..192 << 10].fill(0); // two zero blocks inside data
        src[(1 << 20) - (64 << 10)..].fill(0); // a zero tail
        let mut m = MemDevice(vec![0xAA; 4 << 20]);
        let mut w = SparseWriter::new(64 << 10);
        w.write(&mut m, 4096, &src).unwrap();
        // A known-zero piece that does not follow the pending run.
        w.zero(&mut m, (2 << 20) + 512, 1000).unwrap();
        w.write(&mut m, 3 << 20, &[9u8; 100]).unwrap();
        w.finish(&mut m).unwrap();
        assert_eq!(&m.0[4096..4096 + src.len()], &src[..]);
        assert!(m.0[(2 << 20) + 512..(2 << 20) + 1512].iter().all(|&b| b == 0));
        assert_eq!(m.0[(2 << 20) + 511], 0xAA);
        assert_eq!(m.0[(2 << 20) + 1512], 0xAA);
        assert_eq!(&m.0[3 << 20..(3 << 20) + 100], &[9u8; 100][..]);
        assert_eq!(m.0[4095], 0xAA);
        assert_eq!(w.zeroed + w.written, src.len() as u64 + 1000 + 100);
        assert_eq!(w.zeroed, (128 << 10) + (64 << 10) + 1000);
    }

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
