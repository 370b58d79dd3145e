//! `cargo xtask run`: boots the built image in QEMU, console on this terminal.

use crate::board::Board;
use crate::util::Paths;
use anyhow::{bail, Context, Result};
use quill_qemu::{Config, Console, DiskBus, Vm};
use std::path::PathBuf;

/// The QEMU configuration of a board, for `disk`.
pub fn vm_config(board: &Board, disk: PathBuf, console: Console) -> Result<Config> {
    Ok(Config {
        binary: board.qemu.binary.clone(),
        machine: board.qemu.machine.clone(),
        cpu: board.qemu.cpu.clone(),
        memory_mib: board.qemu.memory_mib,
        firmware_code: board.qemu.firmware_code.clone().into(),
        firmware_vars: board.qemu.firmware_vars.clone().into(),
        nic: board.qemu.nic.clone(),
        disk,
        bus: DiskBus::parse(&board.qemu.disk)?,
        extra_disks: vec![],
        console,
        gui: false,
        kvm: false,
        mac: "52:54:00:12:34:56".into(),
    })
}

pub fn run(paths: &Paths, board: &Board, gui: bool, usb: bool) -> Result<()> {
    let disk = paths.out.join("disk.img");
    if !disk.is_file() {
        bail!("{} does not exist; run `cargo xtask build --board {}` first", disk.display(), board.name);
    }
    let mut cfg = vm_config(board, disk.clone(), Console::Terminal)?;
    cfg.gui = gui;
    if usb {
        cfg.bus = DiskBus::Usb;
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
