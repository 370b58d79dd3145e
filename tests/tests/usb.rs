//! Updates from USB storage under QEMU: sticks plugged into the running
//! machine (QMP hotplug) are mounted read-only by init and looked at by
//! `fwupdate usb`; a damaged bundle is refused with its reason and the next
//! one offered; a stick pulled out mid-install aborts it cleanly; a stick
//! with `quill/autoupdate` installs and reboots without asking; a stick
//! present at boot is found too and not installed again.

use quill_e2e::{boot_ready, fat_stick, or_log, poweroff, sh, test_bundle, TestDisk};
use quill_qemu::Vm;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(300);

fn start_hotplug(disk: &TestDisk, sticks: &[&Path]) -> Vm {
    let mut cfg = disk.vm_config().unwrap();
    cfg.usb_hotplug = true;
    cfg.usb_sticks = sticks.iter().map(|p| p.to_path_buf()).collect();
    Vm::start(&cfg).unwrap()
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn a_plugged_stick_is_offered_and_pulling_it_mid_install_aborts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let good = test_bundle("2.0.0");
    // The same bundle with one payload byte changed, in quill/ (looked at
    // before the root's bundle of the same version).
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() - 1000;
    bytes[at] ^= 1;
    let bad = dir.path().join("bad.qbundle");
    std::fs::write(&bad, &bytes).unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, vec![0x5a; 4096]).unwrap();
    let stick = dir.path().join("stick.img");
    fat_stick(
        &stick,
        64,
        &[
            ("quill/quill-x86-ud-2.0.0-damaged.qbundle", &bad),
            ("quill-x86-ud-2.0.0.qbundle", &good),
            ("._quill-x86-ud-9.0.0.qbundle", &junk),
            ("notes.txt", &junk),
        ],
    )
    .unwrap();
    let empty = dir.path().join("empty.img");
    fat_stick(&empty, 16, &[("notes.txt", &junk)]).unwrap();

    let disk = TestDisk::new().unwrap();
    let mut vm = start_hotplug(&disk, &[]);
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        // A stick without bundles: said so, nothing else happens.
        vm.plug_usb_stick("empty", &empty)?;
        vm.wait_for("on it", STEP).and_then(|l| {
            anyhow::ensure!(l.contains("no update for this device (x86-ud)"), "{l}");
            Ok(())
        })?;
        vm.unplug_usb_stick("empty")?;
        vm.wait_for("removed", STEP)?;

        vm.plug_usb_stick("stick", &stick)?;
        let refused = vm.wait_for("refusing quill-x86-ud-2.0.0-damaged.qbundle", STEP)?;
        anyhow::ensure!(refused.contains("does not match its SHA-256"), "the reason is shown: {refused}");
        let offer = vm.wait_for("Update available on USB storage", STEP)?;
        anyhow::ensure!(offer.contains("Quill 2.0.0 (running 0.1.0)") && offer.contains("verified"), "{offer}");
        let how = vm.wait_for("to install it, type: fwupdate install ", STEP)?;
        let path = how.split("fwupdate install ").nth(1).unwrap_or("").trim().to_string();
        anyhow::ensure!(path.starts_with("/run/media/") && path.ends_with("/quill-x86-ud-2.0.0.qbundle"), "{how}");
        anyhow::ensure!(!vm.transcript().contains("._quill-"), "._ files are not looked at");
        let offer_file = sh(&mut vm, "cat /run/quill/usb-offer.json")?;
        anyhow::ensure!(offer_file.contains("\"version\":\"2.0.0\""), "{offer_file}");

        // Install from it (in the background), and pull the stick while the
        // install is under way; then let it go on.
        vm.type_serial(&format!(
            "(FWUPDATE_TEST_PAUSE=early:/tmp/go fwupdate install --yes {path}; echo install-end-$((40+2))-$?) &\n"
        ))?;
        vm.wait_for("test pause at Early", STEP)?;
        vm.unplug_usb_stick("stick")?;
        vm.wait_for("removed", STEP)?;
        vm.type_serial("touch /tmp/go\n")?;
        let out = vm.wait_for("install-end-42-", STEP)?;
        let all = vm.transcript();
        anyhow::ensure!(out.contains("install-end-42-4"), "exit code 4 (failed after writing started): {out}");
        anyhow::ensure!(all.contains("was the USB storage removed?"), "the message says why");
        anyhow::ensure!(
            all.contains("slot B is left not bootable, the running slot is unchanged"),
            "and what it means"
        );
        let st = sh(&mut vm, "fwupdate status")?;
        anyhow::ensure!(st.contains("next boot: A"), "{st}");
        anyhow::ensure!(st.contains("priority=0 tries=0 successful=0 (not bootable)"), "{st}");
        anyhow::ensure!(st.contains("last install: 2.0.0 into slot B: failed"), "{st}");
        poweroff(&mut vm)
    })();
    or_log("usb-pulled", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(3).unwrap(), (0, 0, false), "cgpt: B not bootable");
    assert_eq!(disk.cgpt_state(2).unwrap(), (1, 0, true), "cgpt: A unchanged");
}

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn a_stick_with_quill_autoupdate_installs_and_reboots_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("autoupdate");
    std::fs::write(&flag, b"").unwrap();
    let stick = dir.path().join("stick.img");
    fat_stick(&stick, 64, &[("quill-x86-ud-2.0.0.qbundle", &test_bundle("2.0.0")), ("quill/autoupdate", &flag)])
        .unwrap();
    let disk = TestDisk::new().unwrap();

    let mut vm = start_hotplug(&disk, &[]);
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        vm.plug_usb_stick("stick", &stick)?;
        let l = vm.wait_for("without asking", STEP)?;
        anyhow::ensure!(l.contains("installing 2.0.0 from USB storage") && l.contains("quill/autoupdate"), "{l}");
        vm.wait_for("installed 2.0.0 into slot B", STEP)?;
        vm.wait_for("rebooting into 2.0.0", STEP)?;
        vm.wait_exit(Duration::from_secs(60))?;
        Ok(())
    })();
    or_log("usb-auto", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 3, false), "cgpt: 2.0.0 pending in B");

    // The stick stays in: found at boot (coldplug), and not installed again.
    let mut vm = start_hotplug(&disk, &[&stick]);
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'b', "2.0.0")?;
        let l = vm.wait_seen("nothing to do", STEP)?;
        anyhow::ensure!(l.contains("is not newer than the running 2.0.0"), "{l}");
        vm.wait_seen("marked good", Duration::from_secs(60))?;
        poweroff(&mut vm)
    })();
    or_log("usb-auto-after", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 0, true), "cgpt: 2.0.0 proven");
}

