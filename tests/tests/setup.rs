//! The local Setup on the serial console (`quill-setup --local`), behind
//! the administrator password: a wrong password is refused; a static
//! address of its own for eth0 with the gateway outside its subnet is
//! explained and not saved; the mended address and the keyboard layout de (found by
//! searching "tastatur") are saved and take effect at once (the network
//! service starts over, the consoles' keymap is read back from the
//! kernel); after a reboot both are still in effect, and System › Factory
//! reset (asked twice: no, then yes) wipes them: the next boot runs the
//! Setup Assistant with DHCP. On the display, Ctrl+Alt+S opens the same
//! Setup behind the password.

use quill_e2e::{keys, or_log, serial_login, sh, type_keys, Admin, TestDisk, ADMIN_PASSWORD, BOOT_TIMEOUT};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);
const KEY_GAP: Duration = Duration::from_millis(100);

/// Lines for `quill-setup --local` on its standard input (the password
/// first), as a shell `printf` argument.
fn session(lines: &[&str]) -> String {
    format!("printf '{}\\n' | quill-setup --local; echo rc=$?", lines.join("\\n"))
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_static_address_and_the_keyboard_layout_set_in_the_setup_survive_a_reboot() {
    let disk = TestDisk::new().unwrap();
    disk.set_up(Admin::Password(ADMIN_PASSWORD)).unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        serial_login(&mut vm, ADMIN_PASSWORD)?;
        vm.wait_seen("quill: network eth0 up ip=10.0.2.15/24", STEP)?;
        let out = sh(&mut vm, &session(&["not-the-password", "ls /"]))?;
        anyhow::ensure!(out.contains("wrong password") && out.contains("rc=3"), "{out}");
        anyhow::ensure!(!out.contains("User Interface"), "nothing shown without the password: {out}");

        let out = sh(
            &mut vm,
            &session(&[
                ADMIN_PASSWORD,
                "cd /network/ethernet",
                "ls",
                "set network.interface eth0",
                "set network.mode static",
                "set network.address 10.0.2.50/24",
                "set network.gateway 192.168.9.1",
                "apply",
                "set network.gateway 10.0.2.2",
                "search tastatur",
                "go 1",
                "set keyboard de",
                "apply",
                "ls /ui/keyboard",
                "quit",
            ]),
        )?;
        anyhow::ensure!(out.contains("(all, or one of: eth0)"), "the interfaces are listed: {out}");
        anyhow::ensure!(out.contains("outside the subnet") && out.contains("nothing saved"), "{out}");
        anyhow::ensure!(
            out.contains("in effect now: network.mode, network.address, network.gateway, keyboard"),
            "{out}"
        );
        anyhow::ensure!(out.contains("(the consoles have de now)") && out.contains("rc=0"), "{out}");
        let up = vm.wait_for("quill: network eth0 up", STEP)?;
        anyhow::ensure!(up.contains("ip=10.0.2.50/24 gw=10.0.2.2") && up.contains("(static)"), "{up}");
        let out = sh(&mut vm, "grep -E 'interfaces|mode|address|keyboard' /data/quill/settings.toml")?;
        anyhow::ensure!(out.contains("[network.interfaces.eth0]") && out.contains("mode = \"static\""), "{out}");
        anyhow::ensure!(out.contains("keyboard = \"de\""), "{out}");
        // The same Setup on the display: Ctrl+Alt+S on the home screen asks
        // for the password, opens it, and Escape closes it.
        vm.wait_seen("assistant: home screen", STEP)?;
        vm.send_key(&["ctrl", "alt", "s"])?;
        vm.wait_for("home screen shows Password", STEP)?;
        type_keys(&mut vm, &format!("{ADMIN_PASSWORD}\n"), KEY_GAP)?;
        vm.wait_for("administrator password accepted on the screen for OpenSetup", STEP)?;
        let shown = vm.wait_for("local Setup shown", STEP)?;
        println!("{shown}");
        let offers = vm.wait_seen("local Setup: The screen offers", STEP)?;
        anyhow::ensure!(offers.contains("1024x768"), "{offers}");
        // A new resolution that nobody keeps goes back after 15 s: down
        // the tree to User Interface › Display, its first field, Apply.
        keys(&mut vm, &["down", "down", "ret"], KEY_GAP)?;
        keys(&mut vm, &["1", "0", "2", "4", "x", "7", "6", "8", "tab", "tab", "ret"], KEY_GAP)?;
        vm.wait_for("the screen shows 1024x768", STEP)?;
        let png = std::env::temp_dir().join(format!("quill-setup-{}.png", std::process::id()));
        vm.screendump(&png)?;
        let size = ui::Canvas::load_png(&png).map(|c| (c.width(), c.height()));
        let _ = std::fs::remove_file(&png);
        anyhow::ensure!(size.as_ref().ok() == Some(&(1024, 768)), "the screen is 1024x768: {size:?}");
        let back = vm.wait_for("the resolution went back to", STEP)?;
        anyhow::ensure!(back.contains("1280x800"), "{back}");
        vm.wait_seen("the screen shows 1280x800", STEP)?;
        let out = sh(&mut vm, "grep -c resolution /data/quill/settings.toml; echo end-$?")?;
        anyhow::ensure!(out.contains("0\n") || out.contains("end-1"), "the setting went back too: {out}");
        keys(&mut vm, &["esc"], KEY_GAP)?;
        vm.wait_for("local Setup closed", STEP)?;
        vm.type_serial("reboot\n")?;
        vm.wait_exit(STEP)?;
        Ok(())
    })();
    or_log("setup-local", &vm, r);
    drop(vm);
    // QEMU runs with -no-reboot: the reboot is a new QEMU on the same disk.
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        vm.wait_seen("settings: language en, keyboard de", STEP)?;
        serial_login(&mut vm, ADMIN_PASSWORD)?;
        let up = vm.wait_seen("quill: network eth0 up", STEP)?;
        anyhow::ensure!(up.contains("ip=10.0.2.50/24 gw=10.0.2.2") && up.contains("(static)"), "{up}");
        let out = sh(&mut vm, &format!("ip -4 addr show eth0; {}", session(&[ADMIN_PASSWORD, "ls /ui/keyboard"])))?;
        anyhow::ensure!(out.contains("inet 10.0.2.50/24") && !out.contains("10.0.2.15"), "{out}");
        anyhow::ensure!(out.contains("(the consoles have de now)"), "{out}");
        // System › Factory reset asks, then wipes the settings and restarts.
        vm.type_serial(&format!(
            "{}\n",
            session(&[ADMIN_PASSWORD, "cd /system/reset", "do factory-reset", "no", "do factory-reset", "yes"])
        ))?;
        vm.wait_for("cancelled; nothing was changed", STEP)?;
        vm.wait_for("The settings are wiped; restarting", STEP)?;
        vm.wait_exit(STEP)?;
        Ok(())
    })();
    or_log("setup-local-reboot", &vm, r);
    drop(vm);
    // After the reset: the Setup Assistant, DHCP and the us layout again.
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        vm.wait_seen("settings: language en, keyboard us", STEP)?;
        vm.wait_seen("assistant: screen Language", STEP)?;
        let up = vm.wait_seen("quill: network eth0 up", STEP)?;
        anyhow::ensure!(up.contains("ip=10.0.2.15/24"), "DHCP again: {up}");
        vm.pull_plug()
    })();
    or_log("setup-local-reset", &vm, r);
}

/// Security › Consoles off: the serial console says so and opens nothing,
/// however often it is asked.
#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn consoles_switched_off_open_no_shell() {
    let disk = TestDisk::new().unwrap();
    let mut settings = devconfig::Settings { setup_done: true, ..devconfig::Settings::default() };
    settings.security.console = false;
    quill_e2e::write_settings(&disk.path, &settings).unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        const SAID: &str = "login on this console is switched off";
        vm.wait_seen(SAID, STEP)?;
        vm.type_serial("echo shell-$((40+2))\n")?;
        // Said again for the line typed (each new console line is an event).
        let deadline = std::time::Instant::now() + STEP;
        while vm.transcript().matches(SAID).count() < 2 {
            anyhow::ensure!(std::time::Instant::now() < deadline, "not said again");
            vm.wait_lines(1, STEP)?;
        }
        anyhow::ensure!(!vm.transcript().contains("shell-42"), "a shell ran");
        vm.pull_plug()
    })();
    or_log("setup-consoles-off", &vm, r);
}
