//! The trust state fails closed: what DATA says is evidence, checked
//! against the image's keys and the trust record on the boot disk; a
//! forged, damaged or missing state never lets a bundle in that the device
//! would refuse, never lowers the rollback floor, and is repaired from the
//! other copy.

mod common;

use abslot::Slot;
use bundle::{ErrorKind, KeyStatement, SecretKey, StatementKind};
use common::*;
use std::fs;
use updater::state::State;
#[allow(unused_imports)]
use updater::BlockDevice;
use updater::{Error, MemDevice, Repaired};

fn bundle_err(e: &Error) -> Option<&ErrorKind> {
    match e {
        Error::Bundle(b) => Some(&b.kind),
        _ => None,
    }
}

/// Installs `bytes` from A and proves B: the floor rises to its index.
fn install_and_prove(dev: MemDevice, e: &Env, bytes: &[u8]) -> MemDevice {
    let mut up = on(dev, Slot::A, e);
    run(&mut up, bytes, &opts()).unwrap();
    let mut b = on(up.dev, Slot::B, e);
    assert!(b.mark_good().unwrap().changed);
    b.dev
}

#[test]
fn a_forged_line_on_data_adds_no_key() {
    let e = env();
    let stranger = SecretKey::from_seed(&[9; 32]);
    let forged = KeyStatement::sign(StatementKind::Trust(stranger.public()), &stranger);
    let hex_key: String = stranger.public().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    fs::create_dir_all(&e.paths.state).unwrap();
    fs::write(
        State::path(&e.paths.state),
        format!(
            r#"{{"schema":1,"keyring":"trust {hex_key}\n","statements":["{}"]}}"#,
            trust::Evidence::statement_hex(&forged)
        ),
    )
    .unwrap();
    let original = disk();
    let mut up = on(original.clone(), Slot::A, &e);
    let err = run(&mut up, &bundle_by("2.0.0", 0, &stranger, vec![]), &opts()).unwrap_err();
    assert!(matches!(bundle_err(&err), Some(ErrorKind::UnknownKey(_))), "{err:?}");
    assert!(up.dev.0 == original.0, "nothing written");
}

#[test]
fn a_damaged_state_refuses_installs_until_repaired_and_keeps_the_floor_and_revocations() {
    let e = env();
    let new = SecretKey::from_seed(&[6; 32]);
    // 2.0.0 rotates the key: trust `new` (signed by the image key), then
    // revoke the image key (signed by `new`); it has rollback index 3.
    let rotate = vec![
        KeyStatement::sign(StatementKind::Trust(new.public()), &e.key),
        KeyStatement::sign(StatementKind::Revoke(e.key.id()), &new),
    ];
    let dev = install_and_prove(disk(), &e, &bundle_by("2.0.0", 3, &new, rotate));
    // DATA's state is cut in half.
    let path = State::path(&e.paths.state);
    let text = fs::read(&path).unwrap();
    fs::write(&path, &text[..text.len() / 2]).unwrap();
    let mut b = on(dev.clone(), Slot::B, &e);
    let before = b.dev.0.clone();
    let err = run(&mut b, &bundle_by("3.0.0", 3, &e.key, vec![]), &opts()).unwrap_err();
    assert!(matches!(err, Error::StateDamaged { .. }), "{err:?}");
    assert!(err.to_string().contains("fwupdate repair-state"), "{err}");
    assert!(b.dev.0 == before, "nothing written");
    // Status says so; the floor still shows from the trust record.
    let st = b.status().unwrap();
    assert_eq!(st.rollback_floor, 3);
    assert!(st.trust.contains("repair-state"), "{}", st.trust);
    // Repair: the state comes back from the trust record.
    match b.repair_state(false).unwrap() {
        Repaired::State { aside: Some(a), floor: 3 } => assert!(a.exists()),
        other => panic!("{other:?}"),
    }
    // The revoked key stays revoked, the floor stays 3.
    let err = run(&mut b, &bundle_by("3.0.0", 3, &e.key, vec![]), &opts()).unwrap_err();
    assert!(matches!(bundle_err(&err), Some(ErrorKind::RevokedKey(_))), "{err:?}");
    let err = run(&mut b, &bundle_by("3.0.0", 2, &new, vec![]), &opts()).unwrap_err();
    assert!(matches!(bundle_err(&err), Some(ErrorKind::RollbackBelowFloor { floor: 3, .. })), "{err:?}");
    run(&mut b, &bundle_by("3.0.0", 3, &new, vec![]), &opts()).unwrap();
}

