//! Crash simulation for tests: what a power cut at any moment of an
//! operation can leave behind, and a check of each such state.
//!
//! [`record`] runs an operation against a [`RecordingDevice`] (a disk in
//! memory that logs every write and flush) while it watches the durable
//! file steps on this thread (`devconfig::durable`: renames into place,
//! removals, folder syncs). [`Run::check_states`] then rebuilds, for every
//! prefix of that log, the states a power cut there could leave: the
//! writes and file steps not yet made durable by a flush or a folder sync
//! are all lost, all kept, kept in random subsets, or (the last device
//! write) torn at a 4 KiB boundary; flushed ones always stay. Each state is
//! a [`CrashState`]: a disk (the image before, the durable writes and that
//! fate's pending ones, layered without copying the image) and the files
//! of the settings folder, which the caller's check boots as the next boot
//! would (the boot selector's choice, boot-check, the state and settings
//! loads) and judges.
//!
//! A stopped process keeps the page cache, so killing one cannot find a
//! wrong order of writes and flushes; this can.
//!
//! Architecture Invariant: a crash state contains only writes the log
//! shows, and every write before the last flush that precedes the cut.

mod layers;

pub use layers::CrashDevice;
use layers::{apply, whole_pages, Overlay, Pages};

use blockdev::{BlockDevice, MemDevice};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// The unit of the simulation: writes are applied in 4 KiB pages (what a
/// disk writes atomically), and a torn write keeps whole pages.
pub const PAGE: u64 = 4096;

/// One step of a recorded operation.
#[derive(Clone, Debug)]
pub enum Op {
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    /// A range made to read as zeros.
    Zero {
        offset: u64,
        len: u64,
    },
    Flush,
    /// A file of the watched folder renamed into place with this content.
    FileWritten {
        name: String,
        data: Vec<u8>,
    },
    FileRemoved {
        name: String,
    },
    /// The watched folder was synced.
    DirSynced,
}

impl Op {
    fn is_device_write(&self) -> bool {
        matches!(self, Op::Write { .. } | Op::Zero { .. })
    }
    fn is_file_step(&self) -> bool {
        matches!(self, Op::FileWritten { .. } | Op::FileRemoved { .. })
    }
}

type Log = Rc<RefCell<Vec<Op>>>;

/// A disk in memory that logs every write and flush into the run's log.
pub struct RecordingDevice {
    pub dev: MemDevice,
    log: Log,
}

/// The largest request the simulated disk takes at once: a bigger write
/// reaches it as several requests (as the block layer splits them), each a
/// step of the log that a power cut can fall between or reorder.
pub const REQUEST: u64 = 1 << 20;

impl BlockDevice for RecordingDevice {
    fn len(&self) -> u64 {
        self.dev.len()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.dev.read_at(offset, buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.dev.write_at(offset, buf)?;
        let mut log = self.log.borrow_mut();
        for (i, piece) in buf.chunks(REQUEST as usize).enumerate() {
            log.push(Op::Write { offset: offset + i as u64 * REQUEST, data: piece.to_vec() });
        }
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.log.borrow_mut().push(Op::Flush);
        Ok(())
    }
    fn zero_range(&mut self, offset: u64, len: u64) -> io::Result<()> {
        blockdev::write_zeros(&mut self.dev, offset, len)?;
        let mut log = self.log.borrow_mut();
        let mut at = offset;
        while at < offset + len {
            let n = REQUEST.min(offset + len - at);
            log.push(Op::Zero { offset: at, len: n });
            at += n;
        }
        Ok(())
    }
}

/// A recorded operation: the disk and the settings folder before it, and
/// every step it made.
pub struct Run {
    pub before: Arc<Vec<u8>>,
    pub files_before: BTreeMap<String, Vec<u8>>,
    pub ops: Vec<Op>,
    /// The disk after the whole operation.
    pub after: Vec<u8>,
}

/// The regular files directly in `dir`.
pub fn read_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.insert(e.file_name().to_string_lossy().into_owned(), b);
                }
            }
        }
    }
    out
}

