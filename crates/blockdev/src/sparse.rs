//! Writing a stream of pieces without writing its empty space.

use crate::{is_zero, BlockDevice};
use std::io;

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

    /// Where the zero run not yet issued starts: every byte given before it
    /// is on the device (written or zeroed); None when nothing is pending.
    pub fn pending_from(&self) -> Option<u64> {
        self.run.map(|(s, _)| s)
    }

    /// Issues the pending zero run. Call before flushing the device.
    pub fn finish<D: BlockDevice + ?Sized>(&mut self, dev: &mut D) -> Result<(), WriteError> {
        self.issue_run(dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDevice;

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
}
