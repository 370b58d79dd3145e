//! init under QEMU: emergency shell instead of a kernel panic, and a clean
//! reboot on ctrl-alt-del.

use quill_e2e::{or_log, tool, TestDisk, BOOT_TIMEOUT};
use std::time::Duration;

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_fatal_condition_opens_an_emergency_shell_instead_of_a_panic() {
    let disk = TestDisk::new().unwrap();
    let spec = disk.mtools_spec("SYSTEM_A").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cmdline = dir.path().join("cmdline.txt");
    tool("mcopy", &["-n", "-i", &spec, "::cmdline.txt", cmdline.to_str().unwrap()]).unwrap();
    let line = std::fs::read_to_string(&cmdline).unwrap();
    std::fs::write(&cmdline, format!("{} quill.emergency=1", line.trim())).unwrap();
    tool("mcopy", &["-o", "-i", &spec, cmdline.to_str().unwrap(), "::cmdline.txt"]).unwrap();

    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        let why = vm.wait_for("quill: EMERGENCY", BOOT_TIMEOUT)?;
        anyhow::ensure!(why.contains("quill.emergency=1"), "the reason is printed: {why}");
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
