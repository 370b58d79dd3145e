//! The device verbs of `fwupdate`: status, install, mark-good, set-active,
//! rollback, history, boot-check.

use crate::ask::{self, confirm};
use crate::device::{Device, DeviceArgs};
use crate::report::{Format, Reporter};
use crate::Failure;
use abslot::Slot;
use progress::{Op, Progress, Stage as P};
use std::path::{Path, PathBuf};
use std::time::Duration;
use updater::state::EventKind;
use updater::{install, Checkpoint, FileDevice, InstallOptions, Paths, Repaired, Stage, Updater};

#[derive(clap::Subcommand)]
pub enum DeviceCmd {
    /// Booted slot, each slot's version and state bits, last install, rollbacks.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Install a bundle (a file, or an http(s):// URL) into the slot that is not running, then switch to it at the next boot.
    Install {
        /// A *.qbundle file or URL; none with --channel.
        #[arg(required_unless_present = "channel")]
        bundle: Option<String>,
        /// Install what the update channel offers (settings [update], or --repo).
        #[arg(long, conflicts_with = "bundle")]
        channel: bool,
        /// The repository's root URL (instead of the settings').
        #[arg(long)]
        repo: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Allow a version older than the running one (the rollback index still applies).
        #[arg(long)]
        allow_downgrade: bool,
        /// Progress for people (default) or one JSON object per line on stdout.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        progress: Format,
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
    /// The firmware's "Quill" boot entry: whether it exists, points at this
    /// disk's ESP and comes first; --repair makes it so (init runs that at
    /// every boot; never from removable storage).
    BootEntry {
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
    /// At boot (run by init): detect and record a rollback by the boot selector.
    BootCheck,
    /// Rebuild the updater's state on DATA, or the trust record on the boot
    /// disk, from the other one (installs are refused while either cannot
    /// be read).
    RepairState {
        /// When neither can be read: start over as a fresh device (rollback
        /// floor 0, kept key statements forgotten).
        #[arg(long)]
        forget: bool,
    },
}

pub fn open(args: &DeviceArgs) -> Result<(Updater<FileDevice>, Device), Failure> {
    let dev = args.resolve()?;
    let file = FileDevice::open(&dev.disk).map_err(|e| format!("opening the boot disk {}: {e}", dev.disk.display()))?;
    let paths = Paths { keyring: args.keyring.clone(), state: args.data.clone() };
    let mut up = Updater::new(file, dev.block_size, dev.booted, paths);
    up.booted_partuuid = dev.booted_partuuid.as_deref().and_then(gptedit::Guid::parse);
    up.lock_wait = Duration::from_secs(args.wait);
    Ok((up, dev))
}

/// One install at a time: an exclusive lock on /run/quill/fwupdate.lock
/// (on a host working on a disk image: in its DATA folder).
fn lock(args: &DeviceArgs) -> Result<std::fs::File, Failure> {
    let dir = if !args.on_device() && args.data.is_dir() {
        args.data.clone()
    } else if std::fs::create_dir_all("/run/quill").is_ok() {
        PathBuf::from("/run/quill")
    } else {
        std::env::temp_dir()
    };
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
        return Err(Failure::busy("another fwupdate install is running; wait for it to finish"));
    }
    Ok(f)
}

/// `FWUPDATE_TEST_PAUSE=point:FILE` (tests only): the install stops at that
/// checkpoint until FILE exists, so a test can cut the power or pull a
/// stick there, and lets it go on by creating the file (never, to keep it
/// stopped).
fn test_pause() -> Option<(Checkpoint, PathBuf)> {
    let v = std::env::var("FWUPDATE_TEST_PAUSE").ok()?;
    let (at, file) = v.split_once(':')?;
    Some((Checkpoint::parse(at)?, PathBuf::from(file)))
}

fn pause_at(at: Checkpoint, wanted: &Option<(Checkpoint, PathBuf)>) {
    if let Some((p, file)) = wanted.as_ref().filter(|(p, _)| *p == at) {
        // One write, so a kernel message cannot split the line.
        let line = format!("fwupdate: test pause at {p:?} until {} exists\n", file.display());
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        while !file.exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), b"fwupdate: test pause over\n");
    }
}

