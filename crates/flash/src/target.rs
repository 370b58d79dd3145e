//! What a target path is (a whole disk, a partition, an image file or
//! something else), what it holds, and whether it may be written. Everything
//! is read from the roots in [`Sys`], so tests use a fake sysfs.

use crate::{Error, Result};
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Where the kernel's views live (`/sys/class/block`, `/proc/self/mounts`, ...).
#[derive(Clone, Debug)]
pub struct Sys {
    pub class_block: PathBuf,
    pub dev_block: PathBuf,
    pub mounts: PathBuf,
    pub swaps: PathBuf,
}

impl Default for Sys {
    fn default() -> Sys {
        Sys {
            class_block: "/sys/class/block".into(),
            dev_block: "/sys/dev/block".into(),
            mounts: "/proc/self/mounts".into(),
            swaps: "/proc/swaps".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole disk, by kernel name (`sdb`).
    Disk(String),
    /// A disk image file.
    File,
}

/// A target as found, before anything is written.
#[derive(Clone, Debug)]
pub struct Target {
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
    pub block_size: u32,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Removable media or a disk on USB.
    pub removable: bool,
    /// Mounts, swap and device-mapper/RAID holders on it.
    pub in_use: Vec<String>,
    /// It holds the running system (the host's root, the device's boot disk).
    pub holds_system: bool,
}

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Target {
    /// Finds out what `path` is. `protected` names the disks that hold the
    /// running system.
    pub fn inspect(path: &Path, sys: &Sys, protected: &[String]) -> Result<Target> {
        let meta = fs::metadata(path).map_err(|e| {
            Error::Refused(if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "{} does not exist. Give a whole disk (/dev/sdX; `lsblk -d -o NAME,SIZE,MODEL,TRAN` lists them) \
                     or an existing image file (`truncate -s 8G FILE` makes one)",
                    path.display()
                )
            } else {
                format!("{}: {e}", path.display())
            })
        })?;
        let ft = meta.file_type();
        if ft.is_file() {
            return Ok(Target {
                path: path.to_path_buf(),
                kind: Kind::File,
                size: meta.len(),
                block_size: 512,
                model: None,
                serial: None,
                removable: true,
                in_use: Vec::new(),
                holds_system: false,
            });
        }
        if !ft.is_block_device() {
            return Err(Error::Refused(format!("{} is not a block device or an image file", path.display())));
        }
        let real = fs::canonicalize(path).map_err(Error::io("resolving", path))?;
        let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = sys.class_block.join(&name);
        if dir.join("partition").exists() {
            let disk = fs::canonicalize(&dir)
                .ok()
                .and_then(|d| d.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "the disk".into());
            return Err(Error::Refused(format!(
                "{} is a partition; give the whole disk (/dev/{disk})",
                path.display()
            )));
        }
        let size = read_trim(&dir.join("size")).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) * 512;
        let block_size = read_trim(&dir.join("queue/logical_block_size")).and_then(|s| s.parse().ok()).unwrap_or(512);
        let sysdev = fs::canonicalize(&dir).unwrap_or(dir.clone());
        let usb = sysdev.to_string_lossy().contains("/usb");
        let removable = usb || read_trim(&dir.join("removable")).as_deref() == Some("1");
        let (model, serial) = identity(&dir, &sysdev);
        let parts = partitions(&dir);
        let mut in_use = Vec::new();
        // A mount or swap source that resolves to this disk or one of its partitions.
        let ours = |dev: &str| -> bool {
            let Ok(p) = fs::canonicalize(dev) else { return false };
            let is_block = fs::metadata(&p).map(|m| m.file_type().is_block_device()).unwrap_or(false);
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            is_block && (n == name || parts.contains(&n))
        };
        for line in fs::read_to_string(&sys.mounts).unwrap_or_default().lines() {
            let mut f = line.split_whitespace();
            if let (Some(src), Some(mp)) = (f.next(), f.next()) {
                if src.starts_with('/') && ours(src) {
                    in_use.push(format!("{src} is mounted on {}", mp.replace("\\040", " ")));
                }
            }
        }
        for line in fs::read_to_string(&sys.swaps).unwrap_or_default().lines().skip(1) {
            if let Some(src) = line.split_whitespace().next() {
                if ours(src) {
                    in_use.push(format!("{src} is in use as swap"));
                }
            }
        }
        for d in std::iter::once(name.clone()).chain(parts.iter().cloned()) {
            for h in fs::read_dir(sys.class_block.join(&d).join("holders")).into_iter().flatten().flatten() {
                in_use.push(format!("{d} is held by {} (device-mapper, LVM or RAID)", h.file_name().to_string_lossy()));
            }
        }
        Ok(Target {
            path: path.to_path_buf(),
            holds_system: protected.contains(&name),
            kind: Kind::Disk(name),
            size,
            block_size,
            model,
            serial,
            removable,
            in_use,
        })
    }

    /// One line for the user: what is about to be erased.
    pub fn describe(&self) -> String {
        let gib = self.size as f64 / (1u64 << 30) as f64;
        match &self.kind {
            Kind::File => format!("{}: image file, {gib:.2} GiB", self.path.display()),
            Kind::Disk(name) => format!(
                "{} ({name}): {}, {gib:.2} GiB, serial {}{}",
                self.path.display(),
                self.model.as_deref().unwrap_or("unknown model"),
                self.serial.as_deref().unwrap_or("unknown"),
                if self.removable { ", removable" } else { ", fixed disk" }
            ),
        }
    }

    /// Opens the target for writing. A disk must be as big to the kernel as
    /// sysfs said (a device swapped in between fails here).
    pub fn open(&self) -> Result<blockdev::FileDevice> {
        use blockdev::BlockDevice;
        let dev = blockdev::FileDevice::open(&self.path)
            .map_err(|e| Error::Refused(format!("opening {} for writing: {e}", self.path.display())))?;
        if dev.len() < self.size {
            return Err(Error::Refused(format!("{} now reports {} bytes", self.path.display(), dev.len())));
        }
        Ok(dev)
    }

    /// Why this target must not receive `need` bytes, if it must not.
    /// `allow_fixed` is `--force` (flash) or the internal-disk install.
    pub fn refusal(&self, need: u64, allow_fixed: bool) -> Option<String> {
        let name = self.path.display();
        if self.holds_system {
            return Some(format!("{name} holds the running system; it cannot be written while it runs"));
        }
        if !self.in_use.is_empty() {
            return Some(format!("{name} is in use: {}; unmount it first", self.in_use.join("; ")));
        }
        if self.size < need {
            return Some(format!(
                "{name} is too small: {:.1} MiB, the image needs {:.1} MiB",
                self.size as f64 / 1048576.0,
                need as f64 / 1048576.0
            ));
        }
        if self.block_size != 512 {
            return Some(format!("{name} has {}-byte sectors; Quill images use 512-byte sectors", self.block_size));
        }
        if !self.removable && !allow_fixed {
            return Some(format!(
                "{name} is a fixed disk, not removable or USB storage: writing it erases this computer's own disk. \
                 If that is really what you want, add --force"
            ));
        }
        None
    }
}

