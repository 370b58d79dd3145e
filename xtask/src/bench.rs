//! `cargo xtask bench`: every performance figure next to its budget. Exits
//! non-zero when a figure is over budget.

use crate::board::Board;
use crate::build::{self, BuildOptions};
use crate::util::Paths;
use crate::{BUDGET_ASSISTANT_MIB, BUDGET_CARRIER_TO_LEASE_SECS, BUDGET_FIRST_FRAME_SECS, BUDGET_INITRAMFS_MIB};
use anyhow::{bail, Result};
use quill_qemu::{Config, Console, Vm};
use std::time::Duration;

/// Runs of each throughput comparison; the best of each side counts (the
/// disk's timing varies by 2x from run to run on a shared host).
pub const ROUNDS: usize = 5;

/// One measured figure and its limit.
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub budget: f64,
    /// The budget is a lower limit (throughput ratios) instead of an upper one.
    pub at_least: bool,
}

impl Figure {
    pub fn at_most(name: impl Into<String>, value: f64, unit: &'static str, budget: f64) -> Figure {
        Figure { name: name.into(), value, unit, budget, at_least: false }
    }
    pub fn at_least(name: impl Into<String>, value: f64, unit: &'static str, budget: f64) -> Figure {
        Figure { name: name.into(), value, unit, budget, at_least: true }
    }
    fn ok(&self) -> bool {
        if self.at_least {
            self.value >= self.budget
        } else {
            self.value <= self.budget
        }
    }
}

/// What `cargo xtask bench` measures.
pub struct Parts {
    pub boots: u32,
    pub power_cuts: u32,
    pub install_rounds: usize,
    /// Empty: everything; else any of boot, bundle, flash, install, pi, download.
    pub only: Vec<String>,
}

