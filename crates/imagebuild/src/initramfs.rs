//! The root filesystem as a newc cpio archive (what the kernel unpacks into
//! rootfs), compressed with zstd. Deterministic: entries are sorted by path,
//! every timestamp is 0, owners are root, inode numbers count up, and the
//! compressor settings are fixed, so the same inputs give the same bytes.

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// An in-memory file tree. Parent directories are created implicitly.
#[derive(Default, Clone, Debug)]
pub struct Tree {
    entries: BTreeMap<String, (u32, Node)>,
}

fn clean(path: &str) -> String {
    path.trim_matches('/').to_string()
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    fn parents(&mut self, path: &str) {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(p);
            self.entries.entry(acc.clone()).or_insert((0o755, Node::Dir));
        }
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        let p = clean(path);
        self.parents(&p);
        self.entries.insert(p, (mode, Node::Dir));
        self
    }

    pub fn file(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) -> &mut Self {
        let p = clean(path);
        self.parents(&p);
        self.entries.insert(p, (mode, Node::File(data.into())));
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let p = clean(path);
        self.parents(&p);
        self.entries.insert(p, (0o777, Node::Symlink(target.to_string())));
        self
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(&clean(path))
    }

    /// Total bytes of file contents.
    pub fn content_size(&self) -> u64 {
        self.entries
            .values()
            .map(|(_, n)| match n {
                Node::File(d) => d.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// The uncompressed newc archive.
    pub fn to_cpio(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, (mode, node))) in self.entries.iter().enumerate() {
            let (kind, data): (u32, &[u8]) = match node {
                Node::Dir => (0o040000, &[]),
                Node::File(d) => (0o100000, d),
                Node::Symlink(t) => (0o120000, t.as_bytes()),
            };
            let b = cpio::newc::Builder::new(path)
                .ino(ino as u32 + 1)
                .mode(kind | mode)
                .uid(0)
                .gid(0)
                .mtime(0)
                .nlink(if matches!(node, Node::Dir) { 2 } else { 1 });
            let mut w = b.write(&mut out, data.len() as u32);
            w.write_all(data).expect("writing to memory");
            w.finish().expect("writing to memory");
        }
        cpio::newc::trailer(&mut out).expect("writing to memory");
        out
    }

    /// The archive compressed with zstd (level 19, long matching off so the
    /// kernel's decompressor needs little memory; two worker threads, whose
    /// output does not depend on the machine's core count).
    pub fn to_cpio_zstd(&self) -> Result<Vec<u8>> {
        compress(&self.to_cpio())
    }
}

/// The initramfs as two archives the kernel unpacks one after the other:
/// `base` (what changes with the kernel and the packages: modules,
/// busybox, fonts, zone data), zero bytes up to the next multiple of
/// `align`, then `app` (Quill's binary and files, which change with every
/// release). The kernel takes concatenated compressed archives and skips
/// zero padding between them (Documentation/driver-api/early-userspace/
/// buffer-format.rst); `app` may name directories `base` made. Put at a
/// chunk boundary of the slot (`fat::build_aligned`), an app-only release
/// leaves every chunk of `base` as it was. Returns the bytes and where
/// `app` starts.
///
/// `cache`: a directory where the compressed base layer is kept between
/// builds (it changes only with the packages, and level 19 over 26 MiB of
/// modules takes most of an image's assembly). A kept layer is used only
/// when it decompresses to exactly this build's base archive, so the
/// bytes are the same as without the cache.
pub fn layered(base: &Tree, app: &Tree, align: usize, cache: Option<&Path>) -> Result<(Vec<u8>, usize)> {
    let mut out = match cache {
        Some(dir) => cached_layer(&base.to_cpio(), dir)?,
        None => base.to_cpio_zstd()?,
    };
    let at = if align > 0 { out.len().next_multiple_of(align) } else { out.len().next_multiple_of(4) };
    out.resize(at, 0);
    out.extend(app.to_cpio_zstd()?);
    Ok((out, at))
}