pub fn run(cmd: DeviceCmd, args: &DeviceArgs) -> Result<(), Failure> {
    match cmd {
        DeviceCmd::Status { json } => {
            let (mut up, dev) = open(args)?;
            let st = up.status()?;
            let keyring = args.release().map(|r| r.keyring).unwrap_or_else(|| "unknown".into());
            let entry = crate::boot_entry::status(&dev.disk, &args.root.join(VARS));
            if json {
                let mut v = serde_json::to_value(&st).map_err(Failure::error)?;
                v["keyring"] = keyring.into();
                v["boot_entry"] = serde_json::to_value(&entry).map_err(Failure::error)?;
                println!("{}", serde_json::to_string_pretty(&v).map_err(Failure::error)?);
                return Ok(());
            }
            print_status(&st);
            println!("boot entry: {} ({})", entry.state, entry.note);
            if keyring == "dev" {
                println!("keyring: DEV-KEY: this image trusts the development key; not for devices in a fleet");
            } else {
                println!("keyring: {keyring}");
            }
            Ok(())
        }
        DeviceCmd::Install { bundle, channel, repo, yes, allow_downgrade, progress } => {
            let source = match bundle {
                Some(b) if b.contains("://") => crate::cli_net::url_source(args, &b)?,
                Some(b) => Source::File(PathBuf::from(b)),
                None => {
                    let _ = channel;
                    match crate::cli_net::channel_source(args, repo)? {
                        Some(s) => s,
                        None => return Ok(()),
                    }
                }
            };
            install_from(args, &source, yes, allow_downgrade, progress).map(|_| ())
        }
        DeviceCmd::MarkGood => {
            let (mut up, _) = open(args)?;
            let done = up.mark_good()?;
            for p in &done.problems {
                eprintln!("fwupdate: warning: {p}");
            }
            if done.changed {
                println!("fwupdate: slot {} marked good (rollback floor {})", up.booted, done.floor);
            } else {
                println!("fwupdate: slot {} was already good", up.booted);
            }
            Ok(())
        }
        DeviceCmd::SetActive { slot } => {
            let s = Slot::from_letter(&slot).ok_or_else(|| format!("set-active {slot}: use a or b"))?;
            let (mut up, _) = open(args)?;
            up.set_active(s)?;
            println!("fwupdate: slot {s} boots next");
            Ok(())
        }
        DeviceCmd::Rollback => {
            let (mut up, _) = open(args)?;
            let s = up.rollback()?;
            println!("fwupdate: slot {s} boots next; reboot to go back");
            Ok(())
        }
        DeviceCmd::History { json } => {
            let state = updater::state::State::load(Path::new(&args.data));
            if json {
                println!("{}", serde_json::to_string_pretty(&state.history).map_err(Failure::error)?);
            } else if state.history.is_empty() {
                println!("no updates recorded");
            } else {
                for e in &state.history {
                    println!(
                        "#{:<4} {:<15} slot {} {:<12} {}",
                        e.seq,
                        e.kind.to_string(),
                        e.slot.to_ascii_uppercase(),
                        e.version,
                        e.detail
                    );
                }
            }
            Ok(())
        }
        DeviceCmd::RepairState { forget } => {
            let (mut up, dev) = open(args)?;
            args.check_data(&dev).map_err(|e| Failure::from(updater::Error::NotOnData(e)))?;
            match up.repair_state(forget)? {
                Repaired::Nothing => println!("fwupdate: the state and the trust record both read fine; nothing to repair"),
                Repaired::State { aside, floor } => println!(
                    "fwupdate: the state on DATA was rebuilt from the trust record (rollback floor {floor}){}",
                    aside.map(|a| format!("; the damaged file is kept as {}", a.display())).unwrap_or_default()
                ),
                Repaired::Record { floor } => {
                    println!("fwupdate: the trust record was rebuilt from the state on DATA (rollback floor {floor})")
                }
                Repaired::Forgotten => println!(
                    "fwupdate: neither copy could be read; the device starts over: rollback floor 0, no kept key statements"
                ),
            }
            Ok(())
        }
        DeviceCmd::BootEntry { repair, json } => boot_entry_cmd(args, repair, json),
        DeviceCmd::BootCheck => {
            let (mut up, _) = open(args)?;
            if let Some(rb) = up.boot_check()? {
                println!("fwupdate: {}", rb.message());
            }
            Ok(())
        }
    }
}

/// Where efivarfs is mounted, under the root.
pub const VARS: &str = "sys/firmware/efi/efivars";

