//! Carrying files from a running UD Pocket onto the disk it has just
//! installed Quill on (`fwupdate install-to-disk`): the kernel re-reads the
//! new partition table, the new DATA is mounted, the files are written
//! crash-safe under `quill/`, and DATA is unmounted. What moves: the
//! updater's state with the trust evidence (always; the same evidence is in
//! the new disk's trust record) and the settings (`--settings copy`). The
//! slots' history and boot records belong to the stick.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The device node of partition `number` of `disk`: `/dev/vdb` gives
/// `/dev/vdb4`, `/dev/nvme0n1` and `/dev/mmcblk0` give `...p4` (a name
/// ending in a digit takes a `p`, as the kernel names them).
pub fn partition_node(disk: &Path, number: u32) -> PathBuf {
    let name = disk.to_string_lossy();
    if name.ends_with(|c: char| c.is_ascii_digit()) {
        PathBuf::from(format!("{name}p{number}"))
    } else {
        PathBuf::from(format!("{name}{number}"))
    }
}

/// Writes `files` (name under `quill/`, bytes: the updater's state, the
/// stick's settings.toml) into the DATA partition of the freshly written
/// `disk`, each crash-safe. Returns DATA's device node.
pub fn write_data_files(disk: &Path, files: &[(&str, &[u8])]) -> Result<PathBuf, String> {
    let f = std::fs::File::open(disk).map_err(|e| format!("opening {}: {e}", disk.display()))?;
    let data = {
        let mut d = gptedit::FileDisk::new(f.try_clone().map_err(|e| e.to_string())?, 512)
            .map_err(|e| format!("{}: {e}", disk.display()))?;
        let gpt = gptedit::Gpt::load(&mut d).map_err(|e| format!("{}: the new table: {e}", disk.display()))?;
        gpt.find_by_name("DATA").ok_or_else(|| format!("{}: the new table has no DATA partition", disk.display()))?
    };
    reread_partitions(&f).map_err(|e| format!("{}: the kernel did not re-read the new table: {e}", disk.display()))?;
    drop(f);
    let node = partition_node(disk, data.number);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !node.exists() {
        if Instant::now() > deadline {
            return Err(format!("{} did not appear after the table was re-read", node.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mnt = PathBuf::from(format!("/run/quill/new-data-{}", std::process::id()));
    std::fs::create_dir_all(&mnt).map_err(|e| format!("creating {}: {e}", mnt.display()))?;
    mount_ext4(&node, &mnt)?;
    let dir = mnt.join("quill");
    let written =
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display())).and_then(|()| {
            files.iter().try_for_each(|(name, bytes)| {
                devconfig::write_atomic(&dir.join(name), bytes).map_err(|e| e.to_string())
            })
        });
    let unmounted = umount(&mnt);
    let _ = std::fs::remove_dir(&mnt);
    written?;
    unmounted?;
    Ok(node)
}

/// BLKRRPART: the kernel reads the disk's new partition table.
fn reread_partitions(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const BLKRRPART: libc::c_ulong = 0x125f;
    // The kernel may still hold the old partitions for a moment after the
    // writes; retry briefly on EBUSY.
    for attempt in 0..20 {
        // SAFETY: BLKRRPART takes no argument; the fd is open.
        if unsafe { libc::ioctl(f.as_raw_fd(), BLKRRPART as _) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) || attempt == 19 {
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    unreachable!()
}

fn cstr(p: &Path) -> Result<std::ffi::CString, String> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("{}: a NUL in the path", p.display()))
}

fn mount_ext4(dev: &Path, at: &Path) -> Result<(), String> {
    let (src, dst, fs) = (cstr(dev)?, cstr(at)?, c"ext4");
    // SAFETY: valid NUL-terminated strings; no data argument.
    if unsafe {
        libc::mount(src.as_ptr(), dst.as_ptr(), fs.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, std::ptr::null())
    } != 0
    {
        return Err(format!("mounting {} on {}: {}", dev.display(), at.display(), std::io::Error::last_os_error()));
    }
    Ok(())
}

fn umount(at: &Path) -> Result<(), String> {
    let dst = cstr(at)?;
    // SAFETY: a valid path; plain unmount.
    if unsafe { libc::umount(dst.as_ptr()) } != 0 {
        return Err(format!("unmounting {}: {}", at.display(), std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_nodes_are_named_as_the_kernel_names_them() {
        assert_eq!(partition_node(Path::new("/dev/vdb"), 4), Path::new("/dev/vdb4"));
        assert_eq!(partition_node(Path::new("/dev/sda"), 2), Path::new("/dev/sda2"));
        assert_eq!(partition_node(Path::new("/dev/nvme0n1"), 4), Path::new("/dev/nvme0n1p4"));
        assert_eq!(partition_node(Path::new("/dev/mmcblk0"), 1), Path::new("/dev/mmcblk0p1"));
    }
}
