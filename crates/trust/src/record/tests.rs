use super::*;
use blockdev::MemDevice;
use bundle::{SecretKey, StatementKind};
use imagebuild::disk::{self, Content, PartSpec};
use imagebuild::MIB;

/// A disk laid out as Quill's: the first partition at 1 MiB.
fn disk() -> MemDevice {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("d.img");
    let part = |name: &str, ty| PartSpec {
        name: name.into(),
        type_guid: ty,
        size: MIB,
        attributes: 0,
        content: Content::Bytes(vec![]),
    };
    disk::write(&p, uuid::Uuid::from_u128(7), &[part("ESP", disk::ESP_TYPE), part("DATA", disk::LINUX_DATA_TYPE)])
        .unwrap();
    MemDevice(std::fs::read(&p).unwrap())
}

fn evidence(floor: u64) -> Evidence {
    let k = SecretKey::from_seed(&[1; 32]);
    let s = KeyStatement::sign(StatementKind::Trust(SecretKey::from_seed(&[2; 32]).public()), &k);
    Evidence { seq: 0, floor, slot_index: [1, floor], statements: vec![s] }
}

#[test]
fn a_fresh_disk_has_no_record_and_writes_alternate_between_the_copies() {
    let mut d = disk();
    let area = RecordArea::locate(&mut d, 512).unwrap();
    assert_eq!(area.read(&mut d).unwrap(), None, "never written: fresh");
    let w1 = area.write(&mut d, &evidence(3)).unwrap();
    assert_eq!(w1.seq, 1);
    assert_eq!(area.read(&mut d).unwrap(), Some(w1.clone()));
    let w2 = area.write(&mut d, &evidence(4)).unwrap();
    assert_eq!(w2.seq, 2);
    assert_eq!(area.read(&mut d).unwrap(), Some(w2));
    // The two copies hold the last two records.
    let (copies, _) = area.read_copies(&mut d).unwrap();
    assert_eq!(copies.iter().flatten().map(|e| e.floor).collect::<Vec<_>>(), vec![3, 4]);
    // A partition table written afterwards (the flip) leaves it alone.
    let mut g = Gpt::load(&mut GptView { dev: &mut d, block_size: 512 }).unwrap();
    g.write(&mut GptView { dev: &mut d, block_size: 512 }).unwrap();
    assert_eq!(area.read(&mut d).unwrap().unwrap().floor, 4);
}

#[test]
fn a_torn_write_leaves_the_older_copy() {
    let mut d = disk();
    let area = RecordArea::locate(&mut d, 512).unwrap();
    area.write(&mut d, &evidence(3)).unwrap();
    let before = d.clone();
    area.write(&mut d, &evidence(9)).unwrap();
    // Tear the second write: only its first 100 bytes reached the disk.
    let at = (OFFSET as usize) + COPY_LEN;
    let mut torn = before.clone();
    torn.0[at..at + 100].copy_from_slice(&d.0[at..at + 100]);
    assert_eq!(area.read(&mut torn).unwrap().unwrap().floor, 3, "the old record wins");
    // A flipped bit in the newest copy: the older one is used.
    let mut flipped = d.clone();
    flipped.0[at + 20] ^= 1;
    assert_eq!(area.read(&mut flipped).unwrap().unwrap().floor, 3);
}

#[test]
fn garbage_in_both_copies_is_damage_not_a_fresh_device() {
    let mut d = disk();
    let area = RecordArea::locate(&mut d, 512).unwrap();
    area.write(&mut d, &evidence(3)).unwrap();
    area.write(&mut d, &evidence(4)).unwrap();
    for i in 0..2 {
        d.0[OFFSET as usize + i * COPY_LEN + 100] ^= 0xff;
    }
    assert!(matches!(area.read(&mut d), Err(RecordError::Damaged)));
}

#[test]
fn a_disk_whose_partition_covers_the_place_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("d.img");
    let mut d = disk();
    // Move the first partition to start at 256 KiB: it covers the record.
    let mut g = Gpt::load(&mut GptView { dev: &mut d, block_size: 512 }).unwrap();
    let esp = g.find_by_name("ESP").unwrap();
    g.set_range::<std::io::Error>(esp.number, 512, esp.last_lba).unwrap();
    g.write(&mut GptView { dev: &mut d, block_size: 512 }).unwrap();
    let e = RecordArea::locate(&mut d, 512).unwrap_err();
    assert!(e.to_string().contains("partition 1 (ESP)"), "{e}");
    assert!(!p.exists());
}

#[test]
fn too_many_statements_do_not_fit() {
    let k = SecretKey::from_seed(&[1; 32]);
    let s = KeyStatement::sign(StatementKind::Revoke(k.id()), &k);
    let ev = Evidence { statements: vec![s; 80], ..Evidence::default() };
    assert!(matches!(encode(&ev), Err(RecordError::TooLarge(80))));
    let fits = Evidence { statements: ev.statements[..crate::MAX_STATEMENTS].to_vec(), ..Evidence::default() };
    assert_eq!(decode(&encode(&fits).unwrap()), Some(fits));
}

#[test]
fn a_new_disk_image_reads_as_its_evidence() {
    let mut d = disk();
    let (at, bytes) = new_disk_image(&evidence(6)).unwrap();
    d.0[at as usize..at as usize + bytes.len()].copy_from_slice(&bytes);
    let area = RecordArea::locate(&mut d, 512).unwrap();
    let got = area.read(&mut d).unwrap().unwrap();
    assert_eq!((got.seq, got.floor), (1, 6));
    assert_eq!(area.write(&mut d, &got).unwrap().seq, 2);
}
