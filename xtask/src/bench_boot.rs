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

/// The line the DATA floor's init prints once DATA is mounted.
pub const DATA_FLOOR_READY: &str = "quill: ready (DATA floor)";

/// Writes the floor disk beside `dir` and returns its path.
pub fn floor_disk(paths: &Paths, board: &Board, built_disk: &Path, built_slot: &Path, dir: &Path) -> Result<PathBuf> {
    let mut t = busybox_tree(paths, board)?;
    let script = format!(
        "#!/bin/sh\n/bin/busybox mount -t devtmpfs dev /dev\nexec >/dev/console 2>&1\n\
         echo \"{FLOOR_READY}\"\n/bin/busybox poweroff -f\n"
    );
    t.file("init", 0o755, script.into_bytes());
    let what = "floor image (slot A: same kernel, trivial init)";
    slot_a_with(built_disk, built_slot, &dir.join("floor-disk.img"), board, t, what)
}

/// The kernel's own part of the way to DATA, as a second floor: the built
/// disk with slot A's initramfs replaced by busybox, the modules the image
/// loads for DATA (the board's `load` list and what it needs, the same
/// files the image ships) and the boot disk's driver, and a script that
/// loads them one after the other with `insmod`, mounts DATA and stamps
/// both ends in the kernel log (`floor: init`, `floor: DATA mounted`). No
/// Quill code runs in it, so init start → ready of the real image minus
/// this is what Quill's init adds on the way to ready.
pub fn data_floor_disk(
    paths: &Paths,
    board: &Board,
    built_disk: &Path,
    built_slot: &Path,
    dir: &Path,
) -> Result<PathBuf> {
    // The boot disk's device and driver on the bus the bench boots from.
    let (disk, drivers): (&str, &[&str]) = match board.qemu.disk.as_str() {
        "virtio" => ("vda", &["virtio_blk"]),
        "usb" => ("sda", &["xhci_pci", "usb_storage", "sd_mod"]),
        other => anyhow::bail!("the DATA floor knows no disk driver for the {other:?} bus"),
    };
    let data = {
        let mut dev = blockdev::FileDevice::open(built_disk)?;
        let mut view = blockdev::GptView { dev: &mut dev, block_size: 512 };
        let gpt = gptedit::Gpt::load(&mut view).map_err(|e| anyhow::anyhow!("{}: {e:?}", built_disk.display()))?;
        gpt.find_by_name("DATA").context("the built disk has no DATA partition")?.number
    };
    let kdir = paths.package_dir(board, &board.kernel.package).join("lib/modules").join(&board.kernel.release);
    let km = imagebuild::kmods::KernelModules::open(&kdir)?;
    let wanted = board.modules.load.iter().map(String::as_str).chain(drivers.iter().copied());
    let mut t = busybox_tree(paths, board)?;
    for d in ["m", "sys", "data"] {
        t.dir(d, 0o755);
    }
    let mut insmods = String::new();
    for file in km.load_order(wanted)? {
        let (stored, bytes) = imagebuild::kmods::stored(&kdir, &file)?;
        let name = stored.rsplit('/').next().unwrap_or(&stored);
        t.file(&format!("m/{name}"), 0o644, bytes);
        insmods.push_str(&format!("/bin/busybox insmod /m/{name}\n"));
    }
    let script = format!(
        "#!/bin/sh\n/bin/busybox mount -t devtmpfs dev /dev\n/bin/busybox mount -t proc proc /proc\n\
         /bin/busybox mount -t sysfs sys /sys\nexec >/dev/console 2>&1\n\
         echo '<3>floor: init' > /dev/kmsg\n{insmods}\
         n=0\nwhile [ ! -b /dev/{disk}{data} ] && [ $n -lt 1000 ]; do /bin/busybox usleep 10000; n=$((n+1)); done\n\
         /bin/busybox mount -t ext4 /dev/{disk}{data} /data && echo '<3>floor: DATA mounted' > /dev/kmsg\n\
         echo \"{DATA_FLOOR_READY}\"\n/bin/busybox poweroff -f\n"
    );
    t.file("init", 0o755, script.into_bytes());
    let what = "DATA floor image (slot A: same kernel, busybox insmod of the DATA modules, mount)";
    slot_a_with(built_disk, built_slot, &dir.join("data-floor-disk.img"), board, t, what)
}

