//! The `[qemu]` table of a board file: how to emulate the board's machine.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    pub binary: String,
    pub machine: String,
    pub cpu: String,
    pub memory_mib: u32,
    pub firmware_code: String,
    pub firmware_vars: String,
    /// Network card model; its MAC gives the unit ID and hostname.
    pub nic: String,
    /// Default bus of the boot disk: `virtio` or `usb`.
    pub disk: String,
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
}
