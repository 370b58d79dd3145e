//! The home screen after setup: what the device is, and what can be done.

use crate::catalogue::{fill, text, Lang, Msg};
use ui::widgets::{BODY, SMALL};
use ui::{Key, Rect, Ui};

/// What the home screen shows about the device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub unit: String,
    pub hostname: String,
    pub addresses: Vec<String>,
    pub version: String,
    pub slot: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Setup,
    Update,
    Terminal,
    Reboot,
    PowerOff,
}

pub const ACTIONS: [Action; 5] = [Action::Setup, Action::Update, Action::Terminal, Action::Reboot, Action::PowerOff];

impl Action {
    fn msg(self) -> Msg {
        match self {
            Action::Setup => Msg::ActionSetup,
            Action::Update => Msg::ActionUpdate,
            Action::Terminal => Msg::ActionTerminal,
            Action::Reboot => Msg::ActionReboot,
            Action::PowerOff => Msg::ActionPowerOff,
        }
    }
}

/// What the home screen asks the runner to do.
#[derive(Debug, PartialEq, Eq)]
pub enum HomeOutcome {
    Stay,
    RunSetup,
    /// Look for an update on USB storage and offer it.
    Update,
    /// Install this bundle (confirmed).
    Install(std::path::PathBuf),
    Reboot,
    PowerOff,
}

/// A message box over the home screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    Info(String),
    Confirm(Action),
    /// Install this bundle? Yes / No.
    ConfirmInstall(std::path::PathBuf),
    /// An install runs: what it says, and how far it got (0..=1).
    Progress(String, f32),
}

pub struct Home {
    pub lang: Lang,
    pub info: DeviceInfo,
    pub selected: usize,
    pub overlay: Option<Overlay>,
    /// In a confirmation: 0 Yes, 1 No.
    pub choice: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HomeHit {
    Action(usize),
    Overlay(usize),
}

impl Home {
    pub fn new(lang: Lang, info: DeviceInfo) -> Home {
        Home { lang, info, selected: 0, overlay: None, choice: 1 }
    }

    fn t(&self, m: Msg) -> &'static str {
        text(self.lang, m)
    }

    pub fn key(&mut self, key: Key) -> HomeOutcome {
        if let Some(o) = self.overlay.clone() {
            return match (o, key) {
                (Overlay::Progress(..), _) => HomeOutcome::Stay,
                (
                    Overlay::Confirm(_) | Overlay::ConfirmInstall(_),
                    Key::Left | Key::Right | Key::Tab | Key::BackTab,
                ) => {
                    self.choice = 1 - self.choice;
                    HomeOutcome::Stay
                }
                (Overlay::Confirm(a), Key::Enter) => self.overlay_button(self.choice, a),
                (Overlay::ConfirmInstall(p), Key::Enter) => self.install_button(self.choice, p),
                (_, Key::Enter | Key::Escape) => {
                    self.overlay = None;
                    HomeOutcome::Stay
                }
                _ => HomeOutcome::Stay,
            };
        }
        match key {
            Key::Up | Key::BackTab => self.selected = (self.selected + ACTIONS.len() - 1) % ACTIONS.len(),
            Key::Down | Key::Tab => self.selected = (self.selected + 1) % ACTIONS.len(),
            Key::Enter => return self.activate(self.selected),
            _ => {}
        }
        HomeOutcome::Stay
    }

    pub fn click(&mut self, hit: HomeHit) -> HomeOutcome {
        match (hit, self.overlay.clone()) {
            (HomeHit::Overlay(i), Some(Overlay::Confirm(a))) => self.overlay_button(i, a),
            (HomeHit::Overlay(i), Some(Overlay::ConfirmInstall(p))) => self.install_button(i, p),
            (HomeHit::Overlay(_), Some(Overlay::Info(_))) => {
                self.overlay = None;
                HomeOutcome::Stay
            }
            (HomeHit::Action(i), None) => {
                self.selected = i;
                self.activate(i)
            }
            _ => HomeOutcome::Stay,
        }
    }

