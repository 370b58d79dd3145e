//! Mounting DATA: the partition named DATA on the disk that holds the
//! booted slot, grown to fill its partition after a flash.

use crate::coldplug::{coldplug_sysfs, Mods};
use crate::{datagrow, system};
use bootid::BootArgs;
use log::{error, info, warn};
use std::path::Path;
use std::time::{Duration, Instant};

/// Finds the boot disk's DATA partition (waiting up to 10 s for the disk)
/// and mounts it at /data. Returns whether /data is mounted, and the boot
/// disk's name. While it waits, devices that appear load their modules (a
/// USB stick's disk needs sd_mod once usb-storage has found it).
pub fn mount_data(args: &BootArgs, mods: &mut Mods) -> (bool, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let disk = loop {
        let found = bootdisk::find_boot_disk(
            Path::new("/sys/class/block"),
            Path::new("/dev"),
            args.slot_partuuid.as_deref(),
            args.disk_uuid.as_deref(),
        );
        if found.is_some() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
        if let Some(m) = mods.as_mut() {
            for n in coldplug_sysfs(m) {
                info!("loaded {n} while waiting for the boot disk");
            }
        }
    };
    let Some(disk) = disk else {
        error!("the boot disk was not found (slot PARTUUID {:?}); settings will not be kept", args.slot_partuuid);
        return (false, None);
    };
    let Some(dev) = disk.data else {
        error!("boot disk {} has no DATA partition; settings will not be kept", disk.name);
        return (false, Some(disk.name));
    };
    match system::mount_data(&dev) {
        Ok(()) => {
            info!("DATA {} mounted on /data (boot disk {})", dev.display(), disk.name);
            match datagrow::grow(&dev, Path::new("/data")) {
                Ok(Some((from, to))) => {
                    info!("DATA grown to fill its partition: {} MiB -> {} MiB", from >> 20, to >> 20)
                }
                Ok(None) => {}
                Err(e) => warn!("growing DATA to fill its partition: {e} (it keeps its size)"),
            }
            (true, Some(disk.name))
        }
        Err(e) => {
            error!("{e}; settings will not be kept");
            (false, Some(disk.name))
        }
    }
}
