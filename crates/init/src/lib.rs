//! Quill's PID 1.
//!
//! Boot sequence: early mounts → logging → modules (board list + coldplug)
//! → hostname from the first MAC → DATA mounted at /data → services →
//! `quill: ready ...` on the console → supervise (reap, restart, shut down
//! on signals). A fatal error opens an emergency shell instead of a panic.

mod checks;
mod coldplug;
mod data;
mod datagrow;
mod health;
mod hostname;
mod hotplug;
mod logger;
mod modprobe;
mod modules;
mod services;
mod supervise;
mod system;
mod usb;
mod usb_helper;

use bootid::{BootArgs, Release};
use log::{error, info, warn};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the image build puts init's own files.
pub const ETC: &str = "/etc/quill";

pub fn main() {
    let argv: Vec<String> = std::env::args().collect();
    // The kernel's request_module runs /sbin/modprobe, which is this binary.
    if argv.first().is_some_and(|a| a.rsplit('/').next() == Some("modprobe")) {
        modprobe::run(&argv[1..]);
    }
    if argv.get(1).map(String::as_str) == Some("usb-helper") {
        logger::InitLogger::install();
        usb_helper::run(&argv[2..]);
    }
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

    let args = BootArgs::read(Path::new("/"));
    let release = Release::read(Path::new("/")).unwrap_or_else(|| Release::parse(""));
    let slot = args.slot.map(|s| s.letter().to_string()).unwrap_or_else(|| "?".into());
    info!("Quill {} ({}), booted from slot {}", release.version, release.board, slot.to_uppercase());

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
    supervise::start_due(&mut states, now);
    // The early services (the display's UI) draw their first frame beside
    // what ready waits for, on the same CPU: until ready they yield part
    // of it (nice 5; back to 0 at ready, every thread).
    let early: Vec<i32> = states.iter().filter_map(|s| s.pid).collect();
    system::renice(&early, 5);

    // Listen before the coldplug scan, so no device slips between the two.
    let uevents = hotplug::Socket::open().map_err(|e| warn!("no hotplug events: {e}")).ok();
    // The modules load beside what follows: DATA is mounted as soon as
    // the boot disk is there, not after every driver (an AHCI controller
    // probing empty ports).
    let boot_pci = args.boot_pci.clone();
    let loading = std::thread::spawn(move || coldplug::load_modules(boot_pci));
    let mut loading = Some(loading);
    let mut mods: coldplug::Mods = None;
    let mut scanned = Instant::now();
    let dm = data::mount_data(&args, &mut || {
        // Still no boot disk once the first modules are in: what appeared
        // since asks for more (a USB stick behind its hub), looked for
        // every 100 ms.
        if loading.as_ref().is_some_and(|h| h.is_finished()) {
            mods = loading.take().and_then(|h| h.join().ok()).flatten();
        }
        if scanned.elapsed() < Duration::from_millis(100) {
            return;
        }
        scanned = Instant::now();
        if let Some(m) = mods.as_mut() {
            for n in coldplug::coldplug_sysfs(m, true) {
                info!("loaded {n} while waiting for the boot disk");
            }
        }
    });
    let (data, boot_disk) = (dm.mounted, dm.boot_disk);
    if args.recover {
        recover(logger, data);
    }
    if args.emergency {
        // After DATA: the emergency console asks for the administrator
        // password, which lives there (no DATA: locked).
        system::emergency("quill.emergency=1 on the kernel command line");
    }
    // Did the boot selector fall back from a failed update? (Reported on
    // the console; the updater records it on DATA.) With a second CPU it
    // runs beside the hostname and the `ready` services' start; on one it
    // would share the CPU with their start-up, so it is waited for first.
    // The `checked` services (the updater: they write the slots) start
    // once it is done.
    let mut boot_check = if data {
        apply_settings();
        FwupdateRun::start(&["boot-check"])
    } else {
        None
    };
    let report = |check: Option<FwupdateRun>| {
        for line in check.map(FwupdateRun::lines).unwrap_or_default() {
            logger.console_line(&format!("quill: {}", line.trim_start_matches("fwupdate: ")));
        }
    };
    if system::cpus() == 1 {
        report(boot_check.take());
    }

    // The unit ID is a network card's MAC: wait for a card (or for the
    // loader to finish without one), not for every driver; the rest of
    // the loader's work goes on beside ready.
    let mut unit = bootid::unit_id(Path::new("/sys/class/net"));
    while unit.is_none() && loading.as_ref().is_some_and(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        unit = bootid::unit_id(Path::new("/sys/class/net"));
    }
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
    let start = |states: &mut [services::State], which: services::Start| {
        let now = Instant::now();
        for st in states.iter_mut().filter(|s| s.service.start == which) {
            st.next_start = Some(now);
        }
        supervise::start_due(states, now);
    };
    // While boot-check runs beside them, their start-up yields to it until
    // ready (nice 10, inherited from this thread; back to 0 with the early
    // services at ready).
    let yield_to_check = boot_check.is_some();
    if yield_to_check {
        let _ = system::set_thread_nice(0, 10);
    }
    start(&mut states, services::Start::Ready);
    if yield_to_check {
        let _ = system::set_thread_nice(0, 0);
    }
    report(boot_check);
    start(&mut states, services::Start::Checked);

    // Time-stamped in the kernel log (the bench's init-to-ready figure).
    info!("ready");
    logger.console_line(&format!(
        "quill: ready slot={} version={} unit={} board={} hostname={} data={}",
        slot,
        release.version,
        unit.as_deref().unwrap_or("unknown"),
        release.board,
        host,
        if data { "mounted" } else { "missing" },
    ));
    // The early services (the display's UI) wait for this verdict; told
    // after the services' start, so that the UI's first screen (drawn on
    // this CPU) comes beside the rest of the boot, not before ready.
    let _ = fs::create_dir_all("/run/quill");
    let verdict = if data { "mounted\n".to_string() } else { format!("missing\n{}\n", dm.why.unwrap_or_default()) };
    if let Err(e) = devconfig::write_atomic(Path::new(devconfig::DATA_STATE), verdict.as_bytes()) {
        warn!("{e}");
    }
    let yielding: Vec<i32> =
        states.iter().filter(|s| s.service.start != services::Start::Checked).filter_map(|s| s.pid).collect();
    system::renice(&yielding, 0);
    let checks = checks::Checks {
        data,
        slot: args.slot,
        partuuid: args.slot_partuuid.clone(),
        deadline: Some(Instant::now() + health::SETTLE + Duration::from_millis(500)),
        reboot_at: None,
    };
    // The firmware's "Quill" entry: repaired when missing, wrong or not
    // first (fwupdate leaves it alone when running from a stick). After
    // ready: the firmware's variables are slow to read, and nothing
    // before ready needs them.
    if system::mount_efivars() {
        for line in run_fwupdate(&["boot-entry", "--repair"]) {
            logger.console_line(&format!("quill: {}", line.trim_start_matches("fwupdate: ")));
        }
    }
    let mut watcher = usb::Watcher::new(boot_disk, args.autoupdate);
    usb_coldplug(&mut watcher, logger);
    if let Some(h) = loading.take() {
        mods = h.join().unwrap_or_else(|_| {
            error!("the module loader failed; no more modules load");
            None
        });
        info!("the modules asked for before ready are in");
    }
    // Graphics, input and the rest (the services are running already).
    coldplug::load_rest(&mut mods);
    supervise::supervise(&signals, &mut states, checks, uevents, mods, watcher, logger)
}