#[test]
fn a_missing_state_is_accepted_only_on_a_fresh_device() {
    let e = env();
    // Fresh disk, no state on DATA: fine.
    let dev = install_and_prove(disk(), &e, &make_bundle(&e, "2.0.0", "x86-ud", 2));
    // DATA loses the state (reformatted): the record says floor 2.
    fs::remove_file(State::path(&e.paths.state)).unwrap();
    let mut b = on(dev, Slot::B, &e);
    let err = run(&mut b, &make_bundle(&e, "3.0.0", "x86-ud", 2), &opts()).unwrap_err();
    assert!(matches!(err, Error::StateMissing { floor: 2 }), "{err:?}");
    assert!(matches!(b.repair_state(false).unwrap(), Repaired::State { aside: None, floor: 2 }));
    let err = run(&mut b, &make_bundle(&e, "3.0.0", "x86-ud", 1), &opts()).unwrap_err();
    assert!(matches!(bundle_err(&err), Some(ErrorKind::RollbackBelowFloor { floor: 2, .. })), "{err:?}");
}

#[test]
fn a_damaged_trust_record_refuses_installs_and_is_rebuilt_from_data() {
    let e = env();
    let mut dev = install_and_prove(disk(), &e, &make_bundle(&e, "2.0.0", "x86-ud", 4));
    for copy in 0..2 {
        dev.0[trust::record::OFFSET as usize + copy * trust::record::COPY_LEN + 30] ^= 0x55;
    }
    let mut b = on(dev, Slot::B, &e);
    let err = run(&mut b, &make_bundle(&e, "3.0.0", "x86-ud", 4), &opts()).unwrap_err();
    assert!(matches!(err, Error::TrustRecord(trust::RecordError::Damaged)), "{err:?}");
    assert!(matches!(b.repair_state(false).unwrap(), Repaired::Record { floor: 4 }));
    run(&mut b, &make_bundle(&e, "3.0.0", "x86-ud", 4), &opts()).unwrap();
}

#[test]
fn with_neither_copy_readable_only_an_explicit_forget_starts_over() {
    let e = env();
    let mut dev = install_and_prove(disk(), &e, &make_bundle(&e, "2.0.0", "x86-ud", 4));
    for copy in 0..2 {
        dev.0[trust::record::OFFSET as usize + copy * trust::record::COPY_LEN + 30] ^= 0x55;
    }
    fs::write(State::path(&e.paths.state), "{").unwrap();
    let mut b = on(dev, Slot::B, &e);
    assert!(b.repair_state(false).is_err());
    assert_eq!(b.repair_state(true).unwrap(), Repaired::Forgotten);
    run(&mut b, &make_bundle(&e, "3.0.0", "x86-ud", 0), &opts()).unwrap();
}

#[test]
fn the_data_copy_cannot_lower_the_floor() {
    let e = env();
    let dev = install_and_prove(disk(), &e, &make_bundle(&e, "2.0.0", "x86-ud", 5));
    // Someone with access to DATA writes floor 0 and forgets the slots.
    let path = State::path(&e.paths.state);
    let mut state: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    state["rollback_floor"] = 0.into();
    state["slots"] = serde_json::json!({});
    fs::write(&path, state.to_string()).unwrap();
    let mut b = on(dev, Slot::B, &e);
    assert_eq!(b.status().unwrap().rollback_floor, 5);
    let err = run(&mut b, &make_bundle(&e, "3.0.0", "x86-ud", 4), &opts()).unwrap_err();
    assert!(matches!(bundle_err(&err), Some(ErrorKind::RollbackBelowFloor { floor: 5, .. })), "{err:?}");
}

