//! The Raspberry Pi's `autoboot.txt` (on partition 1), as the EEPROM boot
//! loader reads it with `tryboot_a_b=1`: the `[all]` section's
//! `boot_partition` boots normally; after `reboot "0 tryboot"` the loader
//! boots the `[tryboot]` section's partition once, and any later reset
//! boots `[all]` again until the OS rewrites the file.

use abslot::Slot;

/// What went wrong with autoboot.txt or the pending-try record.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{op}: {source}")]
    Io { op: String, source: std::io::Error },
}

impl Error {
    fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let op = op.into();
        move |source| Error::Io { op, source }
    }
}

/// The name of the file on partition 1.
pub const AUTOBOOT: &str = "autoboot.txt";
/// The partition numbers of slot A and B on a Quill Pi disk.
pub const SLOT_PARTITIONS: [u32; 2] = [2, 3];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Autoboot {
    /// Boots on every normal start: the proven slot.
    pub boot_partition: u32,
    /// Boots once after `reboot "0 tryboot"`: the slot being tried.
    pub tryboot_partition: u32,
}

impl Autoboot {
    /// Slot A permanent, slot B tried (the factory state).
    pub fn factory() -> Autoboot {
        Autoboot { boot_partition: 2, tryboot_partition: 3 }
    }

    /// Makes `partition` the permanent one; the other slot becomes the tried one.
    pub fn with_permanent(partition: u32) -> Autoboot {
        let other = if partition == SLOT_PARTITIONS[0] { SLOT_PARTITIONS[1] } else { SLOT_PARTITIONS[0] };
        Autoboot { boot_partition: partition, tryboot_partition: other }
    }

    pub fn render(&self) -> String {
        format!(
            "# Quill A/B boot: written by fwupdate (temporary file, fsync, rename).\n\
             [all]\ntryboot_a_b=1\nboot_partition={}\n[tryboot]\nboot_partition={}\n",
            self.boot_partition, self.tryboot_partition
        )
    }

    /// Reads the file the way the loader does: `[all]` (and settings before
    /// any section) for the normal boot, `[tryboot]` for the tried one.
    /// A file without `tryboot_a_b=1` or without both partitions, or
    /// naming a partition that is not a slot, is refused: the updater
    /// never writes such a file and will not act on one.
    pub fn parse(text: &str) -> Result<Autoboot, Error> {
        let mut section = "all".to_string();
        let (mut ab, mut normal, mut tried) = (false, None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_ascii_lowercase();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else { continue };
            match (section.as_str(), key.trim()) {
                ("all", "tryboot_a_b") => ab = value.trim() == "1",
                ("all", "boot_partition") => normal = value.trim().parse::<u32>().ok(),
                ("tryboot", "boot_partition") => tried = value.trim().parse::<u32>().ok(),
                _ => {}
            }
        }
        let bad = |why: &str| Err(Error::Invalid(format!("{AUTOBOOT}: {why}")));
        match (ab, normal, tried) {
            (false, ..) => bad("tryboot_a_b=1 is missing from [all]"),
            (_, None, _) => bad("boot_partition is missing from [all]"),
            (_, _, None) => bad("boot_partition is missing from [tryboot]"),
            (_, Some(n), Some(t)) if !SLOT_PARTITIONS.contains(&n) || !SLOT_PARTITIONS.contains(&t) || n == t => {
                bad(&format!("boot partitions {n} and {t} are not slot A (2) and slot B (3)"))
            }
            (_, Some(n), Some(t)) => Ok(Autoboot { boot_partition: n, tryboot_partition: t }),
        }
    }
}

