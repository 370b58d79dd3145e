//! The streaming, verifying reader. Nothing reaches the caller before the
//! manifest's signature is checked, and no chunk is yielded before its
//! frame's and its data's SHA-256 matched the manifest. Memory: one frame
//! buffer and one chunk buffer plus the zstd decoder, whatever the bundle size.

use crate::error::{Error, ErrorKind};
use crate::format::{Header, HEADER_LEN};
use crate::keys::{KeyId, Keyring};
use crate::manifest::{Manifest, Target};
use crate::writer::decode_signatures;
use sha2::{Digest, Sha256};
use std::io::Read;

/// What the installing device requires of a bundle.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// This device's board; `None` accepts any (host tools).
    pub board: Option<String>,
    /// Lowest rollback index this device accepts.
    pub rollback_floor: u64,
    /// Size of the slot a slot image goes into; `None` for no limit.
    pub slot_size: Option<u64>,
}

/// One verified chunk of a payload.
#[derive(Debug)]
pub struct Chunk<'a> {
    pub payload: usize,
    pub index: u32,
    /// Offset of this chunk in the payload image.
    pub offset: u64,
    /// Empty for a chunk skipped with [`Reader::continue_from`] (the caller
    /// has its bytes elsewhere and checks them against the manifest).
    pub data: &'a [u8],
    pub skipped: bool,
}

pub struct Reader<R: Read> {
    name: String,
    inner: R,
    manifest: Manifest,
    signer: KeyId,
    keyring: Keyring,
    payload: usize,
    chunk: u32,
    frame: Vec<u8>,
    data: Vec<u8>,
    decoder: zstd::bulk::Decompressor<'static>,
    image: Sha256,
    check_image: bool,
    check_chunks: bool,
    /// Frame and data hash of the chunk now in `data`: an identical next
    /// frame (runs of empty space) yields the same bytes without decoding.
    last: Option<([u8; 32], [u8; 32])>,
    finished: bool,
    /// Chunks of the first payload whose frames the source does not carry.
    skip: Vec<bool>,
}

pub(crate) fn read_exact(r: &mut dyn Read, buf: &mut [u8], what: &'static str) -> Result<(), ErrorKind> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ErrorKind::Truncated { what },
        _ => ErrorKind::Io(format!("reading the {what}: {e}")),
    })
}

/// Checks the signatures: a trusted key's valid signature is needed; a
/// trusted key's bad signature means the manifest was changed.
fn check_signatures(ring: &Keyring, manifest: &[u8], sigs: &[(KeyId, [u8; 64])]) -> Result<Option<KeyId>, ErrorKind> {
    for (id, sig) in sigs {
        if ring.is_trusted(id) {
            ring.verify(id, manifest, sig)?;
            return Ok(Some(*id));
        }
    }
    Ok(None)
}

impl<R: Read> Reader<R> {
    /// Reads and verifies header, manifest and signatures, and checks the
    /// policy. `name` (a path, say) is used in every error.
    pub fn open(name: &str, mut inner: R, keyring: &Keyring, policy: &Policy) -> Result<Reader<R>, Error> {
        let err = |k| Error::new(name, k);
        let (raw, sigs) = read_head(&mut inner).map_err(err)?;
        if sigs.is_empty() {
            return Err(err(ErrorKind::Unsigned));
        }

        // First with the keys the device trusts; if no signer is among them,
        // with the keys the bundle's own key statements add (rotation).
        let mut ring = keyring.clone();
        let mut signer = check_signatures(&ring, &raw, &sigs).map_err(err)?;
        let manifest = Manifest::decode(&raw)
            .map_err(|k| err(if signer.is_some() { k } else { unknown_or_revoked(keyring, &sigs) }))?;
        for s in &manifest.statements {
            ring.apply(s).map_err(err)?;
        }
        if signer.is_none() {
            signer = check_signatures(&ring, &raw, &sigs).map_err(err)?;
        }
        let signer = signer.ok_or_else(|| err(unknown_or_revoked(&ring, &sigs)))?;

        if let Some(board) = &policy.board {
            if !manifest.boards.contains(board) {
                return Err(err(ErrorKind::WrongBoard { device: board.clone(), bundle: manifest.boards.clone() }));
            }
        }
        if manifest.rollback_index < policy.rollback_floor {
            return Err(err(ErrorKind::RollbackBelowFloor {
                index: manifest.rollback_index,
                floor: policy.rollback_floor,
            }));
        }
        for (i, p) in manifest.payloads.iter().enumerate() {
            if let (Target::SlotImage, Some(limit)) = (p.target, policy.slot_size) {
                if p.size > limit {
                    return Err(err(ErrorKind::TooLarge { payload: i, size: p.size, limit }));
                }
            }
        }
        let max_frame = manifest.payloads.iter().flat_map(|p| &p.chunks).map(|c| c.frame_len).max().unwrap_or(0);
        let max_chunk = manifest.payloads.iter().map(|p| p.chunk_size).max().unwrap_or(0);
        let decoder = zstd::bulk::Decompressor::new().map_err(|e| err(ErrorKind::Io(e.to_string())))?;
        Ok(Reader {
            name: name.to_string(),
            inner,
            manifest,
            signer,
            keyring: ring,
            payload: 0,
            chunk: 0,
            frame: Vec::with_capacity(max_frame as usize),
            data: Vec::with_capacity(max_chunk as usize),
            decoder,
            image: Sha256::new(),
            check_image: true,
            check_chunks: true,
            last: None,
            finished: false,
            skip: Vec::new(),
        })
    }

