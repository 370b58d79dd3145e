//! The boot floor of `cargo xtask bench`: the built disk with slot A's
//! initramfs replaced by a trivial one (busybox and a script that prints a
//! ready line and powers off), booted like the real image (OVMF, bootsel,
//! the same kernel and command line), in the same rounds as the real boots.
//! What Quill's init adds on top of firmware, boot selector and kernel is
//! the difference.

use crate::board::Board;
use crate::util::Paths;
use anyhow::{Context, Result};
use imagebuild::{fat, initramfs::Tree, MIB};
use std::path::{Path, PathBuf};

/// The line the trivial init prints (the real one prints `quill: ready slot=…`).
pub const FLOOR_READY: &str = "quill: ready (floor)";

/// Writes the floor disk beside `dir` and returns its path.
pub fn floor_disk(paths: &Paths, board: &Board, built_disk: &Path, built_slot: &Path, dir: &Path) -> Result<PathBuf> {
    let slot = std::fs::read(built_slot)?;
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    for name in ["vmlinuz", "cmdline.txt", "release.txt"] {
        files.push((name, fat::read_file(&slot, name)?));
    }
    let busybox = paths.package_dir(board, "busybox-static").join("bin/busybox");
    let mut t = Tree::new();
    for d in ["bin", "dev", "proc"] {
        t.dir(d, 0o755);
    }
    t.file("bin/busybox", 0o755, std::fs::read(&busybox).with_context(|| format!("reading {}", busybox.display()))?);
    t.symlink("bin/sh", "busybox");
    let script = format!(
        "#!/bin/sh\n/bin/busybox mount -t devtmpfs dev /dev\nexec >/dev/console 2>&1\n\
         echo \"{FLOOR_READY}\"\n/bin/busybox poweroff -f\n"
    );
    t.file("init", 0o755, script.into_bytes());
    files.push(("initrd.img", t.to_cpio_lz4()?));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, &d[..])).collect();
    let image = fat::build(slot.len() as u64, "QUILL SLOT", crate::build::volume_id(&board.name, "slot"), &refs)?;

    let disk = dir.join("floor-disk.img");
    std::fs::copy(built_disk, &disk)?;
    let mut dev = blockdev::FileDevice::open(&disk)?;
    let offset = {
        let mut view = blockdev::GptView { dev: &mut dev, block_size: 512 };
        let gpt = gptedit::Gpt::load(&mut view).map_err(|e| anyhow::anyhow!("{}: {e:?}", disk.display()))?;
        let a = gpt.find_by_name("SYSTEM_A").context("the built disk has no SYSTEM_A")?;
        anyhow::ensure!((a.last_lba + 1 - a.first_lba) * 512 >= image.len() as u64, "the floor slot does not fit");
        a.first_lba * 512
    };
    use blockdev::BlockDevice;
    dev.write_at(offset, &image)?;
    dev.flush()?;
    println!(
        "bench: floor image (slot A: same kernel, trivial init) {} ({} MiB)",
        disk.display(),
        image.len() as u64 / MIB
    );
    Ok(disk)
}

/// The Raspberry Pi's boot through U-Boot against its floor (the same
/// disk with a trivial init in slot A: U-Boot, bootsel and the kernel are
/// the same), alternating, `rounds` of each, in this bench run. Builds the
/// Pi image. Returns the figures (median ratio; slowest boot reported).
pub fn pi(root: &Path, rounds: u32, dir: &Path) -> Result<Vec<crate::bench::Figure>> {
    use quill_qemu::{Config, Console, UBoot, Vm};
    use std::time::Duration;
    let pi_paths = Paths::new(crate::board::PI_BOARD);
    let pi = Board::load(root, crate::board::PI_BOARD)?;
    let built =
        crate::build::build(&pi_paths, &pi, &crate::build::BuildOptions::new(&pi_paths, env!("CARGO_PKG_VERSION")))?;
    let pi_dir = dir.join(&pi.name);
    std::fs::create_dir_all(&pi_dir)?;
    let floor = floor_disk(&pi_paths, &pi, &built.disk, &built.slot, &pi_dir)?;
    let boot = |disk: &Path, ready: &str| -> Result<f64> {
        let mut cfg = Config::new(&pi.qemu, disk.to_path_buf(), Console::Capture)?;
        cfg.uboot = Some(UBoot::from_build_dir(&pi_paths.out)?);
        let mut vm = Vm::start(&cfg)?;
        vm.wait_for(ready, Duration::from_secs(300))?;
        let secs = vm.elapsed();
        // The floor's init has no watchdog driver to power the Pi off.
        vm.pull_plug()?;
        Ok(secs)
    };
    let (mut ratios, mut slowest) = (Vec::new(), 0.0f64);
    for i in 0..rounds {
        let f = boot(&floor, FLOOR_READY)?;
        let disk = pi_dir.join("disk.img");
        std::fs::copy(&built.disk, &disk)?;
        testkit::data::set_admin_image(&disk, testkit::data::Admin::Open)?;
        let q = boot(&disk, "quill: ready")?;
        println!(
            "bench: rpi4 round {}: through U-Boot to `quill: ready` {q:.2} s, floor {f:.2} s ({:.2}x)",
            i + 1,
            q / f
        );
        ratios.push(q / f);
        slowest = slowest.max(q);
    }
    println!("bench: rpi4 boot through U-Boot and bootsel, slowest {slowest:.2} s");
    Ok(vec![crate::bench::Figure::at_most(
        format!("rpi4 boot to ready / floor, U-Boot (median of {})", ratios.len()),
        crate::bench::median(&ratios),
        "x",
        1.3,
    )])
}
