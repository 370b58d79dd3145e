//! Every way `fwupdate` can fail, with its documented exit code. Library
//! errors are mapped variant by variant (a new variant does not compile
//! until it has a code); a plain message is an argument or file problem.

/// Bad arguments, a file that cannot be read or written, a disk error.
pub const EXIT_ERROR: i32 = 1;
/// Refused before anything was written.
pub const EXIT_REFUSED: i32 = 3;
/// Failed after writing started; the new slot or target is left not bootable.
pub const EXIT_FAILED: i32 = 4;
/// Another install is running.
pub const EXIT_BUSY: i32 = 5;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    /// Exit 1: arguments, files.
    pub fn error(message: impl std::fmt::Display) -> Failure {
        Failure { code: EXIT_ERROR, message: message.to_string() }
    }

    /// Exit 3: refused; nothing was written.
    pub fn refused(message: impl std::fmt::Display) -> Failure {
        Failure { code: EXIT_REFUSED, message: message.to_string() }
    }

    pub fn busy(message: impl std::fmt::Display) -> Failure {
        Failure { code: EXIT_BUSY, message: message.to_string() }
    }
}

/// A message of ours: exit 1 (an argument or a file).
impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::error(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure::error(message)
    }
}

impl From<updater::Error> for Failure {
    fn from(e: updater::Error) -> Failure {
        use updater::Error as E;
        let code = match &e {
            E::BundleUnreadable { .. }
            | E::Bundle(_)
            | E::Payloads { .. }
            | E::Downgrade { .. }
            | E::Keyring(_)
            | E::DataNotWritable(_)
            | E::NeverProven { .. }
            | E::StateDamaged { .. }
            | E::StateMissing { .. }
            | E::TrustRecord(_)
            | E::NotOnData(_)
            | E::RunningSlot { .. }
            | E::TooManyStatements(_) => EXIT_REFUSED,
            E::Busy => EXIT_BUSY,
            E::Failed { .. } => EXIT_FAILED,
            E::Slots(_) | E::State(_) => EXIT_ERROR,
        };
        Failure { code, message: e.to_string() }
    }
}

impl From<flash::Error> for Failure {
    fn from(e: flash::Error) -> Failure {
        use flash::Error as E;
        let code = match &e {
            E::Refused(_) | E::Io { .. } => EXIT_REFUSED,
            E::Source(_) | E::Write { .. } | E::Readback { .. } | E::Mismatch { .. } | E::Table(_) => EXIT_FAILED,
        };
        Failure { code, message: format!("{e}. {}", e.target_state()) }
    }
}

impl From<bundle::Error> for Failure {
    fn from(e: bundle::Error) -> Failure {
        let code = match e.kind {
            bundle::ErrorKind::Io(_) | bundle::ErrorKind::Invalid(_) => EXIT_ERROR,
            _ => EXIT_REFUSED,
        };
        Failure { code, message: e.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updater_errors_keep_their_documented_codes() {
        let refused = updater::Error::Downgrade { bundle: "b".into(), version: "1".into(), running: "2".into() };
        assert_eq!(Failure::from(refused).code, EXIT_REFUSED);
        let failed = updater::Error::Failed { slot: abslot::Slot::B, cause: updater::WriteFailure::TooLarge };
        let f = Failure::from(failed);
        assert_eq!(f.code, EXIT_FAILED);
        assert!(f.message.contains("left not bootable"), "{}", f.message);
        let f = Failure::from(flash::Error::Refused("too small".into()));
        assert_eq!(f.code, EXIT_REFUSED);
        assert!(f.message.contains("Nothing was written"), "{}", f.message);
        let f = Failure::from(flash::Error::Mismatch { region: "DATA".into(), at: 0 });
        assert_eq!(f.code, EXIT_FAILED);
    }
}
