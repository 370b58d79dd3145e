//! Installing a bundle into the inactive slot, in one streaming pass:
//!
//! 1. open the bundle: signature, board, rollback floor, slot size checked;
//!    a downgrade refused unless allowed; DATA writable (the start is recorded);
//! 2. the target slot is made unbootable (both GPT copies) *before* its
//!    first byte is written;
//! 3. each verified chunk is written at its offset; then flushed;
//! 4. the slot is read back (page cache dropped) and every chunk compared
//!    with the signed manifest;
//! 5. only then the boot state flips: target priority above the other,
//!    tries 3, unproven. The running slot is never written.

use crate::blockdev::BlockDevice;
use crate::slots::Updater;
use crate::state::{InstallRecord, SlotRecord, State};
use crate::{version, Error};
use abslot::{Slot, SlotAttr};
use bundle::{Policy, Reader, Target};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::{Duration, Instant};

/// Bytes per read of the readback.
const READBACK_BYTES: usize = 8 << 20;

/// What the caller sees while an install runs.
#[derive(Clone, Debug)]
pub enum Stage<'a> {
    Verified { version: &'a str, target: Slot, size: u64, signer: String },
    Writing { done: u64, total: u64, elapsed: Duration },
    ReadingBack,
    Switching,
    Done,
}

/// A deliberate stop at one step (for power-cut tests): the installer sleeps there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// The target was made unbootable; nothing written yet.
    Early,
    /// Halfway through writing the slot.
    Middle,
    /// After the readback, before the boot state flips.
    BeforeFlip,
    /// Right after the flip, before the state on DATA is updated.
    AfterFlip,
}

#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    pub board: String,
    /// Version of the running firmware, for the downgrade check.
    pub running_version: String,
    pub allow_downgrade: bool,
    pub pause: Option<(Pause, Duration)>,
}

#[derive(Clone, Debug)]
pub struct Installed {
    pub slot: Slot,
    pub version: String,
    pub bytes: u64,
    pub seconds: f64,
}

fn pause(opts: &InstallOptions, at: Pause) {
    if let Some((p, d)) = opts.pause {
        if p == at {
            // One write, so a kernel message cannot split the line.
            let line = format!("fwupdate: test pause at {at:?} for {} s\n", d.as_secs());
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
            std::thread::sleep(d);
        }
    }
}

