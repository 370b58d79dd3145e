//! How `fwupdate` finds the running system: the booted slot and boot disk
//! from the kernel command line (bootid) and sysfs (bootdisk), the board and
//! version from /etc/quill/release. Every piece can be overridden (hosts,
//! tests), and all of it is read under one root (`/` on a device).

use abslot::Slot;
use bootid::{BootArgs, Release};
use std::path::PathBuf;

/// Overrides, given before the verb: `fwupdate --disk disk.img --booted a status`.
#[derive(clap::Args, Clone, Debug)]
pub struct DeviceArgs {
    /// The boot disk (default: the disk holding the booted slot's PARTUUID).
    #[arg(long)]
    pub disk: Option<PathBuf>,
    /// The running slot (default: quill.slot= on the kernel command line).
    #[arg(long)]
    pub booted: Option<String>,
    /// The updater's folder on DATA.
    #[arg(long, default_value = "/data/quill")]
    pub data: PathBuf,
    /// Folder of trusted *.pub keys.
    #[arg(long, default_value = "/etc/quill/keys")]
    pub keyring: PathBuf,
    /// Board of this device (default: BOARD= in /etc/quill/release).
    #[arg(long)]
    pub board: Option<String>,
    /// Version running now (default: VERSION= in /etc/quill/release).
    #[arg(long)]
    pub running_version: Option<String>,
    /// Where /proc, /sys, /dev and /etc are found (tests).
    #[arg(long, default_value = "/", hide = true)]
    pub root: PathBuf,
    /// Seconds to wait for another state change (an install) to finish.
    #[arg(long, default_value_t = 5)]
    pub wait: u64,
}

impl Default for DeviceArgs {
    fn default() -> DeviceArgs {
        DeviceArgs {
            disk: None,
            booted: None,
            data: "/data/quill".into(),
            keyring: "/etc/quill/keys".into(),
            board: None,
            running_version: None,
            root: "/".into(),
            wait: 5,
        }
    }
}

pub struct Device {
    pub disk: PathBuf,
    pub block_size: u32,
    pub booted: Slot,
    pub board: String,
    pub running_version: String,
    /// The booted slot's partition GUID, on a device.
    pub booted_partuuid: Option<String>,
    /// The boot disk's DATA partition node, when it was found in sysfs.
    pub data_node: Option<PathBuf>,
}

impl DeviceArgs {
    pub fn boot_args(&self) -> BootArgs {
        BootArgs::read(&self.root)
    }

    pub fn release(&self) -> Option<Release> {
        Release::read(&self.root)
    }

    /// Whether this runs on a booted Quill system (not a host with --disk).
    pub fn on_device(&self) -> bool {
        self.disk.is_none() && self.release().is_some()
    }

    pub fn resolve(&self) -> Result<Device, String> {
        let args = self.boot_args();
        let booted = match &self.booted {
            Some(s) => Slot::from_letter(s).ok_or_else(|| format!("--booted {s}: use a or b"))?,
            None => args
                .slot
                .ok_or("not running on Quill (no quill.slot= on the kernel command line); pass --disk and --booted")?,
        };
        let (disk, block_size, data_node) = match &self.disk {
            Some(d) => (d.clone(), 512, None),
            None => {
                let found = bootdisk::find_boot_disk(
                    &self.root.join("sys/class/block"),
                    &self.root.join("dev"),
                    args.slot_partuuid.as_deref(),
                    args.disk_uuid.as_deref(),
                )
                .map_err(|e| format!("the boot disk: {e}; pass --disk"))?;
                (found.node, found.block_size, found.data)
            }
        };
        let release = self.release();
        let board = self
            .board
            .clone()
            .or_else(|| release.as_ref().map(|r| r.board.clone()))
            .ok_or("unknown board: pass --board")?;
        let running_version =
            self.running_version.clone().or_else(|| release.map(|r| r.version)).unwrap_or_else(|| "0".into());
        let booted_partuuid = if self.disk.is_none() { args.slot_partuuid.clone() } else { None };
        Ok(Device { disk, block_size, booted, board, running_version, booted_partuuid, data_node })
    }

    /// On a device, the updater's folder must be on the boot disk's DATA:
    /// a folder on the initramfs (DATA not mounted) or on another disk
    /// would hold a state nobody else sees. Hosts (`--disk`) skip this.
    pub fn check_data(&self, dev: &Device) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        if self.disk.is_some() {
            return Ok(());
        }
        let node = dev.data_node.as_ref().ok_or("the boot disk has no DATA partition")?;
        let part = std::fs::metadata(node).map_err(|e| format!("{}: {e}", node.display()))?;
        let dir = self.data.ancestors().find(|p| p.exists()).unwrap_or(&self.data);
        let here = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if here.dev() != part.rdev() {
            return Err(format!(
                "the updater's folder {} is not on the boot disk's DATA ({}); is DATA mounted?",
                self.data.display(),
                node.display()
            ));
        }
        Ok(())
    }
}
