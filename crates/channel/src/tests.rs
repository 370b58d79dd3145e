use super::*;
use bundle::{KeyStatement, StatementKind};

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn index(sequence: u64) -> Index {
    Index {
        format: FORMAT,
        board: "board-a".into(),
        channel: "stable".into(),
        sequence,
        version: "2.0.0".into(),
        manifest: "manifests/quill-board-a-2.0.0.qmanifest".into(),
        manifest_sha256: hex::encode(Sha256::digest(b"manifest")),
        bundle: "bundles/quill-board-a-2.0.0.qbundle".into(),
        bundle_size: 1234,
        max_seed: SEEDS,
        paused: false,
    }
}

fn ring(keys: &[&SecretKey]) -> Keyring {
    Keyring::new(keys.iter().map(|k| k.public()))
}

#[test]
fn a_signed_index_verifies_and_says_what_to_remember() {
    let file = index(7).sign(&[&key(1)]).unwrap();
    let a = verify(&file, &ring(&[&key(1)]), "board-a", "stable", None).unwrap();
    assert_eq!(a.index, index(7));
    assert_eq!(a.signer, key(1).id());
    assert_eq!(a.seen.sequence, 7);
    // The same file again is fine (a device checks every few hours).
    verify(&file, &ring(&[&key(1)]), "board-a", "stable", Some(&a.seen)).unwrap();
    assert!(file.len() < 2048, "one channel's metadata stays small: {} bytes", file.len());
}

#[test]
fn an_unknown_or_revoked_key_or_a_changed_byte_is_refused() {
    let file = index(1).sign(&[&key(2)]).unwrap();
    let e = verify(&file, &ring(&[&key(1)]), "board-a", "stable", None).unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e}");

    let mut r = ring(&[&key(1), &key(2)]);
    r.apply(&KeyStatement::sign(StatementKind::Revoke(key(2).id()), &key(1))).unwrap();
    let e = verify(&file, &r, "board-a", "stable", None).unwrap_err().to_string();
    assert!(e.contains("revoked"), "{e}");

    // A changed version inside the signed text.
    let text = String::from_utf8(index(1).sign(&[&key(1)]).unwrap()).unwrap();
    let tampered = text.replacen("2.0.0", "9.0.0", 1);
    assert_ne!(text, tampered);
    let e = verify(tampered.as_bytes(), &ring(&[&key(1)]), "board-a", "stable", None).unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e}");
}

#[test]
fn a_rotated_in_key_is_accepted_and_any_one_good_signature_is_enough() {
    let mut r = ring(&[&key(1)]);
    r.apply(&KeyStatement::sign(StatementKind::Trust(key(3).public()), &key(1))).unwrap();
    let file = index(1).sign(&[&key(9), &key(3)]).unwrap();
    assert_eq!(verify(&file, &r, "board-a", "stable", None).unwrap().signer, key(3).id());
}

#[test]
fn an_older_sequence_is_a_replay_and_an_equal_one_with_other_content_a_fork() {
    let r = ring(&[&key(1)]);
    let seen = verify(&index(5).sign(&[&key(1)]).unwrap(), &r, "board-a", "stable", None).unwrap().seen;
    let e = verify(&index(4).sign(&[&key(1)]).unwrap(), &r, "board-a", "stable", Some(&seen)).unwrap_err();
    assert_eq!(e, Error::Replayed { seen: 5, found: 4 });
    let mut other = index(5);
    other.version = "2.0.1".into();
    let e = verify(&other.sign(&[&key(1)]).unwrap(), &r, "board-a", "stable", Some(&seen)).unwrap_err();
    assert_eq!(e, Error::Forked(5));
    assert!(verify(&index(6).sign(&[&key(1)]).unwrap(), &r, "board-a", "stable", Some(&seen)).is_ok());
}

#[test]
fn another_board_or_channel_is_refused() {
    let file = index(1).sign(&[&key(1)]).unwrap();
    let e = verify(&file, &ring(&[&key(1)]), "board-b", "stable", None).unwrap_err();
    assert!(matches!(e, Error::WrongChannel { .. }), "{e}");
    let e = verify(&file, &ring(&[&key(1)]), "board-a", "beta", None).unwrap_err().to_string();
    assert!(e.contains("board-a/stable") && e.contains("board-a/beta"), "{e}");
}

#[test]
fn junk_oversized_and_unsafe_indexes_are_refused_with_the_reason() {
    let r = ring(&[&key(1)]);
    assert!(matches!(verify(b"<html>404</html>", &r, "board-a", "stable", None), Err(Error::Malformed(_))));
    let big = vec![b' '; MAX_INDEX_BYTES + 1];
    assert_eq!(verify(&big, &r, "board-a", "stable", None).unwrap_err(), Error::TooLarge(MAX_INDEX_BYTES + 1));
    for path in ["/etc/passwd", "../x", "http://elsewhere/x", ""] {
        let mut i = index(1);
        i.bundle = path.into();
        assert!(matches!(i.sign(&[&key(1)]), Err(Error::Invalid(_))), "{path:?}");
    }
    let mut i = index(1);
    i.max_seed = SEEDS + 1;
    assert!(i.sign(&[&key(1)]).is_err());
    i.max_seed = SEEDS;
    assert!(i.sign(&[]).is_err(), "unsigned");
}

#[test]
fn seeds_spread_over_the_fleet_and_max_seed_and_pause_gate_the_offer() {
    let seeds: Vec<u32> = (0..4000).map(|n| seed(&format!("52:54:00:00:{:02x}:{:02x}", n / 256, n % 256))).collect();
    assert!(seeds.iter().all(|&s| s < SEEDS));
    assert_eq!(seed("52:54:00:12:34:56"), seed("52:54:00:12:34:56"), "stable");
    let below_quarter = seeds.iter().filter(|&&s| s < SEEDS / 4).count();
    assert!((800..1200).contains(&below_quarter), "a quarter of 4000 devices, not {below_quarter}");
    let mut i = index(1);
    i.max_seed = 100;
    assert!(i.offers_to(99) && !i.offers_to(100));
    i.max_seed = SEEDS;
    assert!(i.offers_to(SEEDS - 1));
    i.paused = true;
    assert!(!i.offers_to(0));
}

#[test]
fn the_manifest_must_match_the_index() {
    let i = index(1);
    i.check_manifest(b"manifest").unwrap();
    let e = i.check_manifest(b"manifest!").unwrap_err();
    assert!(matches!(e, Error::ManifestHash { .. }), "{e}");
}

#[test]
fn the_host_tool_reads_back_what_it_published() {
    let file = index(3).sign(&[&key(1)]).unwrap();
    assert_eq!(Index::read_unverified(&file).unwrap(), index(3));
}
