//! Quill's PID 1.
//!
//! Boot sequence: early mounts → logging → modules (board list + coldplug)
//! → hostname from the first MAC → DATA mounted at /data → services →
//! `quill: ready ...` on the console → supervise (reap, restart, shut down
//! on signals). A fatal error opens an emergency shell instead of a panic.

mod cmdline;
mod datagrow;
mod health;
mod hostname;
mod hotplug;
mod logger;
mod modules;
mod release;
mod services;
mod system;
mod usb;

use cmdline::BootArgs;
use log::{error, info, warn};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use release::Release;
use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use system::Shutdown;

/// Where the image build puts init's own files.
const ETC: &str = "/etc/quill";

fn main() {
    if std::process::id() != 1 {
        eprintln!("init: this is Quill's PID 1 and only runs as the first process of the system");
        std::process::exit(2);
    }
    std::panic::set_hook(Box::new(|info| system::emergency(&format!("init crashed: {info}"))));
    let logger = logger::InitLogger::install();
    if let Err(e) = system::mount_early() {
        system::emergency(&e);
    }
    logger.reopen();
    let signals = system::handled_signals();
    if let Err(e) = signals.thread_block() {
        system::emergency(&format!("blocking signals: {e}"));
    }
    // ctrl-alt-del becomes SIGINT for us instead of an immediate reset.
    let _ = nix::sys::reboot::set_cad_enabled(false);

    let args = BootArgs::parse(&fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let release = Release::parse(&fs::read_to_string(Path::new(ETC).join("release")).unwrap_or_default());
    let slot = args.slot.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
    info!("Quill {} ({}), booted from slot {}", release.version, release.board, slot.to_uppercase());
    if args.emergency {
        system::emergency("quill.emergency=1 on the kernel command line");
    }

    // The early services start now, before the drivers: the UI shows its
    // first frame on the firmware's framebuffer while the modules load.
    let table = fs::read_to_string(Path::new(ETC).join("services")).unwrap_or_default();
    let services = match services::parse(&table) {
        Ok(s) => s,
        Err(e) => {
            error!("{ETC}/services: {e}; starting no services");
            Vec::new()
        }
    };
    let now = Instant::now();
    let mut states: Vec<services::State> = services
        .into_iter()
        .map(|s| {
            let early = s.start == services::Start::Early;
            let mut st = services::State::new(s, now);
            if !early {
                st.next_start = None;
            }
            st
        })
        .collect();
    start_due(&mut states, now);

    // Listen before the coldplug scan, so no device slips between the two.
    let uevents = hotplug::Socket::open().map_err(|e| warn!("no hotplug events: {e}")).ok();
    let mods = load_modules();
    let unit = hostname::unit_id(Path::new("/sys/class/net"));
    let host = match &unit {
        Some(id) => hostname::hostname_for(id),
        None => {
            warn!("no network interface with a MAC address; using the hostname ITC-UNKNOWN");
            "ITC-UNKNOWN".to_string()
        }
    };
    if let Err(e) = nix::unistd::sethostname(&host) {
        warn!("setting the hostname to {host}: {e}");
    }
    info!("hostname {host}");
    let mut mods = mods;
    let (data, boot_disk) = mount_data(&args, &mut mods);
    if data {
        apply_settings();
        // Did the boot selector fall back from a failed update? (Reported
        // on the console; the updater records it on DATA.)
        for line in run_fwupdate(&["boot-check"]) {
            logger.console_line(&format!("quill: {}", line.trim_start_matches("fwupdate: ")));
        }
    }

    // The early services (the display's UI) wait for this verdict.
    let _ = fs::create_dir_all("/run/quill");
    if let Err(e) =
        devconfig::write_atomic(Path::new(devconfig::DATA_STATE), if data { b"mounted\n" } else { b"missing\n" })
    {
        warn!("{e}");
    }
    let now = Instant::now();
    for st in states.iter_mut().filter(|s| s.service.start == services::Start::Ready) {
        st.next_start = Some(now);
    }
    start_due(&mut states, now);

    logger.console_line(&format!(
        "quill: ready slot={} version={} unit={} board={} hostname={} data={}",
        slot,
        release.version,
        unit.as_deref().unwrap_or("unknown"),
        release.board,
        host,
        if data { "mounted" } else { "missing" },
    ));
    let checks = Checks {
        data,
        slot: args.slot,
        partuuid: args.slot_partuuid.clone(),
        deadline: Some(Instant::now() + health::SETTLE + Duration::from_millis(500)),
        reboot_at: None,
    };
    let mut watcher = usb::Watcher::new(boot_disk, args.autoupdate);
    usb_coldplug(&mut watcher, &mut mods, logger);
    supervise(&signals, &mut states, checks, uevents, mods, watcher, logger)
}

/// Puts the saved settings in effect for everything started after this:
/// the time zone (/etc/localtime) and the console's keyboard layout. The
/// Setup Assistant reads and writes the same file.
fn apply_settings() {
    let store = devconfig::Store::new("/data/quill");
    let settings = match store.load() {
        Ok((s, devconfig::Found::MovedAside { reason, moved_to })) => {
            warn!("settings: {reason}; moved to {}; the Setup Assistant runs again", moved_to.display());
            s
        }
        Ok((s, _)) => s,
        Err(e) => {
            warn!("settings: {e}");
            return;
        }
    };
    if let Err(e) = devconfig::set_localtime(&settings.timezone) {
        warn!("{e}");
    }
    if let Some(layout) = keymap::Layout::by_name(&settings.keyboard) {
        if layout.name != "us" {
            let r = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty0")
                .and_then(|t| keymap::console::apply(&t, layout));
            if let Err(e) = r {
                warn!("console keyboard layout {}: {e}", layout.name);
            }
        }
    }
    info!("settings: language {}, keyboard {}, time zone {}", settings.language, settings.keyboard, settings.timezone);
}

/// The system side of the USB watcher.
struct UsbHost<'a>(&'a mut Mods);

