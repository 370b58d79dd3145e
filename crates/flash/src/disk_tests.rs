//! Plans and writes of whole disks, on images made by imagebuild.

use crate::plan::*;
use crate::write::*;
use blockdev::MemDevice;
use blockdev::{BlockDevice, GptView};
use gptedit::FileDisk;
use gptedit::Gpt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

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
fn bytes_for_the_gap_land_there_and_nowhere_near_a_partition() {
    let t = tempfile::tempdir().unwrap();
    let img = image(t.path());
    let mut dev = MemDevice(vec![0x5A; 64 << 20]);
    let (mut plan, _) = plan_image(&img, dev.len(), true).unwrap();
    plan.gap = vec![(512 << 10, vec![7u8; 16 << 10])];
    write_disk(&mut dev, plan, &mut |_| {}).unwrap();
    assert!(dev.0[512 << 10..528 << 10].iter().all(|&b| b == 7));
    let (mut plan, _) = plan_image(&img, dev.len(), true).unwrap();
    plan.gap = vec![(MIB - 100, vec![7u8; 200])];
    assert!(matches!(write_disk(&mut dev, plan, &mut |_| {}), Err(crate::Error::Table(_))));
    let mut dev2 = MemDevice(vec![0; 64 << 20]);
    let (mut plan, _) = plan_image(&img, dev2.len(), true).unwrap();
    plan.gap = vec![(0, vec![7u8; 512])];
    assert!(write_disk(&mut dev2, plan, &mut |_| {}).is_err(), "not over the MBR");
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
    assert!(Gpt::load(&mut GptView { dev: &mut dev.inner, block_size: 512 }).is_err(), "no table: nothing boots it");
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
