//! The A/B updater end to end under QEMU: install 2.0.0 from a USB stick
//! on the console, reboot into it and see it proven; install a 3.0.0 whose
//! health check fails, see three tries and the rollback to 2.0.0 reported;
//! `cgpt show` agrees with `fwupdate status` at every step.

use quill_e2e::{boot_ready, fat_stick, mount_stick, or_log, poweroff, sh, test_bundle, TestDisk, BOOT_TIMEOUT};
use std::time::Duration;

/// `fwupdate status` on the device must agree with `cgpt show` on the disk.
fn status_line(out: &str, slot: char) -> String {
    out.lines().find(|l| l.starts_with(&format!("slot {}:", slot.to_ascii_uppercase()))).unwrap_or("").to_string()
}

fn agrees(line: &str, (p, t, s): (u8, u8, bool)) -> bool {
    line.contains(&format!("priority={p} tries={t} successful={}", s as u8))
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn install_from_a_stick_prove_it_then_a_failing_update_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let stick = dir.path().join("stick.img");
    fat_stick(
        &stick,
        64,
        &[
            ("quill-x86-ud-2.0.0.qbundle", &test_bundle("2.0.0")),
            ("quill-x86-ud-3.0.0.qbundle", &test_bundle("3.0.0-failhealth")),
        ],
    )
    .unwrap();
    let disk = TestDisk::new().unwrap();

    // 1. v1 (0.1.0) from slot A installs 2.0.0 from the stick into B.
    let mut vm = disk.boot_with_sticks(&[&stick]).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        mount_stick(&mut vm)?;
        let out = sh(&mut vm, "fwupdate install --yes /mnt/stick/quill-x86-ud-2.0.0.qbundle")?;
        anyhow::ensure!(out.contains("installed 2.0.0 into slot B") && out.contains("end-42-0"), "{out}");
        anyhow::ensure!(out.contains("MiB/s"), "progress with MiB/s is shown: {out}");
        let st = sh(&mut vm, "fwupdate status")?;
        anyhow::ensure!(st.contains("next boot: B"), "{st}");
        anyhow::ensure!(agrees(&status_line(&st, 'b'), (2, 3, false)), "{st}");
        poweroff(&mut vm)
    })();
    or_log("update-install-2", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 3, false), "cgpt after installing 2.0.0");
    assert_eq!(disk.cgpt_state(2).unwrap(), (1, 0, true));

    // 2. 2.0.0 boots from B, passes its health check and is marked good.
    let mut vm = disk.boot_with_sticks(&[&stick]).unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("bootsel: slot B is unproven: tries 3 -> 2", BOOT_TIMEOUT)?;
        boot_ready(&mut vm, 'b', "2.0.0")?;
        vm.wait_for("health check passed", Duration::from_secs(60))?;
        vm.wait_for("marked good", Duration::from_secs(30))?;
        let st = sh(&mut vm, "fwupdate status")?;
        anyhow::ensure!(agrees(&status_line(&st, 'b'), (2, 0, true)), "{st}");
        anyhow::ensure!(status_line(&st, 'b').contains("2.0.0"), "{st}");
        anyhow::ensure!(st.contains("rollback floor: 1"), "the proven 2.0.0 raised the floor: {st}");
        // 3. Install the 3.0.0 whose health check fails, into A.
        mount_stick(&mut vm)?;
        let out = sh(&mut vm, "fwupdate install --yes /mnt/stick/quill-x86-ud-3.0.0.qbundle")?;
        anyhow::ensure!(out.contains("installed 3.0.0 into slot A"), "{out}");
        poweroff(&mut vm)
    })();
    or_log("update-prove-2", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 0, true), "cgpt: 2.0.0 proven");
    assert_eq!(disk.cgpt_state(2).unwrap(), (3, 3, false), "cgpt: 3.0.0 pending");

    // 4. Three boots of 3.0.0, each failing its health check and rebooting.
    for tries_left in [2u8, 1, 0] {
        let mut vm = disk.boot().unwrap();
        let r = (|| -> anyhow::Result<()> {
            vm.wait_for(
                &format!("bootsel: slot A is unproven: tries {} -> {tries_left}", tries_left + 1),
                BOOT_TIMEOUT,
            )?;
            boot_ready(&mut vm, 'a', "3.0.0")?;
            vm.wait_for("health check failed", Duration::from_secs(60))?;
            vm.wait_for("rebooting", Duration::from_secs(60))?;
            vm.wait_exit(Duration::from_secs(60))?;
            Ok(())
        })();
        or_log("update-failing-3", &vm, r);
        drop(vm);
        assert_eq!(disk.cgpt_state(2).unwrap(), (3, tries_left, false));
    }

    // 5. The boot selector falls back to B; 2.0.0 reports the rollback.
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("bootsel: choosing slot B", BOOT_TIMEOUT)?;
        let msg = vm.wait_for("failed and was rolled back", BOOT_TIMEOUT)?;
        anyhow::ensure!(msg.contains("Update to 3.0.0 failed and was rolled back to 2.0.0"), "{msg}");
        boot_ready(&mut vm, 'b', "2.0.0")?;
        let st = sh(&mut vm, "fwupdate status")?;
        anyhow::ensure!(st.contains("Update to 3.0.0 failed and was rolled back to 2.0.0"), "{st}");
        anyhow::ensure!(agrees(&status_line(&st, 'a'), (0, 0, false)), "{st}");
        anyhow::ensure!(st.contains("rolled back"), "{st}");
        poweroff(&mut vm)
    })();
    or_log("update-rolled-back", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(2).unwrap(), (0, 0, false), "cgpt: the failed slot is out of rotation");
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 0, true));
}
