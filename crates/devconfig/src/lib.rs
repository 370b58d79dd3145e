//! The device's settings: one TOML file on DATA (`/data/quill/settings.toml`).
//!
//! Writes are crash-safe: the new text goes to a temporary file in the same
//! directory, which is flushed (fsync) and renamed over the old file, then
//! the directory is flushed, so that after a power cut the file holds either
//! the old or the new settings, never a mix. Every file carries a schema
//! version; fields this version does not know (written by a newer firmware,
//! or by an administrator) are kept as they are. A file that cannot be read
//! or parsed is moved aside (`settings.toml.bad-N`) and the device starts as
//! if it were new, so that a damaged file never stops the boot.

pub mod durable;

mod calendar;
mod discovery;
mod display;
mod network;
mod security;
mod update;
mod usb;
mod window;
pub use calendar::{civil, unix_time};
pub use discovery::Discovery;
pub use display::{parse_resolution, Display};
pub use network::{AddressMode, Addressing, Network};
pub use security::Security;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
pub use update::Update;
pub use usb::Usb;
pub use window::Window;

/// The schema this firmware writes.
pub const SCHEMA: u32 = 1;
/// The settings file's name inside the settings directory.
pub const FILE_NAME: &str = "settings.toml";
/// Written by init once it has tried to mount DATA: `mounted` or `missing`.
/// A service started before that (the display's UI) waits for it before it
/// reads the settings.
pub const DATA_STATE: &str = "/run/quill/data-state";

/// Init's DATA verdict: `Some(true)` when DATA is mounted, `Some(false)`
/// when init could not mount it, `None` while init has not got that far.
pub fn data_state() -> Option<bool> {
    fs::read_to_string(DATA_STATE).ok().map(|s| s.lines().next().unwrap_or_default().trim() == "mounted")
}

/// Why init could not mount DATA (its second line), for the screen.
pub fn data_missing_reason() -> Option<String> {
    let text = fs::read_to_string(DATA_STATE).ok()?;
    let mut lines = text.lines();
    (lines.next()?.trim() == "missing").then(|| lines.next().unwrap_or("").trim().to_string()).filter(|r| !r.is_empty())
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write the settings in {dir}: {op}: {source} (is DATA mounted read-write and not full?)")]
    Write { dir: PathBuf, op: &'static str, source: std::io::Error },
    #[error("the settings could not be turned into text: {0}")]
    Encode(#[from] toml::ser::Error),
    #[error("the settings in {path} have schema {found}, newer than this firmware's {SCHEMA}; update the firmware or reset the settings")]
    Newer { path: PathBuf, found: u32 },
}

/// How the device gets its licence (the assistant's licence step).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Licence {
    /// Not chosen yet.
    #[default]
    Unset,
    /// Through the management server / cloud gateway.
    Gateway,
    /// Skipped for now.
    Skip,
}

/// The cloud gateway the device registered with (never the one-time password).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    pub address: String,
    /// SHA-256 of the gateway's certificate, lowercase hex without separators.
    pub fingerprint: String,
    /// Extra fields, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

/// Every setting of the device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub schema: u32,
    /// True once the Setup Assistant has finished; the next boots show the
    /// home screen.
    #[serde(default)]
    pub setup_done: bool,
    /// Language tag of the user interface: "en" or "de".
    #[serde(default = "default_language")]
    pub language: String,
    /// Keyboard layout: "us", "de", "fr", "gb", "ch".
    #[serde(default = "default_keyboard")]
    pub keyboard: String,
    /// IANA time zone, e.g. "Europe/Berlin".
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default)]
    pub licence: Licence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    #[serde(default, skip_serializing_if = "network::is_default_network")]
    pub network: Network,
    #[serde(default, skip_serializing_if = "update::is_default_update")]
    pub update: Update,
    #[serde(default, skip_serializing_if = "discovery::is_default")]
    pub discovery: Discovery,
    #[serde(default, skip_serializing_if = "usb::is_default")]
    pub usb: Usb,
    #[serde(default, skip_serializing_if = "display::is_default")]
    pub display: Display,
    #[serde(default, skip_serializing_if = "security::is_default")]
    pub security: Security,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

