//! `cargo xtask fuzz`: every cargo-fuzz target in tests/fuzz (what a
//! stranger can hand Quill: bundles, GPTs, the trust record, DATA's files,
//! DHCP input) for a while each. cargo-fuzz is installed when missing; it
//! runs on the stable toolchain without a sanitizer (`-s none`): crashes,
//! panics, hangs and huge allocations are still found, memory errors in
//! `unsafe` code would need nightly's AddressSanitizer.

use crate::util::Paths;
use anyhow::{bail, Context, Result};
use std::process::Command;

/// The cargo-fuzz release installed when none is there.
const CARGO_FUZZ: &str = "0.13.2";
const FUZZ_DIR: &str = "tests/fuzz";

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn ensure_cargo_fuzz() -> Result<()> {
    let have = Command::new(cargo()).args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !have {
        println!("fuzz: installing cargo-fuzz {CARGO_FUZZ} (cargo install)");
        let st = Command::new(cargo())
            .args(["install", "--locked", "cargo-fuzz", "--version", CARGO_FUZZ])
            .status()
            .context("running cargo install cargo-fuzz")?;
        if !st.success() {
            bail!("cargo install cargo-fuzz failed ({st})");
        }
    }
    Ok(())
}

/// Runs every target (or `only`) for `seconds` each; fails on the first
/// target that finds a crash, naming the input that crashes it.
pub fn fuzz(paths: &Paths, seconds: u64, only: Option<&str>) -> Result<()> {
    ensure_cargo_fuzz()?;
    let list = Command::new(cargo())
        .current_dir(&paths.root)
        .args(["fuzz", "list", "--fuzz-dir", FUZZ_DIR])
        .output()
        .context("cargo fuzz list")?;
    let targets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|t| !t.is_empty() && only.is_none_or(|o| o == t))
        .collect();
    if targets.is_empty() {
        bail!("no fuzz target{} in {FUZZ_DIR}", only.map(|o| format!(" named {o}")).unwrap_or_default());
    }
    for t in &targets {
        println!("fuzz: {t} for {seconds} s");
        let out = Command::new(cargo())
            .current_dir(&paths.root)
            .args(["fuzz", "run", "--fuzz-dir", FUZZ_DIR, "-s", "none", "-O", t, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=512")
            .output()
            .with_context(|| format!("cargo fuzz run {t}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        let done = err.lines().rev().find(|l| l.starts_with("Done ")).unwrap_or("(no summary)");
        if !out.status.success() {
            let tail: Vec<&str> = err.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            bail!(
                "fuzz target {t} failed; the crashing input is under {FUZZ_DIR}/artifacts/{t}/:\n{}",
                tail.join("\n")
            );
        }
        println!("fuzz: {t}: {done}");
    }
    println!("fuzz: {} targets, no crash (corpora in {FUZZ_DIR}/corpus/)", targets.len());
    Ok(())
}
