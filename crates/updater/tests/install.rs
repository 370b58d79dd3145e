//! The updater against disk images in memory and in files: install, the
//! refusals that change nothing, a power cut at every write, mark-good,
//! rollback detection, set-active.

use abslot::{Slot, SlotAttr};
use std::io;
use updater::state::{EventKind, InstallResult};
use updater::{install, BlockDevice, Error, InstallOptions, MemDevice, Paths, Updater, WriteFailure};

mod common;
use common::*;

fn slot_range(up: &mut Updater<MemDevice>, s: Slot) -> std::ops::Range<usize> {
    let mut v = blockdev::GptView { dev: &mut up.dev, block_size: 512 };
    let g = gptedit::Gpt::load(&mut v).unwrap();
    let p = g.find_by_name(if s == Slot::A { "SYSTEM_A" } else { "SYSTEM_B" }).unwrap();
    (p.first_lba * 512) as usize..((p.last_lba + 1) * 512) as usize
}

fn region(d: &MemDevice, up: &mut Updater<MemDevice>, s: Slot) -> Vec<u8> {
    d.0[slot_range(up, s)].to_vec()
}

#[test]
fn installs_into_the_inactive_slot_and_flips_the_boot_state() {
    let e = env();
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    let a_before = {
        let d = up.dev.clone();
        region(&d, &mut up, Slot::A)
    };
    // Old bytes everywhere in B: the image's empty space is not written but
    // zeroed, and must read back as zeros.
    let b = slot_range(&mut up, Slot::B);
    up.dev.0[b].fill(0xAA);
    let done = run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 1), &opts()).unwrap();
    let d = up.dev.clone();
    assert!(region(&d, &mut up, Slot::B) == slot_image("2.0.0", 1), "B holds exactly the image");
    assert_eq!((done.slot, done.version.as_str()), (Slot::B, "2.0.0"));
    let a = up.attrs().unwrap();
    assert_eq!(a[0], SlotAttr::new(1, 0, true), "the running slot keeps its state");
    assert_eq!(a[1], SlotAttr::new(2, 3, false), "new slot above, 3 tries, unproven");
    let d = up.dev.clone();
    assert!(region(&d, &mut up, Slot::A) == a_before, "not one byte of the running slot changed");
    assert_eq!(up.slot_version(Slot::B).as_deref(), Some("2.0.0"));
    assert_eq!(up.slot_version(Slot::A).as_deref(), Some("1.0.0"));
    let st = up.status().unwrap();
    assert_eq!(st.next_boot, 'b');
    assert_eq!(st.last_install.unwrap().result, InstallResult::Ok);
    assert_eq!(st.history.last().unwrap().kind, EventKind::Install);
}

