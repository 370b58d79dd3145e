//! Small helpers shared by the xtask subcommands.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where things live for one board.
pub struct Paths {
    pub root: PathBuf,
    /// target/quill/<board>: the build outputs.
    pub out: PathBuf,
    /// target/quill/cache: downloads and unpacked packages (all boards).
    pub cache: PathBuf,
}

impl Paths {
    pub fn new(board: &str) -> Paths {
        let root = project_root();
        let quill = root.join("target/quill");
        Paths { out: quill.join(board), cache: quill.join("cache"), root }
    }

    /// Where a Debian package of the board's architecture is unpacked
    /// (one folder per architecture: busybox-static exists for each).
    pub fn package_dir(&self, board: &crate::board::Board, name: &str) -> PathBuf {
        self.cache.join(format!("pkg-{}", board.debian.arch)).join(name)
    }
}

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn have_command(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
                .any(|d| d.join(cmd).is_file())
        })
        .unwrap_or(false)
}

/// Runs a command with inherited output; fails with its exit status.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
