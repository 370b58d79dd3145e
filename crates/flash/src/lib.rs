//! Puts Quill onto a whole disk: a built disk image flashed from a host
//! (`cargo xtask flash`, `fwupdate flash`), or the running UD Pocket copied
//! onto a device's internal disk (`fwupdate install-to-disk`).
//!
//! Both are a [`Plan`] (regions to copy and the final partition table)
//! carried out by [`write_disk`]:
//! 1. the old partition tables at both ends of the target are wiped, so a
//!    cut from here on leaves a disk that no firmware boots;
//! 2. every region is copied (zero runs become holes or write-zeroes);
//! 3. the target is synced, its cache dropped, and every region is read
//!    back and compared with the SHA-256 of each 4 MiB chunk;
//! 4. only then the protective MBR and the GPT (backup, then primary) are
//!    written, fitted to the target: DATA grows to the end of the disk (init
//!    grows its ext4 at the next boot) and the disk and partitions get GUIDs
//!    of their own, so two disks made from one image are never confused.
//!
//! Around that: [`disks`] lists the internal disks a running UD Pocket can
//! install onto (what `fwupdate install-to-disk --json` prints and the Setup
//! Assistant reads), and [`carry`] copies the stick's settings onto a freshly
//! installed disk.
//!
//! Architecture Invariant: a target is bootable only once every byte of it
//! was read back and matched. [`carry`] is the one place outside init that
//! mounts a filesystem (the new disk's DATA, for as long as one write takes).

pub mod carry;
mod copy;
#[cfg(test)]
mod disk_tests;
pub mod disks;
mod plan;
mod target;
mod write;

pub use blockdev::{ChunkSum, Written};
pub use copy::{verify_region, Source, Stream, CHUNK};
pub use plan::{plan_image, plan_install, prepare_image, Plan, Region, RegionReader};
pub use target::{root_disks, Kind, Sys, Target};
pub use write::{write_disk, Report, Stage};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused before anything was written.
    #[error("{0}")]
    Refused(String),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: String, source: std::io::Error },
    /// Reading what is being copied failed (the image, the boot disk).
    #[error("{0}")]
    Source(String),
    #[error("writing the target failed at {} MiB: {source}{}", at >> 20, gone_hint(source))]
    Write { at: u64, source: std::io::Error },
    #[error("reading the target back failed at {} MiB: {source}{}", at >> 20, gone_hint(source))]
    Readback { at: u64, source: std::io::Error },
    #[error("read-back mismatch in {region} at {} MiB: the target does not hold what was written (a failing or fake-capacity device?)", at >> 20)]
    Mismatch { region: String, at: u64 },
    #[error("partition table: {0}")]
    Table(String),
}

fn gone_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) | Some(libc::ENOENT) | Some(libc::EIO) => " (was the device removed?)",
        Some(libc::ENOSPC) => " (the target is smaller than it said)",
        _ => "",
    }
}

impl Error {
    pub fn io<'a>(op: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
        move |source| Error::Io { op, path: path.display().to_string(), source }
    }

    /// Whether the target may have been changed.
    pub fn touched_target(&self) -> bool {
        !matches!(self, Error::Refused(_) | Error::Io { .. })
    }

    /// What the target holds after this error, for the user.
    pub fn target_state(&self) -> &'static str {
        if self.touched_target() {
            "The target now holds an incomplete copy without a partition table: it will not boot and \
             nothing on it is usable. Run the command again; if it fails again, use another device."
        } else {
            "Nothing was written; the target is unchanged."
        }
    }
}