#[test]
fn refusals_change_nothing() {
    let e = env();
    use bundle::ErrorKind;
    type Check = fn(&Error) -> bool;
    let wrong_board: Check = |e| matches!(e, Error::Bundle(b) if matches!(b.kind, ErrorKind::WrongBoard { .. }));
    let cases: Vec<(Vec<u8>, InstallOptions, &str, Check)> = vec![
        (make_bundle(&e, "2.0.0", "rpi4", 0), opts(), "this device is x86-ud", wrong_board),
        // An x86 bundle offered to a Raspberry Pi.
        (
            make_bundle(&e, "2.0.0", "x86-ud", 0),
            InstallOptions { board: "rpi4".into(), ..opts() },
            "the bundle is for x86-ud but this device is rpi4",
            wrong_board,
        ),
        (make_bundle(&e, "0.9.0", "x86-ud", 0), opts(), "--allow-downgrade", |e| matches!(e, Error::Downgrade { .. })),
        (
            {
                let mut b = make_bundle(&e, "2.0.0", "x86-ud", 0);
                let n = b.len();
                b[n - 5] ^= 1;
                b
            },
            opts(),
            "SHA-256",
            |e| matches!(e, Error::Bundle(b) if matches!(b.kind, ErrorKind::FrameHash { .. })),
        ),
        (
            {
                let mut b = make_bundle(&e, "2.0.0", "x86-ud", 0);
                b[40] ^= 1;
                b
            },
            opts(),
            "changed after signing",
            |e| matches!(e, Error::Bundle(b) if matches!(b.kind, ErrorKind::BadSignature(_))),
        ),
    ];
    for (bytes, o, why, is) in cases {
        let original = disk();
        let mut up = Updater::new(original.clone(), 512, Slot::A, e.paths.clone());
        let err = run(&mut up, &bytes, &o).unwrap_err();
        assert!(is(&err) && err.refused() && !err.touched_slot(), "{why}: {err:?}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(up.dev.0 == original.0, "the disk was changed by a refused install ({why})");
    }
    // A downgrade is allowed when asked for (the rollback index still applies).
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    let o = InstallOptions { allow_downgrade: true, ..opts() };
    run(&mut up, &make_bundle(&e, "0.9.0", "x86-ud", 0), &o).unwrap();
}

#[test]
fn an_unwritable_data_folder_refuses_before_touching_the_disk() {
    let e = env();
    let paths = Paths { state: "/proc/quill-nope".into(), ..e.paths.clone() };
    let original = disk();
    let mut up = Updater::new(original.clone(), 512, Slot::A, paths);
    let err = run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 0), &opts()).unwrap_err();
    assert!(matches!(err, Error::DataNotWritable(_)), "{err:?}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert!(up.dev.0 == original.0);
}

#[test]
fn a_power_cut_at_any_write_leaves_the_old_slot_booting() {
    let e = env();
    let bytes = make_bundle(&e, "2.0.0", "x86-ud", 0);
    // Count the writes of a whole install.
    let mut counter = Updater::new(PowerCut { inner: disk(), budget: usize::MAX }, 512, Slot::A, e.paths.clone());
    run(&mut counter, &bytes, &opts()).unwrap();
    let total = usize::MAX - counter.dev.budget;
    assert!(total > 10, "{total} writes");
    for cut in 0..=total {
        let env2 = env();
        let mut up = Updater::new(PowerCut { inner: disk(), budget: cut }, 512, Slot::A, env2.paths.clone());
        let bytes = make_bundle(&env2, "2.0.0", "x86-ud", 0);
        let result = run(&mut up, &bytes, &opts());
        // Power back: what would bootsel do with what is on the medium?
        let mut after = Updater::new(up.dev.inner.clone(), 512, Slot::A, env2.paths.clone());
        let a = after.attrs().expect("a GPT copy is always intact");
        let first = abslot::boot_plan(a[0], a[1]).first().slot;
        if result.is_ok() {
            assert_eq!(first, Slot::B, "complete install boots the new slot");
        } else if first == Slot::B {
            // Only once the flip itself reached the medium may B be chosen,
            // and then the slot holds the full, verified image.
            assert_eq!(a[1], SlotAttr::new(2, 3, false), "cut {cut}: B chosen with {}", a[1]);
            assert_eq!(after.slot_version(Slot::B).as_deref(), Some("2.0.0"), "cut {cut}");
        } else {
            assert_eq!(first, Slot::A, "cut {cut}");
            assert!(!a[1].is_bootable() || a[1] == SlotAttr::new(0, 0, false), "cut {cut}: B is {}", a[1]);
        }
        assert!(a[0].is_bootable(), "cut {cut}: A is still bootable");
    }
}

