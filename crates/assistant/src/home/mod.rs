//! The home screen after setup: what the device is, and what can be done.

use crate::catalogue::{fill, text, Lang, Msg};
use crate::field::Field;
use flash::disks::DiskList;
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
    /// The enrollment with the management server.
    pub management: enroll::State,
    /// Running from removable or USB storage (a UD Pocket): the home screen
    /// offers to install onto the PC's disk.
    pub pocket: bool,
    /// Things an administrator must know (DATA not mounted and why, an
    /// image that trusts the development key), shown under the details.
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The local Setup: every setting.
    LocalSetup,
    Setup,
    Update,
    InstallDisk,
    Terminal,
    Reset,
    Reboot,
    PowerOff,
}

impl Action {
    fn msg(self) -> Msg {
        match self {
            Action::LocalSetup => Msg::ActionLocalSetup,
            Action::Setup => Msg::ActionSetup,
            Action::Update => Msg::ActionUpdate,
            Action::InstallDisk => Msg::ActionInstallDisk,
            Action::Terminal => Msg::ActionTerminal,
            Action::Reset => Msg::ActionReset,
            Action::Reboot => Msg::ActionReboot,
            Action::PowerOff => Msg::ActionPowerOff,
        }
    }
}

/// What the home screen asks the runner to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HomeOutcome {
    Stay,
    /// Check this administrator password; when it is right, go on with
    /// `then` ([`Home::authorized`]), else say so ([`Home::refused`]).
    Authorize {
        password: Secret,
        then: Box<HomeOutcome>,
    },
    /// Open the administrators' terminal (tty2).
    Terminal,
    /// Wipe the settings and the password, then restart.
    FactoryReset,
    RunSetup,
    /// Open the local Setup (every setting).
    OpenSetup,
    /// Look for an update on USB storage and offer it.
    Update,
    /// Install this bundle (confirmed).
    Install(std::path::PathBuf),
    /// Install what the update channel offers (confirmed; the version it
    /// offered when asked).
    InstallNetwork(String),
    /// List the disks this Pocket can install onto (answer with `disks`).
    FindDisks,
    /// Install onto this disk (confirmed), carrying the settings over or not.
    InstallToDisk {
        device: String,
        copy_settings: bool,
    },
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
    /// Install this version from the update channel? Yes / No.
    ConfirmNetwork(String),
    /// Which disk to install onto: (path, label) each, then Cancel.
    ChooseDisk(Vec<(String, String)>),
    /// Erase this disk (path, label) and install? Yes / No.
    ConfirmDisk(String, String),
    /// Copy the stick's settings onto this disk? Yes / No.
    DiskSettings(String),
    /// Work runs: its title, what it says, and how far it got (0..=1).
    Progress(Msg, String, f32),
    /// The administrator password for this, then what to do; a note under
    /// the field (a wrong password, a wait).
    Password(Box<HomeOutcome>, Field, Option<String>),
}

impl Overlay {
    /// Its name for the console log (tests wait for it; never its text,
    /// which may hold a password being typed).
    pub fn name(&self) -> &'static str {
        match self {
            Overlay::Info(_) => "Info",
            Overlay::Confirm(_) => "Confirm",
            Overlay::ConfirmInstall(_) => "ConfirmInstall",
            Overlay::ConfirmNetwork(_) => "ConfirmNetwork",
            Overlay::ChooseDisk(_) => "ChooseDisk",
            Overlay::ConfirmDisk(..) => "ConfirmDisk",
            Overlay::DiskSettings(_) => "DiskSettings",
            Overlay::Progress(..) => "Progress",
            Overlay::Password(..) => "Password",
        }
    }
}

pub struct Home {
    pub lang: Lang,
    pub info: DeviceInfo,
    pub selected: usize,
    pub overlay: Option<Overlay>,
    /// In a confirmation: 0 Yes, 1 No.
    pub choice: usize,
    /// An administrator password guards the protected actions.
    pub guarded: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HomeHit {
    Action(usize),
    Overlay(usize),
}

impl Home {
    pub fn new(lang: Lang, info: DeviceInfo) -> Home {
        Home { lang, info, selected: 0, overlay: None, choice: 1, guarded: false }
    }