/// A tree with busybox (from the board's busybox-static) and the
/// directories a trivial init needs.
fn busybox_tree(paths: &Paths, board: &Board) -> Result<Tree> {
    let busybox = paths.package_dir(board, "busybox-static").join("bin/busybox");
    let mut t = Tree::new();
    for d in ["bin", "dev", "proc"] {
        t.dir(d, 0o755);
    }
    t.file("bin/busybox", 0o755, std::fs::read(&busybox).with_context(|| format!("reading {}", busybox.display()))?);
    t.symlink("bin/sh", "busybox");
    Ok(t)
}

/// Writes a copy of the built disk at `out` whose slot A holds the built
/// slot's kernel, command line and release with `initramfs` instead of the
/// image's.
fn slot_a_with(
    built_disk: &Path,
    built_slot: &Path,
    out: &Path,
    board: &Board,
    initramfs: Tree,
    what: &str,
) -> Result<PathBuf> {
    let slot = std::fs::read(built_slot)?;
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    for name in ["vmlinuz", "cmdline.txt", "release.txt"] {
        files.push((name, fat::read_file(&slot, name)?));
    }
    files.push(("initrd.img", initramfs.to_cpio_lz4()?));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, &d[..])).collect();
    let image = fat::build(slot.len() as u64, "QUILL SLOT", crate::build::volume_id(&board.name, "slot"), &refs)?;

    std::fs::copy(built_disk, out)?;
    let mut dev = blockdev::FileDevice::open(out)?;
    let offset = {
        let mut view = blockdev::GptView { dev: &mut dev, block_size: 512 };
        let gpt = gptedit::Gpt::load(&mut view).map_err(|e| anyhow::anyhow!("{}: {e:?}", out.display()))?;
        let a = gpt.find_by_name("SYSTEM_A").context("the built disk has no SYSTEM_A")?;
        anyhow::ensure!((a.last_lba + 1 - a.first_lba) * 512 >= image.len() as u64, "the floor slot does not fit");
        a.first_lba * 512
    };
    use blockdev::BlockDevice;
    dev.write_at(offset, &image)?;
    dev.flush()?;
    println!("bench: {what} {} ({} MiB)", out.display(), image.len() as u64 / MIB);
    Ok(out.to_path_buf())
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

/// What one CPU count's boots measured.
pub struct Rounds {
    pub cpus: u32,
    /// Seconds from QEMU's start to `quill: ready`.
    pub times: Vec<f64>,
    /// Seconds from init's first line to its ready line (kernel time stamps).
    pub init_to_ready: Vec<f64>,
    /// Each boot's time over the floor boot just before it.
    pub vs_floor: Vec<f64>,
    /// The DATA floor's init start to DATA mounted (kernel time stamps).
    pub data_floor: Vec<f64>,
    pub ui: Vec<crate::bench_assistant::Figures>,
}

