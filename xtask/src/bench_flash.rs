//! Flash figures of `cargo xtask bench`: `fwupdate flash` (write, sync,
//! read back and verify, partition table) of a disk image onto an image-file
//! target, against the floor of any verified copy (O_DIRECT dd, then an
//! O_DIRECT read-back) of the same image to the same target in the same
//! round: once for a full image (every partition full of incompressible
//! data) and once for the built image, which is mostly empty.

use crate::bench::Figure;
use crate::util::run;
use anyhow::Result;
use imagebuild::disk::{self, Content, PartSpec};
use imagebuild::MIB;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Budgets of the performance issue: a full image at 0.8x the verified
/// floor's throughput; the built image, mostly empty, at least as fast as
/// the floor (its empty space is not written).
const MIN_FULL_VS_FLOOR: f64 = 0.8;
const MIN_SPARSE_VS_FLOOR: f64 = 1.0;

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

/// Median over `ROUNDS` rounds of the same-round ratio floor/flash (the
/// flash's throughput relative to the floor), and the median times of
/// (flash, floor, buffered dd). The floor is the verified copy at the
/// device's limit: `dd iflag=direct oflag=direct conv=fsync`, then an
/// O_DIRECT read of everything back. Caches are dropped before each run
/// when the bench runs as root.
fn compare(fwupdate: &Path, image: &Path, target: &Path) -> Result<(f64, f64, f64, f64)> {
    let len = std::fs::metadata(image)?.len();
    std::fs::File::create(target)?.set_len(len)?;
    let dd = |direct: bool| -> Result<f64> {
        let mut c = Command::new("dd");
        c.arg(format!("if={}", image.display())).arg(format!("of={}", target.display()));
        c.args(["bs=4M", "conv=fsync,notrunc", "status=none"]);
        if direct {
            c.args(["iflag=direct", "oflag=direct"]);
        }
        crate::bench::drop_caches();
        let t = Instant::now();
        run(&mut c)?;
        Ok(t.elapsed().as_secs_f64())
    };
    let (mut flash, mut floor, mut buffered, mut ratio) = (vec![], vec![], vec![], vec![]);
    for _ in 0..crate::bench::ROUNDS {
        let write = dd(true)?;
        let t = Instant::now();
        run(Command::new("dd").arg(format!("if={}", target.display())).args([
            "of=/dev/null",
            "bs=4M",
            "iflag=direct",
            "status=none",
        ]))?;
        floor.push(write + t.elapsed().as_secs_f64());
        buffered.push(dd(false)?);
        crate::bench::drop_caches();
        let t = Instant::now();
        run(Command::new(fwupdate)
            .args(["flash", "--yes"])
            .arg(image)
            .arg(target)
            .stdout(Stdio::null())
            .stderr(Stdio::null()))?;
        flash.push(t.elapsed().as_secs_f64());
        ratio.push(floor.last().unwrap() / flash.last().unwrap());
    }
    let m = crate::bench::median;
    Ok((m(&ratio), m(&flash), m(&floor), m(&buffered)))
}

pub fn bench(fwupdate: &Path, built_disk: &Path, dir: &Path) -> Result<Vec<Figure>> {
    let full = dir.join("full-disk.img");
    full_image(&full)?;
    let mut figures = Vec::new();
    for (name, image, budget) in [
        ("full image", full.as_path(), MIN_FULL_VS_FLOOR),
        ("built image (mostly empty)", built_disk, MIN_SPARSE_VS_FLOOR),
    ] {
        let (ratio, flash, floor, dd) = compare(fwupdate, image, &dir.join("flash-target.img"))?;
        let mb = std::fs::metadata(image)?.len() as f64 / 1e6;
        println!("bench: flash of the {name}, {mb:.0} MB, onto an image file (medians of {})", crate::bench::ROUNDS);
        println!("  fwupdate flash (write, fsync, read back, verify, table) {:>7.0} MB/s", mb / flash);
        println!("  verified floor: dd direct + direct read-back           {:>7.0} MB/s", mb / floor);
        println!("  dd bs=4M conv=fsync, buffered (for the record)           {:>7.0} MB/s", mb / dd);
        figures.push(Figure::at_least(format!("flash throughput / verified floor, {name}"), ratio, "x", budget));
    }
    let _ = std::fs::remove_file(dir.join("flash-target.img"));
    let _ = std::fs::remove_file(&full);
    Ok(figures)
}
