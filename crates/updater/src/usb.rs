//! Finding an update on removable storage: the `*.qbundle` files in the
//! root of a mounted stick and in its `quill/` folder, the newest one that
//! is for this board, is signed by a trusted key and is newer than the
//! running firmware. Only headers and manifests are read here; the caller
//! checks the chosen bundle's frames before offering it.

use crate::state::State;
use crate::version;
use bundle::{Keyring, Policy, Reader};
use std::path::{Path, PathBuf};

/// A bundle whose signature and manifest were accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub version: String,
    pub signer: String,
}

/// What a stick holds, for this device.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// Acceptable bundles, newest first.
    pub usable: Vec<Candidate>,
    /// Bundles passed over, each with the reason (shown to the user).
    pub skipped: Vec<(PathBuf, String)>,
}

/// The folder where `fwupdate usb` keeps the current offer for the screen
/// (the Setup Assistant's home screen) on a device.
pub const RUN_DIR: &str = "/run/quill";
const OFFER_FILE: &str = "usb-offer.json";

/// An update found on USB storage and offered on the console; kept as JSON
/// in `RUN_DIR/usb-offer.json` for the home screen (one place for its format).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offer {
    /// The storage's name (`sda`).
    pub device: String,
    pub path: PathBuf,
    pub version: String,
    pub signer: String,
}

impl Offer {
    pub fn save(&self, run_dir: &Path) -> Result<(), crate::state::StateError> {
        let _ = std::fs::create_dir_all(run_dir);
        let json = serde_json::to_vec(self).expect("an offer serializes");
        crate::state::write_atomic(&run_dir.join(OFFER_FILE), &json)
    }

    pub fn load(run_dir: &Path) -> Option<Offer> {
        serde_json::from_slice(&std::fs::read(run_dir.join(OFFER_FILE)).ok()?).ok()
    }
}

/// The offered bundle's path, while its file is still there.
pub fn offered_bundle(run_dir: &Path) -> Option<PathBuf> {
    Offer::load(run_dir).map(|o| o.path).filter(|p| p.is_file())
}

/// Whether a directory entry name is a bundle we consider: `*.qbundle`
/// (any case, FAT sticks), not hidden, not a macOS `._*` resource file.
pub fn is_bundle_name(name: &str) -> bool {
    !name.starts_with('.') && name.len() > ".qbundle".len() && name.to_ascii_lowercase().ends_with(".qbundle")
}

/// A name from a stick as it may be shown: control characters (a newline
/// that would fake a console line, an escape sequence) are escaped.
pub fn shown(name: &str) -> String {
    name.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// A path as one word for a shell (the hint that says what to type).
pub fn shell_word(path: &Path) -> String {
    let s = path.to_string_lossy();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@=".contains(c)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The bundle files in `root` and `root/quill/`, sorted by path, and the
/// entries passed over for their name. Nothing is followed: a `quill`
/// folder that is a link, and bundle names that are links, are not read.
pub fn bundle_files(root: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let sub = root.join("quill");
    let dirs: Vec<PathBuf> = match std::fs::symlink_metadata(&sub) {
        Ok(m) if m.is_dir() => vec![root.to_path_buf(), sub],
        Ok(m) if m.file_type().is_symlink() => {
            skipped.push((sub, "a link, not a folder: not followed".into()));
            vec![root.to_path_buf()]
        }
        _ => vec![root.to_path_buf()],
    };
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let raw = e.file_name();
            let Some(name) = raw.to_str() else {
                skipped.push((e.path(), "its name is not UTF-8".into()));
                continue;
            };
            if !is_bundle_name(name) {
                continue;
            }
            if name.chars().any(char::is_control) {
                skipped.push((e.path(), "its name holds control characters".into()));
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_file() => out.push(e.path()),
                Ok(t) if t.is_symlink() => skipped.push((e.path(), "a link: not followed".into())),
                _ => {}
            }
        }
    }
    out.sort();
    skipped.sort();
    (out, skipped)
}