impl usb::Host for UsbHost<'_> {
    fn read_head(&mut self, name: &str) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut head = vec![0u8; 2048];
        fs::File::open(Path::new("/dev").join(name))?.read_exact(&mut head)?;
        Ok(head)
    }
    fn load_fs_module(&mut self, fstype: &str) {
        if let Some(m) = self.0.as_mut() {
            if let Err(e) = m.load(fstype) {
                warn!("usb: {e}");
            }
        }
    }
    fn mount_ro(&mut self, name: &str, fstype: &str, target: &Path) -> Result<(), String> {
        system::mount_ro(&Path::new("/dev").join(name), fstype, target)
    }
    fn unmount(&mut self, target: &Path) {
        system::detach(target)
    }
    fn spawn(&mut self, argv: &[String]) -> std::io::Result<i32> {
        system::spawn_to_console(argv).map(|p| p as i32)
    }
}

/// USB volumes that were there before init listened (sticks plugged in at boot).
fn usb_coldplug(watcher: &mut usb::Watcher, mods: &mut Mods, logger: &logger::InitLogger) {
    let Ok(entries) = fs::read_dir("/sys/class/block") else { return };
    let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let devtype = fs::read_to_string(p.join("uevent"))
            .ok()
            .and_then(|u| u.lines().find_map(|l| l.strip_prefix("DEVTYPE=").map(str::to_string)));
        let Ok(real) = fs::canonicalize(&p) else { continue };
        let devpath = real.to_string_lossy().trim_start_matches("/sys").to_string();
        if let Some(v) = devtype.and_then(|t| usb::Volume::from_devpath(&devpath, &t)) {
            for line in watcher.added(&v, &mut UsbHost(mods)) {
                logger.console_line(&format!("quill: {line}"));
            }
        }
    }
}

/// Runs `fwupdate ARGS`; returns its output lines (errors logged).
fn run_fwupdate(args: &[&str]) -> Vec<String> {
    let mut argv = vec!["/usr/bin/fwupdate"];
    argv.extend_from_slice(args);
    match system::run_tool(&argv) {
        Ok((status, text)) => {
            if !status.success() {
                warn!("fwupdate {}: {}", args.join(" "), text.trim());
                return Vec::new();
            }
            text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
        }
        Err(e) => {
            warn!("running fwupdate {}: {e}", args.join(" "));
            Vec::new()
        }
    }
}

/// The pending health check and, after a failed one, the reboot.
struct Checks {
    data: bool,
    slot: Option<char>,
    partuuid: Option<String>,
    deadline: Option<Instant>,
    reboot_at: Option<Instant>,
}