/// The files of partition 1 (the Pi's boot partition), as the backend
/// needs them: on the device a folder where it is mounted ([`DirFiles`]),
/// in the tests a model that loses what was not synced at a power cut.
pub trait BootFiles {
    fn read(&mut self, name: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// Creates or truncates `name` and writes `data` (not yet durable).
    fn write(&mut self, name: &str, data: &[u8]) -> std::io::Result<()>;
    /// Makes the file's contents durable (fsync).
    fn sync_file(&mut self, name: &str) -> std::io::Result<()>;
    /// Replaces `to` with `from` (rename).
    fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()>;
    /// Makes renames durable (fsync of the folder).
    fn sync_dir(&mut self) -> std::io::Result<()>;
}

/// Partition 1 mounted at a folder (vfat).
pub struct DirFiles(pub std::path::PathBuf);

impl BootFiles for DirFiles {
    fn read(&mut self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.0.join(name)) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn write(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        std::fs::write(self.0.join(name), data)
    }
    fn sync_file(&mut self, name: &str) -> std::io::Result<()> {
        std::fs::File::open(self.0.join(name))?.sync_all()
    }
    fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()> {
        std::fs::rename(self.0.join(from), self.0.join(to))
    }
    fn sync_dir(&mut self) -> std::io::Result<()> {
        std::fs::File::open(&self.0)?.sync_all()
    }
}

/// The temporary file autoboot.txt is written to before the rename (8.3).
pub const AUTOBOOT_TMP: &str = "autoboot.new";

pub fn read_autoboot(files: &mut dyn BootFiles) -> Result<Autoboot, Error> {
    let data = files
        .read(AUTOBOOT)
        .map_err(Error::io(format!("reading {AUTOBOOT}")))?
        .ok_or_else(|| Error::Invalid(format!("{AUTOBOOT} is missing from the boot partition")))?;
    Autoboot::parse(&String::from_utf8_lossy(&data))
}

/// Writes autoboot.txt so that a power cut at any point leaves either the
/// old file or the new one: temporary file, fsync, rename over the old
/// one, fsync of the folder, then read back and compared.
pub fn write_autoboot(files: &mut dyn BootFiles, ab: Autoboot) -> Result<(), Error> {
    let text = ab.render();
    files.write(AUTOBOOT_TMP, text.as_bytes()).map_err(Error::io(format!("writing {AUTOBOOT_TMP}")))?;
    files.sync_file(AUTOBOOT_TMP).map_err(Error::io(format!("syncing {AUTOBOOT_TMP}")))?;
    files.rename(AUTOBOOT_TMP, AUTOBOOT).map_err(Error::io(format!("renaming {AUTOBOOT_TMP} to {AUTOBOOT}")))?;
    files.sync_dir().map_err(Error::io("syncing the boot partition"))?;
    let back = read_autoboot(files)?;
    if back != ab {
        return Err(Error::Invalid(format!("{AUTOBOOT} reads back as {back:?}, not the {ab:?} just written")));
    }
    Ok(())
}

/// How far an update of the other slot has come; kept on DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Written and read back; it is tried at the next `reboot`.
    Installed,
    /// The OS asked for `reboot "0 tryboot"`.
    Rebooting,
    /// The tried slot came up (its boot-check ran).
    Booted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub slot: Slot,
    pub version: String,
    pub stage: Stage,
}

impl Pending {
    pub const FILE: &'static str = "tryboot-pending";

    pub fn render(&self) -> String {
        let stage = match self.stage {
            Stage::Installed => "installed",
            Stage::Rebooting => "rebooting",
            Stage::Booted => "booted",
        };
        format!("slot={}\nversion={}\nstage={stage}\n", self.slot.letter(), self.version)
    }

    pub fn parse(text: &str) -> Option<Pending> {
        let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')));
        let stage = match get("stage")? {
            "installed" => Stage::Installed,
            "rebooting" => Stage::Rebooting,
            "booted" => Stage::Booted,
            _ => return None,
        };
        Some(Pending { slot: Slot::from_letter(get("slot")?)?, version: get("version")?.to_string(), stage })
    }

    pub fn load(state_dir: &std::path::Path) -> Option<Pending> {
        Pending::parse(&std::fs::read_to_string(state_dir.join(Self::FILE)).ok()?)
    }