/// Opens a file from a stick without following a link.
pub fn open_nofollow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// Reads each bundle's header, signatures and manifest (not the payload)
/// and sorts them into usable and skipped.
pub fn scan(root: &Path, keyring: &Keyring, board: &str, floor: u64) -> Scan {
    let policy = Policy { board: Some(board.to_string()), rollback_floor: floor, slot_size: None };
    let (files, skipped) = bundle_files(root);
    let mut scan = Scan { skipped, ..Scan::default() };
    for path in files {
        let name = shown(&path.display().to_string());
        let opened = open_nofollow(&path).map_err(|e| format!("cannot be read: {e}")).and_then(|f| {
            Reader::open(&name, std::io::BufReader::new(f), keyring, &policy).map_err(|e| e.kind.to_string())
        });
        match opened {
            Ok(r) => scan.usable.push(Candidate {
                path: path.clone(),
                version: r.manifest().version.clone(),
                signer: r.signer().to_string(),
            }),
            Err(why) => scan.skipped.push((path, why)),
        }
    }
    scan.usable.sort_by(|a, b| version::compare(&b.version, &a.version).then_with(|| a.path.cmp(&b.path)));
    scan
}

/// What to do with a stick's newest usable bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Nothing usable on the stick.
    Nothing,
    /// The newest bundle is not newer than the running firmware.
    NotNewer(Candidate),
    /// This version was installed before and rolled back; it is offered but
    /// never installed without asking.
    RolledBackBefore(Candidate),
    /// Newer than the running firmware.
    Update(Candidate),
}

