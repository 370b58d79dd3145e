//! USB storage: when a USB disk or partition appears (hotplug uevent, or
//! already there at boot), init starts a helper (init's own binary,
//! `init usb-helper NAME`, see `usb_helper.rs`) that reads the volume's
//! first bytes, mounts a FAT or exFAT filesystem read-only under
//! /run/media/NAME and runs `fwupdate usb` on it. PID 1 itself never reads
//! or mounts a stick: a stick that stalls stalls the helper, which init
//! gives up on after [`MOUNT_DEADLINE`] while it keeps reaping, answering
//! signals and checking health. When the volume goes away its mount is
//! detached. The boot disk is never touched (the UD Pocket boots from a
//! USB stick).
//!
//! ext4 sticks are not mounted: the kernel's ext4 is not hardened against
//! crafted images, and sticks carrying updates are FAT32 or exFAT.
//!
//! The decisions are here, the side effects behind [`Host`] so tests can
//! replace them.

use crate::hotplug::Uevent;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the helper may take to read and mount a volume.
pub const MOUNT_DEADLINE: Duration = Duration::from_secs(20);
/// Where the helper says that it mounted a volume (`NAME` holds the type).
pub const MOUNTED_DIR: &str = "/run/quill/usb";

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
    /// Starts the helper for /dev/NAME (probe, mount read-only at `target`,
    /// then `fwupdate usb`); returns its pid.
    fn start_helper(&mut self, name: &str, target: &Path, auto: bool) -> std::io::Result<i32>;
    /// The filesystem type the helper reports it mounted NAME with.
    fn mounted_as(&mut self, name: &str) -> Option<String>;
    /// Kills a helper that did not answer (it may be stuck in the kernel;
    /// it is reaped whenever it ends).
    fn kill(&mut self, pid: i32);
    /// Detaches the mount at `target` (if any) and removes the folder.
    fn unmount(&mut self, target: &Path);
}

/// Messages for the console.
pub type Lines = Vec<String>;

/// One volume the watcher knows.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    target: PathBuf,
    /// The helper while it runs.
    pid: Option<i32>,
    /// Until when the helper may take to mount it; `None` once it did (or
    /// once init gave up on it).
    deadline: Option<Instant>,
}

pub struct Watcher {
    /// The disk Quill booted from: never mounted here.
    pub boot_disk: Option<String>,
    /// `quill.autoupdate=1` on the kernel command line.
    pub autoupdate: bool,
    known: BTreeMap<String, Known>,
}

impl Watcher {
    pub fn new(boot_disk: Option<String>, autoupdate: bool) -> Watcher {
        Watcher { boot_disk, autoupdate, known: BTreeMap::new() }
    }

    #[cfg(test)]
    fn is_known(&self, name: &str) -> bool {
        self.known.contains_key(name)
    }

    /// A volume appeared: start its helper (nothing here reads the stick).
    pub fn added(&mut self, v: &Volume, host: &mut dyn Host, now: Instant) -> Lines {
        if self.boot_disk.as_deref() == Some(v.disk.as_str()) || self.known.contains_key(&v.name) {
            return Lines::new();
        }
        let target = Path::new(MEDIA).join(&v.name);
        match host.start_helper(&v.name, &target, self.autoupdate) {
            Ok(pid) => {
                let k = Known { target, pid: Some(pid), deadline: Some(now + MOUNT_DEADLINE) };
                self.known.insert(v.name.clone(), k);
                Lines::new()
            }
            Err(e) => vec![format!("USB storage {}: cannot look at it: starting its helper: {e}", v.name)],
        }
    }