/// Puts the saved settings in effect for everything started after this:
/// the time zone (/etc/localtime) and the console's keyboard layout. The
/// Setup Assistant reads and writes the same file.
/// The forgotten-password recovery (`quill.recover=1`, asked for at the
/// boot selector): wipes the settings and the administrator password before
/// any service starts; the slots, the updater's trust state and the boot
/// history stay. The Setup Assistant runs next.
fn recover(logger: &logger::InitLogger, data: bool) {
    if !data {
        logger.console_line("quill: recovery: DATA is not mounted, so nothing was wiped; the device stays locked");
        return;
    }
    match adminlock::factory_reset(Path::new("/data/quill")) {
        Ok(removed) => {
            let what = if removed.is_empty() { "nothing was set".to_string() } else { removed.join(", ") };
            logger.console_line(&format!(
                "quill: recovery: settings and administrator password wiped ({what}); the firmware and its trust \
                 state stay; the Setup Assistant runs"
            ));
        }
        Err(e) => logger.console_line(&format!("quill: recovery failed: {e}; the device stays locked")),
    }
}

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
pub struct UsbHost;

impl usb::Host for UsbHost {
    fn start_helper(&mut self, name: &str, target: &Path, auto: bool) -> std::io::Result<i32> {
        let mut argv = vec!["/init".to_string(), "usb-helper".into(), name.into(), target.display().to_string()];
        if auto {
            argv.push("--auto".into());
        }
        system::spawn_to_console(&argv).map(|p| p as i32)
    }
    fn mounted_as(&mut self, name: &str) -> Option<String> {
        fs::read_to_string(Path::new(usb::MOUNTED_DIR).join(name)).ok()
    }
    fn kill(&mut self, pid: i32) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    fn unmount(&mut self, target: &Path) {
        system::detach(target);
        if let Some(name) = target.file_name() {
            let _ = fs::remove_file(Path::new(usb::MOUNTED_DIR).join(name));
        }
    }
}

/// USB volumes that were there before init listened (sticks plugged in at boot).
fn usb_coldplug(watcher: &mut usb::Watcher, logger: &logger::InitLogger) {
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
            for line in watcher.added(&v, &mut UsbHost, Instant::now()) {
                logger.console_line(&format!("quill: {line}"));
            }
        }
    }
}

/// Runs `fwupdate ARGS`; returns its output lines (errors logged).
pub fn run_fwupdate(args: &[&str]) -> Vec<String> {
    FwupdateRun::start(args).map(FwupdateRun::lines).unwrap_or_default()
}

/// `fwupdate ARGS`, started and not yet waited for.
pub struct FwupdateRun {
    args: String,
    child: std::process::Child,
}

impl FwupdateRun {
    /// `None` (logged) when it cannot start.
    pub fn start(args: &[&str]) -> Option<FwupdateRun> {
        let mut argv = vec!["/usr/bin/fwupdate"];
        argv.extend_from_slice(args);
        match system::start_tool(&argv) {
            Ok(child) => Some(FwupdateRun { args: args.join(" "), child }),
            Err(e) => {
                warn!("running fwupdate {}: {e}", args.join(" "));
                None
            }
        }
    }

    /// Waits for it: its output lines, none when it failed (logged).
    pub fn lines(self) -> Vec<String> {
        match system::tool_output(self.child) {
            Ok((status, text)) => {
                if !status.success() {
                    warn!("fwupdate {}: {}", self.args, text.trim());
                    return Vec::new();
                }
                text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
            }
            Err(e) => {
                warn!("running fwupdate {}: {e}", self.args);
                Vec::new()
            }
        }
    }
}
