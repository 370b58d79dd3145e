//! USB storage: when a USB disk or partition appears (hotplug uevent, or
//! already there at boot), init mounts it read-only under /run/media/NAME
//! and has `fwupdate usb` look for an update on it; when it goes away the
//! mount is detached. The boot disk is never touched (the UD Pocket boots
//! from a USB stick).
//!
//! The decisions are here, the side effects behind [`Host`] so tests can
//! replace them.

use crate::hotplug::Uevent;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where volumes are mounted.
pub const MEDIA: &str = "/run/media";

/// A block device that appeared on USB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Kernel name: `sda` (whole disk, "superfloppy" stick) or `sda1`.
    pub name: String,
    /// The disk it belongs to (`sda`).
    pub disk: String,
}

impl Volume {
    /// From a block uevent: `add` of a disk or partition below a USB device.
    pub fn from_uevent(ev: &Uevent) -> Option<Volume> {
        if ev.get("SUBSYSTEM") != Some("block") {
            return None;
        }
        Volume::from_devpath(&ev.devpath, ev.get("DEVTYPE")?)
    }

    /// `devpath` as in uevents and below /sys (`/devices/.../block/sda/sda1`).
    pub fn from_devpath(devpath: &str, devtype: &str) -> Option<Volume> {
        if !devpath.contains("/usb") {
            return None;
        }
        let mut parts = devpath.rsplit('/');
        let name = parts.next()?.to_string();
        let disk = match devtype {
            "disk" => name.clone(),
            "partition" => parts.next()?.to_string(),
            _ => return None,
        };
        Some(Volume { name, disk })
    }
}

/// The filesystem in a volume's first 2 KiB, by its superblock signature;
/// None for anything else (a partition table, swap, an unknown filesystem).
/// Probing first keeps the console free of the kernel's errors for mount
/// attempts that cannot work. (No maintained crate does only this without
/// linking libblkid; it is three signatures.)
pub fn probe_fs(head: &[u8]) -> Option<&'static str> {
    if head.len() < 2048 {
        return None;
    }
    if &head[3..11] == b"EXFAT   " {
        return Some("exfat");
    }
    if head[1024 + 56..1024 + 58] == [0x53, 0xEF] {
        return Some("ext4");
    }
    let boot_sig = head[510..512] == [0x55, 0xAA];
    let fat_label = &head[0x36..0x39] == b"FAT" || &head[0x52..0x57] == b"FAT32";
    let bytes_per_sector = u16::from_le_bytes([head[11], head[12]]);
    if boot_sig && fat_label && bytes_per_sector.is_power_of_two() && (512..=4096).contains(&bytes_per_sector) {
        return Some("vfat");
    }
    None
}

/// What the watcher needs from the system.
pub trait Host {
    /// The first 2 KiB of /dev/NAME.
    fn read_head(&mut self, name: &str) -> std::io::Result<Vec<u8>>;
    /// Makes sure the filesystem's module is loaded.
    fn load_fs_module(&mut self, fstype: &str);
    /// Mounts /dev/NAME read-only at `target`.
    fn mount_ro(&mut self, name: &str, fstype: &str, target: &Path) -> Result<(), String>;
    /// Detaches the mount at `target` and removes the folder.
    fn unmount(&mut self, target: &Path);
    /// Starts `argv` with its output on the console; returns the pid.
    fn spawn(&mut self, argv: &[String]) -> std::io::Result<i32>;
}

/// Messages for the console.
pub type Lines = Vec<String>;

pub struct Watcher {
    /// The disk Quill booted from: never mounted here.
    pub boot_disk: Option<String>,
    /// `quill.autoupdate=1` on the kernel command line.
    pub autoupdate: bool,
    mounted: BTreeMap<String, PathBuf>,
    /// Pids of the `fwupdate usb` runs we started.
    jobs: BTreeSet<i32>,
}

impl Watcher {
    pub fn new(boot_disk: Option<String>, autoupdate: bool) -> Watcher {
        Watcher { boot_disk, autoupdate, mounted: BTreeMap::new(), jobs: BTreeSet::new() }
    }

    #[cfg(test)]
    pub fn mounted(&self) -> impl Iterator<Item = (&String, &PathBuf)> {
        self.mounted.iter()
    }

