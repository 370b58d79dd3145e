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
/// every path component an 8.3 name), in the given order.
pub fn build(size: u64, label: &str, volume_id: u32, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    build_aligned(size, label, volume_id, files, 0)
}

/// As [`build`], and every file of at least `align / 8` bytes starts at a
/// multiple of `align` from the image's start (`align` 0: none). A slot
/// built so, with the bundle's chunk size as `align`, keeps a file that did
/// not change in chunks that did not change, even when a file before it
/// grew or shrank: a delta update then fetches only the changed files'
/// chunks. Small files pack after each other, as usual.
///
/// fatfs has no placement API, but it allocates clusters one after the
/// other from the start and frees none while the image is built, so the
/// next cluster is the first after the used ones; a padding file fills the
/// gap to the boundary and is deleted at the end (its clusters are free
/// space; its directory entry is a deleted one, as fsck.vfat expects).
pub fn build_aligned(size: u64, label: &str, volume_id: u32, files: &[(&str, &[u8])], align: u64) -> Result<Vec<u8>> {
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
    let cluster = cluster_size(size);
    let mut cur = Cursor::new(vec![0u8; size as usize]);
    // The data area must start at a multiple of the cluster size, or no
    // cluster is ever on an `align` boundary. Its start follows from the
    // FAT's size, so the volume is made a few clusters smaller until it
    // does (deterministic; the rest of the image stays unused).
    let mut sectors = (size / 512) as u32;
    loop {
        cur.get_mut().fill(0);
        fatfs::format_volume(
            &mut cur,
            FormatVolumeOptions::new()
                .fat_type(FatType::Fat32)
                .bytes_per_cluster(cluster)
                .total_sectors(sectors)
                .volume_label(label11)
                .volume_id(volume_id),
        )
        .map_err(Error::Fat)?;
        if align == 0 || data_start(cur.get_ref()).is_multiple_of(cluster as usize) {
            break;
        }
        sectors -= cluster / 512;
    }
    let first_cluster_at = data_start(cur.get_ref()) as u64;
    {
        let fs = FileSystem::new(&mut cur, FsOptions::new()).map_err(Error::Fat)?;
        let mut pads = Vec::new();
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
            let pad = if align > 0 && data.len() as u64 >= align / 8 {
                let name = format!("PAD{:05}.TMP", pads.len());
                let pad = dir.create_file(&name).map_err(Error::Fat)?;
                pads.push((parts[..parts.len() - 1].join("/"), name));
                Some(pad)
            } else {
                None
            };
            let mut f = dir.create_file(parts[parts.len() - 1]).map_err(Error::Fat)?;
            f.truncate().map_err(Error::Fat)?;
            if let Some(mut pad) = pad {
                let st = fs.stats().map_err(Error::Fat)?;
                let next = 2 + u64::from(st.total_clusters() - st.free_clusters());
                let at = first_cluster_at + (next - 2) * u64::from(cluster);
                let gap = at.next_multiple_of(align) - at;
                pad.write_all(&vec![0u8; gap as usize]).map_err(Error::Fat)?;
                pad.flush().map_err(Error::Fat)?;
            }
            f.write_all(data).map_err(|e| Error::TooBig {
                what: format!("{path} ({e})"),
                size: data.len() as u64,
                limit: size,
            })?;
            f.flush().map_err(Error::Fat)?;
        }
        for (dir, name) in pads {
            let root = fs.root_dir();
            let d = if dir.is_empty() { root } else { root.open_dir(&dir).map_err(Error::Fat)? };
            d.remove(&name).map_err(Error::Fat)?;
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
    let data_start = data_start(img);
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

/// Where a FAT32 image's data area (cluster 2) starts, from its boot sector.
fn data_start(img: &[u8]) -> usize {
    let u16_at = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(img[o..o + 4].try_into().unwrap()) as usize;
    (u16_at(14) + img[16] as usize * u32_at(36)) * u16_at(11)
}

/// Where each file's data starts in the image (path, byte offset), for
/// tests and the build's report.
pub fn file_offsets(image: &[u8]) -> Result<Vec<(String, u64)>> {
    let fs = FileSystem::new(Cursor::new(image.to_vec()), FsOptions::new()).map_err(Error::Fat)?;
    let cluster = u64::from(fs.cluster_size());
    drop(fs);
    let start = data_start(image) as u64;
    let u16_at = |o: usize| u16::from_le_bytes([image[o], image[o + 1]]) as u64;
    let u32_at = |o: usize| u32::from_le_bytes(image[o..o + 4].try_into().unwrap()) as u64;
    // The root directory's first cluster only: the images here keep their
    // files in it (a tree walk is not needed for the slots).
    let root = start + (u32_at(44) - 2) * cluster;
    let mut out = Vec::new();
    for e in (root..root + cluster).step_by(32) {
        let e = e as usize;
        let (first, attr) = (image[e], image[e + 11]);
        if first == 0 {
            break;
        }
        if first == 0xe5 || attr & 0x18 != 0 || attr == 0x0f {
            continue;
        }
        let name = String::from_utf8_lossy(&image[e..e + 8]).trim_end().to_string();
        let ext = String::from_utf8_lossy(&image[e + 8..e + 11]).trim_end().to_string();
        let c = u16_at(e + 20) << 16 | u16_at(e + 26);
        let name = if ext.is_empty() { name } else { format!("{name}.{ext}") };
        out.push((name.to_ascii_lowercase(), if c == 0 { 0 } else { start + (c - 2) * cluster }));
    }
    Ok(out)
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
        assert!(is_short_name("initrd.img") && is_short_name("BOOTX64.EFI") && !is_short_name("a.b.c"));
    }

    #[test]
    fn large_files_start_on_the_alignment_and_small_ones_pack() {
        let mib = crate::MIB as usize;
        let (k, i) = (vec![1u8; 3 * mib + 5], vec![2u8; mib / 2 + 7]);
        let files: &[(&str, &[u8])] = &[("vmlinuz", &k), ("initrd.img", &i), ("cmdline.txt", b"x"), ("a.txt", b"y")];
        for size in [160, 161, 97] {
            let img = build_aligned(size * crate::MIB, "S", 7, files, crate::MIB).unwrap();
            let at: std::collections::HashMap<_, _> = file_offsets(&img).unwrap().into_iter().collect();
            assert_eq!(at["vmlinuz"] % crate::MIB, 0, "{size} MiB: {at:?}");
            assert_eq!(at["initrd.img"] % crate::MIB, 0, "{size} MiB: {at:?}");
            let cluster = u64::from(cluster_size(size * crate::MIB));
            assert_eq!(at["a.txt"], at["cmdline.txt"] + cluster, "small files pack: {at:?}");
            assert_eq!(read_file(&img, "initrd.img").unwrap(), i);
            assert_eq!(read_file(&img, "vmlinuz").unwrap(), k);
            assert!(!at.contains_key("pad00000.tmp"), "padding files are deleted: {at:?}");
            assert_eq!(img, build_aligned(size * crate::MIB, "S", 7, files, crate::MIB).unwrap(), "deterministic");
        }
        // A file that grows does not move the one after it.
        let k2 = vec![1u8; 3 * mib + 70_000];
        let img1 = build_aligned(160 * crate::MIB, "S", 7, files, crate::MIB).unwrap();
        let img2 =
            build_aligned(160 * crate::MIB, "S", 7, &[("vmlinuz", &k2), ("initrd.img", &i)], crate::MIB).unwrap();
        let at = |img: &[u8]| file_offsets(img).unwrap().into_iter().find(|(n, _)| n == "initrd.img").unwrap().1;
        assert_eq!(at(&img1), at(&img2));
    }

    #[test]
    fn content_larger_than_the_volume_is_a_clear_error() {
        let big = vec![7u8; 40 * crate::MIB as usize];
        let e = build(36 * crate::MIB, "X", 1, &[("big", &big)]).unwrap_err().to_string();
        assert!(e.contains("raise the size"), "{e}");
    }
}
