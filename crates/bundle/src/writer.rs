//! Writing bundles (host side): chunk, compress on every core, hash, sign,
//! streaming the image with bounded memory.

use crate::error::{Error, ErrorKind};
use crate::format::{Dec, Enc, Header, HEADER_LEN, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use crate::keys::{KeyId, KeyStatement, SecretKey};
use crate::manifest::{ChunkInfo, Manifest, Payload, Target};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};

/// 2 MiB chunks: a reader holds about two of them. Each frame is
/// compressed on its own, so the chunk is zstd's whole window: on
/// ../shared/bench/peers' 256 MiB payload, level 18, 1 MiB chunks make a
/// 66.7 MiB bundle (0.865x RAUC's gzip bundle), 2 MiB 65.4 MiB (0.848x),
/// 4 MiB 64.2 MiB (0.833x) but twice the install and creation memory, and
/// a delta download fetches whole chunks (2026-12-01, zstd 1.5.7).
pub const DEFAULT_CHUNK_SIZE: u32 = 2 << 20;
/// zstd level of the frames. Level 18: on 1 MiB chunks of a real slot it makes frames as small as
/// 19 (66.9 against 66.9 MiB for ../shared/bench/peers' payload) in half
/// the CPU time (34 s against 63 s); measured 2026-11-30 with zstd 1.5.4.
/// On 2 MiB chunks 19 saves 0.06 % for 23 % more time.
pub const DEFAULT_LEVEL: i32 = 18;

/// The match finder's tables for the strong levels (16 and up, the binary
/// tree strategies), sized from the chunk instead of from the level: level
/// 18 would take a hash table of 2^22 and a tree of 2^22 entries (32 MiB
/// per thread) for a 2 MiB chunk; 2^20 and 2^21 (12 MiB) make frames 0.04 %
/// larger (68.80 against 68.77 MB for the payload above). Returns (hash
/// log, chain log), or None below level 16, whose own tables are smaller.
fn match_tables(chunk: usize, level: i32) -> Option<(u32, u32)> {
    let window = chunk.next_power_of_two().trailing_zeros().max(12);
    (level >= 16).then_some((window - 1, window))
}

/// Everything a bundle says about itself, plus its payload images.
pub struct Builder {
    pub boards: Vec<String>,
    pub version: String,
    pub rollback_index: u64,
    pub build_id: String,
    pub statements: Vec<KeyStatement>,
    pub chunk_size: u32,
    pub level: i32,
    pub payloads: Vec<(Target, Vec<u8>)>,
}

/// A payload image read from a stream while the bundle is written, so
/// that the image never has to be in memory as a whole.
pub struct Image<'a> {
    pub target: Target,
    /// Its exact length in bytes.
    pub len: u64,
    pub reader: &'a mut dyn Read,
}

/// What the bundle is written into: `write_images` reserves the head,
/// streams the frames and comes back to write the signed manifest.
pub trait WriteSeek: Write + Seek {}
impl<T: Write + Seek> WriteSeek for T {}

impl Builder {
    pub fn new(board: &str, version: &str) -> Builder {
        Builder {
            boards: vec![board.to_string()],
            version: version.to_string(),
            rollback_index: 0,
            build_id: String::new(),
            statements: vec![],
            chunk_size: DEFAULT_CHUNK_SIZE,
            level: DEFAULT_LEVEL,
            payloads: vec![],
        }
    }

    /// Compresses the in-memory payloads and writes the signed bundle to
    /// `out` (the bundle is assembled in memory first; for big images use
    /// [`Builder::write_images`]). `name` is used in error messages.
    /// Returns the manifest written.
    pub fn write(&self, name: &str, out: &mut dyn Write, keys: &[&SecretKey]) -> Result<Manifest, Error> {
        let mut sources: Vec<&[u8]> = self.payloads.iter().map(|(_, d)| &d[..]).collect();
        let mut images: Vec<Image> = self
            .payloads
            .iter()
            .zip(sources.iter_mut())
            .map(|((t, d), r)| Image { target: *t, len: d.len() as u64, reader: r })
            .collect();
        let mut buf = std::io::Cursor::new(Vec::new());
        let m = self.write_images(name, &mut buf, keys, &mut images)?;
        out.write_all(buf.get_ref())
            .and_then(|()| out.flush())
            .map_err(|e| Error::new(name, ErrorKind::Io(format!("writing: {e}"))))?;
        Ok(m)
    }

