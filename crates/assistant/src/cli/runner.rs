//! The display side of `quill-setup`: the display (efifb first, DRM once
//! its driver has loaded), input, the wizard's loop and the home screen's.

use super::console_log::log;
use super::device::{device_info, firmware_version, usb_bundles, DeviceSystem};
use super::{graphics_mode, layout, UI_ACTIVE};
use crate::catalogue::{text, Msg};
use crate::home::blank::{Blanker, Change};
use crate::home::{DeviceInfo, Home, HomeOutcome};
use crate::{view, Outcome, Wizard};
use std::path::Path;
use std::time::{Duration, Instant};
use ui::display::{self, Display};
use ui::input::{evdev::EvdevInput, Input, InputSource};
use ui::{Canvas, Event, Fonts, Theme, Ui};

mod setup_loop;

pub struct Runner {
    display: Box<dyn Display>,
    pub fonts: Fonts,
    canvas: Canvas,
    theme: Theme,
    pub input: Input,
    source: EvdevInput,
    started: Instant,
    first: bool,
    /// When DRM was last looked for, while on fbdev.
    drm_checked: Option<Instant>,
    /// The hold on tty1, shared with the text consoles (the terminal on tty2).
    _vt: Option<ui::vt::Vt>,
    /// The screen's size when the UI took it (its preferred mode).
    preferred: (u32, u32),
    /// The resolution the settings ask for (`None`: the preferred one).
    wanted: Option<(u32, u32)>,
    /// The home screen blanks after this long without input (`None`: never).
    pub blank_after: Option<Duration>,
    /// Said on the console once the next frame is on the screen.
    after_present: Option<String>,
}

/// What waiting for input gave.
pub enum Wait {
    Input(ui::input::Raw),
    /// The display changed: draw again.
    Redraw,
    Timeout,
}

/// How often the UI looks for a DRM card while it runs on fbdev.
const DRM_POLL: Duration = Duration::from_millis(250);