fn default_language() -> String {
    "en".into()
}
fn default_keyboard() -> String {
    "us".into()
}
fn default_timezone() -> String {
    "UTC".into()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            schema: SCHEMA,
            setup_done: false,
            language: default_language(),
            keyboard: default_keyboard(),
            timezone: default_timezone(),
            licence: Licence::Unset,
            gateway: None,
            network: Network::default(),
            update: Update::default(),
            discovery: Discovery::default(),
            usb: Usb::default(),
            display: Display::default(),
            security: Security::default(),
            other: toml::Table::new(),
        }
    }
}

impl Settings {
    /// Parses a settings file's text.
    pub fn parse(text: &str) -> Result<Settings, String> {
        let s: Settings = toml::from_str(text).map_err(|e| e.message().to_string())?;
        if s.schema == 0 {
            return Err("schema 0 is not a valid schema".into());
        }
        Ok(s)
    }

    pub fn to_text(&self) -> Result<String, Error> {
        let mut s = self.clone();
        s.schema = s.schema.max(SCHEMA);
        Ok(format!("# Quill device settings (written by the firmware; see README)\n{}", toml::to_string(&s)?))
    }
}

/// The settings in `dir` as they are, without [`Store::load`]'s moving a
/// damaged file aside (for programs that only look); `None` when there is
/// no readable, valid file: callers take the defaults, which never grant
/// more than a good file would.
pub fn peek(dir: &std::path::Path) -> Option<Settings> {
    std::fs::read_to_string(dir.join(FILE_NAME)).ok().and_then(|t| Settings::parse(&t).ok())
}

/// What [`Store::load`] found.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// No settings file: a new device (or one that was reset).
    New,
    /// The file was read.
    Loaded,
    /// The file could not be read or parsed and was moved to `moved_to`.
    MovedAside { reason: String, moved_to: PathBuf },
}

/// The settings directory on DATA.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The settings folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the settings; a damaged file is moved aside and defaults are
    /// returned. A file of a newer schema is an error (it is not moved aside:
    /// an older firmware must not throw away a newer one's settings).
    pub fn load(&self) -> Result<(Settings, Found), Error> {
        let path = self.path();
        let text = match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Settings::default(), Found::New)),
            Err(e) => Err(format!("it cannot be read: {e}")),
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string()),
        };
        let parsed = text.and_then(|t| Settings::parse(&t));
        match parsed {
            Ok(s) if s.schema > SCHEMA => Err(Error::Newer { path, found: s.schema }),
            Ok(s) => Ok((s, Found::Loaded)),
            Err(reason) => {
                let moved_to = self.move_aside(&path).map_err(|source| Error::Write {
                    dir: self.dir.clone(),
                    op: "moving the damaged file aside",
                    source,
                })?;
                Ok((Settings::default(), Found::MovedAside { reason, moved_to }))
            }
        }
    }

    fn move_aside(&self, path: &Path) -> std::io::Result<PathBuf> {
        let mut n = 1;
        let to = loop {
            let to = self.dir.join(format!("{FILE_NAME}.bad-{n}"));
            if !to.exists() {
                break to;
            }
            n += 1;
        };
        fs::rename(path, &to)?;
        sync_dir(&self.dir)?;
        Ok(to)
    }

    /// Writes the settings crash-safe (temporary file, fsync, rename, fsync
    /// of the directory).
    pub fn save(&self, s: &Settings) -> Result<(), Error> {
        let text = s.to_text()?;
        write_atomic(&self.path(), text.as_bytes()).map_err(|e| Error::Write {
            dir: self.dir.clone(),
            op: e.op,
            source: e.source,
        })
    }

    /// Brings the Setup Assistant back on the next start (`quill.reset=1`,
    /// `quill-setup --reset`); the other settings are kept as defaults for it.
    pub fn reset(&self) -> Result<Settings, Error> {
        let (mut s, _) = self.load()?;
        s.setup_done = false;
        self.save(&s)?;
        Ok(s)
    }
}

/// A crash-safe write that failed, and at which step.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct WriteError {
    pub op: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Writes `path` so that a crash leaves the old or the new content: a
/// temporary file beside it (removed when the write fails), fsync, rename,
/// fsync of the directory. Shared by the settings and the updater's state.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), WriteError> {
    write_atomic_mode(path, data, 0o644)
}

/// [`write_atomic`] for secrets: the file (and its temporary) is created
/// with mode 0600, so that the content is never readable by others, not
/// even for a moment.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), WriteError> {
    write_atomic_mode(path, data, 0o600)
}

fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> Result<(), WriteError> {
    use std::os::unix::fs::OpenOptionsExt;
    let at = |op| move |source| WriteError { op, source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(at("creating the folder"))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    // A temporary left by a crash may have another mode: start afresh.
    let _ = fs::remove_file(&tmp);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut f| f.write_all(data).and_then(|_| f.sync_all()));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(at("writing the temporary file")(e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(at("renaming")(e));
    }
    durable::step(durable::Step::Renamed { path, data });
    sync_dir(dir).map_err(at("syncing the folder"))?;
    durable::step(durable::Step::DirSynced { dir });
    Ok(())
}

/// Removes `path` (absent is fine) and syncs its folder, so that the
/// removal survives a power cut before the next file operation starts.
pub fn remove_durably(path: &Path) -> Result<bool, WriteError> {
    let at = |op| move |source| WriteError { op, source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(at("removing")(e)),
    }
    durable::step(durable::Step::Removed { path });
    sync_dir(dir).map_err(at("syncing the folder"))?;
    durable::step(durable::Step::DirSynced { dir });
    Ok(true)
}

/// Where the image keeps the zone table and the zone files.
pub const ZONEINFO: &str = "/usr/share/zoneinfo";

/// Makes `zone` the local time zone of the running system: /etc/localtime
/// links to its zone file (UTC: no link). Returns the zone file, if any.
/// Used by init at boot and by the Setup Assistant when the user chooses.
pub fn set_localtime(zone: &str) -> Result<Option<PathBuf>, String> {
    if zone == "UTC" {
        let _ = fs::remove_file("/etc/localtime");
        return Ok(None);
    }
    let file = Path::new(ZONEINFO).join(zone);
    if zone.split('/').any(|p| p.is_empty() || p == "..") || !file.is_file() {
        return Err(format!("time zone {zone}: {} is not in the image", file.display()));
    }
    let _ = fs::remove_file("/etc/localtime");
    std::os::unix::fs::symlink(&file, "/etc/localtime").map_err(|e| format!("/etc/localtime: {e}"))?;
    Ok(Some(file))
}

/// Sets the system clock to `secs` since 1970 (UTC). Used by the Setup
/// Assistant's date step and by quill-net's time sync, each followed by
/// [`set_hardware_clock`].
pub fn set_system_clock(secs: i64) -> Result<(), String> {
    let ts = libc::timespec { tv_sec: secs as _, tv_nsec: 0 };
    // SAFETY: clock_settime reads a valid timespec.
    if unsafe { libc::clock_settime(libc::CLOCK_REALTIME, &ts) } != 0 {
        return Err(format!("setting the clock: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets the hardware clock (which keeps UTC) to `secs`; `Ok(false)` when
/// there is none.
pub fn set_hardware_clock(secs: i64) -> Result<bool, String> {
    let Ok(rtc) = File::open("/dev/rtc0") else { return Ok(false) };
    // SAFETY: gmtime_r fills a zeroed tm from a valid time_t.
    let utc = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let t = secs as _;
        libc::gmtime_r(&t, &mut tm);
        tm
    };
    const RTC_SET_TIME: libc::c_ulong = 0x4024_700a;
    let fields: [libc::c_int; 9] = [utc.tm_sec, utc.tm_min, utc.tm_hour, utc.tm_mday, utc.tm_mon, utc.tm_year, 0, 0, 0];
    use std::os::fd::AsRawFd;
    // SAFETY: RTC_SET_TIME reads a struct rtc_time (nine ints) from the pointer.
    if unsafe { libc::ioctl(rtc.as_raw_fd(), RTC_SET_TIME as _, fields.as_ptr()) } != 0 {
        return Err(format!("setting the hardware clock: {}", std::io::Error::last_os_error()));
    }
    Ok(true)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_device_has_defaults_and_no_file() {
        let d = tempfile::tempdir().unwrap();
        let (s, found) = Store::new(d.path()).load().unwrap();
        assert_eq!(found, Found::New);
        assert_eq!(s, Settings::default());
        assert!(!s.setup_done);
    }

    #[test]
    fn settings_round_trip_and_leave_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("quill"));
        let s = Settings {
            setup_done: true,
            language: "de".into(),
            keyboard: "ch".into(),
            timezone: "Europe/Zurich".into(),
            licence: Licence::Gateway,
            gateway: Some(Gateway {
                address: "gw.example.com:8443".into(),
                fingerprint: "ab".repeat(32),
                other: Default::default(),
            }),
            ..Settings::default()
        };
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), (s, Found::Loaded));
        let names: Vec<_> = fs::read_dir(d.path().join("quill")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        fs::write(
            store.path(),
            "schema = 1\nlanguage = \"de\"\nscreensaver = 300\n[network]\nproxy = \"http://p:3128\"\n",
        )
        .unwrap();
        let (mut s, _) = store.load().unwrap();
        s.keyboard = "de".into();
        store.save(&s).unwrap();
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("screensaver = 300"), "{text}");
        assert!(text.contains("proxy = \"http://p:3128\""), "{text}");
        assert!(text.contains("keyboard = \"de\""), "{text}");
    }

    #[test]
    fn an_interface_has_its_own_addressing_and_older_tables_still_read() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        // A file of the firmware before the per-interface tables.
        fs::write(
            store.path(),
            "schema = 1\n[network]\nmode = \"static\"\naddress = \"10.0.0.5/24\"\nmtu = 1400\n\
             [network.interfaces.eth1]\nmode = \"dhcp\"\nvlan = 7\n",
        )
        .unwrap();
        let (mut s, _) = store.load().unwrap();
        assert_eq!(s.network.addressing("eth0").address, "10.0.0.5/24");
        assert_eq!(s.network.addressing("eth1").mode, AddressMode::Dhcp);
        s.network.interfaces.insert(
            "eth2".into(),
            Addressing { mode: AddressMode::Static, address: "192.168.7.2/24".into(), ..Addressing::default() },
        );
        store.save(&s).unwrap();
        let text = fs::read_to_string(store.path()).unwrap();
        for kept in ["mtu = 1400", "vlan = 7", "[network.interfaces.eth2]", "address = \"192.168.7.2/24\""] {
            assert!(text.contains(kept), "{kept}: {text}");
        }
        assert_eq!(store.load().unwrap().0, s);
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_the_device_starts_fresh() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        for (n, bad) in
            [b"schema = 1\nlanguage = ".as_slice(), b"\xff\xfe\x00garbage", b"language = \"en\"\n", b"schema = 0\n"]
                .iter()
                .enumerate()
        {
            fs::write(store.path(), bad).unwrap();
            let (s, found) = store.load().unwrap();
            assert_eq!(s, Settings::default());
            match found {
                Found::MovedAside { moved_to, reason } => {
                    assert_eq!(moved_to, d.path().join(format!("settings.toml.bad-{}", n + 1)), "{reason}");
                    assert_eq!(fs::read(&moved_to).unwrap(), *bad);
                }
                other => panic!("{other:?}"),
            }
            assert!(!store.path().exists());
        }
    }

    #[test]
    fn a_newer_schema_is_not_thrown_away() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        fs::write(store.path(), "schema = 7\n").unwrap();
        let e = store.load().unwrap_err();
        assert!(e.to_string().contains("schema 7"), "{e}");
        assert!(store.path().exists());
    }

    #[test]
    fn a_leftover_temporary_file_from_a_crash_is_ignored_and_replaced() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let old = Settings { setup_done: true, ..Settings::default() };
        store.save(&old).unwrap();
        // A crash in the middle of the next write leaves a torn temporary file.
        fs::write(d.path().join(".settings.toml.tmp"), "schema = 1\nsetup_d").unwrap();
        assert_eq!(store.load().unwrap().0, old);
        let new = Settings { language: "de".into(), ..old };
        store.save(&new).unwrap();
        assert_eq!(store.load().unwrap().0, new);
        assert!(!d.path().join(".settings.toml.tmp").exists());
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let old = Settings { setup_done: true, ..Settings::default() };
        store.save(&old).unwrap();
        // The temporary file's name is taken by a directory: the write fails.
        fs::create_dir(d.path().join(".settings.toml.tmp")).unwrap();
        let e = store.save(&Settings::default()).unwrap_err();
        assert!(e.to_string().contains("cannot write the settings"), "{e}");
        assert_eq!(store.load().unwrap().0, old);
    }

    #[test]
    fn reset_brings_the_assistant_back_and_keeps_the_rest() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store.save(&Settings { setup_done: true, keyboard: "fr".into(), ..Settings::default() }).unwrap();
        store.reset().unwrap();
        let (s, _) = store.load().unwrap();
        assert!(!s.setup_done);
        assert_eq!(s.keyboard, "fr");
    }
}
