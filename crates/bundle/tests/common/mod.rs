#![allow(dead_code)]
use bundle::{Builder, Chunk, Error, Keyring, Policy, Reader, SecretKey, Target};

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// A slot-like image: some pseudo-random (incompressible) data, text, zeros.
pub fn image(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|i| match (i / 4096) % 3 {
            0 => {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            }
            1 => b"quill thin client "[i % 18],
            _ => 0,
        })
        .collect()
}

pub fn bundle(img: &[u8], chunk: u32, signer: &SecretKey) -> Vec<u8> {
    let mut b = Builder::new("x86-ud", "2.0.0");
    b.rollback_index = 5;
    b.build_id = "test".into();
    b.chunk_size = chunk;
    b.level = 3;
    b.payloads.push((Target::SlotImage, img.to_vec()));
    let mut out = Vec::new();
    b.write("test.qbundle", &mut out, &[signer]).unwrap();
    out
}

pub fn policy() -> Policy {
    Policy { board: Some("x86-ud".into()), rollback_floor: 0, slot_size: None }
}

/// Reads everything; returns the chunks yielded before the end or the error.
/// The chunks read (offset, bytes) and how the read ended.
pub type ReadAll = (Vec<(u64, Vec<u8>)>, Result<(), Error>);

pub fn read_all(bytes: &[u8], ring: &Keyring, policy: &Policy) -> ReadAll {
    let mut got = Vec::new();
    let mut r = match Reader::open("test.qbundle", bytes, ring, policy) {
        Ok(r) => r,
        Err(e) => return (got, Err(e)),
    };
    loop {
        match r.next_chunk() {
            Ok(Some(Chunk { offset, data, .. })) => got.push((offset, data.to_vec())),
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// Every yielded chunk must be exactly the image's bytes at its offset.
pub fn assert_only_good_chunks(img: &[u8], got: &[(u64, Vec<u8>)]) {
    for (off, data) in got {
        let o = *off as usize;
        assert_eq!(&img[o..o + data.len()], &data[..], "a chunk at {off} differs from the image");
    }
}
