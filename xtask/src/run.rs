//! `cargo xtask run`: boots the built image in QEMU, console on this terminal.

use crate::board::Board;
use crate::util::Paths;
use anyhow::{bail, Context, Result};
use quill_qemu::{Config, Console, DirectBoot, DiskBus, UBoot, Vm};

pub struct RunOptions {
    pub gui: bool,
    pub usb: bool,
    pub pocket: bool,
    /// QEMU loads the kernel itself (boards QEMU starts U-Boot on).
    pub direct: bool,
}

pub fn run(paths: &Paths, board: &Board, o: &RunOptions) -> Result<()> {
    let RunOptions { gui, usb, pocket, direct } = *o;
    let disk = paths.out.join("disk.img");
    if !disk.is_file() {
        bail!("{} does not exist; run `cargo xtask build --board {}` first", disk.display(), board.name);
    }
    let mut cfg = Config::new(&board.qemu, disk.clone(), Console::Terminal)?;
    if board.qemu.loads_files() {
        // QEMU cannot run the Pi's GPU firmware: it loads U-Boot as that
        // firmware would (U-Boot then starts bootsel from the ESP), or with
        // --direct slot A's kernel, initramfs and command line itself.
        if direct || board.qemu.direct_boot() {
            cfg.direct = Some(DirectBoot::from_build_dir(&paths.out)?);
        } else {
            cfg.uboot = Some(UBoot::from_build_dir(&paths.out)?);
        }
        if usb || pocket {
            bail!("--usb and --pocket are for UEFI PCs; {} boots from its SD card", board.name);
        }
    } else if direct {
        bail!("--direct is for boards QEMU starts U-Boot on; {} boots through its UEFI firmware", board.name);
    }
    cfg.gui = gui;
    if usb || pocket {
        cfg.bus = DiskBus::Usb;
    }
    if pocket {
        // The PC's own disk, which the Pocket must not touch unless asked
        // to install onto it.
        let internal = paths.out.join("internal.img");
        if !internal.exists() {
            std::fs::File::create(&internal)?.set_len(8 << 30)?;
        }
        println!(
            "run: UD Pocket: {} on USB, internal disk {} (install with `fwupdate install-to-disk /dev/vda`)",
            disk.display(),
            internal.display()
        );
        cfg.extra_disks.push(internal);
    }
    println!(
        "run: booting {} in QEMU (TCG{}); console below. Type `poweroff` at the shell to stop, or Ctrl-A X to quit QEMU.",
        disk.display(),
        if gui { ", window open" } else { "" }
    );
    let mut vm = Vm::start(&cfg).context("starting QEMU")?;
    let status = vm.wait_exit(std::time::Duration::from_secs(u64::MAX / 4))?;
    println!("run: QEMU exited ({status})");
    Ok(())
}
