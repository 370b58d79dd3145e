//! Writing and reading bundles, the policy refusals, key rotation, and
//! interoperability with the reference zstd tool.

mod common;
use bundle::{add_signature, Builder, ErrorKind, KeyStatement, Keyring, Policy, Reader, StatementKind, Target};
use common::*;

#[test]
fn a_bundle_reads_back_chunk_by_chunk() {
    let img = image(300_000, 1);
    let k = key(1);
    let bytes = bundle(&img, 65536, &k);
    let ring = Keyring::new([k.public()]);
    let (got, res) = read_all(&bytes, &ring, &policy());
    res.unwrap();
    let joined: Vec<u8> = got.iter().flat_map(|(_, d)| d.clone()).collect();
    assert_eq!(joined, img);
    assert_eq!(got.len(), 5);
    let r = Reader::open("b", &bytes[..], &ring, &policy()).unwrap();
    assert_eq!(r.signer(), k.id());
    let m = r.manifest();
    assert_eq!((m.version.as_str(), m.rollback_index, m.boards[0].as_str()), ("2.0.0", 5, "x86-ud"));
    assert!(m.payloads[0].compressed_size < img.len() as u64);
}

#[test]
fn policy_refusals_name_the_bundle_and_the_reason() {
    let img = image(20_000, 2);
    let k = key(1);
    let bytes = bundle(&img, 4096, &k);
    let ring = Keyring::new([k.public()]);
    let open = |p: Policy| Reader::open("usb/quill-2.0.0.qbundle", &bytes[..], &ring, &p).err().unwrap();

    let e = open(Policy { board: Some("rpi4".into()), ..policy() });
    assert_eq!(e.kind, ErrorKind::WrongBoard { device: "rpi4".into(), bundle: vec!["x86-ud".into()] });
    assert!(
        e.to_string().starts_with("usb/quill-2.0.0.qbundle: the bundle is for x86-ud but this device is rpi4"),
        "{e}"
    );

    let e = open(Policy { rollback_floor: 6, ..policy() });
    assert_eq!(e.kind, ErrorKind::RollbackBelowFloor { index: 5, floor: 6 });

    let e = open(Policy { slot_size: Some(10_000), ..policy() });
    assert_eq!(e.kind, ErrorKind::TooLarge { payload: 0, size: 20_000, limit: 10_000 });

    let stranger = Keyring::new([key(9).public()]);
    let e = Reader::open("b", &bytes[..], &stranger, &policy()).err().unwrap();
    assert_eq!(e.kind, ErrorKind::UnknownKey(vec![k.id()]));
}

#[test]
fn a_revoked_signer_is_refused() {
    let (old, new) = (key(1), key(2));
    let mut ring = Keyring::new([old.public(), new.public()]);
    ring.apply(&KeyStatement::sign(StatementKind::Revoke(old.id()), &new)).unwrap();
    let bytes = bundle(&image(5000, 3), 4096, &old);
    let e = Reader::open("b", &bytes[..], &ring, &policy()).err().unwrap();
    assert_eq!(e.kind, ErrorKind::RevokedKey(old.id()));
}

#[test]
fn key_rotation_travels_inside_a_bundle() {
    let (old, new) = (key(1), key(2));
    let device = Keyring::new([old.public()]);
    // Bundle signed by the NEW key, carrying "trust new" signed by the old one
    // and "revoke old" signed by the new one.
    let mut b = Builder::new("x86-ud", "3.0.0");
    b.chunk_size = 4096;
    b.level = 1;
    b.statements = vec![
        KeyStatement::sign(StatementKind::Trust(new.public()), &old),
        KeyStatement::sign(StatementKind::Revoke(old.id()), &new),
    ];
    b.payloads.push((Target::SlotImage, image(9000, 4)));
    let mut bytes = Vec::new();
    b.write("rot", &mut bytes, &[&new]).unwrap();

    let r = Reader::open("rot", &bytes[..], &device, &policy()).unwrap();
    assert_eq!(r.signer(), new.id());
    let after = r.keyring().clone();
    assert!(after.is_trusted(&new.id()) && !after.is_trusted(&old.id()));
    r.verify_all().unwrap();

    // The device keeps the new state: the old key is refused from now on.
    let mut kept = Keyring::new([old.public()]);
    kept.merge_state(&after.state_text()).unwrap();
    let old_signed = bundle(&image(5000, 5), 4096, &old);
    let e = Reader::open("b", &old_signed[..], &kept, &policy()).err().unwrap();
    assert_eq!(e.kind, ErrorKind::RevokedKey(old.id()));

    // A statement signed by a stranger does not smuggle a key in.
    let stranger = key(7);
    let mut b = Builder::new("x86-ud", "3.0.0");
    b.chunk_size = 4096;
    b.statements = vec![KeyStatement::sign(StatementKind::Trust(stranger.public()), &stranger)];
    b.payloads.push((Target::SlotImage, image(5000, 6)));
    let mut forged = Vec::new();
    b.write("forged", &mut forged, &[&stranger]).unwrap();
    let e = Reader::open("forged", &forged[..], &device, &policy()).err().unwrap();
    assert!(matches!(e.kind, ErrorKind::BadStatement(_)), "{e}");
}

