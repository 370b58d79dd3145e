//! The administrator lock under QEMU: a new device without a display is set
//! up on its serial console (never a bare shell before that), the password
//! then guards the console; the forgotten-password recovery at the boot
//! selector wipes the settings and the password, never the trust state.

use quill_e2e::{or_log, serial_login, sh, Admin, TestDisk, ADMIN_PASSWORD, BOOT_TIMEOUT};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

/// Answers one question of the text assistant once it is asked.
fn answer(vm: &mut quill_qemu::Vm, prompt: &str, text: &str) -> anyhow::Result<()> {
    vm.wait_for_text(prompt, STEP)?;
    vm.type_serial(&format!("{text}\n"))
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_new_device_without_a_display_is_set_up_on_the_serial_console() {
    let disk = TestDisk::fresh().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    cfg.display = false;
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        vm.wait_for("the Setup Assistant asks its questions here", STEP)?;
        answer(&mut vm, "Language [1]: ", "")?;
        answer(&mut vm, "Keyboard layout [1]: ", "")?;
        answer(&mut vm, "Filter []: ", "vienna")?;
        answer(&mut vm, "Time zone [1]: ", "")?;
        answer(&mut vm, "Date (YYYY-MM-DD) [", "")?;
        answer(&mut vm, "Time (HH:MM) [", "")?;
        answer(&mut vm, "Licence [1]: ", "2")?;
        // Too short first: explained, and asked again.
        answer(&mut vm, "Administrator password [1]: ", "1")?;
        answer(&mut vm, "Password: ", "short")?;
        answer(&mut vm, "The same again: ", "short")?;
        vm.wait_for("At least 8 characters (3 more).", STEP)?;
        answer(&mut vm, "Administrator password [1]: ", "1")?;
        answer(&mut vm, "Password: ", ADMIN_PASSWORD)?;
        answer(&mut vm, "The same again: ", ADMIN_PASSWORD)?;
        answer(&mut vm, "Finish [Yes]: ", "")?;
        vm.wait_for("settings saved", STEP)?;
        let t = vm.transcript();
        anyhow::ensure!(!t.contains(":/# "), "a shell prompt showed before the setup was done");
        anyhow::ensure!(!t.contains(ADMIN_PASSWORD), "the password was echoed");
        // Now the console asks for the password.
        vm.wait_for_text("Administrator password: ", STEP)?;
        vm.type_serial("wrong4password\n")?;
        vm.wait_for("wrong administrator password (console login); 1 failure(s) in a row", STEP)?;
        vm.wait_for("Wrong password. Next try in 1 s.", STEP)?;
        serial_login(&mut vm, ADMIN_PASSWORD)?;
        let out = sh(&mut vm, "quill-admin status; grep -c setup_done /data/quill/settings.toml")?;
        anyhow::ensure!(out.contains("an administrator password is set"), "{out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("admin-serial-setup", &vm, r);
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn the_recovery_at_the_boot_selector_wipes_the_settings_and_keeps_the_trust_state() {
    let disk = TestDisk::new().unwrap();
    disk.set_up(Admin::Password(ADMIN_PASSWORD)).unwrap();
    // A first boot, so that the updater's state exists on DATA.
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        serial_login(&mut vm, ADMIN_PASSWORD)?;
        vm.wait_seen("health check passed", STEP)?;
        // The updater's state on DATA (set-active records an event in it).
        let out = sh(&mut vm, "fwupdate set-active a; ls /data/quill")?;
        anyhow::ensure!(out.contains("updater.json") && out.contains("admin-password"), "{out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("recovery-first-boot", &vm, r);
    drop(vm);
    let state_before = quill_e2e::data_file(&disk.path, "updater.json").unwrap();
    let record_before = trust_record(&disk.path);

    // R held while the device starts (typed on the firmware's serial
    // console until the boot selector asks), then Y.
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        let mut asked = false;
        for _ in 0..2000 {
            vm.type_serial("r")?;
            if vm.wait_seen("bootsel: recovery: wipe the settings", Duration::from_millis(30)).is_ok() {
                asked = true;
                break;
            }
            anyhow::ensure!(!vm.transcript().contains("bootsel: starting slot"), "bootsel did not see R");
        }
        anyhow::ensure!(asked, "bootsel never asked about the recovery");
        vm.wait_for("any other key to start normally", STEP)?;
        vm.type_serial("y")?;
        vm.wait_for("bootsel: recovery: confirmed", STEP)?;
        let line = vm.wait_for("bootsel: starting slot", STEP)?;
        anyhow::ensure!(line.contains("quill.recover=1"), "{line}");
        let wiped = vm.wait_for("quill: recovery: settings and administrator password wiped", BOOT_TIMEOUT)?;
        anyhow::ensure!(wiped.contains("settings.toml, admin-password"), "{wiped}");
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        // Not set up any more: the screen runs the assistant, the console
        // waits for it, and nothing asks for the old password.
        vm.wait_seen("assistant: screen Language", STEP)?;
        vm.wait_seen("being set up on its screen", STEP)?;
        vm.type_serial("\n")?;
        vm.wait_for("the Setup Assistant asks its questions here", STEP)?;
        // A clean shutdown (Ctrl+Alt+Del, passed on by the screen), so that
        // DATA is read back below as the device left it.
        vm.wait_seen("assistant: input /dev/input/event", STEP)?;
        vm.send_key(&["ctrl", "alt", "delete"])?;
        vm.wait_for("/data unmounted", STEP)?;
        vm.wait_exit(STEP)?;
        Ok(())
    })();
    or_log("recovery", &vm, r);
    drop(vm);
    // The updater's state and the trust record stayed as they were.
    let listing = quill_e2e::data_listing(&disk.path).unwrap();
    assert!(!listing.contains("admin-password") && !listing.contains("settings.toml"), "{listing}");
    assert_eq!(quill_e2e::data_file(&disk.path, "updater.json").unwrap(), state_before, "the updater's state changed");
    assert_eq!(trust_record(&disk.path), record_before, "the trust record changed");
}

/// The raw trust record (two copies, before the first partition).
fn trust_record(image: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(image).unwrap();
    let at = trust::record::OFFSET as usize;
    bytes[at..at + 2 * trust::record::COPY_LEN].to_vec()
}
