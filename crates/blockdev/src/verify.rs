//! Reading a written region back and comparing it, chunk by chunk, with
//! what was meant to be there: the SHA-256 of each chunk, or "all zeros"
//! for empty space. Shared by the flasher (whole disks) and the updater
//! (a slot, against the signed manifest's chunk hashes).
//!
//! Chunk N is hashed on a second thread while chunk N+1 is read. A zero
//! chunk is checked by looking at it, and not read at all when it is a hole
//! in an image file (it reads as zeros by definition).

use crate::{is_zero, AlignedBuf, BlockDevice};
use sha2::{Digest, Sha256};

/// What one chunk of a region holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ChunkSum {
    Zero,
    Sha([u8; 32]),
}

impl ChunkSum {
    /// Whether `bytes` are what this sum describes.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        match self {
            ChunkSum::Zero => is_zero(bytes),
            ChunkSum::Sha(h) => <[u8; 32]>::from(Sha256::digest(bytes)) == *h,
        }
    }
}

/// Where a region lies and what it holds, chunk by chunk.
#[derive(Clone, Debug)]
pub struct Written {
    /// For messages: `SYSTEM_B`, `the slot`.
    pub name: String,
    pub offset: u64,
    pub len: u64,
    /// Bytes per entry of `sums` (the last one may be shorter).
    pub chunk: usize,
    pub sums: Vec<ChunkSum>,
    /// Bytes that were zero blocks and went through zero_range, not write_at.
    pub zero_bytes: u64,
}

impl Written {
    /// Chunks that were not all zeros (what a dd-like copy could not skip).
    pub fn data_chunks(&self) -> usize {
        self.sums.iter().filter(|s| matches!(s, ChunkSum::Sha(_))).count()
    }
}

/// Why a read-back failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The device could not be read at `at` (bytes from its start).
    #[error("reading back at byte {at}: {source}")]
    Read { at: u64, source: std::io::Error },
    /// The chunk starting at `at` does not hold what was written.
    #[error("{region}: the chunk at byte {at} does not hold what was written")]
    Mismatch { region: String, at: u64 },
}

/// Reads region `w` of `dev` back (the caller dropped the cache first) and
/// compares it chunk by chunk; `progress` gets the bytes checked so far.
/// This thread reads (aligned buffers, so a [`crate::FileDevice`] reads the
/// medium directly) while a second one checks the chunk read before.
pub fn verify_region(w: &Written, dev: &mut dyn BlockDevice, progress: &mut dyn FnMut(u64)) -> Result<(), VerifyError> {
    let size = w.chunk;
    let chunk_len = |i: usize| (w.len - i as u64 * size as u64).min(size as u64) as usize;
    let at = |i: usize| w.offset + i as u64 * size as u64;
    let n = w.sums.len();
    // Holes read as zeros by definition: neither read nor checked.
    let holes: Vec<bool> =
        (0..n).map(|i| w.sums[i] == ChunkSum::Zero && dev.is_hole(at(i), chunk_len(i) as u64)).collect();
    std::thread::scope(|s| -> Result<(), VerifyError> {
        let (to_check, checking) = std::sync::mpsc::sync_channel::<(usize, AlignedBuf)>(2);
        let (to_reader, checked) = std::sync::mpsc::channel::<(usize, bool, AlignedBuf)>();
        s.spawn(move || {
            for (i, buf) in checking {
                let ok = w.sums[i].matches(&buf);
                if to_reader.send((i, ok, buf)).is_err() {
                    break;
                }
            }
        });
        let mut spare: Vec<AlignedBuf> = (0..3).map(|_| AlignedBuf::new(size)).collect();
        // Takes a checked chunk's answer (waiting for it if `wait`).
        let mut settle = |wait: bool, spare: &mut Vec<AlignedBuf>| -> Result<bool, VerifyError> {
            let got = if wait { checked.recv().ok() } else { checked.try_recv().ok() };
            let Some((i, ok, buf)) = got else { return Ok(false) };
            if !ok {
                return Err(VerifyError::Mismatch { region: w.name.clone(), at: at(i) });
            }
            spare.push(buf);
            progress(at(i) - w.offset + chunk_len(i) as u64);
            Ok(true)
        };
        let mut in_flight = 0usize;
        for (i, _) in holes.iter().enumerate().filter(|(_, &hole)| !hole) {
            while spare.is_empty() {
                if settle(true, &mut spare)? {
                    in_flight -= 1;
                }
            }
            let mut buf = spare.pop().expect("a spare buffer");
            buf.set_len(chunk_len(i));
            dev.read_at(at(i), &mut buf).map_err(|e| VerifyError::Read { at: at(i), source: e })?;
            to_check.send((i, buf)).expect("the check thread stopped");
            in_flight += 1;
            while settle(false, &mut spare)? {
                in_flight -= 1;
            }
        }
        drop(to_check);
        while in_flight > 0 {
            settle(true, &mut spare)?;
            in_flight -= 1;
        }
        Ok(())
    })?;
    progress(w.len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDevice;

    fn region(dev: &MemDevice, offset: u64, len: u64, chunk: usize) -> Written {
        let bytes = &dev.0[offset as usize..(offset + len) as usize];
        let sums = bytes
            .chunks(chunk)
            .map(|c| if is_zero(c) { ChunkSum::Zero } else { ChunkSum::Sha(Sha256::digest(c).into()) })
            .collect();
        Written { name: "SYSTEM_B".into(), offset, len, chunk, sums, zero_bytes: 0 }
    }

    #[test]
    fn a_changed_byte_is_a_mismatch_at_its_chunk_and_zero_chunks_are_looked_at() {
        let mut dev = MemDevice((0..(1usize << 20)).map(|i| (i % 251) as u8).collect());
        dev.0[256 << 10..512 << 10].fill(0);
        let w = region(&dev, 4096, 900 << 10, 64 << 10);
        assert!(w.sums.contains(&ChunkSum::Zero));
        let mut seen = 0;
        verify_region(&w, &mut dev, &mut |d| seen = d).unwrap();
        assert_eq!(seen, 900 << 10);
        for at in [4096usize + 5, 300 << 10, 4096 + (900 << 10) - 1] {
            let mut bad = dev.clone();
            bad.0[at] ^= 1;
            match verify_region(&w, &mut bad, &mut |_| {}) {
                Err(VerifyError::Mismatch { region, at: a }) => {
                    assert_eq!(region, "SYSTEM_B");
                    assert_eq!(a, 4096 + ((at - 4096) / (64 << 10) * (64 << 10)) as u64);
                }
                other => panic!("expected a mismatch, got {other:?}"),
            }
        }
        let mut short = MemDevice(dev.0[..500 << 10].to_vec());
        assert!(matches!(verify_region(&w, &mut short, &mut |_| {}), Err(VerifyError::Read { .. })));
    }
}