    fn t(&self, m: Msg) -> &'static str {
        text(self.lang, m)
    }

    /// The actions on this device, top to bottom.
    pub fn actions(&self) -> Vec<Action> {
        let mut v = vec![Action::Setup, Action::Update];
        if self.info.pocket {
            v.push(Action::InstallDisk);
        }
        v.extend([Action::Terminal, Action::LocalSetup, Action::Reset, Action::Reboot, Action::PowerOff]);
        v
    }

    /// How many buttons the open overlay has.
    fn buttons(&self) -> usize {
        match &self.overlay {
            Some(Overlay::ChooseDisk(d)) => d.len() + 1,
            Some(Overlay::Info(_)) => 1,
            Some(Overlay::Progress(..)) | None => 0,
            Some(Overlay::Password(..)) => 2,
            Some(_) => 2,
        }
    }

    pub fn key(&mut self, key: Key) -> HomeOutcome {
        if let Some(Overlay::Password(..)) = self.overlay {
            return self.password_key(key);
        }
        if self.overlay.is_some() {
            let n = self.buttons();
            return match key {
                _ if n == 0 => HomeOutcome::Stay,
                Key::Right | Key::Down | Key::Tab => {
                    self.choice = (self.choice + 1) % n;
                    HomeOutcome::Stay
                }
                Key::Left | Key::Up | Key::BackTab => {
                    self.choice = (self.choice + n - 1) % n;
                    HomeOutcome::Stay
                }
                Key::Enter => self.answer(self.choice),
                Key::Escape => {
                    self.overlay = None;
                    HomeOutcome::Stay
                }
                _ => HomeOutcome::Stay,
            };
        }
        let n = self.actions().len();
        match key {
            Key::Up | Key::BackTab => self.selected = (self.selected + n - 1) % n,
            Key::Down | Key::Tab => self.selected = (self.selected + 1) % n,
            Key::Enter => return self.activate(self.selected),
            _ => {}
        }
        HomeOutcome::Stay
    }

    pub fn click(&mut self, hit: HomeHit) -> HomeOutcome {
        match hit {
            HomeHit::Overlay(i) if i < self.buttons() => self.answer(i),
            HomeHit::Action(i) if self.overlay.is_none() => {
                self.selected = i;
                self.activate(i)
            }
            _ => HomeOutcome::Stay,
        }
    }

    /// Button `i` of the open overlay was chosen (0 is Yes / the first item).
    fn answer(&mut self, i: usize) -> HomeOutcome {
        let Some(overlay) = self.overlay.take() else { return HomeOutcome::Stay };
        match (overlay, i) {
            (Overlay::Confirm(Action::Reboot), 0) => HomeOutcome::Reboot,
            (Overlay::Confirm(Action::PowerOff), 0) => HomeOutcome::PowerOff,
            (Overlay::Confirm(Action::Reset), 0) => self.guard(HomeOutcome::FactoryReset),
            (Overlay::ConfirmInstall(bundle), 0) => self.guard(HomeOutcome::Install(bundle)),
            (Overlay::ConfirmNetwork(version), 0) => self.guard(HomeOutcome::InstallNetwork(version)),
            (Overlay::Password(then, field, _), 0) => HomeOutcome::Authorize { password: Secret(field.text), then },
            (Overlay::ChooseDisk(disks), i) if i < disks.len() => {
                let (path, label) = disks[i].clone();
                self.confirm_disk(path, label);
                HomeOutcome::Stay
            }
            (Overlay::ConfirmDisk(path, _), 0) => {
                // Copying is the usual wish: Yes first.
                self.choice = 0;
                self.overlay = Some(Overlay::DiskSettings(path));
                HomeOutcome::Stay
            }
            (Overlay::DiskSettings(device), i) => HomeOutcome::InstallToDisk { device, copy_settings: i == 0 },
            (p @ Overlay::Progress(..), _) => {
                self.overlay = Some(p);
                HomeOutcome::Stay
            }
            _ => HomeOutcome::Stay,
        }
    }

    fn confirm_disk(&mut self, path: String, label: String) {
        self.choice = 1;
        self.overlay = Some(Overlay::ConfirmDisk(path, label));
    }

