//! The Raspberry Pi 4 image under QEMU's raspi4b: QEMU loads slot A's
//! kernel, initramfs and command line with the QEMU-only device tree (it
//! cannot run the Pi firmware), the SD card is the built disk. The
//! firmware's A/B behaviour is tested against a model in the updater
//! (crates/updater/src/tryboot.rs).

use anyhow::{Context, Result};
use quill_e2e::{keys, or_log, poweroff, sh};
use quill_qemu::{Config, Console, DirectBoot, MachineSpec, Vm};
use std::path::PathBuf;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

/// target/quill/rpi4, or where `cargo xtask test` built the Pi image.
fn build_dir() -> PathBuf {
    std::env::var_os("QUILL_RPI4_DIR").map(PathBuf::from).unwrap_or_else(|| quill_e2e::root().join("target/quill/rpi4"))
}

/// A private copy of the Pi's SD card image, booted under raspi4b.
struct PiDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl PiDisk {
    fn new() -> Result<PiDisk> {
        let built = build_dir().join("disk.img");
        anyhow::ensure!(built.is_file(), "{} is missing: run `cargo xtask test` (it builds rpi4)", built.display());
        let dir = tempfile::Builder::new().prefix("quill-e2e-rpi4-").tempdir()?;
        let path = dir.path().join("disk.img");
        std::fs::copy(&built, &path).context("copying the Pi image")?;
        // "No password" chosen (and nothing else): the Setup Assistant runs
        // on the screen while the serial console opens a shell.
        quill_e2e::set_admin_image(&path, quill_e2e::Admin::Open)?;
        Ok(PiDisk { path, _dir: dir })
    }

    fn boot(&self) -> Result<Vm> {
        let spec = MachineSpec::from_board_file(&quill_e2e::root().join("board/rpi4/board.toml"))?;
        let mut cfg = Config::new(&spec, self.path.clone(), Console::Capture)?;
        cfg.direct = Some(DirectBoot::from_build_dir(&build_dir())?);
        Vm::start(&cfg)
    }
}

fn golden(name: &str) -> PathBuf {
    quill_e2e::root().join("crates/assistant/tests/golden").join(format!("{name}.png"))
}

#[test]
#[ignore = "needs the rpi4 image: run with `cargo xtask test`"]
fn rpi4_boots_mounts_data_and_runs_the_assistant_on_the_framebuffer() {
    let disk = PiDisk::new().unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> Result<()> {
        let ready = vm.wait_for("quill: ready", quill_e2e::BOOT_TIMEOUT)?;
        let secs = vm.elapsed();
        quill_e2e::shell_up(&mut vm)?;
        eprintln!("raspi4b: `quill: ready` {secs:.1} s after QEMU started: {ready}");
        anyhow::ensure!(ready.contains("slot=a") && ready.contains("board=rpi4"), "{ready}");
        anyhow::ensure!(ready.contains("data=mounted"), "DATA is not mounted: {ready}");
        // DATA is partition 4 of the SD card (mmcblk0 or mmcblk1: the
        // two SD controllers probe in either order).
        let mounts = sh(&mut vm, "grep ' /data ' /proc/mounts")?;
        let on_sd = ["/dev/mmcblk0p4 /data ext4", "/dev/mmcblk1p4 /data ext4"].iter().any(|m| mounts.contains(m));
        anyhow::ensure!(on_sd, "DATA is not partition 4 of the SD card: {mounts}");
        let release = sh(&mut vm, "cat /proc/cmdline; uname -m")?;
        anyhow::ensure!(release.contains("quill.slot=a") && release.contains("aarch64"), "{release}");

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
