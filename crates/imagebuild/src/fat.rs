//! FAT32 images (the ESP and the slots), built in memory with `fatfs`.
//! Timestamps are the FAT epoch and the volume ID is given by the caller,
//! so the same files give the same image.

use crate::{Error, Result};
use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions};
use std::io::{Cursor, Write};

/// Cluster size that keeps a FAT32 volume of `size` bytes above the 65525
/// clusters FAT32 needs, as large as 4 KiB allows.
fn cluster_size(size: u64) -> u32 {
    let mut c = 512u32;
    while c < 4096 && size / (c as u64 * 2) >= 70_000 {
        c *= 2;
    }
    c
}

/// A FAT32 filesystem of exactly `size` bytes holding `files`
/// (`(path, contents)`, paths with `/`, directories created as needed).
pub fn build(size: u64, label: &str, volume_id: u32, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut label11 = [b' '; 11];
    for (d, s) in label11.iter_mut().zip(label.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    let mut cur = Cursor::new(vec![0u8; size as usize]);
    fatfs::format_volume(
        &mut cur,
        FormatVolumeOptions::new()
            .fat_type(FatType::Fat32)
            .bytes_per_cluster(cluster_size(size))
            .volume_label(label11)
            .volume_id(volume_id),
    )
    .map_err(Error::Fat)?;
    {
        let fs = FileSystem::new(&mut cur, FsOptions::new()).map_err(Error::Fat)?;
        for (path, data) in files {
            let root = fs.root_dir();
            let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
            let mut dir = root;
            for d in &parts[..parts.len() - 1] {
                dir = match dir.open_dir(d) {
                    Ok(x) => x,
                    Err(_) => dir.create_dir(d).map_err(Error::Fat)?,
                };
            }
            let mut f = dir.create_file(parts[parts.len() - 1]).map_err(Error::Fat)?;
            f.truncate().map_err(Error::Fat)?;
            f.write_all(data).map_err(|e| Error::TooBig {
                what: format!("{path} ({e})"),
                size: data.len() as u64,
                limit: size,
            })?;
            f.flush().map_err(Error::Fat)?;
        }
        fs.unmount().map_err(Error::Fat)?;
    }
    Ok(cur.into_inner())
}

/// Reads one file back (for tests and for checking built images).
pub fn read_file(image: &[u8], path: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let fs = FileSystem::new(Cursor::new(image.to_vec()), FsOptions::new()).map_err(Error::Fat)?;
    let mut f = fs.root_dir().open_file(path.trim_matches('/')).map_err(Error::Fat)?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).map_err(Error::Fat)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_fat32_with_nested_files_deterministically() {
        let files: &[(&str, &[u8])] = &[("EFI/BOOT/BOOTX64.EFI", b"MZ..."), ("cmdline.txt", b"console=ttyS0\n")];
        let img = build(40 * crate::MIB, "QUILL ESP", 0x1234_5678, files).unwrap();
        assert_eq!(img.len() as u64, 40 * crate::MIB);
        assert_eq!(read_file(&img, "EFI/BOOT/BOOTX64.EFI").unwrap(), b"MZ...");
        assert_eq!(read_file(&img, "/cmdline.txt").unwrap(), b"console=ttyS0\n");
        let fs = FileSystem::new(Cursor::new(img.clone()), FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
        assert_eq!(fs.volume_id(), 0x1234_5678);
        drop(fs);
        assert_eq!(img, build(40 * crate::MIB, "QUILL ESP", 0x1234_5678, files).unwrap());
    }

    #[test]
    fn content_larger_than_the_volume_is_a_clear_error() {
        let big = vec![7u8; 40 * crate::MIB as usize];
        let e = build(36 * crate::MIB, "X", 1, &[("big", &big)]).unwrap_err().to_string();
        assert!(e.contains("raise the size"), "{e}");
    }
}