/// A stick whose filesystem never answers, present at boot: PID 1 hands it
/// to a helper, keeps reaping and answering, passes its health check, gives
/// the helper up after its deadline, and powers off on request.
#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_stick_that_never_answers_does_not_stall_init() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("stalls.img");
    let fs_at = quill_e2e::nbd::partitioned_stick(&image, 16).unwrap();
    let stick = quill_e2e::nbd::StallingStick::serve(&image, fs_at).unwrap();
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    cfg.nbd_sticks = vec![stick.socket.clone()];
    let mut vm = Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        // The partition's first read is held: the helper waits, init does not.
        vm.wait_seen("health check passed", STEP)?;
        let out = sh(&mut vm, "echo still-answering; ps")?;
        anyhow::ensure!(out.contains("still-answering"), "{out}");
        // The partition's helper gives up (the whole disk's helper, held
        // behind the same read, may say so first).
        vm.wait_seen("USB storage sda1 did not answer within", STEP)?;
        // Let the held read end, so the killed helper can be reaped.
        stick.release();
        let out = sh(
            &mut vm,
            // Counted in the loop: another child (mark-good, a DHCP client
            // that gave up) may end, and wait for its reaping, at any time.
            "for i in $(seq 1 50); do z=$(ps -o stat | grep -c '^Z'); [ \"$z\" = 0 ] && break; sleep 0.2; done; \
             echo zombies=$z mounted=$(grep -c ' /run/media/sda1 ' /proc/mounts)",
        )?;
        anyhow::ensure!(out.contains("zombies=0 mounted=0"), "no zombie, nothing mounted: {out}");
        vm.type_serial("poweroff\n")?;
        vm.wait_exit(Duration::from_secs(120))?;
        Ok(())
    })();
    or_log("usb-stall", &vm, r);
}
