//! `cargo xtask bundle`: build the slot image of a version and wrap it in a
//! signed bundle.

use crate::board::Board;
use crate::build::{self, BuildOptions};
use crate::util::{mib, Paths};
use anyhow::{anyhow, Context, Result};
use bundle::{Builder, SecretKey, Target};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `cargo xtask bundle` makes.
pub struct BundleArgs<'a> {
    pub version: &'a str,
    /// The secret key that signs it.
    pub key: &'a Path,
    pub rollback_index: u64,
    /// The keyring the bundle's image trusts (`None`: the development key).
    pub keyring: Option<PathBuf>,
    /// Test images only: the health check always fails.
    pub fail_health: bool,
    /// Quill's binary compiled differently (see `BuildOptions::app_variant`).
    pub app_variant: bool,
}

pub fn bundle(paths: &Paths, board: &Board, a: &BundleArgs) -> Result<PathBuf> {
    let (version, rollback_index, fail_health) = (a.version, a.rollback_index, a.fail_health);
    let key = SecretKey::load(a.key).map_err(|e| anyhow!(e))?;
    let suffix = match (fail_health, a.app_variant) {
        (true, _) => "-failhealth",
        (false, true) => "-app",
        (false, false) => "",
    };
    // Built in its own folder so the main disk.img is left alone.
    let mut opts = BuildOptions::new(paths, version);
    opts.out = paths.out.join(format!("build-{version}{suffix}"));
    opts.fail_health = fail_health;
    opts.app_variant = a.app_variant;
    opts.keyring = a.keyring.clone();
    let built = build::build(paths, board, &opts)?;
    let image = std::fs::read(&built.slot).with_context(|| format!("reading {}", built.slot.display()))?;
    let mut b = Builder::new(&board.name, version);
    b.rollback_index = rollback_index;
    b.build_id = crate::build::build_id(&paths.root);
    b.payloads.push((Target::SlotImage, image));
    let out = paths.out.join(format!("quill-{}-{version}{suffix}.qbundle", board.name));
    let tmp = out.with_extension("partial");
    let started = Instant::now();
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    let result = b.write(&out.display().to_string(), &mut file, &[&key]);
    drop(file);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    std::fs::rename(&tmp, &out)?;
    let size = std::fs::metadata(&out)?.len();
    println!(
        "bundle: {} ({}, slot image {}) signed by key {} in {:.1} s",
        out.display(),
        mib(size),
        mib(built.slot.metadata()?.len()),
        key.id(),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}
