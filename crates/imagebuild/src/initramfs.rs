//! The root filesystem as a newc cpio archive (what the kernel unpacks into
//! rootfs), compressed with LZ4 in the kernel's legacy format.
//! Deterministic: entries are sorted by path, every timestamp is 0, owners
//! are root, inode numbers count up, and the compressor settings are fixed,
//! so the same inputs give the same bytes.

use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;

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
    /// Entries written after all others (in path order among themselves):
    /// files that change with every release, so that a release changing
    /// only them changes only the compressed archive's end, and a delta
    /// update fetches only the bundle chunks that hold that end.
    last: std::collections::BTreeSet<String>,
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

    /// Writes the entry at `path` after all the others (see the `last`
    /// field); its parent directories stay in path order, before it.
    pub fn put_last(&mut self, path: &str) -> &mut Self {
        self.last.insert(clean(path));
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
        let (late, early): (Vec<_>, Vec<_>) = self.entries.iter().partition(|(p, _)| self.last.contains(*p));
        for (ino, (path, (mode, node))) in early.into_iter().chain(late).enumerate() {
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

    /// The archive compressed as the kernel unpacks it fastest (`compress`).
    pub fn to_cpio_lz4(&self) -> Result<Vec<u8>> {
        compress(&self.to_cpio())
    }
}

/// The initramfs as two archives the kernel unpacks one after the other:
/// `base` (what changes with the kernel and the packages: modules,
/// busybox, fonts, zone data), zero bytes up to the next multiple of
/// `align`, then `app` (Quill's binary and files, which change with every
/// release). The kernel takes concatenated compressed archives and skips
/// zero padding between them (Documentation/driver-api/early-userspace/
/// buffer-format.rst; an LZ4 archive ends at its first zero block size);
/// `app` may name directories `base` made. Put at a chunk boundary of the
/// slot (`fat::build_aligned`), an app-only release leaves every chunk of
/// `base` as it was. Returns the bytes and where `app` starts.
pub fn layered(base: &Tree, app: &Tree, align: usize) -> Result<(Vec<u8>, usize)> {
    let mut out = base.to_cpio_lz4()?;
    let at = if align > 0 { out.len().next_multiple_of(align) } else { out.len().next_multiple_of(4) };
    out.resize(at, 0);
    out.extend(app.to_cpio_lz4()?);
    Ok((out, at))
}

/// The magic number that starts the kernel's legacy LZ4 format.
pub const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
/// The uncompressed size of each of its blocks but the last.
pub const LZ4_LEGACY_BLOCK: usize = 8 << 20;

/// `data` in the LZ4 "legacy" format, the one the kernel's initramfs
/// unpacker reads (lib/decompress_unlz4.c; what `lz4 -l` writes): the
/// magic number, then for each 8 MiB of input the compressed block's size
/// (u32, little-endian) and the LZ4 block, high compression (level 9).
///
/// Why LZ4 and not zstd -19: under QEMU's TCG the kernel took about
/// 0.8 s to unpack the 27 MiB zstd initramfs and 0.4 s for the same
/// archive uncompressed; LZ4 decompresses at close to copying speed for a
/// file 1.4x zstd's size, which the firmware reads in a few milliseconds
/// more. The lz4 crate's own encoder writes the newer frame format, which
/// the kernel does not take for an initramfs, so the few lines of framing
/// are here. Blocks are compressed on their own threads (independent
/// blocks: the bytes do not depend on the thread count).
pub fn compress(data: &[u8]) -> Result<Vec<u8>> {
    use lz4::block::CompressionMode;
    let blocks: Vec<std::io::Result<Vec<u8>>> = std::thread::scope(|s| {
        let jobs: Vec<_> = data
            .chunks(LZ4_LEGACY_BLOCK)
            .map(|c| s.spawn(move || lz4::block::compress(c, Some(CompressionMode::HIGHCOMPRESSION(9)), false)))
            .collect();
        jobs.into_iter().map(|j| j.join().expect("an LZ4 block's thread")).collect()
    });
    let mut out = LZ4_LEGACY_MAGIC.to_le_bytes().to_vec();
    for block in blocks {
        let block = block.map_err(Error::Compress)?;
        out.extend((block.len() as u32).to_le_bytes());
        out.extend(block);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive `compress` made, and how many bytes of `data` it took (it
    /// ends at the input's end, at a zero block size or at the next archive's
    /// magic number): the round trip of the tests. (The boot e2e reads the
    /// image with Debian's lz4 instead.)
    pub fn decompress(data: &[u8]) -> Result<(Vec<u8>, usize)> {
        let bad = |what: &str| Error::Compress(std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()));
        if data.len() < 4 || data[..4] != LZ4_LEGACY_MAGIC.to_le_bytes() {
            return Err(bad("not an LZ4 legacy archive (no magic number)"));
        }
        let (mut at, mut out) = (4, Vec::new());
        while at + 4 <= data.len() {
            let size = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            if size == 0 || size == LZ4_LEGACY_MAGIC {
                break;
            }
            let block = data.get(at + 4..at + 4 + size as usize).ok_or_else(|| bad("a block runs past the end"))?;
            out.extend(lz4::block::decompress(block, Some(LZ4_LEGACY_BLOCK as i32)).map_err(Error::Compress)?);
            at += 4 + size as usize;
        }
        Ok((out, at))
    }

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
        assert_eq!(sample(true).to_cpio_lz4().unwrap(), sample(false).to_cpio_lz4().unwrap());
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

    fn names(bytes: &[u8]) -> Vec<String> {
        let mut names = vec![];
        let mut r = bytes;
        loop {
            let rd = cpio::newc::Reader::new(r).unwrap();
            if rd.entry().is_trailer() {
                return names;
            }
            names.push(rd.entry().name().to_string());
            r = rd.finish().unwrap();
        }
    }

    #[test]
    fn an_entry_put_last_ends_the_archive_and_only_its_end_changes() {
        let mut t = sample(true);
        t.file("usr/lib/quill/quill", 0o755, vec![7u8; 100_000]);
        t.put_last("etc/quill/release");
        let a = t.to_cpio_lz4().unwrap();
        assert_eq!(
            names(&t.to_cpio()),
            [
                "bin",
                "bin/sh",
                "etc",
                "etc/quill",
                "init",
                "usr",
                "usr/lib",
                "usr/lib/quill",
                "usr/lib/quill/quill",
                "etc/quill/release"
            ]
        );
        t.file("etc/quill/release", 0o644, b"VERSION=2\n".to_vec());
        let b = t.to_cpio_lz4().unwrap();
        let same = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        assert!(a != b && same + 64 >= a.len().min(b.len()), "only the end differs: {same} of {} bytes", a.len());
    }

    #[test]
    fn compressed_archive_decompresses() {
        let t = sample(true);
        let z = t.to_cpio_lz4().unwrap();
        assert_eq!(decompress(&z).unwrap(), (t.to_cpio(), z.len()));
        // Two layers: the second starts on the boundary, after zeros, and
        // the first ends where its zeros start.
        let mut app = Tree::new();
        app.file("usr/bin/x", 0o755, b"x".to_vec());
        let (both, at) = layered(&t, &app, 4096).unwrap();
        assert_eq!(at, 4096);
        assert_eq!(&both[..z.len()], &z[..]);
        assert!(both[z.len()..at].iter().all(|&b| b == 0));
        assert_eq!(decompress(&both).unwrap(), (t.to_cpio(), z.len()));
        assert_eq!(decompress(&both[at..]).unwrap().0, app.to_cpio());
        assert!(decompress(&both[z.len()..]).is_err(), "zeros are no archive");
    }

    #[test]
    fn large_input_is_cut_into_8_mib_blocks_the_kernel_reads() {
        // Past one block, and not compressible to nothing: the kernel's
        // unlz4 decompresses each block into an 8 MiB buffer.
        let mut data = Vec::with_capacity(LZ4_LEGACY_BLOCK + 100_000);
        let mut x = 1u32;
        while data.len() < LZ4_LEGACY_BLOCK + 100_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if x.is_multiple_of(3) {
                data.extend_from_slice(b"module text ");
            } else {
                data.push((x >> 16) as u8);
            }
        }
        let z = compress(&data).unwrap();
        let first = u32::from_le_bytes(z[4..8].try_into().unwrap()) as usize;
        let second = u32::from_le_bytes(z[8 + first..12 + first].try_into().unwrap()) as usize;
        assert_eq!(z.len(), 12 + first + second, "two blocks");
        assert_eq!(
            lz4::block::decompress(&z[8..8 + first], Some(LZ4_LEGACY_BLOCK as i32)).unwrap().len(),
            LZ4_LEGACY_BLOCK
        );
        assert_eq!(decompress(&z).unwrap().0, data);
        assert_eq!(compress(&data).unwrap(), z, "deterministic");
    }
}
