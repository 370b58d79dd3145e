//! Host side of the image build, as plain functions over bytes and files:
//!
//! - [`initramfs`]: a deterministic newc cpio archive, compressed with zstd;
//! - [`kmods`]: picks kernel modules by name and resolves their dependencies;
//! - [`fat`]: FAT32 images (ESP and slots) built in memory;
//! - [`ext4`]: the DATA filesystem (through `mkfs.ext4` on a plain file);
//! - [`disk`]: the GPT disk image with the A/B attribute bits.
//!
//! Nothing here needs root: no loop devices, no mounting.

pub mod disk;
pub mod ext4;
pub mod fat;
pub mod initramfs;
pub mod kmods;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("kernel module {name:?} is not in {dir} (check the module list in the board file)")]
    UnknownModule { name: String, dir: PathBuf },
    #[error("{what} is {size} bytes but its partition holds only {limit}; raise the size in the board file")]
    TooBig { what: String, size: u64, limit: u64 },
    #[error("{0}")]
    Tool(String),
    #[error("LZ4: {0}")]
    Compress(std::io::Error),
    #[error("FAT image: {0}")]
    Fat(std::io::Error),
    #[error("GPT: {0}")]
    Gpt(String),
}

impl Error {
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub const MIB: u64 = 1024 * 1024;
