//! The device verbs of `fwupdate`: status, install, mark-good, set-active,
//! rollback, history, boot-check.

use crate::{Failure, EXIT_BUSY, EXIT_FAILED, EXIT_REFUSED};
use abslot::Slot;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use updater::device::{Device, DeviceArgs};
use updater::{install, Error, FileDevice, InstallOptions, Paths, Pause, Stage, Updater};

#[derive(clap::Subcommand)]
pub enum DeviceCmd {
    /// Booted slot, each slot's version and state bits, last install, rollbacks.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Install a bundle into the slot that is not running, then switch to it at the next boot.
    Install {
        bundle: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Allow a version older than the running one (the rollback index still applies).
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Mark the running slot as good (init does this when the health check passes).
    MarkGood,
    /// Boot this slot next (a or b).
    SetActive { slot: String },
    /// Go back to the other slot (it must have booted successfully before).
    Rollback,
    /// Installs, proven boots and rollbacks, oldest first.
    History {
        #[arg(long)]
        json: bool,
    },
    /// At boot (run by init): detect and record a rollback by the boot selector.
    BootCheck,
}

fn open(args: &DeviceArgs) -> Result<(Updater<FileDevice>, Device), Failure> {
    let dev = args.resolve()?;
    let file = FileDevice::open(&dev.disk).map_err(|e| format!("opening the boot disk {}: {e}", dev.disk.display()))?;
    let paths = Paths { keyring: args.keyring.clone(), state: args.data.clone() };
    Ok((Updater::new(file, dev.block_size, dev.booted, paths), dev))
}

fn failure(e: Error) -> Failure {
    let code = match &e {
        Error::Bundle(_) | Error::Refused(_) => EXIT_REFUSED,
        Error::Failed(..) => EXIT_FAILED,
        _ => crate::EXIT_ERROR,
    };
    Failure { code, message: e.to_string() }
}

/// One install at a time: an exclusive lock on /run/quill/fwupdate.lock.
fn lock() -> Result<std::fs::File, Failure> {
    let dir =
        if std::fs::create_dir_all("/run/quill").is_ok() { PathBuf::from("/run/quill") } else { std::env::temp_dir() };
    let path = dir.join("fwupdate.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on our own open descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Failure {
            code: EXIT_BUSY,
            message: "another fwupdate install is running; wait for it to finish".into(),
        });
    }
    Ok(f)
}

fn test_pause() -> Option<(Pause, Duration)> {
    let v = std::env::var("FWUPDATE_TEST_PAUSE").ok()?;
    let (at, secs) = v.split_once(':')?;
    let at = match at {
        "early" => Pause::Early,
        "middle" => Pause::Middle,
        "before-flip" => Pause::BeforeFlip,
        "after-flip" => Pause::AfterFlip,
        _ => return None,
    };
    Some((at, Duration::from_secs(secs.parse().ok()?)))
}

pub fn run(cmd: DeviceCmd, args: &DeviceArgs) -> Result<(), Failure> {
    match cmd {
        DeviceCmd::Status { json } => {
            let (mut up, _) = open(args)?;
            let st = up.status().map_err(failure)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
                return Ok(());
            }
            println!(
                "booted slot: {} (next boot: {})",
                st.booted.to_ascii_uppercase(),
                st.next_boot.to_ascii_uppercase()
            );
            for s in &st.slots {
                println!(
                    "slot {}: version {:<12} priority={} tries={} successful={}{}{}",
                    s.slot.to_ascii_uppercase(),
                    s.version.as_deref().unwrap_or("unknown"),
                    s.priority,
                    s.tries,
                    s.successful as u8,
                    if s.bootable { "" } else { " (not bootable)" },
                    if s.booted { " <- running" } else { "" }
                );
            }
            println!("rollback floor: {}", st.rollback_floor);
            match &st.last_install {
                Some(l) => println!(
                    "last install: {} into slot {}: {} ({})",
                    l.version,
                    l.slot.to_ascii_uppercase(),
                    l.result,
                    l.bundle
                ),
                None => println!("last install: none"),
            }
            for e in st.history.iter().filter(|e| e.kind == "rollback") {
                println!("rollback #{}: {}", e.seq, e.detail);
            }
            Ok(())
        }
        DeviceCmd::Install { bundle, yes, allow_downgrade } => {
            install_file(args, &bundle, yes, allow_downgrade).map(|_| ())
        }
        DeviceCmd::MarkGood => {
            let (mut up, _) = open(args)?;
            let changed = up.mark_good().map_err(failure)?;
            println!("fwupdate: slot {} {}", up.booted, if changed { "marked good" } else { "was already good" });
            Ok(())
        }
        DeviceCmd::SetActive { slot } => {
            let s = Slot::from_letter(&slot).ok_or_else(|| format!("set-active {slot}: use a or b"))?;
            let (mut up, _) = open(args)?;
            up.set_active(s).map_err(failure)?;
            println!("fwupdate: slot {s} boots next");
            Ok(())
        }
        DeviceCmd::Rollback => {
            let (mut up, _) = open(args)?;
            let s = up.rollback().map_err(failure)?;
            println!("fwupdate: slot {s} boots next; reboot to go back");
            Ok(())
        }
        DeviceCmd::History { json } => {
            let (state, _) = updater::state::State::load(Path::new(&args.data));
            if json {
                println!("{}", serde_json::to_string_pretty(&state.history)?);
            } else if state.history.is_empty() {
                println!("no updates recorded");
            } else {
                for e in &state.history {
                    println!(
                        "#{:<4} {:<15} slot {} {:<12} {}",
                        e.seq,
                        e.kind,
                        e.slot.to_ascii_uppercase(),
                        e.version,
                        e.detail
                    );
                }
            }
            Ok(())
        }
        DeviceCmd::BootCheck => {
            let (mut up, _) = open(args)?;
            if let Some(rb) = up.boot_check().map_err(failure)? {
                println!("fwupdate: {}", rb.message());
            }
            Ok(())
        }
    }
}

