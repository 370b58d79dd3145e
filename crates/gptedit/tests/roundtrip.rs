//! gptedit against tables made by an independent implementation (the `gpt` crate).

use gptedit::{Disk, Gpt, Guid, MemDisk, Problem};
use std::io::Cursor;

const MIB: u64 = 1024 * 1024;

/// A 64 MiB disk with four partitions made by the `gpt` crate.
fn make_disk() -> MemDisk {
    let size = 64 * MIB;
    let mut cur = Cursor::new(vec![0u8; size as usize]);
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size((size / 512 - 1) as u32);
    mbr.overwrite_lba0(&mut cur).unwrap();
    let mut disk = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
        .create_from_device(&mut cur, Some(uuid::Uuid::from_u128(0x1234)))
        .unwrap();
    disk.update_partitions(Default::default()).unwrap();
    for (name, mib) in [("ESP", 8), ("SYSTEM_A", 16), ("SYSTEM_B", 16), ("DATA", 8)] {
        disk.add_partition(name, mib * MIB, gpt::partition_types::BASIC, 0, None).unwrap();
    }
    disk.write().unwrap();
    MemDisk { bytes: cur.into_inner(), block_size: 512 }
}

fn names(g: &Gpt) -> Vec<String> {
    g.partitions().into_iter().map(|p| p.name).collect()
}

#[test]
fn reads_a_table_made_by_the_gpt_crate() {
    let mut d = make_disk();
    let g = Gpt::load(&mut d).unwrap();
    assert!(g.health().is_clean());
    assert_eq!(names(&g), ["ESP", "SYSTEM_A", "SYSTEM_B", "DATA"]);
    let a = g.find_by_name("SYSTEM_A").unwrap();
    assert_eq!(a.number, 2);
    assert_eq!(a.last_lba - a.first_lba + 1, 16 * MIB / 512);
    assert_eq!(g.disk_guid(), Guid::parse(&uuid::Uuid::from_u128(0x1234).to_string()).unwrap());
}

#[test]
fn attribute_change_is_written_to_both_copies_and_read_back_by_the_gpt_crate() {
    let mut d = make_disk();
    let mut g = Gpt::load(&mut d).unwrap();
    g.set_attributes::<()>(3, 0x0132_0000_0000_0000).unwrap();
    g.write(&mut d).unwrap();

    let g2 = Gpt::load(&mut d).unwrap();
    assert!(g2.health().is_clean());
    assert_eq!(g2.partition(3).unwrap().attributes, 0x0132_0000_0000_0000);

    // The gpt crate checks both headers' and arrays' CRCs when it opens a disk.
    let mut cur = Cursor::new(d.bytes.clone());
    let other = gpt::GptConfig::new().writable(false).open_from_device(&mut cur).unwrap();
    let p = &other.partitions()[&3];
    assert_eq!(p.flags, 0x0132_0000_0000_0000);
    assert_eq!(other.primary_header().unwrap().crc32_parts, other.backup_header().unwrap().crc32_parts);
}

#[test]
fn damaged_primary_header_falls_back_to_backup_and_is_repaired() {
    let mut d = make_disk();
    d.bytes[512 + 24] ^= 0xff; // my_lba field of the primary header
    let mut g = Gpt::load(&mut d).unwrap();
    assert_eq!(g.health().primary, Err(Problem::HeaderCrc));
    assert_eq!(g.health().backup, Ok(()));
    assert_eq!(names(&g), ["ESP", "SYSTEM_A", "SYSTEM_B", "DATA"]);
    g.write(&mut d).unwrap();
    let g = Gpt::load(&mut d).unwrap();
    assert!(g.health().is_clean());
}

#[test]
fn wiped_primary_and_damaged_entries_are_detected() {
    let mut d = make_disk();
    d.bytes[512..1024].fill(0);
    assert_eq!(Gpt::load(&mut d).unwrap().health().primary, Err(Problem::NoSignature));

    let mut d = make_disk();
    d.bytes[1024 + 56] ^= 1; // first byte of entry 1's name, in the primary array
    let mut g = Gpt::load(&mut d).unwrap();
    assert_eq!(g.health().primary, Err(Problem::EntriesCrc));
    assert_eq!(g.partition(1).unwrap().name, "ESP");
    g.write(&mut d).unwrap();
    assert!(Gpt::load(&mut d).unwrap().health().is_clean());
}

