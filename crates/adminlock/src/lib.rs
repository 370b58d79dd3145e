//! The administrator's password: nobody gets a shell, re-runs the Setup
//! Assistant, installs an update from the screen, erases a disk or resets
//! the device without it once one is set.
//!
//! It is kept as an Argon2id hash (PHC string) in `/data/quill/admin-password`,
//! written crash-safe, never logged. The file's states are [`Lock`]: not set
//! (a new device, or after a factory reset), explicitly open ("no password",
//! chosen in the Setup Assistant; the home screen warns), set, or damaged —
//! which counts as set and unknown: only the recovery path (hold R while the
//! device starts, see ARCHITECTURE.md) opens it, never "no password".
//!
//! Argon2id parameters: 32 MiB of memory, 2 passes, 1 lane ([`params`]):
//! a verification takes about 0.5 s under QEMU's TCG (`cargo xtask bench`
//! checks ≤ 1 s) and stays under the 64 MiB budget.
//!
//! Architecture Invariant: a password is compared only through
//! [`Lock::verify`]; nothing prints or logs it or its hash.

/// The command line (`fn main` of the binary; the device's multicall binary calls it too).
pub mod cli;
mod console;
mod limit;
pub mod tty;

pub use limit::{delay_after, Failures};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::path::{Path, PathBuf};

/// The file under the settings folder on DATA.
pub const FILE: &str = "admin-password";
/// What the file holds when "no password" was chosen.
const OPEN: &str = "open";
pub const MIN_LEN: usize = 8;

/// Argon2id with Quill's parameters (documented above; do not lower them).
pub fn params() -> Params {
    Params::new(32 * 1024, 2, 1, None).expect("valid Argon2 parameters")
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the administrator password is too short: at least {MIN_LEN} characters ({missing} more)")]
    TooShort { missing: usize },
    #[error("the two passwords differ")]
    Differs,
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error("{0}")]
    Write(String),
}

/// Checks a new password typed twice.
pub fn check_new(password: &str, repeat: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(Error::TooShort { missing: MIN_LEN - n });
    }
    if password != repeat {
        return Err(Error::Differs);
    }
    Ok(())
}

/// What the password file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    /// No file: before the first setup, or after a factory reset.
    NotSet,
    /// "No password" was chosen explicitly.
    Open,
    /// A password is set (its PHC hash).
    Set(String),
    /// The file cannot be read or parsed: counts as set and unknown.
    Damaged(String),
}

/// The result of a password check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Right,
    Wrong,
    /// No password can open a damaged lock (only the recovery path can).
    Unverifiable(String),
}

impl Lock {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    pub fn read(dir: &Path) -> Lock {
        match std::fs::read(Lock::path(dir)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Lock::NotSet,
            Err(e) => Lock::Damaged(format!("{}: {e}", Lock::path(dir).display())),
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).trim().to_string();
                if text == OPEN {
                    Lock::Open
                } else if PasswordHash::new(&text)
                    .is_ok_and(|h| h.algorithm.as_str() == "argon2id" && h.salt.is_some() && h.hash.is_some())
                {
                    Lock::Set(text)
                } else {
                    Lock::Damaged(format!("{} does not hold an Argon2id hash", Lock::path(dir).display()))
                }
            }
        }
    }

    /// Whether guarded actions ask for a password.
    pub fn guards(&self) -> bool {
        matches!(self, Lock::Set(_) | Lock::Damaged(_))
    }

    pub fn verify(&self, password: &str) -> Verdict {
        match self {
            Lock::NotSet | Lock::Open => Verdict::Right,
            Lock::Damaged(why) => Verdict::Unverifiable(why.clone()),
            Lock::Set(hash) => match PasswordHash::new(hash) {
                Ok(h) if argon2().verify_password(password.as_bytes(), &h).is_ok() => Verdict::Right,
                Ok(_) => Verdict::Wrong,
                Err(e) => Verdict::Unverifiable(e.to_string()),
            },
        }
    }
}

fn write(dir: &Path, text: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write(format!("{}: {e}", dir.display())))?;
    devconfig::write_atomic(&Lock::path(dir), format!("{text}\n").as_bytes()).map_err(|e| Error::Write(e.to_string()))
}

