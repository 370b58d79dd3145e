//! `fwupdate flash IMAGE DEVICE` (a host without the source tree, or a
//! running Quill) and `fwupdate install-to-disk [DEVICE]` (a running UD
//! Pocket onto the device's internal disk). The work is the `flash` crate's;
//! this file asks, shows progress and explains failures.

use crate::{Failure, EXIT_FAILED, EXIT_REFUSED};
use flash::{Stage, Sys, Target};
use std::io::{IsTerminal, Write};
use std::path::Path;
use updater::device::DeviceArgs;

/// The empty DATA filesystem shipped in the image for new installs.
pub const FRESH_DATA: &str = "/usr/share/quill/data.ext4.zst";

/// The disks that hold the running system: the host's root, and on Quill
/// the boot disk (`boot` when the caller resolved it already).
fn protected(sys: &Sys, boot: Option<&str>) -> Vec<String> {
    let mut v = flash::root_disks(sys);
    let boot = boot.map(str::to_string).or_else(|| {
        let on_quill = std::fs::read_to_string("/proc/cmdline").unwrap_or_default().contains("quill.partuuid=");
        let dev = on_quill.then(|| DeviceArgs::default().resolve().ok()).flatten()?;
        dev.disk.file_name().map(|n| n.to_string_lossy().into_owned())
    });
    v.extend(boot);
    v
}

fn refused(msg: String) -> Failure {
    Failure { code: EXIT_REFUSED, message: format!("{msg}. Nothing was written.") }
}

/// Asks on a terminal; without one, `--yes` is required.
fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(refused("not asking without a terminal: add --yes to confirm".into()));
    }
    eprint!("{question} Type yes to continue: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if answer.trim() != "yes" {
        return Err(Failure { code: crate::EXIT_ERROR, message: "cancelled; nothing was written".into() });
    }
    Ok(())
}

/// Progress on stderr: a line that rewrites itself on a terminal, every
/// tenth otherwise (serial consoles, logs).
fn progress_printer() -> impl FnMut(Stage) {
    let tty = std::io::stderr().is_terminal();
    let mut last = (0u8, u64::MAX);
    move |s| {
        let (phase, done, total, rate) = match s {
            Stage::Wiping => return eprintln!("fwupdate: wiping the old partition tables"),
            Stage::Syncing => return eprintln!("{}fwupdate: syncing", if tty { "\n" } else { "" }),
            Stage::Table => return eprintln!("{}fwupdate: writing the partition table", if tty { "\n" } else { "" }),
            Stage::Writing { done, total, elapsed } => {
                (1u8, done, total, done as f64 / 1048576.0 / elapsed.as_secs_f64().max(0.001))
            }
            Stage::Verifying { done, total } => (2u8, done, total, 0.0),
        };
        let word = if phase == 1 { "written" } else { "verified" };
        let tenth = done * 10 / total.max(1);
        if tty {
            let rate = if phase == 1 { format!("  {rate:>6.1} MiB/s") } else { String::new() };
            eprint!(
                "\rfwupdate: {word} {:>7.1} / {:.1} MiB{rate}   ",
                done as f64 / 1048576.0,
                total as f64 / 1048576.0
            );
        } else if (phase, tenth) != last {
            if phase != last.0 && phase == 2 {
                eprintln!("fwupdate: reading back and verifying");
            }
            last = (phase, tenth);
            let rate = if phase == 1 { format!(", {rate:.1} MiB/s") } else { String::new() };
            eprintln!("fwupdate: {word} {:>3}% ({:.1} MiB{rate})", tenth * 10, done as f64 / 1048576.0);
        }
    }
}

fn failed(e: flash::Error) -> Failure {
    let code = if e.touched_target() { EXIT_FAILED } else { EXIT_REFUSED };
    Failure { code, message: format!("{e}. {}", e.target_state()) }
}

fn print_report(r: &flash::Report, target: &Path) {
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "fwupdate: {} now holds Quill: {:.1} MiB written ({:.1} MiB of it empty, not written) and verified in {:.1} s \
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
    );
}

/// `fwupdate flash IMAGE DEVICE`.
pub fn flash_image(image: &Path, device: &Path, yes: bool, force: bool, keep_guids: bool) -> Result<(), Failure> {
    let sys = Sys::default();
    let (target, plan) =
        flash::prepare_image(image, device, &sys, &protected(&sys, None), force, !keep_guids).map_err(failed)?;
    eprintln!("fwupdate: target {}", target.describe());
    confirm(&format!("Everything on {} will be erased.", device.display()), yes)?;
    let mut dev = target.open().map_err(failed)?;
    let report = flash::write_disk(&mut dev, plan, &mut progress_printer()).map_err(failed)?;
    print_report(&report, device);
    Ok(())
}

