//! Systematic damage: every byte of a bundle flipped and every truncation
//! point; each must be refused with the right kind of error, and no byte of
//! a bad chunk may ever be yielded.

mod common;
use bundle::{ErrorKind, Keyring, Reader};
use common::*;

struct Layout {
    manifest: std::ops::Range<usize>,
    sigs: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

fn layout(bytes: &[u8]) -> Layout {
    let m = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let s = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    Layout { manifest: 32..32 + m, sigs: 32 + m..32 + m + s, payload: 32 + m + s..bytes.len() }
}

#[test]
fn every_flipped_byte_is_refused_with_the_right_error() {
    let img = image(3 * 4096 + 100, 11);
    let k = key(1);
    let good = bundle(&img, 4096, &k);
    let ring = Keyring::new([k.public()]);
    let l = layout(&good);
    for pos in 0..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[pos] ^= mask;
            let (got, res) = read_all(&bad, &ring, &policy());
            let kind = res.err().unwrap_or_else(|| panic!("flip {mask:#x} at {pos} was accepted")).kind;
            assert_only_good_chunks(&img, &got);
            let ok = match pos {
                0..8 => kind == ErrorKind::BadMagic,
                8..10 => matches!(kind, ErrorKind::UnknownVersion(_)),
                10..12 | 20..32 => kind == ErrorKind::ReservedNotZero,
                12..20 => matches!(
                    kind,
                    ErrorKind::Truncated { .. }
                        | ErrorKind::Malformed(_)
                        | ErrorKind::BadSignature(_)
                        | ErrorKind::Unsigned
                ),
                p if l.manifest.contains(&p) => kind == ErrorKind::BadSignature(k.id()),
                p if l.sigs.contains(&p) => {
                    let at = p - l.sigs.start;
                    match at {
                        0..2 => {
                            matches!(kind, ErrorKind::Malformed(_) | ErrorKind::Truncated { .. } | ErrorKind::Unsigned)
                        }
                        2..10 => matches!(kind, ErrorKind::UnknownKey(_)),
                        _ => kind == ErrorKind::BadSignature(k.id()),
                    }
                }
                p if l.payload.contains(&p) => matches!(kind, ErrorKind::FrameHash { .. }),
                _ => false,
            };
            assert!(ok, "flip {mask:#x} at byte {pos}: unexpected error {kind:?}");
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let img = image(3 * 4096 + 100, 12);
    let k = key(1);
    let good = bundle(&img, 4096, &k);
    let ring = Keyring::new([k.public()]);
    for len in 0..good.len() {
        let (got, res) = read_all(&good[..len], &ring, &policy());
        let kind = res.err().unwrap_or_else(|| panic!("truncation to {len} bytes was accepted")).kind;
        assert!(matches!(kind, ErrorKind::Truncated { .. }), "truncated to {len}: {kind:?}");
        assert_only_good_chunks(&img, &got);
    }
    let (got, res) = read_all(&good, &ring, &policy());
    res.unwrap();
    assert_eq!(got.len(), 4);
}

#[test]
fn a_replaced_chunk_with_a_valid_frame_is_refused() {
    // Swap in a frame compressed from other data: well-formed zstd, wrong hash.
    let img = image(2 * 4096, 13);
    let k = key(1);
    let good = bundle(&img, 4096, &k);
    let r = Reader::open("b", &good[..], &Keyring::new([k.public()]), &policy()).unwrap();
    let first_len = r.manifest().payloads[0].chunks[0].frame_len as usize;
    let l = layout(&good);
    let mut other = zstd::bulk::compress(&vec![7u8; 4096], 3).unwrap();
    other.resize(first_len, 0);
    let mut bad = good.clone();
    bad[l.payload.start..l.payload.start + first_len].copy_from_slice(&other);
    let (got, res) = read_all(&bad, &Keyring::new([k.public()]), &policy());
    assert_eq!(res.unwrap_err().kind, ErrorKind::FrameHash { payload: 0, chunk: 0 });
    assert!(got.is_empty());
}
