//! `cargo xtask keygen` and the keyring the image trusts.

use crate::util::Paths;
use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// target/quill/keys: the development keys of this checkout.
pub fn default_dir(paths: &Paths) -> PathBuf {
    paths.cache.parent().unwrap().join("keys")
}

pub fn keygen(dir: &Path, name: &str) -> Result<()> {
    let key = bundle::SecretKey::generate().map_err(|e| anyhow!(e))?;
    let (k, p) = key.write_pair(dir, name).map_err(|e| anyhow!(e))?;
    println!(
        "keygen: key {} written: secret {} (mode 0600, never put into an image), public {}",
        key.id(),
        k.display(),
        p.display()
    );
    Ok(())
}

/// The `*.pub` files of `dir` as (file name, contents), checked. When the
/// default folder has no key yet, a development key pair is made there.
pub fn public_keys(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let list = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(d)
            .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pub")).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    if list(dir).is_empty() {
        if dir.file_name().is_some_and(|n| n == "keys") && dir.parent().is_some_and(|p| p.ends_with("target/quill")) {
            println!("build: no signing key yet; making a development key in {}", dir.display());
            keygen(dir, "dev")?;
        } else {
            bail!(
                "the keyring folder {} holds no *.pub key; run `cargo xtask keygen --out {}`",
                dir.display(),
                dir.display()
            );
        }
    }
    let mut out = Vec::new();
    for p in list(dir) {
        let text = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        bundle::PublicKey::from_file_text(&String::from_utf8_lossy(&text))
            .map_err(|e| anyhow!("{}: {e}", p.display()))?;
        out.push((p.file_name().unwrap().to_string_lossy().into_owned(), text));
    }
    Ok(out)
}
