//! `quill-setup`: started by init (service `setup` on tty1). Runs the Setup
//! Assistant on first boot and the home screen afterwards, on DRM when a DRM
//! device appears within a short wait, else on fbdev; with no display at
//! all it says so and exits, and the console's login shell runs the text
//! assistant (`quill-setup --text`) instead.
//!
//! `quill-setup --reset` brings the assistant back at the next start.

use assistant::catalogue::{text, Lang, Msg};
use assistant::gateway::{self, GatewayError};
use assistant::home::{DeviceInfo, Home, HomeOutcome};
use assistant::{console, timezones, view, Outcome, System, Wizard};
use devconfig::{Found, Settings, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ui::display::{self, Display};
use ui::input::{evdev::EvdevInput, Input, InputSource};
use ui::{Canvas, Event, Fonts, Theme, Ui};

const USAGE: &str = "usage: quill-setup [--text] [--if-needed] [--reset] [--data DIR] [--drm-wait-ms N]
  (no option)   the Setup Assistant on first boot, else the home screen, on the display
  --text        the Setup Assistant as questions on this terminal
  --if-needed   with --text: only when setup has not been done and no display runs it
  --reset       bring the Setup Assistant back at the next start (settings are kept)
  --data DIR    where the settings live (default /data/quill)";

/// Marks that the display runs the assistant (for the console's --if-needed).
const UI_ACTIVE: &str = "/run/quill/ui-active";
/// Marks that there is no display: the console asks the questions.
const UI_NONE: &str = "/run/quill/ui-none";

/// A line on the console with the kernel's time stamp, as init writes them
/// (the bench reads the first frame's time from it), and in the kernel log.
fn log(msg: &str) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills ts.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let uptime = ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
    let line = format!("[{uptime:>12.6}] assistant: {msg}\n");
    let open = |p: &str| std::fs::OpenOptions::new().write(true).open(p);
    if open("/dev/console").and_then(|mut f| f.write_all(line.as_bytes())).is_err() {
        eprint!("{line}");
    }
    let _ = open("/dev/kmsg").and_then(|mut f| f.write_all(format!("<6>assistant: {msg}\n").as_bytes()));
}

/// The ui crate's `log` records (input devices found and gone, the
/// display's mode) go to the console like the assistant's own lines, so a
/// keyboard plugged in later shows when it is usable.
struct ConsoleLog;