/// Kernel names of a disk's partitions.
fn partitions(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("partition").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Model and serial: the disk's own attributes (SCSI, NVMe, MMC, virtio),
/// else the USB device's above it.
fn identity(dir: &Path, sysdev: &Path) -> (Option<String>, Option<String>) {
    let dev = dir.join("device");
    let vendor = read_trim(&dev.join("vendor"));
    let mut model = read_trim(&dev.join("model")).map(|m| match &vendor {
        Some(v) if !m.starts_with(v.as_str()) => format!("{v} {m}"),
        _ => m,
    });
    let mut serial = read_trim(&dev.join("serial")).or_else(|| read_trim(&dir.join("serial")));
    for up in sysdev.ancestors().skip(1).take(12) {
        if serial.is_none() {
            serial = read_trim(&up.join("serial"));
        }
        if model.is_none() {
            if let Some(p) = read_trim(&up.join("product")) {
                model = Some(match read_trim(&up.join("manufacturer")) {
                    Some(m) => format!("{m} {p}"),
                    None => p,
                });
            }
        }
    }
    (model, serial)
}

/// Whole disks under the host's root filesystem (through partitions,
/// device-mapper and RAID). Empty when root is not on a block device (a
/// Quill device runs from its initramfs; its boot disk is added by the caller).
pub fn root_disks(sys: &Sys) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::metadata("/") else { return Vec::new() };
    let dev = meta.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    if major == 0 {
        return Vec::new();
    }
    let Ok(start) = fs::canonicalize(sys.dev_block.join(format!("{major}:{minor}"))) else { return Vec::new() };
    let mut out = Vec::new();
    disks_below(&start, &mut out, 0);
    out
}