fn boot_entry_cmd(args: &DeviceArgs, repair: bool, json: bool) -> Result<(), Failure> {
    let dev = args.resolve()?;
    let vars = args.root.join(VARS);
    let removable =
        flash::Target::inspect(&dev.disk, &flash::Sys::default(), &[]).map(|t| t.removable).unwrap_or(false);
    if repair {
        if removable {
            println!(
                "fwupdate: running from removable storage ({}): the firmware's boot entries are left alone",
                dev.disk.display()
            );
        } else if let Some(mut store) = efiboot::EfiVarFs::open(&vars) {
            let before = crate::boot_entry::status(&dev.disk, &vars);
            if before.state != "ok" {
                match crate::boot_entry::register(&dev.disk, &mut store) {
                    Ok(what) => println!("fwupdate: boot entry repaired ({}): {what}", before.state),
                    // A full or write-protected store never stops a boot.
                    Err(e) => println!("fwupdate: the boot entry is {} and could not be repaired: {e}", before.state),
                }
            }
        }
    }
    let entry = crate::boot_entry::status(&dev.disk, &vars);
    if json {
        println!("{}", serde_json::to_string_pretty(&entry).map_err(Failure::error)?);
    } else if !repair {
        println!("boot entry: {} ({})", entry.state, entry.note);
    }
    Ok(())
}

fn print_status(st: &updater::Status) {
    println!("booted slot: {} (next boot: {})", st.booted.to_ascii_uppercase(), st.next_boot.to_ascii_uppercase());
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
    println!("trust: {}", st.trust);
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
    for e in st.history.iter().filter(|e| e.kind == EventKind::Rollback) {
        println!("rollback #{}: {}", e.seq, e.detail);
    }
}

/// How the install's stages fill the bar: writing, then reading back.
const WRITE_WEIGHT: f32 = 0.85;

/// Where a bundle comes from.
pub enum Source {
    File(PathBuf),
    /// Downloaded: the head (the manifest; fetched first when not known),
    /// then only the frames of chunks the device does not have, resuming a
    /// broken connection where it stopped.
    Url {
        client: Box<fetch::Client>,
        url: String,
        head: Option<Vec<u8>>,
    },
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Url { url, .. } => url.clone(),
        }
    }
}

/// `fwupdate install FILE`: see [`install_from`].
pub fn install_file(
    args: &DeviceArgs,
    bundle: &Path,
    yes: bool,
    allow_downgrade: bool,
    format: Format,
) -> Result<updater::Installed, Failure> {
    install_from(args, &Source::File(bundle.to_path_buf()), yes, allow_downgrade, format)
}

/// `fwupdate install`: checks, asks on a terminal unless `yes`, writes the
/// inactive slot with progress, and switches the next boot to it.
pub fn install_from(
    args: &DeviceArgs,
    source: &Source,
    yes: bool,
    allow_downgrade: bool,
    format: Format,
) -> Result<updater::Installed, Failure> {
    let mut report = Reporter::new(Op::Install, format);
    let result = install_reported(args, source, yes, allow_downgrade, &mut report);
    if let Err(f) = &result {
        report.failed(f);
    }
    result
}

