//! The local Setup's loop on the display (opened from the home screen):
//! drawing, input, Apply, the actions, and a new resolution that goes back
//! by itself unless it is kept.

use super::{ctrl_alt_del, switch_console, Runner, Wait, DATA};
use crate::catalogue::{fill, text, Msg};
use crate::cli::console_log::log;
use crate::cli::device::DeviceSystem;
use crate::cli::layout;
use crate::setup::{self, Setup, SetupOutcome};
use crate::System;
use std::path::Path;
use std::time::{Duration, Instant};
use ui::{Event, Ui};

impl Runner {
    /// The local Setup on the display, until it is closed. Settings that
    /// cannot be read are not edited (the home screen says why).
    /// `asked`: when the key (or the password) that opened it came.
    pub(super) fn local_setup(&mut self, lang: crate::catalogue::Lang, asked: Instant) {
        let mut sys = DeviceSystem { store: devconfig::Store::new(Path::new(DATA)) };
        let settings = match sys.store.load() {
            Ok((s, _)) => s,
            Err(e) => {
                log(&format!("local Setup: the settings cannot be read ({e}); nothing is changed"));
                return;
            }
        };
        let modes = self.modes();
        let env = localsetup::Env {
            timezones: crate::timezones::system_zones().into_iter().map(|z| z.name).collect(),
            modes: modes.clone(),
            screen: true,
            interfaces: net::status::interface_names(Path::new(net::status::RUN_DIR)),
        };
        let mut s = Setup::new(lang, localsetup::Draft::new(settings, env));
        let offered: Vec<String> = modes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        let line = if offered.is_empty() {
            "This screen's resolution cannot be changed (no DRM display).".to_string()
        } else {
            format!("{}: {}", text(lang, Msg::SetupModes), offered.join(", "))
        };
        log(&format!("local Setup: {line}"));
        s.info.insert(localsetup::Info::Display, vec![line]);
        let mut first = true;
        // When a key changed the search, for the console line that says
        // how long its answer took to show (`cargo xtask bench --only setup`).
        let mut searched: Option<Instant> = None;
        loop {
            while let Some(what) = s.missing_info() {
                let lines = sys.about(what);
                s.info.insert(what, lines);
            }
            let hits = {
                let mut ui = Ui { canvas: &mut self.canvas, fonts: &self.fonts, theme: &self.theme };
                let hits = setup::view::draw(&s, &mut ui);
                let (x, y) = self.input.pointer();
                ui.pointer(x, y);
                hits
            };
            self.present();
            if first {
                first = false;
                log(&format!("local Setup shown {} ms after the key", asked.elapsed().as_millis()));
            }
            if let Some(t) = searched.take() {
                let n = s.search.text.chars().count();
                log(&format!("local Setup: search of {n} characters shown in {} ms", t.elapsed().as_millis()));
            }
            // A new resolution goes back by itself when nobody keeps it.
            let wait = match &s.keep {
                Some((_, deadline)) => deadline.saturating_duration_since(Instant::now()).min(Duration::from_secs(1)),
                None => Duration::from_secs(3600),
            };
            if s.keep.as_ref().is_some_and(|(_, d)| Instant::now() >= *d) {
                self.revert_resolution(&mut s, &mut sys);
                continue;
            }
            let Wait::Input(raw) = self.next(wait) else { continue };
            let received = Instant::now();
            let outcome = match self.input.translate(raw) {
                Some(Event::Key(k)) => {
                    let before = s.search.text.clone();
                    let o = s.key(k);
                    if s.search.text != before {
                        searched = Some(received);
                    }
                    o
                }
                Some(Event::Click { x, y }) => match hits.iter().rev().find(|(r, _)| r.contains(x, y)) {
                    Some((_, h)) => s.click(*h),
                    None => SetupOutcome::Stay,
                },
                Some(Event::Shortcut(sc)) => {
                    match sc {
                        ui::Shortcut::Find => s.find(),
                        ui::Shortcut::Back => s.go_back(),
                        ui::Shortcut::Forward => s.go_forward(),
                        ui::Shortcut::Up => s.go_up(),
                        ui::Shortcut::Setup => {}
                    }
                    SetupOutcome::Stay
                }
                Some(Event::Console(n)) => {
                    switch_console(n);
                    SetupOutcome::Stay
                }
                Some(Event::CtrlAltDel) => {
                    ctrl_alt_del();
                    SetupOutcome::Stay
                }
                _ => SetupOutcome::Stay,
            };
            match outcome {
                SetupOutcome::Stay => {}
                SetupOutcome::Apply => {
                    let switched = s.apply(&mut sys);
                    log(&format!("local Setup: {}", s.message.as_ref().map_or("", |m| m.0.as_str())));
                    self.input.set_layout(layout(&s.draft.value(localsetup::Field::Keyboard)));
                    self.want_blanking(s.draft.value(localsetup::Field::Blanking).parse().unwrap_or(0));
                    if let Some(res) = switched {
                        let size = devconfig::parse_resolution(&res).unwrap_or(self.preferred);
                        match self.resize(size) {
                            Ok(()) => {
                                log(&format!(
                                    "local Setup: resolution {}x{}; kept only when confirmed",
                                    size.0, size.1
                                ));
                                s.ask_keep(Instant::now() + Duration::from_secs(setup::KEEP_SECS));
                            }
                            Err(e) => {
                                s.ask_keep(Instant::now());
                                self.revert_resolution(&mut s, &mut sys);
                                s.message = Some((e, true));
                            }
                        }
                    }
                }
                SetupOutcome::Revert => self.revert_resolution(&mut s, &mut sys),
                SetupOutcome::Run(action) => {
                    let r = crate::local::run_action(&mut s.draft, &mut sys, action);
                    log(&format!("local Setup: {}: {}", action.key(), r.as_ref().unwrap_or_else(|e| e)));
                    let restart = action.restarts() && r.is_ok();
                    s.ran(r);
                    if restart {
                        // What it said shows while the device goes down.
                        let mut ui = Ui { canvas: &mut self.canvas, fonts: &self.fonts, theme: &self.theme };
                        setup::view::draw(&s, &mut ui);
                        self.present();
                        sys.reboot();
                        return;
                    }
                }
                SetupOutcome::Close => {
                    log("local Setup closed");
                    return;
                }
            }
        }
    }

    /// Goes back to the resolution before the last Apply: the screen, and
    /// the setting (saved again).
    fn revert_resolution(&mut self, s: &mut Setup, sys: &mut DeviceSystem) {
        let Some(before) = s.take_keep() else { return };
        let size = devconfig::parse_resolution(&before).unwrap_or(self.preferred);
        if let Err(e) = self.resize(size) {
            log(&format!("local Setup: going back to {}x{}: {e}", size.0, size.1));
        }
        let _ = s.draft.set(localsetup::Field::Resolution, &before);
        s.apply(sys);
        let shown = if before.is_empty() { format!("{}x{}", size.0, size.1) } else { before };
        log(&format!("local Setup: the resolution went back to {shown}"));
        s.message = Some((fill(text(s.lang, Msg::SetupReverted), &[&shown]), true));
    }
}