#[test]
fn unsigned_bundles_and_added_signatures() {
    let img = image(10_000, 7);
    let mut b = Builder::new("x86-ud", "1");
    b.chunk_size = 4096;
    b.payloads.push((Target::SlotImage, img.clone()));
    let mut unsigned = Vec::new();
    b.write("u", &mut unsigned, &[]).unwrap();
    let k = key(3);
    let ring = Keyring::new([k.public()]);
    assert_eq!(Reader::open("u", &unsigned[..], &ring, &policy()).err().unwrap().kind, ErrorKind::Unsigned);

    let mut signed = Vec::new();
    add_signature("u", &mut &unsigned[..], &mut signed, &k).unwrap();
    let (got, res) = read_all(&signed, &ring, &policy());
    res.unwrap();
    assert_eq!(got.iter().map(|(_, d)| d.len()).sum::<usize>(), img.len());
    // Signing twice with the same key replaces the signature.
    let mut twice = Vec::new();
    add_signature("s", &mut &signed[..], &mut twice, &k).unwrap();
    assert_eq!(twice.len(), signed.len());
}

#[test]
fn trailing_data_is_refused_after_all_chunks_verified() {
    let img = image(8192, 8);
    let k = key(1);
    let mut bytes = bundle(&img, 4096, &k);
    bytes.push(0);
    let (got, res) = read_all(&bytes, &Keyring::new([k.public()]), &policy());
    assert_eq!(res.unwrap_err().kind, ErrorKind::TrailingData);
    assert_only_good_chunks(&img, &got);
}

#[test]
fn bad_builder_input_is_refused() {
    let k = key(1);
    let mut b = Builder::new("x86-ud", "1");
    b.payloads.push((Target::SlotImage, vec![]));
    assert!(b.write("x", &mut Vec::new(), &[&k]).is_err());
    let mut b = Builder::new("x86-ud", "1");
    b.chunk_size = 100;
    b.payloads.push((Target::SlotImage, vec![1]));
    assert!(b.write("x", &mut Vec::new(), &[&k]).unwrap_err().to_string().contains("chunk size"));
}

/// The payload is plain zstd: its frames, concatenated, decompress with the
/// reference `zstd` tool to the image.
#[test]
fn payload_frames_decompress_with_the_zstd_tool() {
    let img = image(200_000, 9);
    let k = key(1);
    let bytes = bundle(&img, 65536, &k);
    let r = Reader::open("b", &bytes[..], &Keyring::new([k.public()]), &policy()).unwrap();
    let payload_len = r.manifest().payloads[0].compressed_size as usize;
    let frames = &bytes[bytes.len() - payload_len..];
    let dir = tempfile::tempdir().unwrap();
    let zst = dir.path().join("payload.zst");
    std::fs::write(&zst, frames).unwrap();
    let out = std::process::Command::new("zstd")
        .args(["-d", "-c", "-q"])
        .arg(&zst)
        .output()
        .expect("the zstd tool is needed (cargo xtask fetch installs it)");
    assert!(out.status.success(), "zstd -d failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == img, "zstd -d output differs from the image");
}

#[test]
fn repeated_chunks_are_yielded_and_still_checked() {
    // Ten empty chunks (identical frames), then data: the reader decodes the
    // empty chunk once, yet every frame is still hashed.
    let mut img = vec![0u8; 10 * 4096];
    img.extend(image(4096, 31));
    let k = key(1);
    let good = bundle(&img, 4096, &k);
    let ring = Keyring::new([k.public()]);
    let (got, res) = read_all(&good, &ring, &policy());
    res.unwrap();
    assert_eq!(got.iter().flat_map(|(_, d)| d.clone()).collect::<Vec<u8>>(), img);
    // Damage the sixth (repeated) frame: refused at that chunk.
    let r = Reader::open("b", &good[..], &ring, &policy()).unwrap();
    let frames = &r.manifest().payloads[0].chunks;
    let payload_start = good.len() - r.manifest().payloads[0].compressed_size as usize;
    let sixth: usize = payload_start + frames[..5].iter().map(|c| c.frame_len as usize).sum::<usize>();
    let mut bad = good.clone();
    bad[sixth + 3] ^= 1;
    let (got, res) = read_all(&bad, &ring, &policy());
    assert_eq!(res.unwrap_err().kind, ErrorKind::FrameHash { payload: 0, chunk: 5 });
    assert_eq!(got.len(), 5);
    assert_only_good_chunks(&img, &got);
}

#[test]
fn a_streamed_image_makes_the_same_bundle_and_a_short_one_is_refused() {
    let img = image(700_000, 3);
    let k = key(1);
    let in_memory = bundle(&img, 65536, &k);
    let mut b = Builder::new("x86-ud", "2.0.0");
    b.rollback_index = 5;
    b.build_id = "test".into();
    b.chunk_size = 65536;
    b.level = 3;
    // Two bytes at a time: the writer must not rely on full reads.
    struct Dribble<'a>(&'a [u8]);
    impl std::io::Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(2).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut src = Dribble(&img);
    let mut out = std::io::Cursor::new(Vec::new());
    let mut images = [bundle::Image { target: Target::SlotImage, len: img.len() as u64, reader: &mut src }];
    b.write_images("s", &mut out, &[&k], &mut images).unwrap();
    assert!(out.get_ref() == &in_memory, "streaming and in-memory writing differ");
    // An image shorter or longer than announced.
    for len in [img.len() as u64 + 1, img.len() as u64 - 1] {
        let mut src = &img[..];
        let mut images = [bundle::Image { target: Target::SlotImage, len, reader: &mut src }];
        let e = b.write_images("s", &mut std::io::Cursor::new(Vec::new()), &[&k], &mut images).unwrap_err();
        assert!(matches!(&e.kind, ErrorKind::Io(m) if m.contains("payload image")), "{e}");
    }
}

