//! `cargo xtask keygen` and the keyring an image trusts.
//!
//! Keys live outside target/ so `cargo clean` never deletes them:
//! - release keys: `cargo xtask keygen` writes `~/.config/quill/keys/NAME.key`
//!   and `.pub` (or `--out DIR`); `cargo xtask build --keyring DIR` makes an
//!   image that trusts exactly DIR's `*.pub`;
//! - the development key: `~/.config/quill/dev-key/dev.key`, made on first
//!   use; a build without `--keyring` trusts it, says so loudly and writes
//!   `KEYRING=dev` into /etc/quill/release, which `fwupdate status` and the
//!   home screen show. Only public keys ever enter an image.

use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// `~/.config/quill` (or `$XDG_CONFIG_HOME/quill`).
fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("quill"))
}

/// Where `cargo xtask keygen` writes release keys by default.
pub fn release_dir() -> Result<PathBuf> {
    config_dir().map(|d| d.join("keys")).ok_or_else(|| anyhow!("HOME is not set: pass --out DIR"))
}

/// The development key's folder (made on first use).
pub fn dev_dir() -> Result<PathBuf> {
    config_dir().map(|d| d.join("dev-key")).ok_or_else(|| anyhow!("HOME is not set: build with --keyring DIR"))
}

/// The development secret key, made when missing (tests and the bench sign with it).
pub fn dev_key() -> Result<PathBuf> {
    let dir = dev_dir()?;
    let key = dir.join("dev.key");
    if !key.is_file() {
        println!("keys: making the development key in {} (for test images only)", dir.display());
        keygen(&dir, "dev")?;
    }
    Ok(key)
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

/// The keys an image trusts and how its release file names them.
pub struct Keyring {
    /// `*.pub` files as (file name, contents), checked.
    pub keys: Vec<(String, Vec<u8>)>,
    /// `dev`, or the key ids of a chosen keyring.
    pub label: String,
}

/// The keyring of a build: `chosen` (`--keyring DIR`), else the
/// development key, with a loud warning.
pub fn keyring(chosen: Option<&Path>) -> Result<Keyring> {
    match chosen {
        Some(dir) => {
            let keys = public_keys(dir)?;
            let ids = keys
                .iter()
                .map(|(_, t)| {
                    bundle::PublicKey::from_file_text(&String::from_utf8_lossy(t)).map(|k| k.id().to_string())
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!(e))?;
            Ok(Keyring { keys, label: ids.join(",") })
        }
        None => {
            dev_key()?;
            let dir = dev_dir()?;
            println!(
                "build: WARNING: this image trusts the DEVELOPMENT key in {} (KEYRING=dev): anyone with this \
                 checkout's key can sign updates for it. For devices in a fleet, build with --keyring DIR \
                 (your release keys' *.pub, made with `cargo xtask keygen`).",
                dir.display()
            );
            Ok(Keyring { keys: public_keys(&dir)?, label: "dev".into() })
        }
    }
}

/// The `*.pub` files of `dir` as (file name, contents), checked.
pub fn public_keys(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut list: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading the keyring folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    list.sort();
    if list.is_empty() {
        bail!(
            "the keyring folder {} holds no *.pub key; run `cargo xtask keygen --out {}`",
            dir.display(),
            dir.display()
        );
    }
    let mut out = Vec::new();
    for p in list {
        let text = fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        bundle::PublicKey::from_file_text(&String::from_utf8_lossy(&text))
            .map_err(|e| anyhow!("{}: {e}", p.display()))?;
        out.push((p.file_name().unwrap().to_string_lossy().into_owned(), text));
    }
    Ok(out)
}
