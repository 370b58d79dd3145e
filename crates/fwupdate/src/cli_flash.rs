//! `fwupdate flash IMAGE DEVICE` (a host without the source tree, or a
//! running Quill) and `fwupdate install-to-disk [DEVICE]` (a running UD
//! Pocket onto the device's internal disk). The work is the `flash` crate's;
//! this file asks, shows progress and explains failures.

use crate::ask::{self, confirm};
use crate::device::DeviceArgs;
use crate::report::{Format, Reporter};
use crate::{Failure, EXIT_FAILED};
use flash::{Stage, Sys, Target};
use progress::{Op, Progress, Stage as P};
use std::path::{Path, PathBuf};

/// The empty DATA filesystem shipped in the image for new installs.
pub const FRESH_DATA: &str = "/usr/share/quill/data.ext4.zst";

/// The disks that hold the running system: the host's root, and on Quill
/// the boot disk (`boot` when the caller resolved it already).
fn protected(sys: &Sys, boot: Option<&str>) -> Vec<String> {
    let mut v = flash::root_disks(sys);
    let boot = boot.map(str::to_string).or_else(|| {
        let args = DeviceArgs::default();
        let dev = args.boot_args().is_quill().then(|| args.resolve().ok()).flatten()?;
        dev.disk.file_name().map(|n| n.to_string_lossy().into_owned())
    });
    v.extend(boot);
    v
}

/// Asks before a disk is erased; without a terminal, `--yes` is required.
fn confirm_erase(device: &Path, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    match confirm(&format!("Everything on {} will be erased. Continue?", device.display()), ask::Default::No) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::error("cancelled; nothing was written")),
        Err(ask::NoTerminal) => {
            Err(Failure::refused("not asking without a terminal: add --yes to confirm. Nothing was written."))
        }
    }
}

/// A flash stage as a progress event: writing, then verifying, share the bar.
fn progress_event(op: Op, s: Stage) -> Progress {
    match s {
        Stage::Wiping => Progress::new(op, P::Wiping).message("wiping the old partition tables"),
        Stage::Syncing => Progress::new(op, P::Syncing).fraction(0.5).message("syncing"),
        Stage::Table => Progress::new(op, P::Table).fraction(1.0).message("writing the partition table"),
        Stage::Writing { done, total, elapsed } => {
            let f = progress::overall(P::Writing, done as f32 / total.max(1) as f32, 0.5);
            Progress::new(op, P::Writing)
                .bytes(done, total)
                .rate(done as f64 / elapsed.as_secs_f64().max(0.001))
                .fraction(f)
        }
        Stage::Verifying { done, total } => {
            let f = progress::overall(P::Verifying, done as f32 / total.max(1) as f32, 0.5);
            Progress::new(op, P::Verifying).bytes(done, total).fraction(f)
        }
    }
}

fn summary(r: &flash::Report, target: &Path) -> String {
    let mib = |b: u64| b as f64 / 1048576.0;
    format!(
        "{} now holds Quill: {:.1} MiB written ({:.1} MiB of it empty, not written) and verified in {:.1} s \
         (write {:.1} s, {:.1} MiB/s; verify {:.1} s); DATA {:.0} MiB -> {:.0} MiB (its filesystem grows at first boot)",
        target.display(),
        mib(r.bytes),
        mib(r.zero_bytes),
        r.seconds,
        r.write_seconds,
        mib(r.bytes) / r.write_seconds.max(0.001),
        r.verify_seconds,
        mib(r.data_grown.0),
        mib(r.data_grown.1),
    )
}

/// Runs `f` with a reporter; a failure also ends the JSON stream.
fn reported<T>(op: Op, format: Format, f: impl FnOnce(&mut Reporter) -> Result<T, Failure>) -> Result<T, Failure> {
    let mut report = Reporter::new(op, format);
    let result = f(&mut report);
    if let Err(e) = &result {
        report.failed(e);
    }
    result
}

