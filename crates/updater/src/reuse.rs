//! What a download can leave out: the chunks of the new image the device
//! already holds. Each chunk is looked up by its signed hash in the target
//! slot at its own offset (left there by an earlier, interrupted install:
//! nothing to write) and anywhere chunk-aligned in the running slot (the
//! files an update did not change: copied from there). Empty chunks need
//! nothing either. Only the rest is fetched.

use blockdev::{BlockDevice, ChunkSum};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Where the bytes of one chunk of the new image come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Have {
    /// Download its frame.
    Fetch,
    /// All zeros (written as such).
    Zero,
    /// Already in the target slot at its offset.
    InPlace,
    /// In the running slot at this byte offset of the disk.
    Copy(u64),
}

/// Looks every chunk up. `target` and `running` are (disk offset, length)
/// of the two slots; `sums` the payload's signed chunk sums.
pub fn plan<D: BlockDevice + ?Sized>(
    dev: &mut D,
    target: (u64, u64),
    running: (u64, u64),
    chunk_size: u64,
    chunk_lens: &[usize],
    sums: &[ChunkSum],
) -> std::io::Result<Vec<Have>> {
    let mut have = vec![Have::Fetch; sums.len()];
    let mut buf = vec![0u8; chunk_size as usize];
    for (i, sum) in sums.iter().enumerate() {
        if *sum == ChunkSum::Zero {
            have[i] = Have::Zero;
            continue;
        }
        let at = i as u64 * chunk_size;
        let len = chunk_lens[i];
        if at + len as u64 <= target.1 {
            dev.read_at(target.0 + at, &mut buf[..len])?;
            if sum.matches(&buf[..len]) {
                have[i] = Have::InPlace;
            }
        }
    }
    if have.contains(&Have::Fetch) {
        // Every aligned chunk of the running slot, by hash.
        let mut by_hash: HashMap<[u8; 32], u64> = HashMap::new();
        let mut at = 0;
        while at + chunk_size <= running.1 {
            dev.read_at(running.0 + at, &mut buf)?;
            by_hash.entry(Sha256::digest(&buf).into()).or_insert(running.0 + at);
            at += chunk_size;
        }
        for (i, sum) in sums.iter().enumerate() {
            if let (Have::Fetch, ChunkSum::Sha(h)) = (have[i], sum) {
                if chunk_lens[i] as u64 == chunk_size {
                    if let Some(&from) = by_hash.get(h) {
                        have[i] = Have::Copy(from);
                    }
                }
            }
        }
    }
    Ok(have)
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::MemDevice;

    fn sha(b: &[u8]) -> ChunkSum {
        ChunkSum::Sha(Sha256::digest(b).into())
    }

    #[test]
    fn chunks_are_found_in_place_in_the_running_slot_or_not_at_all() {
        let cs = 4096u64;
        let chunk = |n: u8| vec![n; cs as usize];
        // Disk: running slot at 0 (chunks 1, 2, 3), target at 3*cs (chunk 7, junk, junk).
        let mut disk = Vec::new();
        for c in [chunk(1), chunk(2), chunk(3), chunk(7), chunk(9), chunk(9)] {
            disk.extend(c);
        }
        let mut dev = MemDevice(disk);
        // New image: 7 (in place), 3 (in the running slot), zeros, 5 (new).
        let sums = vec![sha(&chunk(7)), sha(&chunk(3)), ChunkSum::Zero, sha(&chunk(5))];
        let lens = vec![cs as usize; 4];
        let have = plan(&mut dev, (3 * cs, 3 * cs), (0, 3 * cs), cs, &lens, &sums).unwrap();
        assert_eq!(have, [Have::InPlace, Have::Copy(2 * cs), Have::Zero, Have::Fetch]);
    }
}