fn install_reported(
    args: &DeviceArgs,
    source: &Source,
    yes: bool,
    allow_downgrade: bool,
    report: &mut Reporter,
) -> Result<updater::Installed, Failure> {
    let _lock = lock(args)?;
    let (mut up, dev) = open(args)?;
    args.check_data(&dev).map_err(|e| Failure::from(updater::Error::NotOnData(e)))?;
    up.lock_wait = Duration::ZERO;
    let opts = InstallOptions {
        board: dev.board.clone(),
        running_version: dev.running_version.clone(),
        allow_downgrade,
        single_pass: false,
    };
    let pause = test_pause();
    let name = source.name();
    // A download's head: the manifest the device decides on.
    let head = match source {
        Source::Url { head: Some(h), .. } => Some(h.clone()),
        Source::Url { client, url, head: None } => {
            let s = client.stream(url, 0, None).map_err(Failure::error)?;
            Some(bundle::head_bytes(url, std::io::BufReader::new(s))?)
        }
        Source::File(_) => None,
    };
    let mut open_bundle = || -> std::io::Result<Box<dyn std::io::Read + Send + '_>> {
        match (source, &head) {
            (Source::File(p), _) => Ok(Box::new(open_uncached(p)?)),
            (_, Some(h)) => Ok(Box::new(std::io::Cursor::new(h.clone()))),
            (_, None) => Err(std::io::Error::other("no bundle head")),
        }
    };
    let mut frames = |needed: &[bool]| -> std::io::Result<(Box<dyn std::io::Read + Send + '_>, Vec<bool>)> {
        let (Source::Url { client, url, .. }, Some(h)) = (source, &head) else {
            return Err(std::io::Error::other("not a download"));
        };
        let (manifest, _) = bundle::inspect(url, &h[..]).map_err(std::io::Error::other)?;
        // Frames less than 256 KiB apart come in one request.
        let (ranges, carried) = bundle::frame_ranges(&manifest, h.len() as u64, needed, 256 << 10);
        let feed = client.ranges(url, ranges).map_err(std::io::Error::other)?;
        Ok((Box::new(std::io::BufReader::with_capacity(1 << 20, feed)), carried))
    };
    let mut progress = |s: Stage| match s {
        Stage::Warning(w) => report.step(P::Warning, 0.0, &format!("warning: {w}")),
        Stage::Verified { version, target, size, signer } => {
            report.step(
                P::Verified,
                0.0,
                &format!(
                    "{name} is valid: version {version} ({:.1} MiB), signed by key {signer}",
                    size as f64 / 1048576.0
                ),
            );
            if !yes {
                let question = format!("Install {version} into slot {target} and boot it next?");
                let stop = match confirm(&question, ask::Default::No) {
                    Ok(true) => None,
                    Ok(false) => Some(Failure::error("cancelled; nothing was changed")),
                    Err(ask::NoTerminal) => Some(Failure::refused(
                        "not asking without a terminal: add --yes to confirm. Nothing was changed",
                    )),
                };
                if let Some(f) = stop {
                    // Nothing has been written yet: stop here.
                    report.failed(&f);
                    eprintln!("fwupdate: {}", f.message);
                    std::process::exit(f.code);
                }
            }
            report.step(P::Writing, 0.0, &format!("writing slot {target}"));
        }
        Stage::Writing { done, total, elapsed } => {
            let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
            let f = progress::overall(P::Writing, done as f32 / total.max(1) as f32, WRITE_WEIGHT);
            report.event(Progress::new(Op::Install, P::Writing).bytes(done, total).rate(rate).fraction(f));
        }
        Stage::ReadingBack { done, total } => {
            if done == 0 {
                report.step(P::Verifying, WRITE_WEIGHT, "reading the slot back to verify it");
            }
            let f = progress::overall(P::Verifying, done as f32 / total.max(1) as f32, WRITE_WEIGHT);
            report.event(Progress::new(Op::Install, P::Verifying).bytes(done, total).fraction(f));
        }
        Stage::Switching => report.step(P::Switching, 1.0, "switching the next boot to the new slot"),
        Stage::Reused { chunks, of, fetch_bytes } => report.step(
            P::Writing,
            0.0,
            &format!(
                "{chunks} of {of} chunks are on this device already; downloading {:.1} MiB",
                fetch_bytes as f64 / 1048576.0
            ),
        ),
        Stage::At(c) => pause_at(c, &pause),
        Stage::Done => {}
    };
    let done = if head.is_some() {
        updater::install_partial(&mut up, &name, &mut open_bundle, &mut frames, &opts, &mut progress)?
    } else {
        install(&mut up, &name, &mut open_bundle, &opts, &mut progress)?
    };
    report.done(&format!(
        "installed {} into slot {} ({:.1} MiB in {:.1} s, {:.1} MiB/s); reboot to start it",
        done.version,
        done.slot,
        done.bytes as f64 / 1048576.0,
        done.seconds,
        done.bytes as f64 / 1048576.0 / done.seconds.max(0.001)
    ));
    Ok(done)
}

/// Opens a bundle with its cached pages dropped, so each of the installer's
/// passes reads (and checks) what the medium holds now; a stick pulled out
/// meanwhile makes the read fail instead of being served from memory.
fn open_uncached(path: &Path) -> std::io::Result<std::io::BufReader<std::fs::File>> {
    use std::os::fd::AsRawFd;
    // A link is not followed: an unattended install from a stick reads
    // only what the stick holds.
    let f = updater::usb::open_nofollow(path)?;
    // SAFETY: advice on our own open descriptor; failure only costs speed.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}