    /// Goes on reading from `inner`, which carries, after what was read so
    /// far (the head), only the frames of the first payload's chunks whose
    /// `skip` entry is false, in order (a download of just those ranges,
    /// see [`frame_ranges`]). Skipped chunks are yielded empty with
    /// `skipped` set. The whole-image hash cannot be computed then and is
    /// turned off: the caller checks each chunk (skipped ones too) against
    /// the signed manifest, as the updater's read-back does.
    pub fn continue_from<R2: Read>(self, inner: R2, skip: Vec<bool>) -> Reader<R2> {
        Reader {
            name: self.name,
            inner,
            manifest: self.manifest,
            signer: self.signer,
            keyring: self.keyring,
            payload: self.payload,
            chunk: self.chunk,
            frame: self.frame,
            data: self.data,
            decoder: self.decoder,
            image: self.image,
            check_image: false,
            check_chunks: self.check_chunks,
            last: None,
            finished: self.finished,
            skip,
        }
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The trusted key whose signature was accepted.
    pub fn signer(&self) -> KeyId {
        self.signer
    }

    /// The device's keyring with this bundle's key statements applied; the
    /// updater saves it once the bundle is installed.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Whether to also hash each whole image while streaming (on by
    /// default). Every chunk's own hash is always checked, and the chunk
    /// list is signed, so the whole-image hash adds a second full pass for
    /// defence in depth; the updater turns it off because it checks the
    /// image hash when it reads the written slot back.
    pub fn set_image_hash(&mut self, on: bool) {
        self.check_image = on;
    }

    /// Whether each decoded chunk is hashed and compared with its signed
    /// hash here (on by default). Every frame's signed hash is checked
    /// before it is decoded either way, so a decoded chunk is a pure
    /// function of verified bytes; a caller that compares the chunk with
    /// its signed hash later anyway (the updater's read-back of the written
    /// slot, before anything can boot it) may turn this second hash of the
    /// same bytes off. Turning it off also turns off the image hash.
    pub fn set_chunk_hash(&mut self, on: bool) {
        self.check_chunks = on;
        if !on {
            self.check_image = false;
        }
    }

    fn err(&self, kind: ErrorKind) -> Error {
        Error::new(self.name.clone(), kind)
    }

    /// The next verified chunk; `None` after the last one (when the whole
    /// images matched their SHA-256 and nothing follows the last frame).
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, Error> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(p) = self.manifest.payloads.get(self.payload) else {
                let mut extra = [0u8; 1];
                return match self.inner.read(&mut extra) {
                    Ok(0) => {
                        self.finished = true;
                        Ok(None)
                    }
                    Ok(_) => Err(self.err(ErrorKind::TrailingData)),
                    Err(e) => Err(self.err(ErrorKind::Io(e.to_string()))),
                };
            };
            if self.chunk as usize == p.chunks.len() {
                let digest: [u8; 32] = std::mem::take(&mut self.image).finalize().into();
                if self.check_image && digest != p.sha256 {
                    return Err(self.err(ErrorKind::ImageHash { payload: self.payload }));
                }
                self.payload += 1;
                self.chunk = 0;
                continue;
            }
            break;
        }
        let (pi, ci) = (self.payload, self.chunk);
        let p = &self.manifest.payloads[pi];
        let info = &p.chunks[ci as usize];
        let want_len = p.chunk_len(ci as usize);
        let offset = ci as u64 * p.chunk_size as u64;
        if pi == 0 && self.skip.get(ci as usize) == Some(&true) {
            self.chunk += 1;
            return Ok(Some(Chunk { payload: pi, index: ci, offset, data: &[], skipped: true }));
        }

