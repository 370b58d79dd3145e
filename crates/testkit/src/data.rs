//! Writing a disk image's DATA as the device would have (settings, the
//! administrator's choice) with debugfs from e2fsprogs, and listing it: for
//! the QEMU tests and the bench, which boot images already set up.

use anyhow::{Context, Result};
use gptedit::{FileDisk, Gpt};
use std::fs;
use std::path::Path;
use std::process::Command;

/// What the administrator chose in the Setup Assistant of a test disk image.
pub enum Admin<'a> {
    /// "No password": the consoles open a shell (with a warning).
    Open,
    /// This password guards the consoles and the screen.
    Password(&'a str),
}

/// Writes what a finished Setup Assistant leaves on DATA of the disk image
/// `image`: settings with `setup_done`, and the administrator's choice.
pub fn set_up_image(image: &Path, admin: Admin) -> Result<()> {
    write_settings(image, &devconfig::Settings { setup_done: true, ..devconfig::Settings::default() })?;
    set_admin_image(image, admin)
}

/// Writes `settings` on DATA of `image` as the device saves them.
pub fn write_settings(image: &Path, settings: &devconfig::Settings) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    devconfig::Store::new(tmp.path()).save(settings).map_err(|e| anyhow::anyhow!("{e}"))?;
    write_data_file(image, devconfig::FILE_NAME, &tmp.path().join(devconfig::FILE_NAME))
}

/// Writes the administrator's choice (only) on DATA of `image`.
pub fn set_admin_image(image: &Path, admin: Admin) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    match admin {
        Admin::Open => adminlock::set_open(tmp.path()),
        Admin::Password(p) => adminlock::set_password(tmp.path(), p),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    write_data_file(image, adminlock::FILE, &tmp.path().join(adminlock::FILE))
}

/// Copies `from` into the settings folder on DATA (quill/NAME) of the disk
/// image `image` with debugfs (e2fsprogs), owned by root, as the device
/// would have written it.
pub fn write_data_file(image: &Path, name: &str, from: &Path) -> Result<()> {
    let fs_spec = data_spec(image)?;
    let debugfs = |req: &str| -> Result<String> {
        let out = Command::new("debugfs")
            .args(["-w", "-R", req, &fs_spec])
            .output()
            .context("running debugfs (install e2fsprogs)")?;
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // An existing folder or a missing file is fine; a failed write is not.
    debugfs("mkdir quill")?;
    debugfs(&format!("rm quill/{name}"))?;
    let err = debugfs(&format!("write {} quill/{name}", from.display()))?;
    anyhow::ensure!(!err.contains("rror") && !err.contains("not found"), "debugfs write quill/{name}: {err}");
    for field in ["uid", "gid"] {
        debugfs(&format!("set_inode_field quill/{name} {field} 0"))?;
    }
    let check = Command::new("debugfs").args(["-R", &format!("cat quill/{name}"), &fs_spec]).output()?;
    anyhow::ensure!(check.stdout == fs::read(from)?, "quill/{name} on DATA does not hold what was written");
    Ok(())
}

/// The names in the settings folder on DATA of `image` (debugfs `ls`).
pub fn data_listing(image: &Path) -> Result<String> {
    let spec = data_spec(image)?;
    let out = Command::new("debugfs").args(["-R", "ls -l quill", &spec]).output().context("running debugfs")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The bytes of `quill/NAME` on DATA of `image` (debugfs `cat`).
pub fn data_file(image: &Path, name: &str) -> Result<Vec<u8>> {
    let spec = data_spec(image)?;
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat quill/{name}"), &spec])
        .output()
        .context("running debugfs")?;
    anyhow::ensure!(
        out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("not found"),
        "quill/{name} is not on DATA"
    );
    Ok(out.stdout)
}

/// debugfs's name for the DATA filesystem inside `image`.
fn data_spec(image: &Path) -> Result<String> {
    let mut d = FileDisk::new(fs::File::open(image)?, 512)?;
    let gpt = Gpt::load(&mut d).map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?;
    let data = gpt.find_by_name("DATA").with_context(|| format!("{} has no DATA partition", image.display()))?;
    Ok(format!("{}?offset={}", image.display(), data.first_lba * 512))
}
