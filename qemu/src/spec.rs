//! The `[qemu]` table of a board file: how to emulate the board's machine.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    pub binary: String,
    pub machine: String,
    /// `-cpu`; none for machines with a fixed CPU (raspi4b).
    #[serde(default)]
    pub cpu: Option<String>,
    /// `-accel`; `tcg` unless the board says otherwise.
    #[serde(default = "tcg")]
    pub accel: String,
    pub memory_mib: u32,
    /// UEFI firmware (pflash) for `boot = "uefi"`.
    #[serde(default)]
    pub firmware_code: Option<String>,
    #[serde(default)]
    pub firmware_vars: Option<String>,
    /// Network card model; its MAC gives the unit ID and hostname. None
    /// for machines whose network QEMU does not emulate.
    #[serde(default)]
    pub nic: Option<String>,
    /// Default bus of the boot disk: `virtio`, `usb` or `sd`.
    pub disk: String,
    /// `uefi`: the firmware boots the disk. `uboot`: QEMU loads U-Boot
    /// (`-kernel u-boot.bin -dtb`) as the Pi's GPU firmware would, and
    /// U-Boot boots the disk. `direct`: QEMU loads kernel, device tree and
    /// initramfs itself (`-kernel -dtb -initrd -append`).
    #[serde(default = "uefi")]
    pub boot: String,
    /// A USB keyboard on the machine's own USB controller.
    #[serde(default)]
    pub usb_keyboard: bool,
    /// USB sticks go on the machine's own USB controller (`-usb`; raspi4b's
    /// dwc2, which has no PCI for qemu-xhci) instead of a qemu-xhci.
    #[serde(default)]
    pub own_usb: bool,
    /// Device tree nodes to disable in the QEMU-only copy of the DTB.
    #[serde(default)]
    pub dtb_disable: Vec<String>,
    /// (node, property) pairs to delete in the QEMU-only copy.
    #[serde(default)]
    pub dtb_delete: Vec<(String, String)>,
    /// Nodes to remove from the QEMU-only copy.
    #[serde(default)]
    pub dtb_remove: Vec<String>,
    /// (node, property, string value) to set in the QEMU-only copy.
    #[serde(default)]
    pub dtb_set: Vec<(String, String, String)>,
    /// A simple-framebuffer node to add to the QEMU-only copy.
    #[serde(default)]
    pub framebuffer: Option<Framebuffer>,
}

/// A `simple-framebuffer` device tree node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framebuffer {
    pub reg: u64,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub format: String,
}

fn tcg() -> String {
    "tcg".into()
}

fn uefi() -> String {
    "uefi".into()
}

impl MachineSpec {
    /// Reads only the `[qemu]` table of `board/<name>/board.toml`.
    pub fn from_board_file(path: &Path) -> Result<MachineSpec> {
        #[derive(Deserialize)]
        struct Only {
            qemu: MachineSpec,
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let only: Only = toml::from_str(&text).with_context(|| format!("{}: the [qemu] table", path.display()))?;
        Ok(only.qemu)
    }

    /// Whether QEMU loads the kernel itself instead of a firmware booting the disk.
    pub fn direct_boot(&self) -> bool {
        self.boot == "direct"
    }

    /// Whether QEMU loads U-Boot, which boots the disk.
    pub fn uboot(&self) -> bool {
        self.boot == "uboot"
    }

    /// Whether the machine needs the files the build leaves for QEMU next
    /// to disk.img (a device tree; the kernel or U-Boot): it has no UEFI
    /// firmware of its own.
    pub fn loads_files(&self) -> bool {
        self.direct_boot() || self.uboot()
    }
}
