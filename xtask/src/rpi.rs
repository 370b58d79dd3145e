//! The Raspberry Pi 4 disk: partition 1 holds only `autoboot.txt`, which
//! tells the EEPROM boot loader which slot partition to start (and which
//! one to try once after `reboot "0 tryboot"`); partitions 2 and 3 are the
//! slots, each a complete Pi boot partition (GPU firmware, config.txt,
//! cmdline.txt, kernel, device tree, initramfs); partition 4 is DATA.
//! Also the QEMU-only copy of the device tree for `-M raspi4b`.

use crate::board::Board;
use crate::build::{part, volume_id, DiskInputs, Layout};
use crate::util::{run, Paths};
use anyhow::{bail, Context, Result};
use imagebuild::disk::{self, Content};
use imagebuild::{fat, MIB};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The device tree's name in each slot (8.3: the FAT images carry short names).
pub const SLOT_DTB: &str = "bcm2711.dtb";
/// Microsoft basic data: what the Pi's loader expects of a FAT partition.
pub const BASIC_DATA_TYPE: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

pub fn disk(paths: &Paths, board: &Board, inp: &DiskInputs, out: &Path) -> Result<Layout> {
    let DiskInputs { kernel, initrd, release, data } = *inp;
    let disk_guid = uuid::Uuid::new_v4();
    let dtb_path = stock_dtb(paths, board)?;
    let dtb = fs::read(&dtb_path).with_context(|| format!("reading the device tree {}", dtb_path.display()))?;
    let config_path = board.dir.join(board.boot.config.as_deref().context("board without boot.config")?);
    let config = fs::read_to_string(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let mut firmware: Vec<(String, Vec<u8>)> = Vec::new();
    for p in &board.packages {
        for (from, to) in &p.boot_files {
            let f = paths.package_dir(board, &p.name).join(from);
            firmware.push((to.clone(), fs::read(&f).with_context(|| format!("reading {}", f.display()))?));
        }
    }
    if !firmware.iter().any(|(n, _)| n == "start4.elf") {
        bail!("{}: no package puts start4.elf into the slots (boot_files)", board.dir.join("board.toml").display());
    }

    let slot_image = |slot: char| -> Result<Vec<u8>> {
        let config = config.replace("@SLOT@", &slot.to_ascii_uppercase().to_string());
        let cmdline = format!("{} quill.slot={slot} quill.diskuuid={disk_guid}\n", board.kernel.cmdline);
        let mut files: Vec<(&str, &[u8])> = firmware.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        files.extend([
            ("config.txt", config.as_bytes()),
            ("cmdline.txt", cmdline.as_bytes()),
            (SLOT_DTB, dtb.as_slice()),
            ("vmlinuz", kernel),
            ("initrd.zst", initrd),
            ("release.txt", release.as_bytes()),
        ]);
        fat::build(board.partitions.slot_mib * MIB, "QUILL SLOT", volume_id(&board.name, "slot"), &files)
            .map_err(|e| anyhow::anyhow!("building slot {slot}: {e}"))
    };
    let slot_a = slot_image('a')?;
    let slot_b = slot_image('b')?;
    let autoboot = updater::tryboot::Autoboot::factory().render();
    let boot = fat::build(
        board.partitions.esp_mib * MIB,
        "QUILL BOOT",
        volume_id(&board.name, "boot"),
        &[("autoboot.txt", autoboot.as_bytes())],
    )?;
    let parts = vec![
        part("BOOT", disk::ESP_TYPE, board.partitions.esp_mib, 0, Content::Bytes(boot)),
        part("SYSTEM_A", BASIC_DATA_TYPE, board.partitions.slot_mib, 0, Content::Bytes(slot_a.clone())),
        part("SYSTEM_B", BASIC_DATA_TYPE, board.partitions.slot_mib, 0, Content::Bytes(slot_b)),
        part("DATA", disk::LINUX_DATA_TYPE, board.partitions.data_mib, 0, Content::File(data.to_path_buf())),
    ];
    let size = disk::disk_size(&parts);
    if board.qemu.disk == "sd" && !size.is_power_of_two() {
        bail!(
            "the disk would be {} MiB, but QEMU's SD card needs a power of two; change [partitions] in {}",
            size / MIB,
            board.dir.join("board.toml").display()
        );
    }
    disk::write(out, disk_guid, &parts)?;
    Ok(Layout { slot: slot_a, disk_size: size })
}

/// Slot A's command line as QEMU passes it: the board's QEMU console
/// instead of the device's.
pub fn qemu_cmdline(board: &Board, slot_image: &[u8]) -> Result<String> {
    let text = fat::read_file(slot_image, "cmdline.txt").map_err(|e| anyhow::anyhow!("slot image: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    let mut words: Vec<&str> = text.split_whitespace().filter(|w| !w.starts_with("console=")).collect();
    if let Some(c) = &board.qemu.console {
        words.extend(c.split_whitespace());
    }
    Ok(words.join(" ") + "\n")
}

/// The board's stock device tree in the unpacked kernel package.
fn stock_dtb(paths: &Paths, board: &Board) -> Result<std::path::PathBuf> {
    let rel = board.boot.dtb.as_deref().context("board without boot.dtb")?;
    Ok(paths.package_dir(board, &board.kernel.package).join(rel))
}

/// Writes the QEMU-only copy of the board's device tree: the patches of
/// the board's [qemu] table applied with fdtput (device-tree-compiler).
/// The real device keeps the stock tree.
pub fn qemu_dtb(paths: &Paths, board: &Board, out: &Path) -> Result<()> {
    let stock = stock_dtb(paths, board)?;
    let tmp = out.with_extension("partial");
    fs::copy(&stock, &tmp).with_context(|| format!("copying {}", stock.display()))?;
    let q = &board.qemu;
    let fdtput = |args: &[&str]| -> Result<()> {
        run(Command::new("fdtput").arg(&tmp).args(args)).context("patching the QEMU device tree (fdtput)")
    };
    for node in &q.dtb_disable {
        fdtput(&["-t", "s", node, "status", "disabled"])?;
    }
    for (node, prop) in &q.dtb_delete {
        fdtput(&["-d", node, prop])?;
    }
    for node in &q.dtb_remove {
        fdtput(&["-r", node])?;
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
        fdtput(&["-c", &node])?;
        fdtput(&["-t", "s", &node, "compatible", "simple-framebuffer"])?;
        let mut args = vec!["-t", "x", &node, "reg"];
        args.extend(reg.iter().map(String::as_str));
        fdtput(&args)?;
        for (prop, v) in [("width", fb.width), ("height", fb.height), ("stride", fb.stride)] {
            fdtput(&["-t", "u", &node, prop, &v.to_string()])?;
        }
        fdtput(&["-t", "s", &node, "format", &fb.format])?;
        fdtput(&["-t", "s", &node, "status", "okay"])?;
    }
    fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))
}
