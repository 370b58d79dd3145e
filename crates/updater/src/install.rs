//! Installing a bundle into the inactive slot, in one streaming pass:
//!
//! 1. the state lock taken; the trust evidence read from DATA and from the
//!    boot disk's record (either unreadable: refused); the target slot's
//!    geometry checked; the bundle opened: signature (the image's keys with
//!    the kept statements replayed), board, rollback floor, slot size; a
//!    downgrade refused unless allowed; DATA writable (the start is recorded);
//! 2. the target slot is made unbootable (both GPT copies) *before* its
//!    first byte is written;
//! 3. each verified chunk is written at its offset, its empty blocks as
//!    zero ranges; then flushed;
//! 4. the slot is read back (page cache dropped) and every chunk compared
//!    with the signed manifest;
//! 5. the new slot's rollback index and the bundle's key statements go to
//!    the trust record and DATA; only then the boot state flips: target
//!    priority above the other, tries 3, unproven. The running slot is
//!    never written.

use crate::control::Updater;
use crate::follow::{self, Follow};
use crate::lock::StateLock;
use crate::state::{EventKind, InstallRecord, InstallResult, SlotRecord, State};
use crate::{evidence, reuse, version, Error, WriteFailure};
use abslot::Slot;
use blockdev::{AlignedBuf, BlockDevice, ChunkSum, SparseWriter, VerifyError, Written};
use bundle::{Policy, Reader, Target};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::{Duration, Instant};

/// Empty space is found at this granularity and not written: the slot is
/// asked to read it as zeros (a hole in an image file, write-zeroes on a
/// block device), as the flasher does.
const ZERO_BLOCK: usize = 64 << 10;

/// What the caller sees while an install runs.
#[derive(Clone, Debug)]
pub enum Stage<'a> {
    /// Something to tell the user that does not stop the install.
    Warning(String),
    Verified {
        version: &'a str,
        target: Slot,
        size: u64,
        signer: String,
    },
    Writing {
        done: u64,
        total: u64,
        elapsed: Duration,
    },
    ReadingBack {
        done: u64,
        total: u64,
    },
    Switching,
    /// A download's plan: chunks the device already had (in the target
    /// slot or the running one, or empty) and the bytes to fetch.
    Reused {
        chunks: usize,
        of: usize,
        fetch_bytes: u64,
    },
    /// A named point between two steps, for tests that cut the power there
    /// (the caller may stop the process while it is called).
    At(Checkpoint),
    Done,
}

/// The points between the install's steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    /// The target was made unbootable; nothing written yet.
    Early,
    /// Halfway through writing the slot.
    Middle,
    /// After the readback, before the boot state flips.
    BeforeFlip,
    /// Right after the flip, before the state on DATA is updated.
    AfterFlip,
}

impl Checkpoint {
    pub const ALL: [Checkpoint; 4] =
        [Checkpoint::Early, Checkpoint::Middle, Checkpoint::BeforeFlip, Checkpoint::AfterFlip];

    /// `early`, `middle`, `before-flip`, `after-flip`.
    pub fn name(self) -> &'static str {
        match self {
            Checkpoint::Early => "early",
            Checkpoint::Middle => "middle",
            Checkpoint::BeforeFlip => "before-flip",
            Checkpoint::AfterFlip => "after-flip",
        }
    }

    pub fn parse(s: &str) -> Option<Checkpoint> {
        Checkpoint::ALL.into_iter().find(|c| c.name() == s)
    }
}

#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    pub board: String,
    /// Version of the running firmware, for the downgrade check.
    pub running_version: String,
    pub allow_downgrade: bool,
    /// Read the bundle once (a download): no first pass over every frame
    /// before the disk is touched. The guarantees that stay: the signature
    /// before any payload byte, each frame checked before it is written,
    /// the read-back before the flip; a bad frame leaves the slot not
    /// bootable, the running one untouched.
    pub single_pass: bool,
}

#[derive(Clone, Debug)]
pub struct Installed {
    pub slot: Slot,
    pub version: String,
    pub bytes: u64,
    pub seconds: f64,
}

/// Installs the bundle into the slot that is not running. `open` gives the
/// bundle's bytes from the start; it is called twice: a first pass checks
/// every frame's hash (cheap, no decoding) so a damaged bundle is refused
/// before the disk is touched, the second pass installs (once with
/// [`InstallOptions::single_pass`]).
pub fn install<D: BlockDevice, R: Read + Send>(
    up: &mut Updater<D>,
    bundle_name: &str,
    open: &mut dyn FnMut() -> std::io::Result<R>,
    opts: &InstallOptions,
    progress: &mut dyn FnMut(Stage),
) -> Result<Installed, Error> {
    install_inner(up, bundle_name, open, None, opts, progress)
}