    /// When init must look at the helpers next.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.known.values().filter_map(|k| k.deadline).min()
    }

    /// Gives up on helpers that did not mount their volume in time.
    pub fn tick(&mut self, host: &mut dyn Host, now: Instant) -> Lines {
        let mut out = Lines::new();
        for (name, k) in self.known.iter_mut() {
            let Some(deadline) = k.deadline.filter(|d| *d <= now) else { continue };
            let _ = deadline;
            k.deadline = None;
            if host.mounted_as(name).is_some() {
                continue;
            }
            if let Some(pid) = k.pid {
                host.kill(pid);
            }
            out.push(format!(
                "USB storage {name} did not answer within {} s; it is left alone (unplug it and try another stick)",
                MOUNT_DEADLINE.as_secs()
            ));
        }
        out
    }

    /// A block device went away: stop its helper, detach its mount.
    pub fn removed(&mut self, name: &str, host: &mut dyn Host) -> Lines {
        match self.known.remove(name) {
            Some(k) => {
                if let Some(pid) = k.pid {
                    host.kill(pid);
                }
                host.unmount(&k.target);
                vec![format!("USB storage {name} removed")]
            }
            None => vec![],
        }
    }

    /// A child exited: true if it was one of our helpers.
    pub fn reaped(&mut self, pid: i32) -> bool {
        for k in self.known.values_mut() {
            if k.pid == Some(pid) {
                k.pid = None;
                k.deadline = None;
                return true;
            }
        }
        false
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
        mounted: BTreeMap<String, String>,
        log: Vec<String>,
        next_pid: i32,
    }

    impl Host for Fake {
        fn start_helper(&mut self, name: &str, target: &Path, auto: bool) -> std::io::Result<i32> {
            self.next_pid += 1;
            self.log.push(format!("helper {name} {}{}", target.display(), if auto { " --auto" } else { "" }));
            Ok(100 + self.next_pid)
        }
        fn mounted_as(&mut self, name: &str) -> Option<String> {
            self.mounted.get(name).cloned()
        }
        fn kill(&mut self, pid: i32) {
            self.log.push(format!("kill {pid}"));
        }
        fn unmount(&mut self, target: &Path) {
            self.log.push(format!("umount {}", target.display()));
        }
    }

    #[test]
    fn a_helper_mounts_and_checks_a_stick_and_its_mount_is_detached() {
        let mut host = Fake::default();
        let now = Instant::now();
        let mut w = Watcher::new(Some("sda".into()), false);
        let part = Volume { name: "sdb1".into(), disk: "sdb".into() };
        assert!(w.added(&part, &mut host, now).is_empty());
        assert!(w.added(&part, &mut host, now).is_empty(), "a second add event changes nothing");
        assert_eq!(host.log, ["helper sdb1 /run/media/sdb1"]);
        assert_eq!(w.next_wakeup(), Some(now + MOUNT_DEADLINE));
        // The helper mounted it and went on to fwupdate; the deadline passes quietly.
        host.mounted.insert("sdb1".into(), "vfat".into());
        assert!(w.tick(&mut host, now + MOUNT_DEADLINE).is_empty());
        assert_eq!(w.next_wakeup(), None);
        assert!(w.reaped(101));
        assert!(!w.reaped(101));
        assert_eq!(w.removed("sdb1", &mut host), vec!["USB storage sdb1 removed".to_string()]);
        assert!(w.removed("sdb1", &mut host).is_empty());
        assert_eq!(host.log.last().unwrap(), "umount /run/media/sdb1");
    }

    #[test]
    fn a_stick_that_never_answers_is_given_up_without_waiting_on_it() {
        let mut host = Fake::default();
        let now = Instant::now();
        let mut w = Watcher::new(None, false);
        w.added(&Volume { name: "sdc".into(), disk: "sdc".into() }, &mut host, now);
        assert!(w.tick(&mut host, now + MOUNT_DEADLINE / 2).is_empty(), "not before the deadline");
        let lines = w.tick(&mut host, now + MOUNT_DEADLINE);
        assert!(lines[0].contains("did not answer within 20 s"), "{lines:?}");
        assert_eq!(host.log.last().unwrap(), "kill 101");
        assert!(w.tick(&mut host, now + 2 * MOUNT_DEADLINE).is_empty(), "said once");
        // Its removal still detaches whatever the helper may have mounted late.
        assert!(w.is_known("sdc"));
        w.removed("sdc", &mut host);
        assert_eq!(host.log[host.log.len() - 2..], ["kill 101".to_string(), "umount /run/media/sdc".to_string()]);
    }

    #[test]
    fn never_touches_the_boot_disk_and_passes_autoupdate_on() {
        let mut host = Fake::default();
        let now = Instant::now();
        let mut w = Watcher::new(Some("sda".into()), true);
        assert!(w.added(&Volume { name: "sda1".into(), disk: "sda".into() }, &mut host, now).is_empty());
        assert!(host.log.is_empty(), "{:?}", host.log);
        w.added(&Volume { name: "sdc".into(), disk: "sdc".into() }, &mut host, now);
        assert_eq!(host.log.last().unwrap(), "helper sdc /run/media/sdc --auto");
    }
}