fn disks_below(node: &Path, out: &mut Vec<String>, depth: u32) {
    if depth > 8 {
        return;
    }
    let slaves: Vec<PathBuf> = fs::read_dir(node.join("slaves"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::canonicalize(e.path()).ok())
        .collect();
    if !slaves.is_empty() {
        for s in slaves {
            disks_below(&s, out, depth + 1);
        }
        return;
    }
    let disk = if node.join("partition").exists() { node.parent() } else { Some(node) };
    if let Some(n) = disk.and_then(|d| d.file_name()) {
        let n = n.to_string_lossy().into_owned();
        if !out.contains(&n) {
            out.push(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /sys/class/block with a USB stick `sdb` (partition sdb1) and
    /// an internal disk `vda`, plus fake /dev nodes as symlinks to real ones.
    struct Fake {
        dir: tempfile::TempDir,
        sys: Sys,
    }

    fn w(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
    }

    fn fake(mounts: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let devices = r.join("devices/pci0000:00/0000:00:04.0/usb2/2-1");
        w(&devices.join("serial"), "STICK-123\n");
        w(&devices.join("product"), "DataTraveler\n");
        w(&devices.join("manufacturer"), "Kingston\n");
        let sdb = devices.join("2-1:1.0/host0/target0:0:0/0:0:0:0/block/sdb");
        w(&sdb.join("size"), "16777216\n");
        w(&sdb.join("removable"), "0\n");
        w(&sdb.join("sdb1/partition"), "1\n");
        let vda = r.join("devices/pci0000:00/0000:00:05.0/virtio1/block/vda");
        w(&vda.join("size"), "2097152\n");
        w(&vda.join("removable"), "0\n");
        w(&vda.join("serial"), "INTERNAL-9\n");
        let cb = r.join("class/block");
        fs::create_dir_all(&cb).unwrap();
        std::os::unix::fs::symlink(&sdb, cb.join("sdb")).unwrap();
        std::os::unix::fs::symlink(sdb.join("sdb1"), cb.join("sdb1")).unwrap();
        std::os::unix::fs::symlink(&vda, cb.join("vda")).unwrap();
        w(&r.join("mounts"), mounts);
        w(&r.join("swaps"), "Filename Type Size Used Priority\n");
        let sys =
            Sys { class_block: cb, dev_block: r.join("dev-block"), mounts: r.join("mounts"), swaps: r.join("swaps") };
        Fake { dir, sys }
    }

    #[test]
    fn image_files_other_files_and_missing_paths() {
        let f = fake("");
        let img = f.dir.path().join("disk.img");
        fs::write(&img, vec![0u8; 4096]).unwrap();
        let t = Target::inspect(&img, &f.sys, &[]).unwrap();
        assert_eq!(t.kind, Kind::File);
        assert_eq!(t.size, 4096);
        assert!(t.refusal(8192, false).unwrap().contains("too small"));
        assert_eq!(t.refusal(4096, false), None);
        let e = Target::inspect(f.dir.path(), &f.sys, &[]).unwrap_err().to_string();
        assert!(e.contains("not a block device or an image file"), "{e}");
        let e = Target::inspect(Path::new("/dev/null"), &f.sys, &[]).unwrap_err().to_string();
        assert!(e.contains("not a block device or an image file"), "{e}");
        let e = Target::inspect(&f.dir.path().join("nope"), &f.sys, &[]).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn usb_identity_mounts_and_fixed_disks() {
        // The block-device part needs a real node: find one on this machine.
        let Some(node) = ["/dev/loop0", "/dev/vda", "/dev/sda"]
            .into_iter()
            .find(|p| fs::metadata(p).map(|m| m.file_type().is_block_device()).unwrap_or(false))
        else {
            eprintln!("no block device node on this machine; skipping");
            return;
        };
        let f = fake("");
        // A /dev entry named like the fake disk, pointing at the real node.
        let dev = f.dir.path().join("dev");
        fs::create_dir_all(&dev).unwrap();
        // inspect() names the disk after the resolved node, so the fake sysfs
        // entries are made under that name.
        let real = fs::canonicalize(node).unwrap();
        let name = real.file_name().unwrap().to_string_lossy().into_owned();
        let cb = &f.sys.class_block;
        fs::remove_file(cb.join("sdb")).unwrap();
        std::os::unix::fs::symlink(fs::canonicalize(cb.join("sdb1")).unwrap().parent().unwrap(), cb.join(&name))
            .unwrap();
        let t = Target::inspect(node.as_ref(), &f.sys, &[]).unwrap();
        assert_eq!(t.kind, Kind::Disk(name.clone()));
        assert_eq!(t.size, 8 << 30);
        assert!(t.removable, "a disk on USB counts as removable");
        assert_eq!(t.model.as_deref(), Some("Kingston DataTraveler"));
        assert_eq!(t.serial.as_deref(), Some("STICK-123"));
        assert!(t.describe().contains("Kingston DataTraveler, 8.00 GiB, serial STICK-123"), "{}", t.describe());
        assert_eq!(t.refusal(1 << 30, false), None);

        // Mounted partition: refused with where it is mounted.
        let link = dev.join("sdb1");
        std::os::unix::fs::symlink(node, &link).unwrap(); // resolves to the node's name
        fs::write(&f.sys.mounts, format!("{} /media/stick vfat rw 0 0\n", link.display())).unwrap();
        let t = Target::inspect(node.as_ref(), &f.sys, &[]).unwrap();
        assert!(t.refusal(1, false).unwrap().contains("mounted on /media/stick"), "{:?}", t.in_use);
        // The running system's disk.
        fs::write(&f.sys.mounts, "").unwrap();
        let t = Target::inspect(node.as_ref(), &f.sys, std::slice::from_ref(&name)).unwrap();
        assert!(t.refusal(1, true).unwrap().contains("running system"));

        // A fixed internal disk needs --force.
        fs::remove_file(cb.join(&name)).unwrap();
        std::os::unix::fs::symlink(fs::canonicalize(cb.join("vda")).unwrap(), cb.join(&name)).unwrap();
        let t = Target::inspect(node.as_ref(), &f.sys, &[]).unwrap();
        assert!(!t.removable);
        assert_eq!(t.serial.as_deref(), Some("INTERNAL-9"));
        assert!(t.refusal(1, false).unwrap().contains("--force"));
        assert_eq!(t.refusal(1, true), None);
    }
}
