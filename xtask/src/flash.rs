//! `cargo xtask flash --board B --device /dev/sdX`: writes the built disk
//! image onto a USB stick (the UD Pocket) or a UD device's disk, through the
//! `flash` crate (the same code as `fwupdate flash`), with a progress bar.

use crate::util::Paths;
use anyhow::{bail, Result};
use flash::{Stage, Sys};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::Path;

pub fn flash(paths: &Paths, device: &Path, yes: bool, force: bool) -> Result<()> {
    let image = paths.out.join("disk.img");
    if !image.is_file() {
        bail!("{} does not exist; run `cargo xtask build` first (or drop --no-build)", image.display());
    }
    let sys = Sys::default();
    let (target, plan) = flash::prepare_image(&image, device, &sys, &flash::root_disks(&sys), force, true)
        .map_err(|e| anyhow::anyhow!("{e}. {}", e.target_state()))?;
    println!("flash: {} -> {}", image.display(), target.describe());
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("not asking without a terminal: add --yes to confirm. Nothing was written.");
        }
        print!("Everything on {} will be erased. Type yes to continue: ", device.display());
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            bail!("cancelled; nothing was written");
        }
    }
    let mut dev = target.open()?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>9} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut phase = "";
    let result = flash::write_disk(&mut dev, plan, &mut |s| match s {
        Stage::Writing { done, total, .. } | Stage::Verifying { done, total } => {
            let name = if matches!(s, Stage::Writing { .. }) { "writing" } else { "verifying" };
            if name != phase {
                phase = name;
                bar.reset();
                bar.set_length(total);
                bar.set_message(name);
            }
            bar.set_position(done);
        }
        Stage::Syncing => bar.set_message("syncing"),
        Stage::Wiping | Stage::Table => {}
    });
    bar.finish_and_clear();
    match result {
        Ok(r) => {
            println!(
                "flash: {} holds Quill now: {:.0} MiB written ({:.0} MiB empty, skipped) and verified in {:.1} s; \
                 DATA {:.0} -> {:.0} MiB; disk GUID {}",
                device.display(),
                r.bytes as f64 / 1048576.0,
                r.zero_bytes as f64 / 1048576.0,
                r.seconds,
                r.data_grown.0 as f64 / 1048576.0,
                r.data_grown.1 as f64 / 1048576.0,
                r.disk_guid
            );
            Ok(())
        }
        Err(e) => bail!("{e}. {}", e.target_state()),
    }
}
