//! The same `fwupdate` binary on the device: it verifies a bundle from a
//! stick against the image's keyring, and refuses a damaged one.
//! (The console echoes what is typed: markers the test waits for are
//! computed by the shell, e.g. `$((40+2))`, so the echo cannot match.)

use quill_e2e::{dev_key, fat_stick, or_log, TestDisk, BOOT_TIMEOUT};
use std::time::Duration;

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn the_device_verifies_a_bundle_and_refuses_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let img: Vec<u8> = (0..3u32 << 20).map(|i| if (i >> 20) == 1 { 0 } else { (i % 253) as u8 }).collect();
    let mut b = bundle::Builder::new("x86-ud", "9.9.9");
    b.level = 3;
    b.payloads.push((bundle::Target::SlotImage, img));
    let good = dir.path().join("good.qbundle");
    let mut bytes = Vec::new();
    b.write("good", &mut bytes, &[&dev_key()]).unwrap();
    std::fs::write(&good, &bytes).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0x10;
    let bad = dir.path().join("bad.qbundle");
    std::fs::write(&bad, &bytes).unwrap();
    let stick = dir.path().join("stick.img");
    fat_stick(&stick, 32, &[("quill-x86-ud-9.9.9.qbundle", &good), ("damaged-9.9.9.qbundle", &bad)]).unwrap();

    let disk = TestDisk::new().unwrap();
    let mut vm = disk.boot_with(&[&stick]).unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        quill_e2e::shell_up(&mut vm)?;
        vm.type_serial("mkdir -p /mnt/stick && mount -t vfat -o ro /dev/vdb /mnt/stick && echo mounted-$((40+2))\n")?;
        vm.wait_for("mounted-42", Duration::from_secs(20))?;
        vm.type_serial("fwupdate bundle verify /mnt/stick/quill-x86-ud-9.9.9.qbundle --board x86-ud; echo rc=$?\n")?;
        let line = vm.wait_for(": valid, version 9.9.9", Duration::from_secs(60))?;
        anyhow::ensure!(line.contains("signed by key"), "{line}");
        vm.wait_for("rc=0", Duration::from_secs(10))?;
        vm.type_serial("fwupdate bundle verify /mnt/stick/damaged-9.9.9.qbundle; echo rc=$?\n")?;
        let why = vm.wait_for("damaged-9.9.9.qbundle:", Duration::from_secs(60))?;
        anyhow::ensure!(why.contains("SHA-256"), "the reason is shown: {why}");
        vm.wait_for("rc=3", Duration::from_secs(10))?;
        vm.type_serial("fwupdate bundle verify /mnt/stick/quill-x86-ud-9.9.9.qbundle --board rpi4; echo rc=$?\n")?;
        vm.wait_for("this device is rpi4", Duration::from_secs(60))?;
        vm.wait_for("rc=3", Duration::from_secs(10))?;
        vm.pull_plug()
    })();
    or_log("fwupdate", &vm, r);
}
