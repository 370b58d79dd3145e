//! Test support shared by Quill's crates (never linked into a device
//! binary): Quill-like disks built in memory by imagebuild, GPT entries
//! rewritten raw, the way another tool or an attacker could leave them
//! (gptedit itself refuses to write such tables), and a built image's DATA
//! written as a set-up device would have it ([`data`]).

pub mod data;
pub mod est;
pub mod fixtures;
pub mod http;
pub mod nginx;
pub mod tls;

use abslot::SlotAttr;
use blockdev::MemDevice;
use imagebuild::disk::{self, Content, PartSpec};
use imagebuild::MIB;

/// ESP (1 MiB), SYSTEM_A (`slot_a`, proven), SYSTEM_B (empty, 0/0/0) and
/// DATA (1 MiB), each slot `slot_mib` MiB, first partition at 1 MiB.
pub fn quill_disk(slot_mib: u64, slot_a: Vec<u8>) -> MemDevice {
    let t = tempfile::tempdir().expect("a temporary folder");
    let p = t.path().join("d.img");
    let part = |name: &str, type_guid, size, attributes, content| PartSpec {
        name: name.into(),
        type_guid,
        size,
        attributes,
        content: Content::Bytes(content),
    };
    let parts = vec![
        part("ESP", disk::ESP_TYPE, MIB, 0, vec![]),
        part("SYSTEM_A", disk::SLOT_TYPE, slot_mib * MIB, SlotAttr::new(1, 0, true).to_gpt(0), slot_a),
        part("SYSTEM_B", disk::SLOT_TYPE, slot_mib * MIB, 0, vec![]),
        part("DATA", disk::LINUX_DATA_TYPE, MIB, 0, vec![]),
    ];
    disk::write(&p, uuid::Uuid::from_u128(1), &parts).expect("the disk image is written");
    MemDevice(std::fs::read(&p).expect("the disk image reads back"))
}

/// Rewrites entry `number` of the primary GPT with another LBA range (fresh
/// CRCs) and breaks the backup header, so the primary is what is read.
pub fn with_range(d: MemDevice, number: u32, first: u64, last: u64) -> MemDevice {
    with_entry(d, number, |e| {
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
    })
}

/// Rewrites entry `number` of the primary GPT with another type GUID (the
/// on-disk bytes), as [`with_range`] does.
pub fn with_type(d: MemDevice, number: u32, type_guid: [u8; 16]) -> MemDevice {
    with_entry(d, number, |e| e[..16].copy_from_slice(&type_guid))
}

/// Edits entry `number` of the primary GPT in place, fixes both CRCs and
/// breaks the backup header's signature.
fn with_entry(mut d: MemDevice, number: u32, edit: impl FnOnce(&mut [u8])) -> MemDevice {
    let le64 = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let le32 = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let h = 512;
    let (entries_lba, count, size) = (le64(&d.0, h + 72), le32(&d.0, h + 80), le32(&d.0, h + 84));
    let e = entries_lba as usize * 512 + (number as usize - 1) * size as usize;
    edit(&mut d.0[e..e + size as usize]);
    let start = entries_lba as usize * 512;
    let entries_crc = crc32fast::hash(&d.0[start..start + (count * size) as usize]);
    d.0[h + 88..h + 92].copy_from_slice(&entries_crc.to_le_bytes());
    let hsize = le32(&d.0, h + 12) as usize;
    d.0[h + 16..h + 20].fill(0);
    let header_crc = crc32fast::hash(&d.0[h..h + hsize]);
    d.0[h + 16..h + 20].copy_from_slice(&header_crc.to_le_bytes());
    let n = d.0.len();
    d.0[n - 512..n - 504].fill(0); // the backup header's signature
    d
}