/// `fwupdate flash IMAGE DEVICE`.
pub fn flash_image(
    image: &Path,
    device: &Path,
    yes: bool,
    force: bool,
    keep_guids: bool,
    format: Format,
) -> Result<(), Failure> {
    reported(Op::Flash, format, |report| {
        let sys = Sys::default();
        let (target, plan) = flash::prepare_image(image, device, &sys, &protected(&sys, None), force, !keep_guids)?;
        eprintln!("fwupdate: target {}", target.describe());
        confirm_erase(device, yes)?;
        let mut dev = target.open()?;
        let r = flash::write_disk(&mut dev, plan, &mut |s| report.event(progress_event(Op::Flash, s)))?;
        drop(dev);
        // A disk of this machine (not a stick for another): the firmware
        // gets a "Quill" entry for it.
        let entry = if !target.removable && matches!(target.kind, flash::Kind::Disk(_)) {
            format!(
                " {}",
                crate::boot_entry::register_new_disk(device, Path::new("/").join(crate::cli_device::VARS).as_path())
            )
        } else {
            String::new()
        };
        report.done(&format!("{}{entry}", summary(&r, device)));
        Ok(())
    })
}

/// Whether install-to-disk carries the stick's settings over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SettingsChoice {
    Copy,
    Fresh,
}

/// Asks on a terminal whether to copy the settings; `--yes` or no
/// terminal means copy.
fn settings_choice(given: Option<SettingsChoice>, yes: bool) -> SettingsChoice {
    if let Some(c) = given {
        return c;
    }
    if yes {
        return SettingsChoice::Copy;
    }
    let q = "Copy the settings made on this stick (language, keyboard, time zone, gateway) to the new disk?";
    match confirm(q, ask::Default::Yes) {
        Ok(false) => SettingsChoice::Fresh,
        Ok(true) | Err(ask::NoTerminal) => SettingsChoice::Copy,
    }
}

/// The options of `fwupdate install-to-disk`.
pub struct InstallToDisk {
    pub yes: bool,
    pub fresh_data: PathBuf,
    pub settings: Option<SettingsChoice>,
    pub json: bool,
    pub progress: Format,
}

