//! The DATA partition's ext4 filesystem, made by `mkfs.ext4` on a plain file
//! (e2fsprogs; no root, no loop device). No Rust crate writes ext4.

use crate::{Error, Result};
use std::fs::File;
use std::path::Path;
use std::process::Command;

/// Makes an empty ext4 of `size` bytes at `path` with the given label and
/// UUID. The same arguments give the same bytes (the UUID also seeds the
/// directory hash, and the time is fixed). 4 KiB blocks and the default
/// inode ratio, because the device grows it online to fill its disk.
pub fn make(path: &Path, size: u64, label: &str, uuid: &str) -> Result<()> {
    let f = File::create(path).map_err(Error::io("creating", path))?;
    f.set_len(size).map_err(Error::io("sizing", path))?;
    drop(f);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", label, "-U", uuid, "-m", "0", "-b", "4096", "-T", "default", "-E"])
        .arg(format!("root_owner=0:0,hash_seed={uuid}"))
        .arg(path)
        .env("E2FSPROGS_FAKE_TIME", "1") // no build-host timestamps in the image
        .output()
        .map_err(|e| Error::Tool(format!("running mkfs.ext4: {e} (install e2fsprogs, or run `cargo xtask fetch`)")))?;
    if !out.status.success() {
        return Err(Error::Tool(format!(
            "mkfs.ext4 {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
