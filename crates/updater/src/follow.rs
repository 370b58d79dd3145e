//! The read-back that follows the writes. Where the target can be read
//! around every cache ([`BlockDevice::medium_reader`]: a block device or
//! image file with O_DIRECT), a second handle reads each chunk back on its
//! own thread soon after it was written and compares it with the signed
//! manifest, so reading back overlaps writing instead of doubling the time.
//! A chunk is released to the checker only once every byte of it is on the
//! device: the sparse writer may still hold a zero run that covers its end
//! ([`blockdev::SparseWriter::pending_from`]). Chunks whose length is not
//! aligned for direct I/O (a short last chunk) are left to the read-back
//! after the flush, which drops the cache first. A direct read after the
//! write returned reads what the device holds, as a read after the flush
//! would (neither can see past the device's own cache); the flush still
//! comes before the flip.

use crate::WriteFailure;
use blockdev::{AlignedBuf, BlockDevice, ChunkSum, ALIGN};
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender};

/// The writer's side: which written chunks may be checked yet.
pub(crate) struct Follow {
    tx: Sender<usize>,
    /// Written chunks not yet released, in order.
    held: VecDeque<usize>,
    chunk: u64,
    size: u64,
    /// Chunks the checker cannot take (unaligned), for the final read-back.
    pub left: Vec<usize>,
}

impl Follow {
    pub fn new(tx: Sender<usize>, chunk: u64, size: u64) -> Follow {
        Follow { tx, held: VecDeque::new(), chunk, size, left: Vec::new() }
    }

    fn end(&self, i: usize) -> u64 {
        ((i as u64 + 1) * self.chunk).min(self.size)
    }

    /// Chunk `i` was handed to the writer.
    pub fn written(&mut self, i: usize) {
        let len = self.end(i) - i as u64 * self.chunk;
        if !len.is_multiple_of(ALIGN as u64) {
            self.left.push(i);
        } else {
            self.held.push_back(i);
        }
    }

    /// Releases every held chunk that ends before `settled` (slot-relative;
    /// None: everything given so far is on the device).
    pub fn release(&mut self, settled: Option<u64>) {
        while let Some(&i) = self.held.front() {
            if settled.is_some_and(|s| self.end(i) > s) {
                break;
            }
            self.held.pop_front();
            // A closed channel: the checker stopped on a mismatch, which
            // its result reports.
            let _ = self.tx.send(i);
        }
    }
}

/// The checker's side: reads chunk `i` at `start + i * chunk` through
/// `dev` and compares it with `sums[i]`. Stops at the first difference.
pub(crate) fn check(
    mut dev: Box<dyn BlockDevice + Send>,
    start: u64,
    p: &bundle::Payload,
    sums: &[ChunkSum],
    rx: Receiver<usize>,
) -> Result<(), WriteFailure> {
    let mut buf = AlignedBuf::new(p.chunk_size as usize);
    for i in rx {
        let (at, len) = (i as u64 * p.chunk_size as u64, p.chunk_len(i));
        if sums[i] == ChunkSum::Zero && dev.is_hole(start + at, len as u64) {
            continue;
        }
        buf.set_len(len);
        dev.read_at(start + at, &mut buf).map_err(|source| WriteFailure::Readback { at, source })?;
        if !sums[i].matches(&buf) {
            return Err(WriteFailure::Mismatch { at });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn a_chunk_is_released_only_when_all_of_it_is_on_the_device() {
        let (tx, rx) = std::sync::mpsc::channel();
        // Three 4 KiB chunks and a short last one.
        let mut f = Follow::new(tx, 4096, 3 * 4096 + 100);
        f.written(0);
        f.written(1);
        // A zero run pending from inside chunk 1.
        f.release(Some(4096 + 512));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0]);
        f.written(2);
        f.written(3);
        f.release(Some(3 * 4096));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
        f.release(None);
        assert!(rx.try_iter().next().is_none());
        assert_eq!(f.left, [3], "the unaligned last chunk waits for the final read-back");
    }

    #[test]
    fn the_checker_reads_the_medium_and_finds_a_changed_chunk() {
        use std::os::unix::fs::FileExt;
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("slot");
        let chunk = 64 << 10;
        let data: Vec<u8> = (0..4 * chunk).map(|i| (i % 251) as u8).collect();
        let mut img = vec![0u8; 4096];
        img.extend_from_slice(&data);
        img.extend_from_slice(&[0u8; 64 << 10]);
        std::fs::write(&path, &img).unwrap();
        let mut chunks: Vec<bundle::ChunkInfo> = data
            .chunks(chunk)
            .map(|c| bundle::ChunkInfo { frame_len: 0, frame_sha256: [0; 32], data_sha256: Sha256::digest(c).into() })
            .collect();
        chunks.push(bundle::ChunkInfo { frame_len: 0, frame_sha256: [0; 32], data_sha256: [0; 32] });
        let p = bundle::Payload {
            target: bundle::Target::SlotImage,
            size: 5 * chunk as u64,
            chunk_size: chunk as u32,
            compressed_size: 0,
            sha256: [0; 32],
            chunks,
        };
        let sums: Vec<ChunkSum> =
            p.chunks.iter().take(4).map(|c| ChunkSum::Sha(c.data_sha256)).chain([ChunkSum::Zero]).collect();
        let run = || {
            let dev = blockdev::FileDevice::open(&path).unwrap();
            let reader = dev.medium_reader()?;
            let (tx, rx) = std::sync::mpsc::channel();
            (0..5).for_each(|i| tx.send(i).unwrap());
            drop(tx);
            Some(check(reader, 4096, &p, &sums, rx))
        };
        // Only where the filesystem does direct I/O (not every tmpfs).
        let Some(first) = run() else { return };
        first.unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[1], 4096 + 2 * chunk as u64 + 7)
            .unwrap();
        assert!(matches!(run().unwrap(), Err(WriteFailure::Mismatch { at }) if at == 2 * chunk as u64));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[1], 4096 + 4 * chunk as u64 + 9)
            .unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[((2 * chunk + 7) % 251) as u8], 4096 + 2 * chunk as u64 + 7)
            .unwrap();
        assert!(
            matches!(run().unwrap(), Err(WriteFailure::Mismatch { at }) if at == 4 * chunk as u64),
            "a zero chunk is looked at"
        );
    }
}