impl Checks {
    fn next_wakeup(&self) -> Option<Instant> {
        self.deadline.into_iter().chain(self.reboot_at).min()
    }

    fn run(&mut self, states: &[services::State], now: Instant) {
        if self.reboot_at.is_some_and(|t| t <= now) {
            info!("rebooting after the failed health check");
            system::shutdown(Shutdown::Reboot);
        }
        if self.deadline.is_none_or(|t| t > now) {
            return;
        }
        self.deadline = None;
        let test_fail = Path::new(health::TEST_FAIL_FLAG).exists();
        match health::evaluate(self.data, states, now, test_fail) {
            Ok(()) => {
                info!("health check passed");
                for line in run_fwupdate(&["mark-good"]) {
                    info!("{line}");
                }
            }
            Err(why) => {
                error!("health check failed: {why}");
                if self.booted_slot_is_unproven() {
                    error!(
                        "slot {} is unproven: rebooting in {} s so the boot selector counts this try",
                        self.slot.map(|c| c.to_ascii_uppercase()).unwrap_or('?'),
                        health::REBOOT_DELAY.as_secs()
                    );
                    self.reboot_at = Some(now + health::REBOOT_DELAY);
                }
            }
        }
    }

    fn booted_slot_is_unproven(&self) -> bool {
        let Some(part) = self.partuuid.as_deref().and_then(gptedit::Guid::parse) else { return false };
        let Some(disk) =
            bootdisk::find_boot_disk(Path::new("/sys/class/block"), Path::new("/dev"), self.partuuid.as_deref(), None)
        else {
            return false;
        };
        let Ok(file) = fs::File::open(&disk.node) else { return false };
        let Ok(mut d) = gptedit::FileDisk::new(file, disk.block_size) else { return false };
        let Ok(gpt) = gptedit::Gpt::load(&mut d) else { return false };
        gpt.partitions()
            .iter()
            .find(|p| p.unique_guid == part)
            .is_some_and(|p| !abslot::SlotAttr::from_gpt(p.attributes).successful())
    }
}

type Mods = Option<modules::Modules<modules::KernelLoader>>;

/// Modules listed by the board (`/etc/quill/modules`), then coldplug rounds
/// until no new module matches a device.
fn load_modules() -> Mods {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = PathBuf::from("/lib/modules").join(release.trim());
    let index = match modules::ModIndex::load(&dir) {
        Ok(i) => i,
        Err(e) => {
            warn!("no module index in {}: {e}; loading no modules", dir.display());
            return None;
        }
    };
    let mut mods = modules::Modules::new(dir, index, modules::KernelLoader);
    let wanted = fs::read_to_string(Path::new(ETC).join("modules")).unwrap_or_default();
    for name in wanted.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Err(e) = mods.load(name) {
            warn!("{e}");
        }
    }
    for _round in 0..5 {
        if coldplug_sysfs(&mut mods).is_empty() {
            break;
        }
        // Let new buses (USB, virtio) announce their devices.
        std::thread::sleep(Duration::from_millis(100));
    }
    info!("{} modules loaded", mods.loaded().len());
    Some(mods)
}

/// One coldplug round over every device in sysfs: loads the modules that
/// match and are not loaded yet; returns their names (errors are logged).
fn coldplug_sysfs(mods: &mut modules::Modules<modules::KernelLoader>) -> Vec<String> {
    let (newly, errors) = mods.coldplug(&modules::modaliases(Path::new("/sys/devices")));
    for e in errors {
        warn!("{e}");
    }
    newly
}

/// Hotplug: loads the modules a new device needs; USB storage goes to the watcher.
fn handle_uevents(socket: &hotplug::Socket, mods: &mut Mods, watcher: &mut usb::Watcher, logger: &logger::InitLogger) {
    for ev in socket.drain() {
        if ev.action == "remove" && ev.get("SUBSYSTEM") == Some("block") {
            let name = ev.devpath.rsplit('/').next().unwrap_or_default().to_string();
            for line in watcher.removed(&name, &mut UsbHost(mods)) {
                logger.console_line(&format!("quill: {line}"));
            }
            continue;
        }
        if ev.action != "add" {
            continue;
        }
        if let Some(v) = usb::Volume::from_uevent(&ev) {
            for line in watcher.added(&v, &mut UsbHost(mods)) {
                logger.console_line(&format!("quill: {line}"));
            }
            continue;
        }
        if let (Some(alias), Some(m)) = (ev.get("MODALIAS"), mods.as_mut()) {
            let (newly, errors) = m.coldplug(&[alias.to_string()]);
            for n in newly {
                info!("hotplug: loaded {n} for {}", ev.devpath);
            }
            for e in errors {
                warn!("hotplug: {e}");
            }
        }
    }
}

