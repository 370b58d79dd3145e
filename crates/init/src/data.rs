//! Mounting DATA: the partition named DATA on the disk that holds the
//! booted slot, grown to fill its partition after a flash.

use crate::{datagrow, system};
use bootdisk::BootDiskError;
use bootid::BootArgs;
use log::{error, info, warn};
use std::path::Path;
use std::time::{Duration, Instant};

/// Finds the boot disk's DATA partition (waiting up to 10 s for the disk)
/// and mounts it at /data. While it waits, `waiting` runs between looks:
/// the caller loads the modules devices that appeared ask for (a USB
/// stick's disk needs sd_mod once usb-storage has found it). The
/// filesystem's module, if it is not in yet, is asked for by the kernel
/// itself (/sbin/modprobe).
/// What became of DATA.
pub struct DataMount {
    pub mounted: bool,
    /// The boot disk's kernel name, when it was found.
    pub boot_disk: Option<String>,
    /// Why DATA is not mounted (shown on the console and the screen).
    pub why: Option<String>,
}

pub fn mount_data(args: &BootArgs, waiting: &mut dyn FnMut()) -> DataMount {
    let deadline = Instant::now() + Duration::from_secs(10);
    // The kernel adds a disk's partitions one after the other: a disk
    // seen without its DATA partition is looked at again for a while.
    let mut seen_without_data: Option<Instant> = None;
    let disk = loop {
        let found = bootdisk::find_boot_disk(
            Path::new("/sys/class/block"),
            Path::new("/dev"),
            args.slot_partuuid.as_deref(),
            args.disk_uuid.as_deref(),
        );
        let partial = matches!(&found, Ok(d) if d.data.is_none());
        if partial {
            let first = *seen_without_data.get_or_insert_with(Instant::now);
            if first.elapsed() < Duration::from_secs(2) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        // A clone is conclusive: waiting longer cannot make it unambiguous.
        if !matches!(found, Err(BootDiskError::NotFound { .. })) || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
        waiting();
    };
    let disk = match disk {
        Ok(d) => d,
        Err(e) => {
            error!("{e}; settings will not be kept");
            return DataMount { mounted: false, boot_disk: None, why: Some(e.to_string()) };
        }
    };
    let Some(dev) = disk.data else {
        let why = format!("boot disk {} has no DATA partition", disk.name);
        error!("{why}; settings will not be kept");
        return DataMount { mounted: false, boot_disk: Some(disk.name), why: Some(why) };
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
            DataMount { mounted: true, boot_disk: Some(disk.name), why: None }
        }
        Err(e) => {
            error!("{e}; settings will not be kept");
            DataMount { mounted: false, boot_disk: Some(disk.name), why: Some(e) }
        }
    }
}
