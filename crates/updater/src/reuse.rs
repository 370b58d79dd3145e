//! What a download can leave out: the chunks of the new image the device
//! already holds. Each chunk is compared by its signed hash with the
//! target slot at its own offset (left there by an earlier, interrupted
//! install: nothing to write) and with the running slot at the same offset
//! (the files an update did not change, which the image build keeps in
//! place: copied from there). Only those two chunks are read, so the cost
//! is bounded by the new image's used size, not the slots'. Empty chunks
//! need nothing either. Only the rest is fetched.

use blockdev::{BlockDevice, ChunkSum};

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
    for (i, sum) in sums.iter().enumerate() {
        let at = i as u64 * chunk_size;
        let len = chunk_lens[i];
        if have[i] != Have::Fetch || at + len as u64 > running.1 {
            continue;
        }
        dev.read_at(running.0 + at, &mut buf[..len])?;
        if sum.matches(&buf[..len]) {
            have[i] = Have::Copy(running.0 + at);
        }
    }
    Ok(have)
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::MemDevice;
    use sha2::{Digest, Sha256};

    fn sha(b: &[u8]) -> ChunkSum {
        ChunkSum::Sha(Sha256::digest(b).into())
    }

    #[test]
    fn chunks_are_found_in_place_in_the_running_slot_or_not_at_all() {
        let cs = 4096u64;
        let chunk = |n: u8| vec![n; cs as usize];
        // Disk: running slot at 0 (chunks 1, 3, 2, 4), target at 4*cs (7, junk, junk, junk).
        let mut disk = Vec::new();
        for c in [chunk(1), chunk(3), chunk(2), chunk(4), chunk(7), chunk(9), chunk(9), chunk(9)] {
            disk.extend(c);
        }
        let mut dev = MemDevice(disk);
        // New image: 7 (in place), 3 (in the running slot, same offset),
        // zeros, 1 (in the running slot, but elsewhere: fetched).
        let sums = vec![sha(&chunk(7)), sha(&chunk(3)), ChunkSum::Zero, sha(&chunk(1))];
        let lens = vec![cs as usize; 4];
        let have = plan(&mut dev, (4 * cs, 4 * cs), (0, 4 * cs), cs, &lens, &sums).unwrap();
        assert_eq!(have, [Have::InPlace, Have::Copy(cs), Have::Zero, Have::Fetch]);
    }
}