impl ::log::Log for ConsoleLog {
    fn enabled(&self, m: &::log::Metadata) -> bool {
        m.level() <= ::log::Level::Info
    }
    fn log(&self, r: &::log::Record) {
        if self.enabled(r.metadata()) {
            log(&r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static CONSOLE_LOG: ConsoleLog = ConsoleLog;

struct Args {
    text: bool,
    if_needed: bool,
    reset: bool,
    data: PathBuf,
    drm_wait: Duration,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        text: false,
        if_needed: false,
        reset: false,
        data: "/data/quill".into(),
        drm_wait: Duration::from_millis(300),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--text" => a.text = true,
            "--if-needed" => a.if_needed = true,
            "--reset" => a.reset = true,
            "--data" => a.data = it.next().ok_or("--data needs a directory")?.into(),
            "--drm-wait-ms" => {
                a.drm_wait =
                    Duration::from_millis(it.next().and_then(|v| v.parse().ok()).ok_or("--drm-wait-ms needs a number")?)
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("quill-setup: {e}");
            std::process::exit(2);
        }
    };
    let store = Store::new(&a.data);
    if a.reset {
        match store.reset() {
            Ok(_) => println!("quill-setup: the Setup Assistant runs at the next start ({})", store.path().display()),
            Err(e) => {
                eprintln!("quill-setup: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let mut sys = DeviceSystem { store: store.clone() };
    if a.text {
        let settings = load_settings(&store);
        if a.if_needed {
            if settings.setup_done {
                return;
            }
            // The display service decides first; wait for its verdict.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !Path::new(UI_ACTIVE).exists() && !Path::new(UI_NONE).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if !Path::new(UI_NONE).exists() {
                return;
            }
            println!(
                "quill-setup: this device has no display; the Setup Assistant asks its questions here (b goes back)"
            );
        }
        let mut w = Wizard::new(settings, timezones::system_zones());
        let stdin = std::io::stdin();
        match console::run(&mut w, &mut sys, &mut stdin.lock(), &mut std::io::stdout()) {
            Ok(()) => println!("quill-setup: settings saved in {}", store.path().display()),
            Err(e) => eprintln!("quill-setup: {e}"),
        }
        return;
    }
    let started = Instant::now();
    if ::log::set_logger(&CONSOLE_LOG).is_ok() {
        ::log::set_max_level(::log::LevelFilter::Info);
    }
    let _ = std::fs::create_dir_all("/run/quill");
    // Init starts us before the drivers load: whatever display there is now
    // (the firmware's framebuffer) shows the first frame at once, and the
    // UI moves to DRM when the card's driver has loaded.
    let early = display::open_best(Duration::ZERO);
    let fonts = match Fonts::system() {
        Ok(f) => f,
        Err(e) => {
            log(&format!("{e}"));
            std::process::exit(1);
        }
    };
    let mut runner = match early {
        Some(d) => {
            let mut r = Runner::new(d, fonts, started);
            r.starting();
            Ok(r)
        }
        None => Err(fonts),
    };
    // The settings live on DATA, which init mounts after the drivers; move
    // to DRM meanwhile as soon as its driver has loaded. (Run by hand, not
    // by init, there is nothing to wait for.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while devconfig::data_state().is_none() && std::os::unix::process::parent_id() == 1 && Instant::now() < deadline {
        if let Ok(r) = runner.as_mut() {
            if r.upgrade_display() {
                r.starting();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if devconfig::data_state() == Some(false) {
        log("DATA is not mounted: the settings made now will not be kept");
    }
    let mut settings = load_settings(&store);
    let mut runner = match runner {
        Ok(r) => r,
        Err(fonts) => {
            match display::open_best(a.drm_wait) {
                Some(d) => Runner::new(d, fonts, started),
                None => {
                    log("no display (no DRM device, no /dev/fb0): set the device up on the console with quill-setup --text");
                    let _ = std::fs::write(UI_NONE, "");
                    return;
                }
            }
        }
    };
    runner.input.set_layout(layout(&settings.keyboard));
    runner.upgrade_display();
    loop {
        if !settings.setup_done {
            let mut wiz = Wizard::new(settings.clone(), timezones::system_zones());
            if runner.wizard(&mut wiz, &mut sys) {
                settings = wiz.settings();
            }
        }
        let lang = Lang::from_tag(&settings.language);
        match runner.home(Home::new(lang, device_info())) {
            HomeOutcome::RunSetup => settings.setup_done = false,
            HomeOutcome::Reboot => power(libc::SIGTERM),
            HomeOutcome::PowerOff => power(libc::SIGUSR2),
            _ => {}
        }
    }
}

/// The saved settings; a damaged or unreadable file is reported and the
/// assistant runs again (store.load has moved a damaged file aside).
fn load_settings(store: &Store) -> Settings {
    let (mut settings, found) = match store.load() {
        Ok(x) => x,
        Err(e) => {
            log(&format!("{e}; running the assistant without saved settings"));
            (Settings::default(), Found::New)
        }
    };
    if let Found::MovedAside { reason, moved_to } = &found {
        log(&format!(
            "the settings file was damaged ({reason}); moved to {}; the Setup Assistant runs again",
            moved_to.display()
        ));
    }
    if cmdline_has("quill.reset=1") && settings.setup_done {
        log("quill.reset=1: the Setup Assistant runs again");
        settings.setup_done = false;
    }
    settings
}

fn layout(name: &str) -> &'static keymap::Layout {
    keymap::Layout::by_name(name).or_else(|| keymap::Layout::by_name("us")).expect("the us layout exists")
}

fn cmdline_has(word: &str) -> bool {
    std::fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.split_whitespace().any(|w| w == word))
}

/// Asks init to reboot (SIGTERM) or power off (SIGUSR2), as busybox does.
fn power(signal: i32) {
    // SAFETY: kill(2) on PID 1 with a valid signal.
    unsafe { libc::kill(1, signal) };
    std::thread::sleep(Duration::from_secs(30));
}

/// Stops the kernel's text console from drawing over the frames (KDSETMODE
/// on our terminal, tty1 when init starts us).
fn graphics_mode(on: bool) {
    const KDSETMODE: libc::c_ulong = 0x4B3A;
    // SAFETY: KDSETMODE takes an int mode by value; on a non-console fd it fails harmlessly.
    unsafe { libc::ioctl(0, KDSETMODE as _, if on { 1 } else { 0 } as libc::c_int) };
}

struct Runner {
    display: Box<dyn Display>,
    fonts: Fonts,
    canvas: Canvas,
    theme: Theme,
    input: Input,
    source: EvdevInput,
    started: Instant,
    first: bool,
    /// When DRM was last looked for, while on fbdev.
    drm_checked: Option<Instant>,
}

/// What waiting for input gave.
enum Wait {
    Input(ui::input::Raw),
    /// The display changed: draw again.
    Redraw,
    Timeout,
}

/// How often the UI looks for a DRM card while it runs on fbdev.
const DRM_POLL: Duration = Duration::from_millis(250);

impl Runner {
    fn new(display: Box<dyn Display>, fonts: Fonts, started: Instant) -> Runner {
        let _ = std::fs::write(UI_ACTIVE, display.kind());
        graphics_mode(true);
        let (w, h) = display.size();
        log(&format!("display {} {w}x{h}", display.kind()));
        Runner {
            display,
            fonts,
            canvas: Canvas::new(w, h),
            theme: Theme::for_size(w, h),
            input: Input::new(layout("us"), w, h),
            source: EvdevInput::new(),
            started,
            first: true,
            drm_checked: None,
        }
    }

    /// The first frame, before the settings are known.
    fn starting(&mut self) {
        let version = firmware_version();
        view::starting(&mut Ui { canvas: &mut self.canvas, fonts: &self.fonts, theme: &self.theme }, &version);
        self.present();
    }

    /// Moves from fbdev (the firmware's framebuffer) to DRM once a DRM card
    /// can be opened; true when it did (the caller draws again).
    fn upgrade_display(&mut self) -> bool {
        if self.display.kind() != "fbdev" || self.drm_checked.is_some_and(|t| t.elapsed() < DRM_POLL) {
            return false;
        }
        self.drm_checked = Some(Instant::now());
        let Ok(d) = display::drm::DrmDisplay::open_any() else { return false };
        let (w, h) = d.size();
        log(&format!("display drm {w}x{h} (moved from fbdev)"));
        self.display = Box::new(d);
        self.canvas = Canvas::new(w, h);
        self.theme = Theme::for_size(w, h);
        self.input = Input::new(self.input.layout(), w, h);
        true
    }

    /// Runs `fwupdate install --yes BUNDLE` (the updater's own checks, the
    /// same code as on the console), showing its progress; returns its
    /// summary or why it failed.
    fn install(&mut self, home: &mut Home, bundle: &Path) -> Result<String, String> {
        let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let args = ["install".into(), "--yes".into(), bundle.as_os_str().to_owned()];
        self.fwupdate(home, &args, false, &mut |home, line, fraction| home.progress(&name, line, fraction))
    }

    /// Runs `fwupdate install-to-disk DEVICE --yes --settings copy|fresh`
    /// (the console's command: it erases, writes, reads back, then copies
    /// the settings), showing its progress.
    fn install_to_disk(&mut self, home: &mut Home, device: &str, copy_settings: bool) -> Result<String, String> {
        let settings = if copy_settings { "copy" } else { "fresh" };
        let args = ["install-to-disk".into(), device.into(), "--yes".into(), "--settings".into(), settings.into()];
        self.fwupdate(home, &args, true, &mut |home, line, fraction| home.disk_progress(device, line, fraction))
    }

    /// Runs fwupdate, feeding its progress lines (stderr) to `show` and
    /// redrawing; returns its last stdout line, or its last stderr line
    /// when it fails. `two_phases`: it counts writing, then verifying.
    fn fwupdate(
        &mut self,
        home: &mut Home,
        args: &[std::ffi::OsString],
        two_phases: bool,
        show: &mut dyn FnMut(&mut Home, &str, f32),
    ) -> Result<String, String> {
        use std::io::BufRead;
        log(&format!("running fwupdate {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")));
        let mut child = std::process::Command::new("fwupdate")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("fwupdate: {e}"))?;
        let mut last = String::new();
        let mut fraction = 0.0;
        show(home, "", fraction);
        self.draw_home(home);
        if let Some(err) = child.stderr.take() {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                let line = line.trim_start_matches("fwupdate: ").to_string();
                match progress_fraction(&line, two_phases) {
                    Some(f) => fraction = f,
                    // Steps (not percentages) go to the console log too.
                    None => log(&format!("fwupdate: {line}")),
                }
                show(home, &line, fraction);
                self.draw_home(home);
                last = line;
            }
        }
        let mut out = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = std::io::Read::read_to_string(&mut o, &mut out);
        }
        let status = child.wait().map_err(|e| format!("fwupdate: {e}"))?;
        let summary = out.lines().last().unwrap_or_default().trim_start_matches("fwupdate: ").to_string();
        log(&format!(
            "fwupdate {} ended: {status}: {}",
            args[0].to_string_lossy(),
            if status.success() { &summary } else { &last }
        ));
        if status.success() {
            Ok(summary)
        } else {
            Err(last)
        }
    }

    /// Draws the home screen with the pointer, presents it, returns the hits.
    fn draw_home(&mut self, home: &Home) -> Vec<(ui::Rect, assistant::home::HomeHit)> {
        let mut ui = Ui { canvas: &mut self.canvas, fonts: &self.fonts, theme: &self.theme };
        let hits = home.draw(&mut ui);
        let (x, y) = self.input.pointer();
        ui.pointer(x, y);
        self.present();
        hits
    }

    /// Waits up to `timeout` for input, looking for a DRM card meanwhile
    /// while the UI runs on fbdev.
    fn next(&mut self, timeout: Duration) -> Wait {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Wait::Timeout;
            }
            let slice = if self.display.kind() == "fbdev" { DRM_POLL } else { deadline - now };
            if let Some(raw) = self.source.next(slice.min(deadline - now)) {
                return Wait::Input(raw);
            }
            if self.upgrade_display() {
                return Wait::Redraw;
            }
        }
    }