#[test]
fn three_failed_boots_roll_back_and_are_reported() {
    let e = env();
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 3), &opts()).unwrap();
    // bootsel: three unproven boots of B, each using a try; B never marks good.
    let a = up.attrs().unwrap();
    assert_eq!(abslot::boot_plan(a[0], a[1]).first().slot, Slot::B);
    fail_three_boots(&mut up);
    let a = up.attrs().unwrap();
    assert_eq!(abslot::boot_plan(a[0], a[1]).first().slot, Slot::A, "bootsel falls back");
    // The fallback boot of A detects it.
    let rb = up.boot_check().unwrap().expect("a rollback is detected");
    assert_eq!(rb.message(), "Update to 2.0.0 failed and was rolled back to 1.0.0");
    assert_eq!(up.attrs().unwrap()[1].priority(), 0, "the failed slot is out of rotation");
    assert!(up.boot_check().unwrap().is_none(), "reported once");
    let st = up.status().unwrap();
    assert_eq!(st.last_install.unwrap().result, InstallResult::RolledBack);
    assert_eq!(st.history.last().unwrap().kind, EventKind::Rollback);
    assert_eq!(st.rollback_floor, 0, "the failed version never raised the floor");
}

#[test]
fn a_healthy_boot_marks_the_slot_good_and_raises_the_floor() {
    let e = env();
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 4), &opts()).unwrap();
    let mut b = Updater::new(up.dev.clone(), 512, Slot::B, e.paths.clone());
    assert!(b.boot_check().unwrap().is_none());
    assert!(b.mark_good().unwrap().changed);
    assert!(!b.mark_good().unwrap().changed, "idempotent");
    assert_eq!(b.attrs().unwrap()[1], SlotAttr::new(2, 0, true));
    assert_eq!(b.status().unwrap().rollback_floor, 4);
    // A bundle below the floor is refused now.
    let err = run(
        &mut b,
        &make_bundle(&e, "3.0.0", "x86-ud", 3),
        &InstallOptions { running_version: "2.0.0".into(), ..opts() },
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Bundle(b) if matches!(b.kind, bundle::ErrorKind::RollbackBelowFloor { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("floor 4"), "{err}");
    // Manual rollback to the proven A, then set-active back to B.
    assert_eq!(b.rollback().unwrap(), Slot::A);
    let a = b.attrs().unwrap();
    assert_eq!(abslot::boot_plan(a[0], a[1]).first().slot, Slot::A);
    b.set_active(Slot::B).unwrap();
    let a = b.attrs().unwrap();
    assert_eq!(abslot::boot_plan(a[0], a[1]).first().slot, Slot::B);
    assert!(a[1].successful());
}

#[test]
fn rollback_to_a_never_proven_slot_is_refused() {
    let e = env();
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    let err = up.rollback().unwrap_err();
    assert!(matches!(err, Error::NeverProven { slot: Slot::B, .. }), "{err:?}");
    assert!(err.to_string().contains("never proven"), "{err}");
}

/// A medium that silently changes one byte of what is written at `at`.
struct Corrupting {
    inner: MemDevice,
    at: u64,
}

impl BlockDevice for Corrupting {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let mut data = buf.to_vec();
        if (offset..offset + buf.len() as u64).contains(&self.at) {
            data[(self.at - offset) as usize] ^= 0x40;
        }
        self.inner.write_at(offset, &data)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_medium_that_does_not_keep_what_was_written_fails_the_readback() {
    let e = env();
    let bytes = make_bundle(&e, "2.0.0", "x86-ud", 0);
    let b_start = {
        let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
        let mut v = blockdev::GptView { dev: &mut up.dev, block_size: 512 };
        gptedit::Gpt::load(&mut v).unwrap().find_by_name("SYSTEM_B").unwrap().first_lba * 512
    };
    // Inside the data at the start of the slot, and deep in its empty space
    // (a chunk identical to the ones before it, compared without hashing).
    for at in [b_start + 3 * 1024, b_start + SLOT - 4096] {
        let mut up = Updater::new(Corrupting { inner: disk(), at }, 512, Slot::A, e.paths.clone());
        let err = run(&mut up, &bytes, &opts()).unwrap_err();
        assert!(matches!(err, Error::Failed { slot: Slot::B, cause: WriteFailure::Mismatch { .. } }), "{err:?}");
        assert!(err.to_string().contains("differs on readback"), "{err}");
        let a = up.attrs().unwrap();
        assert_eq!(a[1], SlotAttr::new(0, 0, false), "B stays unbootable");
        assert_eq!(a[0], SlotAttr::new(1, 0, true));
    }
}

#[test]
fn a_bundle_that_changes_or_ends_during_the_install_fails_it_cleanly() {
    let e = env();
    let good = make_bundle(&e, "2.0.0", "x86-ud", 0);
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 100] ^= 1;
    let truncated = good[..n - 5000].to_vec();
    for (second, what) in [(&flipped, "ChunkHash/FrameHash"), (&truncated, "truncated")] {
        let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
        // The first pass (frame check) sees the good bundle; the install pass
        // another one, as when a stick is swapped or fails mid-read.
        let mut calls = 0;
        let mut open = || {
            calls += 1;
            Ok(if calls == 1 { &good[..] } else { &second[..] })
        };
        let err = install(&mut up, "t.qbundle", &mut open, &opts(), &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Failed { cause: WriteFailure::BundleChanged(_) | WriteFailure::BundleRead { .. }, .. }
            ),
            "{what}: {err:?}"
        );
        assert!(err.touched_slot());
        let a = up.attrs().unwrap();
        assert_eq!(a[1], SlotAttr::new(0, 0, false), "{what}: B stays unbootable");
        assert_eq!(a[0], SlotAttr::new(1, 0, true), "{what}: A untouched");
        let result = up.status().unwrap().last_install.unwrap().result;
        assert!(matches!(result, InstallResult::Failed { .. }), "{what}: {result:?}");
    }
}

