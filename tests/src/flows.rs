//! Update flows the x86 and the Raspberry Pi images share, run by
//! tests/tests/update.rs and powercut.rs (x86) and rpi4.rs (the Pi): the
//! same A/B rules on every board, checked the same way.

use crate::{
    boot_ready, fat_stick, mount_stick, or_log, poweroff, ready_shell, save_log, sh, Target, TestDisk, BOOT_TIMEOUT,
};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

/// `fwupdate status` on the device must agree with `cgpt show` on the disk.
fn status_line(out: &str, slot: char) -> String {
    out.lines().find(|l| l.starts_with(&format!("slot {}:", slot.to_ascii_uppercase()))).unwrap_or("").to_string()
}

fn agrees(line: &str, (p, t, s): (u8, u8, bool)) -> bool {
    line.contains(&format!("priority={p} tries={t} successful={}", s as u8))
}

/// A small signed bundle for `board` (a 3 MiB image), as fwupdate.rs makes.
fn foreign_bundle(board: &str, to: &std::path::Path) -> anyhow::Result<()> {
    let img: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut b = bundle::Builder::new(board, "9.9.9");
    b.level = 3;
    b.payloads.push((bundle::Target::SlotImage, img));
    let mut bytes = Vec::new();
    b.write("foreign", &mut bytes, &[&crate::dev_key()])?;
    std::fs::write(to, &bytes)?;
    Ok(())
}

/// Installs 2.0.0 from a USB stick on the console, reboots into it and sees
/// it proven; installs a 3.0.0 whose health check fails, sees three tries
/// and the rollback to 2.0.0 reported; `cgpt show` agrees with `fwupdate
/// status` at every step.
pub fn update_then_rollback(t: &Target) {
    let dir = tempfile::tempdir().unwrap();
    let stick = dir.path().join("stick.img");
    // A bundle for the other board, signed with the trusted key: refused
    // for its board before a byte is written.
    let other = if t.board == "rpi4" { "x86-ud" } else { "rpi4" };
    let foreign = dir.path().join("foreign.qbundle");
    foreign_bundle(other, &foreign).unwrap();
    fat_stick(
        &stick,
        64,
        &[
            (t.bundle_name("2.0.0").as_str(), &t.bundle("2.0.0")),
            (t.bundle_name("3.0.0").as_str(), &t.bundle("3.0.0-failhealth")),
            ("other.qbundle", &foreign),
        ],
    )
    .unwrap();
    let disk = TestDisk::set_up_for(t).unwrap();

    // 1. v1 (0.1.0) from slot A installs 2.0.0 from the stick into B.
    let mut vm = disk.boot_with_sticks(&[&stick]).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        mount_stick(&mut vm)?;
        let out = sh(&mut vm, "fwupdate install --yes /mnt/stick/other.qbundle")?;
        anyhow::ensure!(
            out.contains(&format!("this device is {}", t.board)) && out.contains("end-42-3"),
            "a bundle for {other} is refused with exit code 3: {out}"
        );
        anyhow::ensure!(agrees(&status_line(&sh(&mut vm, "fwupdate status")?, 'b'), (0, 0, false)));
        let out = sh(&mut vm, &format!("fwupdate install --yes /mnt/stick/{}", t.bundle_name("2.0.0")))?;
        anyhow::ensure!(out.contains("installed 2.0.0 into slot B") && out.contains("end-42-0"), "{out}");
        anyhow::ensure!(out.contains("MiB/s"), "progress with MiB/s is shown: {out}");
        let st = sh(&mut vm, "fwupdate status")?;
        anyhow::ensure!(st.contains("next boot: B"), "{st}");
        anyhow::ensure!(agrees(&status_line(&st, 'b'), (2, 3, false)), "{st}");
        poweroff(&mut vm)
    })();
    or_log(&format!("{}-update-install-2", t.board), &vm, r);
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
        let out = sh(&mut vm, &format!("fwupdate install --yes /mnt/stick/{}", t.bundle_name("3.0.0")))?;
        anyhow::ensure!(out.contains("installed 3.0.0 into slot A"), "{out}");
        poweroff(&mut vm)
    })();
    or_log(&format!("{}-update-prove-2", t.board), &vm, r);
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
        or_log(&format!("{}-update-failing-3", t.board), &vm, r);
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
    or_log(&format!("{}-update-rolled-back", t.board), &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(2).unwrap(), (0, 0, false), "cgpt: the failed slot is out of rotation");
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 0, true));
}

/// Pulls the plug while the install is paused at `point`, then boots again.
pub fn power_cut(t: &Target, point: &str, shown: &str, after_flip: bool) {
    let dir = tempfile::tempdir().unwrap();
    let stick = dir.path().join("stick.img");
    fat_stick(&stick, 64, &[(t.bundle_name("2.0.0").as_str(), &t.bundle("2.0.0"))]).unwrap();
    let disk = TestDisk::set_up_for(t).unwrap();
    let mut vm = disk.boot_with_sticks(&[&stick]).unwrap();
    let r = (|| -> anyhow::Result<()> {
        ready_shell(&mut vm)?;
        mount_stick(&mut vm)?;
        vm.type_serial(&format!(
            "FWUPDATE_TEST_PAUSE={point}:/run/never fwupdate install --yes /mnt/stick/{}\n",
            t.bundle_name("2.0.0")
        ))?;
        vm.wait_for(&format!("test pause at {shown}"), LONG)?;
        vm.pull_plug()
    })();
    if let Err(e) = r {
        panic!("{point}: {e:#}\n(console log: {})", save_log(&format!("{}-cut-{point}", t.board), &vm).display());
    }
    drop(vm);
    let (b, a) = (disk.cgpt_state(3).unwrap(), disk.cgpt_state(2).unwrap());
    assert_eq!(a, (1, 0, true), "{point}: the running slot is untouched");
    if after_flip {
        assert_eq!(b, (2, 3, false), "{point}: the flip is on disk");
    } else {
        assert_eq!(b, (0, 0, false), "{point}: the half-installed slot is not bootable");
    }

    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        let ready = ready_shell(&mut vm)?;
        let st = sh(&mut vm, "fwupdate status")?;
        if after_flip {
            anyhow::ensure!(ready.contains("slot=b") && ready.contains("version=2.0.0"), "{ready}");
            anyhow::ensure!(st.contains("completed"), "the install is recorded as complete: {st}");
            anyhow::ensure!(st.contains("priority=2 tries=2 successful=0"), "{st}");
        } else {
            anyhow::ensure!(ready.contains("slot=a"), "{ready}");
            anyhow::ensure!(st.contains("interrupted"), "the interrupted install is reported: {st}");
            anyhow::ensure!(st.contains("priority=0 tries=0 successful=0 (not bootable)"), "{st}");
        }
        anyhow::ensure!(st.contains("next boot:"), "{st}");
        vm.type_serial("poweroff\n")?;
        vm.wait_exit(Duration::from_secs(60))?;
        Ok(())
    })();
    if let Err(e) = r {
        panic!(
            "{point} (next boot): {e:#}\n(console log: {})",
            save_log(&format!("{}-cut-{point}-next", t.board), &vm).display()
        );
    }
    drop(vm);
    // cgpt agrees with what status said.
    let b = disk.cgpt_state(3).unwrap();
    if after_flip {
        assert_eq!(b.0, 2);
        assert_eq!(b.1, 2);
    } else {
        assert_eq!(b, (0, 0, false));
    }
}
