//! Every state a power cut can leave during Quill's writes, booted as the
//! next boot would (the boot selector's choice and its used-up try,
//! boot-check, the updater's state and trust record, the settings and the
//! administrator password) and judged:
//!
//! - a complete slot boots, and it is the old one unless the new one was
//!   written and read back in full;
//! - the rollback floor never goes down, and a proven slot is never below
//!   it; the trust evidence is readable or repairable without forgetting;
//! - the boot history is never lost;
//! - the settings are old or new, never torn or lost; the administrator
//!   password is old or new, never damaged; a factory reset never leaves a
//!   set-up device without its password.
//!
//! Each campaign prints how many crash states it checked.

use abslot::Slot;
use blockdev::{BlockDevice, MemDevice};
use crashsim::{record, CrashDevice, CrashState, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use updater::{install, InstallOptions, Paths, Updater};

/// Random subsets of the pending writes tried at every cut.
const SUBSETS: u64 = 40;

struct Env {
    _t: tempfile::TempDir,
    keys: PathBuf,
    data: PathBuf,
    key: bundle::SecretKey,
}

fn env() -> Env {
    let t = tempfile::tempdir().unwrap();
    let key = bundle::SecretKey::from_seed(&[5; 32]);
    key.write_pair(&t.path().join("keys"), "k").unwrap();
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A set-up device: settings and an administrator password on DATA.
    let settings = devconfig::Settings { setup_done: true, ..devconfig::Settings::default() };
    devconfig::Store::new(&data).save(&settings).unwrap();
    adminlock::set_password(&data, "old password").unwrap();
    Env { keys: t.path().join("keys"), data, key, _t: t }
}

impl Env {
    fn paths(&self, data: &Path) -> Paths {
        Paths { keyring: self.keys.clone(), state: data.to_path_buf() }
    }
    fn bundle(&self, version: &str, rollback_index: u64) -> Vec<u8> {
        testkit::fixtures::bundle(version, "x86-ud", rollback_index, &self.key, vec![], 1)
    }
}

fn opts() -> InstallOptions {
    InstallOptions { board: "x86-ud".into(), running_version: "1.0.0".into(), ..Default::default() }
}

/// Where a slot's bytes are on the fixture disk.
fn slot_range(disk: &mut MemDevice, slot: Slot) -> (u64, u64) {
    let t = abctl::SlotTable::load(disk, 512).unwrap();
    let p = t.partition(slot);
    (p.first_lba * 512, (p.last_lba + 1 - p.first_lba) * 512)
}

/// What the device looked like before an operation, to judge the states.
struct Before {
    floor: u64,
    history: usize,
    settings: Vec<u8>,
    password: Vec<u8>,
}

fn before(e: &Env, disk: &MemDevice, booted: Slot) -> Before {
    let mut up = Updater::new(disk.clone(), 512, booted, e.paths(&e.data));
    let st = up.status().unwrap();
    let files = crashsim::read_files(&e.data);
    Before {
        floor: st.rollback_floor,
        history: st.history.len(),
        settings: files.get(devconfig::FILE_NAME).cloned().unwrap_or_default(),
        password: files.get(adminlock::FILE).cloned().unwrap_or_default(),
    }
}

/// What the states are checked against.
struct Judge<'a> {
    run: &'a Run,
    before: Before,
    /// Per slot: its range and the sectors the run wrote in it.
    slots: [(u64, u64, Vec<u64>); 2],
    /// The settings and password files a state may hold (old or new).
    settings_ok: Vec<Vec<u8>>,
    password_ok: Vec<Vec<u8>>,
}

