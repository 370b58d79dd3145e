//! What the Raspberry Pi's GPU firmware needs on the ESP besides bootsel:
//! start4.elf and fixup4.dat, config.txt (which names U-Boot as the kernel),
//! the device tree, Debian's u-boot.bin and its environment (uboot.env).
//! Also the QEMU-only copy of the device tree and the command line of
//! `cargo xtask run --direct`. The slots and the A/B rules are the same as
//! on x86 (build.rs, bootsel).

use crate::board::Board;
use crate::util::{run, Paths};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The device tree's name on the ESP (8.3: the FAT images carry short
/// names); config.txt's `device_tree=` names it.
pub const ESP_DTB: &str = "bcm2711.dtb";
/// U-Boot's environment file (CONFIG_ENV_FAT_FILE).
pub const UBOOT_ENV: &str = "uboot.env";

/// The board file's promises about the Pi's boot files, checked when it is
/// read: each failure says what to add.
pub fn check_board(board: &Board, path: &Path) -> Result<()> {
    let has = |name: &str| board.packages.iter().any(|p| p.boot_files.iter().any(|(_, to)| to == name));
    for (file, package) in
        [("start4.elf", "raspi-firmware"), ("fixup4.dat", "raspi-firmware"), ("u-boot.bin", "u-boot-rpi")]
    {
        if !has(file) {
            bail!(
                "{}: no package puts {file} on the ESP; add boot_files = [[\"…\", \"{file}\"]] to the {package} package",
                path.display()
            );
        }
    }
    if board.boot.dtb.is_none() {
        bail!("{}: boot.dtb is missing: name the Pi's device tree in the kernel package", path.display());
    }
    if board.boot.uboot_env.is_empty() || board.boot.uboot_env_size.is_none() {
        bail!(
            "{}: boot.uboot_env and boot.uboot_env_size are needed: without them U-Boot's default environment \
             waits 2 s for a key and scans USB and the network for anything to boot",
            path.display()
        );
    }
    Ok(())
}

/// The files the GPU firmware and U-Boot read from the ESP, by name.
pub fn esp_files(paths: &Paths, board: &Board, work: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for p in &board.packages {
        for (from, to) in &p.boot_files {
            let f = paths.package_dir(board, &p.name).join(from);
            let data = fs::read(&f).with_context(|| {
                format!("reading {} (is {} {} unpacked? run `cargo xtask fetch`)", f.display(), p.name, p.version)
            })?;
            files.push((to.clone(), data));
        }
    }
    let config_path = board.dir.join(board.boot.config.as_deref().context("board without boot.config")?);
    let config = fs::read_to_string(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    for needed in ["kernel=u-boot.bin", &format!("device_tree={ESP_DTB}")] {
        if !config.lines().any(|l| l.trim() == needed) {
            bail!("{}: the line `{needed}` is missing; the firmware would not start U-Boot", config_path.display());
        }
    }
    files.push(("config.txt".into(), config.into_bytes()));
    files.push((ESP_DTB.into(), device_dtb(paths, board, work)?));
    let size = board.boot.uboot_env_size.context("board without boot.uboot_env_size")?;
    files.push((UBOOT_ENV.into(), uboot_env(&board.boot.uboot_env, size)?));
    Ok(files)
}

/// U-Boot's environment as `saveenv` writes it to a FAT file (no redundant
/// copy): the CRC-32 of the data, then `name=value` strings each ended by
/// a NUL, an empty string, and zeros up to `size`.
pub fn uboot_env(vars: &[String], size: usize) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(size);
    data.extend_from_slice(&[0; 4]);
    for v in vars {
        if !v.contains('=') || v.contains('\0') {
            bail!("U-Boot variable {v:?} is not name=value");
        }
        data.extend_from_slice(v.as_bytes());
        data.push(0);
    }
    data.push(0);
    if data.len() > size {
        bail!("U-Boot's environment is {} bytes, more than its {size}", data.len());
    }
    data.resize(size, 0);
    let crc = crc32fast::hash(&data[4..]);
    data[..4].copy_from_slice(&crc.to_le_bytes());
    Ok(data)
}

/// The board's stock device tree in the unpacked kernel package.
fn stock_dtb(paths: &Paths, board: &Board) -> Result<std::path::PathBuf> {
    let rel = board.boot.dtb.as_deref().context("board without boot.dtb")?;
    let p = paths.package_dir(board, &board.kernel.package).join(rel);
    if !p.is_file() {
        bail!(
            "the device tree {} is not in {}; fix boot.dtb in {}",
            rel,
            board.kernel.package,
            board.dir.join("board.toml").display()
        );
    }
    Ok(p)
}