    fn present(&mut self) {
        if let Err(e) = self.display.present(&self.canvas) {
            log(&format!("presenting a frame: {e}"));
        }
        if self.first {
            self.first = false;
            log(&format!("first frame after {} ms", self.started.elapsed().as_millis()));
        }
    }

    /// Runs the wizard; true when it finished (settings saved).
    fn wizard(&mut self, w: &mut Wizard, sys: &mut DeviceSystem) -> bool {
        let mut shown = None;
        loop {
            let hits = {
                let mut ui = Ui { canvas: &mut self.canvas, fonts: &self.fonts, theme: &self.theme };
                let hits = view::draw(w, &mut ui);
                let (x, y) = self.input.pointer();
                ui.pointer(x, y);
                hits
            };
            self.present();
            if shown != Some(w.step) {
                shown = Some(w.step);
                log(&format!("screen {:?}", w.step));
            }
            if w.gateway == assistant::wizard::GatewayState::Checking {
                w.run_gateway_check(sys);
                continue;
            }
            let Wait::Input(raw) = self.next(Duration::from_secs(3600)) else { continue };
            let Some(ev) = self.input.translate(raw) else { continue };
            let outcome = match ev {
                Event::Key(k) => w.key(k, sys),
                Event::Click { x, y } => match view::hit_at(&hits, x, y) {
                    Some(h) => w.click(h, sys),
                    None => Outcome::Continue,
                },
                Event::PointerMoved { .. } => Outcome::Continue,
            };
            self.input.set_layout(layout(w.layout()));
            if outcome == Outcome::Finished {
                log(&format!("setup finished: {}", sys.store.path().display()));
                return true;
            }
        }
    }

