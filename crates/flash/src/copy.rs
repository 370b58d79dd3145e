//! Copying one region onto the target and reading it back.
//!
//! The source is read in 4 MiB chunks (dd's `bs=4M`); a chunk that is a
//! hole in a sparse source image is not even read. Runs of zero blocks
//! are not written: the target is asked to make them read as zeros
//! ([`BlockDevice::zero_range`]: a hole in an image file, BLKZEROOUT on a
//! block device, which the kernel offloads where the device can and writes
//! zero pages otherwise). Each chunk's SHA-256 is computed on a second
//! thread while the chunk is written; the read-back is blockdev's
//! [`blockdev::verify_region`].

use crate::{Error, Result};
use blockdev::{is_zero, AlignedBuf, BlockDevice, ChunkSum, SparseWriter, VerifyError, WriteError, Written};
use sha2::{Digest, Sha256};
use std::io::Read;

/// What a region is copied from.
pub trait Source: Read {
    /// When the next `len` bytes are known to read as zeros without reading
    /// them (a hole in a sparse image file), skips them and returns true.
    fn skip_hole(&mut self, _len: u64) -> bool {
        false
    }
}

/// A source that knows nothing about holes (a decoder, bytes in memory).
pub struct Stream<R>(pub R);

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Stream<R> {}

pub const CHUNK: usize = 4 << 20;
/// Zero runs are found at this granularity.
const BLOCK: usize = 64 << 10;

/// Copies `len` bytes of `src` to `dev` at `offset`, calling `progress`
/// with the bytes done. Fails before writing when the region does not fit.
pub fn copy_region(
    name: &str,
    src: &mut dyn Source,
    len: u64,
    dev: &mut dyn BlockDevice,
    offset: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<Written> {
    if offset + len > dev.len() {
        return Err(Error::Refused(format!(
            "{name} ({} MiB at {} MiB) does not fit on the target ({} MiB)",
            len >> 20,
            offset >> 20,
            dev.len() >> 20
        )));
    }
    // Aligned, so the target is written around the page cache.
    let mut buf = AlignedBuf::new(CHUNK);
    let mut sums = Vec::with_capacity(len.div_ceil(CHUNK as u64) as usize);
    let mut done = 0u64;
    let mut sparse = SparseWriter::new(BLOCK);
    let write_err = |e: WriteError| Error::Write { at: e.at, source: e.source };
    while done < len {
        let n = (len - done).min(CHUNK as u64) as usize;
        let at = offset + done;
        if src.skip_hole(n as u64) {
            sparse.zero(dev, at, n as u64).map_err(write_err)?;
            sums.push(ChunkSum::Zero);
            done += n as u64;
            progress(done);
            continue;
        }
        src.read_exact(&mut buf[..n]).map_err(|e| {
            Error::Source(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                format!("{name} ended before its {len} bytes: the source is truncated")
            } else {
                format!("reading {name}: {e}")
            })
        })?;
        let chunk = &buf[..n];
        let (sum, written) = std::thread::scope(|s| {
            let hash =
                s.spawn(|| if is_zero(chunk) { ChunkSum::Zero } else { ChunkSum::Sha(Sha256::digest(chunk).into()) });
            let written = sparse.write(dev, at, chunk).map_err(write_err);
            (hash.join().expect("hash thread"), written)
        });
        written?;
        sums.push(sum);
        done += n as u64;
        progress(done);
    }
    sparse.finish(dev).map_err(write_err)?;
    Ok(Written { name: name.to_string(), offset, len, chunk: CHUNK, sums, zero_bytes: sparse.zeroed })
}