impl Parts {
    fn want(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

pub fn bench(paths: &Paths, board: &Board, parts: &Parts) -> Result<()> {
    const PARTS: [&str; 7] = ["boot", "bundle", "flash", "install", "pi", "download", "setup"];
    if let Some(p) = parts.only.iter().find(|p| !PARTS.contains(&p.as_str())) {
        bail!("--only {p}: the parts are {}", PARTS.join(", "));
    }
    let boots = if parts.want("boot") { parts.boots } else { 0 };
    let power_cuts = parts.power_cuts;
    let built = build::build(paths, board, &BuildOptions::new(paths, env!("CARGO_PKG_VERSION")))?;
    let mut figures = vec![
        Figure::at_most(
            "initramfs size (LZ4)",
            built.initrd_bytes as f64 / (1024.0 * 1024.0),
            "MiB",
            BUDGET_INITRAMFS_MIB as f64,
        ),
        Figure::at_most(
            "image assembly after compile and fetch",
            built.assembly_secs,
            "s",
            crate::build::budget_build_secs(board) as f64,
        ),
    ];
    let dir = tempfile_dir()?;
    if boots > 0 {
        let floor = crate::bench_boot::floor_disk(paths, board, &built.disk, &built.slot, &dir)?;
        let data_floor = crate::bench_boot::data_floor_disk(paths, board, &built.disk, &built.slot, &dir)?;
        // One vCPU, the slowest case (the tests' machine), and two, as the
        // thin clients have (two to four cores); each against the floor
        // booted on as many.
        let mut all = Vec::new();
        for cpus in [1, 2] {
            let log = paths.out.join(format!("bench-boot-{cpus}cpu.log"));
            let mut first = |vm: &mut Vm| -> Result<()> {
                if cpus == 1 {
                    figures.extend(one_boot_figures(vm)?);
                }
                Ok(())
            };
            all.push(crate::bench_boot::rounds(
                &board.qemu,
                &built.disk,
                &floor,
                &data_floor,
                &dir,
                cpus,
                boots,
                &log,
                &mut first,
            )?);
        }
        for r in &all {
            figures.extend(r.figures());
        }
        let ui: Vec<&crate::bench_assistant::Figures> = all.iter().flat_map(|r| &r.ui).collect();
        figures.push(Figure::at_most(
            "assistant's first frame after init starts (slowest)",
            ui.iter().map(|a| a.first_frame).fold(0.0, f64::max),
            "s",
            BUDGET_FIRST_FRAME_SECS,
        ));
        // Reported beside it: the first screen needs DATA (the settings),
        // which init mounts after the drivers; no budget of its own.
        let first_screen = ui.iter().map(|a| a.first_screen).fold(0.0, f64::max);
        println!(
            "bench: the assistant's first interactive screen came {first_screen:.2} s after init started (slowest)"
        );
        if let Some(m) = ui.iter().find_map(|a| a.peak_mib) {
            figures.push(Figure::at_most("assistant peak memory (VmHWM)", m, "MiB", BUDGET_ASSISTANT_MIB as f64));
        }
    }
    if parts.want("setup") && parts.boots > 0 {
        let disk = dir.join("setup.img");
        std::fs::copy(&built.disk, &disk)?;
        testkit::data::set_up_image(&disk, testkit::data::Admin::Open)?;
        let mut vm = Vm::start(&Config::new(&board.qemu, disk, Console::Capture)?)?;
        let (open, search) = match crate::bench_assistant::measure_setup(&mut vm) {
            Ok(x) => x,
            Err(e) => {
                let log = paths.root.join("target/quill/test-logs/bench-setup.log");
                let _ = std::fs::create_dir_all(log.parent().unwrap_or(&paths.root));
                let _ = std::fs::write(&log, vm.transcript());
                return Err(e.context(format!("the console is in {}", log.display())));
            }
        };
        vm.pull_plug()?;
        println!(
            "bench: the local Setup showed {open:.0} ms after Ctrl+Alt+S; its slowest search answer {search:.0} ms"
        );
        figures.push(Figure::at_most("local Setup shown after Ctrl+Alt+S, TCG", open, "ms", 300.0));
        figures.push(Figure::at_most("local Setup search, slowest keystroke to frame, TCG", search, "ms", 50.0));
    }
    if parts.want("pi") && parts.boots > 0 && board.name != crate::board::PI_BOARD {
        figures.extend(crate::bench_boot::pi(&paths.root, parts.boots, &dir)?);
    }
    if power_cuts > 0 {
        figures.extend(power_cut_campaign(paths, board, &built, power_cuts)?);
    }
    let fwupdate = paths.root.join("target/release/fwupdate");
    if parts.want("bundle") || parts.want("install") || parts.want("download") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        crate::util::run(std::process::Command::new(&cargo).current_dir(&paths.root).args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "fwupdate",
        ]))?;
    }
    if parts.want("bundle") {
        figures.extend(crate::bench_bundle::bench(&fwupdate, &built, &dir)?);
    }
    if parts.want("flash") {
        figures.extend(crate::bench_flash::bench(&fwupdate, &built.disk, &dir)?);
    }
    if parts.want("download") && parts.install_rounds > 0 {
        println!("bench: building an app-only release (Quill's binary compiled at opt-level z, once)");
        let bundles = crate::bench_download::Bundles {
            full: v2_bundle(paths, board)?,
            app_only: release_bundle(paths, board, true)?,
        };
        figures.extend(crate::bench_download::bench(
            &fwupdate,
            &board.name,
            &built.disk,
            &bundles,
            &dir,
            parts.install_rounds,
        )?);
    }
    if parts.want("install") && parts.install_rounds > 0 {
        figures.extend(crate::bench_peers::bench(&paths.root, &fwupdate, parts.install_rounds)?);
    }
    if std::env::var_os("QUILL_BENCH_KEEP").is_some() {
        println!("bench: files kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }

    println!("\n{:<56} {:>12} {:>14}  verdict", "figure", "value", "budget");
    let mut over = 0;
    for f in &figures {
        let ok = f.ok();
        over += usize::from(!ok);
        println!(
            "{:<56} {:>8.2} {:<4}{} {:>8.2} {:<4} {}",
            f.name,
            f.value,
            f.unit,
            if f.at_least { ">=" } else { "<=" },
            f.budget,
            f.unit,
            if ok { "ok" } else { "OVER BUDGET" }
        );
    }
    if over > 0 {
        bail!("{over} figure(s) over budget");
    }
    Ok(())
}

/// Drops the page cache and lets the VM hand the memory back (see
/// ../shared/bench/peers/README.md), when permitted; a no-op otherwise.
pub fn drop_caches() {
    let _ = std::process::Command::new("sync").status();
    if std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok() {
        std::thread::sleep(std::time::Duration::from_secs(3));
    }
}

/// The figures measured once, on a booted system: the administrator
/// password check and the network's carrier-to-lease time.
fn one_boot_figures(vm: &mut Vm) -> Result<Vec<Figure>> {
    let out = vm.sh("quill-admin time-verify", Duration::from_secs(60))?;
    let field = |k: &str| -> Option<f64> {
        out.split_whitespace().find_map(|w| w.strip_prefix(k)).and_then(|v| v.parse().ok())
    };
    let (Some(ms), Some(kib)) = (field("verify_ms="), field("hwm_kib=")) else {
        bail!("quill-admin time-verify said: {out}");
    };
    println!("bench: administrator password check {ms:.0} ms, peak memory {:.1} MiB", kib / 1024.0);
    let flaps = crate::bench_net::carrier_to_lease(vm)?;
    println!(
        "bench: carrier up to lease applied: {}",
        flaps.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", ")
    );
    Ok(vec![
        Figure::at_most("administrator password check (Argon2id, TCG)", ms / 1000.0, "s", 1.0),
        Figure::at_most("administrator password check peak memory", kib / 1024.0, "MiB", 64.0),
        Figure::at_most(
            format!("carrier up to lease applied (slowest of {})", flaps.len()),
            flaps.iter().copied().fold(0.0, f64::max),
            "s",
            BUDGET_CARRIER_TO_LEASE_SECS,
        ),
    ])
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("quill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// The bundle the tests use: the built image as 2.0.0, signed with the
/// development key (rollback index 1).
fn v2_bundle(paths: &Paths, board: &Board) -> Result<std::path::PathBuf> {
    release_bundle(paths, board, false)
}

/// 2.0.0; with `app_variant`, Quill's binary compiled differently (an
/// app-only release: the same kernel and packages, Quill's code changed).
fn release_bundle(paths: &Paths, board: &Board, app_variant: bool) -> Result<std::path::PathBuf> {
    let key = crate::keys::dev_key()?;
    let a = crate::bundle_cmd::BundleArgs {
        version: "2.0.0",
        key: &key,
        rollback_index: 1,
        keyring: None,
        fail_health: false,
        app_variant,
    };
    crate::bundle_cmd::bundle(paths, board, &a)
}

/// `--power-cuts N`: the QEMU campaign of tests/src/powercut.rs with N cuts
/// (the test suite runs 3), its tally as figures that must all be 0.
fn power_cut_campaign(paths: &Paths, board: &Board, built: &build::Built, n: u32) -> Result<Vec<Figure>> {
    let key = crate::keys::dev_key()?;
    v2_bundle(paths, board)?;
    println!("bench: {n} power cuts under QEMU (about a minute each)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(&paths.root)
        .args(["test", "-p", "quill-e2e", "--test", "powercut", "random_power_cuts", "--", "--include-ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env("QUILL_POWER_CUTS", n.to_string())
        .env("QUILL_BOARD", &board.name)
        .env("QUILL_IMAGE", &built.disk)
        .env("QUILL_BUNDLES", &paths.out)
        .env("QUILL_DEV_KEY", &key)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("power cuts ")).map(str::to_string);
    let Some(line) = line else { bail!("the power-cut campaign ended without its tally:\n{text}") };
    println!("bench: {line}");
    // "power cuts N: unbootable U, floor lowered F, settings lost S, ..."
    let counts = line.split_once(": ").map(|(_, r)| r.to_string()).unwrap_or_default();
    let count = |what: &str| -> f64 {
        counts.split(", ").find_map(|p| p.strip_prefix(what).and_then(|v| v.trim().parse().ok())).unwrap_or(f64::NAN)
    };
    Ok(vec![
        Figure::at_most(format!("power cuts ({n}): unbootable"), count("unbootable "), "", 0.0),
        Figure::at_most(format!("power cuts ({n}): floor lowered"), count("floor lowered "), "", 0.0),
        Figure::at_most(format!("power cuts ({n}): settings lost"), count("settings lost "), "", 0.0),
        Figure::at_most(
            format!("power cuts ({n}): status and cgpt disagree"),
            count("status and cgpt disagree "),
            "",
            0.0,
        ),
    ])
}
