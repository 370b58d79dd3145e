//! The Setup Assistant under QEMU: it comes up on the display at first boot,
//! is driven with QMP key events (the PS/2 keyboard, read through evdev),
//! saves the settings on DATA, and after a reboot the home screen comes up
//! instead, with the time zone and layout in effect.

use quill_e2e::{or_log, poweroff, ready_shell, save_log, sh, TestDisk};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

/// Time between two key presses.
const KEY_GAP: Duration = Duration::from_millis(150);

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
    let names = ["1-language", "2-keyboard", "3-timezone", "4-datetime", "5-finish", "6-home"];
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
    let disk = TestDisk::new().unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        ready_shell(&mut vm)?;
        // The assistant starts before the drivers load: its first frame and
        // first screen may come before or after `quill: ready`.
        let first = vm.wait_seen("assistant: first frame after", STEP)?;
        eprintln!("{first}");
        vm.wait_seen("assistant: screen Language", STEP)?;
        // The keyboard (evdev) is read once its module has loaded.
        sh(&mut vm, "for i in $(seq 1 50); do [ -e /dev/input/event0 ] && break; sleep 0.2; done; ls /dev/input")?;
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
        vm.wait_for("assistant: screen Finish", STEP)?;
        screen(&mut vm, "5-finish")?;
        keys(&mut vm, &["ret"])?;
        vm.wait_for("assistant: setup finished", STEP)?;
        vm.wait_for("assistant: home screen", STEP)?;
        screen(&mut vm, "6-home")?;
        let s = sh(&mut vm, "cat /data/quill/settings.toml")?;
        for want in ["setup_done = true", "keyboard = \"de\"", "timezone = \"Europe/Berlin\"", "licence = \"skip\""] {
            anyhow::ensure!(s.contains(want), "settings lack {want}: {s}");
        }
        poweroff(&mut vm)
    })();
    or_log("assistant-first-boot", &vm, r);
    drop(vm);

    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        ready_shell(&mut vm)?;
        vm.wait_seen("assistant: home screen", STEP)?;
        let t = vm.transcript();
        anyhow::ensure!(!t.contains("assistant: screen Language"), "the assistant came back after setup");
        let z = sh(&mut vm, "date +%Z")?;
        anyhow::ensure!(z.contains("CET") || z.contains("CEST"), "the time zone is not in effect: {z}");
        screen_as(&mut vm, "7-home-after-reboot", "6-home")?;
        poweroff(&mut vm)
    })();
    or_log("assistant-second-boot", &vm, r);
    let _ = save_log("assistant-second-boot", &vm);
}
