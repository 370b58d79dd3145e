//! Carrying out a plan on a target: wipe the old tables, copy every
//! region, sync, read everything back, and only then write the new table.

use crate::copy::{copy_region, verify_region};
use crate::plan::{Plan, MIB, SECTOR};
use crate::{Error, Result};
use blockdev::{BlockDevice, GptView, Written};
use gptedit::Gpt;
use std::time::{Duration, Instant};

/// Progress, for a bar or console lines.
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    Wiping,
    Writing { done: u64, total: u64, elapsed: Duration },
    Syncing,
    Verifying { done: u64, total: u64 },
    Table,
}

#[derive(Clone, Debug)]
pub struct Report {
    /// Bytes copied (regions), and of those the bytes that were all zeros
    /// and not written.
    pub bytes: u64,
    pub zero_bytes: u64,
    pub write_seconds: f64,
    pub verify_seconds: f64,
    pub seconds: f64,
    pub data_grown: (u64, u64),
    pub disk_guid: String,
}

/// A protective MBR for a disk of `blocks` sectors.
fn protective_mbr(blocks: u64) -> [u8; 512] {
    let mut m = [0u8; 512];
    let e = &mut m[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    e[4] = 0xEE;
    e[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&u32::try_from(blocks - 1).unwrap_or(u32::MAX).to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xAA;
    m
}

/// Carries out a plan. See the crate documentation for the order.
pub fn write_disk(dev: &mut dyn BlockDevice, plan: Plan<'_>, progress: &mut dyn FnMut(Stage)) -> Result<Report> {
    let start = Instant::now();
    let len = dev.len();
    if plan.gpt.backup_lba() != len / SECTOR - 1 {
        return Err(Error::Table("the table was not fitted to this target".into()));
    }
    for r in &plan.regions {
        if r.offset < MIB || r.offset + r.len > len - MIB / 2 {
            return Err(Error::Refused(format!("{} would overwrite a partition table area", r.name)));
        }
    }
    progress(Stage::Wiping);
    let wipe =
        |dev: &mut dyn BlockDevice, at: u64, l: u64| dev.zero_range(at, l).map_err(|e| Error::Write { at, source: e });
    wipe(dev, 0, MIB)?;
    wipe(dev, len - MIB, MIB)?;
    dev.flush().map_err(|e| Error::Write { at: 0, source: e })?;

    let total: u64 = plan.regions.iter().map(|r| r.len).sum();
    let mut before = 0u64;
    let mut written: Vec<Written> = Vec::new();
    for mut r in plan.regions {
        let w = copy_region(&r.name, &mut *r.reader, r.len, dev, r.offset, &mut |d| {
            progress(Stage::Writing { done: before + d, total, elapsed: start.elapsed() })
        })?;
        before += r.len;
        written.push(w);
    }
    progress(Stage::Syncing);
    dev.flush().map_err(|e| Error::Write { at: 0, source: e })?;
    let write_seconds = start.elapsed().as_secs_f64();
    let _ = dev.drop_cache();
    let mut before = 0u64;
    for w in &written {
        verify_region(w, dev, &mut |d| progress(Stage::Verifying { done: before + d.min(w.len), total }))?;
        before += w.len;
    }
    let verify_seconds = start.elapsed().as_secs_f64() - write_seconds;

    write_gap(dev, &plan.gpt, &plan.gap)?;

    progress(Stage::Table);
    let mut gpt = plan.gpt;
    let mut mbr = vec![0u8; gpt.block_size() as usize];
    mbr[..512].copy_from_slice(&protective_mbr(len / SECTOR));
    dev.write_at(0, &mbr).map_err(|e| Error::Write { at: 0, source: e })?;
    gpt.write(&mut GptView { dev: &mut *dev, block_size: SECTOR as u32 }).map_err(|e| Error::Table(e.to_string()))?;
    let _ = dev.drop_cache();
    let back = Gpt::load(&mut GptView { dev: &mut *dev, block_size: SECTOR as u32 })
        .map_err(|e| Error::Table(format!("reading the new table back: {e}")))?;
    if !back.health().is_clean() || back.partitions() != gpt.partitions() || back.disk_guid() != gpt.disk_guid() {
        return Err(Error::Table("the table read back differs from the one written".into()));
    }
    let zero_bytes = written.iter().map(|w| w.zero_bytes).sum::<u64>();
    Ok(Report {
        bytes: total,
        zero_bytes,
        write_seconds,
        verify_seconds,
        seconds: start.elapsed().as_secs_f64(),
        data_grown: plan.data_grown,
        disk_guid: gpt.disk_guid().to_string(),
    })
}

/// Writes the plan's gap bytes (the trust record) where no partition and no
/// part of the GPT lies, then reads them back.
fn write_gap(dev: &mut dyn BlockDevice, gpt: &Gpt, gap: &[(u64, Vec<u8>)]) -> Result<()> {
    let first_part = gpt.partitions().iter().map(|p| p.first_lba * SECTOR).min().unwrap_or(0);
    let first_usable = gpt.usable_range().0 * SECTOR;
    for (at, bytes) in gap {
        let end = at + bytes.len() as u64;
        if *at < first_usable || end > first_part {
            return Err(Error::Table(format!(
                "{} bytes at {at} would not fit between the GPT and the first partition",
                bytes.len()
            )));
        }
        dev.write_at(*at, bytes).map_err(|e| Error::Write { at: *at, source: e })?;
    }
    dev.flush().map_err(|e| Error::Write { at: 0, source: e })?;
    let _ = dev.drop_cache();
    for (at, bytes) in gap {
        let mut back = vec![0u8; bytes.len()];
        dev.read_at(*at, &mut back).map_err(|e| Error::Readback { at: *at, source: e })?;
        if &back != bytes {
            return Err(Error::Mismatch { region: "the trust record".into(), at: *at });
        }
    }
    Ok(())
}