impl Runner {
    pub fn new(display: Box<dyn Display>, fonts: Fonts, started: Instant) -> Runner {
        let _ = std::fs::write(UI_ACTIVE, display.kind());
        graphics_mode(true);
        let (w, h) = display.size();
        log(&format!("display {} {w}x{h}", display.kind()));
        let vt = ui::vt::Vt::take(0);
        ui::vt::set_drm_fd(display.drm_fd());
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
            _vt: vt,
            preferred: (w, h),
            wanted: None,
            blank_after: None,
            after_present: None,
        }
    }

    /// The settings' resolution (empty: the screen's preferred mode): used
    /// now on DRM, or once DRM takes over from fbdev.
    pub fn want_resolution(&mut self, setting: &str) {
        self.wanted = devconfig::parse_resolution(setting);
        if self.display.kind() == "drm" {
            if let Err(e) = self.resize(self.wanted.unwrap_or(self.preferred)) {
                log(&format!("display resolution {setting}: {e}; the screen keeps its own"));
            }
        }
    }

    /// Switches the screen to `size` (one of its modes) and everything drawn to it.
    pub fn resize(&mut self, size: (u32, u32)) -> Result<(), String> {
        if self.display.size() == size {
            return Ok(());
        }
        self.display.set_mode(size).map_err(|e| e.to_string())?;
        let (w, h) = size;
        log(&format!("display {} {w}x{h}", self.display.kind()));
        self.canvas = Canvas::new(w, h);
        self.theme = Theme::for_size(w, h);
        self.input = Input::new(self.input.layout(), w, h);
        self.after_present = Some(format!("the screen shows {w}x{h}"));
        Ok(())
    }

    /// The settings' blanking: minutes without input (0: never).
    pub fn want_blanking(&mut self, minutes: u32) {
        self.blank_after = (minutes > 0).then(|| Duration::from_secs(u64::from(minutes) * 60));
    }

    /// A black screen until the next input.
    fn blank(&mut self) {
        self.canvas.fill(self.canvas.bounds(), ui::Color::rgb(0, 0, 0));
        self.present();
        log("screen blanked (no input); any key or the mouse wakes it");
    }

    /// The sizes the screen offers (none on fbdev).
    pub fn modes(&self) -> Vec<(u32, u32)> {
        self.display.modes()
    }

    /// The first frame, before the settings are known.
    pub fn starting(&mut self) {
        let version = firmware_version();
        view::starting(&mut Ui { canvas: &mut self.canvas, fonts: &self.fonts, theme: &self.theme }, &version);
        self.present();
    }

    /// Moves from fbdev (the firmware's framebuffer) to DRM once a DRM card
    /// can be opened; true when it did (the caller draws again).
    pub fn upgrade_display(&mut self) -> bool {
        // Not while a text console shows: opening the card would take it.
        if self.display.kind() != "fbdev"
            || !ui::vt::active()
            || self.drm_checked.is_some_and(|t| t.elapsed() < DRM_POLL)
        {
            return false;
        }
        self.drm_checked = Some(Instant::now());
        let Ok(d) = display::drm::DrmDisplay::open_any() else { return false };
        let (w, h) = d.size();
        log(&format!("display drm {w}x{h} (moved from fbdev)"));
        ui::vt::set_drm_fd(d.drm_fd());
        self.display = Box::new(d);
        self.canvas = Canvas::new(w, h);
        self.theme = Theme::for_size(w, h);
        self.input = Input::new(self.input.layout(), w, h);
        self.preferred = (w, h);
        if let Some(size) = self.wanted {
            if let Err(e) = self.resize(size) {
                log(&format!("display resolution {}x{}: {e}; the screen keeps its own", size.0, size.1));
            }
        }
        true
    }

    /// Draws the home screen with the pointer, presents it, returns the hits.
    pub fn draw_home(&mut self, home: &Home) -> Vec<(ui::Rect, crate::home::HomeHit)> {
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
            if !ui::vt::active() {
                // Another console shows (the terminal on tty2): its keys are
                // not ours. Wait for the way back, then draw everything.
                log("console switched away; the screen waits");
                while !ui::vt::active() {
                    let _ = self.source.next(Duration::from_millis(200));
                }
                ui::vt::take_changed();
                // The keys that switched away were let go on the other console.
                self.input.release_modifiers();
                log("console back; drawing again");
                return Wait::Redraw;
            }
            if ui::vt::take_changed() {
                self.input.release_modifiers();
                return Wait::Redraw;
            }
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
        if !ui::vt::active() {
            return;
        }
        if let Err(e) = self.display.present(&self.canvas) {
            log(&format!("presenting a frame: {e}"));
        }
        if self.first {
            self.first = false;
            log(&format!("first frame after {} ms", self.started.elapsed().as_millis()));
        }
        if let Some(line) = self.after_present.take() {
            log(&line);
        }
    }

    /// Runs the wizard; true when it finished (settings saved).
    pub fn wizard(&mut self, w: &mut Wizard, sys: &mut DeviceSystem) -> bool {
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
            if w.gateway == crate::wizard::GatewayState::Checking {
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
                Event::Console(n) => {
                    switch_console(n);
                    Outcome::Continue
                }
                Event::CtrlAltDel => {
                    ctrl_alt_del();
                    Outcome::Continue
                }
                // The Setup Assistant runs: the local Setup comes after it.
                Event::Shortcut(_) => Outcome::Continue,
            };
            self.input.set_layout(layout(w.layout()));
            if outcome == Outcome::Finished {
                log(&format!("setup finished: {}", sys.store.path().display()));
                return true;
            }
        }
    }

    pub fn home(&mut self, mut home: Home) -> HomeOutcome {
        let mut shown = false;
        let mut offered = updater::usb::offered_bundle(Path::new(updater::usb::RUN_DIR));
        // The network's offer is shown once per version.
        let mut net_offered: Option<String> = None;
        let mut shown_overlay = None;
        let mut blanker = Blanker::new(self.blank_after, Instant::now());
        loop {
            blanker.set_after(self.blank_after);
            let hits = if blanker.blanked() { vec![] } else { self.draw_home(&home) };
            // Each box once it is on the screen (tests wait for these lines).
            let overlay = home.overlay.as_ref().map(|o| o.name());
            if overlay != shown_overlay {
                if let Some(name) = overlay {
                    log(&format!("home screen shows {name}"));
                }
                shown_overlay = overlay;
            }
            if !shown {
                shown = true;
                log("home screen");
                // After the first frame: whether this runs from a stick
                // (fwupdate looks at the boot disk) decides one action.
                home.info.pocket = flash::disks::query().map(|l| l.from_removable).unwrap_or(false);
                if home.info.pocket {
                    log("home screen: running from removable storage; installing onto a disk is offered");
                    continue;
                }
            }
            let raw = match self.next(Duration::from_secs(2)) {
                // The input that wakes a blank screen does nothing else.
                Wait::Input(raw) => {
                    if !blanker.input(Instant::now()) {
                        continue;
                    }
                    raw
                }
                Wait::Redraw => continue,
                Wait::Timeout => {
                    let had_box = home.overlay.is_some();
                    // Addresses change (DHCP); refresh now and then. A stick
                    // with an update for this device is offered at once.
                    home.info = DeviceInfo { pocket: home.info.pocket, ..device_info() };
                    if let Some(b) = updater::usb::offered_bundle(Path::new(updater::usb::RUN_DIR)) {
                        if home.overlay.is_none() && offered.as_ref() != Some(&b) {
                            offered = Some(b.clone());
                            home.offer(b);
                        }
                    }
                    if let Some(v) = super::device::network_offer() {
                        if home.overlay.is_none() && net_offered.as_ref() != Some(&v) {
                            log(&format!("home screen: update {v} available from the network"));
                            net_offered = Some(v.clone());
                            home.offer_network(&v);
                        }
                    }
                    let offered = !had_box && home.overlay.is_some();
                    if blanker.tick(Instant::now(), offered) == Some(Change::Blank) {
                        self.blank();
                    }
                    continue;
                }
            };
            // When the input came (or the password was checked): how long
            // the local Setup took to show after what opened it.
            let mut asked = blanker.last_input();
            let mut outcome = match self.input.translate(raw) {
                Some(Event::Console(n)) => {
                    switch_console(n);
                    HomeOutcome::Stay
                }
                Some(Event::CtrlAltDel) => {
                    ctrl_alt_del();
                    HomeOutcome::Stay
                }
                Some(Event::Key(k)) => home.key(k),
                Some(Event::Shortcut(ui::Shortcut::Setup)) => home.open_setup(),
                Some(Event::Click { x, y }) => match hits.iter().rev().find(|(r, _)| r.contains(x, y)) {
                    Some((_, h)) => home.click(*h),
                    None => HomeOutcome::Stay,
                },
                _ => HomeOutcome::Stay,
            };
            if let HomeOutcome::Authorize { password, then } = outcome {
                outcome = self.authorize(&mut home, &password.0, *then);
                asked = Instant::now();
            }
            match outcome {
                HomeOutcome::Stay => {}
                HomeOutcome::OpenSetup => {
                    self.local_setup(home.lang, asked);
                    home.info = DeviceInfo { pocket: home.info.pocket, ..device_info() };
                }
                HomeOutcome::Terminal => open_terminal(&mut home),
                HomeOutcome::FactoryReset => match adminlock::factory_reset(Path::new(DATA)) {
                    Ok(removed) => {
                        log(&format!("factory reset: removed {}; restarting", removed.join(", ")));
                        return HomeOutcome::Reboot;
                    }
                    Err(e) => home.inform(e.to_string()),
                },
                HomeOutcome::Update => match updater::usb::offered_bundle(Path::new(updater::usb::RUN_DIR)) {
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
                HomeOutcome::InstallNetwork(version) => {
                    let result = self.install_network(&mut home, &version);
                    home.finished(result);
                }
                HomeOutcome::FindDisks => {
                    let found = flash::disks::query();
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
                    if let Some(crate::home::Overlay::Info(msg)) = &home.overlay {
                        log(&format!("install-to-disk result shown: {}", msg.replace('\n', " ")));
                    }
                }
                other => return other,
            }
        }
    }

    /// Checks the administrator password typed on the home screen: right,
    /// what it guarded goes on; wrong, the box comes back after a growing
    /// wait; not checkable, only the recovery helps.
    fn authorize(&mut self, home: &mut Home, password: &str, then: HomeOutcome) -> HomeOutcome {
        let failures = adminlock::Failures::new(Path::new(RUN_DIR));
        let wait = adminlock::delay_after(failures.count());
        if !wait.is_zero() {
            // The earlier failures' wait has not passed; nothing is checked.
            std::thread::sleep(wait);
        }
        let what = format!("{then:?}");
        match adminlock::Lock::read(Path::new(DATA)).verify(password) {
            adminlock::Verdict::Right => {
                failures.succeeded();
                log(&format!("administrator password accepted on the screen for {what}"));
                home.authorized(then)
            }
            adminlock::Verdict::Wrong => {
                let wait = failures.failed();
                log(&format!("wrong administrator password on the screen for {what} ({} in a row)", failures.count()));
                home.refused(then, wait.as_secs(), None);
                HomeOutcome::Stay
            }
            adminlock::Verdict::Unverifiable(why) => {
                log(&format!("the administrator password cannot be checked: {why}"));
                home.refused(then, 0, Some(why));
                HomeOutcome::Stay
            }
        }
    }
}

