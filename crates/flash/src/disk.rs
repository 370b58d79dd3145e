//! Plans (what goes where, and the final partition table) and carrying
//! one out on a target.

use crate::copy::{copy_region, verify_region};
use crate::{Error, Result};
use blockdev::Written;
use blockdev::{BlockDevice, GptView};
use gptedit::{FileDisk, Gpt, Guid};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const SECTOR: u64 = 512;

/// Reads `len` bytes of a file or disk from `offset` on (positioned reads,
/// so several regions can read one device).
pub struct RegionReader {
    file: File,
    pos: u64,
    end: u64,
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
}

/// Progress, for a bar or console lines.
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    Wiping,
    Writing { done: u64, total: u64, elapsed: Duration },
    Syncing,
    Verifying { done: u64, total: u64 },
    Table,
}

#[derive(Clone, Debug)]
pub struct Report {
    /// Bytes copied (regions), and of those the bytes that were all zeros
    /// and not written.
    pub bytes: u64,
    pub zero_bytes: u64,
    pub write_seconds: f64,
    pub verify_seconds: f64,
    pub seconds: f64,
    pub data_grown: (u64, u64),
    pub disk_guid: String,
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
    Ok((Plan { regions, gpt, data_grown }, image_len))
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
    Ok(Plan { regions, gpt, data_grown })
}