/// Sets the password (checked by the caller with [`check_new`]).
pub fn set_password(dir: &Path, password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_LEN {
        return Err(Error::TooShort { missing: MIN_LEN - password.chars().count() });
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2().hash_password(password.as_bytes(), &salt).map_err(|e| Error::Hash(e.to_string()))?;
    write(dir, &hash.to_string())
}

/// Records "no password", chosen explicitly.
pub fn set_open(dir: &Path) -> Result<(), Error> {
    write(dir, OPEN)
}

/// Removes the password (factory reset, recovery).
pub fn clear(dir: &Path) -> Result<(), Error> {
    devconfig::remove_durably(&Lock::path(dir))
        .map(|_| ())
        .map_err(|e| Error::Write(format!("{}: {e}", Lock::path(dir).display())))
}

/// The note (in /run/quill) by which the home screen, having checked the
/// password, lets the login on tty2 open without asking again (once,
/// within [`TICKET_SECS`]).
pub const TTY2_TICKET: &str = "tty2-ticket";
pub const TICKET_SECS: i64 = 60;

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Takes the screen's note for tty2, when it is fresh (it is removed either way).
pub fn take_ticket(run_dir: &Path) -> bool {
    let path = run_dir.join(TTY2_TICKET);
    let t = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<i64>().ok());
    let _ = std::fs::remove_file(&path);
    t.is_some_and(|t| (0..=TICKET_SECS).contains(&(now_secs() - t)))
}

/// What a factory reset removes from the settings folder: the settings and
/// the password (enrollment data too, once there is some), in this order,
/// each removal durable before the next: a power cut in between leaves a
/// device that runs the Setup Assistant and still asks for its password,
/// never one that is set up and has lost its password. The updater's
/// state, its trust record, the boot history and the time floor stay.
pub const RESET_FILES: &[&str] = &[devconfig::FILE_NAME, FILE];

/// Wipes the settings (factory reset, recovery); returns what was removed.
pub fn factory_reset(dir: &Path) -> Result<Vec<String>, Error> {
    let mut removed = Vec::new();
    for name in RESET_FILES {
        match devconfig::remove_durably(&dir.join(name)) {
            Ok(true) => removed.push(name.to_string()),
            Ok(false) => {}
            Err(e) => return Err(Error::Write(format!("{}: {e}", dir.join(name).display()))),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_verify_open_damaged() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        assert_eq!(Lock::read(d), Lock::NotSet);
        assert!(!Lock::read(d).guards());
        set_password(d, "correct horse").unwrap();
        let lock = Lock::read(d);
        assert!(lock.guards());
        let Lock::Set(hash) = &lock else { panic!("{lock:?}") };
        assert!(hash.starts_with("$argon2id$v=19$m=32768,t=2,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert_eq!(lock.verify("correct horse"), Verdict::Right);
        assert_eq!(lock.verify("correct hors"), Verdict::Wrong);
        assert_eq!(lock.verify(""), Verdict::Wrong);
        // Salted: the same password hashes differently.
        set_password(d, "correct horse").unwrap();
        assert_ne!(Lock::read(d), lock);
        set_open(d).unwrap();
        assert_eq!(Lock::read(d), Lock::Open);
        assert_eq!(Lock::read(d).verify("anything"), Verdict::Right);
        std::fs::write(Lock::path(d), "$argon2id$v=19$m=32768,t=2,p=1$torn").unwrap();
        let damaged = Lock::read(d);
        assert!(matches!(damaged, Lock::Damaged(_)) && damaged.guards(), "{damaged:?}");
        assert!(matches!(damaged.verify("correct horse"), Verdict::Unverifiable(_)));
        std::fs::write(Lock::path(d), "").unwrap();
        assert!(matches!(Lock::read(d), Lock::Damaged(_)), "an empty file is not \"no password\"");
        clear(d).unwrap();
        assert_eq!(Lock::read(d), Lock::NotSet);
    }

    #[test]
    fn new_passwords_are_checked() {
        assert!(matches!(check_new("short", "short"), Err(Error::TooShort { missing: 3 })));
        assert!(matches!(check_new("", ""), Err(Error::TooShort { missing: 8 })));
        assert!(matches!(check_new("long enough", "long enougH"), Err(Error::Differs)));
        check_new("long enough", "long enough").unwrap();
        assert!(set_password(Path::new("/nonexistent-quill"), "short").is_err());
    }

    #[test]
    fn factory_reset_keeps_the_updater_and_the_floor() {
        let t = tempfile::tempdir().unwrap();
        for f in [devconfig::FILE_NAME, FILE, "updater.json", "time-floor"] {
            std::fs::write(t.path().join(f), "x").unwrap();
        }
        let removed = factory_reset(t.path()).unwrap();
        assert_eq!(removed, [devconfig::FILE_NAME, FILE]);
        assert!(t.path().join("updater.json").exists() && t.path().join("time-floor").exists());
        assert!(factory_reset(t.path()).unwrap().is_empty());
    }
}