/// The frames of a download: given which chunks the device lacks, a
/// reader of just the bytes that carry them (after the head) and which
/// chunks' frames it carries (see `bundle::frame_ranges`).
pub type Frames<'a, R> = &'a mut dyn FnMut(&[bool]) -> std::io::Result<(R, Vec<bool>)>;

/// [`install`] from a download that fetches only what the device lacks:
/// `open` gives the bundle's head (its manifest), then every chunk is
/// looked up by its signed hash in the target and the running slot
/// (reuse.rs) and `frames` fetches the rest. The guarantees are a file
/// install's: the signature before any payload byte, every chunk checked
/// (local ones too) before it is written, the read-back before the flip.
pub fn install_partial<D: BlockDevice, R: Read + Send>(
    up: &mut Updater<D>,
    bundle_name: &str,
    open: &mut dyn FnMut() -> std::io::Result<R>,
    frames: Frames<'_, R>,
    opts: &InstallOptions,
    progress: &mut dyn FnMut(Stage),
) -> Result<Installed, Error> {
    let opts = InstallOptions { single_pass: true, ..opts.clone() };
    install_inner(up, bundle_name, open, Some(frames), &opts, progress)
}

fn install_inner<D: BlockDevice, R: Read + Send>(
    up: &mut Updater<D>,
    bundle_name: &str,
    open: &mut dyn FnMut() -> std::io::Result<R>,
    frames: Option<Frames<'_, R>>,
    opts: &InstallOptions,
    progress: &mut dyn FnMut(Stage),
) -> Result<Installed, Error> {
    let open_err = |e: std::io::Error| Error::BundleUnreadable { bundle: bundle_name.to_string(), source: e };
    let target = up.booted.other();
    let _lock = StateLock::acquire(&up.paths.state, up.lock_wait).map_err(|e| match e {
        Error::State(s) => Error::DataNotWritable(s),
        e => e,
    })?;
    // Trust: both copies of the evidence must be readable (fail closed).
    let loaded = State::read(&up.paths.state);
    let trust = evidence::load_strict(&mut up.dev, up.block_size, &loaded)?;
    let (keyring, skipped) = evidence::keyring(&trust.evidence, &up.paths.keyring)?;
    if skipped > 0 {
        progress(Stage::Warning(format!(
            "{skipped} kept key statement(s) no longer apply: their signer is not trusted by this image"
        )));
    }
    let table = up.table()?;
    up.check_target(&table)?;
    let (part_start, part_len) = table.range(target);

    let policy =
        Policy { board: Some(opts.board.clone()), rollback_floor: trust.evidence.floor, slot_size: Some(part_len) };
    if !opts.single_pass {
        Reader::open(bundle_name, open().map_err(open_err)?, &keyring, &policy)?.check_frames()?;
    }
    let mut reader = Reader::open(bundle_name, open().map_err(open_err)?, &keyring, &policy)?;
    // Each frame's signed hash is checked before it is decoded; the decoded
    // chunk is compared with its signed hash by the read-back of the
    // medium before the flip (which also covers the whole-image hash, see
    // readback). Hashing it here too would hash every byte twice.
    reader.set_chunk_hash(false);
    let m = reader.manifest().clone();
    if m.payloads.iter().any(|p| p.target != Target::SlotImage) || m.payloads.len() != 1 {
        return Err(Error::Payloads { bundle: bundle_name.to_string(), count: m.payloads.len() });
    }
    if version::compare(&m.version, &opts.running_version).is_lt() && !opts.allow_downgrade {
        return Err(Error::Downgrade {
            bundle: bundle_name.to_string(),
            version: m.version.clone(),
            running: opts.running_version.clone(),
        });
    }
    // What the device will keep once this slot is written: checked now,
    // before anything is touched.
    let mut next = trust.evidence.clone();
    next.add_statements(&m.statements).map_err(Error::TooManyStatements)?;
    next.set_slot_index(target, m.rollback_index);
    let payload = m.payloads[0].clone();
    progress(Stage::Verified { version: &m.version, target, size: payload.size, signer: reader.signer().to_string() });
    let sums = chunk_sums(&payload);
    let lens: Vec<usize> = (0..payload.chunks.len()).map(|i| payload.chunk_len(i)).collect();
    // A download: what the device has is not fetched.
    let mut have = Vec::new();
    if let Some(frames) = frames {
        let running = table.range(up.booted);
        have = reuse::plan(&mut up.dev, (part_start, part_len), running, payload.chunk_size as u64, &lens, &sums)
            .map_err(|e| Error::Failed { slot: target, cause: WriteFailure::Readback { at: 0, source: e } })?;
        let needed: Vec<bool> = have.iter().map(|h| *h == reuse::Have::Fetch).collect();
        let fetch_bytes =
            payload.chunks.iter().zip(&needed).filter(|(_, n)| **n).map(|(c, _)| c.frame_len as u64).sum();
        let local = needed.iter().filter(|n| !**n).count();
        progress(Stage::Reused { chunks: local, of: needed.len(), fetch_bytes });
        let (feed, carried) = frames(&needed).map_err(open_err)?;
        reader = reader.continue_from(feed, carried.iter().map(|c| !c).collect());
    }

    // DATA must take the record before the disk is touched.
    let mut state = loaded.found_or_fresh();
    state.last_install = Some(InstallRecord {
        version: m.version.clone(),
        slot: target.letter(),
        result: InstallResult::InProgress,
        bundle: bundle_name.into(),
    });
    state.save(&up.paths.state).map_err(Error::DataNotWritable)?;

    let fail = |up: &mut Updater<D>, state: &mut State, cause: WriteFailure| -> Error {
        let why = cause.to_string();
        if let Some(l) = state.last_install.as_mut() {
            l.result = InstallResult::Failed { reason: why.clone() };
        }
        state.record(EventKind::InstallFailed, target.letter(), &m.version, why);
        let _ = state.save(&up.paths.state);
        Error::Failed { slot: target, cause }
    };

    // 2. Not bootable while it is being written.
    let mut table = up.table()?;
    if table.make_unbootable(target) {
        table.write(&mut up.dev)?;
    }
    progress(Stage::At(Checkpoint::Early));

    // 3. Stream: a second thread reads the bundle, checks each frame and
    // decompresses it while this one writes the previous chunk (on a device
    // the USB stick is read while the disk is written); where the target
    // can be read around every cache, a third reads back what was written
    // (follow.rs) behind the writes.
    let started = Instant::now();
    let follower = up.dev.medium_reader();
    let streamed = std::thread::scope(|s| -> Result<Streamed, WriteFailure> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Piece, bundle::Error>>(2);
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<AlignedBuf>();
        let chunk_size = payload.chunk_size as usize;
        let sums = &sums;
        let have = &have;
        let lens = &lens;
        let worker = s.spawn(move || {
            let mut reader = reader;
            loop {
                let piece = match reader.next_chunk() {
                    Ok(None) => break,
                    Err(e) => Err(e),
                    Ok(Some(c)) if c.skipped => {
                        let len = lens[c.index as usize];
                        Ok(match have.get(c.index as usize) {
                            Some(reuse::Have::Copy(from)) => Piece::Copy { offset: c.offset, from: *from, len },
                            Some(reuse::Have::InPlace) => Piece::InPlace { offset: c.offset, len },
                            _ => Piece::Zero { offset: c.offset, len },
                        })
                    }
                    Ok(Some(c)) if sums[c.index as usize] == ChunkSum::Zero => {
                        Ok(Piece::Zero { offset: c.offset, len: c.data.len() })
                    }
                    Ok(Some(c)) => {
                        // Aligned, so the slot is written around the page
                        // cache (blockdev's FileDevice).
                        let mut bytes = spare_rx.try_recv().unwrap_or_else(|_| AlignedBuf::new(chunk_size));
                        bytes.copy_from(c.data);
                        Ok(Piece::Data { offset: c.offset, bytes })
                    }
                };
                let failed = piece.is_err();
                // A closed channel: the writer gave up; stop reading.
                if tx.send(piece).is_err() || failed {
                    break;
                }
            }
        });
        let (check_tx, check_rx) = std::sync::mpsc::channel::<usize>();
        let mut copy_buf: Option<AlignedBuf> = None;
        let payload = &payload;
        let checker = follower.map(|dev| s.spawn(move || follow::check(dev, part_start, payload, sums, check_rx)));
        let mut follow = checker.is_some().then(|| Follow::new(check_tx, payload.chunk_size as u64, payload.size));
        let mut sparse = SparseWriter::new(ZERO_BLOCK);
        let mut done = 0u64;
        let mut halfway = false;
        for piece in rx {
            let piece = piece.map_err(|e| match e.kind {
                bundle::ErrorKind::Io(io) => WriteFailure::BundleRead { bundle: bundle_name.to_string(), why: io },
                _ => WriteFailure::BundleChanged(e),
            })?;
            let (offset, len) = match &piece {
                Piece::Data { offset, bytes } => (*offset, bytes.len()),
                Piece::Zero { offset, len } | Piece::InPlace { offset, len } | Piece::Copy { offset, len, .. } => {
                    (*offset, *len)
                }
            };
            if offset + len as u64 > part_len {
                return Err(WriteFailure::TooLarge);
            }
            let at = part_start + offset;
            let written = match piece {
                Piece::Zero { .. } => sparse.zero(&mut up.dev, at, len as u64),
                // Checked against its signed hash when the plan was made;
                // the read-back checks it again before the flip.
                Piece::InPlace { .. } => Ok(()),
                Piece::Copy { from, .. } => {
                    let buf = copy_buf.get_or_insert_with(|| AlignedBuf::new(payload.chunk_size as usize));
                    buf.set_len(len);
                    up.dev.read_at(from, &mut buf[..]).map_err(|source| WriteFailure::Readback { at: from, source })?;
                    // The running slot is read again now: it must still hold what the plan found.
                    if !sums[(offset / payload.chunk_size as u64) as usize].matches(&buf[..]) {
                        return Err(WriteFailure::Mismatch { at: offset });
                    }
                    sparse.write(&mut up.dev, at, &buf[..])
                }
                Piece::Data { bytes, .. } => {
                    let r = sparse.write(&mut up.dev, at, &bytes);
                    let _ = spare_tx.send(bytes);
                    r
                }
            };
            written.map_err(|e| WriteFailure::Write { slot: target, at: e.at - part_start, source: e.source })?;
            if let Some(f) = follow.as_mut() {
                f.written((offset / payload.chunk_size as u64) as usize);
                f.release(sparse.pending_from().map(|p| p - part_start));
            }
            done += len as u64;
            progress(Stage::Writing { done, total: payload.size, elapsed: started.elapsed() });
            if !halfway && done * 2 >= payload.size {
                halfway = true;
                progress(Stage::At(Checkpoint::Middle));
            }
        }
        sparse.finish(&mut up.dev).map_err(|e| WriteFailure::Write {
            slot: target,
            at: e.at - part_start,
            source: e.source,
        })?;
        let left = follow.map(|mut f| {
            f.release(None);
            f.left
        });
        let checked = checker.map(|c| c.join().expect("the read-back thread panicked"));
        worker.join().expect("the bundle reader thread panicked");
        Ok(Streamed { done, checked, left })
    });
    let streamed = match streamed {
        Ok(st) => st,
        Err(cause) => return Err(fail(up, &mut state, cause)),
    };
    let done = streamed.done;
    if let Err(source) = up.dev.flush() {
        return Err(fail(up, &mut state, WriteFailure::Flush { slot: target, source }));
    }

    // 4. Read back what the medium holds: what the checker did not take,
    // or all of it.
    let checked = match (streamed.checked, streamed.left) {
        (Some(Ok(())), Some(left)) => {
            progress(Stage::ReadingBack { done: payload.size - left.len() as u64, total: payload.size });
            readback(&mut up.dev, part_start, &payload, &sums, Some(&left), progress)
        }
        (Some(Err(cause)), _) => Err(cause),
        _ => readback(&mut up.dev, part_start, &payload, &sums, None, progress),
    };
    if let Err(cause) = checked {
        return Err(fail(up, &mut state, cause));
    }

    // 5. The evidence first (the new slot's rollback index, the bundle's
    // key statements), on the boot disk and on DATA, so a cut after the
    // flip loses neither; then the flip.
    let written = match trust.area.write(&mut up.dev, &next) {
        Ok(w) => w,
        Err(e) => return Err(fail(up, &mut state, WriteFailure::TrustRecord(e))),
    };
    state.set_evidence(&written);
    state.slots.insert(
        target.letter(),
        SlotRecord { version: m.version.clone(), rollback_index: m.rollback_index, build_id: m.build_id.clone() },
    );
    if let Err(e) = state.save(&up.paths.state) {
        return Err(fail(up, &mut state, WriteFailure::State(e)));
    }
    progress(Stage::At(Checkpoint::BeforeFlip));
    progress(Stage::Switching);
    let flipped = abctl::SlotTable::load(&mut up.dev, up.block_size).and_then(|mut table| {
        table.after_install(target);
        table.write(&mut up.dev)
    });
    if let Err(e) = flipped {
        return Err(fail(up, &mut state, WriteFailure::Slots(e)));
    }
    progress(Stage::At(Checkpoint::AfterFlip));

    if let Some(l) = state.last_install.as_mut() {
        l.result = InstallResult::Ok;
    }
    let secs = started.elapsed().as_secs_f64();
    state.record(
        EventKind::Install,
        target.letter(),
        &m.version,
        format!("installed from {bundle_name} in {secs:.1} s; tries 3"),
    );
    state.save(&up.paths.state)?;
    progress(Stage::Done);
    Ok(Installed { slot: target, version: m.version, bytes: done, seconds: secs })
}

