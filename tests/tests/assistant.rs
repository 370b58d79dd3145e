//! The Setup Assistant under QEMU: it comes up on the display at first boot,
//! is driven with QMP key events (the PS/2 keyboard, read through evdev),
//! saves the settings on DATA, and after a reboot the home screen comes up
//! instead, with the time zone and layout in effect.

use quill_e2e::{or_log, poweroff, save_log, serial_login, sh, type_keys, TestDisk, ADMIN_PASSWORD};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

/// Time between two key presses.
const KEY_GAP: Duration = Duration::from_millis(100);

fn keys(vm: &mut quill_qemu::Vm, qcodes: &[&str]) -> anyhow::Result<()> {
    quill_e2e::keys(vm, qcodes, KEY_GAP)
}

use quill_e2e::{MAX_SHARE, TOLERANCE};

fn reference(name: &str) -> std::path::PathBuf {
    quill_e2e::root().join("crates/assistant/tests/golden").join(format!("1280-e2e-{name}.png"))
}

/// Saves a screendump of the current screen and compares it with the
/// reference frame the golden tests keep for this step
/// (crates/assistant/tests/golden/1280-e2e-NAME.png).
fn screen(vm: &mut quill_qemu::Vm, name: &str) -> anyhow::Result<()> {
    screen_as(vm, name, name)
}

fn screen_as(vm: &mut quill_qemu::Vm, file: &str, name: &str) -> anyhow::Result<()> {
    quill_e2e::expect_screen(vm, file, &reference(name)).map(|_| ())
}