/// Runs `f` on a recording copy of `disk`, watching the durable file steps
/// in `data_dir`; `f` hands the device back when done.
pub fn record<T>(
    disk: &MemDevice,
    data_dir: &Path,
    f: impl FnOnce(RecordingDevice) -> (RecordingDevice, T),
) -> (Run, T) {
    let files_before = read_files(data_dir);
    let log: Log = Rc::new(RefCell::new(Vec::new()));
    let watched = data_dir.to_path_buf();
    let file_log = log.clone();
    let watcher = move |s: &devconfig::durable::Step| {
        use devconfig::durable::Step;
        let name_in = |p: &Path| {
            (p.parent() == Some(watched.as_path())).then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        };
        let op = match s {
            Step::Renamed { path, data } => name_in(path).map(|name| Op::FileWritten { name, data: data.to_vec() }),
            Step::Removed { path } => name_in(path).map(|name| Op::FileRemoved { name }),
            Step::DirSynced { dir } => (*dir == watched.as_path()).then_some(Op::DirSynced),
        };
        if let Some(op) = op {
            file_log.borrow_mut().push(op);
        }
    };
    let dev = RecordingDevice { dev: disk.clone(), log: log.clone() };
    let (dev, out) = devconfig::durable::watch(watcher, || f(dev));
    let ops = log.borrow().clone();
    (Run { before: Arc::new(disk.0.clone()), files_before, ops, after: dev.dev.0 }, out)
}

/// One state a power cut can leave.
pub struct CrashState {
    pub dev: CrashDevice,
    pub files: BTreeMap<String, Vec<u8>>,
    /// Where in the log the power went (steps done) and which fate the
    /// pending steps met, for the report.
    pub label: String,
}

impl CrashState {
    /// Writes the settings folder of this state into `dir` (emptied first).
    pub fn materialize(&self, dir: &Path) -> io::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        for (name, data) in &self.files {
            std::fs::write(dir.join(name), data)?;
        }
        Ok(())
    }
}

/// A small deterministic generator (xorshift), so a failing state can be
/// found again from its label.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Where the power goes: after `cut` steps, with what is durable then and
/// what is still pending.
#[derive(Clone, Copy)]
struct Cut<'a> {
    cut: usize,
    durable: &'a Rc<Overlay>,
    files: &'a BTreeMap<String, Vec<u8>>,
    pending_dev: &'a [usize],
    pending_files: &'a [usize],
    pages: &'a [Option<Pages>],
}

/// How the steps not yet durable at the cut fare.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Lost,
    Kept,
    Subset(u64),
    Torn,
}