    /// Streams `images` (not `self.payloads`) into a signed bundle in `out`
    /// with bounded memory: chunks are read in order, compressed and hashed
    /// on every core (a few chunks in flight), and their frames written in
    /// order after room left for the head; the manifest, whose length is
    /// known from the chunk counts alone, is then signed and written in
    /// front of them.
    pub fn write_images(
        &self,
        name: &str,
        out: &mut dyn WriteSeek,
        keys: &[&SecretKey],
        images: &mut [Image],
    ) -> Result<Manifest, Error> {
        let err = |k| Error::new(name, k);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(err(ErrorKind::Invalid(format!(
                "chunk size {} must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}",
                self.chunk_size
            ))));
        }
        if self.boards.is_empty() || images.is_empty() {
            return Err(err(ErrorKind::Invalid("a bundle needs at least one board and one payload".into())));
        }
        if self.boards.iter().chain([&self.version, &self.build_id]).any(|s| s.len() > 255 || s.contains('\n')) {
            return Err(err(ErrorKind::Invalid(
                "board names, version and build id must be one short line each".into(),
            )));
        }
        if images.iter().any(|i| i.len == 0) {
            return Err(err(ErrorKind::Invalid("an empty payload cannot be installed".into())));
        }
        let chunk = self.chunk_size as u64;
        let blank = ChunkInfo { frame_len: 0, frame_sha256: [0; 32], data_sha256: [0; 32] };
        let mut manifest = Manifest {
            boards: self.boards.clone(),
            version: self.version.clone(),
            rollback_index: self.rollback_index,
            build_id: self.build_id.clone(),
            statements: self.statements.clone(),
            payloads: images
                .iter()
                .map(|i| Payload {
                    target: i.target,
                    size: i.len,
                    chunk_size: self.chunk_size,
                    compressed_size: 0,
                    sha256: [0; 32],
                    chunks: vec![blank.clone(); i.len.div_ceil(chunk) as usize],
                })
                .collect(),
        };
        // Every field has a fixed size: the placeholder is as long as the
        // real manifest will be.
        let manifest_len = manifest.encode().len();
        let sig_len = encode_signatures(&keys.iter().map(|k| (k.id(), [0u8; 64])).collect::<Vec<_>>()).len();
        let io = |e: std::io::Error| err(ErrorKind::Io(format!("writing: {e}")));
        out.seek(SeekFrom::Start((HEADER_LEN + manifest_len + sig_len) as u64)).map_err(io)?;
        for (image, p) in images.iter_mut().zip(manifest.payloads.iter_mut()) {
            compress_image(image, self.chunk_size as usize, self.level, out, p).map_err(err)?;
        }
        let bytes = manifest.encode();
        assert_eq!(bytes.len(), manifest_len, "the manifest's length depends only on its chunk counts");
        let sigs: Vec<(KeyId, [u8; 64])> = keys.iter().map(|k| (k.id(), k.sign(&bytes))).collect();
        let sig_block = encode_signatures(&sigs);
        out.seek(SeekFrom::Start(0)).map_err(io)?;
        out.write_all(&Header { manifest_len: bytes.len() as u32, signatures_len: sig_block.len() as u32 }.encode())
            .map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
        out.write_all(&sig_block).map_err(io)?;
        out.seek(SeekFrom::End(0)).map_err(io)?;
        out.flush().map_err(io)?;
        Ok(manifest)
    }
}

/// One compression thread's zstd contexts.
struct Frames {
    strong: zstd::bulk::Compressor<'static>,
    /// Level 1, for the strong levels: tells noise (compressed or encrypted
    /// files, ../shared/bench/peers' 28 MiB of keystream) apart in a few
    /// milliseconds per chunk, where level 18 spends 0.4 s per MiB finding
    /// nothing. A chunk level 1 cannot shrink at all keeps level 1's frame
    /// (raw blocks): on that payload the bundle stays the same size to the
    /// byte and its creation takes a tenth less CPU.
    quick: Option<zstd::bulk::Compressor<'static>>,
}