/// Finds the boot disk's DATA partition (waiting up to 10 s for the disk)
/// and mounts it at /data. Returns whether /data is mounted, and the boot
/// disk's name. While it waits, devices that appear load their modules (a
/// USB stick's disk needs sd_mod once usb-storage has found it).
fn mount_data(args: &BootArgs, mods: &mut Mods) -> (bool, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let disk = loop {
        let found = bootdisk::find_boot_disk(
            Path::new("/sys/class/block"),
            Path::new("/dev"),
            args.slot_partuuid.as_deref(),
            args.disk_uuid.as_deref(),
        );
        if found.is_some() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
        if let Some(m) = mods.as_mut() {
            for n in coldplug_sysfs(m) {
                info!("loaded {n} while waiting for the boot disk");
            }
        }
    };
    let Some(disk) = disk else {
        error!("the boot disk was not found (slot PARTUUID {:?}); settings will not be kept", args.slot_partuuid);
        return (false, None);
    };
    let Some(dev) = disk.data else {
        error!("boot disk {} has no DATA partition; settings will not be kept", disk.name);
        return (false, Some(disk.name));
    };
    match system::mount_data(&dev) {
        Ok(()) => {
            info!("DATA {} mounted on /data (boot disk {})", dev.display(), disk.name);
            match datagrow::grow(&dev, Path::new("/data")) {
                Ok(Some((from, to))) => {
                    info!("DATA grown to fill its partition: {} MiB -> {} MiB", from >> 20, to >> 20)
                }
                Ok(None) => {}
                Err(e) => warn!("growing DATA to fill its partition: {e} (it keeps its size)"),
            }
            (true, Some(disk.name))
        }
        Err(e) => {
            error!("{e}; settings will not be kept");
            (false, Some(disk.name))
        }
    }
}

fn start_due(states: &mut [services::State], now: Instant) {
    for st in states.iter_mut().filter(|s| s.due(now)) {
        match system::spawn(&st.service) {
            Ok(pid) => {
                info!("started {} (pid {pid})", st.service.name);
                st.pid = Some(pid as i32);
                st.started = Some(now);
                st.next_start = None;
            }
            Err(e) => {
                error!("starting {} ({}): {e}", st.service.name, st.service.argv[0]);
                st.exited(now);
            }
        }
    }
}

fn supervise(
    signals: &nix::sys::signal::SigSet,
    states: &mut [services::State],
    mut checks: Checks,
    uevents: Option<hotplug::Socket>,
    mut mods: Mods,
    mut watcher: usb::Watcher,
    logger: &logger::InitLogger,
) -> ! {
    let sfd = match SignalFd::with_flags(signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) => system::emergency(&format!("signalfd: {e}")),
    };
    loop {
        let now = Instant::now();
        let wait = states
            .iter()
            .filter_map(|s| s.next_start)
            .chain(checks.next_wakeup())
            .map(|t| t.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(60));
        let timeout = PollTimeout::try_from(wait.as_millis().min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(u) = &uevents {
            fds.push(PollFd::new(u.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, timeout);
        drop(fds);
        if let Some(u) = &uevents {
            handle_uevents(u, &mut mods, &mut watcher, logger);
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else { continue };
            if let Some(kind) = Shutdown::from_signal(sig) {
                info!("{sig} received");
                system::shutdown(kind);
            }
        }
        let now = Instant::now();
        for pid in system::reap() {
            if watcher.reaped(pid) {
                continue;
            }
            if let Some(st) = states.iter_mut().find(|s| s.pid == Some(pid)) {
                st.exited(now);
                match st.next_start {
                    Some(t) => info!(
                        "{} exited; restarting in {} s",
                        st.service.name,
                        t.saturating_duration_since(now).as_secs()
                    ),
                    None => info!("{} exited", st.service.name),
                }
            }
        }
        start_due(states, now);
        checks.run(states, now);
    }
}
