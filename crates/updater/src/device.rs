//! How `fwupdate` finds the running system: the booted slot and boot disk
//! from the kernel command line and sysfs, the board and version from
//! /etc/quill/release. Every piece can be overridden (hosts, tests).

use abslot::Slot;
use std::path::{Path, PathBuf};

/// Overrides, given before the verb: `fwupdate --disk disk.img --booted a status`.
#[derive(clap::Args, Clone, Debug, Default)]
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
}

pub struct Device {
    pub disk: PathBuf,
    pub block_size: u32,
    pub booted: Slot,
    pub board: String,
    pub running_version: String,
}

fn cmdline_value(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/cmdline").ok()?;
    text.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_string)
}

fn release_value(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/etc/quill/release").ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string())
}

impl DeviceArgs {
    pub fn resolve(&self) -> Result<Device, String> {
        let booted = match self.booted.clone().or_else(|| cmdline_value("quill.slot=")) {
            Some(s) => Slot::from_letter(&s).ok_or_else(|| format!("--booted {s}: use a or b"))?,
            None => {
                return Err(
                    "not running on Quill (no quill.slot= on the kernel command line); pass --disk and --booted".into(),
                )
            }
        };
        let (disk, block_size) = match &self.disk {
            Some(d) => (d.clone(), 512),
            None => {
                let part = cmdline_value("quill.partuuid=");
                let found =
                    bootdisk::find_boot_disk(Path::new("/sys/class/block"), Path::new("/dev"), part.as_deref(), None)
                        .ok_or("the boot disk was not found (no disk holds the booted slot's PARTUUID); pass --disk")?;
                (found.node, found.block_size)
            }
        };
        let board = self.board.clone().or_else(|| release_value("BOARD=")).ok_or("unknown board: pass --board")?;
        let running_version =
            self.running_version.clone().or_else(|| release_value("VERSION=")).unwrap_or_else(|| "0".into());
        Ok(Device { disk, block_size, booted, board, running_version })
    }
}