#[test]
fn damaged_backup_is_repaired_from_primary() {
    let mut d = make_disk();
    let last = d.block_count() - 1;
    let off = (last * 512) as usize;
    d.bytes[off..off + 512].fill(0);
    let mut g = Gpt::load(&mut d).unwrap();
    assert_eq!(g.health().backup, Err(Problem::NoSignature));
    g.write(&mut d).unwrap();
    assert!(Gpt::load(&mut d).unwrap().health().is_clean());
}

#[test]
fn a_write_cut_between_the_copies_leaves_a_consistent_table() {
    let mut d = make_disk();
    let mut g = Gpt::load(&mut d).unwrap();
    let before = d.bytes.clone();
    g.set_attributes::<()>(2, 0x0100_0000_0000_0000).unwrap();
    g.write(&mut d).unwrap();
    // Simulate the cut: backup written (new), primary not (old).
    let mut cut = MemDisk { bytes: before.clone(), block_size: 512 };
    let n = cut.bytes.len();
    let tail = n - 33 * 512;
    cut.bytes[tail..].copy_from_slice(&d.bytes[tail..]);
    let g = Gpt::load(&mut cut).unwrap();
    assert_eq!(g.health().backup, Err(Problem::Stale));
    assert_eq!(g.partition(2).unwrap().attributes, 0, "the primary (old state) counts");
}

#[test]
fn no_table_at_all_is_an_error() {
    let mut d = MemDisk { bytes: vec![0; 1 << 20], block_size: 512 };
    let err = Gpt::load(&mut d).unwrap_err();
    assert!(err.to_string().contains("no usable GPT"), "{err}");
}

#[test]
fn table_fitted_to_a_bigger_disk_with_a_grown_last_partition_and_new_guids_is_valid_for_the_gpt_crate() {
    let small = make_disk();
    // The image written onto a disk twice its size.
    let mut d = MemDisk { bytes: small.bytes.clone(), block_size: 512 };
    d.bytes.resize(128 * MIB as usize, 0);
    let mut g = Gpt::load(&mut d).unwrap();
    assert_eq!(g.backup_lba(), 64 * MIB / 512 - 1, "backup still at the image's end");
    let blocks = d.block_count();
    g.fit_to_disk::<()>(blocks).unwrap();
    let (_, last_usable) = g.usable_range();
    assert_eq!(last_usable, blocks - 1 - 32 - 1);
    let data = g.find_by_name("DATA").unwrap();
    let end = last_usable / 2048 * 2048 - 1;
    g.set_range::<()>(data.number, data.first_lba, end).unwrap();
    g.set_disk_guid(Guid::parse("11111111-2222-3333-4444-555555555555").unwrap());
    g.set_unique_guid::<()>(2, Guid::parse("aaaaaaaa-2222-3333-4444-555555555555").unwrap()).unwrap();
    g.write(&mut d).unwrap();

    let g2 = Gpt::load(&mut d).unwrap();
    assert!(g2.health().is_clean());
    assert_eq!(g2.backup_lba(), blocks - 1);
    assert_eq!(g2.find_by_name("DATA").unwrap().last_lba, end);
    assert_eq!(g2.partition(2).unwrap().unique_guid.to_string(), "aaaaaaaa-2222-3333-4444-555555555555");
    let mut cur = Cursor::new(d.bytes.clone());
    let other = gpt::GptConfig::new().writable(false).open_from_device(&mut cur).unwrap();
    assert_eq!(other.partitions()[&4].last_lba, end);
    assert_eq!(other.backup_header().unwrap().current_lba, blocks - 1);
    assert_eq!(other.guid().to_string(), "11111111-2222-3333-4444-555555555555");

    // Nothing may overlap or leave the disk.
    let mut g3 = Gpt::load(&mut d).unwrap();
    assert!(g3.set_range::<()>(4, data.first_lba - 10, end).is_err());
    assert!(g3.set_range::<()>(4, data.first_lba, blocks).is_err());
    assert!(g3.fit_to_disk::<()>(40 * MIB / 512).is_err());
}