fn fdtput(dtb: &Path, args: &[&str]) -> Result<()> {
    run(Command::new("fdtput").arg(dtb).args(args)).context("patching a device tree (fdtput)")
}

/// The device's copy of the stock tree: only the board's aliases added.
fn device_dtb(paths: &Paths, board: &Board, work: &Path) -> Result<Vec<u8>> {
    let tmp = work.join("device.dtb.partial");
    fs::copy(stock_dtb(paths, board)?, &tmp).context("copying the device tree")?;
    for (alias, node) in &board.boot.dtb_aliases {
        fdtput(&tmp, &["-t", "s", "/aliases", alias, node])?;
    }
    let data = fs::read(&tmp)?;
    let _ = fs::remove_file(&tmp);
    Ok(data)
}

/// The command line of `cargo xtask run --direct` (QEMU loads slot A's
/// kernel itself): what bootsel would pass for slot A.
pub fn direct_cmdline(board: &Board, slot_a: &str, disk: &str) -> String {
    format!("{} quill.slot=a quill.partuuid={slot_a} quill.diskuuid={disk}\n", board.kernel.cmdline)
}

/// Writes the QEMU-only copy of the board's device tree: the patches of
/// the board's [qemu] table applied with fdtput (device-tree-compiler).
/// The real device keeps the stock tree (with its aliases).
pub fn qemu_dtb(paths: &Paths, board: &Board, out: &Path) -> Result<()> {
    let stock = stock_dtb(paths, board)?;
    let tmp = out.with_extension("partial");
    fs::copy(&stock, &tmp).with_context(|| format!("copying {}", stock.display()))?;
    let q = &board.qemu;
    for node in &q.dtb_disable {
        fdtput(&tmp, &["-t", "s", node, "status", "disabled"])?;
    }
    for (node, prop) in &q.dtb_delete {
        fdtput(&tmp, &["-d", node, prop])?;
    }
    for node in &q.dtb_remove {
        fdtput(&tmp, &["-r", node])?;
    }
    for (node, prop, value) in &q.dtb_set {
        fdtput(&tmp, &["-t", "s", node, prop, value])?;
    }
    if let Some(fb) = &q.framebuffer {
        let node = format!("/framebuffer@{:x}", fb.reg);
        let cells = |name: &str| -> Result<u32> {
            let o = Command::new("fdtget").arg(&tmp).args(["-t", "u", "/", name]).output()?;
            String::from_utf8_lossy(&o.stdout).trim().parse().with_context(|| format!("reading {name} of /"))
        };
        let (ac, sc) = (cells("#address-cells")?, cells("#size-cells")?);
        let mut reg: Vec<String> = Vec::new();
        for (value, n) in [(fb.reg, ac), (fb.size, sc)] {
            for i in (0..n).rev() {
                reg.push(format!("{:x}", (value >> (32 * i)) & 0xffff_ffff));
            }
        }
        fdtput(&tmp, &["-c", &node])?;
        fdtput(&tmp, &["-t", "s", &node, "compatible", "simple-framebuffer"])?;
        let mut args = vec!["-t", "x", &node, "reg"];
        args.extend(reg.iter().map(String::as_str));
        fdtput(&tmp, &args)?;
        for (prop, v) in [("width", fb.width), ("height", fb.height), ("stride", fb.stride)] {
            fdtput(&tmp, &["-t", "u", &node, prop, &v.to_string()])?;
        }
        fdtput(&tmp, &["-t", "s", &node, "format", &fb.format])?;
        fdtput(&tmp, &["-t", "s", &node, "status", "okay"])?;
    }
    fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uboot_env_is_crc_then_nul_separated_pairs_padded_to_size() {
        let vars = vec!["bootdelay=-2".to_string(), "bootcmd=echo a; echo b".to_string()];
        let env = uboot_env(&vars, 0x4000).unwrap();
        assert_eq!(env.len(), 0x4000);
        let crc = u32::from_le_bytes(env[..4].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&env[4..]));
        let text: Vec<&[u8]> = env[4..].split(|&b| b == 0).take_while(|s| !s.is_empty()).collect();
        assert_eq!(text, [&b"bootdelay=-2"[..], b"bootcmd=echo a; echo b"]);
    }

    #[test]
    fn uboot_env_refuses_what_u_boot_could_not_read() {
        assert!(uboot_env(&["novalue".into()], 64).unwrap_err().to_string().contains("name=value"));
        let e = uboot_env(&["a=".to_string() + &"x".repeat(100)], 64).unwrap_err().to_string();
        assert!(e.contains("more than its 64"), "{e}");
    }
}