impl<'a> Judge<'a> {
    fn new(run: &'a Run, before: Before) -> Judge<'a> {
        let mut disk = MemDevice(run.before.as_ref().clone());
        let slots = Slot::ALL.map(|s| {
            let (start, len) = slot_range(&mut disk, s);
            (start, len, run.touched(start, len))
        });
        let after = run.files_after();
        let settings_ok = vec![before.settings.clone(), after.get(devconfig::FILE_NAME).cloned().unwrap_or_default()];
        let password_ok = vec![before.password.clone(), after.get(adminlock::FILE).cloned().unwrap_or_default()];
        Judge { run, before, slots, settings_ok, password_ok }
    }

    /// A slot is complete when it holds what it held before the run (it was
    /// not written) or all that the run wrote into it.
    fn complete(&self, dev: &mut CrashDevice, slot: Slot) -> Result<bool, String> {
        let (_, _, touched) = &self.slots[slot.index()];
        if touched.is_empty() {
            return Ok(true);
        }
        crashsim::same_pages(dev, &self.run.after, touched).map_err(|e| e.to_string())
    }

    /// Boots the state as the next boot would and judges it; returns the
    /// slot it booted and the updater's view after boot-check.
    fn boot(&self, e: &Env, s: &mut CrashState, dir: &Path) -> Result<(Slot, updater::Status), String> {
        // The boot selector: its choice, then the try it uses up.
        let mut t = abctl::SlotTable::load(&mut s.dev, 512).map_err(|e| format!("no usable slot table: {e}"))?;
        let plan = abslot::boot_plan(t.attr(Slot::A), t.attr(Slot::B));
        let slot = plan.first().slot;
        if !self.complete(&mut s.dev, slot)? {
            return Err(format!("slot {slot} boots but is not complete ({plan:?})"));
        }
        let tried = abslot::on_boot_attempt(t.attr(slot));
        if tried != t.attr(slot) {
            t.set(slot, tried);
            t.write(&mut s.dev).map_err(|e| format!("bootsel's write: {e}"))?;
        }
        // init: boot-check, then what fwupdate status reads.
        let mut up = Updater::new(&mut s.dev, 512, slot, e.paths(dir));
        up.boot_check().map_err(|e| format!("boot-check: {e}"))?;
        let mut st = up.status().map_err(|e| format!("status: {e}"))?;
        if st.trust != "ok" {
            up.repair_state(false).map_err(|err| format!("trust state lost ({}): {err}", st.trust))?;
            st = up.status().map_err(|e| format!("status after repair: {e}"))?;
        }
        if st.rollback_floor < self.before.floor {
            return Err(format!("rollback floor went down: {} -> {}", self.before.floor, st.rollback_floor));
        }
        if st.history.len() < self.before.history {
            return Err(format!("boot history lost: {} -> {} events", self.before.history, st.history.len()));
        }
        self.files(s)?;
        Ok((slot, st))
    }

    fn files(&self, s: &CrashState) -> Result<(), String> {
        let settings = s.files.get(devconfig::FILE_NAME).cloned().unwrap_or_default();
        if !self.settings_ok.contains(&settings) {
            return Err(format!("settings torn or lost: {:?}", String::from_utf8_lossy(&settings)));
        }
        let password = s.files.get(adminlock::FILE).cloned().unwrap_or_default();
        if !self.password_ok.contains(&password) {
            return Err("administrator password torn or lost".into());
        }
        Ok(())
    }
}

fn report(name: &str, run: &Run, states: usize) -> usize {
    eprintln!("crash states checked: {states:>6}  {name} ({})", run.summary());
    states
}

/// The device of the install campaign after the install, and its files.
fn installed(e: &Env) -> (MemDevice, BTreeMap<String, Vec<u8>>) {
    let mut up = Updater::new(testkit::fixtures::disk(), 512, Slot::A, e.paths(&e.data));
    let b = e.bundle("2.0.0", 3);
    install(&mut up, "b", &mut || Ok(&b[..]), &opts(), &mut |_| {}).unwrap();
    (up.dev, crashsim::read_files(&e.data))
}

fn put_files(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (n, d) in files {
        std::fs::write(dir.join(n), d).unwrap();
    }
}

fn install_into_the_other_slot() -> usize {
    let e = env();
    let disk = testkit::fixtures::disk();
    let b = before(&e, &disk, Slot::A);
    let bundle = e.bundle("2.0.0", 3);
    install_campaign(&e, &disk, b, Slot::A, &bundle, &opts(), "install")
}

fn mark_good_after_the_first_boot_of_the_new_slot() -> usize {
    let e = env();
    let (disk, files) = installed(&e);
    put_files(&e.data, &files);
    // bootsel used one try of B.
    let mut disk = disk;
    let mut t = abctl::SlotTable::load(&mut disk, 512).unwrap();
    t.set(Slot::B, abslot::on_boot_attempt(t.attr(Slot::B)));
    t.write(&mut disk).unwrap();
    let b = before(&e, &disk, Slot::B);
    let (run, r) = record(&disk, &e.data, |dev| {
        let mut up = Updater::new(dev, 512, Slot::B, e.paths(&e.data));
        let r = up.mark_good();
        (up.dev, r)
    });
    r.unwrap();
    let judge = Judge::new(&run, b);
    let n = run
        .check_states(SUBSETS, |s, dir| {
            let (slot, st) = judge.boot(&e, s, dir)?;
            let proven = st.slots[Slot::B.index()].successful;
            if slot == Slot::B && proven && st.rollback_floor < 3 {
                return Err(format!("B is proven with the rollback floor at {}", st.rollback_floor));
            }
            Ok(())
        })
        .unwrap();
    report("mark-good", &run, n)
}

fn boot_check_after_a_rollback() -> usize {
    let e = env();
    let (mut disk, files) = installed(&e);
    put_files(&e.data, &files);
    // Three boots of B that never passed their health check.
    for _ in 0..3 {
        let mut t = abctl::SlotTable::load(&mut disk, 512).unwrap();
        t.set(Slot::B, abslot::on_boot_attempt(t.attr(Slot::B)));
        t.write(&mut disk).unwrap();
    }
    let b = before(&e, &disk, Slot::A);
    let (run, r) = record(&disk, &e.data, |dev| {
        let mut up = Updater::new(dev, 512, Slot::A, e.paths(&e.data));
        let r = up.boot_check();
        (up.dev, r)
    });
    assert!(r.unwrap().is_some(), "the rollback was detected");
    let judge = Judge::new(&run, b);
    let n = run
        .check_states(SUBSETS, |s, dir| {
            let (slot, st) = judge.boot(&e, s, dir)?;
            if slot != Slot::A {
                return Err(format!("slot {slot} boots after B failed three times"));
            }
            let rollbacks = st.history.iter().filter(|ev| ev.kind == updater::state::EventKind::Rollback).count();
            if rollbacks == 0 {
                return Err("the rollback is not in the history after the next boot-check".into());
            }
            Ok(())
        })
        .unwrap();
    report("boot-check after a rollback", &run, n)
}

/// A device where B (2.0.0, rollback index 3) is proven and running.
fn both_proven(e: &Env) -> MemDevice {
    let (mut disk, files) = installed(e);
    put_files(&e.data, &files);
    let mut t = abctl::SlotTable::load(&mut disk, 512).unwrap();
    t.set(Slot::B, abslot::on_boot_attempt(t.attr(Slot::B)));
    t.write(&mut disk).unwrap();
    let mut up = Updater::new(disk, 512, Slot::B, e.paths(&e.data));
    up.mark_good().unwrap();
    up.dev
}

fn the_next_update_over_the_old_slot() -> usize {
    // B (2.0.0) proven and running; 3.0.0 goes into A over 1.0.0.
    let e = env();
    let disk = both_proven(&e);
    let b = before(&e, &disk, Slot::B);
    let bundle = testkit::fixtures::bundle("3.0.0", "x86-ud", 4, &e.key, vec![], 3);
    let o = InstallOptions { running_version: "2.0.0".into(), ..opts() };
    install_campaign(&e, &disk, b, Slot::B, &bundle, &o, "install over the old slot")
}

/// Records an install of `bundle` while `booted` runs and boots every crash
/// state of it; some state must boot the new slot (the flip was reached).
fn install_campaign(
    e: &Env,
    disk: &MemDevice,
    b: Before,
    booted: Slot,
    bundle: &[u8],
    o: &InstallOptions,
    name: &str,
) -> usize {
    let (run, r) = record(disk, &e.data, |dev| {
        let mut up = Updater::new(dev, 512, booted, e.paths(&e.data));
        let r = install(&mut up, "b", &mut || Ok(bundle), o, &mut |_| {});
        (up.dev, r)
    });
    r.unwrap();
    let judge = Judge::new(&run, b);
    let mut new_booted = 0;
    let n = run
        .check_states(SUBSETS, |s, dir| {
            let (slot, _) = judge.boot(e, s, dir)?;
            new_booted += usize::from(slot == booted.other());
            Ok(())
        })
        .unwrap();
    assert!(new_booted > 0, "{name}: no state booted the new slot: the campaign did not reach the flip");
    report(name, &run, n)
}

fn set_active_and_rollback() -> usize {
    let mut total = 0;
    for op in ["set-active a", "rollback"] {
        let e = env();
        let disk = both_proven(&e);
        let b = before(&e, &disk, Slot::B);
        let (run, r) = record(&disk, &e.data, |dev| {
            let mut up = Updater::new(dev, 512, Slot::B, e.paths(&e.data));
            let r = if op == "rollback" { up.rollback().map(|_| ()) } else { up.set_active(Slot::A) };
            (up.dev, r)
        });
        // Going back below the floor is refused: nothing to crash then.
        if let Err(err) = r {
            eprintln!("{op}: refused ({err}); its refusal wrote {}", run.summary());
            assert!(run.ops.iter().all(|o| !matches!(o, crashsim::Op::Write { .. })), "{op} wrote before refusing");
            continue;
        }
        let judge = Judge::new(&run, b);
        let n = run.check_states(SUBSETS, |s, dir| judge.boot(&e, s, dir).map(|_| ())).unwrap();
        total += report(op, &run, n);
    }
    total
}

fn flash_onto_an_empty_disk() -> usize {
    let e = env();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.img");
    std::fs::write(&image, &testkit::fixtures::disk().0).unwrap();
    let size = 160 << 20;
    let (plan, _) = flash::plan_image(&image, size, true).unwrap();
    let target = MemDevice(vec![0u8; size as usize]);
    let (run, r) = record(&target, &e.data, |mut dev| {
        let r = flash::write_disk(&mut dev, plan, &mut |_| {});
        (dev, r)
    });
    r.unwrap();
    let mut after = MemDevice(run.after.clone());
    let (a_start, a_len) = slot_range(&mut after, Slot::A);
    let a_touched = run.touched(a_start, a_len);
    let mut bootable = 0;
    let n = run
        .check_states(SUBSETS, |s, _| {
            // A disk whose table is not complete yet boots nothing: fine,
            // it never held Quill. One that boots must boot all of slot A.
            let Ok(t) = abctl::SlotTable::load(&mut s.dev, 512) else { return Ok(()) };
            let plan = abslot::boot_plan(t.attr(Slot::A), t.attr(Slot::B));
            if !t.attr(plan.first().slot).is_bootable() {
                return Ok(());
            }
            bootable += 1;
            if plan.first().slot != Slot::A {
                return Err(format!("the new disk boots slot {}", plan.first().slot));
            }
            match crashsim::same_pages(&mut s.dev, &run.after, &a_touched) {
                Ok(true) => Ok(()),
                _ => Err("the new disk boots a slot A that is not complete".into()),
            }
        })
        .unwrap();
    assert!(bootable > 0, "no state had a bootable table: the campaign did not reach the end");
    report("flash / install-to-disk", &run, n)
}

/// Settings, password and factory reset: the files alone.
fn file_campaign(
    name: &str,
    op: impl FnOnce(&Path),
    judge: impl Fn(&BTreeMap<String, Vec<u8>>) -> Result<(), String>,
) -> usize {
    let e = env();
    let disk = MemDevice(vec![0u8; 4096]);
    let (run, ()) = record(&disk, &e.data, |dev| {
        op(&e.data);
        (dev, ())
    });
    let n = run.check_states(SUBSETS, |s, _| judge(&s.files)).unwrap();
    report(name, &run, n)
}

fn the_settings_the_password_and_the_factory_reset() -> usize {
    let e = env();
    let old_settings = std::fs::read(e.data.join(devconfig::FILE_NAME)).unwrap();
    let new = devconfig::Settings { setup_done: true, language: "de".into(), ..devconfig::Settings::default() };
    let new_settings = new.to_text().unwrap().into_bytes();
    let mut total = file_campaign(
        "settings write",
        |d| devconfig::Store::new(d).save(&new).unwrap(),
        |f| match f.get(devconfig::FILE_NAME) {
            Some(s) if *s == old_settings || *s == new_settings => Ok(()),
            other => Err(format!("settings torn or lost: {other:?}")),
        },
    );
    total += file_campaign(
        "administrator password write",
        |d| adminlock::set_password(d, "new password").unwrap(),
        |f| {
            let t = tempfile::tempdir().unwrap();
            if let Some(p) = f.get(adminlock::FILE) {
                std::fs::write(t.path().join(adminlock::FILE), p).unwrap();
            }
            let lock = adminlock::Lock::read(t.path());
            match (lock.verify("old password"), lock.verify("new password")) {
                (adminlock::Verdict::Right, _) | (_, adminlock::Verdict::Right)
                    if matches!(lock, adminlock::Lock::Set(_)) =>
                {
                    Ok(())
                }
                _ => Err(format!("the password is neither the old nor the new one: {lock:?}")),
            }
        },
    );
    total += file_campaign(
        "factory reset",
        |d| {
            adminlock::factory_reset(d).unwrap();
        },
        |f| {
            if f.contains_key(devconfig::FILE_NAME) && !f.contains_key(adminlock::FILE) {
                return Err("a set-up device without its administrator password".into());
            }
            Ok(())
        },
    );
    total
}

#[test]
fn the_campaigns_check_enough_states() {
    // The total is printed per campaign; this checks the simulator counts
    // every fate of a run with pending writes at every cut.
    let e = env();
    let (run, ()) = record(&MemDevice(vec![0u8; 1 << 20]), &e.data, |mut dev| {
        for i in 0..10u64 {
            dev.write_at(i * 8192, &[i as u8; 8192]).unwrap();
        }
        dev.flush().unwrap();
        (dev, ())
    });
    let n = run.check_states(SUBSETS, |_, _| Ok(())).unwrap();
    // Cut 0: 1 state; cuts 1..=10: lost, kept, subsets, torn; cut 11: 1.
    assert_eq!(n, 1 + 10 * (3 + SUBSETS as usize) + 1);
}

/// An install that stopped half-way (the bundle ended), then the next try:
/// it writes over what the first one left in the target slot.
fn install_after_an_interrupted_one() -> usize {
    let e = env();
    let mut up = Updater::new(testkit::fixtures::disk(), 512, Slot::A, e.paths(&e.data));
    let bundle = e.bundle("2.0.0", 3);
    let cut = &bundle[..bundle.len() * 2 / 3];
    assert!(install(&mut up, "b", &mut || Ok(cut), &opts(), &mut |_| {}).is_err());
    let disk = up.dev;
    let b = before(&e, &disk, Slot::A);
    let (run, r) = record(&disk, &e.data, |dev| {
        let mut up = Updater::new(dev, 512, Slot::A, e.paths(&e.data));
        let r = install(&mut up, "b", &mut || Ok(&bundle[..]), &opts(), &mut |_| {});
        (up.dev, r)
    });
    r.unwrap();
    let judge = Judge::new(&run, b);
    let n = run.check_states(SUBSETS, |s, dir| judge.boot(&e, s, dir).map(|_| ())).unwrap();
    report("install after an interrupted one", &run, n)
}

/// Every campaign, on two threads; the total is the figure the issue asks
/// for (at least 10,000 crash states per run).
#[test]
fn every_write_of_quill_survives_a_power_cut_at_any_moment() {
    type Campaign = fn() -> usize;
    let campaigns: [Campaign; 8] = [
        flash_onto_an_empty_disk,
        install_into_the_other_slot,
        the_next_update_over_the_old_slot,
        install_after_an_interrupted_one,
        mark_good_after_the_first_boot_of_the_new_slot,
        boot_check_after_a_rollback,
        set_active_and_rollback,
        the_settings_the_password_and_the_factory_reset,
    ];
    let started = std::time::Instant::now();
    let (a, b): (Vec<Campaign>, Vec<Campaign>) =
        (campaigns.iter().step_by(2).copied().collect(), campaigns.iter().skip(1).step_by(2).copied().collect());
    let total: usize = std::thread::scope(|s| {
        let h = s.spawn(move || a.iter().map(|f| f()).sum::<usize>());
        b.iter().map(|f| f()).sum::<usize>() + h.join().unwrap()
    });
    eprintln!("crash states checked: {total:>6}  in all, in {:.1} s", started.elapsed().as_secs_f64());
    assert!(total >= 10_000, "only {total} crash states were checked");
}

/// The simulation is not vacuous: an installer that flips the slots
/// before the image is on the disk is caught.
#[test]
fn a_flip_before_the_image_is_written_is_caught() {
    let e = env();
    let disk = testkit::fixtures::disk();
    let image = testkit::fixtures::slot_image("2.0.0", 1);
    let b = before(&e, &disk, Slot::A);
    let (run, ()) = record(&disk, &e.data, |mut dev| {
        let (start, _) = slot_range(&mut dev.dev, Slot::B);
        // Wrong: the flip first (abctl writes and flushes both copies).
        let mut t = abctl::SlotTable::load(&mut dev, 512).unwrap();
        t.after_install(Slot::B);
        t.write(&mut dev).unwrap();
        dev.write_at(start, &image).unwrap();
        dev.flush().unwrap();
        (dev, ())
    });
    let judge = Judge::new(&run, b);
    let err = run.check_states(SUBSETS, |s, dir| judge.boot(&e, s, dir).map(|_| ())).unwrap_err();
    assert!(err.contains("slot B boots but is not complete"), "{err}");
}