    fn home(&mut self, mut home: Home) -> HomeOutcome {
        let mut shown = false;
        let mut offered = updater::usb::offered_bundle();
        loop {
            let hits = self.draw_home(&home);
            if !shown {
                shown = true;
                log("home screen");
                // After the first frame: whether this runs from a stick
                // (fwupdate looks at the boot disk) decides one action.
                home.info.pocket = updater::disks::query().map(|l| l.from_removable).unwrap_or(false);
                if home.info.pocket {
                    log("home screen: running from removable storage; installing onto a disk is offered");
                    continue;
                }
            }
            let raw = match self.next(Duration::from_secs(2)) {
                Wait::Input(raw) => raw,
                Wait::Redraw => continue,
                Wait::Timeout => {
                    // Addresses change (DHCP); refresh now and then. A stick
                    // with an update for this device is offered at once.
                    home.info = DeviceInfo { pocket: home.info.pocket, ..device_info() };
                    if let Some(b) = updater::usb::offered_bundle() {
                        if home.overlay.is_none() && offered.as_ref() != Some(&b) {
                            offered = Some(b.clone());
                            home.offer(b);
                        }
                    }
                    continue;
                }
            };
            let outcome = match self.input.translate(raw) {
                Some(Event::Key(k)) => home.key(k),
                Some(Event::Click { x, y }) => match hits.iter().rev().find(|(r, _)| r.contains(x, y)) {
                    Some((_, h)) => home.click(*h),
                    None => HomeOutcome::Stay,
                },
                _ => HomeOutcome::Stay,
            };
            match outcome {
                HomeOutcome::Stay => {}
                HomeOutcome::Update => match updater::usb::offered_bundle() {
                    Some(bundle) => home.offer(bundle),
                    None => {
                        let found = usb_bundles();
                        if found.is_empty() {
                            home.inform(text(home.lang, Msg::UpdateNone).to_string());
                        } else {
                            // Bundles, but none for this device or not newer:
                            // the console said why when the stick was mounted.
                            let list: Vec<String> =
                                found.iter().map(|p| format!("fwupdate install {}", p.display())).collect();
                            home.inform(format!("{}\n{}", text(home.lang, Msg::TerminalHint), list.join("\n")));
                        }
                    }
                },
                HomeOutcome::Install(bundle) => {
                    let result = self.install(&mut home, &bundle);
                    home.finished(result);
                }
                HomeOutcome::FindDisks => {
                    let found = updater::disks::query();
                    match &found {
                        Ok(l) => log(&format!(
                            "disks: usable {:?} of {}",
                            l.usable().iter().map(|d| &d.path).collect::<Vec<_>>(),
                            l.disks.len()
                        )),
                        Err(e) => log(&format!("disks: none listed: {e}")),
                    }
                    home.disks(found);
                }
                HomeOutcome::InstallToDisk { device, copy_settings } => {
                    let result = self.install_to_disk(&mut home, &device, copy_settings);
                    home.disk_finished(&device, result.map(|_| ()));
                    self.draw_home(&home);
                    if let Some(assistant::home::Overlay::Info(msg)) = &home.overlay {
                        log(&format!("install-to-disk result shown: {}", msg.replace('\n', " ")));
                    }
                }
                other => return other,
            }
        }
    }
}

