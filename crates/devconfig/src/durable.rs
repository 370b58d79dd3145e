//! What the durable file operations did, step by step, for whoever watches
//! on this thread: the crash simulator (crates/crashsim) records the steps
//! to rebuild every state a power cut could leave. Nothing watches on a
//! device; the steps cost a thread-local look-up.

use std::cell::RefCell;
use std::path::Path;

/// One step of [`crate::write_atomic`] or [`crate::remove_durably`], after
/// it happened.
#[derive(Debug)]
pub enum Step<'a> {
    /// `path` was renamed into place with `data` (itself synced before):
    /// durable once its folder is synced.
    Renamed { path: &'a Path, data: &'a [u8] },
    /// `path` was removed: durable once its folder is synced.
    Removed { path: &'a Path },
    /// The folder was synced: the renames and removals in it are durable.
    DirSynced { dir: &'a Path },
}

type Watcher = Box<dyn FnMut(&Step)>;

thread_local! {
    static WATCHER: RefCell<Option<Watcher>> = const { RefCell::new(None) };
}

/// Runs `f` with `watcher` seeing every step made on this thread.
pub fn watch<R>(watcher: impl FnMut(&Step) + 'static, f: impl FnOnce() -> R) -> R {
    let old = WATCHER.with(|w| w.borrow_mut().replace(Box::new(watcher)));
    let r = f();
    WATCHER.with(|w| *w.borrow_mut() = old);
    r
}

pub(crate) fn step(s: Step) {
    WATCHER.with(|w| {
        if let Some(f) = w.borrow_mut().as_mut() {
            f(&s)
        }
    });
}