pub fn choose(scan: &Scan, running_version: &str, state: &State) -> Choice {
    let Some(best) = scan.usable.first().cloned() else { return Choice::Nothing };
    if version::compare(&best.version, running_version).is_le() {
        return Choice::NotNewer(best);
    }
    if state.rolled_back_before(&best.version) {
        return Choice::RolledBackBefore(best);
    }
    Choice::Update(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::{Builder, SecretKey, Target};

    #[test]
    fn names() {
        for ok in ["quill-x86-ud-2.0.0.qbundle", "A.QBUNDLE", "x.QBundle"] {
            assert!(is_bundle_name(ok), "{ok}");
        }
        for bad in [".hidden.qbundle", "._quill.qbundle", ".qbundle", "quill.qbundle.part", "quill.zip"] {
            assert!(!is_bundle_name(bad), "{bad}");
        }
    }

    fn write_bundle(path: &Path, key: &SecretKey, board: &str, version: &str, rollback: u64) {
        let mut b = Builder::new(board, version);
        b.level = 1;
        b.chunk_size = 64 * 1024;
        b.rollback_index = rollback;
        b.payloads.push((Target::SlotImage, vec![7u8; 100_000]));
        let mut f = std::fs::File::create(path).unwrap();
        b.write("test", &mut f, &[key]).unwrap();
    }

    #[test]
    fn picks_the_newest_bundle_for_this_board_and_says_why_others_were_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed(&[1; 32]);
        let stranger = SecretKey::from_seed(&[2; 32]);
        let ring = Keyring::new([key.public()]);
        std::fs::create_dir(dir.path().join("quill")).unwrap();
        write_bundle(&dir.path().join("quill-x86-ud-1.9.0.qbundle"), &key, "x86-ud", "1.9.0", 0);
        write_bundle(&dir.path().join("quill/quill-x86-ud-1.10.0.qbundle"), &key, "x86-ud", "1.10.0", 0);
        write_bundle(&dir.path().join("quill-rpi4-9.0.0.qbundle"), &key, "rpi4", "9.0.0", 0);
        write_bundle(&dir.path().join("quill-x86-ud-8.0.0.qbundle"), &stranger, "x86-ud", "8.0.0", 0);
        write_bundle(&dir.path().join("old-floor.qbundle"), &key, "x86-ud", "7.0.0", 1);
        write_bundle(&dir.path().join("._quill-x86-ud-9.9.9.qbundle"), &key, "x86-ud", "9.9.9", 0);
        write_bundle(&dir.path().join(".quill-x86-ud-9.9.8.qbundle"), &key, "x86-ud", "9.9.8", 0);
        std::fs::write(dir.path().join("broken.qbundle"), [b"PK\x03\x04".as_slice(), &[0u8; 508]].concat()).unwrap();
        std::fs::create_dir(dir.path().join("deeper")).unwrap();
        write_bundle(&dir.path().join("deeper/quill-x86-ud-9.0.0.qbundle"), &key, "x86-ud", "9.0.0", 0);

        let s = scan(dir.path(), &ring, "x86-ud", 2);
        assert!(s.usable.is_empty(), "{:?}", s.usable);
        // Every bundle above has rollback index 0 or 1, below the floor 2.
        assert_eq!(s.skipped.len(), 6, "{:?}", s.skipped);

        let state = State::default();
        let s = scan(dir.path(), &ring, "x86-ud", 0);
        let versions: Vec<&str> = s.usable.iter().map(|c| c.version.as_str()).collect();
        assert_eq!(versions, ["7.0.0", "1.10.0", "1.9.0"]);
        let why =
            |name: &str| s.skipped.iter().find(|(p, _)| p.ends_with(name)).map(|(_, w)| w.clone()).unwrap_or_default();
        assert!(why("quill-rpi4-9.0.0.qbundle").contains("rpi4"), "{:?}", s.skipped);
        assert!(why("quill-x86-ud-8.0.0.qbundle").contains("unknown key"), "{:?}", s.skipped);
        assert!(why("broken.qbundle").contains("bad magic"), "{:?}", s.skipped);
        assert_eq!(s.skipped.len(), 3, "hidden, ._ and deeper files are not looked at: {:?}", s.skipped);

        assert_eq!(choose(&s, "1.0.0", &state), Choice::Update(s.usable[0].clone()));
        assert_eq!(choose(&s, "7.0.0", &state), Choice::NotNewer(s.usable[0].clone()));
        assert_eq!(choose(&Scan::default(), "1.0.0", &state), Choice::Nothing);
        let mut failed = State::default();
        failed.record(
            crate::state::EventKind::Rollback,
            'a',
            "7.0.0",
            "Update to 7.0.0 failed and was rolled back to 1.0.0",
        );
        assert_eq!(choose(&s, "1.0.0", &failed), Choice::RolledBackBefore(s.usable[0].clone()));
    }

    #[test]
    fn an_offer_is_kept_and_read_back_while_its_file_is_there() {
        let run = tempfile::tempdir().unwrap();
        let stick = tempfile::tempdir().unwrap();
        let path = stick.path().join("quill-x86-ud-2.0.0.qbundle");
        let offer = Offer { device: "sda".into(), path: path.clone(), version: "2.0.0".into(), signer: "ab".into() };
        offer.save(run.path()).unwrap();
        assert_eq!(Offer::load(run.path()), Some(offer));
        assert_eq!(offered_bundle(run.path()), None, "the file is gone");
        std::fs::write(&path, b"x").unwrap();
        assert_eq!(offered_bundle(run.path()), Some(path));
    }

    #[test]
    fn hostile_names_and_links_are_not_read_and_are_shown_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed(&[1; 32]);
        let ring = Keyring::new([key.public()]);
        write_bundle(&outside.path().join("quill-x86-ud-5.0.0.qbundle"), &key, "x86-ud", "5.0.0", 0);
        // `quill` is a link off the stick; a bundle name is a link too.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("quill")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("quill-x86-ud-5.0.0.qbundle"),
            dir.path().join("linked-5.0.0.qbundle"),
        )
        .unwrap();
        // A name that would print a fake console line.
        let fake = "x\nquill: Update available on USB storage sda: Quill 9.9.9, verified\n.qbundle";
        write_bundle(&dir.path().join(fake), &key, "x86-ud", "9.9.9", 0);
        // A name with shell metacharacters is fine, but quoted in the hint.
        let odd = dir.path().join("quill $(reboot).qbundle");
        write_bundle(&odd, &key, "x86-ud", "2.0.0", 0);
        let s = scan(dir.path(), &ring, "x86-ud", 0);
        assert_eq!(s.usable.iter().map(|c| c.version.as_str()).collect::<Vec<_>>(), ["2.0.0"]);
        let reasons: Vec<String> =
            s.skipped.iter().map(|(p, why)| format!("{} {why}", shown(&p.display().to_string()))).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("linked-5.0.0.qbundle a link: not followed")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.ends_with("quill a link, not a folder: not followed")), "{reasons:?}");
        assert!(
            reasons.iter().any(|r| r.contains("x\\nquill: Update") && r.contains("control characters")),
            "{reasons:?}"
        );
        assert!(reasons.iter().all(|r| !r.contains('\n')));
        assert_eq!(shell_word(&odd), format!("'{}'", odd.display()));
        assert_eq!(
            shell_word(Path::new("/run/media/sda/quill-x86-ud-2.0.0.qbundle")),
            "/run/media/sda/quill-x86-ud-2.0.0.qbundle"
        );
        assert_eq!(shell_word(Path::new("/m/it's")), r"'/m/it'\''s'");
    }
}