/// `fwupdate install`: checks, asks on a terminal unless `yes`, writes the
/// inactive slot with progress, and switches the next boot to it.
pub fn install_file(
    args: &DeviceArgs,
    bundle: &Path,
    yes: bool,
    allow_downgrade: bool,
) -> Result<updater::Installed, Failure> {
    let _lock = lock()?;
    let (mut up, dev) = open(args)?;
    let opts = InstallOptions {
        board: dev.board.clone(),
        running_version: dev.running_version.clone(),
        allow_downgrade,
        pause: test_pause(),
    };
    let mut open_bundle = || open_uncached(bundle);
    let interactive = std::io::stdin().is_terminal() && !yes;
    let mut last_tenth = u64::MAX;
    let tty = std::io::stderr().is_terminal();
    let mut progress = |s: Stage| match s {
        Stage::Verified { version, target, size, signer } => {
            eprintln!(
                "fwupdate: {} is valid: version {version} ({:.1} MiB), signed by key {signer}",
                bundle.display(),
                size as f64 / 1048576.0
            );
            if interactive {
                eprint!("Install {version} into slot {target} and boot it next? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("fwupdate: cancelled; nothing was changed");
                    std::process::exit(crate::EXIT_ERROR);
                }
            }
            eprintln!("fwupdate: writing slot {target}");
        }
        Stage::Writing { done, total, elapsed } => {
            let rate = done as f64 / 1048576.0 / elapsed.as_secs_f64().max(0.001);
            let tenth = done * 10 / total.max(1);
            if tty {
                eprint!(
                    "\rfwupdate: {:>6.1} / {:.1} MiB  {rate:>6.1} MiB/s",
                    done as f64 / 1048576.0,
                    total as f64 / 1048576.0
                );
            } else if tenth != last_tenth {
                last_tenth = tenth;
                eprintln!("fwupdate: written {:>3}% ({:.1} MiB, {rate:.1} MiB/s)", tenth * 10, done as f64 / 1048576.0);
            }
        }
        Stage::ReadingBack => {
            eprintln!("{}fwupdate: reading the slot back to verify it", if tty { "\n" } else { "" })
        }
        Stage::Switching => eprintln!("fwupdate: switching the next boot to the new slot"),
        Stage::Done => {}
    };
    let done =
        install(&mut up, &bundle.display().to_string(), &mut open_bundle, &opts, &mut progress).map_err(failure)?;
    println!(
        "fwupdate: installed {} into slot {} ({:.1} MiB in {:.1} s, {:.1} MiB/s); reboot to start it",
        done.version,
        done.slot,
        done.bytes as f64 / 1048576.0,
        done.seconds,
        done.bytes as f64 / 1048576.0 / done.seconds.max(0.001)
    );
    Ok(done)
}

/// Opens a bundle with its cached pages dropped, so each of the installer's
/// passes reads (and checks) what the medium holds now; a stick pulled out
/// meanwhile makes the read fail instead of being served from memory.
fn open_uncached(path: &Path) -> std::io::Result<std::io::BufReader<std::fs::File>> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: advice on our own open descriptor; failure only costs speed.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}