/// The tolerance is tight enough to tell the screens apart: every pair of
/// references differs in more than `MAX_SHARE` of the pixels.
#[test]
fn screens_tell_each_other_apart() {
    let names = ["1-language", "2-keyboard", "3-timezone", "4-datetime", "5-admin", "6-finish", "7-home"];
    for a in names {
        for b in names {
            if a < b {
                let ra = ui::Canvas::load_png(&reference(a)).unwrap();
                let rb = ui::Canvas::load_png(&reference(b)).unwrap();
                let (share, _) = ra.diff(&rb, TOLERANCE);
                assert!(share > 4.0 * MAX_SHARE, "{a} and {b} differ in only {:.2}%", share * 100.0);
            }
        }
    }
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn first_boot_runs_the_assistant_and_the_next_boot_shows_the_home_screen() {
    let disk = TestDisk::fresh().unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", quill_e2e::BOOT_TIMEOUT)?;
        // The serial console opens no shell before the first setup: it
        // says the screen is setting the device up.
        vm.wait_seen("being set up on its screen", STEP)?;
        // The assistant starts before the drivers load: its first frame and
        // first screen may come before or after `quill: ready`.
        let first = vm.wait_seen("assistant: first frame after", STEP)?;
        eprintln!("{first}");
        vm.wait_seen("assistant: screen Language", STEP)?;
        // The keyboard (evdev) is read once its module has loaded.
        vm.wait_seen("assistant: input /dev/input/event", STEP)?;
        screen(&mut vm, "1-language")?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: screen Keyboard", STEP)?;
        // us, gb, de: the German layout applies at once.
        keys(&mut vm, &["down", "down", "tab"])?;
        // The key labelled Y on a US keyboard types z on the German layout.
        keys(&mut vm, &["y"])?;
        screen(&mut vm, "2-keyboard")?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: screen Timezone", STEP)?;
        keys(&mut vm, &["b", "e", "r", "l", "i", "n"])?;
        screen(&mut vm, "3-timezone")?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: time zone Europe/Berlin", STEP)?;
        vm.wait_for("assistant: screen DateTime", STEP)?;
        screen(&mut vm, "4-datetime")?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: clock set to", STEP)?;
        vm.wait_for("assistant: screen Licence", STEP)?;
        keys(&mut vm, &["down", "ret"])?;
        // The administrator password, typed twice (dots on the screen).
        vm.wait_for("assistant: screen Admin", STEP)?;
        keys(&mut vm, &["tab"])?;
        type_keys(&mut vm, ADMIN_PASSWORD, KEY_GAP)?;
        keys(&mut vm, &["tab"])?;
        screen(&mut vm, "5-admin")?;
        type_keys(&mut vm, ADMIN_PASSWORD, KEY_GAP)?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: screen Finish", STEP)?;
        screen(&mut vm, "6-finish")?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: setup finished", STEP)?;
        vm.wait_for("assistant: home screen", STEP)?;
        screen(&mut vm, "7-home")?;
        anyhow::ensure!(!vm.transcript().contains(":/# "), "a shell prompt showed before the setup was done");
        // Now the console asks for the password (maybe before the last
        // lines of the screen): a wrong one opens nothing.
        vm.wait_seen_text("Administrator password: ", STEP)?;
        vm.type_serial("not4the4password\n")?;
        vm.wait_for("wrong administrator password (console login); 1 failure(s) in a row", STEP)?;
        vm.wait_for_text("Administrator password: ", STEP)?;
        anyhow::ensure!(!vm.transcript().contains(":/# "), "a wrong password opened a shell");
        vm.type_serial(&format!("{ADMIN_PASSWORD}\n"))?;
        vm.wait_for_text("# ", STEP)?;
        let s = sh(&mut vm, "cat /data/quill/settings.toml /data/quill/admin-password")?;
        for want in [
            "setup_done = true",
            "keyboard = \"de\"",
            "timezone = \"Europe/Berlin\"",
            "licence = \"skip\"",
            "$argon2id$v=19$m=32768,t=2,p=1$",
        ] {
            anyhow::ensure!(s.contains(want), "settings lack {want}: {s}");
        }
        // The password itself is nowhere: not in the files, not on the console.
        let typed = vm.transcript().matches(ADMIN_PASSWORD).count();
        anyhow::ensure!(typed == 0, "the password shows on the console {typed} time(s)");
        poweroff(&mut vm)
    })();
    or_log("assistant-first-boot", &vm, r);
    drop(vm);

    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", quill_e2e::BOOT_TIMEOUT)?;
        serial_login(&mut vm, ADMIN_PASSWORD)?;
        vm.wait_seen("assistant: home screen", STEP)?;
        let t = vm.transcript();
        anyhow::ensure!(!t.contains("assistant: screen Language"), "the assistant came back after setup");
        let z = sh(&mut vm, "date +%Z")?;
        anyhow::ensure!(z.contains("CET") || z.contains("CEST"), "the time zone is not in effect: {z}");
        vm.wait_seen("assistant: input /dev/input/event", STEP)?;
        screen_as(&mut vm, "8-home-after-reboot", "7-home")?;

        // Ctrl+Alt+F2: the login on tty2 asks for the password; a wrong one
        // opens nothing, and Alt+F1 brings the screen back.
        vm.send_key(&["ctrl", "alt", "f2"])?;
        vm.wait_for("assistant: console switched away", STEP)?;
        keys(&mut vm, &["ret"])?;
        type_keys(&mut vm, "wrong4password\n", KEY_GAP)?;
        vm.wait_for("wrong administrator password (console login); 1 failure(s) in a row (on /dev/tty2)", STEP)?;
        vm.send_key(&["alt", "f1"])?;
        vm.wait_for("assistant: console back", STEP)?;
        screen_as(&mut vm, "9-home-back-from-tty2", "7-home")?;

        // Running the Setup Assistant again asks for the password: a wrong
        // one is refused, the right one opens it.
        keys(&mut vm, &["ret"])?;
        type_keys(&mut vm, "wrong4again\n", KEY_GAP)?;
        vm.wait_for("wrong administrator password on the screen for RunSetup", STEP)?;
        type_keys(&mut vm, &format!("{ADMIN_PASSWORD}\n"), KEY_GAP)?;
        vm.wait_for("administrator password accepted on the screen for RunSetup", STEP)?;
        // Through it again with Enter, keeping everything (the password too).
        for step in ["Language", "Keyboard", "Timezone", "DateTime", "Licence", "Admin", "Finish"] {
            vm.wait_for(&format!("assistant: screen {step}"), STEP)?;
            keys(&mut vm, &["ret"])?;
        }
        vm.wait_for("assistant: setup finished", STEP)?;
        vm.wait_for("assistant: home screen", STEP)?;

        // The terminal for administrators: asked on the screen, then tty2
        // opens without asking again; its shell is root's (it powers off).
        keys(&mut vm, &["down", "down", "ret"])?;
        type_keys(&mut vm, &format!("{ADMIN_PASSWORD}\n"), KEY_GAP)?;
        vm.wait_for("administrator password accepted on the screen for Terminal", STEP)?;
        vm.wait_for("assistant: terminal opened on tty2", STEP)?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("the password was given on the screen (on /dev/tty2)", STEP)?;
        type_keys(&mut vm, "poweroff\n", KEY_GAP)?;
        vm.wait_exit(STEP)?;
        Ok(())
    })();
    or_log("assistant-second-boot", &vm, r);
    let _ = save_log("assistant-second-boot", &vm);
}
