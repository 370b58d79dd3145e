//! One lock around every change of the updater's state: install, mark-good,
//! boot-check, set-active, rollback and repair take it, so no two of them
//! read and write the state (or the GPT) at once. An exclusive `flock` on
//! `updater.lock` in the state folder, held until dropped.

use crate::Error;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock, waiting up to `wait` for another holder to finish.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<StateLock, Error> {
        let path = dir.join("updater.lock");
        let io = |source| Error::State(crate::state::StateError::Io { path: path.clone(), op: "locking", source });
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: flock on our own open descriptor.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(StateLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(e));
            }
            if Instant::now() >= deadline {
                return Err(Error::Busy);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_gives_up() {
        let t = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(t.path(), Duration::ZERO).unwrap();
        let started = Instant::now();
        assert!(matches!(StateLock::acquire(t.path(), Duration::from_millis(200)), Err(Error::Busy)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(first);
        StateLock::acquire(t.path(), Duration::ZERO).unwrap();
    }
}