/// Installs the bundle into the slot that is not running. `open` gives the
/// bundle's bytes from the start; it is called twice: a first pass checks
/// every frame's hash (cheap, no decoding) so a damaged bundle is refused
/// before the disk is touched, the second pass installs.
pub fn install<D: BlockDevice, R: Read>(
    up: &mut Updater<D>,
    bundle_name: &str,
    open: &mut dyn FnMut() -> std::io::Result<R>,
    opts: &InstallOptions,
    progress: &mut dyn FnMut(Stage),
) -> Result<Installed, Error> {
    let open_err = |e: std::io::Error| Error::Refused(format!("{bundle_name}: cannot be read: {e}"));
    let target = up.booted.other();
    let (state, warning) = State::load(&up.paths.state);
    if let Some(w) = warning {
        eprintln!("fwupdate: warning: {w}");
    }
    let keyring = state.keyring(&up.paths.keyring).map_err(Error::Refused)?;
    let (_, parts) = up.gpt()?;
    let part = parts[target.index()].clone();
    let bs = up.block_size as u64;
    let part_start = part.first_lba * bs;
    let part_len = (part.last_lba + 1 - part.first_lba) * bs;

    let policy =
        Policy { board: Some(opts.board.clone()), rollback_floor: state.rollback_floor, slot_size: Some(part_len) };
    Reader::open(bundle_name, open().map_err(open_err)?, &keyring, &policy)?.check_frames()?;
    let mut reader = Reader::open(bundle_name, open().map_err(open_err)?, &keyring, &policy)?;
    reader.set_image_hash(false); // implied by the chunk hashes (see readback)
    let m = reader.manifest().clone();
    if m.payloads.iter().any(|p| p.target != Target::SlotImage) || m.payloads.len() != 1 {
        return Err(Error::Refused(format!(
            "{bundle_name}: this firmware installs bundles with exactly one slot image; this one has {} payload(s)",
            m.payloads.len()
        )));
    }
    if version::compare(&m.version, &opts.running_version).is_lt() && !opts.allow_downgrade {
        return Err(Error::Refused(format!(
            "{bundle_name}: version {} is older than the running {}; use --allow-downgrade to install it anyway",
            m.version, opts.running_version
        )));
    }
    let payload = m.payloads[0].clone();
    progress(Stage::Verified { version: &m.version, target, size: payload.size, signer: reader.signer().to_string() });

    // DATA must take the record before the disk is touched.
    let mut state = state;
    state.last_install = Some(InstallRecord {
        version: m.version.clone(),
        slot: target.letter(),
        result: "in progress".into(),
        bundle: bundle_name.into(),
    });
    state.save(&up.paths.state).map_err(|e| Error::Refused(format!("{e}; nothing was changed")))?;

    let fail = |up: &mut Updater<D>, state: &mut State, why: String| -> Error {
        if let Some(l) = state.last_install.as_mut() {
            l.result = format!("failed: {why}");
        }
        state.record("install-failed", target.letter(), &m.version, why.clone());
        let _ = state.save(&up.paths.state);
        Error::Failed(why, target.letter())
    };

    // 2. Not bootable while it is being written.
    let (mut gpt, parts) = up.gpt()?;
    let before = SlotAttr::from_gpt(parts[target.index()].attributes);
    if before != SlotAttr::new(0, 0, false) {
        up.write_attrs(&mut gpt, &[(&parts[target.index()], SlotAttr::new(0, 0, false))])?;
    }

    pause(opts, Pause::Early);

    // 3. Stream.
    let started = Instant::now();
    let mut done = 0u64;
    let mut paused = false;
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let why = match &e.kind {
                    bundle::ErrorKind::Io(io) => {
                        format!("reading {bundle_name} failed ({io}): was the USB storage removed? Install again")
                    }
                    _ => e.to_string(),
                };
                return Err(fail(up, &mut state, why));
            }
        };
        if chunk.offset + chunk.data.len() as u64 > part_len {
            return Err(fail(up, &mut state, "the image does not fit the slot".into()));
        }
        if let Err(e) = up.dev.write_at(part_start + chunk.offset, chunk.data) {
            return Err(fail(up, &mut state, format!("writing slot {target} at {}: {e}", chunk.offset)));
        }
        done += chunk.data.len() as u64;
        progress(Stage::Writing { done, total: payload.size, elapsed: started.elapsed() });
        if !paused && done * 2 >= payload.size {
            paused = true;
            pause(opts, Pause::Middle);
        }
    }
    if let Err(e) = up.dev.flush() {
        return Err(fail(up, &mut state, format!("flushing slot {target}: {e}")));
    }

    // 4. Read back what the medium holds.
    progress(Stage::ReadingBack);
    if let Err(why) = readback(up, part_start, &payload) {
        return Err(fail(up, &mut state, why));
    }

    // 5. Flip.
    pause(opts, Pause::BeforeFlip);
    progress(Stage::Switching);
    let (mut gpt, parts) = up.gpt()?;
    let (t, o) = (&parts[target.index()], &parts[target.other().index()]);
    let (new_t, new_o) = abslot::after_install(SlotAttr::from_gpt(t.attributes), SlotAttr::from_gpt(o.attributes));
    up.write_attrs(&mut gpt, &[(t, new_t), (o, new_o)])?;
    pause(opts, Pause::AfterFlip);

    state.slots.insert(
        target.letter(),
        SlotRecord { version: m.version.clone(), rollback_index: m.rollback_index, build_id: m.build_id.clone() },
    );
    state.keyring = reader.keyring().state_text();
    if let Some(l) = state.last_install.as_mut() {
        l.result = "ok".into();
    }
    let secs = started.elapsed().as_secs_f64();
    state.record(
        "install",
        target.letter(),
        &m.version,
        format!("installed from {bundle_name} in {secs:.1} s; tries 3"),
    );
    state.save(&up.paths.state)?;
    progress(Stage::Done);
    Ok(Installed { slot: target, version: m.version, bytes: done, seconds: secs })
}

/// Compares the written slot with the manifest, chunk by chunk. A chunk
/// whose signed hash equals the previous chunk's is compared byte for byte
/// with that chunk's verified bytes instead of being hashed again (the empty
/// space of a slot image is thousands of identical chunks). The whole-image
/// hash is not recomputed: the signed manifest fixes every chunk's length
/// and hash, so matching chunks are the image (`fwupdate bundle verify`
/// checks the manifest's own consistency).
fn readback<D: BlockDevice>(up: &mut Updater<D>, start: u64, p: &bundle::Payload) -> Result<(), String> {
    // Forget the cached pages once (per-read dropping would also drop the
    // kernel's readahead), then read several chunks per call.
    let _ = up.dev.drop_cache();
    let chunk = p.chunk_size as usize;
    let per_read = (READBACK_BYTES / chunk).max(1);
    let mut buf = vec![0u8; per_read * chunk];
    // The last chunk whose hash was checked, and its bytes.
    let mut last_hash: Option<[u8; 32]> = None;
    let mut last = Vec::with_capacity(chunk);
    let mut i = 0;
    while i < p.chunks.len() {
        let n = per_read.min(p.chunks.len() - i);
        let off = i as u64 * chunk as u64;
        let bytes: usize = (i..i + n).map(|k| p.chunk_len(k)).sum();
        let area = &mut buf[..bytes];
        up.dev.read_at(start + off, area).map_err(|e| format!("reading back at {off}: {e}"))?;
        for k in i..i + n {
            let c = &p.chunks[k];
            let at = (k - i) * chunk;
            let data = &area[at..at + p.chunk_len(k)];
            let same = if last_hash == Some(c.data_sha256) && last.len() == data.len() {
                last[..] == data[..]
            } else {
                let ok = <[u8; 32]>::from(Sha256::digest(data)) == c.data_sha256;
                if ok {
                    last_hash = Some(c.data_sha256);
                    last.clear();
                    last.extend_from_slice(data);
                }
                ok
            };
            if !same {
                return Err(format!("the slot does not hold what was written (chunk {k} differs on readback)"));
            }
        }
        i += n;
    }
    Ok(())
}
