//! `cargo xtask test`: fetch and build when needed, then `cargo test` over
//! the whole workspace including the QEMU end-to-end tests in tests/, and a
//! one-line summary of all test binaries at the end.

use crate::board::{Board, PI_BOARD};
use crate::build::{self, BuildOptions};
use crate::util::Paths;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

pub fn test(paths: &Paths, board: &Board, unit_only: bool, rest: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&paths.root).args(["test", "--workspace"]);
    // The golden frames are drawn with the font the image ships.
    let fonts = paths.package_dir(board, "fonts-dejavu-core").join("usr/share/fonts/truetype/dejavu");
    if unit_only {
        if fonts.join("DejaVuSans.ttf").exists() {
            cmd.env("QUILL_FONT_DIR", &fonts);
        }
        cmd.arg("--").args(rest);
    } else {
        let built = build::build(paths, board, &BuildOptions::new(paths, env!("CARGO_PKG_VERSION")))?;
        // Update bundles for the updater tests: a good 2.0.0 and a 3.0.0
        // whose health check fails, signed with the key the image trusts.
        let key = crate::keys::dev_key()?;
        let bundles = |paths: &Paths, board: &Board| -> Result<()> {
            for (version, rollback_index, fail_health) in [("2.0.0", 1, false), ("3.0.0", 2, true)] {
                let a = crate::bundle_cmd::BundleArgs {
                    version,
                    key: &key,
                    rollback_index,
                    keyring: None,
                    fail_health,
                    app_variant: false,
                };
                crate::bundle_cmd::bundle(paths, board, &a)?;
            }
            Ok(())
        };
        bundles(paths, board)?;
        // The Raspberry Pi 4 image and its bundles too: its tests
        // (tests/tests/rpi4.rs) boot it under raspi4b through U-Boot and
        // run the x86 update flows on it.
        let pi_paths = Paths::new(PI_BOARD);
        if board.name != PI_BOARD {
            let pi = Board::load(&paths.root, PI_BOARD)?;
            build::build(&pi_paths, &pi, &BuildOptions::new(&pi_paths, env!("CARGO_PKG_VERSION")))?;
            bundles(&pi_paths, &pi)?;
        }
        cmd.env("QUILL_RPI4_DIR", &pi_paths.out);
        cmd.env("QUILL_DEV_KEY", &key);
        println!("test: running unit and end-to-end tests against {}", built.disk.display());
        cmd.env("QUILL_FONT_DIR", &fonts);
        cmd.env("QUILL_BOARD", &board.name)
            .env("QUILL_IMAGE", &built.disk)
            .env("QUILL_BUNDLES", &paths.out)
            .args(["--", "--include-ignored"])
            .args(rest);
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().context("starting cargo test")?;
    let mut total = Totals::default();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line?;
        println!("{line}");
        total.add(&line);
    }
    let status = child.wait()?;
    println!("\nsummary: {} passed, {} failed, {} skipped", total.passed, total.failed, total.ignored);
    if !status.success() || total.failed > 0 {
        bail!("tests failed; console logs of failed QEMU tests are in target/quill/test-logs");
    }
    if !unit_only {
        // A few seconds of each fuzz target; `cargo xtask fuzz` and the
        // bench run them for minutes.
        crate::fuzz::fuzz(paths, FUZZ_SECONDS, None)?;
    }
    Ok(())
}

/// Seconds of each fuzz target in a full test run.
const FUZZ_SECONDS: u64 = 5;

#[derive(Default, Debug, PartialEq)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Totals {
    /// Adds one `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    fn add(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else { return };
        for part in rest.split(';') {
            let mut w = part.split_whitespace().rev();
            let (Some(kind), Some(n)) = (w.next(), w.next()) else { continue };
            let Ok(n) = n.parse::<u64>() else { continue };
            match kind {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_cargo_test_result_lines() {
        let mut t = Totals::default();
        t.add("test result: ok. 11 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        t.add("test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 16.25s");
        t.add("running 2 tests");
        assert_eq!(t, Totals { passed: 12, failed: 1, ignored: 2 });
    }
}