#[test]
fn only_the_needed_frames_are_downloaded_and_the_reader_skips_the_others() {
    use bundle::{frame_ranges, head_bytes, Builder, Keyring, Policy, Reader, SecretKey, Target};
    let key = SecretKey::from_seed(&[3; 32]);
    // 6 chunks of 1 MiB, each different.
    let img: Vec<u8> = (0..6u32 << 20).map(|i| ((i >> 20) * 31 + i % 7) as u8).collect();
    let mut b = Builder::new("board-a", "2.0.0");
    b.level = 1;
    b.chunk_size = 1 << 20;
    b.payloads.push((Target::SlotImage, img.clone()));
    let mut bytes = Vec::new();
    b.write("b", &mut bytes, &[&key]).unwrap();
    let ring = Keyring::new([key.public()]);
    let head = head_bytes("b", &bytes[..]).unwrap();
    let r = Reader::open("b", &head[..], &ring, &Policy::default()).unwrap();
    let m = r.manifest().clone();
    let lens: Vec<u64> = m.payloads[0].chunks.iter().map(|c| c.frame_len as u64).collect();
    let start = |i: usize| head.len() as u64 + lens[..i].iter().sum::<u64>();

    // Chunks 1, 2 and 4 are needed: two ranges without merging, one with.
    let needed = [false, true, true, false, true, false];
    let (ranges, carried) = frame_ranges(&m, head.len() as u64, &needed, 0);
    assert_eq!(ranges, vec![(start(1), lens[1] + lens[2]), (start(4), lens[4])]);
    assert_eq!(carried, needed);
    let (merged, carried_merged) = frame_ranges(&m, head.len() as u64, &needed, lens[3]);
    assert_eq!(merged, vec![(start(1), start(5) - start(1))]);
    assert_eq!(carried_merged, [false, true, true, true, true, false]);

    // The reader goes on over just those bytes and yields the rest as skipped.
    let mut feed = Vec::new();
    for (s, l) in &merged {
        feed.extend_from_slice(&bytes[*s as usize..(*s + *l) as usize]);
    }
    let skip: Vec<bool> = carried_merged.iter().map(|c| !c).collect();
    let mut r = r.continue_from(&feed[..], skip);
    let mut got = Vec::new();
    while let Some(c) = r.next_chunk().unwrap() {
        assert_eq!(c.skipped, !carried_merged[c.index as usize]);
        if !c.skipped {
            assert_eq!(c.data, &img[c.offset as usize..c.offset as usize + (1 << 20)]);
        }
        got.push(c.index);
    }
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    // A frame changed in the download is still caught.
    feed[10] ^= 1;
    let r = Reader::open("b", &head[..], &ring, &Policy::default()).unwrap();
    let mut r = r.continue_from(&feed[..], carried_merged.iter().map(|c| !c).collect());
    let e = std::iter::from_fn(|| r.next_chunk().transpose().map(|x| x.map(|c| c.index))).find_map(|x| x.err());
    assert!(e.is_some_and(|e| e.to_string().contains("SHA-256")));
}