/// What the streaming step hands on.
struct Streamed {
    done: u64,
    /// The following read-back's verdict, when there was one.
    checked: Option<Result<(), WriteFailure>>,
    /// Chunks it did not take (unaligned).
    left: Option<Vec<usize>>,
}

/// One verified chunk on its way from the reader thread to the writer.
enum Piece {
    Data {
        offset: u64,
        bytes: AlignedBuf,
    },
    /// Already in the target slot (a download that was interrupted).
    InPlace {
        offset: u64,
        len: usize,
    },
    /// To be copied from the running slot at disk offset `from`.
    Copy {
        offset: u64,
        from: u64,
        len: usize,
    },
    /// A chunk the signed manifest says is all zeros.
    Zero {
        offset: u64,
        len: usize,
    },
}

/// What each chunk of a payload must read back as: its signed hash, or
/// "all zeros" where that hash is the hash of zeros (empty space, which is
/// neither written nor hashed).
fn chunk_sums(p: &bundle::Payload) -> Vec<ChunkSum> {
    let full: [u8; 32] = Sha256::digest(vec![0u8; p.chunk_size as usize]).into();
    let last = p.chunks.len().saturating_sub(1);
    let tail: [u8; 32] = Sha256::digest(vec![0u8; p.chunk_len(last)]).into();
    p.chunks
        .iter()
        .enumerate()
        .map(|(k, c)| {
            if c.data_sha256 == if k == last { tail } else { full } {
                ChunkSum::Zero
            } else {
                ChunkSum::Sha(c.data_sha256)
            }
        })
        .collect()
}