    pub fn save(p: Option<&Pending>, state_dir: &std::path::Path) -> Result<(), Error> {
        let path = state_dir.join(Self::FILE);
        match p {
            Some(p) => devconfig::write_atomic(&path, p.render().as_bytes())
                .map_err(|e| Error::Invalid(format!("{}: {e}", path.display()))),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::Io { op: format!("removing {}", path.display()), source: e })
                }
                _ => Ok(()),
            },
        }
    }
}

/// The partition number of a slot.
pub fn partition_of(slot: Slot) -> u32 {
    SLOT_PARTITIONS[slot.index()]
}

/// What this boot is, as boot-check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootKind {
    /// The permanent slot, no update under way.
    Normal,
    /// The tried slot, booted once by the firmware; the health check decides.
    Trying { version: String },
    /// The permanent slot again after the other slot was tried and not made
    /// permanent: the update failed and is rolled back.
    RolledBack { slot: Slot, version: String },
    /// An update waits in the other slot and was never tried (the device
    /// was restarted without `reboot`, or the kernel ignored the tryboot flag).
    NotTried { slot: Slot, version: String },
}

/// Classifies a boot from the slot that runs, autoboot.txt and the pending
/// record; returns the record as it must be saved now.
pub fn on_boot(booted: Slot, ab: Autoboot, pending: Option<Pending>) -> (BootKind, Option<Pending>) {
    let here = partition_of(booted);
    if here != ab.boot_partition {
        // The firmware started the [tryboot] partition: this is the try.
        let version = pending.as_ref().filter(|p| p.slot == booted).map(|p| p.version.clone()).unwrap_or_default();
        let p = Pending { slot: booted, version: version.clone(), stage: Stage::Booted };
        return (BootKind::Trying { version }, Some(p));
    }
    match pending {
        // Made permanent, but the record was not cleared before the reset.
        Some(p) if p.slot == booted => (BootKind::Normal, None),
        Some(p) if p.stage == Stage::Installed => {
            (BootKind::NotTried { slot: p.slot, version: p.version.clone() }, Some(p))
        }
        Some(p) => (BootKind::RolledBack { slot: p.slot, version: p.version }, None),
        None => (BootKind::Normal, None),
    }
}

/// The argument of the reboot system call: `0 tryboot` when an installed
/// update waits in the other slot (the record moves to Rebooting), else none.
pub fn reboot_arg(booted: Slot, ab: Autoboot, pending: Option<&Pending>) -> Option<(&'static str, Pending)> {
    let p = pending?;
    let ready = p.slot != booted
        && partition_of(booted) == ab.boot_partition
        && ab.tryboot_partition == partition_of(p.slot)
        && matches!(p.stage, Stage::Installed | Stage::Rebooting);
    ready.then(|| ("0 tryboot", Pending { stage: Stage::Rebooting, ..p.clone() }))
}