/// The settings folder on DATA.
const DATA: &str = "/data/quill";
const RUN_DIR: &str = "/run/quill";

/// Opens the administrators' terminal: a one-time note for the login on
/// tty2 that the screen has checked the password, then tty2 comes to the front.
fn open_terminal(home: &mut Home) {
    let _ = std::fs::write(Path::new(RUN_DIR).join(adminlock::TTY2_TICKET), format!("{}\n", adminlock::now_secs()));
    match ui::vt::activate(2) {
        Ok(()) => log("terminal opened on tty2"),
        Err(e) => {
            log(&format!("the terminal on tty2 cannot be shown: {e}"));
            home.inform(text(home.lang, Msg::TerminalHint).to_string());
        }
    }
}

/// Ctrl+Alt+Del: what the kernel would have done with the keyboard on
/// (init turns it into SIGINT, a clean reboot).
fn ctrl_alt_del() {
    log("ctrl-alt-del: asking init to reboot");
    // SAFETY: kill(2) on PID 1 with a valid signal.
    unsafe { libc::kill(1, libc::SIGINT) };
}

/// Ctrl+Alt+Fn: shows another console. The login there asks for the
/// password itself (only the Terminal action, which asked already, leaves
/// it a ticket).
fn switch_console(n: u16) {
    match ui::vt::activate(n) {
        Ok(()) => log(&format!("switching to tty{n}")),
        Err(e) => log(&format!("switching to tty{n}: {e}")),
    }
}
