//! Bundle figures of `cargo xtask bench`: creation time and size, and
//! verify+decompress throughput on a 256 MiB slot-like image, with
//! `zstd -19 -T0`, `zstd -d` and `sha256sum` on the same data in the same
//! run as the reference, and the peak memory of `fwupdate bundle verify`.

use crate::bench::Figure;
use crate::build::Built;
use crate::util::run;
use anyhow::{bail, Context, Result};
use imagebuild::{fat, MIB};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Budgets of the bundle issue.
const MIN_VERIFY_VS_ZSTD: f64 = 0.8;
const MAX_SIZE_VS_ZSTD19: f64 = 1.10;
const MAX_VERIFY_PEAK_MIB: f64 = 64.0;
const IMAGE_MIB: u64 = 256;

fn secs<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let t = Instant::now();
    let v = f()?;
    Ok((v, t.elapsed().as_secs_f64()))
}

/// Best of three runs of a command, output discarded.
fn best_of_3(mut make: impl FnMut() -> Command) -> Result<f64> {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut c = make();
        c.stdout(Stdio::null());
        let ((), t) = secs(|| run(&mut c))?;
        best = best.min(t);
    }
    Ok(best)
}

/// Runs fwupdate with QUILL_PEAK_MEMORY=1 and returns the peak resident
/// memory it reports (kB on stderr) in MiB.
fn peak_rss_mib(cmd: &mut Command) -> Result<f64> {
    let out = cmd.env("QUILL_PEAK_MEMORY", "1").stdout(Stdio::null()).output().context("starting fwupdate")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{cmd:?} failed: {err}");
    }
    let kb: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("fwupdate: peak memory "))
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .context("fwupdate did not report its peak memory")?;
    Ok(kb / 1024.0)
}

/// The board the bench's bundles are made for and installed as.
const BENCH_BOARD: &str = crate::board::DEFAULT_BOARD;

pub fn bench(fwupdate: &Path, built: &Built, dir: &Path) -> Result<Vec<Figure>> {
    // A 256 MiB slot-like image: the built slot's files in a bigger FAT.
    let image = dir.join("slot-256.img");
    {
        let slot = std::fs::read(&built.slot)?;
        let names = ["vmlinuz", "initrd.img", "cmdline.txt", "release.txt"];
        let files: Vec<(&str, Vec<u8>)> =
            names.iter().map(|n| Ok((*n, fat::read_file(&slot, n)?))).collect::<Result<_, imagebuild::Error>>()?;
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, &d[..])).collect();
        std::fs::write(&image, fat::build(IMAGE_MIB * MIB, "QUILL SLOT", 1, &refs)?)?;
    }
    let mb = (IMAGE_MIB * MIB) as f64 / 1e6;
    let key = crate::keys::dev_key()?;

    let bundle = dir.join("bench.qbundle");
    let ((), create_s) = secs(|| {
        run(Command::new(fwupdate)
            .args(["bundle", "create", "--board", BENCH_BOARD, "--version", "bench", "--slot-image"])
            .arg(&image)
            .arg("--key")
            .arg(&key)
            .arg("-o")
            .arg(&bundle)
            .stdout(Stdio::null()))
    })?;
    let reference = dir.join("reference.zst");
    let ((), zstd19_s) =
        secs(|| run(Command::new("zstd").args(["-19", "-T0", "-q", "-f"]).arg(&image).arg("-o").arg(&reference)))?;
    let bundle_size = std::fs::metadata(&bundle)?.len() as f64;
    let zstd19_size = std::fs::metadata(&reference)?.len() as f64;

    // The install path: stream, verify every frame and chunk, decompress.
    let ring = bundle::Keyring::load_dir(key.parent().unwrap()).map_err(anyhow::Error::msg)?;
    let mut verify_s = f64::MAX;
    for _ in 0..3 {
        let ((), t) = secs(|| {
            let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&bundle)?);
            let mut r = bundle::Reader::open("bench", f, &ring, &bundle::Policy::default())?;
            r.set_image_hash(false);
            let mut n = 0u64;
            while let Some(c) = r.next_chunk()? {
                n += c.data.len() as u64;
            }
            anyhow::ensure!(n == IMAGE_MIB * MIB, "read {n} bytes");
            Ok(())
        })?;
        verify_s = verify_s.min(t);
    }
    let zstd_d_s = best_of_3(|| {
        let mut c = Command::new("zstd");
        c.args(["-d", "-c", "-q"]).arg(&reference);
        c
    })?;
    let sha_s = best_of_3(|| {
        let mut c = Command::new("sha256sum");
        c.arg(&image);
        c
    })?;
    let (full_s, peak) = {
        let t = Instant::now();
        let peak = peak_rss_mib(
            Command::new(fwupdate).args(["bundle", "verify", "--keyring"]).arg(key.parent().unwrap()).arg(&bundle),
        )?;
        (t.elapsed().as_secs_f64(), peak)
    };

    println!("bench: bundle of a {IMAGE_MIB} MiB slot-like image");
    println!("  create (fwupdate, zstd -19 frames, all cores) {create_s:>7.2} s  {:>8.2} MB", bundle_size / 1e6);
    println!("  zstd -19 -T0 (reference)                      {zstd19_s:>7.2} s  {:>8.2} MB", zstd19_size / 1e6);
    println!("  verify+decompress, install path               {:>7.0} MB/s", mb / verify_s);
    println!("  full verify incl. whole-image hash (fwupdate) {:>7.0} MB/s, peak {peak:.1} MiB", mb / full_s);
    println!("  zstd -d (reference)                           {:>7.0} MB/s", mb / zstd_d_s);
    println!("  sha256sum (reference)                         {:>7.0} MB/s", mb / sha_s);
    let mut figures = bench_install(dir, fwupdate, &image, &bundle, key.parent().unwrap())?;
    figures.splice(
        0..0,
        [
            Figure::at_most("bundle size / zstd -19 size", bundle_size / zstd19_size, "x", MAX_SIZE_VS_ZSTD19),
            Figure::at_least("verify+decompress throughput / zstd -d", zstd_d_s / verify_s, "x", MIN_VERIFY_VS_ZSTD),
            Figure::at_most("peak memory of fwupdate bundle verify (256 MiB)", peak, "MiB", MAX_VERIFY_PEAK_MIB),
            Figure::at_most("bundle creation time (256 MiB, for the record)", create_s, "s", 120.0),
        ],
    );
    Ok(figures)
}