        self.frame.resize(info.frame_len as usize, 0);
        read_exact(&mut self.inner, &mut self.frame, "payload").map_err(|k| Error::new(self.name.clone(), k))?;
        if <[u8; 32]>::from(Sha256::digest(&self.frame)) != info.frame_sha256 {
            return Err(self.err(ErrorKind::FrameHash { payload: pi, chunk: ci }));
        }
        let same = self.last == Some((info.frame_sha256, info.data_sha256)) && self.data.len() == want_len;
        if !same {
            self.last = None;
            self.data.clear();
            let n = self.decoder.decompress_to_buffer(&self.frame[..], &mut self.data);
            let ok = matches!(n, Ok(n) if n == want_len)
                && (!self.check_chunks || <[u8; 32]>::from(Sha256::digest(&self.data)) == info.data_sha256);
            if !ok {
                self.data.clear();
                return Err(self.err(ErrorKind::ChunkHash { payload: pi, chunk: ci }));
            }
            self.last = Some((info.frame_sha256, info.data_sha256));
        }
        if self.check_image {
            self.image.update(&self.data);
        }
        self.chunk += 1;
        Ok(Some(Chunk { payload: pi, index: ci, offset, data: &self.data, skipped: false }))
    }

    /// Reads every frame and checks its SHA-256 without decoding (fast: the
    /// compressed bytes only) and that nothing follows. An installer runs
    /// this over the whole bundle first, so a damaged payload is refused
    /// before the first byte is written to a slot.
    pub fn check_frames(mut self) -> Result<Manifest, Error> {
        // This thread reads while a second one hashes the frame read before
        // (the read of a cold bundle and the hashing overlap).
        let name = self.name.clone();
        let first_payload = self.payload;
        let first_chunk = self.chunk as usize;
        let frames: Vec<(usize, usize, u32, [u8; 32])> = self
            .manifest
            .payloads
            .iter()
            .enumerate()
            .skip(first_payload)
            .flat_map(|(pi, p)| {
                let first = if pi == first_payload { first_chunk } else { 0 };
                p.chunks.iter().enumerate().skip(first).map(move |(ci, c)| (pi, ci, c.frame_len, c.frame_sha256))
            })
            .collect();
        let inner = &mut self.inner;
        std::thread::scope(|s| -> Result<(), Error> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(2);
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
            let frames = &frames;
            let hasher = s.spawn(move || -> Option<usize> {
                for (k, buf) in rx {
                    if <[u8; 32]>::from(Sha256::digest(&buf)) != frames[k].3 {
                        return Some(k);
                    }
                    let _ = back_tx.send(buf);
                }
                None
            });
            let mut read = Ok(());
            for (k, &(_, _, len, _)) in frames.iter().enumerate() {
                let mut buf = back_rx.try_recv().unwrap_or_default();
                buf.resize(len as usize, 0);
                if let Err(e) = read_exact(inner, &mut buf, "payload") {
                    read = Err(Error::new(name.clone(), e));
                    break;
                }
                if tx.send((k, buf)).is_err() {
                    break;
                }
            }
            drop(tx);
            if let Some(k) = hasher.join().expect("the frame hashing thread panicked") {
                let (pi, ci, _, _) = frames[k];
                return Err(Error::new(name.clone(), ErrorKind::FrameHash { payload: pi, chunk: ci as u32 }));
            }
            read
        })?;
        let mut extra = [0u8; 1];
        match self.inner.read(&mut extra) {
            Ok(0) => Ok(self.manifest),
            Ok(_) => Err(self.err(ErrorKind::TrailingData)),
            Err(e) => Err(self.err(ErrorKind::Io(e.to_string()))),
        }
    }

    /// Reads and verifies everything; returns the manifest.
    pub fn verify_all(mut self) -> Result<Manifest, Error> {
        while self.next_chunk()?.is_some() {}
        Ok(self.manifest)
    }
}