impl Run {
    /// Checks every crash state: every prefix of the log, each with the
    /// fates all lost, all kept, `subsets` random subsets and a torn last
    /// write. `check` gets the state with its settings folder materialized
    /// in a scratch folder; returns the number of states checked, or the
    /// first violation with its state's label.
    pub fn check_states(
        &self,
        subsets: u64,
        mut check: impl FnMut(&mut CrashState, &Path) -> Result<(), String>,
    ) -> Result<usize, String> {
        let scratch = std::env::temp_dir().join(format!("crashsim-{}-{:p}", std::process::id(), self));
        let zero: Arc<[u8]> = Arc::from(vec![0u8; PAGE as usize]);
        let pages: Vec<Option<Pages>> = self.ops.iter().map(|op| whole_pages(op, &zero)).collect();
        let mut durable: Rc<Overlay> = Rc::new(HashMap::new());
        let mut files = self.files_before.clone();
        let mut pending_dev: Vec<usize> = Vec::new();
        let mut pending_files: Vec<usize> = Vec::new();
        let mut checked = 0;
        let result = (|| {
            for cut in 0..=self.ops.len() {
                let pending: Vec<usize> = pending_dev.iter().chain(&pending_files).copied().collect();
                let mut fates = vec![Fate::Lost];
                if !pending.is_empty() {
                    fates.push(Fate::Kept);
                    fates.extend((0..subsets).map(Fate::Subset));
                    if pending_dev.last().is_some_and(|&i| self.write_len(i) > PAGE) {
                        fates.push(Fate::Torn);
                    }
                }
                for fate in fates {
                    let at = Cut {
                        cut,
                        durable: &durable,
                        files: &files,
                        pending_dev: &pending_dev,
                        pending_files: &pending_files,
                        pages: &pages,
                    };
                    let mut state = self.state(&at, fate);
                    state.materialize(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
                    check(&mut state, &scratch).map_err(|e| format!("power cut after step {cut} ({fate:?}): {e}"))?;
                    checked += 1;
                }
                if cut == self.ops.len() {
                    break;
                }
                // Step `cut` happens.
                match &self.ops[cut] {
                    op if op.is_device_write() => pending_dev.push(cut),
                    Op::Flush => {
                        let d = Rc::make_mut(&mut durable);
                        for &i in &pending_dev {
                            apply(d, &self.before, None, &self.ops[i], pages[i].as_ref(), None);
                        }
                        pending_dev.clear();
                    }
                    op if op.is_file_step() => pending_files.push(cut),
                    Op::DirSynced => {
                        for &i in &pending_files {
                            apply_file(&mut files, &self.ops[i]);
                        }
                        pending_files.clear();
                    }
                    _ => {}
                }
            }
            Ok(checked)
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    fn write_len(&self, i: usize) -> u64 {
        match &self.ops[i] {
            Op::Write { data, .. } => data.len() as u64,
            Op::Zero { len, .. } => *len,
            _ => 0,
        }
    }

    fn state(&self, at: &Cut, fate: Fate) -> CrashState {
        let Cut { cut, durable, files, pending_dev, pending_files, pages } = *at;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((cut as u64) << 20) ^ matches!(fate, Fate::Subset(_)) as u64);
        if let Fate::Subset(s) = fate {
            rng.0 ^= s.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
        }
        let mut keep = |_: usize| match fate {
            Fate::Lost => false,
            Fate::Kept | Fate::Torn => true,
            Fate::Subset(_) => rng.next() & 1 == 1,
        };
        let mut top = HashMap::new();
        let last_dev = pending_dev.last().copied();
        for &i in pending_dev {
            if keep(i) {
                let limit = match fate {
                    Fate::Torn if Some(i) == last_dev => Some((self.write_len(i) / 2 / PAGE).max(1) * PAGE),
                    _ => None,
                };
                apply(&mut top, &self.before, Some(durable), &self.ops[i], pages[i].as_ref(), limit);
            }
        }
        let mut files = files.clone();
        for &i in pending_files {
            if keep(i) {
                apply_file(&mut files, &self.ops[i]);
            }
        }
        CrashState {
            dev: CrashDevice { base: self.before.clone(), durable: durable.clone(), top },
            files,
            label: format!("step {cut} {fate:?}"),
        }
    }

    /// The pages of `start..start+len` any step writes (to compare a
    /// slot's content with what it should hold, quickly).
    pub fn touched(&self, start: u64, len: u64) -> Vec<u64> {
        let mut v: Vec<u64> = Vec::new();
        for op in &self.ops {
            let (o, l) = match op {
                Op::Write { offset, data } => (*offset, data.len() as u64),
                Op::Zero { offset, len } => (*offset, *len),
                _ => continue,
            };
            let (a, b) = (o.max(start), (o + l).min(start + len));
            if a < b {
                v.extend(a / PAGE..b.div_ceil(PAGE));
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The settings folder's files after the whole run.
    pub fn files_after(&self) -> BTreeMap<String, Vec<u8>> {
        let mut f = self.files_before.clone();
        for op in &self.ops {
            apply_file(&mut f, op);
        }
        f
    }

    /// How many steps of each kind the run made.
    pub fn summary(&self) -> String {
        let n = |f: fn(&Op) -> bool| self.ops.iter().filter(|o| f(o)).count();
        format!(
            "{} device writes, {} flushes, {} file steps, {} folder syncs",
            n(Op::is_device_write),
            n(|o| matches!(o, Op::Flush)),
            n(Op::is_file_step),
            n(|o| matches!(o, Op::DirSynced))
        )
    }
}

fn apply_file(files: &mut BTreeMap<String, Vec<u8>>, op: &Op) {
    match op {
        Op::FileWritten { name, data } => {
            files.insert(name.clone(), data.clone());
        }
        Op::FileRemoved { name } => {
            files.remove(name);
        }
        _ => {}
    }
}

/// Whether the pages `pages` of `dev` hold what `expected` (a whole disk
/// image) holds there.
pub fn same_pages(dev: &mut impl BlockDevice, expected: &[u8], pages: &[u64]) -> io::Result<bool> {
    let mut buf = [0u8; PAGE as usize];
    for &p in pages {
        let at = (p * PAGE) as usize;
        let n = (PAGE as usize).min(expected.len() - at);
        dev.read_at(p * PAGE, &mut buf[..n])?;
        if buf[..n] != expected[at..at + n] {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests;