/// After a healthy boot of the tried slot: makes it permanent. Returns
/// whether autoboot.txt changed.
pub fn mark_good(files: &mut dyn BootFiles, booted: Slot) -> Result<bool, Error> {
    let ab = read_autoboot(files)?;
    if ab.boot_partition == partition_of(booted) {
        return Ok(false);
    }
    write_autoboot(files, Autoboot::with_permanent(partition_of(booted)))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        for p in SLOT_PARTITIONS {
            let a = Autoboot::with_permanent(p);
            assert_eq!(Autoboot::parse(&a.render()).unwrap(), a);
        }
        let text = Autoboot::factory().render();
        assert!(text.contains("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"), "{text}");
    }

    #[test]
    fn reads_settings_before_any_section_as_all() {
        let a = Autoboot::parse("tryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n").unwrap();
        assert_eq!(a, Autoboot { boot_partition: 3, tryboot_partition: 2 });
    }

    #[test]
    fn refuses_files_it_did_not_write() {
        for (text, why) in [
            ("", "tryboot_a_b=1"),
            ("[all]\ntryboot_a_b=1\n[tryboot]\nboot_partition=3\n", "missing from [all]"),
            ("[all]\ntryboot_a_b=1\nboot_partition=2\n", "missing from [tryboot]"),
            ("[all]\ntryboot_a_b=1\nboot_partition=1\n[tryboot]\nboot_partition=3\n", "not slot A"),
            ("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n", "not slot A"),
            // A torn write: the file ends in the middle.
            ("# Quill A/B boot\n[all]\ntryboot_a_b=1\nboot_parti", "missing from [all]"),
        ] {
            let e = Autoboot::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    // ---- A model of the Pi firmware and its FAT boot partition ----------

    /// The boot partition as a power cut leaves it: what was synced stays
    /// (file contents after fsync, renames after the folder's fsync), the
    /// rest is lost. `cut_at` counts the write operations; the one with that
    /// number fails and everything after it fails too (the power is gone).
    #[derive(Default)]
    struct ModelFs {
        durable: std::collections::BTreeMap<String, Vec<u8>>,
        live: std::collections::BTreeMap<String, Vec<u8>>,
        ops: usize,
        cut_at: Option<usize>,
        dead: bool,
    }

    impl ModelFs {
        fn op(&mut self) -> std::io::Result<()> {
            self.ops += 1;
            if self.dead || self.cut_at == Some(self.ops) {
                self.dead = true;
                return Err(std::io::Error::other("power cut"));
            }
            Ok(())
        }
        fn power_cut(&mut self) {
            self.live = self.durable.clone();
            self.dead = false;
            self.cut_at = None;
        }
    }

    impl BootFiles for ModelFs {
        fn read(&mut self, name: &str) -> std::io::Result<Option<Vec<u8>>> {
            if self.dead {
                return Err(std::io::Error::other("power cut"));
            }
            Ok(self.live.get(name).cloned())
        }
        fn write(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
            self.op()?;
            // A torn write: half of the data reaches the medium on its own.
            self.durable.insert(name.into(), data[..data.len() / 2].to_vec());
            self.live.insert(name.into(), data.to_vec());
            Ok(())
        }
        fn sync_file(&mut self, name: &str) -> std::io::Result<()> {
            self.op()?;
            if let Some(d) = self.live.get(name) {
                self.durable.insert(name.into(), d.clone());
            }
            Ok(())
        }
        fn rename(&mut self, from: &str, to: &str) -> std::io::Result<()> {
            self.op()?;
            let d = self.live.remove(from).ok_or_else(|| std::io::Error::other("no such file"))?;
            self.live.insert(to.into(), d);
            Ok(())
        }
        fn sync_dir(&mut self) -> std::io::Result<()> {
            self.op()?;
            self.durable = self.live.clone();
            Ok(())
        }
    }

    /// The documented firmware behaviour: with `tryboot_a_b=1` it boots the
    /// `[all]` partition, or once the `[tryboot]` one when the OS rebooted
    /// with the tryboot flag; the flag lasts one boot and a power cut
    /// clears it. Without a valid autoboot.txt the device does not boot.
    struct Firmware {
        fs: ModelFs,
        tryboot_flag: bool,
    }

    impl Firmware {
        fn new() -> Firmware {
            let mut fs = ModelFs::default();
            fs.durable.insert(AUTOBOOT.into(), Autoboot::factory().render().into_bytes());
            fs.live = fs.durable.clone();
            Firmware { fs, tryboot_flag: false }
        }
        fn reboot(&mut self, arg: Option<&str>) {
            self.tryboot_flag = arg == Some("0 tryboot");
            self.fs.power_cut(); // a reboot keeps only what reached the medium
        }
        fn power_cut(&mut self) {
            self.tryboot_flag = false;
            self.fs.power_cut();
        }
        /// The slot it starts, or why the device is bricked.
        fn boot(&mut self) -> Result<Slot, String> {
            let text = self.fs.durable.get(AUTOBOOT).ok_or("BRICKED: autoboot.txt is missing")?;
            let ab = Autoboot::parse(&String::from_utf8_lossy(text)).map_err(|e| format!("BRICKED: {e}"))?;
            let part = if std::mem::take(&mut self.tryboot_flag) { ab.tryboot_partition } else { ab.boot_partition };
            Ok(if part == 2 { Slot::A } else { Slot::B })
        }
    }

    /// The device side of one boot: boot-check, then (if `healthy`) the
    /// health check's mark-good. Returns what boot-check said.
    fn os_boot(fw: &mut Firmware, pending: &mut Option<Pending>, healthy: bool) -> Result<(Slot, BootKind), String> {
        let booted = fw.boot()?;
        let ab = read_autoboot(&mut fw.fs).map_err(|e| e.to_string())?;
        let (kind, p) = on_boot(booted, ab, pending.take());
        *pending = p;
        if healthy {
            if let Err(e) = mark_good(&mut fw.fs, booted) {
                return Err(format!("mark-good: {e}"));
            }
            if matches!(kind, BootKind::Trying { .. }) {
                *pending = None;
            }
        }
        Ok((booted, kind))
    }

    fn installed(slot: Slot) -> Option<Pending> {
        Some(Pending { slot, version: "2.0.0".into(), stage: Stage::Installed })
    }

    /// The reboot init does: with `0 tryboot` when an update waits.
    fn os_reboot(fw: &mut Firmware, pending: &mut Option<Pending>, booted: Slot) {
        let ab = read_autoboot(&mut fw.fs).unwrap();
        match reboot_arg(booted, ab, pending.as_ref()) {
            Some((arg, p)) => {
                *pending = Some(p);
                fw.reboot(Some(arg));
            }
            None => fw.reboot(None),
        }
    }

    #[test]
    fn a_healthy_update_is_tried_once_then_made_permanent() {
        let mut fw = Firmware::new();
        let mut pending = None;
        assert_eq!(os_boot(&mut fw, &mut pending, true).unwrap(), (Slot::A, BootKind::Normal));
        pending = installed(Slot::B);
        os_reboot(&mut fw, &mut pending, Slot::A);
        let (slot, kind) = os_boot(&mut fw, &mut pending, true).unwrap();
        assert_eq!((slot, kind), (Slot::B, BootKind::Trying { version: "2.0.0".into() }));
        assert_eq!(pending, None);
        assert_eq!(read_autoboot(&mut fw.fs).unwrap(), Autoboot::with_permanent(3));
        // From now on B boots without the flag, also after a power cut.
        fw.power_cut();
        assert_eq!(os_boot(&mut fw, &mut pending, true).unwrap(), (Slot::B, BootKind::Normal));
        // And the next update goes to A the same way.
        pending = installed(Slot::A);
        os_reboot(&mut fw, &mut pending, Slot::B);
        assert_eq!(os_boot(&mut fw, &mut pending, true).unwrap().0, Slot::A);
        assert_eq!(read_autoboot(&mut fw.fs).unwrap(), Autoboot::with_permanent(2));
    }

    #[test]
    fn an_update_that_is_not_made_permanent_rolls_back_and_is_reported() {
        let mut fw = Firmware::new();
        let mut pending = installed(Slot::B);
        os_reboot(&mut fw, &mut pending, Slot::A);
        // B boots but fails its health check: no mark-good, init reboots.
        let (slot, _) = os_boot(&mut fw, &mut pending, false).unwrap();
        assert_eq!(slot, Slot::B);
        os_reboot(&mut fw, &mut pending, Slot::B);
        let (slot, kind) = os_boot(&mut fw, &mut pending, true).unwrap();
        assert_eq!((slot, kind), (Slot::A, BootKind::RolledBack { slot: Slot::B, version: "2.0.0".into() }));
        assert_eq!(pending, None, "the failed try is not tried again");
        os_reboot(&mut fw, &mut pending, Slot::A);
        assert_eq!(os_boot(&mut fw, &mut pending, true).unwrap(), (Slot::A, BootKind::Normal));
    }

    #[test]
    fn a_restart_without_the_tryboot_flag_leaves_the_update_waiting() {
        let mut fw = Firmware::new();
        let mut pending = installed(Slot::B);
        fw.power_cut(); // before the reboot
        let (slot, kind) = os_boot(&mut fw, &mut pending, true).unwrap();
        assert_eq!((slot, kind), (Slot::A, BootKind::NotTried { slot: Slot::B, version: "2.0.0".into() }));
        os_reboot(&mut fw, &mut pending, Slot::A);
        assert_eq!(os_boot(&mut fw, &mut pending, true).unwrap().0, Slot::B);
    }

    #[test]
    fn a_reset_during_the_try_boots_the_old_slot() {
        let mut fw = Firmware::new();
        let mut pending = installed(Slot::B);
        os_reboot(&mut fw, &mut pending, Slot::A);
        assert_eq!(fw.boot().unwrap(), Slot::B);
        fw.power_cut(); // B hangs or the power goes before the health check
        let (slot, kind) = os_boot(&mut fw, &mut pending, true).unwrap();
        assert_eq!((slot, kind), (Slot::A, BootKind::RolledBack { slot: Slot::B, version: "2.0.0".into() }));
    }

    /// A power cut at every write of making the tried slot permanent: the
    /// device always boots, either the old slot (and reports the rollback)
    /// or the new one for good; never half of each.
    #[test]
    fn a_power_cut_at_every_step_of_making_it_permanent_never_bricks() {
        for cut in 1..=6 {
            let mut fw = Firmware::new();
            let mut pending = installed(Slot::B);
            os_reboot(&mut fw, &mut pending, Slot::A);
            fw.fs.cut_at = Some(fw.fs.ops + cut);
            let r = os_boot(&mut fw, &mut pending, true);
            let finished = r.is_ok();
            fw.power_cut();
            let (slot, kind) = os_boot(&mut fw, &mut pending, true)
                .unwrap_or_else(|e| panic!("cut at write {cut}: the device does not boot: {e}"));
            let ab = read_autoboot(&mut fw.fs).unwrap();
            match slot {
                Slot::B => {
                    assert_eq!(ab, Autoboot::with_permanent(3), "cut {cut}");
                    assert_eq!(kind, BootKind::Normal, "cut {cut}");
                }
                Slot::A => {
                    assert!(!finished, "cut {cut}: mark-good succeeded but A booted");
                    assert_eq!(ab, Autoboot::factory(), "cut {cut}");
                    assert_eq!(kind, BootKind::RolledBack { slot: Slot::B, version: "2.0.0".into() }, "cut {cut}");
                }
            }
            // Whatever happened, the next boots are stable.
            os_reboot(&mut fw, &mut pending, slot);
            assert_eq!(os_boot(&mut fw, &mut pending, true).unwrap().0, slot, "cut {cut}");
        }
    }

    #[test]
    fn the_pending_record_reads_back() {
        for stage in [Stage::Installed, Stage::Rebooting, Stage::Booted] {
            let p = Pending { slot: Slot::B, version: "2.1.0".into(), stage };
            assert_eq!(Pending::parse(&p.render()), Some(p));
        }
        assert_eq!(Pending::parse("slot=b\nversion=1\nstage=what\n"), None);
        let dir = tempfile::tempdir().unwrap();
        let p = installed(Slot::A).unwrap();
        Pending::save(Some(&p), dir.path()).unwrap();
        assert_eq!(Pending::load(dir.path()), Some(p));
        Pending::save(None, dir.path()).unwrap();
        assert_eq!(Pending::load(dir.path()), None);
        Pending::save(None, dir.path()).unwrap();
    }

    #[test]
    fn dir_files_write_autoboot_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = DirFiles(dir.path().to_path_buf());
        write_autoboot(&mut f, Autoboot::with_permanent(3)).unwrap();
        assert_eq!(read_autoboot(&mut f).unwrap(), Autoboot::with_permanent(3));
        assert!(!dir.path().join(AUTOBOOT_TMP).exists());
        assert!(mark_good(&mut f, Slot::A).unwrap());
        assert!(!mark_good(&mut f, Slot::A).unwrap());
    }
}