/// What to download of a bundle file for the first payload's `needed`
/// chunks, given the head's length: byte ranges (start, length), and which
/// chunks' frames they carry. Runs of neighbouring frames are one range,
/// and ranges less than `gap` bytes apart are merged (one request costs
/// more than a few bytes more), so a range may carry frames not needed:
/// pass `!carried` as the skip list to [`Reader::continue_from`].
pub fn frame_ranges(manifest: &Manifest, head_len: u64, needed: &[bool], gap: u64) -> (Vec<(u64, u64)>, Vec<bool>) {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let Some(p) = manifest.payloads.first() else { return (ranges, Vec::new()) };
    let mut starts = Vec::with_capacity(p.chunks.len());
    let mut at = head_len;
    for (i, c) in p.chunks.iter().enumerate() {
        let len = c.frame_len as u64;
        starts.push(at);
        if needed.get(i) == Some(&true) {
            match ranges.last_mut() {
                Some((s, l)) if at - (*s + *l) <= gap => *l = at + len - *s,
                _ => ranges.push((at, len)),
            }
        }
        at += len;
    }
    let carried = starts.iter().map(|&s| ranges.iter().any(|&(r, l)| s >= r && s < r + l)).collect();
    (ranges, carried)
}

/// Reads the manifest and the signers' key ids WITHOUT verifying anything
/// (for `fwupdate bundle info`): never use it to decide about installing.
pub fn inspect(name: &str, mut inner: impl Read) -> Result<(Manifest, Vec<KeyId>), Error> {
    let err = |k| Error::new(name, k);
    let (raw, sigs) = read_head(&mut inner).map_err(err)?;
    let manifest = Manifest::decode(&raw).map_err(err)?;
    Ok((manifest, sigs.into_iter().map(|(id, _)| id).collect()))
}

/// The bundle's head exactly as stored: header, manifest and signature
/// block (everything before the first frame). Nothing is verified: a
/// repository publishes it as the bundle's `.qmanifest`, and the device
/// verifies it with [`Reader::open`] like any bundle.
pub fn head_bytes(name: &str, mut inner: impl Read) -> Result<Vec<u8>, Error> {
    let err = |k| Error::new(name, k);
    let mut h = [0u8; HEADER_LEN];
    read_exact(&mut inner, &mut h, "header").map_err(err)?;
    let header = Header::decode(&h).map_err(err)?;
    let mut out = h.to_vec();
    out.resize(HEADER_LEN + header.manifest_len as usize + header.signatures_len as usize, 0);
    read_exact(&mut inner, &mut out[HEADER_LEN..], "manifest and signature block").map_err(err)?;
    Ok(out)
}

/// Header, the manifest's exact bytes and the decoded signature block.
type Signatures = Vec<(KeyId, [u8; 64])>;
fn read_head(inner: &mut impl Read) -> Result<(Vec<u8>, Signatures), ErrorKind> {
    let mut h = [0u8; HEADER_LEN];
    read_exact(inner, &mut h, "header")?;
    let header = Header::decode(&h)?;
    let mut raw = vec![0u8; header.manifest_len as usize];
    read_exact(inner, &mut raw, "manifest")?;
    let mut sig_block = vec![0u8; header.signatures_len as usize];
    read_exact(inner, &mut sig_block, "signature block")?;
    Ok((raw, decode_signatures(&sig_block)?))
}

fn unknown_or_revoked(ring: &Keyring, sigs: &[(KeyId, [u8; 64])]) -> ErrorKind {
    for (id, sig) in sigs {
        if let Err(ErrorKind::RevokedKey(r)) = ring.verify(id, b"", sig) {
            return ErrorKind::RevokedKey(r);
        }
    }
    ErrorKind::UnknownKey(sigs.iter().map(|(id, _)| *id).collect())
}
