//! Plans: what goes where on a target, and the partition table that makes
//! it a disk, fitted to the target. Nothing here writes the target.

use crate::{Error, Result};
use gptedit::{FileDisk, Gpt, Guid};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const SECTOR: u64 = 512;

/// Reads `len` bytes of a file or disk from `offset` on (positioned reads,
/// so several regions can read one device).
pub struct RegionReader {
    pub(crate) file: File,
    pub(crate) pos: u64,
    pub(crate) end: u64,
}

impl RegionReader {
    pub fn new(file: File, offset: u64, len: u64) -> RegionReader {
        RegionReader { file, pos: offset, end: offset + len }
    }
}

impl crate::Source for RegionReader {
    /// A hole in a sparse image file (found with SEEK_DATA) reads as zeros:
    /// skip it instead of reading zeros. A block device reports no holes.
    fn skip_hole(&mut self, len: u64) -> bool {
        use std::os::fd::AsRawFd;
        let end = (self.pos + len).min(self.end);
        // SAFETY: plain syscall on our own descriptor; the read position is
        // ours (reads are positioned), so moving the file offset is harmless.
        let next = unsafe { libc::lseek(self.file.as_raw_fd(), self.pos as libc::off_t, libc::SEEK_DATA) };
        let hole = if next < 0 {
            // ENXIO: no data after pos at all. Anything else: unknown.
            std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO)
        } else {
            next as u64 >= end
        };
        if hole {
            self.pos = end;
        }
        hole
    }
}

impl Read for RegionReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.end.saturating_sub(self.pos) as usize).min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        let k = self.file.read_at(&mut buf[..n], self.pos)?;
        if k == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the source ended early"));
        }
        self.pos += k as u64;
        Ok(k)
    }
}

/// One region to copy: `len` bytes from `reader` to `offset` on the target.
pub struct Region<'a> {
    pub name: String,
    pub reader: Box<dyn crate::Source + 'a>,
    pub len: u64,
    pub offset: u64,
}

/// What to write and the table that makes it a disk.
pub struct Plan<'a> {
    pub regions: Vec<Region<'a>>,
    /// The final table, already fitted to the target.
    pub gpt: Gpt,
    /// DATA's size in the source and on the target, in bytes.
    pub data_grown: (u64, u64),
    /// Small writes into the gap between the GPT and the first partition
    /// (the device's trust record on an install-to-disk): byte offset and
    /// bytes, written after the read-back and before the table.
    pub gap: Vec<(u64, Vec<u8>)>,
}

/// Reads the GPT of a disk image file and checks that it is a Quill image.
fn image_gpt(image: &Path) -> Result<(File, Gpt, u64)> {
    let file = File::open(image).map_err(Error::io("opening", image))?;
    let meta = file.metadata().map_err(Error::io("reading", image))?;
    if !meta.is_file() {
        return Err(Error::Refused(format!("{} is not an image file", image.display())));
    }
    let mut magic = [0u8; 8];
    let _ = file.read_at(&mut magic, 0);
    if magic.starts_with(b"QBUNDLE") || image.extension().is_some_and(|e| e == "qbundle") {
        return Err(Error::Refused(format!(
            "{} is an update bundle, not a disk image: install it on a device with `fwupdate install`, \
             or flash target/quill/<board>/disk.img",
            image.display()
        )));
    }
    let mut d = FileDisk::new(file.try_clone().map_err(Error::io("opening", image))?, SECTOR as u32)
        .map_err(Error::io("reading", image))?;
    let gpt = Gpt::load(&mut d).map_err(|e| {
        Error::Refused(format!("{} is not a Quill disk image (no partition table: {e})", image.display()))
    })?;
    for name in ["SYSTEM_A", "SYSTEM_B", "DATA"] {
        if gpt.find_by_name(name).is_none() {
            return Err(Error::Refused(format!("{} is not a Quill disk image (no {name} partition)", image.display())));
        }
    }
    Ok((file, gpt, meta.len()))
}

/// Fits `gpt` to a target of `target_len` bytes: backup at the end, DATA
/// (the last partition) grown to the last whole MiB, new GUIDs unless kept.
fn fit(gpt: &mut Gpt, target_len: u64, new_guids: bool) -> Result<(u64, u64)> {
    let t = |e: gptedit::Error<std::io::Error>| Error::Table(e.to_string());
    let blocks = target_len / SECTOR;
    gpt.fit_to_disk::<std::io::Error>(blocks).map_err(t)?;
    let data = gpt.find_by_name("DATA").ok_or_else(|| Error::Table("no DATA partition".into()))?;
    if gpt.partitions().iter().any(|p| p.last_lba > data.last_lba) {
        return Err(Error::Table("DATA is not the last partition; it cannot grow".into()));
    }
    let before = (data.last_lba - data.first_lba + 1) * SECTOR;
    let (_, last_usable) = gpt.usable_range();
    let align = MIB / SECTOR;
    let end = ((last_usable + 1) / align * align).saturating_sub(1);
    if end > data.last_lba {
        gpt.set_range::<std::io::Error>(data.number, data.first_lba, end).map_err(t)?;
    }
    let after = (gpt.find_by_name("DATA").unwrap().last_lba - data.first_lba + 1) * SECTOR;
    if new_guids {
        gpt.set_disk_guid(random_guid());
        for p in gpt.partitions() {
            gpt.set_unique_guid::<std::io::Error>(p.number, random_guid()).map_err(t)?;
        }
    }
    Ok((before, after))
}