/// `fwupdate install-to-disk [DEVICE]`.
pub fn install_to_disk(args: &DeviceArgs, device: Option<&Path>, o: &InstallToDisk) -> Result<(), Failure> {
    let dev = args.resolve()?;
    let sys = Sys::default();
    let boot = dev.disk.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if o.json {
        if device.is_some() {
            return Err(Failure::refused("--json lists the disks; it takes no DEVICE. Nothing was written."));
        }
        let list = flash::disks::list(&sys, &dev.disk);
        println!("{}", serde_json::to_string_pretty(&list).map_err(Failure::error)?);
        return Ok(());
    }
    let Some(device) = device else {
        let list = flash::disks::candidates(&sys, &boot);
        println!("fwupdate: running from {} (slot {}); internal disks:", dev.disk.display(), dev.booted);
        for (t, why) in &list {
            match why {
                None => println!("  {}", t.describe()),
                Some(w) => println!("  ({}: {w})", t.describe()),
            }
        }
        if list.iter().all(|(_, w)| w.is_some()) {
            return Err(Failure::error("no internal disk to install onto"));
        }
        println!("Install with: fwupdate install-to-disk /dev/NAME");
        return Ok(());
    };
    reported(Op::InstallToDisk, o.progress, |report| {
        let target = Target::inspect(device, &sys, &protected(&sys, Some(&boot)))?;
        let fresh = std::fs::read(&o.fresh_data).map_err(|e| format!("reading {}: {e}", o.fresh_data.display()))?;
        let fresh_len = zstd::zstd_safe::get_frame_content_size(&fresh)
            .ok()
            .flatten()
            .ok_or_else(|| format!("{}: no content size in its zstd frame", o.fresh_data.display()))?;
        let decoder = zstd::stream::read::Decoder::new(&fresh[..]).map_err(Failure::error)?;
        let reader: Box<dyn flash::Source> = Box::new(flash::Stream(decoder));
        let mut plan = flash::plan_install(&dev.disk, dev.booted.partition_name(), reader, fresh_len, target.size)?;
        // The new disk keeps this device's trust evidence: its record is
        // written with the disk (before the table), its state onto DATA.
        let (evidence, problems) = {
            let (mut up, _) = crate::cli_device::open(args)?;
            up.evidence_for_new_disk()
        };
        for p in &problems {
            eprintln!("fwupdate: warning: the trust evidence: {p}");
        }
        let (at, record) = trust::record::new_disk_image(&evidence)
            .map_err(|e| Failure::refused(format!("{e}. Nothing was written.")))?;
        plan.gap.push((at, record));
        let mut new_state = updater::state::State::fresh();
        new_state.set_evidence(&trust::Evidence { seq: 1, ..evidence });
        if let Some(why) = target.refusal(0, true) {
            return Err(Failure::refused(format!("{why}. Nothing was written.")));
        }
        eprintln!(
            "fwupdate: installing Quill {} (slot {} of {}) onto {}",
            dev.running_version,
            dev.booted,
            dev.disk.display(),
            target.describe()
        );
        if let Some(held) = existing_table(&target.path) {
            eprintln!("fwupdate: {} holds partitions now: {held}", device.display());
        }
        confirm_erase(device, o.yes)?;
        let choice = settings_choice(o.settings, o.yes);
        // Read before anything is written, so a DATA problem shows up first.
        let settings_file = args.data.join(devconfig::FILE_NAME);
        let saved = match std::fs::read(&settings_file) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if choice == SettingsChoice::Copy => {
                return Err(Failure::refused(format!(
                    "cannot read the settings to copy, {}: {e}; use --settings fresh to install without them. \
                     Nothing was written.",
                    settings_file.display()
                )))
            }
            Err(_) => None,
        };
        // The administrator's password goes along with the settings: a
        // copied device must not open up on its new disk.
        let password_file = args.data.join(adminlock::FILE);
        let password = match std::fs::read(&password_file) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) if choice == SettingsChoice::Copy => {
                return Err(Failure::refused(format!(
                    "cannot read the administrator password to copy, {}: {e}; use --settings fresh to install \
                     without the settings. Nothing was written.",
                    password_file.display()
                )))
            }
            Err(_) => None,
        };
        let mut out = target.open()?;
        let r = flash::write_disk(&mut out, plan, &mut |s| report.event(progress_event(Op::InstallToDisk, s)))?;
        drop(out);
        let written = summary(&r, device);
        let boots = format!("Power off, remove the stick, and the device boots from {}", device.display());
        let state_bytes = new_state.to_bytes();
        let mut files: Vec<(&str, &[u8])> = vec![(updater::state::FILE, &state_bytes)];
        let copied = matches!((choice, &saved), (SettingsChoice::Copy, Some(_)));
        if let (SettingsChoice::Copy, Some(bytes)) = (choice, &saved) {
            files.push((devconfig::FILE_NAME, bytes));
            if let Some(p) = &password {
                files.push((adminlock::FILE, p));
            }
        }
        report.step(P::Settings, 1.0, "writing the updater's state and the settings onto the new disk's DATA");
        let node = match flash::carry::write_data_files(device, &files) {
            Ok(node) => node,
            Err(e) => {
                return Err(Failure {
                    code: EXIT_FAILED,
                    message: format!(
                        "the new disk is installed and verified and boots, but its DATA could not be written ({e}): \
                         the Setup Assistant runs on it at its first boot, and it installs no update until \
                         `fwupdate repair-state` has run there"
                    ),
                })
            }
        };
        let settings_note = match (choice, &saved) {
            _ if copied => format!("The settings of this stick were copied to {}.", node.display()),
            (SettingsChoice::Fresh, _) => {
                "The new disk starts with fresh settings; the Setup Assistant runs on it.".into()
            }
            _ => {
                format!("This stick has no saved settings ({}), so the new disk starts fresh.", settings_file.display())
            }
        };
        let entry = crate::boot_entry::register_new_disk(device, &args.root.join(crate::cli_device::VARS));
        let end = format!("{written}. {settings_note} {entry} {boots}");
        report.done(&end);
        Ok(())
    })
}

/// The partition names on a disk, when it has a GPT.
fn existing_table(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut d = gptedit::FileDisk::new(f, 512).ok()?;
    let g = gptedit::Gpt::load(&mut d).ok()?;
    Some(g.partitions().iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", "))
}
