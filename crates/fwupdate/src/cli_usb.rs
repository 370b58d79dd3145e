//! `fwupdate usb DIR`: run by init when USB storage was mounted at DIR.
//! Finds the newest bundle for this device on it, checks it, and either
//! offers it on the console (with the command that installs it) or, with
//! `quill.autoupdate=1` or a file `quill/autoupdate` on the stick, installs
//! it without asking and reboots into it.

use crate::cli_device::install_file;
use crate::device::DeviceArgs;
use crate::report::Format;
use crate::Failure;
use bundle::{Keyring, Policy, Reader};
use std::path::Path;
use updater::state::State;
use updater::usb::{self, Candidate, Choice, Offer};

/// Seconds between an unattended install and the reboot.
const REBOOT_DELAY_S: u64 = 5;

fn say(line: &str) {
    println!("quill: {line}");
}

/// Reads every frame of the bundle against its signed hashes (no decoding).
fn check(c: &Candidate, keyring: &Keyring, board: &str, floor: u64) -> Result<(), String> {
    let name = usb::shown(&c.path.display().to_string());
    let policy = Policy { board: Some(board.into()), rollback_floor: floor, slot_size: None };
    let f = usb::open_nofollow(&c.path).map_err(|e| format!("{name}: cannot be read: {e}"))?;
    Reader::open(&name, std::io::BufReader::with_capacity(1 << 20, f), keyring, &policy)
        .and_then(|r| r.check_frames())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub fn run(args: &DeviceArgs, dir: &Path, auto: bool) -> Result<(), Failure> {
    let label = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
    let (mut up, dev) = crate::cli_device::open(args)?;
    let (keyring, floor) = match up.trusted() {
        Ok(t) => t,
        Err(e) => {
            say(&format!("USB storage {label}: updates are refused: {e}"));
            return Err(e.into());
        }
    };
    let state = State::load(&args.data);
    let stick_auto = dir.join("quill/autoupdate").is_file();
    let auto = auto || stick_auto;

    let mut scan = usb::scan(dir, &keyring, &dev.board, floor);
    for (p, why) in &scan.skipped {
        say(&format!("USB storage {label}: ignoring {}: {why}", usb::shown(&p.display().to_string())));
    }
    loop {
        match usb::choose(&scan, &dev.running_version, &state) {
            Choice::Nothing => {
                say(&format!("USB storage {label}: no update for this device ({}) on it", dev.board));
                return Ok(());
            }
            Choice::NotNewer(c) => {
                say(&format!(
                    "USB storage {label}: its newest update, {} ({}), is not newer than the running {}; nothing to do",
                    c.version,
                    file_name(&c.path),
                    dev.running_version
                ));
                return Ok(());
            }
            Choice::RolledBackBefore(c) => {
                say(&format!(
                    "USB storage {label}: {} failed on this device before and was rolled back; it is not installed \
                     automatically. To try it again, type: fwupdate install {}",
                    c.version,
                    usb::shell_word(&c.path)
                ));
                return Ok(());
            }
            Choice::Update(c) => {
                if auto {
                    return install_unattended(args, &c, &label, stick_auto);
                }
                match check(&c, &keyring, &dev.board, floor) {
                    Ok(()) => {
                        offer(&c, &label, &dev.running_version);
                        return Ok(());
                    }
                    Err(why) => {
                        say(&format!("USB storage {label}: refusing {}: {why}", file_name(&c.path)));
                        scan.usable.retain(|u| u.path != c.path);
                    }
                }
            }
        }
    }
}

fn file_name(p: &Path) -> String {
    usb::shown(&p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

fn offer(c: &Candidate, label: &str, running: &str) {
    say(&format!(
        "Update available on USB storage {label}: Quill {} (running {running}), {}, signed by key {}, verified",
        c.version,
        file_name(&c.path),
        c.signer
    ));
    say(&format!("to install it, type: fwupdate install {}", usb::shell_word(&c.path)));
    let offer =
        Offer { device: label.to_string(), path: c.path.clone(), version: c.version.clone(), signer: c.signer.clone() };
    if let Err(e) = offer.save(Path::new(usb::RUN_DIR)) {
        eprintln!("fwupdate: warning: keeping the offer for the screen: {e}");
    }
}

fn install_unattended(args: &DeviceArgs, c: &Candidate, label: &str, stick_auto: bool) -> Result<(), Failure> {
    let why = if stick_auto { "quill/autoupdate is on the stick" } else { "quill.autoupdate=1" };
    say(&format!("installing {} from USB storage {label} without asking ({why})", c.version));
    let done = install_file(args, &c.path, true, false, Format::Human)?;
    // Reboot only a real Quill device, never a host that ran this by hand
    // with --disk.
    if args.on_device() {
        say(&format!("rebooting into {} in {REBOOT_DELAY_S} s", done.version));
        std::thread::sleep(std::time::Duration::from_secs(REBOOT_DELAY_S));
        // SIGTERM to PID 1 is Quill's (and busybox's) reboot request.
        // SAFETY: sending a signal has no memory effects.
        unsafe { libc::kill(1, libc::SIGTERM) };
    }
    Ok(())
}
