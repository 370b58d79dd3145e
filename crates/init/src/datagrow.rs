//! Grows DATA's ext4 to fill its partition, online, right after it is
//! mounted. A flashed or installed disk carries the image's small DATA
//! filesystem in a partition that was grown to the end of the disk; the
//! kernel's online resize (EXT4_IOC_RESIZE_FS, what resize2fs uses on a
//! mounted filesystem) does the rest, crash-safe by the journal. The device
//! has no resize2fs, and this is one ioctl.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Size figures from an ext4 superblock.
#[derive(Debug, PartialEq, Eq)]
pub struct Super {
    pub block_size: u64,
    pub blocks: u64,
}

/// Parses the 1024-byte superblock (it starts 1024 bytes into the partition).
pub fn parse_super(sb: &[u8]) -> Option<Super> {
    if sb.len() < 1024 || u16::from_le_bytes([sb[0x38], sb[0x39]]) != 0xEF53 {
        return None;
    }
    let u32_at = |o: usize| u32::from_le_bytes(sb[o..o + 4].try_into().unwrap()) as u64;
    let log = u32_at(0x18);
    if log > 6 {
        return None;
    }
    let incompat_64bit = u32_at(0x60) & 0x80 != 0;
    let hi = if incompat_64bit { u32_at(0x150) } else { 0 };
    Some(Super { block_size: 1024 << log, blocks: hi << 32 | u32_at(0x4) })
}

/// The block count to grow to, if the partition has at least 1 MiB more
/// than the filesystem uses.
pub fn grow_to(sb: &Super, partition_bytes: u64) -> Option<u64> {
    let fits = partition_bytes / sb.block_size;
    (fits.saturating_sub(sb.blocks) * sb.block_size >= 1 << 20).then_some(fits)
}

/// `_IOR(0x12, 114, size_t)`: the device size in bytes.
const BLKGETSIZE64: u32 = 0x8008_1272;
/// `_IOW('f', 16, __u64)`: online resize to a new block count.
const EXT4_IOC_RESIZE_FS: u32 = 0x4008_6610;

/// Grows the ext4 on `dev`, mounted at `mountpoint`, to fill `dev`.
/// Returns the old and new sizes in bytes when it grew.
pub fn grow(dev: &Path, mountpoint: &Path) -> io::Result<Option<(u64, u64)>> {
    let f = File::open(dev)?;
    let mut sb = vec![0u8; 1024];
    f.read_exact_at(&mut sb, 1024)?;
    let sup = parse_super(&sb).ok_or_else(|| io::Error::other("no ext4 superblock"))?;
    let mut bytes: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer.
    if unsafe { libc::ioctl(f.as_raw_fd(), BLKGETSIZE64 as _, &mut bytes as *mut u64) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let Some(target) = grow_to(&sup, bytes) else { return Ok(None) };
    let dir = File::open(mountpoint)?;
    // SAFETY: EXT4_IOC_RESIZE_FS reads one u64 through the pointer.
    if unsafe { libc::ioctl(dir.as_raw_fd(), EXT4_IOC_RESIZE_FS as _, &target as *const u64) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some((sup.blocks * sup.block_size, target * sup.block_size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(log: u32, lo: u32, hi: u32, b64: bool) -> Vec<u8> {
        let mut s = vec![0u8; 1024];
        s[0x38..0x3a].copy_from_slice(&0xEF53u16.to_le_bytes());
        s[0x18..0x1c].copy_from_slice(&log.to_le_bytes());
        s[0x4..0x8].copy_from_slice(&lo.to_le_bytes());
        s[0x150..0x154].copy_from_slice(&hi.to_le_bytes());
        if b64 {
            s[0x60] = 0x80;
        }
        s
    }

    #[test]
    fn reads_block_size_and_count() {
        assert_eq!(parse_super(&sb(2, 16384, 0, true)), Some(Super { block_size: 4096, blocks: 16384 }));
        assert_eq!(parse_super(&sb(2, 5, 1, true)).unwrap().blocks, (1 << 32) + 5);
        assert_eq!(
            parse_super(&sb(0, 5, 1, false)).unwrap(),
            Super { block_size: 1024, blocks: 5 },
            "hi only with 64bit"
        );
        assert_eq!(parse_super(&[0u8; 1024]), None);
    }

    #[test]
    fn grows_only_by_at_least_a_mebibyte() {
        let s = Super { block_size: 4096, blocks: 16384 }; // 64 MiB
        assert_eq!(grow_to(&s, 64 << 20), None);
        assert_eq!(grow_to(&s, (64 << 20) + 4096 * 100), None);
        assert_eq!(grow_to(&s, 1 << 30), Some(262144));
        assert_eq!(grow_to(&s, 32 << 20), None, "never shrinks");
    }

    #[test]
    fn agrees_with_mkfs() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fs");
        std::fs::File::create(&p).unwrap().set_len(64 << 20).unwrap();
        let ok = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096"])
            .arg(&p)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("mkfs.ext4 not available; skipping");
            return;
        }
        let mut b = vec![0u8; 1024];
        std::fs::File::open(&p).unwrap().read_exact_at(&mut b, 1024).unwrap();
        assert_eq!(parse_super(&b), Some(Super { block_size: 4096, blocks: 16384 }));
    }
}
