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

/// Whether `name` is a valid 8.3 short name (the images carry no long
/// names: fatfs 0.3 writes long-name entries even for `.` and `..`, which
/// `fsck.vfat` rejects, so it is built without them).
fn is_short_name(name: &str) -> bool {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let ok = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-~!#$%&'()@^{}".contains(&b))
    };
    ok(base, 8) && (ext.is_empty() || ok(ext, 3)) && !ext.contains('.')
}

/// A FAT32 filesystem of exactly `size` bytes holding `files`
/// (`(path, contents)`, paths with `/`, directories created as needed;
/// every path component an 8.3 name).
pub fn build(size: u64, label: &str, volume_id: u32, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut label11 = [b' '; 11];
    for (d, s) in label11.iter_mut().zip(label.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    for (path, _) in files {
        if let Some(bad) = path.trim_matches('/').split('/').find(|c| !is_short_name(c)) {
            return Err(Error::Fat(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{path}: {bad:?} is not an 8.3 name; FAT images here carry short names only"),
            )));
        }
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
        // Counting the free clusters fills in FSInfo's free count, which
        // fatfs otherwise leaves "unknown" (fsck.vfat reports it).
        fs.stats().map_err(Error::Fat)?;
        fs.unmount().map_err(Error::Fat)?;
    }
    let mut img = cur.into_inner();
    fix_dotdot_of_root_subdirs(&mut img);
    Ok(img)
}

/// fatfs 0.3.6 points the `..` entry of a directory in the root at the root
/// directory's cluster; the FAT specification (and fsck.vfat) wants cluster 0
/// there. This patches those entries in place.
fn fix_dotdot_of_root_subdirs(img: &mut [u8]) {
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let bps = u16_at(img, 11);
    let spc = img[13] as usize;
    let data_start = (u16_at(img, 14) + img[16] as usize * u32_at(img, 36)) * bps;
    let cluster_at = |c: usize| data_start + (c - 2) * spc * bps;
    let root = cluster_at(u32_at(img, 44));
    for i in 0..(spc * bps / 32) {
        let e = root + i * 32;
        let (first, attr) = (img[e], img[e + 11]);
        if first == 0 {
            break;
        }
        if first == 0xe5 || first == b'.' || attr & 0x10 == 0 || attr == 0x0f {
            continue;
        }
        let c = u16_at(img, e + 20) << 16 | u16_at(img, e + 26);
        let dotdot = cluster_at(c) + 32;
        if &img[dotdot..dotdot + 2] == b".." {
            img[dotdot + 20..dotdot + 22].fill(0);
            img[dotdot + 26..dotdot + 28].fill(0);
        }
    }
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
    fn no_long_name_entries_and_long_names_are_refused() {
        let img = build(40 * crate::MIB, "Q", 1, &[("EFI/BOOT/BOOTX64.EFI", b"x")]).unwrap();
        // Every directory entry in the data area: none may be an LFN entry (attribute 0x0f).
        let fs = FileSystem::new(Cursor::new(img.clone()), FsOptions::new()).unwrap();
        let names: Vec<Vec<u8>> = fs
            .root_dir()
            .open_dir("EFI")
            .unwrap()
            .iter()
            .map(|e| e.unwrap().short_file_name_as_bytes().to_vec())
            .collect();
        assert_eq!(names, [b".".to_vec(), b"..".to_vec(), b"BOOT".to_vec()]);
        drop(fs);
        let e = build(40 * crate::MIB, "Q", 1, &[("quill-release", b"x")]).unwrap_err().to_string();
        assert!(e.contains("8.3"), "{e}");
        assert!(is_short_name("initrd.zst") && is_short_name("BOOTX64.EFI") && !is_short_name("a.b.c"));
    }

    #[test]
    fn content_larger_than_the_volume_is_a_clear_error() {
        let big = vec![7u8; 40 * crate::MIB as usize];
        let e = build(36 * crate::MIB, "X", 1, &[("big", &big)]).unwrap_err().to_string();
        assert!(e.contains("raise the size"), "{e}");
    }
}
