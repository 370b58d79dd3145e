//! The updater's test fixtures, shared by its tests and the crash
//! simulation: a small slot image with a release file, a Quill-like disk
//! with slot A 1.0.0 proven and slot B empty, and signed bundles.

use bundle::{Builder, SecretKey, Target};
use imagebuild::{fat, MIB};

/// The slot size of the fixture disks.
pub const SLOT: u64 = 34 * MIB;

/// A slot image (FAT) with `release.txt` for `version` and 3 MiB of data.
pub fn slot_image(version: &str, fill: u8) -> Vec<u8> {
    let release = format!("VERSION={version}\nBOARD=x86-ud\n");
    let blob: Vec<u8> = (0..3 * MIB as usize).map(|i| ((i * 7 + fill as usize) % 251) as u8).collect();
    fat::build(SLOT, "QUILL SLOT", 7, &[("release.txt", release.as_bytes()), ("blob.bin", &blob)]).unwrap()
}

/// A disk with slot A = 1.0.0 (proven), slot B empty, DATA.
pub fn disk() -> blockdev::MemDevice {
    crate::quill_disk(SLOT / MIB, slot_image("1.0.0", 0))
}

/// A bundle of a slot image for `board`, signed by `signer`, carrying key
/// `statements`.
pub fn bundle(
    version: &str,
    board: &str,
    rollback_index: u64,
    signer: &SecretKey,
    statements: Vec<bundle::KeyStatement>,
    fill: u8,
) -> Vec<u8> {
    let mut b = Builder::new(board, version);
    b.level = 1;
    b.rollback_index = rollback_index;
    b.statements = statements;
    b.payloads.push((Target::SlotImage, slot_image(version, fill)));
    let mut out = Vec::new();
    b.write("b", &mut out, &[signer]).unwrap();
    out
}

/// A slot image (FAT) with `release.txt` and a file of incompressible
/// MiBs, one per seed: two versions that share seeds share those MiBs at
/// the same offsets (the files an update did not change).
pub fn noisy_slot(version: &str, seeds: &[u64]) -> Vec<u8> {
    let release = format!("VERSION={version}\nBOARD=x86-ud\n");
    let mut blob = Vec::with_capacity(seeds.len() * MIB as usize);
    for &seed in seeds {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for _ in 0..MIB / 8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            blob.extend_from_slice(&x.to_le_bytes());
        }
    }
    fat::build(SLOT, "QUILL SLOT", 7, &[("release.txt", release.as_bytes()), ("blob.bin", &blob)]).unwrap()
}

/// A signed bundle of `slot` for `board`.
pub fn bundle_of(version: &str, board: &str, rollback_index: u64, signer: &SecretKey, slot: Vec<u8>) -> Vec<u8> {
    let mut b = Builder::new(board, version);
    b.level = 1;
    b.rollback_index = rollback_index;
    b.payloads.push((Target::SlotImage, slot));
    let mut out = Vec::new();
    b.write("b", &mut out, &[signer]).unwrap();
    out
}