/// Whether install-to-disk carries the stick's settings over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SettingsChoice {
    Copy,
    Fresh,
}

/// Asks on a terminal whether to copy the settings; `--yes` means copy.
fn settings_choice(given: Option<SettingsChoice>, yes: bool) -> SettingsChoice {
    if let Some(c) = given {
        return c;
    }
    if yes || !std::io::stdin().is_terminal() {
        return SettingsChoice::Copy;
    }
    eprint!("Copy the settings made on this stick (language, keyboard, time zone, gateway) to the new disk? [Y/n] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if answer.trim().to_lowercase().starts_with('n') {
        SettingsChoice::Fresh
    } else {
        SettingsChoice::Copy
    }
}

/// `fwupdate install-to-disk [DEVICE]`.
pub fn install_to_disk(
    args: &DeviceArgs,
    device: Option<&Path>,
    yes: bool,
    fresh_data: &Path,
    settings: Option<SettingsChoice>,
    json: bool,
) -> Result<(), Failure> {
    let dev = args.resolve()?;
    let sys = Sys::default();
    let boot = dev.disk.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if json {
        if device.is_some() {
            return Err(refused("--json lists the disks; it takes no DEVICE".into()));
        }
        let list = updater::disks::list(&sys, &dev.disk);
        println!("{}", serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?);
        return Ok(());
    }
    let Some(device) = device else {
        let list = updater::disks::candidates(&sys, &boot);
        println!("fwupdate: running from {} (slot {}); internal disks:", dev.disk.display(), dev.booted);
        for (t, why) in &list {
            match why {
                None => println!("  {}", t.describe()),
                Some(w) => println!("  ({}: {w})", t.describe()),
            }
        }
        if list.iter().all(|(_, w)| w.is_some()) {
            return Err(Failure { code: crate::EXIT_ERROR, message: "no internal disk to install onto".into() });
        }
        println!("Install with: fwupdate install-to-disk /dev/NAME");
        return Ok(());
    };
    let target = Target::inspect(device, &sys, &protected(&sys, Some(&boot))).map_err(failed)?;
    let fresh = std::fs::read(fresh_data).map_err(|e| format!("reading {}: {e}", fresh_data.display()))?;
    let fresh_len = zstd::zstd_safe::get_frame_content_size(&fresh)
        .ok()
        .flatten()
        .ok_or_else(|| format!("{}: no content size in its zstd frame", fresh_data.display()))?;
    let reader: Box<dyn flash::Source> = Box::new(flash::Stream(zstd::stream::read::Decoder::new(&fresh[..])?));
    let plan =
        flash::plan_install(&dev.disk, dev.booted.partition_name(), reader, fresh_len, target.size).map_err(failed)?;
    if let Some(why) = target.refusal(0, true) {
        return Err(refused(why));
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
    confirm(&format!("Everything on {} will be erased.", device.display()), yes)?;
    let choice = settings_choice(settings, yes);
    // Read before anything is written, so a DATA problem shows up first.
    let settings_file = args.data.join(devconfig::FILE_NAME);
    let saved = match std::fs::read(&settings_file) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if choice == SettingsChoice::Copy => {
            return Err(refused(format!(
                "cannot read the settings to copy, {}: {e}; use --settings fresh to install without them",
                settings_file.display()
            )))
        }
        Err(_) => None,
    };
    let mut out = target.open().map_err(failed)?;
    let report = flash::write_disk(&mut out, plan, &mut progress_printer()).map_err(failed)?;
    drop(out);
    print_report(&report, device);
    let boots = format!("Power off, remove the stick, and the device boots from {}", device.display());
    match (choice, saved) {
        (SettingsChoice::Fresh, _) => {
            println!("fwupdate: the new disk starts with a fresh DATA; the Setup Assistant runs on it. {boots}")
        }
        (SettingsChoice::Copy, None) => println!(
            "fwupdate: this stick has no saved settings ({}), so the new disk starts fresh. {boots}",
            settings_file.display()
        ),
        (SettingsChoice::Copy, Some(bytes)) => match updater::carry::copy_settings(device, &bytes) {
            Ok(node) => println!("fwupdate: the settings of this stick were copied to {}. {boots}", node.display()),
            Err(e) => {
                return Err(Failure {
                    code: EXIT_FAILED,
                    message: format!(
                        "the new disk is installed and verified and boots, but the settings were not copied ({e}); \
                         the Setup Assistant runs on it at its first boot"
                    ),
                })
            }
        },
    }
    Ok(())
}

/// The partition names on a disk, when it has a GPT.
fn existing_table(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut d = gptedit::FileDisk::new(f, 512).ok()?;
    let g = gptedit::Gpt::load(&mut d).ok()?;
    Some(g.partitions().iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", "))
}