/// Budgets of the updater issue.
const MIN_INSTALL_VS_DD: f64 = 0.8;
const MAX_INSTALL_PEAK_MIB: f64 = 32.0;

/// `fwupdate install` of the bundle into slot B of a disk image file, against
/// `dd bs=4M conv=fsync` of the raw image to the same place, same run.
fn bench_install(dir: &Path, fwupdate: &Path, image: &Path, bundle: &Path, keys: &Path) -> Result<Vec<Figure>> {
    use imagebuild::disk::{self, Content, PartSpec};
    let slot = (IMAGE_MIB + 1) * MIB;
    let disk_path = dir.join("install-target.img");
    let parts = vec![
        PartSpec {
            name: "SYSTEM_A".into(),
            type_guid: disk::SLOT_TYPE,
            size: slot,
            attributes: abslot::SlotAttr::new(1, 0, true).to_gpt(0),
            content: Content::Bytes(vec![]),
        },
        PartSpec {
            name: "SYSTEM_B".into(),
            type_guid: disk::SLOT_TYPE,
            size: slot,
            attributes: 0,
            content: Content::Bytes(vec![]),
        },
    ];
    let placed = disk::write(&disk_path, uuid::Uuid::new_v4(), &parts)?;
    let b_offset = placed[1].offset;
    let data = dir.join("data");
    let mut best_install = f64::MAX;
    let mut peak = 0.0f64;
    let mut best_dd = f64::MAX;
    for _ in 0..crate::bench::ROUNDS {
        // Alternate, so both see the same cache state.
        let ((), t) = secs(|| {
            run(Command::new("dd")
                .arg(format!("if={}", image.display()))
                .arg(format!("of={}", disk_path.display()))
                .args(["bs=4M", "conv=fsync,notrunc", "oflag=seek_bytes", "status=none"])
                .arg(format!("seek={b_offset}")))
        })?;
        best_dd = best_dd.min(t);
        let _ = std::fs::remove_dir_all(&data);
        let t0 = Instant::now();
        let p = peak_rss_mib(
            Command::new(fwupdate)
                .arg("--disk")
                .arg(&disk_path)
                .args(["--booted", "a", "--board", BENCH_BOARD, "--running-version", "0"])
                .arg("--data")
                .arg(&data)
                .arg("--keyring")
                .arg(keys)
                .args(["install", "--yes"])
                .arg(bundle),
        )?;
        best_install = best_install.min(t0.elapsed().as_secs_f64());
        peak = peak.max(p);
    }
    let mb = (IMAGE_MIB * MIB) as f64 / 1e6;
    println!("bench: install of the {IMAGE_MIB} MiB slot image into slot B of a disk image file");
    println!(
        "  fwupdate install (verify, decompress, write, fsync, read back) {:>7.0} MB/s, peak {peak:.1} MiB",
        mb / best_install
    );
    println!("  dd bs=4M conv=fsync of the raw image (reference)            {:>7.0} MB/s", mb / best_dd);
    Ok(vec![
        Figure::at_least("install throughput / dd bs=4M conv=fsync", best_dd / best_install, "x", MIN_INSTALL_VS_DD),
        Figure::at_most("peak memory of fwupdate install (256 MiB)", peak, "MiB", MAX_INSTALL_PEAK_MIB),
    ])
}