/// `boots` rounds on `cpus` virtual CPUs, each the floor disk, the DATA
/// floor ([`data_floor_disk`]) and then the built one (with "no password"
/// set, so that the serial console opens a shell for the measurements), so
/// that all three see the same load on the host. `first` runs on the
/// first boot once the assistant is measured (the figures that need one
/// booted system). The first boot's console is
/// kept in `log` and init's steps up to ready printed.
#[allow(clippy::too_many_arguments)]
pub fn rounds(
    qemu: &quill_qemu::MachineSpec,
    built_disk: &Path,
    floor: &Path,
    data_floor: &Path,
    dir: &Path,
    cpus: u32,
    boots: u32,
    log: &Path,
    first: &mut dyn FnMut(&mut quill_qemu::Vm) -> Result<()>,
) -> Result<Rounds> {
    use crate::bench_assistant::{line_stamp, stamp};
    use quill_qemu::{Config, Console, Vm};
    use std::time::Duration;
    let config = |disk: PathBuf| -> Result<Config> {
        let mut cfg = Config::new(qemu, disk, Console::Capture)?;
        cfg.cpus = cpus;
        Ok(cfg)
    };
    let mut r = Rounds { cpus, times: vec![], init_to_ready: vec![], vs_floor: vec![], data_floor: vec![], ui: vec![] };
    for i in 0..boots {
        let mut vm = Vm::start(&config(floor.to_path_buf())?)?;
        vm.wait_for(FLOOR_READY, Duration::from_secs(120))?;
        let floor_secs = vm.elapsed();
        vm.wait_exit(Duration::from_secs(60))?;

        let mut vm = Vm::start(&config(data_floor.to_path_buf())?)?;
        vm.wait_for(DATA_FLOOR_READY, Duration::from_secs(120))?;
        let t = vm.transcript();
        let to_data = match stamp(&t, "floor: DATA mounted").and_then(|m| Ok(m - stamp(&t, "floor: init")?)) {
            Ok(s) => s,
            Err(e) => {
                let kept = log.with_file_name(format!("bench-data-floor-{cpus}cpu.log"));
                let _ = std::fs::write(&kept, &t);
                return Err(
                    e.context(format!("the DATA floor did not mount DATA; its console is in {}", kept.display()))
                );
            }
        };
        vm.wait_exit(Duration::from_secs(60))?;

        let disk = dir.join("disk.img");
        std::fs::copy(built_disk, &disk)?;
        testkit::data::set_admin_image(&disk, testkit::data::Admin::Open)?;
        let mut vm = Vm::start(&config(disk)?)?;
        vm.wait_for("quill: ready", Duration::from_secs(120))?;
        let secs = vm.elapsed();
        let t = vm.transcript();
        let start = stamp(&t, "init: Quill ")?;
        let from_init = stamp(&t, "init: ready")? - start;
        println!(
            "bench: {cpus} vCPU, round {}: floor {floor_secs:.2} s, `quill: ready` {secs:.2} s ({:.2}x), \
             {from_init:.2} s after init started; the DATA floor's init mounted DATA {to_data:.2} s after it started",
            i + 1,
            secs / floor_secs
        );
        if i == 0 {
            if std::fs::write(log, &t).is_ok() {
                println!("bench: the first boot's console is in {}", log.display());
            }
            // Where init's time goes: its own time-stamped lines up to ready.
            for l in t.lines().filter(|l| l.contains("init: ")) {
                if let Some(at) = line_stamp(l).filter(|at| *at >= start && *at <= start + from_init) {
                    println!("  +{:.3} s {}", at - start, l.split_once("init: ").map_or(l, |(_, r)| r));
                }
            }
        }
        r.times.push(secs);
        r.init_to_ready.push(from_init);
        r.vs_floor.push(secs / floor_secs);
        r.data_floor.push(to_data);
        let a = crate::bench_assistant::measure(&mut vm, i == 0)?;
        println!(
            "bench: {cpus} vCPU, round {}: the assistant's first frame {:.2} s and first screen {:.2} s after init \
             started{}",
            i + 1,
            a.first_frame,
            a.first_screen,
            a.peak_mib.map(|m| format!("; its peak memory {m:.1} MiB")).unwrap_or_default()
        );
        r.ui.push(a);
        if i == 0 {
            first(&mut vm)?;
        }
        vm.pull_plug()?;
    }
    Ok(r)
}

impl Rounds {
    /// The figures against their budgets: medians (the rule), with
    /// the spread printed beside them.
    pub fn figures(&self) -> Vec<crate::bench::Figure> {
        use crate::bench::{median, Figure};
        let n = self.times.len();
        let spread = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
            format!("{lo:.2}-{hi:.2}")
        };
        println!(
            "bench: {} vCPU: boot/floor {}x, init start to ready {} s, boot to ready {} s ({n} rounds)",
            self.cpus,
            spread(&self.vs_floor),
            spread(&self.init_to_ready),
            spread(&self.times)
        );
        // The kernel's own part of init start to ready: no budget, the
        // reference that says how much of it Quill's init could still win.
        let (quill, kernel) = (median(&self.init_to_ready), median(&self.data_floor));
        println!(
            "bench: {} vCPU: init start to DATA mounted with busybox insmod and no Quill code (the kernel's \
             part) {kernel:.2} s median ({} s); Quill's init start to ready {quill:.2} s, {:.2} s above it",
            self.cpus,
            spread(&self.data_floor),
            quill - kernel
        );
        let c = self.cpus;
        vec![
            Figure::at_most(
                format!("boot to ready via OVMF, TCG, {c} vCPU (slowest of {n})"),
                self.times.iter().copied().fold(0.0, f64::max),
                "s",
                crate::BUDGET_BOOT_SECS as f64,
            ),
            Figure::at_most(
                format!("boot to ready / floor (trivial init), {c} vCPU, median of {n}"),
                median(&self.vs_floor),
                "x",
                1.15,
            ),
            Figure::at_most(
                format!("init start to ready, {c} vCPU, median of {n}"),
                median(&self.init_to_ready),
                "s",
                1.0,
            ),
        ]
    }
}
