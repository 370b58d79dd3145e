//! Finding the boot disk and its partitions from sysfs and the GPT, for
//! init (to mount DATA) and the updater (to write the inactive slot).
//! Partitions are found by GPT name and GUID, never by device number.

use gptedit::{FileDisk, Gpt, Guid};
use std::fs;
use std::path::{Path, PathBuf};

/// A whole disk that carries Quill's partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootDisk {
    /// Kernel name, e.g. `vda` or `sda`.
    pub name: String,
    /// Device node of the whole disk, e.g. `/dev/vda`.
    pub node: PathBuf,
    pub disk_guid: String,
    /// Device node of the DATA partition, e.g. `/dev/vda4`.
    pub data: Option<PathBuf>,
    pub block_size: u32,
}

/// Whole disks (not partitions) listed in `sys_class_block`.
pub fn whole_disks(sys_class_block: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(sys_class_block)
        .map(|rd| {
            rd.flatten()
                .filter(|e| !e.path().join("partition").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The kernel name of partition `number` of disk `disk` (`vda4`, `nvme0n1p4`).
pub fn partition_name(sys_class_block: &Path, disk: &str, number: u32) -> Option<String> {
    let dir = sys_class_block.join(disk);
    for e in fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let n = fs::read_to_string(p.join("partition")).ok();
        if n.as_deref().map(str::trim) == Some(number.to_string().as_str()) {
            return Some(e.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

pub fn logical_block_size(sys_class_block: &Path, disk: &str) -> u32 {
    fs::read_to_string(sys_class_block.join(disk).join("queue/logical_block_size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(512)
}

/// Which disk we booted from: the one whose GPT holds the booted slot's
/// PARTUUID (or, given only the disk GUID, that disk). Without either (a
/// kernel started by hand), the first disk with SYSTEM_A and DATA partitions.
pub fn find_boot_disk(
    sys_class_block: &Path,
    dev: &Path,
    slot_partuuid: Option<&str>,
    disk_uuid: Option<&str>,
) -> Option<BootDisk> {
    let want_part = slot_partuuid.and_then(Guid::parse);
    let want_disk = disk_uuid.and_then(Guid::parse);
    for name in whole_disks(sys_class_block) {
        let Ok(file) = fs::File::open(dev.join(&name)) else { continue };
        let Ok(mut disk) = FileDisk::new(file, logical_block_size(sys_class_block, &name)) else { continue };
        let Ok(gpt) = Gpt::load(&mut disk) else { continue };
        let parts = gpt.partitions();
        let matches = match (want_part, want_disk) {
            (Some(p), _) => parts.iter().any(|x| x.unique_guid == p),
            (None, Some(d)) => gpt.disk_guid() == d,
            (None, None) => parts.iter().any(|x| x.name == "SYSTEM_A") && parts.iter().any(|x| x.name == "DATA"),
        };
        if !matches {
            continue;
        }
        let data = parts
            .iter()
            .find(|p| p.name == "DATA")
            .and_then(|p| partition_name(sys_class_block, &name, p.number))
            .map(|n| dev.join(n));
        let block_size = logical_block_size(sys_class_block, &name);
        return Some(BootDisk {
            node: dev.join(&name),
            name,
            disk_guid: gpt.disk_guid().to_string(),
            data,
            block_size,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_whole_disks_and_finds_partitions_by_number() {
        let t = tempfile::tempdir().unwrap();
        let s = t.path();
        for (d, parts) in [("vda", vec![1, 2, 3, 4]), ("sda", vec![1]), ("loop0", vec![])] {
            fs::create_dir_all(s.join(d)).unwrap();
            for p in parts {
                let pd = s.join(d).join(format!("{d}{p}"));
                fs::create_dir_all(&pd).unwrap();
                fs::write(pd.join("partition"), format!("{p}\n")).unwrap();
                // /sys/class/block also lists partitions at the top level.
                fs::create_dir_all(s.join(format!("{d}{p}"))).unwrap();
                fs::write(s.join(format!("{d}{p}")).join("partition"), format!("{p}\n")).unwrap();
            }
        }
        assert_eq!(whole_disks(s), ["sda", "vda"]);
        assert_eq!(partition_name(s, "vda", 4).as_deref(), Some("vda4"));
        assert_eq!(partition_name(s, "vda", 9), None);
    }
}