    /// A volume appeared: mount it and start the update check.
    pub fn added(&mut self, v: &Volume, host: &mut dyn Host) -> Lines {
        let mut out = Lines::new();
        if self.boot_disk.as_deref() == Some(v.disk.as_str()) || self.mounted.contains_key(&v.name) {
            return out;
        }
        let head = match host.read_head(&v.name) {
            Ok(h) => h,
            Err(e) => {
                log::warn!("usb: reading /dev/{}: {e}", v.name);
                return out;
            }
        };
        let Some(fstype) = probe_fs(&head) else {
            log::info!("usb: /dev/{} holds no FAT, exFAT or ext4 filesystem", v.name);
            return out;
        };
        host.load_fs_module(fstype);
        let target = Path::new(MEDIA).join(&v.name);
        if let Err(e) = host.mount_ro(&v.name, fstype, &target) {
            out.push(format!("USB storage {}: {e}; use a stick formatted with FAT32, exFAT or ext4", v.name));
            return out;
        }
        out.push(format!("USB storage {} ({fstype}) mounted read-only on {}", v.name, target.display()));
        self.mounted.insert(v.name.clone(), target.clone());
        let mut argv: Vec<String> = ["/usr/bin/fwupdate", "usb"].map(String::from).to_vec();
        if self.autoupdate {
            argv.push("--auto".into());
        }
        argv.push(target.display().to_string());
        match host.spawn(&argv) {
            Ok(pid) => {
                self.jobs.insert(pid);
            }
            Err(e) => out.push(format!("USB storage {}: cannot look for updates: starting fwupdate: {e}", v.name)),
        }
        out
    }

    /// A block device went away: detach its mount if we made one.
    pub fn removed(&mut self, name: &str, host: &mut dyn Host) -> Lines {
        match self.mounted.remove(name) {
            Some(target) => {
                host.unmount(&target);
                vec![format!("USB storage {name} removed")]
            }
            None => vec![],
        }
    }

