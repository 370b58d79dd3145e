//! The GPT disk image: protective MBR, both GPT copies (written by the `gpt`
//! crate), and each partition's contents written at its offset. Blocks of
//! zeros are not written, so the image stays sparse.

use crate::{Error, Result, MIB};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Partition type of the A/B slots: the ChromeOS kernel type, so `cgpt show`
/// decodes their priority/tries/successful bits.
pub const SLOT_TYPE: &str = abslot::Slot::PARTITION_TYPE;
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const LINUX_DATA_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

pub enum Content {
    Bytes(Vec<u8>),
    File(PathBuf),
}

pub struct PartSpec {
    pub name: String,
    pub type_guid: &'static str,
    /// Bytes; a multiple of 1 MiB.
    pub size: u64,
    pub attributes: u64,
    pub content: Content,
}

/// Where each partition landed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub number: u32,
    pub name: String,
    pub offset: u64,
    pub size: u64,
    pub unique_guid: Uuid,
}

/// Size of a disk holding `parts`: 1 MiB in front (MBR, primary GPT,
/// alignment), the partitions, 1 MiB behind (backup GPT).
pub fn disk_size(parts: &[PartSpec]) -> u64 {
    2 * MIB + parts.iter().map(|p| p.size).sum::<u64>()
}

/// Writes the whole disk image to `path` (which is created or truncated).
pub fn write(path: &Path, disk_guid: Uuid, parts: &[PartSpec]) -> Result<Vec<Placed>> {
    let total = disk_size(parts);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(Error::io("creating", path))?;
    file.set_len(total).map_err(Error::io("sizing", path))?;

    let gpt_err = |e: &dyn std::fmt::Display| Error::Gpt(format!("{}: {e}", path.display()));
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(total / 512 - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut file).map_err(|e| gpt_err(&e))?;
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(&mut file, Some(disk_guid))
        .map_err(|e| gpt_err(&e))?;
    disk.update_partitions(Default::default()).map_err(|e| gpt_err(&e))?;
    let mut placed = Vec::new();
    let mut offset = MIB;
    for (i, p) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        let ty = gpt::partition_types::Type {
            guid: Uuid::parse_str(p.type_guid).expect("valid type GUID"),
            os: gpt::partition_types::OperatingSystem::None,
        };
        disk.add_partition_at(&p.name, number, offset / 512, p.size / 512, ty, p.attributes)
            .map_err(|e| gpt_err(&e))?;
        let unique_guid = disk.partitions()[&number].part_guid;
        placed.push(Placed { number, name: p.name.clone(), offset, size: p.size, unique_guid });
        offset += p.size;
    }
    disk.write().map_err(|e| gpt_err(&e))?;

    for (p, at) in parts.iter().zip(&placed) {
        match &p.content {
            Content::Bytes(b) => write_sparse(&mut file, at.offset, &mut &b[..], p.size, path)?,
            Content::File(src) => {
                let mut f = File::open(src).map_err(Error::io("reading", src))?;
                write_sparse(&mut file, at.offset, &mut f, p.size, path)?
            }
        }
    }
    file.sync_all().map_err(Error::io("syncing", path))?;
    Ok(placed)
}

/// Copies `src` to `offset`, skipping 64 KiB blocks of zeros (the file was
/// sized with set_len, so they read as zeros already).
fn write_sparse(dst: &mut File, offset: u64, src: &mut dyn Read, limit: u64, path: &Path) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    loop {
        let n = read_full(src, &mut buf).map_err(Error::io("reading content for", path))?;
        if n == 0 {
            return Ok(());
        }
        if pos + n as u64 > limit {
            return Err(Error::TooBig {
                what: format!("partition content at offset {offset}"),
                size: pos + n as u64,
                limit,
            });
        }
        if buf[..n].iter().any(|&b| b != 0) {
            dst.seek(SeekFrom::Start(offset + pos)).map_err(Error::io("seeking", path))?;
            dst.write_all(&buf[..n]).map_err(Error::io("writing", path))?;
        }
        pos += n as u64;
    }
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptedit::{FileDisk, Gpt};

    #[test]
    fn partitions_land_aligned_with_their_attributes_and_content() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("disk.img");
        let parts = vec![
            PartSpec {
                name: "ESP".into(),
                type_guid: ESP_TYPE,
                size: MIB,
                attributes: 0,
                content: Content::Bytes(vec![1; 1000]),
            },
            PartSpec {
                name: "SYSTEM_A".into(),
                type_guid: SLOT_TYPE,
                size: 2 * MIB,
                attributes: abslot::SlotAttr::new(1, 0, true).to_gpt(0),
                content: Content::Bytes(vec![2; 5000]),
            },
        ];
        let placed = write(&path, Uuid::from_u128(7), &parts).unwrap();
        assert_eq!(placed[1].offset, 2 * MIB);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, 5 * MIB);
        assert_eq!(&bytes[MIB as usize..MIB as usize + 1000], &[1; 1000][..]);
        assert_eq!(bytes[2 * MIB as usize + 4999], 2);
        let mut d = FileDisk::new(File::open(&path).unwrap(), 512).unwrap();
        let g = Gpt::load(&mut d).unwrap();
        assert!(g.health().is_clean());
        let a = g.find_by_name("SYSTEM_A").unwrap();
        assert_eq!(abslot::SlotAttr::from_gpt(a.attributes), abslot::SlotAttr::new(1, 0, true));
        assert_eq!(a.unique_guid.to_string(), placed[1].unique_guid.to_string());
    }

    #[test]
    fn oversized_content_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let parts = vec![PartSpec {
            name: "X".into(),
            type_guid: LINUX_DATA_TYPE,
            size: MIB,
            attributes: 0,
            content: Content::Bytes(vec![1; 2 * MIB as usize]),
        }];
        assert!(matches!(write(&t.path().join("d"), Uuid::nil(), &parts), Err(Error::TooBig { .. })));
    }
}
