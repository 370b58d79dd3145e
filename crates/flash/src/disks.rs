//! The internal disks a running UD Pocket can install Quill onto: found
//! here, printed by `fwupdate install-to-disk --json`, and read back by the
//! Setup Assistant's home screen through [`query`] (one place for the
//! format).

use crate::{Kind, Sys, Target};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One disk and, when Quill will not install onto it, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// The device node, `/dev/vda`.
    pub path: String,
    /// Model and size for people: `QEMU HARDDISK, 2.0 GiB`.
    pub label: String,
    /// Bytes.
    pub size: u64,
    pub refusal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskList {
    /// The disk the running system booted from.
    pub running_from: String,
    /// Whether that is removable or USB storage (a UD Pocket).
    pub from_removable: bool,
    pub disks: Vec<Disk>,
}

impl DiskList {
    /// The disks Quill can be installed onto.
    pub fn usable(&self) -> Vec<&Disk> {
        self.disks.iter().filter(|d| d.refusal.is_none()).collect()
    }
}

/// Internal disks next to the boot disk `boot` (a name under /sys/class/block),
/// with why the others are not candidates.
pub fn candidates(sys: &Sys, boot: &str) -> Vec<(Target, Option<String>)> {
    let mut out = Vec::new();
    for name in bootdisk::whole_disks(&sys.class_block) {
        if name.starts_with("sr") || name.starts_with("fd") || name == boot {
            continue;
        }
        let Ok(t) = Target::inspect(&Path::new("/dev").join(&name), sys, &[boot.to_string()]) else { continue };
        if t.size == 0 {
            continue;
        }
        let why = if t.removable {
            Some("removable or USB storage, not an internal disk".into())
        } else {
            t.refusal(0, true)
        };
        out.push((t, why));
    }
    out
}

/// The list for the boot disk `boot_node` (`/dev/sda`).
pub fn list(sys: &Sys, boot_node: &Path) -> DiskList {
    let boot = boot_node.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let from_removable = Target::inspect(boot_node, sys, &[]).map(|t| t.removable).unwrap_or(false);
    let disks = candidates(sys, &boot)
        .into_iter()
        .map(|(t, refusal)| Disk { path: t.path.display().to_string(), label: label(&t), size: t.size, refusal })
        .collect();
    DiskList { running_from: boot_node.display().to_string(), from_removable, disks }
}

fn label(t: &Target) -> String {
    let gib = t.size as f64 / (1u64 << 30) as f64;
    match &t.kind {
        Kind::File => format!("image file, {gib:.1} GiB"),
        Kind::Disk(_) => format!("{}, {gib:.1} GiB", t.model.as_deref().unwrap_or("unknown model")),
    }
}

/// Runs `fwupdate install-to-disk --json` and reads its list.
pub fn query() -> Result<DiskList, String> {
    let out = std::process::Command::new("fwupdate")
        .args(["install-to-disk", "--json"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("fwupdate: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(err.trim().trim_start_matches("fwupdate: ").to_string());
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

pub fn parse(json: &str) -> Result<DiskList, String> {
    serde_json::from_str(json).map_err(|e| format!("fwupdate install-to-disk --json printed something else: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_survives_its_json_and_knows_the_usable_disks() {
        let l = DiskList {
            running_from: "/dev/sda".into(),
            from_removable: true,
            disks: vec![
                Disk { path: "/dev/vda".into(), label: "QEMU HARDDISK, 2.0 GiB".into(), size: 2 << 30, refusal: None },
                Disk {
                    path: "/dev/sdb".into(),
                    label: "Cruzer, 8.0 GiB".into(),
                    size: 8 << 30,
                    refusal: Some("removable or USB storage, not an internal disk".into()),
                },
            ],
        };
        let back = parse(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.usable().len(), 1);
        assert_eq!(back.usable()[0].path, "/dev/vda");
        assert!(parse("fwupdate: oops").unwrap_err().contains("--json"));
    }
}
