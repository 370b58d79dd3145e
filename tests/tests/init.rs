//! init under QEMU: the emergency console instead of a kernel panic (it
//! asks for the administrator password), and a clean reboot on
//! ctrl-alt-del.

use quill_e2e::{or_log, Admin, TestDisk, ADMIN_PASSWORD, BOOT_TIMEOUT};
use std::time::Duration;

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_fatal_condition_opens_the_emergency_console_instead_of_a_panic() {
    let disk = TestDisk::new().unwrap();
    disk.set_up(Admin::Password(ADMIN_PASSWORD)).unwrap();
    disk.append_cmdline("quill.emergency=1").unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        let why = vm.wait_for("quill: EMERGENCY", BOOT_TIMEOUT)?;
        anyhow::ensure!(why.contains("quill.emergency=1"), "the reason is printed: {why}");
        // With a password set it is asked for; a wrong one opens nothing.
        vm.wait_for("Emergency console: the administrator password is needed", Duration::from_secs(30))?;
        vm.wait_for_text("Administrator password: ", Duration::from_secs(30))?;
        vm.type_serial("not4it\n")?;
        vm.wait_for("wrong administrator password (emergency console)", Duration::from_secs(30))?;
        vm.wait_for_text("Administrator password: ", Duration::from_secs(30))?;
        anyhow::ensure!(!vm.transcript().contains(":/# "), "a wrong password opened a shell");
        vm.type_serial(&format!("{ADMIN_PASSWORD}\n"))?;
        vm.wait_for_text("# ", Duration::from_secs(30))?;
        vm.type_serial("echo alive-$((6*7))\n")?;
        vm.wait_for("alive-42", Duration::from_secs(20))?;
        anyhow::ensure!(!vm.transcript().contains("Kernel panic"), "no kernel panic");
        vm.type_serial("poweroff -f\n")?;
        vm.wait_exit(Duration::from_secs(30))?;
        Ok(())
    })();
    or_log("emergency", &vm, r);
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn ctrl_alt_del_reboots_cleanly() {
    let disk = TestDisk::new().unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        // The screen holds the keyboard (and passes Ctrl+Alt+Del on) once
        // it reads it.
        vm.wait_seen("assistant: input /dev/input/event", Duration::from_secs(60))?;
        vm.send_key(&["ctrl", "alt", "delete"])?;
        vm.wait_for("SIGINT received", Duration::from_secs(30))?;
        vm.wait_for("/data unmounted", Duration::from_secs(30))?;
        vm.wait_for("init: rebooting", Duration::from_secs(30))?;
        // QEMU runs with -no-reboot, so the reset ends it.
        vm.wait_exit(Duration::from_secs(30))?;
        Ok(())
    })();
    or_log("cad", &vm, r);
}
