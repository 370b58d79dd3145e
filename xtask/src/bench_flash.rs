//! Flash figures of `cargo xtask bench`: `fwupdate flash` (write, sync,
//! read back and verify, partition table) of a disk image onto an image-file
//! target, against `dd bs=4M conv=fsync` of the same image to the same
//! target in the same run: once for a full image (every partition full of
//! incompressible data) and once for the built image, which is mostly empty.

use crate::bench::Figure;
use crate::util::run;
use anyhow::Result;
use imagebuild::disk::{self, Content, PartSpec};
use imagebuild::MIB;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Budgets of the UD Pocket issue.
const MIN_FULL_VS_DD: f64 = 0.9;
const MIN_SPARSE_VS_DD: f64 = 1.0;

/// A 258 MiB Quill-shaped image whose partitions are full of data.
fn full_image(path: &Path) -> Result<()> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut fill = |mib: u64| -> Content {
        let mut v = vec![0u8; (mib * MIB) as usize];
        for c in v.chunks_exact_mut(8) {
            // xorshift: incompressible, never a zero block.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        Content::Bytes(v)
    };
    let parts = vec![
        PartSpec { name: "ESP".into(), type_guid: disk::ESP_TYPE, size: 16 * MIB, attributes: 0, content: fill(16) },
        PartSpec {
            name: "SYSTEM_A".into(),
            type_guid: disk::SLOT_TYPE,
            size: 112 * MIB,
            attributes: 0,
            content: fill(112),
        },
        PartSpec {
            name: "SYSTEM_B".into(),
            type_guid: disk::SLOT_TYPE,
            size: 112 * MIB,
            attributes: 0,
            content: fill(112),
        },
        PartSpec {
            name: "DATA".into(),
            type_guid: disk::LINUX_DATA_TYPE,
            size: 16 * MIB,
            attributes: 0,
            content: fill(16),
        },
    ];
    disk::write(path, uuid::Uuid::new_v4(), &parts)?;
    Ok(())
}

/// Best of `ROUNDS` alternating runs: (flash, dd, dd then a direct
/// read-back of the target) in seconds. The last is the floor of any copy
/// that reads the medium back, for the record.
fn compare(fwupdate: &Path, image: &Path, target: &Path) -> Result<(f64, f64, f64)> {
    let len = std::fs::metadata(image)?.len();
    std::fs::File::create(target)?.set_len(len)?;
    let (mut best_flash, mut best_dd, mut best_floor) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..crate::bench::ROUNDS {
        let t = Instant::now();
        run(Command::new("dd").arg(format!("if={}", image.display())).arg(format!("of={}", target.display())).args([
            "bs=4M",
            "conv=fsync,notrunc",
            "status=none",
        ]))?;
        let dd = t.elapsed().as_secs_f64();
        best_dd = best_dd.min(dd);
        let t = Instant::now();
        run(Command::new("dd").arg(format!("if={}", target.display())).args([
            "of=/dev/null",
            "bs=4M",
            "iflag=direct",
            "status=none",
        ]))?;
        best_floor = best_floor.min(dd + t.elapsed().as_secs_f64());
        let t = Instant::now();
        run(Command::new(fwupdate)
            .args(["flash", "--yes"])
            .arg(image)
            .arg(target)
            .stdout(Stdio::null())
            .stderr(Stdio::null()))?;
        best_flash = best_flash.min(t.elapsed().as_secs_f64());
    }
    Ok((best_flash, best_dd, best_floor))
}

pub fn bench(fwupdate: &Path, built_disk: &Path, dir: &Path) -> Result<Vec<Figure>> {
    let full = dir.join("full-disk.img");
    full_image(&full)?;
    let mut figures = Vec::new();
    for (name, image, budget) in
        [("full image", full.as_path(), MIN_FULL_VS_DD), ("built image (mostly empty)", built_disk, MIN_SPARSE_VS_DD)]
    {
        let (flash, dd, floor) = compare(fwupdate, image, &dir.join("flash-target.img"))?;
        let mb = std::fs::metadata(image)?.len() as f64 / 1e6;
        println!("bench: flash of the {name}, {mb:.0} MB, onto an image file");
        println!("  fwupdate flash (write, fsync, read back, verify, table) {:>7.0} MB/s", mb / flash);
        println!("  dd bs=4M conv=fsync (reference)                          {:>7.0} MB/s", mb / dd);
        println!(
            "  dd, then dd iflag=direct reading it all back             {:>7.0} MB/s  (a verified full copy's floor: {:.2}x dd)",
            mb / floor,
            dd / floor
        );
        figures.push(Figure::at_least(format!("flash throughput / dd, {name}"), dd / flash, "x", budget));
    }
    let _ = std::fs::remove_file(dir.join("flash-target.img"));
    let _ = std::fs::remove_file(&full);
    Ok(figures)
}
