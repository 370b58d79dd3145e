//! Network installs in `cargo xtask bench`, on the host (the device's
//! `fwupdate` against a copy of the built disk), with Debian's nginx on
//! loopback serving a repository made by `fwupdate repo`:
//! - a full bundle (slot A emptied, so nothing can be reused) installed
//!   from nginx against the same bundle installed from a local file,
//!   alternating, median of the rounds;
//! - an app-only release of the running image (0.1.0 → 2.0.0: the same
//!   kernel and packages, Quill's binary compiled differently so nearly
//!   all its bytes differ): the share of the bundle downloaded;
//! - the channel index's size and fwupdate's peak memory.

use crate::bench::{median, Figure};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs fwupdate as the device would on `disk`; returns (seconds, output).
fn device(fwupdate: &Path, board: &str, dir: &Path, disk: &Path, verb: &[&str]) -> Result<(f64, String)> {
    let keys = dir.join("keys");
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let start = Instant::now();
    let o = Command::new(fwupdate)
        .args(["--disk", &disk.display().to_string(), "--booted", "a", "--data", &data.display().to_string()])
        .args(["--keyring", &keys.display().to_string(), "--board", board, "--running-version", "0.1.0"])
        .args(verb)
        .env("QUILL_PEAK_MEMORY", "1")
        .output()
        .context("running fwupdate")?;
    let secs = start.elapsed().as_secs_f64();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    if !o.status.success() {
        bail!("fwupdate {verb:?} failed: {text}");
    }
    Ok((secs, text))
}

fn peak_mib(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains("peak memory"))?;
    let kib: f64 = line.split_whitespace().rev().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The two 2.0.0 releases the bench serves.
pub struct Bundles {
    /// Built like the running image (the throughput rounds).
    pub full: std::path::PathBuf,
    /// Quill's binary compiled differently (`BuildOptions::app_variant`).
    pub app_only: std::path::PathBuf,
}

/// A repository in `dir/name` offering `bundle` as 2.0.0 on stable; the
/// channel index's size.
fn repository(fwupdate: &Path, board: &str, dir: &Path, name: &str, bundle: &Path) -> Result<u64> {
    let key = crate::keys::dev_key()?;
    let repo = dir.join(name);
    let run = |args: &[&str]| -> Result<()> { crate::util::run(Command::new(fwupdate).args(args)) };
    run(&["repo", "add", &repo.display().to_string(), &bundle.display().to_string()])?;
    run(&[
        "repo",
        "publish",
        &repo.display().to_string(),
        "--board",
        board,
        "--version",
        "2.0.0",
        "--key",
        &key.display().to_string(),
    ])?;
    Ok(std::fs::metadata(repo.join(format!("channels/{board}/stable.json")))?.len())
}

pub fn bench(
    fwupdate: &Path,
    board: &str,
    built_disk: &Path,
    bundles: &Bundles,
    dir: &Path,
    rounds: usize,
) -> Result<Vec<Figure>> {
    let dir = dir.join("download");
    std::fs::create_dir_all(dir.join("keys"))?;
    let key = crate::keys::dev_key()?;
    std::fs::copy(key.with_extension("pub"), dir.join("keys/dev.pub"))?;
    let bundle = &bundles.full;
    let index_bytes = repository(fwupdate, board, &dir, "repo", bundle)?;
    repository(fwupdate, board, &dir, "repo-app", &bundles.app_only)?;
    let version = "2.0.0";
    let web = testkit::nginx::Nginx::serve(&dir)?;
    let url = format!("http://127.0.0.1:{}/repo/", web.port);
    let bundle_url = format!("{url}bundles/quill-{board}-{version}.qbundle");

    // A disk whose slots hold nothing the bundle has (zeros); each install
    // starts from a fresh copy of it.
    let blank = dir.join("blank.img");
    std::fs::copy(built_disk, &blank)?;
    {
        let mut dev = blockdev::FileDevice::open(&blank)?;
        let mut view = blockdev::GptView { dev: &mut dev, block_size: 512 };
        let gpt = gptedit::Gpt::load(&mut view).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        use blockdev::BlockDevice;
        for name in ["SYSTEM_A", "SYSTEM_B"] {
            let p = gpt.find_by_name(name).with_context(|| format!("no {name}"))?;
            let len = (p.last_lba + 1 - p.first_lba) * 512;
            dev.write_at(p.first_lba * 512, &vec![0u8; len as usize])?;
        }
        dev.flush()?;
    }
    let (mut ratios, mut peak) = (Vec::new(), 0.0f64);
    let round_disk = dir.join("round.img");
    for i in 0..rounds {
        std::fs::copy(&blank, &round_disk)?;
        crate::bench::drop_caches();
        let (file_s, _) =
            device(fwupdate, board, &dir, &round_disk, &["install", &bundle.display().to_string(), "--yes"])?;
        std::fs::copy(&blank, &round_disk)?;
        crate::bench::drop_caches();
        let (net_s, out) = device(fwupdate, board, &dir, &round_disk, &["install", &bundle_url, "--yes"])?;
        peak = peak.max(peak_mib(&out).unwrap_or(0.0));
        println!(
            "bench: download round {}: full bundle from nginx {net_s:.2} s, from a file {file_s:.2} s ({:.2}x the file's throughput)",
            i + 1,
            file_s / net_s
        );
        ratios.push(file_s / net_s);
    }

    // Updates of the running image: what is downloaded. First a release
    // whose Quill binary is the same (the release file changed), then the
    // app-only release the budget is about.
    let mut shares = Vec::new();
    for (what, repo, bundle) in [
        ("same binary, release file changed", "repo", &bundles.full),
        ("app-only release, Quill's code changed", "repo-app", &bundles.app_only),
    ] {
        let disk = dir.join("disk.img");
        std::fs::copy(built_disk, &disk)?;
        let before = web.access_log();
        let repo_url = format!("http://127.0.0.1:{}/{repo}/", web.port);
        let (_, out) = device(fwupdate, board, &dir, &disk, &["install", "--channel", "--repo", &repo_url, "--yes"])?;
        let log = web.access_log();
        let fetched: u64 = log[before.len()..]
            .lines()
            .filter(|l| l.contains("/bundles/"))
            .filter_map(|l| l.split('"').nth(2)?.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        let size = std::fs::metadata(bundle)?.len();
        let line = out.lines().find(|l| l.contains("chunks are on this device")).unwrap_or("").trim().to_string();
        let share = fetched as f64 / size as f64 * 100.0;
        println!(
            "bench: update 0.1.0 -> {version} ({what}): {line}; nginx sent {fetched} of the bundle's {size} bytes ({share:.1} %)"
        );
        shares.push(share);
    }
    Ok(vec![
        Figure::at_least("network install / local-file install, full bundle (median)", median(&ratios), "x", 0.8),
        Figure::at_most("app-only release: share of the bundle downloaded", shares[1], "%", 15.0),
        Figure::at_most("network install peak memory (fwupdate VmHWM)", peak, "MiB", 32.0),
        Figure::at_most("one channel's metadata (signed index)", index_bytes as f64 / 1024.0, "KiB", 64.0),
    ])
}