/// Reads a written region back (the caller dropped the cache first) and
/// compares it chunk by chunk with what was written.
pub fn verify_region(w: &Written, dev: &mut dyn BlockDevice, progress: &mut dyn FnMut(u64)) -> Result<()> {
    blockdev::verify_region(w, dev, progress).map_err(|e| match e {
        VerifyError::Read { at, source } => Error::Readback { at, source },
        VerifyError::Mismatch { region, at } => Error::Mismatch { region, at },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::MemDevice;

    fn pattern(len: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8 + 1).collect();
        // Zero runs: a whole chunk, a block inside a chunk, and the tail.
        v[CHUNK..2 * CHUNK].fill(0);
        v[2 * CHUNK + BLOCK..2 * CHUNK + 3 * BLOCK].fill(0);
        let n = v.len();
        v[n - 100_000..].fill(0);
        v
    }

    /// Counts what reaches the device.
    struct Counting {
        inner: MemDevice,
        written: u64,
        zeroed: u64,
    }
    impl BlockDevice for Counting {
        fn len(&self) -> u64 {
            self.inner.len()
        }
        fn read_at(&mut self, o: u64, b: &mut [u8]) -> std::io::Result<()> {
            self.inner.read_at(o, b)
        }
        fn write_at(&mut self, o: u64, b: &[u8]) -> std::io::Result<()> {
            self.written += b.len() as u64;
            self.inner.write_at(o, b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn zero_range(&mut self, o: u64, l: u64) -> std::io::Result<()> {
            self.zeroed += l;
            self.inner.zero_range(o, l)
        }
    }

    #[test]
    fn copies_exactly_skipping_zero_runs_and_verifies() {
        let src = pattern(3 * CHUNK + 12345);
        let mut dev = Counting { inner: MemDevice(vec![0xAA; 16 << 20]), written: 0, zeroed: 0 };
        let mut last = 0;
        let w =
            copy_region("DATA", &mut Stream(&src[..]), src.len() as u64, &mut dev, 1 << 20, &mut |d| last = d).unwrap();
        assert_eq!(last, src.len() as u64);
        assert_eq!(
            &dev.inner.0[1 << 20..(1 << 20) + src.len()],
            &src[..],
            "zero runs over old bytes read back as zeros"
        );
        assert_eq!(dev.inner.0[(1 << 20) - 1], 0xAA, "nothing before the region");
        assert_eq!(dev.inner.0[(1 << 20) + src.len()], 0xAA, "nothing after it");
        let zeros = src.chunks(BLOCK).filter(|c| c.iter().all(|&b| b == 0)).map(|c| c.len() as u64).sum::<u64>();
        assert_eq!(dev.zeroed, zeros, "every zero block went through zero_range");
        assert_eq!(dev.written + dev.zeroed, src.len() as u64);
        assert_eq!(w.zero_bytes, zeros);
        assert_eq!(w.sums[1], ChunkSum::Zero);
        assert_eq!(w.data_chunks(), 2);
        verify_region(&w, &mut dev, &mut |_| {}).unwrap();
    }

    #[test]
    fn a_changed_byte_is_a_mismatch_at_its_chunk() {
        let src = pattern(3 * CHUNK);
        let mut dev = MemDevice(vec![0; 16 << 20]);
        let w = copy_region("SYSTEM_A", &mut Stream(&src[..]), src.len() as u64, &mut dev, 0, &mut |_| {}).unwrap();
        for at in [5usize, CHUNK + 77, 3 * CHUNK - 1] {
            let mut bad = dev.clone();
            bad.0[at] ^= 1;
            match verify_region(&w, &mut bad, &mut |_| {}) {
                Err(Error::Mismatch { region, at: a }) => {
                    assert_eq!(region, "SYSTEM_A");
                    assert_eq!(a, (at / CHUNK * CHUNK) as u64);
                }
                other => panic!("expected a mismatch, got {other:?}"),
            }
        }
    }

    #[test]
    fn short_source_and_oversized_region_are_errors() {
        let src = vec![1u8; 1000];
        let mut dev = MemDevice(vec![0; 1 << 20]);
        assert!(matches!(
            copy_region("x", &mut Stream(&src[..]), 2000, &mut dev, 0, &mut |_| {}),
            Err(Error::Source(_))
        ));
        assert!(matches!(
            copy_region("x", &mut Stream(&src[..]), 1000, &mut dev, (1 << 20) - 10, &mut |_| {}),
            Err(Error::Refused(_))
        ));
        assert!(dev.0.iter().all(|&b| b == 0), "nothing written for an oversized region");
    }
}
