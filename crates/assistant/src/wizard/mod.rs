//! The Setup Assistant's state machine: the steps of IGEL's first-boot
//! assistant, what each key and click does, when Next is allowed and why
//! not. Side effects go through [`System`], so tests run it without a
//! device.

mod admin;
mod gateway;
mod result;

pub use admin::AdminChoice;

use crate::catalogue::{fill, text, Lang, Msg, LANGUAGES};
use crate::field::Field;
use crate::timezones::{filter, Zone};
use crate::validate::{self, Fingerprint};
use devconfig::{Licence, Settings};
use ui::Key;

/// What the assistant does to the device.
pub trait System {
    /// Sets the console's keyboard layout.
    fn set_layout(&mut self, layout: &str);
    /// Makes `zone` the local time zone.
    fn set_timezone(&mut self, zone: &str) -> Result<(), String>;
    /// The local date and time now.
    fn now_local(&mut self) -> ((i32, u32, u32), (u32, u32, u32));
    /// Sets the system clock and the hardware clock to a local date and time.
    fn set_clock_local(&mut self, date: (i32, u32, u32), time: (u32, u32, u32)) -> Result<(), String>;
    /// Enrolls with the management server at `address` (`host:port`) whose
    /// certificate has `fingerprint`, with the one-time password (EST,
    /// crates/enroll), then says hello over mutual TLS; what the device is
    /// enrolled as, and until when.
    fn enroll(&mut self, address: &str, fingerprint: &str, otp: &str) -> Result<Enrolled, enroll::Error>;
    /// Writes the settings (crash-safe).
    fn save(&mut self, settings: &Settings) -> Result<(), String>;
    /// Sets the administrator password, or records that there is none
    /// (crash-safe, before the settings are saved).
    fn save_admin(&mut self, choice: &AdminChoice) -> Result<(), String>;
    /// Makes the network service start over with the saved settings;
    /// `Ok(false)` when none runs (they apply when it starts).
    fn restart_network(&mut self) -> Result<bool, String> {
        Ok(false)
    }
    /// The keyboard layout the consoles have now (read from the kernel);
    /// `None` when it cannot be told.
    fn active_layout(&mut self) -> Option<String> {
        None
    }
    /// Facts for a Setup page (the slots, the enrollment), one per line.
    fn about(&mut self, _info: localsetup::Info) -> Vec<String> {
        vec![]
    }
    /// Does what a Setup page's button does; what it said.
    fn action(&mut self, _action: localsetup::Action) -> Result<String, String> {
        Err("not available here".into())
    }
    /// Restarts the device (after a factory reset).
    fn reboot(&mut self) {}
}

/// A finished enrollment, for the "Connection ready" line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    pub unit_id: String,
    /// `2027-03-01`.
    pub until: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Language,
    Keyboard,
    Timezone,
    DateTime,
    Licence,
    Admin,
    Gateway,
    Finish,
}

/// The text fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldId {
    Try,
    Filter,
    Date,
    Time,
    Address,
    Fingerprint,
    Otp,
    Password,
    Repeat,
}

/// What can have the keyboard focus, in Tab order per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    List,
    Field(FieldId),
    Back,
    Next,
}