#[test]
fn a_rollback_of_an_install_recorded_after_a_power_cut_shows_in_status() {
    let e = env();
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    run(&mut up, &make_bundle(&e, "2.0.0", "x86-ud", 0), &opts()).unwrap();
    // The power went out right after the flip: DATA still holds the record
    // written before the disk was touched.
    let path = updater::state::State::path(&e.paths.state);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(r#""result": "ok""#, r#""result": "in-progress""#)).unwrap();
    // B boots once (its boot-check settles the record), then fails its tries.
    let mut b = Updater::new(up.dev.clone(), 512, Slot::B, e.paths.clone());
    b.boot_check().unwrap();
    assert_eq!(b.status().unwrap().last_install.unwrap().result, InstallResult::CompletedUnrecorded);
    let mut a = Updater::new(b.dev.clone(), 512, Slot::A, e.paths.clone());
    fail_three_boots(&mut a);
    a.boot_check().unwrap().expect("the rollback is detected");
    assert_eq!(a.status().unwrap().last_install.unwrap().result, InstallResult::RolledBack);
}

/// The installer does not hash decoded chunks (only their frames); the
/// read-back compares them with the signed hashes before the flip. A
/// validly signed manifest whose chunk hash does not describe its frame's
/// content (a broken build tool) must therefore still fail there.
#[test]
fn a_signed_chunk_hash_that_does_not_match_its_frame_fails_before_the_flip() {
    let e = env();
    let good = make_bundle(&e, "2.0.0", "x86-ud", 0);
    let (m, _) = bundle::inspect("b", &good[..]).unwrap();
    let wrong = m.payloads[0].chunks[0].data_sha256;
    let at = good.windows(32).position(|w| w == wrong).unwrap();
    let mut bad = good.clone();
    bad[at] ^= 1;
    let mut signed = Vec::new();
    bundle::add_signature("b", &mut &bad[..], &mut signed, &e.key).unwrap();
    let mut up = Updater::new(disk(), 512, Slot::A, e.paths.clone());
    let err = run(&mut up, &signed, &opts()).unwrap_err();
    assert!(matches!(err, Error::Failed { slot: Slot::B, cause: WriteFailure::Mismatch { at: 0 } }), "{err:?}");
    let a = up.attrs().unwrap();
    assert_eq!(a[1], SlotAttr::new(0, 0, false), "B stays unbootable");
    assert_eq!(a[0], SlotAttr::new(1, 0, true));
}
