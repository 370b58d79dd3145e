//! Writing bundles (host side): chunk, compress on every core, hash, sign.

use crate::error::{Error, ErrorKind};
use crate::format::{Dec, Enc, Header, HEADER_LEN, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use crate::keys::{KeyId, KeyStatement, SecretKey};
use crate::manifest::{ChunkInfo, Manifest, Payload, Target};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// 1 MiB chunks: a reader holds about two of them.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
/// zstd level of the frames.
pub const DEFAULT_LEVEL: i32 = 19;

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

    /// Compresses the payloads and writes the signed bundle to `out`.
    /// `name` is used in error messages. Returns the manifest written.
    pub fn write(&self, name: &str, out: &mut dyn Write, keys: &[&SecretKey]) -> Result<Manifest, Error> {
        let err = |k| Error::new(name, k);
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(err(ErrorKind::Invalid(format!(
                "chunk size {} must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}",
                self.chunk_size
            ))));
        }
        if self.boards.is_empty() || self.payloads.is_empty() {
            return Err(err(ErrorKind::Invalid("a bundle needs at least one board and one payload".into())));
        }
        if self.boards.iter().chain([&self.version, &self.build_id]).any(|s| s.len() > 255 || s.contains('\n')) {
            return Err(err(ErrorKind::Invalid(
                "board names, version and build id must be one short line each".into(),
            )));
        }
        let mut payloads = Vec::new();
        let mut frames_all = Vec::new();
        for (target, image) in &self.payloads {
            if image.is_empty() {
                return Err(err(ErrorKind::Invalid("an empty payload cannot be installed".into())));
            }
            let frames =
                compress_chunks(image, self.chunk_size as usize, self.level).map_err(|e| err(ErrorKind::Io(e)))?;
            let chunks = image
                .chunks(self.chunk_size as usize)
                .zip(&frames)
                .map(|(data, frame)| ChunkInfo {
                    frame_len: frame.len() as u32,
                    frame_sha256: Sha256::digest(frame).into(),
                    data_sha256: Sha256::digest(data).into(),
                })
                .collect();
            payloads.push(Payload {
                target: *target,
                size: image.len() as u64,
                chunk_size: self.chunk_size,
                compressed_size: frames.iter().map(|f| f.len() as u64).sum(),
                sha256: Sha256::digest(image).into(),
                chunks,
            });
            frames_all.push(frames);
        }
        let manifest = Manifest {
            boards: self.boards.clone(),
            version: self.version.clone(),
            rollback_index: self.rollback_index,
            build_id: self.build_id.clone(),
            statements: self.statements.clone(),
            payloads,
        };
        let bytes = manifest.encode();
        let sigs: Vec<(KeyId, [u8; 64])> = keys.iter().map(|k| (k.id(), k.sign(&bytes))).collect();
        let sig_block = encode_signatures(&sigs);
        let io = |e: std::io::Error| err(ErrorKind::Io(format!("writing: {e}")));
        out.write_all(&Header { manifest_len: bytes.len() as u32, signatures_len: sig_block.len() as u32 }.encode())
            .map_err(io)?;
        out.write_all(&bytes).map_err(io)?;
        out.write_all(&sig_block).map_err(io)?;
        for frames in frames_all {
            for f in frames {
                out.write_all(&f).map_err(io)?;
            }
        }
        out.flush().map_err(io)?;
        Ok(manifest)
    }
}

/// One zstd frame per chunk, on all cores; frames come back in order.
fn compress_chunks(image: &[u8], chunk: usize, level: i32) -> Result<Vec<Vec<u8>>, String> {
    let pieces: Vec<&[u8]> = image.chunks(chunk).collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(pieces.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<Vec<(usize, Vec<u8>)>> = Vec::new();
    std::thread::scope(|s| -> Result<(), String> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<Vec<(usize, Vec<u8>)>, String> {
                    let mut c = zstd::bulk::Compressor::new(level).map_err(|e| e.to_string())?;
                    c.include_checksum(false).map_err(|e| e.to_string())?;
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = pieces.get(i) else { return Ok(out) };
                        out.push((i, c.compress(p).map_err(|e| format!("zstd: {e}"))?));
                    }
                })
            })
            .collect();
        for h in handles {
            results.push(h.join().map_err(|_| "a compression thread panicked".to_string())??);
        }
        Ok(())
    })?;
    let mut all: Vec<(usize, Vec<u8>)> = results.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, f)| f).collect())
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