fn random_guid() -> Guid {
    Guid::parse(&uuid::Uuid::new_v4().to_string()).expect("a v4 UUID is a GUID")
}

/// Flashing an image: every partition of the image, then its table fitted
/// to the target.
pub fn plan_image(image: &Path, target_len: u64, new_guids: bool) -> Result<(Plan<'static>, u64)> {
    let (file, mut gpt, image_len) = image_gpt(image)?;
    if target_len < image_len {
        return Err(Error::Refused(format!(
            "the target ({:.1} MiB) is smaller than the image ({:.1} MiB)",
            target_len as f64 / MIB as f64,
            image_len as f64 / MIB as f64
        )));
    }
    let mut regions = Vec::new();
    for p in gpt.partitions() {
        let (offset, len) = (p.first_lba * SECTOR, (p.last_lba - p.first_lba + 1) * SECTOR);
        if offset + len > image_len {
            return Err(Error::Refused(format!(
                "{} is truncated: partition {} ends beyond it",
                image.display(),
                p.name
            )));
        }
        let f = file.try_clone().map_err(Error::io("opening", image))?;
        regions.push(Region { name: p.name.clone(), reader: Box::new(RegionReader::new(f, offset, len)), len, offset });
    }
    let data_grown = fit(&mut gpt, target_len, new_guids)?;
    Ok((Plan { regions, gpt, data_grown, gap: Vec::new() }, image_len))
}

/// Everything a flash does before its first write: what the target is,
/// the plan for `image` on it, and the refusals (nothing written on error).
pub fn prepare_image(
    image: &Path,
    device: &Path,
    sys: &crate::Sys,
    protected: &[String],
    force: bool,
    new_guids: bool,
) -> Result<(crate::Target, Plan<'static>)> {
    let target = crate::Target::inspect(device, sys, protected)?;
    let (plan, image_len) = plan_image(image, target.size, new_guids)?;
    if let Some(why) = target.refusal(image_len, force) {
        return Err(Error::Refused(why));
    }
    Ok((target, plan))
}

/// Installing the running system onto another disk: the boot disk's table
/// and ESP, the booted slot into both slots (A boots, B holds the same
/// version until the first update), and a fresh DATA.
pub fn plan_install<'a>(
    boot_disk: &Path,
    booted_slot: &str,
    fresh_data: Box<dyn crate::Source + 'a>,
    fresh_data_len: u64,
    target_len: u64,
) -> Result<Plan<'a>> {
    let file = File::open(boot_disk).map_err(Error::io("opening the boot disk", boot_disk))?;
    let mut d = FileDisk::new(file.try_clone().map_err(Error::io("opening", boot_disk))?, SECTOR as u32)
        .map_err(Error::io("reading", boot_disk))?;
    let mut gpt = Gpt::load(&mut d).map_err(|e| Error::Source(format!("the boot disk's partition table: {e}")))?;
    let part = |name: &str| {
        gpt.find_by_name(name).ok_or_else(|| Error::Source(format!("the boot disk has no {name} partition")))
    };
    let (esp, slot, a, b, data) =
        (part("ESP")?, part(booted_slot)?, part("SYSTEM_A")?, part("SYSTEM_B")?, part("DATA")?);
    let extent = |p: &gptedit::Partition| (p.first_lba * SECTOR, (p.last_lba - p.first_lba + 1) * SECTOR);
    let need = data.first_lba * SECTOR + fresh_data_len + MIB;
    if target_len < need {
        return Err(Error::Refused(format!(
            "the target ({:.1} MiB) is too small: Quill needs at least {:.1} MiB",
            target_len as f64 / MIB as f64,
            need as f64 / MIB as f64
        )));
    }
    let reader = |p: &gptedit::Partition| -> Result<Box<dyn crate::Source + 'a>> {
        let (o, l) = extent(p);
        Ok(Box::new(RegionReader::new(file.try_clone().map_err(Error::io("opening", boot_disk))?, o, l)))
    };
    let mut regions = vec![
        Region { name: "ESP".into(), reader: reader(&esp)?, len: extent(&esp).1, offset: extent(&esp).0 },
        Region { name: "SYSTEM_A".into(), reader: reader(&slot)?, len: extent(&slot).1, offset: extent(&a).0 },
        Region { name: "SYSTEM_B".into(), reader: reader(&slot)?, len: extent(&slot).1, offset: extent(&b).0 },
    ];
    if extent(&slot).1 > extent(&a).1.min(extent(&b).1) {
        return Err(Error::Source("the booted slot is bigger than the slot partitions".into()));
    }
    regions.push(Region { name: "DATA".into(), reader: fresh_data, len: fresh_data_len, offset: extent(&data).0 });
    let t = |e: gptedit::Error<std::io::Error>| Error::Table(e.to_string());
    // The state of a factory image: A proven and active, B not bootable.
    gpt.set_attributes::<std::io::Error>(a.number, abslot::SlotAttr::new(1, 0, true).to_gpt(a.attributes))
        .map_err(t)?;
    gpt.set_attributes::<std::io::Error>(b.number, abslot::SlotAttr::new(0, 0, false).to_gpt(b.attributes))
        .map_err(t)?;
    // DATA on the target starts with the fresh filesystem's size.
    gpt.set_range::<std::io::Error>(data.number, data.first_lba, data.first_lba + fresh_data_len.div_ceil(SECTOR) - 1)
        .map_err(t)?;
    let mut data_grown = fit(&mut gpt, target_len, true)?;
    data_grown.0 = fresh_data_len;
    Ok(Plan { regions, gpt, data_grown, gap: Vec::new() })
}