impl Frames {
    fn new(chunk: usize, level: i32) -> std::io::Result<Frames> {
        let mut strong = zstd::bulk::Compressor::new(level)?;
        strong.include_checksum(false)?;
        if let Some((hash, chain)) = match_tables(chunk, level) {
            strong.set_parameter(zstd::stream::raw::CParameter::HashLog(hash))?;
            strong.set_parameter(zstd::stream::raw::CParameter::ChainLog(chain))?;
        }
        let quick = if level > 3 {
            let mut q = zstd::bulk::Compressor::new(1)?;
            q.include_checksum(false)?;
            Some(q)
        } else {
            None
        };
        Ok(Frames { strong, quick })
    }

    fn compress(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        if let Some(q) = &mut self.quick {
            let frame = q.compress(data)?;
            if frame.len() >= data.len() {
                return Ok(frame);
            }
        }
        self.strong.compress(data)
    }
}

/// One chunk on its way back from a compression thread.
struct Done {
    index: usize,
    data: Vec<u8>,
    frame: Result<Vec<u8>, String>,
    frame_sha256: [u8; 32],
    data_sha256: [u8; 32],
}

/// Streams one image: this thread reads chunks in order (hashing the whole
/// image as it goes) and writes finished frames in order; every core
/// compresses and hashes chunks in between. At most `threads + 2` chunks
/// are in flight (one waiting for each thread beyond the ones compressed),
/// so memory does not grow with the image.
fn compress_image(
    image: &mut Image,
    chunk: usize,
    level: i32,
    out: &mut dyn WriteSeek,
    p: &mut Payload,
) -> Result<(), ErrorKind> {
    let n = p.chunks.len();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(n);
    let slots = threads + 2;
    let mut whole = Sha256::new();
    let mut compressed = 0u64;
    let (work_tx, work_rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Done>();
    std::thread::scope(|s| -> Result<(), ErrorKind> {
        // Owned here: on any early return the queue closes and the
        // threads end before the scope does.
        let (work_tx, done_tx) = (work_tx, done_tx);
        for _ in 0..threads {
            let (work_rx, done_tx) = (&work_rx, done_tx.clone());
            s.spawn(move || {
                let mut c = Frames::new(chunk, level);
                loop {
                    let Ok((index, data)) = work_rx.lock().expect("work queue").recv() else { return };
                    let frame = match &mut c {
                        Ok(c) => c.compress(&data).map_err(|e| format!("zstd: {e}")),
                        Err(e) => Err(format!("zstd: {e}")),
                    };
                    let data_sha256 = Sha256::digest(&data).into();
                    let frame_sha256 = frame.as_ref().map(|f| Sha256::digest(f).into()).unwrap_or_default();
                    if done_tx.send(Done { index, data, frame, frame_sha256, data_sha256 }).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut free: Vec<Vec<u8>> = Vec::new();
        let mut pending = std::collections::BTreeMap::new();
        let (mut read, mut written, mut in_flight) = (0usize, 0usize, 0usize);
        while written < n {
            while read < n && in_flight < slots {
                let len = (p.size - (read * chunk) as u64).min(chunk as u64) as usize;
                let mut data = free.pop().unwrap_or_default();
                data.resize(len, 0);
                image.reader.read_exact(&mut data).map_err(|e| {
                    ErrorKind::Io(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        format!("the payload image ended before its {} bytes", p.size)
                    } else {
                        format!("reading the payload image: {e}")
                    })
                })?;
                whole.update(&data);
                work_tx.send((read, data)).map_err(|_| ErrorKind::Io("a compression thread stopped".into()))?;
                read += 1;
                in_flight += 1;
            }
            let d = done_rx.recv().map_err(|_| ErrorKind::Io("a compression thread stopped".into()))?;
            let frame = d.frame.map_err(ErrorKind::Io)?;
            free.push(d.data);
            pending.insert(d.index, (frame, d.frame_sha256, d.data_sha256));
            while let Some((frame, frame_sha256, data_sha256)) = pending.remove(&written) {
                out.write_all(&frame).map_err(|e| ErrorKind::Io(format!("writing: {e}")))?;
                p.chunks[written] = ChunkInfo { frame_len: frame.len() as u32, frame_sha256, data_sha256 };
                compressed += frame.len() as u64;
                written += 1;
                in_flight -= 1;
            }
        }
        drop(work_tx);
        Ok(())
    })?;
    let mut extra = [0u8; 1];
    if matches!(image.reader.read(&mut extra), Ok(1..)) {
        return Err(ErrorKind::Io(format!("the payload image is longer than the {} bytes announced", p.size)));
    }
    p.sha256 = whole.finalize().into();
    p.compressed_size = compressed;
    Ok(())
}

/// u16 count, then per signature: key id [8], Ed25519 signature [64].
pub(crate) fn encode_signatures(sigs: &[(KeyId, [u8; 64])]) -> Vec<u8> {
    let mut e = Enc::default();
    e.u16(sigs.len() as u16);
    for (id, sig) in sigs {
        e.bytes(&id.0).bytes(sig);
    }
    e.0
}

pub(crate) fn decode_signatures(bytes: &[u8]) -> Result<Vec<(KeyId, [u8; 64])>, ErrorKind> {
    let mut d = Dec::new(bytes, "signature block");
    let n = d.u16()?;
    let sigs = (0..n).map(|_| Ok((KeyId(d.array()?), d.array()?))).collect::<Result<Vec<_>, ErrorKind>>()?;
    d.finish()?;
    Ok(sigs)
}

/// Adds (or replaces) `key`'s signature on an existing bundle, streaming the
/// payload from `input` to `output` unchanged.
pub fn add_signature(
    name: &str,
    input: &mut dyn Read,
    output: &mut dyn Write,
    key: &SecretKey,
) -> Result<Manifest, Error> {
    let err = |k| Error::new(name, k);
    let mut h = [0u8; HEADER_LEN];
    crate::reader::read_exact(input, &mut h, "header").map_err(err)?;
    let header = Header::decode(&h).map_err(err)?;
    let mut manifest = vec![0u8; header.manifest_len as usize];
    crate::reader::read_exact(input, &mut manifest, "manifest").map_err(err)?;
    let parsed = Manifest::decode(&manifest).map_err(err)?;
    let mut sig_block = vec![0u8; header.signatures_len as usize];
    crate::reader::read_exact(input, &mut sig_block, "signature block").map_err(err)?;
    let mut sigs = decode_signatures(&sig_block).map_err(err)?;
    sigs.retain(|(id, _)| *id != key.id());
    sigs.push((key.id(), key.sign(&manifest)));
    let block = encode_signatures(&sigs);
    let io = |e: std::io::Error| err(ErrorKind::Io(e.to_string()));
    output
        .write_all(&Header { manifest_len: manifest.len() as u32, signatures_len: block.len() as u32 }.encode())
        .map_err(io)?;
    output.write_all(&manifest).map_err(io)?;
    output.write_all(&block).map_err(io)?;
    std::io::copy(input, output).map_err(io)?;
    output.flush().map_err(io)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn noise_keeps_the_quick_frame_and_the_rest_gets_the_strong_level() {
        let chunk = 256 << 10;
        let mut f = Frames::new(chunk, DEFAULT_LEVEL).unwrap();
        let decode = |frame: &[u8]| zstd::bulk::decompress(frame, chunk).unwrap();

        let random = noise(chunk);
        let frame = f.compress(&random).unwrap();
        assert_eq!(decode(&frame), random);
        assert!(frame.len() <= chunk + 64, "raw blocks: {}", frame.len());

        // Text with long repeats far apart: level 1 shrinks it, 18 more so.
        let text: Vec<u8> =
            (0..chunk).map(|i| b"quill thin client firmware "[i % 27] ^ ((i / 4096) % 3) as u8).collect();
        let strong = f.compress(&text).unwrap();
        let quick = zstd::bulk::compress(&text, 1).unwrap();
        assert_eq!(decode(&strong), text);
        assert!(strong.len() < quick.len(), "strong {} against quick {}", strong.len(), quick.len());
    }

    #[test]
    fn strong_levels_size_their_tables_from_the_chunk() {
        assert_eq!(match_tables(2 << 20, 18), Some((20, 21)));
        assert_eq!(match_tables(1 << 20, 19), Some((19, 20)));
        assert_eq!(match_tables(3 << 20, 18), Some((21, 22)));
        assert_eq!(match_tables(2 << 20, 3), None);
        assert_eq!(match_tables(100, 18), Some((11, 12)));
    }
}
