//! The growing delay after wrong passwords: 1 s after the first, doubling
//! to at most 60 s, counted across the login prompts and the screen (a
//! file in /run, so restarting a prompt does not reset it; a reboot does,
//! and costs far more than the delay).

use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// How long to wait after `failures` wrong passwords in a row.
pub fn delay_after(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(1u64 << (failures - 1).min(6)).min(MAX_DELAY)
}

/// The count of wrong passwords in a row, kept in a file.
pub struct Failures {
    path: PathBuf,
}

impl Failures {
    pub fn new(run_dir: &Path) -> Failures {
        Failures { path: run_dir.join("admin-failures") }
    }

    pub fn count(&self) -> u32 {
        std::fs::read_to_string(&self.path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// Counts one more wrong password; returns how long to wait now.
    pub fn failed(&self) -> Duration {
        let n = self.count().saturating_add(1);
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&self.path, n.to_string());
        delay_after(n)
    }

    pub fn succeeded(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_and_stops_at_a_minute() {
        let d: Vec<u64> = (0..10).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(d, [0, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let t = tempfile::tempdir().unwrap();
        let f = Failures::new(t.path());
        assert_eq!(f.failed().as_secs(), 1);
        assert_eq!(Failures::new(t.path()).failed().as_secs(), 2, "kept across prompts");
        f.succeeded();
        assert_eq!(f.count(), 0);
    }
}