/// A protective MBR for a disk of `blocks` sectors.
fn protective_mbr(blocks: u64) -> [u8; 512] {
    let mut m = [0u8; 512];
    let e = &mut m[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    e[4] = 0xEE;
    e[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&u32::try_from(blocks - 1).unwrap_or(u32::MAX).to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xAA;
    m
}

/// Carries out a plan. See the crate documentation for the order.
pub fn write_disk(dev: &mut dyn BlockDevice, plan: Plan<'_>, progress: &mut dyn FnMut(Stage)) -> Result<Report> {
    let start = Instant::now();
    let len = dev.len();
    if plan.gpt.backup_lba() != len / SECTOR - 1 {
        return Err(Error::Table("the table was not fitted to this target".into()));
    }
    for r in &plan.regions {
        if r.offset < MIB || r.offset + r.len > len - MIB / 2 {
            return Err(Error::Refused(format!("{} would overwrite a partition table area", r.name)));
        }
    }
    progress(Stage::Wiping);
    let wipe =
        |dev: &mut dyn BlockDevice, at: u64, l: u64| dev.zero_range(at, l).map_err(|e| Error::Write { at, source: e });
    wipe(dev, 0, MIB)?;
    wipe(dev, len - MIB, MIB)?;
    dev.flush().map_err(|e| Error::Write { at: 0, source: e })?;

    let total: u64 = plan.regions.iter().map(|r| r.len).sum();
    let mut before = 0u64;
    let mut written: Vec<Written> = Vec::new();
    for mut r in plan.regions {
        let w = copy_region(&r.name, &mut *r.reader, r.len, dev, r.offset, &mut |d| {
            progress(Stage::Writing { done: before + d, total, elapsed: start.elapsed() })
        })?;
        before += r.len;
        written.push(w);
    }
    progress(Stage::Syncing);
    dev.flush().map_err(|e| Error::Write { at: 0, source: e })?;
    let write_seconds = start.elapsed().as_secs_f64();
    let _ = dev.drop_cache();
    let mut before = 0u64;
    for w in &written {
        verify_region(w, dev, &mut |d| progress(Stage::Verifying { done: before + d.min(w.len), total }))?;
        before += w.len;
    }
    let verify_seconds = start.elapsed().as_secs_f64() - write_seconds;

    progress(Stage::Table);
    let mut gpt = plan.gpt;
    let mut mbr = vec![0u8; gpt.block_size() as usize];
    mbr[..512].copy_from_slice(&protective_mbr(len / SECTOR));
    dev.write_at(0, &mbr).map_err(|e| Error::Write { at: 0, source: e })?;
    gpt.write(&mut GptView { dev: &mut *dev, block_size: SECTOR as u32 }).map_err(|e| Error::Table(e.to_string()))?;
    let _ = dev.drop_cache();
    let back = Gpt::load(&mut GptView { dev: &mut *dev, block_size: SECTOR as u32 })
        .map_err(|e| Error::Table(format!("reading the new table back: {e}")))?;
    if !back.health().is_clean() || back.partitions() != gpt.partitions() || back.disk_guid() != gpt.disk_guid() {
        return Err(Error::Table("the table read back differs from the one written".into()));
    }
    let zero_bytes = written.iter().map(|w| w.zero_bytes).sum::<u64>();
    Ok(Report {
        bytes: total,
        zero_bytes,
        write_seconds,
        verify_seconds,
        seconds: start.elapsed().as_secs_f64(),
        data_grown: plan.data_grown,
        disk_guid: gpt.disk_guid().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::MemDevice;

    /// A small Quill-like image made by imagebuild: ESP, two slots, DATA.
    fn image(dir: &Path) -> std::path::PathBuf {
        use imagebuild::disk::{self, Content, PartSpec};
        let p = dir.join("disk.img");
        let part = |name: &str, ty, mib: u64, attrs, fill: u8| PartSpec {
            name: name.into(),
            type_guid: ty,
            size: mib * MIB,
            attributes: attrs,
            content: Content::Bytes({
                let mut v = vec![fill; (mib * MIB) as usize / 2];
                v[..4].copy_from_slice(name.as_bytes().get(..4).unwrap_or(b"xxxx"));
                v
            }),
        };
        let parts = vec![
            part("ESP", disk::ESP_TYPE, 2, 0, 1),
            part("SYSTEM_A", disk::SLOT_TYPE, 4, abslot::SlotAttr::new(1, 0, true).to_gpt(0), 2),
            part("SYSTEM_B", disk::SLOT_TYPE, 4, 0, 3),
            part("DATA", disk::LINUX_DATA_TYPE, 2, 0, 4),
        ];
        disk::write(&p, uuid::Uuid::new_v4(), &parts).unwrap();
        p
    }

    #[test]
    fn flashing_an_image_onto_a_bigger_target_grows_data_and_gives_new_guids() {
        let t = tempfile::tempdir().unwrap();
        let img = image(t.path());
        let bytes = std::fs::read(&img).unwrap();
        let mut dev = MemDevice(vec![0x5A; 64 << 20]);
        let (plan, image_len) = plan_image(&img, dev.len(), true).unwrap();
        assert_eq!(image_len, bytes.len() as u64);
        let mut stages = Vec::new();
        let report = write_disk(&mut dev, plan, &mut |s| stages.push(format!("{s:?}"))).unwrap();
        assert_eq!(report.data_grown, (2 * MIB, 63 * MIB - 11 * MIB));
        let mut src = FileDisk::new(File::open(&img).unwrap(), 512).unwrap();
        let old = Gpt::load(&mut src).unwrap();
        let new = Gpt::load(&mut GptView { dev: &mut dev, block_size: 512 }).unwrap();
        assert!(new.health().is_clean());
        assert_eq!(new.backup_lba(), (64 << 20) / 512 - 1);
        assert_ne!(new.disk_guid(), old.disk_guid());
        for (o, n) in old.partitions().iter().zip(new.partitions()) {
            assert_eq!((o.name.as_str(), o.first_lba, o.attributes), (n.name.as_str(), n.first_lba, n.attributes));
            assert_ne!(o.unique_guid, n.unique_guid);
            // Every partition's bytes are the image's.
            let (a, b) = ((o.first_lba * 512) as usize, ((o.last_lba + 1) * 512) as usize);
            assert_eq!(&dev.0[a..b], &bytes[a..b], "{}", o.name);
        }
        assert_eq!(&dev.0[510..512], &[0x55, 0xAA]);
        assert!(stages.iter().any(|s| s.starts_with("Verifying")));
        assert!(stages.last().unwrap().starts_with("Table"));
        // Gaps between the tables and partitions hold zeros, not old bytes.
        assert!(dev.0[34 * 512..MIB as usize].iter().all(|&b| b == 0));
    }

    #[test]
    fn holes_of_a_sparse_source_are_skipped_not_read() {
        use crate::Source;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("sparse");
        let f = File::create(&p).unwrap();
        f.set_len(8 * MIB).unwrap();
        f.write_all_at(&[7u8; 4096], 4 * MIB).unwrap();
        let mut r = RegionReader::new(File::open(&p).unwrap(), MIB, 7 * MIB);
        assert!(r.skip_hole(2 * MIB), "1..3 MiB is a hole");
        assert_eq!(r.pos, 3 * MIB);
        assert!(!r.skip_hole(2 * MIB), "3..5 MiB holds data");
        assert_eq!(r.pos, 3 * MIB, "not skipped");
        let mut buf = vec![1u8; MIB as usize];
        r.read_exact(&mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        r.read_exact(&mut buf[..4096]).unwrap();
        assert_eq!(&buf[..4096], &[7u8; 4096][..]);
        // A source on a device that is not a sparse file (memory) never skips.
        assert!(!crate::Stream(&[0u8; 16][..]).skip_hole(16));
    }

    #[test]
    fn refusals_write_nothing() {
        let t = tempfile::tempdir().unwrap();
        let img = image(t.path());
        let e = plan_image(&img, 8 << 20, true).err().unwrap();
        assert!(e.to_string().contains("smaller than the image"), "{e}");
        assert!(!e.touched_target());
        let junk = t.path().join("junk.img");
        std::fs::write(&junk, vec![1u8; 1 << 20]).unwrap();
        assert!(plan_image(&junk, 64 << 20, true).err().unwrap().to_string().contains("not a Quill disk image"));
        let b = t.path().join("x.qbundle");
        std::fs::write(&b, b"QBUNDLE\0").unwrap();
        assert!(plan_image(&b, 64 << 20, true).err().unwrap().to_string().contains("update bundle"));
    }

    /// A device that fails (like a pulled stick) after `left` bytes.
    struct Dying {
        inner: MemDevice,
        left: u64,
    }
    impl BlockDevice for Dying {
        fn len(&self) -> u64 {
            self.inner.len()
        }
        fn read_at(&mut self, o: u64, b: &mut [u8]) -> std::io::Result<()> {
            self.inner.read_at(o, b)
        }
        fn write_at(&mut self, o: u64, b: &[u8]) -> std::io::Result<()> {
            if self.left < b.len() as u64 {
                return Err(std::io::Error::from_raw_os_error(libc::ENODEV));
            }
            self.left -= b.len() as u64;
            self.inner.write_at(o, b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_device_that_disappears_is_left_without_a_table() {
        let t = tempfile::tempdir().unwrap();
        let img = image(t.path());
        // The target held a valid Quill disk before.
        let mut old = MemDevice(vec![0; 32 << 20]);
        let (plan, _) = plan_image(&img, old.len(), true).unwrap();
        write_disk(&mut old, plan, &mut |_| {}).unwrap();
        let mut dev = Dying { inner: old, left: 5 << 20 };
        let (plan, _) = plan_image(&img, dev.len(), true).unwrap();
        let e = write_disk(&mut dev, plan, &mut |_| {}).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("was the device removed?"), "{msg}");
        assert!(e.touched_target());
        assert!(e.target_state().contains("will not boot"));
        assert!(
            Gpt::load(&mut GptView { dev: &mut dev.inner, block_size: 512 }).is_err(),
            "no table: nothing boots it"
        );
    }

    #[test]
    fn install_plan_copies_the_booted_slot_into_both_and_a_fresh_data() {
        let t = tempfile::tempdir().unwrap();
        let img = image(t.path());
        // The "running stick": slot B booted, holding other bytes than A.
        let stick = std::fs::read(&img).unwrap();
        let mut src = FileDisk::new(File::open(&img).unwrap(), 512).unwrap();
        let g = Gpt::load(&mut src).unwrap();
        let b = g.find_by_name("SYSTEM_B").unwrap();
        let fresh = vec![9u8; MIB as usize];
        let mut dev = MemDevice(vec![0xEE; 48 << 20]);
        let plan =
            plan_install(&img, "SYSTEM_B", Box::new(crate::Stream(&fresh[..])), fresh.len() as u64, dev.len()).unwrap();
        write_disk(&mut dev, plan, &mut |_| {}).unwrap();
        let new = Gpt::load(&mut GptView { dev: &mut dev, block_size: 512 }).unwrap();
        let (na, nb, nd) = (
            new.find_by_name("SYSTEM_A").unwrap(),
            new.find_by_name("SYSTEM_B").unwrap(),
            new.find_by_name("DATA").unwrap(),
        );
        let slot_b = &stick[(b.first_lba * 512) as usize..((b.last_lba + 1) * 512) as usize];
        for p in [&na, &nb] {
            assert_eq!(&dev.0[(p.first_lba * 512) as usize..((p.last_lba + 1) * 512) as usize], slot_b);
        }
        assert_eq!(abslot::SlotAttr::from_gpt(na.attributes), abslot::SlotAttr::new(1, 0, true));
        assert_eq!(abslot::SlotAttr::from_gpt(nb.attributes).priority(), 0);
        let d0 = (nd.first_lba * 512) as usize;
        assert_eq!(&dev.0[d0..d0 + fresh.len()], &fresh[..]);
        assert_eq!((nd.last_lba + 1) * 512, 47 * MIB, "DATA fills the disk up to the last whole MiB");
        assert_ne!(new.disk_guid(), g.disk_guid());
        // Too small a target is refused.
        let e = plan_install(&img, "SYSTEM_A", Box::new(crate::Stream(&fresh[..])), fresh.len() as u64, 10 << 20)
            .err()
            .unwrap();
        assert!(e.to_string().contains("too small"), "{e}");
    }
}