    /// A child exited: true if it was one of ours.
    pub fn reaped(&mut self, pid: i32) -> bool {
        self.jobs.remove(&pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STICK: &str =
        "/devices/pci0000:00/0000:00:02.0/0000:01:00.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sda";

    fn ev(action: &str, devpath: &str, devtype: &str) -> Uevent {
        let msg =
            format!("{action}@{devpath}\0ACTION={action}\0DEVPATH={devpath}\0SUBSYSTEM=block\0DEVTYPE={devtype}\0");
        Uevent::parse(msg.as_bytes()).unwrap()
    }

    #[test]
    fn usb_disks_and_partitions_only() {
        assert_eq!(
            Volume::from_uevent(&ev("add", STICK, "disk")),
            Some(Volume { name: "sda".into(), disk: "sda".into() })
        );
        assert_eq!(
            Volume::from_uevent(&ev("add", &format!("{STICK}/sda1"), "partition")),
            Some(Volume { name: "sda1".into(), disk: "sda".into() })
        );
        assert_eq!(Volume::from_uevent(&ev("add", "/devices/pci0000:00/0000:00:04.0/virtio2/block/vda", "disk")), None);
        let not_block = Uevent::parse(format!("add@{STICK}\0SUBSYSTEM=scsi\0DEVTYPE=disk\0").as_bytes()).unwrap();
        assert_eq!(Volume::from_uevent(&not_block), None);
    }

    fn fat_head() -> Vec<u8> {
        let mut h = vec![0u8; 2048];
        h[11..13].copy_from_slice(&512u16.to_le_bytes());
        h[0x52..0x57].copy_from_slice(b"FAT32");
        h[510] = 0x55;
        h[511] = 0xAA;
        h
    }

    #[test]
    fn probes_the_three_filesystems_and_nothing_else() {
        assert_eq!(probe_fs(&fat_head()), Some("vfat"));
        let mut fat16 = fat_head();
        fat16[0x52..0x57].fill(0);
        fat16[0x36..0x39].copy_from_slice(b"FAT");
        assert_eq!(probe_fs(&fat16), Some("vfat"));
        let mut exfat = vec![0u8; 2048];
        exfat[3..11].copy_from_slice(b"EXFAT   ");
        assert_eq!(probe_fs(&exfat), Some("exfat"));
        let mut ext4 = vec![0u8; 2048];
        ext4[1024 + 56] = 0x53;
        ext4[1024 + 57] = 0xEF;
        assert_eq!(probe_fs(&ext4), Some("ext4"));
        // An MBR partition table: boot signature but no filesystem.
        let mut mbr = vec![0u8; 2048];
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        assert_eq!(probe_fs(&mbr), None);
        assert_eq!(probe_fs(&[0u8; 2048]), None);
        assert_eq!(probe_fs(&fat_head()[..1024]), None);
    }

    #[derive(Default)]
    struct Fake {
        heads: BTreeMap<String, Vec<u8>>,
        fail_mount: bool,
        log: Vec<String>,
        next_pid: i32,
    }

    impl Host for Fake {
        fn read_head(&mut self, name: &str) -> std::io::Result<Vec<u8>> {
            self.heads.get(name).cloned().ok_or_else(|| std::io::Error::other("gone"))
        }
        fn load_fs_module(&mut self, fstype: &str) {
            self.log.push(format!("modprobe {fstype}"));
        }
        fn mount_ro(&mut self, name: &str, fstype: &str, target: &Path) -> Result<(), String> {
            if self.fail_mount {
                return Err("mounting failed: invalid argument".into());
            }
            self.log.push(format!("mount {name} {fstype} {}", target.display()));
            Ok(())
        }
        fn unmount(&mut self, target: &Path) {
            self.log.push(format!("umount {}", target.display()));
        }
        fn spawn(&mut self, argv: &[String]) -> std::io::Result<i32> {
            self.next_pid += 1;
            self.log.push(argv.join(" "));
            Ok(100 + self.next_pid)
        }
    }

    #[test]
    fn mounts_checks_and_detaches_a_stick() {
        let mut host = Fake::default();
        host.heads.insert("sdb1".into(), fat_head());
        host.heads.insert("sdb".into(), vec![0; 2048]);
        let mut w = Watcher::new(Some("sda".into()), false);
        let disk = Volume { name: "sdb".into(), disk: "sdb".into() };
        let part = Volume { name: "sdb1".into(), disk: "sdb".into() };
        assert!(w.added(&disk, &mut host).is_empty(), "a partition table is not mounted");
        let lines = w.added(&part, &mut host);
        assert_eq!(lines, vec!["USB storage sdb1 (vfat) mounted read-only on /run/media/sdb1".to_string()]);
        assert!(w.added(&part, &mut host).is_empty(), "a second add event changes nothing");
        assert_eq!(
            host.log,
            ["modprobe vfat", "mount sdb1 vfat /run/media/sdb1", "/usr/bin/fwupdate usb /run/media/sdb1"]
        );
        assert!(w.reaped(101));
        assert!(!w.reaped(101));
        assert_eq!(w.removed("sdb1", &mut host), vec!["USB storage sdb1 removed".to_string()]);
        assert!(w.removed("sdb1", &mut host).is_empty());
        assert_eq!(host.log.last().unwrap(), "umount /run/media/sdb1");
    }

    #[test]
    fn never_touches_the_boot_disk_and_passes_autoupdate_on() {
        let mut host = Fake::default();
        host.heads.insert("sda1".into(), fat_head());
        host.heads.insert("sdc".into(), fat_head());
        let mut w = Watcher::new(Some("sda".into()), true);
        assert!(w.added(&Volume { name: "sda1".into(), disk: "sda".into() }, &mut host).is_empty());
        assert!(host.log.is_empty(), "{:?}", host.log);
        w.added(&Volume { name: "sdc".into(), disk: "sdc".into() }, &mut host);
        assert_eq!(host.log.last().unwrap(), "/usr/bin/fwupdate usb --auto /run/media/sdc");
    }

    #[test]
    fn a_failed_mount_says_what_to_do() {
        let mut host = Fake { fail_mount: true, ..Fake::default() };
        host.heads.insert("sdb".into(), fat_head());
        let mut w = Watcher::new(None, false);
        let lines = w.added(&Volume { name: "sdb".into(), disk: "sdb".into() }, &mut host);
        assert!(lines[0].contains("FAT32, exFAT or ext4"), "{lines:?}");
        assert_eq!(w.mounted().count(), 0);
    }
}
