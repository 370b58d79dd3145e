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
        vm.wait_for("bootsel: Quill boot selector", PI_BOOT)?;
        vm.wait_for("bootsel: choosing slot A", PI_BOOT)?;
        let ready = vm.wait_for("quill: ready", PI_BOOT)?;
        let secs = vm.elapsed();
        quill_e2e::shell_up(&mut vm)?;
        eprintln!("raspi4b: `quill: ready` {secs:.1} s after QEMU started: {ready}");
        anyhow::ensure!(ready.contains("slot=a") && ready.contains("board=rpi4"), "{ready}");
        anyhow::ensure!(ready.contains("data=mounted"), "DATA is not mounted: {ready}");
        // DATA is partition 4 of the SD card.
        let mounts = sh(&mut vm, "grep ' /data ' /proc/mounts")?;
        anyhow::ensure!(mounts.contains("/dev/mmcblk0p4 /data ext4"), "DATA is not partition 4 of the SD card: {mounts}");
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
