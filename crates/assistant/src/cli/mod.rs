//! `quill-setup`: started by init (service `setup` on tty1). Runs the Setup
//! Assistant on first boot and the home screen afterwards, on DRM when a DRM
//! device appears within a short wait, else on fbdev; with no display at
//! all it says so and exits, and the console's login shell runs the text
//! assistant (`quill-setup --text`) instead.
//!
//! `quill-setup --reset` brings the assistant back at the next start.

mod args;
mod console_log;
mod device;
mod jobs;
mod runner;

use crate::catalogue::Lang;
use crate::home::{Home, HomeOutcome};
use crate::{console, timezones, Wizard};
use console_log::{log, CONSOLE_LOG};
use devconfig::{Found, Settings, Store};
use device::{device_info, DeviceSystem};
use runner::Runner;
use std::path::Path;
use std::time::{Duration, Instant};
use ui::display;
use ui::Fonts;

/// Marks that the display runs the assistant (for the console's --if-needed).
pub const UI_ACTIVE: &str = "/run/quill/ui-active";
/// Marks that there is no display: the console asks the questions.
const UI_NONE: &str = "/run/quill/ui-none";

pub fn main() {
    let a = match args::args() {
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
    if a.local {
        std::process::exit(local_setup(&a.data, &store, &mut sys));
    }
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
        let mut w = device::with_found_server(Wizard::new(settings, timezones::system_zones()));
        if adminlock::Lock::read(&a.data).guards() {
            w = w.with_admin_existing();
        }
        match console::run(&mut w, &mut sys, &mut TtyAnswers, &mut std::io::stdout()) {
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
    runner.want_resolution(&settings.display.resolution);
    runner.want_blanking(settings.display.blank_minutes);
    runner.upgrade_display();
    let mut authorized_setup = false;
    loop {
        let lock = adminlock::Lock::read(&a.data);
        let lang = Lang::from_tag(&settings.language);
        if !settings.setup_done {
            // A password set before (a damaged settings file brought the
            // assistant back) is asked for first.
            if lock.guards() && !authorized_setup {
                let mut home = Home::new(lang, device_info());
                home.guarded = true;
                home.ask_password(HomeOutcome::RunSetup);
                if runner.home(home) != HomeOutcome::RunSetup {
                    continue;
                }
            }
            authorized_setup = false;
            let mut wiz = device::with_found_server(Wizard::new(settings.clone(), timezones::system_zones()));
            if lock.guards() {
                wiz = wiz.with_admin_existing();
            }
            if runner.wizard(&mut wiz, &mut sys) {
                settings = wiz.settings();
            }
        }
        let lang = Lang::from_tag(&settings.language);
        let mut home = Home::new(lang, device_info());
        home.guarded = adminlock::Lock::read(&a.data).guards();
        match runner.home(home) {
            // Asked for the password already, when one is set.
            HomeOutcome::RunSetup => {
                settings.setup_done = false;
                authorized_setup = true;
            }
            HomeOutcome::Reboot => power(libc::SIGTERM),
            HomeOutcome::PowerOff => power(libc::SIGUSR2),
            _ => {}
        }
    }
}

/// Answers typed at this terminal; passwords without echo.
struct TtyAnswers;

impl console::Answers for TtyAnswers {
    fn line(&mut self) -> std::io::Result<String> {
        console::Lines(std::io::stdin().lock()).line()
    }
    fn secret(&mut self, prompt: &str, out: &mut dyn std::io::Write) -> std::io::Result<String> {
        adminlock::tty::read_secret(prompt, out)?
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the console input ended"))
    }
}

/// `quill-setup --local`: the local Setup on this terminal, behind the
/// administrator password. Settings that cannot be read are not replaced:
/// it stops, and nothing is written. Returns the exit code.
fn local_setup(data: &Path, store: &Store, sys: &mut DeviceSystem) -> i32 {
    let (settings, found) = match store.load() {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "quill-setup: the settings cannot be read ({e}); nothing was changed. Check DATA, or reset the device"
            );
            return 1;
        }
    };
    if let Found::MovedAside { reason, moved_to } = &found {
        println!(
            "the settings file was damaged ({reason}); it was moved to {}; starting from defaults",
            moved_to.display()
        );
    }
    let lock = adminlock::Lock::read(data);
    if lock.guards() {
        let failures = adminlock::Failures::new(Path::new("/run/quill"));
        let wait = adminlock::delay_after(failures.count());
        if !wait.is_zero() {
            println!("wait {} s after the wrong passwords before", wait.as_secs());
            std::thread::sleep(wait);
        }
        let typed = match console::Answers::secret(&mut TtyAnswers, "Administrator password: ", &mut std::io::stdout())
        {
            Ok(t) => t,
            Err(e) => {
                eprintln!("quill-setup: {e}");
                return 1;
            }
        };
        match lock.verify(&typed) {
            adminlock::Verdict::Right => failures.succeeded(),
            adminlock::Verdict::Wrong => {
                let wait = failures.failed();
                eprintln!("quill-setup: wrong password; the next try waits {} s", wait.as_secs());
                return 3;
            }
            adminlock::Verdict::Unverifiable(why) => {
                eprintln!("quill-setup: the administrator password cannot be checked ({why}); use the recovery console (quill-admin)");
                return 3;
            }
        }
    }
    // On a console the screen's resolution is not changed (no modes).
    let env = localsetup::Env {
        timezones: timezones::system_zones().into_iter().map(|z| z.name).collect(),
        modes: vec![],
        // The UI runs on a screen (its service said so).
        screen: Path::new(UI_ACTIVE).exists(),
        interfaces: net::status::interface_names(Path::new(net::status::RUN_DIR)),
    };
    let lang = localsetup::Lang::from_tag(&settings.language);
    let mut draft = localsetup::Draft::new(settings, env);
    match crate::local::run(&mut draft, lang, sys, &mut TtyAnswers, &mut std::io::stdout()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("quill-setup: {e}");
            1
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
    if bootid::BootArgs::read(Path::new("/")).reset && settings.setup_done {
        log("quill.reset=1: the Setup Assistant runs again");
        settings.setup_done = false;
    }
    settings
}

pub fn layout(name: &str) -> &'static keymap::Layout {
    keymap::Layout::by_name(name).or_else(|| keymap::Layout::by_name("us")).expect("the us layout exists")
}

/// Asks init to reboot (SIGTERM) or power off (SIGUSR2), as busybox does.
fn power(signal: i32) {
    // SAFETY: kill(2) on PID 1 with a valid signal.
    unsafe { libc::kill(1, signal) };
    std::thread::sleep(Duration::from_secs(30));
}

/// Stops the kernel's text console from drawing over the frames (KDSETMODE
/// on our terminal, tty1 when init starts us).
pub fn graphics_mode(on: bool) {
    const KDSETMODE: libc::c_ulong = 0x4B3A;
    // SAFETY: KDSETMODE takes an int mode by value; on a non-console fd it fails harmlessly.
    unsafe { libc::ioctl(0, KDSETMODE as _, if on { 1 } else { 0 } as libc::c_int) };
}
