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

/// Why the boot disk was not found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BootDiskError {
    #[error("no disk holds the booted slot's partition (PARTUUID {partuuid:?}, disk GUID {disk:?})")]
    NotFound { partuuid: Option<String>, disk: Option<String> },
    /// Several disks carry the same GUIDs: a stick cloned from this disk
    /// (dd) is plugged in. Nothing is mounted from either.
    #[error(
        "disks {} all carry the booted slot's partition and disk GUID (a disk cloned with dd is attached); \
         remove the copy and restart. DATA is not mounted",
        .0.join(", ")
    )]
    Ambiguous(Vec<String>),
}

/// What identifies the boot disk: the booted slot's PARTUUID and the disk's
/// GUID, both from the kernel command line (bootsel puts them there).
fn matches(gpt: &Gpt, want_part: Option<Guid>, want_disk: Option<Guid>) -> bool {
    let parts = gpt.partitions();
    let part_ok = want_part.is_none_or(|p| parts.iter().any(|x| x.unique_guid == p));
    let disk_ok = want_disk.is_none_or(|d| gpt.disk_guid() == d);
    match (want_part, want_disk) {
        (None, None) => parts.iter().any(|x| x.name == "SYSTEM_A") && parts.iter().any(|x| x.name == "DATA"),
        _ => part_ok && disk_ok,
    }
}

/// Which disk we booted from: the one whose GPT holds the booted slot's
/// PARTUUID *and* has the booted disk's GUID (either alone when only one is
/// known). Without either (a kernel started by hand), the disk with
/// SYSTEM_A and DATA partitions. More than one match is an error: the
/// caller must not pick one (a cloned stick would win by its name).
pub fn find_boot_disk(
    sys_class_block: &Path,
    dev: &Path,
    slot_partuuid: Option<&str>,
    disk_uuid: Option<&str>,
) -> Result<BootDisk, BootDiskError> {
    let want_part = slot_partuuid.and_then(Guid::parse);
    let want_disk = disk_uuid.and_then(Guid::parse);
    let mut found = Vec::new();
    for name in whole_disks(sys_class_block) {
        let Ok(file) = fs::File::open(dev.join(&name)) else { continue };
        let block_size = logical_block_size(sys_class_block, &name);
        let Ok(mut disk) = FileDisk::new(file, block_size) else { continue };
        let Ok(gpt) = Gpt::load(&mut disk) else { continue };
        if !matches(&gpt, want_part, want_disk) {
            continue;
        }
        let data = gpt
            .partitions()
            .iter()
            .find(|p| p.name == "DATA")
            .and_then(|p| partition_name(sys_class_block, &name, p.number))
            .map(|n| dev.join(n));
        found.push(BootDisk { node: dev.join(&name), name, disk_guid: gpt.disk_guid().to_string(), data, block_size });
    }
    match found.len() {
        0 => Err(BootDiskError::NotFound {
            partuuid: slot_partuuid.map(str::to_string),
            disk: disk_uuid.map(str::to_string),
        }),
        1 => Ok(found.remove(0)),
        _ => Err(BootDiskError::Ambiguous(found.into_iter().map(|d| d.name).collect())),
    }
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

    /// Disks as image files under a fake /dev, with sysfs entries naming them.
    fn fake_disks(images: &[(&str, u128)]) -> tempfile::TempDir {
        use imagebuild::disk::{self, Content, PartSpec};
        let t = tempfile::tempdir().unwrap();
        for (name, disk_guid) in images {
            fs::create_dir_all(t.path().join("sys").join(name)).unwrap();
            fs::create_dir_all(t.path().join("dev")).unwrap();
            let part = |n: &str| PartSpec {
                name: n.into(),
                type_guid: disk::LINUX_DATA_TYPE,
                size: imagebuild::MIB,
                attributes: 0,
                content: Content::Bytes(vec![]),
            };
            let placed = disk::write(
                &t.path().join("dev").join(name),
                uuid::Uuid::from_u128(*disk_guid),
                &[part("SYSTEM_A"), part("DATA")],
            )
            .unwrap();
            // The slot's PARTUUID is random per write: name it for the test.
            fs::write(t.path().join(format!("{name}.partuuid")), placed[0].unique_guid.to_string()).unwrap();
        }
        t
    }

    #[test]
    fn the_boot_disk_is_found_by_partition_and_disk_guid_and_a_clone_is_refused() {
        let t = fake_disks(&[("sda", 1), ("vda", 2)]);
        let (sys, dev) = (t.path().join("sys"), t.path().join("dev"));
        let vda_part = fs::read_to_string(t.path().join("vda.partuuid")).unwrap();
        let vda_disk = uuid::Uuid::from_u128(2).to_string();
        let found = find_boot_disk(&sys, &dev, Some(&vda_part), Some(&vda_disk)).unwrap();
        assert_eq!(found.name, "vda");
        // The right partition GUID on a disk with another disk GUID is not it.
        let other_disk = uuid::Uuid::from_u128(9).to_string();
        assert!(matches!(
            find_boot_disk(&sys, &dev, Some(&vda_part), Some(&other_disk)),
            Err(BootDiskError::NotFound { .. })
        ));
        // A dd clone of vda that sorts first: both match; neither is chosen.
        fs::copy(dev.join("vda"), dev.join("sda")).unwrap();
        let e = find_boot_disk(&sys, &dev, Some(&vda_part), Some(&vda_disk)).unwrap_err();
        assert_eq!(e, BootDiskError::Ambiguous(vec!["sda".into(), "vda".into()]));
        assert!(e.to_string().contains("cloned"), "{e}");
    }
}