    /// The disks found for installing: asks which (several), confirms (one),
    /// or says why there is none.
    pub fn disks(&mut self, found: Result<DiskList, String>) {
        let list = match found {
            Ok(l) => l,
            Err(why) => return self.inform(fill(self.t(Msg::DiskNone), &[&why])),
        };
        let usable: Vec<(String, String)> =
            list.usable().into_iter().map(|d| (d.path.clone(), d.label.clone())).collect();
        match usable.len() {
            0 => {
                let why: Vec<String> = list
                    .disks
                    .iter()
                    .map(|d| format!("{} ({}): {}", d.path, d.label, d.refusal.as_deref().unwrap_or("")))
                    .collect();
                self.inform(fill(self.t(Msg::DiskNone), &[&why.join("\n")]));
            }
            1 => {
                let (path, label) = usable.into_iter().next().unwrap();
                self.confirm_disk(path, label);
            }
            _ => {
                self.choice = 0;
                self.overlay = Some(Overlay::ChooseDisk(usable));
            }
        }
    }

    /// Shows how far the install onto `device` got.
    pub fn disk_progress(&mut self, device: &str, line: &str, fraction: f32) {
        let head = fill(self.t(Msg::DiskRunning), &[device]);
        self.overlay =
            Some(Overlay::Progress(Msg::ActionInstallDisk, format!("{head}\n{line}"), fraction.clamp(0.0, 1.0)));
    }

    /// The result of installing onto `device`: `Ok(())` or `Err(reason)`.
    pub fn disk_finished(&mut self, device: &str, result: Result<(), String>) {
        let msg = match result {
            Ok(()) => fill(self.t(Msg::DiskDone), &[device]),
            Err(why) => fill(self.t(Msg::DiskFailed), &[device, &why]),
        };
        self.overlay = Some(Overlay::Info(msg));
    }

    /// Offers to install `bundle` (found on USB storage).
    pub fn offer(&mut self, bundle: std::path::PathBuf) {
        self.choice = 1;
        self.overlay = Some(Overlay::ConfirmInstall(bundle));
    }

    /// Offers to install `version`, which the update channel offers.
    pub fn offer_network(&mut self, version: &str) {
        self.choice = 1;
        self.overlay = Some(Overlay::ConfirmNetwork(version.to_string()));
    }

    /// Shows how far an install got.
    pub fn progress(&mut self, bundle: &str, line: &str, fraction: f32) {
        let head = fill(self.t(Msg::UpdateRunning), &[bundle]);
        self.overlay = Some(Overlay::Progress(Msg::ActionUpdate, format!("{head}\n{line}"), fraction.clamp(0.0, 1.0)));
    }

    /// Shows how far an install from the network got.
    pub fn net_progress(&mut self, version: &str, line: &str, fraction: f32) {
        let head = fill(self.t(Msg::UpdateNetRunning), &[version]);
        self.overlay =
            Some(Overlay::Progress(Msg::UpdateNetTitle, format!("{head}\n{line}"), fraction.clamp(0.0, 1.0)));
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
        let Some(&action) = self.actions().get(i) else { return HomeOutcome::Stay };
        match action {
            Action::LocalSetup => self.guard(HomeOutcome::OpenSetup),
            Action::Setup => self.guard(HomeOutcome::RunSetup),
            Action::Update => HomeOutcome::Update,
            Action::InstallDisk => self.guard(HomeOutcome::FindDisks),
            Action::Terminal => self.guard(HomeOutcome::Terminal),
            a @ (Action::Reset | Action::Reboot | Action::PowerOff) => {
                self.choice = 1;
                self.overlay = Some(Overlay::Confirm(a));
                HomeOutcome::Stay
            }
        }
    }

    /// Ctrl+Alt+S: the local Setup, behind the password (over whatever
    /// box is open, which is closed; not while work runs).
    pub fn open_setup(&mut self) -> HomeOutcome {
        if matches!(self.overlay, Some(Overlay::Progress(..))) {
            return HomeOutcome::Stay;
        }
        self.overlay = None;
        self.guard(HomeOutcome::OpenSetup)
    }

    /// Shows a message (the result of an update search, say).
    pub fn inform(&mut self, text: String) {
        self.overlay = Some(Overlay::Info(text));
    }