/// Compares the written slot with the manifest, chunk by chunk, through
/// blockdev's read-back (it hashes chunk N while reading N+1, checks empty
/// chunks by looking at them and skips those that are holes in an image
/// file). The whole-image hash is not recomputed: the signed manifest fixes
/// every chunk's length and hash, so matching chunks are the image
/// (`fwupdate bundle verify` checks the manifest's own consistency).
fn readback<D: BlockDevice>(
    dev: &mut D,
    start: u64,
    p: &bundle::Payload,
    sums: &[ChunkSum],
    only: Option<&[usize]>,
    progress: &mut dyn FnMut(Stage),
) -> Result<(), WriteFailure> {
    // Forget the cached pages once (per-read dropping would also drop the
    // kernel's readahead).
    let _ = dev.drop_cache();
    if let Some(only) = only {
        // A few chunks the following read-back left (a short last chunk).
        for &i in only {
            let at = i as u64 * p.chunk_size as u64;
            let mut buf = vec![0u8; p.chunk_len(i)];
            dev.read_at(start + at, &mut buf).map_err(|source| WriteFailure::Readback { at, source })?;
            if !sums[i].matches(&buf) {
                return Err(WriteFailure::Mismatch { at });
            }
        }
        progress(Stage::ReadingBack { done: p.size, total: p.size });
        return Ok(());
    }
    let written = Written {
        name: "the slot".into(),
        offset: start,
        len: p.size,
        chunk: p.chunk_size as usize,
        sums: sums.to_vec(),
        zero_bytes: 0,
    };
    let total = p.size;
    progress(Stage::ReadingBack { done: 0, total });
    blockdev::verify_region(&written, dev, &mut |done| progress(Stage::ReadingBack { done, total })).map_err(
        |e| match e {
            VerifyError::Mismatch { at, .. } => WriteFailure::Mismatch { at: at - start },
            VerifyError::Read { at, source } => WriteFailure::Readback { at: at - start, source },
        },
    )
}