/// Where a click landed (the view reports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    Control(Control),
    Row(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayState {
    NotChecked,
    /// The check runs; the view shows it, then the runner calls
    /// [`Wizard::run_gateway_check`].
    Checking,
    /// Enrolled, and the server answered the hello.
    Ready(Enrolled),
    Failed(String),
}

impl GatewayState {
    pub fn is_ready(&self) -> bool {
        matches!(self, GatewayState::Ready(_))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// Settings saved; the home screen comes next.
    Finished,
}

pub struct Wizard {
    pub step: Step,
    pub lang: Lang,
    pub language: usize,
    pub keyboard: usize,
    pub zones: Vec<Zone>,
    zone_filter: Field,
    /// The zones the filter lets through (indexes into `zones`), kept up
    /// to date as the filter changes rather than computed per frame.
    zone_matches: Vec<usize>,
    /// Index into the filtered zones.
    pub zone_selected: usize,
    pub timezone: String,
    pub try_field: Field,
    pub date: Field,
    pub time: Field,
    /// 0: via the gateway, 1: skip.
    pub licence: usize,
    pub address: Field,
    pub fingerprint: Field,
    pub otp: Field,
    /// The administrator step: 0 set a password, 1 none, 2 keep the
    /// current one (only offered when one is set).
    pub admin: usize,
    /// Whether a password was set before this run.
    pub admin_existing: bool,
    pub password: Field,
    pub repeat: Field,
    pub gateway: GatewayState,
    pub focus: usize,
    /// An error to show (a failed save, a clock that could not be set).
    pub error: Option<String>,
    base: Settings,
}

impl Wizard {
    /// A wizard prefilled from `settings` (defaults on a new device, the
    /// current settings when run again).
    pub fn new(settings: Settings, zones: Vec<Zone>) -> Wizard {
        let language = LANGUAGES.iter().position(|(t, _)| *t == settings.language).unwrap_or(0);
        let keyboard = keymap::LAYOUTS.iter().position(|(n, _)| *n == settings.keyboard).unwrap_or(0);
        let timezone = settings.timezone.clone();
        let gw = settings.gateway.clone().unwrap_or_default();
        let mut w = Wizard {
            step: Step::Language,
            lang: Lang::from_tag(LANGUAGES[language].0),
            language,
            keyboard,
            zones,
            zone_filter: Field::default(),
            zone_matches: Vec::new(),
            zone_selected: 0,
            timezone,
            try_field: Field::default(),
            date: Field::default(),
            time: Field::default(),
            licence: if settings.licence == Licence::Skip { 1 } else { 0 },
            address: Field::new(&gw.address),
            fingerprint: Field::new(&if gw.fingerprint.is_empty() {
                String::new()
            } else {
                validate::group_fingerprint(&gw.fingerprint)
            }),
            otp: Field::default(),
            admin: 0,
            admin_existing: false,
            password: Field::default(),
            repeat: Field::default(),
            gateway: GatewayState::NotChecked,
            focus: 0,
            error: None,
            base: settings,
        };
        w.set_zone_filter("");
        w
    }

    pub fn t(&self, m: Msg) -> &'static str {
        text(self.lang, m)
    }

    /// The keyboard layout chosen (applies to typing at once).
    pub fn layout(&self) -> &'static str {
        keymap::LAYOUTS[self.keyboard].0
    }

    /// The steps this run goes through.
    pub fn steps(&self) -> Vec<Step> {
        let mut s = vec![Step::Language, Step::Keyboard, Step::Timezone, Step::DateTime, Step::Licence];
        if self.licence == 0 {
            // The gateway login belongs to the licence choice.
            s.push(Step::Gateway);
        }
        s.extend([Step::Admin, Step::Finish]);
        s
    }

    /// "Step 3 of 7".
    pub fn step_text(&self) -> String {
        let steps = self.steps();
        let n = steps.iter().position(|s| *s == self.step).unwrap_or(0) + 1;
        fill(self.t(Msg::StepOf), &[&n.to_string(), &steps.len().to_string()])
    }

    pub fn title(&self) -> &'static str {
        self.t(match self.step {
            Step::Language => Msg::LanguageTitle,
            Step::Keyboard => Msg::KeyboardTitle,
            Step::Timezone => Msg::TimezoneTitle,
            Step::DateTime => Msg::DateTimeTitle,
            Step::Licence => Msg::LicenceTitle,
            Step::Admin => Msg::AdminTitle,
            Step::Gateway => Msg::GatewayTitle,
            Step::Finish => Msg::FinishTitle,
        })
    }

    /// The focusable controls of the current step, in Tab order.
    pub fn controls(&self) -> Vec<Control> {
        use Control::*;
        let mut c = match self.step {
            Step::Language | Step::Licence => vec![List],
            Step::Keyboard => vec![List, Field(FieldId::Try)],
            Step::Timezone => vec![Field(FieldId::Filter), List],
            Step::DateTime => vec![Field(FieldId::Date), Field(FieldId::Time)],
            Step::Gateway => vec![Field(FieldId::Address), Field(FieldId::Fingerprint), Field(FieldId::Otp)],
            Step::Admin if self.admin == 0 => vec![List, Field(FieldId::Password), Field(FieldId::Repeat)],
            Step::Admin => vec![List],
            Step::Finish => vec![],
        };
        if self.step != Step::Language {
            c.push(Back);
        }
        c.push(Next);
        c
    }

    pub fn focused(&self) -> Control {
        let c = self.controls();
        c[self.focus.min(c.len() - 1)]
    }

    pub fn field(&self, id: FieldId) -> &Field {
        match id {
            FieldId::Try => &self.try_field,
            FieldId::Filter => &self.zone_filter,
            FieldId::Date => &self.date,
            FieldId::Time => &self.time,
            FieldId::Address => &self.address,
            FieldId::Fingerprint => &self.fingerprint,
            FieldId::Otp => &self.otp,
            FieldId::Password => &self.password,
            FieldId::Repeat => &self.repeat,
        }
    }

    fn field_mut(&mut self, id: FieldId) -> &mut Field {
        match id {
            FieldId::Try => &mut self.try_field,
            FieldId::Filter => &mut self.zone_filter,
            FieldId::Date => &mut self.date,
            FieldId::Time => &mut self.time,
            FieldId::Address => &mut self.address,
            FieldId::Fingerprint => &mut self.fingerprint,
            FieldId::Otp => &mut self.otp,
            FieldId::Password => &mut self.password,
            FieldId::Repeat => &mut self.repeat,
        }
    }

    /// The rows of the current step's list.
    pub fn list_items(&self) -> Vec<String> {
        match self.step {
            Step::Language => LANGUAGES.iter().map(|(_, n)| n.to_string()).collect(),
            Step::Keyboard => keymap::LAYOUTS.iter().map(|(n, label)| format!("{label} ({n})")).collect(),
            Step::Timezone => self.filtered_zones().iter().map(|&i| self.zones[i].label()).collect(),
            Step::Licence => vec![self.t(Msg::LicenceGateway).into(), self.t(Msg::LicenceSkip).into()],
            Step::Admin => self.admin_items(),
            _ => vec![],
        }
    }

    pub fn list_selected(&self) -> Option<usize> {
        match self.step {
            Step::Language => Some(self.language),
            Step::Keyboard => Some(self.keyboard),
            Step::Timezone => (!self.filtered_zones().is_empty()).then_some(self.zone_selected),
            Step::Licence => Some(self.licence),
            Step::Admin => Some(self.admin),
            _ => None,
        }
    }

    pub fn filtered_zones(&self) -> &[usize] {
        &self.zone_matches
    }

    /// Sets the time zone filter; the selection goes to the chosen zone when
    /// it still matches, else to the first match.
    pub fn set_zone_filter(&mut self, text: &str) {
        self.zone_filter = Field::new(text);
        self.refilter();
    }

    fn refilter(&mut self) {
        self.zone_matches = filter(&self.zones, &self.zone_filter.text);
        let zones = &self.zones;
        self.zone_selected = self.zone_matches.iter().position(|&i| zones[i].name == self.timezone).unwrap_or(0);
    }

    /// The hint under a field: (text, is_error).
    pub fn field_hint(&self, id: FieldId) -> Option<(String, bool)> {
        match id {
            FieldId::Date if validate::date(&self.date.text).is_none() => Some((self.t(Msg::DateInvalid).into(), true)),
            FieldId::Time if validate::time(&self.time.text).is_none() => Some((self.t(Msg::TimeInvalid).into(), true)),
            FieldId::Address if !self.address.text.is_empty() && validate::address(&self.address.text).is_none() => {
                Some((self.t(Msg::AddressInvalid).into(), true))
            }
            FieldId::Password | FieldId::Repeat => self.admin_hint(id),
            FieldId::Fingerprint => match validate::fingerprint(&self.fingerprint.text) {
                Fingerprint::Complete(_) => None,
                Fingerprint::Partial(n) => Some((fill(self.t(Msg::FingerprintHint), &[&n.to_string()]), false)),
                Fingerprint::Invalid(bad) => Some((fill(self.t(Msg::FingerprintInvalid), &[&bad]), true)),
            },
            _ => None,
        }
    }

    /// Why Next is not allowed now, or None when it is.
    pub fn next_blocker(&self) -> Option<String> {
        match self.step {
            Step::Timezone if self.filtered_zones().is_empty() => Some(self.t(Msg::TimezoneNone).into()),
            Step::DateTime => self.field_hint(FieldId::Date).or(self.field_hint(FieldId::Time)).map(|h| h.0),
            Step::Admin => self.admin_blocker(),
            Step::Gateway => {
                if validate::address(&self.address.text).is_none() {
                    return Some(self.t(Msg::AddressInvalid).into());
                }
                if let Some((h, _)) = self.field_hint(FieldId::Fingerprint) {
                    return Some(h);
                }
                if self.otp.text.trim().is_empty() {
                    return Some(self.t(Msg::OtpEmpty).into());
                }
                (self.gateway == GatewayState::Checking).then(|| self.gateway_status().unwrap_or_default())
            }
            _ => None,
        }
    }

    /// The label of the Next button.
    pub fn next_label(&self) -> &'static str {
        match self.step {
            Step::Finish => self.t(Msg::Finish),
            Step::Gateway if !self.gateway.is_ready() => self.t(Msg::GatewayConnect),
            _ => self.t(Msg::Next),
        }
    }

    /// Handles a key.
    pub fn key(&mut self, key: Key, sys: &mut dyn System) -> Outcome {
        let focused = self.focused();
        match key {
            Key::Tab => self.move_focus(1),
            Key::BackTab => self.move_focus(-1),
            Key::Escape => self.back(),
            Key::Enter if focused == Control::Back => self.back(),
            Key::Enter => return self.next(sys),
            Key::Up | Key::Down | Key::PageUp | Key::PageDown
                if focused == Control::List || focused == Control::Field(FieldId::Filter) =>
            {
                self.move_selection(key, sys)
            }
            Key::Up | Key::Left if matches!(focused, Control::Back | Control::Next) => self.move_focus(-1),
            Key::Down | Key::Right if matches!(focused, Control::Back | Control::Next) => self.move_focus(1),
            Key::Home | Key::End if focused == Control::List => self.move_selection(key, sys),
            k => {
                if let Control::Field(id) = focused {
                    if self.field_mut(id).edit(k) {
                        self.field_changed(id);
                    }
                }
            }
        }
        Outcome::Continue
    }

    /// Handles a click on what the view reported.
    pub fn click(&mut self, hit: Hit, sys: &mut dyn System) -> Outcome {
        match hit {
            Hit::Row(i) => {
                if let Some(p) = self.controls().iter().position(|c| *c == Control::List) {
                    self.focus = p;
                }
                self.select(i, sys);
            }
            Hit::Control(Control::Back) => self.back(),
            Hit::Control(Control::Next) => {
                if self.next_blocker().is_none() {
                    return self.next(sys);
                }
            }
            Hit::Control(c) => {
                if let Some(p) = self.controls().iter().position(|x| *x == c) {
                    self.focus = p;
                }
            }
        }
        Outcome::Continue
    }

    fn move_focus(&mut self, d: i32) {
        let n = self.controls().len() as i32;
        self.focus = ((self.focus.min(n as usize - 1) as i32 + d).rem_euclid(n)) as usize;
    }

    fn move_selection(&mut self, key: Key, sys: &mut dyn System) {
        let n = self.list_items().len();
        if n == 0 {
            return;
        }
        let cur = self.list_selected().unwrap_or(0) as i64;
        let to = match key {
            Key::Up => cur - 1,
            Key::Down => cur + 1,
            Key::PageUp => cur - 8,
            Key::PageDown => cur + 8,
            Key::Home => 0,
            _ => n as i64 - 1,
        };
        self.select(to.clamp(0, n as i64 - 1) as usize, sys);
    }

    fn select(&mut self, i: usize, sys: &mut dyn System) {
        match self.step {
            Step::Language => {
                self.language = i.min(LANGUAGES.len() - 1);
                self.lang = Lang::from_tag(LANGUAGES[self.language].0);
            }
            Step::Keyboard => {
                self.keyboard = i.min(keymap::LAYOUTS.len() - 1);
                // The layout applies at once: to typing here (the runner
                // follows `layout()`) and on the console.
                sys.set_layout(self.layout());
            }
            Step::Timezone => self.zone_selected = i,
            Step::Licence => {
                self.licence = i.min(1);
            }
            Step::Admin => self.admin = i.min(self.admin_items().len() - 1),
            _ => {}
        }
    }

    fn field_changed(&mut self, id: FieldId) {
        match id {
            FieldId::Filter => self.refilter(),
            FieldId::Address | FieldId::Fingerprint => self.gateway = GatewayState::NotChecked,
            _ => {}
        }
        self.error = None;
    }

    /// The first control of the step that is not Back.
    fn initial_focus(&self) -> usize {
        self.controls().iter().position(|c| *c != Control::Back).unwrap_or(0)
    }

    fn enter(&mut self, step: Step, sys: &mut dyn System) {
        self.step = step;
        self.focus = self.initial_focus();
        self.error = None;
        if step == Step::DateTime {
            let ((y, m, d), (hh, mm, _)) = sys.now_local();
            self.date = Field::new(&format!("{y:04}-{m:02}-{d:02}"));
            self.time = Field::new(&format!("{hh:02}:{mm:02}"));
        }
    }

    /// Goes back one step (Esc, Back).
    pub fn back(&mut self) {
        let steps = self.steps();
        if let Some(p) = steps.iter().position(|s| *s == self.step) {
            if p > 0 {
                self.step = steps[p - 1];
                self.focus = self.initial_focus();
                self.error = None;
            }
        }
    }

    /// Goes forward (Enter, Next), doing what the step asks.
    pub fn next(&mut self, sys: &mut dyn System) -> Outcome {
        if self.next_blocker().is_some() {
            return Outcome::Continue;
        }
        match self.step {
            Step::Language => self.enter(Step::Keyboard, sys),
            // The layout was applied when it was selected.
            Step::Keyboard => self.enter(Step::Timezone, sys),
            Step::Timezone => {
                let f = &self.zone_matches;
                let zone = self.zones[f[self.zone_selected.min(f.len() - 1)]].name.clone();
                match sys.set_timezone(&zone) {
                    Ok(()) => {
                        self.timezone = zone;
                        self.enter(Step::DateTime, sys)
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            Step::DateTime => {
                let (Some(d), Some(t)) = (validate::date(&self.date.text), validate::time(&self.time.text)) else {
                    return Outcome::Continue;
                };
                match sys.set_clock_local(d, t) {
                    Ok(()) => self.enter(Step::Licence, sys),
                    Err(e) => self.error = Some(e),
                }
            }
            Step::Licence => self.enter(if self.licence == 0 { Step::Gateway } else { Step::Admin }, sys),
            Step::Admin => self.enter(Step::Finish, sys),
            Step::Gateway => {
                if self.gateway.is_ready() {
                    self.enter(Step::Admin, sys)
                } else {
                    self.gateway = GatewayState::Checking;
                }
            }
            Step::Finish => {
                if let Err(e) = sys.save_admin(&self.admin_choice()) {
                    self.error = Some(fill(self.t(Msg::SaveFailed), &[&e]));
                    return Outcome::Continue;
                }
                let s = self.settings();
                match sys.save(&s) {
                    Ok(()) => return Outcome::Finished,
                    Err(e) => self.error = Some(fill(self.t(Msg::SaveFailed), &[&e])),
                }
            }
        }
        Outcome::Continue
    }
}