    fn overlay_button(&mut self, i: usize, a: Action) -> HomeOutcome {
        self.overlay = None;
        match (i, a) {
            (0, Action::Reboot) => HomeOutcome::Reboot,
            (0, Action::PowerOff) => HomeOutcome::PowerOff,
            _ => HomeOutcome::Stay,
        }
    }

    fn install_button(&mut self, i: usize, bundle: std::path::PathBuf) -> HomeOutcome {
        self.overlay = None;
        if i == 0 {
            HomeOutcome::Install(bundle)
        } else {
            HomeOutcome::Stay
        }
    }

    /// Offers to install `bundle` (found on USB storage).
    pub fn offer(&mut self, bundle: std::path::PathBuf) {
        self.choice = 1;
        self.overlay = Some(Overlay::ConfirmInstall(bundle));
    }

    /// Shows how far an install got.
    pub fn progress(&mut self, bundle: &str, line: &str, fraction: f32) {
        let head = fill(self.t(Msg::UpdateRunning), &[bundle]);
        self.overlay = Some(Overlay::Progress(format!("{head}\n{line}"), fraction.clamp(0.0, 1.0)));
    }

    /// The result of an install: `Ok(summary)` or `Err(reason)`.
    pub fn finished(&mut self, result: Result<String, String>) {
        let msg = match result {
            Ok(summary) => fill(self.t(Msg::UpdateDone), &[&summary]),
            Err(why) => fill(self.t(Msg::UpdateFailed), &[&why]),
        };
        self.overlay = Some(Overlay::Info(msg));
    }

    fn activate(&mut self, i: usize) -> HomeOutcome {
        match ACTIONS[i] {
            Action::Setup => HomeOutcome::RunSetup,
            Action::Update => HomeOutcome::Update,
            Action::Terminal => {
                self.overlay = Some(Overlay::Info(self.t(Msg::TerminalHint).into()));
                HomeOutcome::Stay
            }
            a @ (Action::Reboot | Action::PowerOff) => {
                self.choice = 1;
                self.overlay = Some(Overlay::Confirm(a));
                HomeOutcome::Stay
            }
        }
    }

    /// Shows a message (the result of an update search, say).
    pub fn inform(&mut self, text: String) {
        self.overlay = Some(Overlay::Info(text));
    }

