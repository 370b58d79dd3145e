//! Power cuts during an install, and a tampered bundle: the next boot always
//! comes up, `fwupdate status` is consistent with the disk (`cgpt`), and a
//! refused bundle changes not one byte of the slot.

use quill_e2e::{fat_stick, flows, mount_stick, or_log, ready_shell, sh, test_bundle, Target, TestDisk};
use std::time::Duration;

fn stick_with(dir: &std::path::Path, bundle: &std::path::Path) -> std::path::PathBuf {
    let stick = dir.join("stick.img");
    fat_stick(&stick, 64, &[("quill-x86-ud-2.0.0.qbundle", bundle)]).unwrap();
    stick
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn power_cut_early_in_an_install() {
    flows::power_cut(&Target::main(), "early", "Early", false);
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn power_cut_in_the_middle_of_an_install() {
    flows::power_cut(&Target::main(), "middle", "Middle", false);
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn power_cut_right_before_the_flip() {
    flows::power_cut(&Target::main(), "before-flip", "BeforeFlip", false);
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn power_cut_right_after_the_flip() {
    flows::power_cut(&Target::main(), "after-flip", "AfterFlip", true);
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn a_tampered_bundle_is_refused_and_not_one_byte_reaches_the_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(test_bundle("2.0.0")).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x20; // somewhere in the payload
    let bad = dir.path().join("bad.qbundle");
    std::fs::write(&bad, &bytes).unwrap();
    let stick = stick_with(dir.path(), &bad);
    let disk = TestDisk::new().unwrap();
    let slot_b = dir.path().join("b-before");
    disk.extract("SYSTEM_B", &slot_b).unwrap();
    let mut vm = disk.boot_with_sticks(&[&stick]).unwrap();
    let r = (|| -> anyhow::Result<()> {
        ready_shell(&mut vm)?;
        mount_stick(&mut vm)?;
        let out = sh(&mut vm, "fwupdate install --yes /mnt/stick/quill-x86-ud-2.0.0.qbundle")?;
        anyhow::ensure!(
            out.contains("SHA-256") && out.contains("end-42-3"),
            "refused with the reason and exit code 3: {out}"
        );
        vm.type_serial("poweroff\n")?;
        vm.wait_exit(Duration::from_secs(60))?;
        Ok(())
    })();
    or_log("tampered", &vm, r);
    drop(vm);
    let slot_b_after = dir.path().join("b-after");
    disk.extract("SYSTEM_B", &slot_b_after).unwrap();
    assert!(std::fs::read(&slot_b).unwrap() == std::fs::read(&slot_b_after).unwrap(), "slot B changed");
    assert_eq!(disk.cgpt_state(3).unwrap(), (0, 0, false));
}

/// Power cuts at random moments (QMP quit) during installs, first boots of
/// the new slot and mark-good: `QUILL_POWER_CUTS` of them (3 in CI;
/// `cargo xtask bench --power-cuts N` runs more), from seed
/// `QUILL_POWER_CUT_SEED` (printed, to repeat a run).
#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn random_power_cuts_leave_a_bootable_device() {
    let n = std::env::var("QUILL_POWER_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seed = std::env::var("QUILL_POWER_CUT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("power cuts: {n}, seed {seed} (QUILL_POWER_CUT_SEED={seed} repeats them)");
    let tally = quill_e2e::powercut::campaign(&test_bundle("2.0.0"), 1, n, seed).unwrap();
    // The bench reads this line.
    println!("{}", tally.line());
    assert!(tally.clean(), "{}\n{}", tally.line(), tally.notes.join("\n"));
}