#[test]
fn mark_good_cannot_run_during_an_install_and_the_floor_never_drops() {
    let e = env();
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("disk.img");
    fs::write(&file, install_and_prove(disk(), &e, &make_bundle(&e, "2.0.0", "x86-ud", 3)).0).unwrap();
    let open = |booted| {
        let mut up = updater::Updater::new(updater::FileDevice::open(&file).unwrap(), 512, booted, e.paths.clone());
        up.lock_wait = std::time::Duration::ZERO;
        up
    };
    // B runs 2.0.0 (floor 3) and installs 3.0.0 (index 4) into A; half way,
    // something runs mark-good (as init's health check would).
    let mut installer = open(Slot::B);
    let bytes = make_bundle(&e, "3.0.0", "x86-ud", 4);
    let mut during = None;
    updater::install(
        &mut installer,
        "t.qbundle",
        &mut || Ok(&bytes[..]),
        &updater::InstallOptions { running_version: "2.0.0".into(), ..opts() },
        &mut |s| {
            if let updater::Stage::At(updater::Checkpoint::Middle) = s {
                during = Some(open(Slot::B).mark_good().map(|m| m.changed));
            }
        },
    )
    .unwrap();
    // B was already good: mark-good would change nothing; the lock is
    // taken before even that is decided, so it reports the install.
    assert!(matches!(during, Some(Err(Error::Busy))), "{during:?}");
    let st = open(Slot::B).status().unwrap();
    assert_eq!(st.rollback_floor, 3, "the floor did not drop");
    // A boots, is proven: floor 4.
    let mut a = open(Slot::A);
    assert_eq!(a.mark_good().unwrap().floor, 4);
}

#[test]
fn the_running_slot_is_never_the_target() {
    let e = env();
    let mut up = on(disk(), Slot::A, &e);
    let table = up.table().unwrap();
    // The system says it runs from A, but the partition it booted from is B's.
    up.booted_partuuid = Some(table.partition(Slot::B).unique_guid);
    let before = up.dev.0.clone();
    let err = run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 0), &opts()).unwrap_err();
    assert!(matches!(err, Error::RunningSlot { slot: Slot::B, .. }), "{err:?}");
    assert!(up.dev.0 == before);
}

#[test]
fn an_install_into_a_slot_that_overlaps_another_partition_writes_nothing() {
    let e = env();
    let d = disk();
    let t = abctl::SlotTable::load(&mut d.clone(), 512).unwrap();
    let (a, b) = (t.partition(Slot::A).clone(), t.partition(Slot::B).clone());
    for bad in [
        testkit::with_range(d.clone(), b.number, a.last_lba - 100, b.last_lba),
        testkit::with_range(d.clone(), b.number, b.last_lba, b.first_lba),
        testkit::with_range(d.clone(), b.number, b.first_lba, b.last_lba + (1 << 20)),
    ] {
        let mut up = on(bad.clone(), Slot::A, &e);
        let err = run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 0), &opts()).unwrap_err();
        assert!(matches!(err, Error::Slots(abctl::Error::Geometry(_))), "{err:?}");
        assert!(up.dev.0 == bad.0, "nothing written");
    }
}

#[test]
fn a_power_cut_at_any_write_of_mark_good_never_leaves_a_proven_slot_below_its_floor() {
    let e = env();
    let mut up = on(disk(), Slot::A, &e);
    run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 3), &opts()).unwrap();
    let installed = up.dev.clone();
    let state = fs::read(State::path(&e.paths.state)).unwrap();
    let mut counter =
        updater::Updater::new(PowerCut { inner: installed.clone(), budget: usize::MAX }, 512, Slot::B, e.paths.clone());
    counter.mark_good().unwrap();
    let total = usize::MAX - counter.dev.budget;
    assert!(total >= 3, "{total} writes");
    for cut in 0..=total {
        fs::write(State::path(&e.paths.state), &state).unwrap();
        let mut b =
            updater::Updater::new(PowerCut { inner: installed.clone(), budget: cut }, 512, Slot::B, e.paths.clone());
        let _ = b.mark_good();
        let mut after = on(b.dev.inner.clone(), Slot::B, &e);
        let st = after.status().unwrap();
        if st.slots[1].successful {
            assert!(st.rollback_floor >= 3, "cut {cut}: B proven with floor {}", st.rollback_floor);
        }
        // The next healthy boot finishes what was cut.
        after.mark_good().unwrap();
        assert_eq!(after.status().unwrap().rollback_floor, 3, "cut {cut}");
    }
}