/// How far fwupdate got, from one of its progress lines: `written N%` for
/// an install (the read-back is short), `written N%` then `verified N%` for
/// a whole disk.
fn progress_fraction(line: &str, two_phases: bool) -> Option<f32> {
    let pct = |rest: &str| rest.trim().split('%').next()?.trim().parse::<f32>().ok().map(|p| p / 100.0);
    if let Some(p) = line.strip_prefix("verified").and_then(pct) {
        return Some(0.5 + p / 2.0);
    }
    let p = line.strip_prefix("written").and_then(pct)?;
    Some(if two_phases { p / 2.0 } else { p })
}

/// The bundle files on the USB volumes init mounted (the updater's rules).
fn usb_bundles() -> Vec<PathBuf> {
    let mut vols: Vec<PathBuf> =
        std::fs::read_dir("/run/media").into_iter().flatten().flatten().map(|e| e.path()).collect();
    vols.sort();
    vols.iter().flat_map(|v| updater::usb::bundle_files(v)).collect()
}

/// VERSION from /etc/quill/release.
fn firmware_version() -> String {
    let release = std::fs::read_to_string("/etc/quill/release").unwrap_or_default();
    release.lines().find_map(|l| l.strip_prefix("VERSION=")).unwrap_or("?").trim().to_string()
}

fn device_info() -> DeviceInfo {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let version = firmware_version();
    let cmdline = read("/proc/cmdline");
    let slot = cmdline.split_whitespace().find_map(|w| w.strip_prefix("quill.slot=")).unwrap_or("?").to_string();
    let hostname = read("/proc/sys/kernel/hostname");
    let unit = hostname.strip_prefix("ITC").unwrap_or(&hostname).to_string();
    DeviceInfo { unit, hostname, addresses: addresses(), version, slot, pocket: false }
}