/// The compressed form of `cpio`, from `dir` when a kept one decompresses
/// to it; else compressed now and kept (the older ones beyond the newest
/// four are removed).
fn cached_layer(cpio: &[u8], dir: &Path) -> Result<Vec<u8>> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    cpio.hash(&mut h);
    let path = dir.join(format!("layer-{:016x}-{}.cpio.zst", h.finish(), cpio.len()));
    if let Ok(kept) = std::fs::read(&path) {
        if zstd::stream::decode_all(&kept[..]).is_ok_and(|d| d == cpio) {
            return Ok(kept);
        }
    }
    let fresh = compress(cpio)?;
    std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, &fresh).map_err(Error::io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("renaming", &tmp))?;
    let mut kept: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(dir)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.file_name().to_string_lossy().starts_with("layer-"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    kept.sort();
    for (_, old) in kept.iter().rev().skip(4) {
        let _ = std::fs::remove_file(old);
    }
    Ok(fresh)
}

pub fn compress(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 19).map_err(Error::Zstd)?;
    enc.multithread(2).map_err(Error::Zstd)?;
    enc.include_checksum(true).map_err(Error::Zstd)?;
    enc.write_all(data).map_err(Error::Zstd)?;
    enc.finish().map_err(Error::Zstd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(order: bool) -> Tree {
        let mut t = Tree::new();
        if order {
            t.file("/init", 0o755, b"#!init".to_vec());
            t.symlink("bin/sh", "busybox");
            t.file("etc/quill/release", 0o644, b"VERSION=1\n".to_vec());
        } else {
            t.file("etc/quill/release", 0o644, b"VERSION=1\n".to_vec());
            t.symlink("bin/sh", "busybox");
            t.file("/init", 0o755, b"#!init".to_vec());
        }
        t
    }

    #[test]
    fn same_tree_gives_same_bytes_whatever_the_insertion_order() {
        assert_eq!(sample(true).to_cpio(), sample(false).to_cpio());
        assert_eq!(sample(true).to_cpio_zstd().unwrap(), sample(false).to_cpio_zstd().unwrap());
    }

    #[test]
    fn archive_reads_back_with_parents_first() {
        let bytes = sample(true).to_cpio();
        let mut names = vec![];
        let mut r = &bytes[..];
        loop {
            let rd = cpio::newc::Reader::new(r).unwrap();
            if rd.entry().is_trailer() {
                break;
            }
            let e = rd.entry();
            names.push((e.name().to_string(), e.mode(), e.mtime()));
            r = rd.finish().unwrap();
        }
        let just: Vec<&str> = names.iter().map(|n| n.0.as_str()).collect();
        assert_eq!(just, ["bin", "bin/sh", "etc", "etc/quill", "etc/quill/release", "init"]);
        assert_eq!(names[1].1, 0o120777);
        assert_eq!(names[5].1, 0o100755);
        assert!(names.iter().all(|n| n.2 == 0));
    }

    #[test]
    fn compressed_archive_decompresses() {
        let t = sample(true);
        let z = t.to_cpio_zstd().unwrap();
        assert_eq!(zstd::decode_all(&z[..]).unwrap(), t.to_cpio());
        // Two layers: the second starts on the boundary, after zeros.
        let mut app = Tree::new();
        app.file("usr/bin/x", 0o755, b"x".to_vec());
        let (both, at) = layered(&t, &app, 4096, None).unwrap();
        assert_eq!(at, 4096);
        assert_eq!(&both[..z.len()], &z[..]);
        assert!(both[z.len()..at].iter().all(|&b| b == 0));
        assert_eq!(zstd::decode_all(&both[at..]).unwrap(), app.to_cpio());
    }

    #[test]
    fn a_kept_base_layer_gives_the_same_bytes_and_a_damaged_one_is_made_again() {
        let d = tempfile::tempdir().unwrap();
        let (t, mut app) = (sample(true), Tree::new());
        app.file("usr/bin/x", 0o755, b"x".to_vec());
        let plain = layered(&t, &app, 4096, None).unwrap();
        assert_eq!(layered(&t, &app, 4096, Some(d.path())).unwrap(), plain, "made and kept");
        let kept: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(layered(&t, &app, 4096, Some(d.path())).unwrap(), plain, "taken from the cache");
        std::fs::write(&kept[0], b"damaged").unwrap();
        assert_eq!(layered(&t, &app, 4096, Some(d.path())).unwrap(), plain, "not taken when damaged");
        assert_eq!(std::fs::read(&kept[0]).unwrap(), t.to_cpio_zstd().unwrap(), "made again");
        // Another base is another entry, never the kept one.
        let mut other = sample(true);
        other.file("etc/more", 0o644, b"more".to_vec());
        let z = other.to_cpio_zstd().unwrap();
        let (o, _) = layered(&other, &app, 4096, Some(d.path())).unwrap();
        assert_eq!(&o[..z.len()], &z[..]);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }
}
