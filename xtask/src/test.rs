//! `cargo xtask test`: fetch and build when needed, then `cargo test` over
//! the whole workspace including the QEMU end-to-end tests in tests/.

use crate::board::Board;
use crate::build::{self, BuildOptions};
use crate::util::{run, Paths};
use anyhow::Result;
use std::process::Command;

pub fn test(paths: &Paths, board: &Board, unit_only: bool, rest: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&paths.root).args(["test", "--workspace"]);
    if unit_only {
        cmd.arg("--").args(rest);
    } else {
        let built = build::build(paths, board, &BuildOptions { version: env!("CARGO_PKG_VERSION").into() })?;
        println!("test: running unit and end-to-end tests against {}", built.disk.display());
        cmd.env("QUILL_BOARD", &board.name)
            .env("QUILL_IMAGE", &built.disk)
            .args(["--", "--include-ignored"])
            .args(rest);
    }
    run(&mut cmd)
}
