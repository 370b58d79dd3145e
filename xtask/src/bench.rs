//! `cargo xtask bench`: every performance figure next to its budget. Exits
//! non-zero when a figure is over budget.

use crate::board::Board;
use crate::build::{self, BuildOptions};
use crate::util::Paths;
use crate::{BUDGET_BOOT_SECS, BUDGET_BUILD_SECS, BUDGET_INITRAMFS_MIB};
use anyhow::{bail, Result};
use quill_qemu::{Config, Console, Vm};
use std::time::Duration;

/// One measured figure; `budget` is an upper limit.
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    budget: f64,
}

pub fn bench(paths: &Paths, board: &Board, boots: u32) -> Result<()> {
    let built = build::build(paths, board, &BuildOptions::new(paths, env!("CARGO_PKG_VERSION")))?;
    let mut figures = vec![
        Figure {
            name: "initramfs size (zstd)".into(),
            value: built.initrd_bytes as f64 / (1024.0 * 1024.0),
            unit: "MiB",
            budget: BUDGET_INITRAMFS_MIB as f64,
        },
        Figure {
            name: "image assembly after compile and fetch".into(),
            value: built.assembly_secs,
            unit: "s",
            budget: BUDGET_BUILD_SECS as f64,
        },
    ];
    let dir = tempfile_dir()?;
    let mut times = Vec::new();
    for i in 0..boots.max(1) {
        let disk = dir.join("disk.img");
        std::fs::copy(&built.disk, &disk)?;
        let mut vm = Vm::start(&Config::new(&board.qemu, disk, Console::Capture)?)?;
        vm.wait_for("quill: ready", Duration::from_secs(120))?;
        let secs = vm.elapsed();
        println!("bench: boot {} to `quill: ready`: {secs:.2} s", i + 1);
        times.push(secs);
        vm.pull_plug()?;
    }
    let worst = times.iter().cloned().fold(0.0, f64::max);
    figures.push(Figure {
        name: format!("boot to ready via OVMF, TCG (slowest of {})", times.len()),
        value: worst,
        unit: "s",
        budget: BUDGET_BOOT_SECS as f64,
    });
    let _ = std::fs::remove_dir_all(&dir);

    println!("\n{:<48} {:>10} {:>10}  verdict", "figure", "value", "budget");
    let mut over = 0;
    for f in &figures {
        let ok = f.value <= f.budget;
        over += usize::from(!ok);
        println!(
            "{:<48} {:>7.2} {:<3}{:>7.2} {:<3} {}",
            f.name,
            f.value,
            f.unit,
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

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("quill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
