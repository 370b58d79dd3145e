//! The Raspberry Pi 4 image under QEMU's raspi4b, booted as the device
//! boots it: QEMU loads U-Boot from the build (the Pi's GPU firmware would
//! load it from the ESP), U-Boot starts bootsel from the ESP, bootsel picks
//! the slot by the GPT bits and starts its kernel. The update flows are the
//! x86 ones (tests/src/flows.rs) on the Pi's SD card and USB.

use anyhow::Result;
use quill_e2e::{flows, keys, or_log, poweroff, sh, Target, TestDisk};
use std::path::PathBuf;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);
/// U-Boot reads the 42 MiB kernel from QEMU's SD card at ~3 MiB/s.
const PI_BOOT: Duration = Duration::from_secs(240);

fn golden(name: &str) -> PathBuf {
    quill_e2e::root().join("crates/assistant/tests/golden").join(format!("{name}.png"))
}

#[test]
#[ignore = "needs the rpi4 image: run with `cargo xtask test`"]
fn rpi4_boots_through_uboot_and_bootsel_mounts_data_and_runs_the_assistant_on_the_framebuffer() {
    // "No password" chosen (and nothing else): the Setup Assistant runs on
    // the screen while the serial console opens a shell.
    let disk = TestDisk::fresh_for(&Target::rpi4()).unwrap();
    quill_e2e::set_admin_image(&disk.path, quill_e2e::Admin::Open).unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> Result<()> {
        vm.wait_for("Loading Environment from FAT... OK", PI_BOOT)?;
        // Keys on the serial port while U-Boot starts (any key stops a
        // stock U-Boot's autoboot): it boots on regardless. (No Enter: one
        // left over would reach the console's "press Enter" offer.)
        vm.type_serial(" \x03 \x03")?;
        vm.wait_for("bootsel: Quill boot selector", PI_BOOT)?;
        anyhow::ensure!(!vm.transcript().contains("\n=> "), "U-Boot's prompt came up");
        vm.wait_for("bootsel: choosing slot A", PI_BOOT)?;
        let ready = vm.wait_for("quill: ready", PI_BOOT)?;
        let secs = vm.elapsed();
        quill_e2e::shell_up(&mut vm)?;
        eprintln!("raspi4b: `quill: ready` {secs:.1} s after QEMU started: {ready}");
        anyhow::ensure!(ready.contains("slot=a") && ready.contains("board=rpi4"), "{ready}");
        anyhow::ensure!(ready.contains("data=mounted"), "DATA is not mounted: {ready}");
        // DATA is partition 4 of the SD card.
        let mounts = sh(&mut vm, "grep ' /data ' /proc/mounts")?;
        anyhow::ensure!(
            mounts.contains("/dev/mmcblk0p4 /data ext4"),
            "DATA is not partition 4 of the SD card: {mounts}"
        );
        let cmdline = sh(&mut vm, "cat /proc/cmdline; uname -m")?;
        let a = disk.partition("SYSTEM_A")?.unique_guid.to_string().to_lowercase();
        anyhow::ensure!(
            cmdline.contains("quill.slot=a") && cmdline.contains(&format!("quill.partuuid={a}")),
            "bootsel passes the slot and its PARTUUID like on x86: {cmdline}"
        );
        anyhow::ensure!(cmdline.contains("aarch64"), "{cmdline}");
        let st = sh(&mut vm, "fwupdate status")?;
        anyhow::ensure!(st.contains("slot A:") && st.contains("priority=1 tries=0 successful=1"), "{st}");

        // The Setup Assistant on the simple framebuffer (fbdev, RGB565).
        vm.wait_seen("assistant: display fbdev 640x480", STEP)?;
        vm.wait_seen("assistant: screen Language", STEP)?;
        quill_e2e::expect_screen(&mut vm, "rpi4-1-language", &golden("640-1-language"))?;
        // It answers the USB keyboard (dwc2, usbhid, evdev).
        vm.wait_seen("assistant: input /dev/input/event", STEP)?;
        keys(&mut vm, &["ret"], Duration::from_millis(100))?;
        vm.wait_seen("assistant: screen Keyboard", STEP)?;
        keys(&mut vm, &["down", "down"], Duration::from_millis(100))?;
        quill_e2e::expect_screen(&mut vm, "rpi4-2-keyboard", &golden("640-2-keyboard"))?;
        poweroff(&mut vm)
    })();
    or_log("rpi4-boot", &vm, r);
}

#[test]
#[ignore = "needs the rpi4 image: run with `cargo xtask test`"]
fn rpi4_update_from_a_usb_stick_then_a_failing_update_rolls_back() {
    flows::update_then_rollback(&Target::rpi4());
}

#[test]
#[ignore = "needs the rpi4 image: run with `cargo xtask test`"]
fn rpi4_power_cut_in_the_middle_of_an_install() {
    flows::power_cut(&Target::rpi4(), "middle", "Middle", false);
}

/// The same bootsel under the other arm64 UEFI firmware: EDK2's AAVMF on
/// QEMU's `virt` machine (the Pi's disk on virtio). An update pending in
/// slot B uses up one try, both GPT copies are rewritten cleanly, and the
/// kernel starts; Linux itself is not for this machine, so the test stops
/// at the EFI stub.
#[test]
#[ignore = "needs the rpi4 image: run with `cargo xtask test`"]
fn bootsel_for_arm64_counts_a_try_under_aavmf_too() {
    let disk = TestDisk::set_up_for(&Target::rpi4()).unwrap();
    disk.cgpt_set(3, 2, 3, false).unwrap();
    let spec: quill_qemu::MachineSpec = serde_json::from_value(serde_json::json!({
        "binary": "qemu-system-aarch64", "machine": "virt", "cpu": "max", "memory_mib": 1024,
        "firmware_code": "/usr/share/AAVMF/AAVMF_CODE.fd", "firmware_vars": "/usr/share/AAVMF/AAVMF_VARS.fd",
        "disk": "virtio",
    }))
    .unwrap();
    let mut cfg = quill_qemu::Config::new(&spec, disk.path.clone(), quill_qemu::Console::Capture).unwrap();
    cfg.display = false;
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> Result<()> {
        vm.wait_for("bootsel: Quill boot selector", PI_BOOT)?;
        vm.wait_for("bootsel: choosing slot B", STEP)?;
        vm.wait_for("bootsel: slot B is unproven: tries 3 -> 2", STEP)?;
        let start = vm.wait_for("bootsel: starting slot B", STEP)?;
        anyhow::ensure!(start.contains("quill.slot=b quill.partuuid="), "{start}");
        vm.wait_for("EFI stub: Booting Linux Kernel", STEP)?;
        vm.pull_plug()
    })();
    or_log("rpi4-aavmf", &vm, r);
    drop(vm);
    assert_eq!(disk.cgpt_state(3).unwrap(), (2, 2, false), "the try is on disk");
    let v = quill_e2e::tool("sgdisk", &["-v", disk.path.to_str().unwrap()]).unwrap();
    assert!(v.contains("No problems found"), "{v}");
}