    fn management_text(&self) -> String {
        match &self.info.management {
            enroll::State::NotEnrolled => self.t(Msg::HomeNotEnrolled).into(),
            enroll::State::Enrolled { address, until } => {
                fill(self.t(Msg::HomeEnrolled), &[address, &enroll::date(*until)])
            }
            enroll::State::RenewalFailed { reason, .. } => fill(self.t(Msg::HomeRenewalFailed), &[reason]),
            enroll::State::Unreadable(reason) => fill(self.t(Msg::HomeEnrollmentUnreadable), &[reason]),
        }
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
            (Msg::HomeManagement, self.management_text()),
        ];
        let mut y = area.y;
        for (m, v) in rows {
            ui.label(area.x, y, SMALL, true, t.muted, self.t(m));
            ui.label(area.x + t.px(130), y - t.px(2), BODY, false, t.text, &v);
            y += t.px(26);
        }
        for w in &self.info.warnings {
            // Wrapped: a warning is a sentence, and must be read whole.
            y += ui.paragraph(Rect::new(area.x, y, area.w, t.px(60)), SMALL, t.error, w).max(t.px(22));
        }
        y += t.px(16);
        let mut hits = Vec::new();
        // One column of buttons while they fit below the facts, else more
        // (a UD Pocket with warnings at 1024x768 has eight actions).
        let actions = self.actions();
        let (step, gap) = (t.px(44), t.px(16));
        let fit = ((area.y + area.h - y + step - t.px(34)) / step).max(1) as usize;
        let cols = actions.len().div_ceil(fit).clamp(1, 3);
        let rows = actions.len().div_ceil(cols);
        let bw = ((area.w - gap * (cols as i32 - 1)) / cols as i32).min(t.px(400));
        for (i, a) in actions.iter().enumerate() {
            let (col, row) = ((i / rows) as i32, (i % rows) as i32);
            let r = Rect::new(area.x + col * (bw + gap), y + row * step, bw, t.px(34));
            let focused = self.overlay.is_none() && self.selected == i;
            ui.button(r, self.t(a.msg()), focused, true, false);
            hits.push((r, HomeHit::Action(i)));
        }
        match &self.overlay {
            None => hits,
            Some(Overlay::Password(..)) => self.draw_password(ui),
            Some(Overlay::Info(msg)) => {
                let b = ui.message_box(self.t(Msg::HomeTitle), msg, &["OK"], 0);
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::Confirm(a)) => {
                let q = match a {
                    Action::Reboot => Msg::ConfirmReboot,
                    Action::Reset => Msg::ConfirmReset,
                    _ => Msg::ConfirmPowerOff,
                };
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
            Some(Overlay::ConfirmNetwork(version)) => {
                let q = fill(self.t(Msg::UpdateNetConfirm), &[version]);
                let b =
                    ui.message_box(self.t(Msg::UpdateNetTitle), &q, &[self.t(Msg::Yes), self.t(Msg::No)], self.choice);
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::ChooseDisk(disks)) => {
                let labels: Vec<String> = disks.iter().map(|(p, l)| format!("{p}  ·  {l}")).collect();
                let mut items: Vec<&str> = labels.iter().map(String::as_str).collect();
                items.push(self.t(Msg::Cancel));
                let b = ui.choice_box(self.t(Msg::ActionInstallDisk), self.t(Msg::DiskChoose), &items, self.choice);
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::ConfirmDisk(path, label)) => {
                let q = fill(self.t(Msg::DiskConfirm), &[path, label]);
                let b = ui.message_box(
                    self.t(Msg::ActionInstallDisk),
                    &q,
                    &[self.t(Msg::Yes), self.t(Msg::No)],
                    self.choice,
                );
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::DiskSettings(_)) => {
                let b = ui.message_box(
                    self.t(Msg::ActionInstallDisk),
                    self.t(Msg::DiskSettings),
                    &[self.t(Msg::Yes), self.t(Msg::No)],
                    self.choice,
                );
                b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
            }
            Some(Overlay::Progress(title, msg, fraction)) => {
                ui.progress_box(self.t(*title), msg, *fraction);
                Vec::new()
            }
        }
    }
}

pub mod blank;
mod guard;

pub use guard::Secret;

#[cfg(test)]
mod tests;