    pub fn draw(&self, ui: &mut Ui) -> Vec<(Rect, HomeHit)> {
        let t = ui.theme.clone();
        ui.clear();
        let content = ui.title_bar(self.t(Msg::HomeTitle), &self.info.hostname);
        let area = content.inset(t.px(28));
        let none = self.t(Msg::HomeNoAddress).to_string();
        let addresses = if self.info.addresses.is_empty() { none } else { self.info.addresses.join(", ") };
        let firmware =
            format!("Quill {} ({})", self.info.version, fill(self.t(Msg::HomeSlot), &[&self.info.slot.to_uppercase()]));
        let rows = [
            (Msg::HomeUnit, self.info.unit.clone()),
            (Msg::HomeHostname, self.info.hostname.clone()),
            (Msg::HomeAddresses, addresses),
            (Msg::HomeFirmware, firmware),
        ];
        let mut y = area.y;
        for (m, v) in rows {
            ui.label(area.x, y, SMALL, true, t.muted, self.t(m));
            ui.label(area.x + t.px(130), y - t.px(2), BODY, false, t.text, &v);
            y += t.px(26);
        }
        y += t.px(16);
        let mut hits = Vec::new();
        let bw = area.w.min(t.px(400));
        for (i, a) in ACTIONS.iter().enumerate() {
            let r = Rect::new(area.x, y, bw, t.px(34));
            let focused = self.overlay.is_none() && self.selected == i;
            ui.button(r, self.t(a.msg()), focused, true, false);
            hits.push((r, HomeHit::Action(i)));
            y += t.px(44);
        }
        match &self.overlay {
            None => hits,
            Some(Overlay::Info(msg)) => {
                let b = ui.message_box(self.t(Msg::HomeTitle), msg, &["OK"], 0);
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::Confirm(a)) => {
                let q = if *a == Action::Reboot { Msg::ConfirmReboot } else { Msg::ConfirmPowerOff };
                let b = ui.message_box(self.t(a.msg()), self.t(q), &[self.t(Msg::Yes), self.t(Msg::No)], self.choice);
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::ConfirmInstall(p)) => {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let q = fill(self.t(Msg::UpdateConfirm), &[&name]);
                let b =
                    ui.message_box(self.t(Msg::ActionUpdate), &q, &[self.t(Msg::Yes), self.t(Msg::No)], self.choice);
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::Progress(msg, fraction)) => {
                ui.progress_box(self.t(Msg::ActionUpdate), msg, *fraction);
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_and_power_off_ask_first_and_default_to_no() {
        let mut h = Home::new(Lang::En, DeviceInfo::default());
        h.key(Key::Down);
        h.key(Key::Down);
        h.key(Key::Down);
        assert_eq!(ACTIONS[h.selected], Action::Reboot);
        assert_eq!(h.key(Key::Enter), HomeOutcome::Stay);
        assert_eq!(h.overlay, Some(Overlay::Confirm(Action::Reboot)));
        assert_eq!(h.key(Key::Enter), HomeOutcome::Stay, "No is the default");
        assert_eq!(h.overlay, None);
        h.key(Key::Down);
        h.key(Key::Enter);
        h.key(Key::Left);
        assert_eq!(h.key(Key::Enter), HomeOutcome::PowerOff);
    }

    #[test]
    fn an_offered_update_asks_first_and_blocks_input_while_it_runs() {
        let mut h = Home::new(Lang::En, DeviceInfo::default());
        let b = std::path::PathBuf::from("/run/media/sda1/quill-2.0.0.qbundle");
        h.offer(b.clone());
        assert_eq!(h.key(Key::Enter), HomeOutcome::Stay, "No is the default");
        assert_eq!(h.overlay, None);
        h.offer(b.clone());
        h.key(Key::Left);
        assert_eq!(h.key(Key::Enter), HomeOutcome::Install(b.clone()));
        h.offer(b.clone());
        assert_eq!(h.click(HomeHit::Overlay(0)), HomeOutcome::Install(b));
        h.progress("quill-2.0.0.qbundle", "written  50%", 0.5);
        assert_eq!(h.key(Key::Escape), HomeOutcome::Stay);
        assert!(matches!(h.overlay, Some(Overlay::Progress(_, f)) if f == 0.5), "progress cannot be dismissed");
        h.finished(Err("the bundle is signed by an unknown key".into()));
        assert!(
            matches!(h.overlay, Some(Overlay::Info(ref m)) if m.contains("keeps its firmware") && m.contains("unknown key"))
        );
        h.key(Key::Enter);
        assert_eq!(h.overlay, None);
    }

    #[test]
    fn setup_update_and_terminal() {
        let mut h = Home::new(Lang::De, DeviceInfo::default());
        assert_eq!(h.click(HomeHit::Action(0)), HomeOutcome::RunSetup);
        assert_eq!(h.click(HomeHit::Action(1)), HomeOutcome::Update);
        assert_eq!(h.click(HomeHit::Action(2)), HomeOutcome::Stay);
        assert!(matches!(h.overlay, Some(Overlay::Info(ref m)) if m.contains("Strg+Alt+F2")));
        assert_eq!(h.click(HomeHit::Action(0)), HomeOutcome::Stay, "the message box is modal");
        h.key(Key::Escape);
        assert_eq!(h.overlay, None);
    }
}
