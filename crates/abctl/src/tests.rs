use super::*;
use blockdev::MemDevice;
use imagebuild::{fat, MIB};
use testkit::{with_range, with_type};

const SLOT: u64 = 34 * MIB;

/// ESP, SYSTEM_A (1.0.0, proven), SYSTEM_B (empty), DATA.
fn disk() -> MemDevice {
    let slot_a = fat::build(SLOT, "QUILL SLOT", 7, &[("release.txt", b"VERSION=1.0.0\n".as_slice())]).unwrap();
    testkit::quill_disk(SLOT / MIB, slot_a)
}

#[test]
fn load_change_write_reads_back_in_both_copies() {
    let mut d = disk();
    let mut t = SlotTable::load(&mut d, 512).unwrap();
    assert_eq!(t.attrs(), [SlotAttr::new(1, 0, true), SlotAttr::new(0, 0, false)]);
    assert_eq!(t.next_boot(), Slot::A);
    assert_eq!(t.slot_version(&mut d, Slot::A).as_deref(), Some("1.0.0"));
    assert_eq!(t.slot_version(&mut d, Slot::B), None, "an empty slot has no version");
    t.after_install(Slot::B);
    // In memory only until written.
    assert_eq!(SlotTable::load(&mut d, 512).unwrap().next_boot(), Slot::A);
    t.write(&mut d).unwrap();
    let back = SlotTable::load(&mut d, 512).unwrap();
    assert_eq!(back.attrs(), [SlotAttr::new(1, 0, true), SlotAttr::new(2, 3, false)]);
    assert_eq!(back.next_boot(), Slot::B);
    // The backup copy alone says the same.
    let n = d.0.len();
    d.0[512..520].fill(0);
    assert_eq!(SlotTable::load(&mut d, 512).unwrap().attrs(), back.attrs());
    assert!(n > 0);
}

#[test]
fn transitions() {
    let mut d = disk();
    let mut t = SlotTable::load(&mut d, 512).unwrap();
    assert!(!t.make_unbootable(Slot::B), "already 0/0/0");
    t.after_install(Slot::B);
    assert_eq!(t.failed_update(Slot::A), None, "B still has tries");
    t.set(Slot::B, t.attr(Slot::B).with_tries(0));
    assert_eq!(t.failed_update(Slot::A), Some(Slot::B));
    t.retire(Slot::B);
    assert_eq!(t.attr(Slot::B), SlotAttr::new(0, 0, false));
    assert_eq!(t.failed_update(Slot::A), None);
    t.set_active(Slot::B);
    assert_eq!(t.attr(Slot::B), SlotAttr::new(2, 3, false), "unproven: fresh tries");
    assert!(t.mark_good(Slot::B));
    assert!(!t.mark_good(Slot::B), "idempotent");
    t.set_active(Slot::A);
    assert_eq!(t.attr(Slot::A), SlotAttr::new(3, 0, true), "a proven slot stays proven");
    assert!(t.make_unbootable(Slot::B));
}

#[test]
fn bad_slot_geometry_is_refused_at_load() {
    let mut d = disk();
    let t = SlotTable::load(&mut d, 512).unwrap();
    let (a, b) = (t.partition(Slot::A).clone(), t.partition(Slot::B).clone());
    let cases = [
        (with_range(disk(), b.number, a.first_lba + 8, b.last_lba), "SYSTEM_A overlaps partition 3 (SYSTEM_B)"),
        (with_range(disk(), b.number, b.last_lba, b.first_lba), "ends before it starts"),
        (with_range(disk(), b.number, b.first_lba, b.last_lba + 100_000), "outside the disk's usable area"),
        (with_range(disk(), a.number, 0, a.last_lba), "outside the disk's usable area"),
    ];
    for (mut bad, why) in cases {
        let e = SlotTable::load(&mut bad, 512).unwrap_err();
        assert!(matches!(e, Error::Geometry(_)), "{e}");
        assert!(e.to_string().contains(why), "{e}");
    }
}

#[test]
fn the_old_raspberry_pi_tryboot_layout_is_refused_with_what_to_do() {
    let basic_data = gptedit::Guid::parse("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7").unwrap();
    let mut old = with_type(disk(), 3, basic_data.0);
    let e = SlotTable::load(&mut old, 512).unwrap_err().to_string();
    assert!(e.contains("old tryboot layout") && e.contains("fwupdate flash"), "{e}");
    let linux = gptedit::Guid::parse("0FC63DAF-8483-4772-8E79-3D69D8477DE4").unwrap();
    let e = SlotTable::load(&mut with_type(disk(), 2, linux.0), 512).unwrap_err().to_string();
    assert!(e.contains("SYSTEM_A has partition type 0fc63daf"), "{e}");
}

#[test]
fn a_disk_without_slots_says_so() {
    let mut d = MemDevice(vec![0; 4 << 20]);
    assert!(matches!(SlotTable::load(&mut d, 512), Err(Error::Table(_))));
}