/// The IPv4 and IPv6 addresses of the interfaces other than loopback.
fn addresses() -> Vec<String> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and then free.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() {
                let name = std::ffi::CStr::from_ptr((*p).ifa_name).to_string_lossy().into_owned();
                let ip = match (*a).sa_family as i32 {
                    libc::AF_INET => {
                        let s = &*(a as *const libc::sockaddr_in);
                        Some(std::net::IpAddr::from(u32::from_be(s.sin_addr.s_addr).to_be_bytes()))
                    }
                    libc::AF_INET6 => {
                        let s = &*(a as *const libc::sockaddr_in6);
                        Some(std::net::IpAddr::from(s.sin6_addr.s6_addr))
                    }
                    _ => None,
                };
                if let Some(ip) = ip.filter(|ip| !ip.is_loopback()) {
                    out.push(format!("{ip} ({name})"));
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

/// The device side of the assistant.
struct DeviceSystem {
    store: Store,
}

impl System for DeviceSystem {
    fn set_layout(&mut self, name: &str) {
        let l = layout(name);
        match std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty0") {
            Ok(tty) => {
                if let Err(e) = keymap::console::apply(&tty, l) {
                    log(&format!("setting the console layout {name}: {e}"));
                }
            }
            Err(e) => log(&format!("setting the console layout: /dev/tty0: {e}")),
        }
    }

    fn set_timezone(&mut self, zone: &str) -> Result<(), String> {
        let file = devconfig::set_localtime(zone)?;
        std::env::set_var("TZ", file.map_or("UTC0".to_string(), |f| format!(":{}", f.display())));
        extern "C" {
            fn tzset();
        }
        // SAFETY: tzset re-reads TZ; we are single-threaded here.
        unsafe { tzset() };
        log(&format!("time zone {zone}"));
        Ok(())
    }

    fn now_local(&mut self) -> ((i32, u32, u32), (u32, u32, u32)) {
        // SAFETY: time and localtime_r with valid pointers.
        unsafe {
            let t = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&t, &mut tm);
            (
                (tm.tm_year + 1900, tm.tm_mon as u32 + 1, tm.tm_mday as u32),
                (tm.tm_hour as u32, tm.tm_min as u32, tm.tm_sec as u32),
            )
        }
    }

    fn set_clock_local(&mut self, (y, m, d): (i32, u32, u32), (hh, mm, ss): (u32, u32, u32)) -> Result<(), String> {
        // SAFETY: mktime, clock_settime, gmtime_r and the RTC ioctl get
        // valid pointers to initialised structs.
        unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            tm.tm_year = y - 1900;
            tm.tm_mon = m as i32 - 1;
            tm.tm_mday = d as i32;
            tm.tm_hour = hh as i32;
            tm.tm_min = mm as i32;
            tm.tm_sec = ss as i32;
            tm.tm_isdst = -1;
            let t = libc::mktime(&mut tm);
            if t == -1 {
                return Err("the date cannot be represented".into());
            }
            let ts = libc::timespec { tv_sec: t, tv_nsec: 0 };
            if libc::clock_settime(libc::CLOCK_REALTIME, &ts) != 0 {
                return Err(format!("setting the clock: {}", std::io::Error::last_os_error()));
            }
            // The hardware clock keeps UTC.
            let mut utc: libc::tm = std::mem::zeroed();
            libc::gmtime_r(&t, &mut utc);
            match std::fs::File::open("/dev/rtc0") {
                Ok(rtc) => {
                    use std::os::fd::AsRawFd;
                    const RTC_SET_TIME: libc::c_ulong = 0x4024_700a;
                    let fields: [libc::c_int; 9] =
                        [utc.tm_sec, utc.tm_min, utc.tm_hour, utc.tm_mday, utc.tm_mon, utc.tm_year, 0, 0, 0];
                    if libc::ioctl(rtc.as_raw_fd(), RTC_SET_TIME as _, fields.as_ptr()) != 0 {
                        log(&format!("setting the hardware clock: {}", std::io::Error::last_os_error()));
                    } else {
                        log(&format!("clock set to {y:04}-{m:02}-{d:02} {hh:02}:{mm:02} (system and hardware clock)"));
                    }
                }
                Err(_) => log(&format!("clock set to {y:04}-{m:02}-{d:02} {hh:02}:{mm:02} (no hardware clock)")),
            }
        }
        Ok(())
    }

    fn check_gateway(&mut self, host: &str, port: u16, fingerprint: &str) -> Result<(), GatewayError> {
        let r = gateway::check(host, port, fingerprint, Duration::from_secs(10));
        log(&format!(
            "gateway {host}:{port}: {}",
            match &r {
                Ok(()) => "connection ready".to_string(),
                Err(e) => e.to_string(),
            }
        ));
        r
    }

    fn save(&mut self, settings: &Settings) -> Result<(), String> {
        self.store.save(settings).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::progress_fraction;

    #[test]
    fn progress_lines_fill_the_bar_once() {
        assert_eq!(progress_fraction("written  40% (64.0 MiB, 120 MiB/s)", false), Some(0.4));
        assert_eq!(progress_fraction("written  40% (64.0 MiB, 120 MiB/s)", true), Some(0.2));
        assert_eq!(progress_fraction("verified 100% (448.0 MiB)", true), Some(1.0));
        assert_eq!(progress_fraction("reading the slot back to verify it", false), None);
    }
}
