//! The settings being edited: what was typed, the reason at each field that
//! is wrong, and the settings to save once nothing is.

mod enrollment;
mod ethernet;

pub use enrollment::Enrollment;

use crate::{info, Field, Kind, Lang, FIELDS};
use devconfig::Settings;
use std::collections::BTreeMap;

/// What the checks need to know of the device.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// The time zones the device has (its zone data); empty: any name of
    /// the form Area/City or UTC is taken.
    pub timezones: Vec<String>,
    /// The resolutions the screen offers; empty: it cannot be changed
    /// here (no DRM display, or a console).
    pub modes: Vec<(u32, u32)>,
    /// The device has a screen (the UI runs on it): without one, the
    /// consoles are the only way in and cannot be switched off.
    pub screen: bool,
    /// The device's Ethernet interfaces (`eth0`); empty: any name is taken.
    pub interfaces: Vec<String>,
}

/// A local date (year, month, day) and time (hour, minute).
pub type DateTime = ((i32, u32, u32), (u32, u32));

/// When a saved field takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Applied as soon as it is saved.
    AtOnce,
    /// The screen switches to it and asks to keep it; without an answer
    /// it goes back (the front end does both).
    Display,
    /// Read by the network service when it starts: in effect once it has
    /// started over (the front end asks it to).
    Network,
    /// Read when the screens start: in effect at the next restart.
    Restart,
}

pub struct Draft {
    before: Settings,
    settings: Settings,
    env: Env,
    /// Text typed into a field that did not pass its check (shown as typed).
    typed: BTreeMap<Field, String>,
    errors: BTreeMap<Field, String>,
    /// A date and time to set the clock to (not a setting).
    clock: Option<DateTime>,
    /// A new administrator password and its repetition (not a setting).
    password: [String; 2],
    /// The interface the Ethernet page shows (None: all of them).
    iface: Option<String>,
    /// The Management page's server, fingerprint and one-time password.
    mgmt: [String; 3],
}

fn list(items: &[String]) -> String {
    items.join(", ")
}

fn split_list(typed: &str) -> Vec<String> {
    typed.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn on_off(v: bool) -> String {
    if v { "on" } else { "off" }.into()
}

/// `YYYY-MM-DD HH:MM`, a real date from 2020 to 2099.
fn date_time(t: &str) -> Result<DateTime, String> {
    let bad = || format!("{t:?}: write the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 08:30");
    let (date, time) = t.split_once(' ').ok_or_else(bad)?;
    let d: Vec<u32> = date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let tm: Vec<u32> = time.trim().split(':').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let (&[y, mo, day], &[h, mi]) = (d.as_slice(), tm.as_slice()) else { return Err(bad()) };
    if !(2020..=2099).contains(&y) || !(1..=12).contains(&mo) || h > 23 || mi > 59 {
        return Err(bad());
    }
    let y = y as i32;
    // The day after: a day past the month's end comes out in the next one.
    let next = devconfig::civil(devconfig::unix_time((y, mo, 1), (0, 0, 0)) + 31 * 86400).0;
    let days = 31 - (next.2 - 1);
    if day == 0 || day > days {
        return Err(format!("{t:?}: {y:04}-{mo:02} has {days} days"));
    }
    Ok(((y, mo, day), (h, mi)))
}

/// The stored value of choice field `f` that `typed` names (the value, or
/// its label in any language).
pub(crate) fn choice(f: Field, typed: &str) -> Option<&'static str> {
    let Kind::Choice(choices) = info(f).kind else { return None };
    choices
        .iter()
        .find(|(k, label)| *k == typed || label.iter().any(|l| l.eq_ignore_ascii_case(typed)))
        .map(|(k, _)| *k)
}

fn yes(typed: &str) -> Result<bool, String> {
    match typed.trim().to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" | "ja" | "ein" => Ok(true),
        "off" | "no" | "false" | "0" | "nein" | "aus" => Ok(false),
        other => Err(format!("{other:?}: say on or off")),
    }
}

impl Draft {
    pub fn new(settings: Settings, env: Env) -> Draft {
        Draft {
            mgmt: enrollment::from_settings(&settings),
            before: settings.clone(),
            settings,
            env,
            typed: BTreeMap::new(),
            errors: BTreeMap::new(),
            clock: None,
            password: Default::default(),
            iface: None,
        }
    }

    /// The field's current text: what was typed if it was refused, else
    /// the setting's value.
    pub fn value(&self, f: Field) -> String {
        if let Some(t) = self.typed.get(&f) {
            return t.clone();
        }
        let s = &self.settings;
        match f {
            Field::Language => s.language.clone(),
            Field::Keyboard => s.keyboard.clone(),
            Field::Resolution => s.display.resolution.clone(),
            Field::Blanking => s.display.blank_minutes.to_string(),
            Field::NetInterface | Field::NetMode | Field::Address | Field::Gateway | Field::Dns => self.net_value(f),
            Field::MgmtAddress | Field::MgmtFingerprint | Field::MgmtOtp => self.mgmt_value(f),
            Field::Proxy => s.network.proxy.clone(),
            Field::Repository => s.update.repository.clone(),
            Field::Channel => s.update.channel.clone(),
            Field::AutoInstall => on_off(s.update.auto_install),
            Field::Window => s.update.window.clone(),
            Field::Announce => on_off(s.discovery.announce),
            Field::Timezone => s.timezone.clone(),
            Field::NtpServers => list(&s.network.ntp_servers),
            Field::DateTime => self
                .clock
                .map_or(String::new(), |((y, mo, d), (h, mi))| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")),
            Field::UsbStorage => on_off(s.usb.storage),
            Field::UsbOffer => on_off(s.usb.offer_updates),
            Field::UsbAuto => on_off(s.usb.install_without_asking),
            Field::Consoles => on_off(s.security.console),
            Field::NewPassword => self.password[0].clone(),
            Field::RepeatPassword => self.password[1].clone(),
        }
    }

    /// The value as shown in `lang` (a choice's label, else the value).
    pub fn shown(&self, f: Field, lang: Lang) -> String {
        let v = self.value(f);
        match info(f).kind {
            Kind::Choice(c) => c.iter().find(|(k, _)| *k == v).map_or(v, |(_, t)| crate::tr(t, lang).to_string()),
            Kind::Toggle => crate::tr(if v == "on" { &["on", "ein"] } else { &["off", "aus"] }, lang).to_string(),
            _ => v,
        }
    }

    /// The reason the field is wrong, if it is.
    pub fn error(&self, f: Field) -> Option<&str> {
        self.errors.get(&f).map(String::as_str)
    }

    /// Takes what was typed into a field: checked at once; if it is wrong
    /// the reason is kept at the field and the setting keeps its value.
    pub fn set(&mut self, f: Field, typed: &str) -> Result<(), String> {
        match self.apply(f, typed.trim()) {
            Ok(()) => {
                self.typed.remove(&f);
                self.errors.remove(&f);
                Ok(())
            }
            Err(why) => {
                self.typed.insert(f, typed.to_string());
                self.errors.insert(f, why.clone());
                Err(why)
            }
        }
    }

    fn apply(&mut self, f: Field, t: &str) -> Result<(), String> {
        let s = &mut self.settings;
        match f {
            Field::NetInterface | Field::NetMode | Field::Address | Field::Gateway | Field::Dns => {
                return self.net_apply(f, t)
            }
            Field::MgmtAddress | Field::MgmtFingerprint | Field::MgmtOtp => return self.mgmt_apply(f, t),
            Field::Language => {
                let v = choice(f, t).ok_or_else(|| format!("{t:?}: choose one of {}", self.choices(f).join(", ")))?;
                self.settings.language = v.into();
            }
            Field::Keyboard => {
                let l = keymap::Layout::by_name(t).ok_or_else(|| {
                    let names: Vec<&str> = keymap::LAYOUTS.iter().map(|(n, _)| *n).collect();
                    format!("{t:?} is not a layout this device has; choose one of {}", names.join(", "))
                })?;
                s.keyboard = l.name.to_string();
            }
            Field::Resolution => {
                if !t.is_empty() {
                    let size = devconfig::parse_resolution(t)
                        .ok_or_else(|| format!("{t:?}: write the resolution as WIDTHxHEIGHT, e.g. 1280x800"))?;
                    if self.env.modes.is_empty() {
                        return Err("this screen's resolution cannot be changed here (no DRM display)".into());
                    }
                    if !self.env.modes.contains(&size) {
                        let offered: Vec<String> = self.env.modes.iter().map(|(w, h)| format!("{w}x{h}")).collect();
                        return Err(format!("the screen does not offer {t}; it offers {}", offered.join(", ")));
                    }
                }
                s.display.resolution = t.into();
            }
            Field::Blanking => {
                s.display.blank_minutes = t
                    .parse()
                    .ok()
                    .filter(|m| *m <= 240)
                    .ok_or_else(|| format!("{t:?}: minutes from 0 (never) to 240"))?;
            }
            Field::Proxy => {
                let n = devconfig::Network { proxy: t.into(), ..Default::default() };
                net::config::proxy(&n)?;
                s.network.proxy = t.into();
            }
            Field::Repository => {
                if !t.is_empty() {
                    fetch::check_url(t).map_err(|e| e.to_string())?;
                }
                s.update.repository = t.into();
            }
            Field::Channel => {
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                    return Err(format!("{t:?}: a channel name is lowercase letters, digits and -"));
                }
                s.update.channel = t.into();
            }
            Field::AutoInstall => s.update.auto_install = yes(t)?,
            Field::Window => {
                devconfig::Window::parse(t)?;
                s.update.window = t.into();
            }
            Field::Announce => s.discovery.announce = yes(t)?,
            Field::UsbStorage => s.usb.storage = yes(t)?,
            Field::UsbOffer => s.usb.offer_updates = yes(t)?,
            Field::UsbAuto => s.usb.install_without_asking = yes(t)?,
            Field::Consoles => {
                let on = yes(t)?;
                if !on && !self.env.screen {
                    return Err("this device has no screen: the consoles are the only way in and stay on".into());
                }
                s.security.console = on;
            }
            Field::DateTime => self.clock = if t.is_empty() { None } else { Some(date_time(t)?) },
            Field::NewPassword => self.password[0] = t.into(),
            Field::RepeatPassword => self.password[1] = t.into(),
            Field::Timezone => {
                let known = if t == "UTC" {
                    true
                } else if self.env.timezones.is_empty() {
                    t == "UTC" || (t.contains('/') && t.split('/').all(|p| !p.is_empty() && !p.starts_with('.')))
                } else {
                    self.env.timezones.iter().any(|z| z == t)
                };
                if !known {
                    return Err(format!("{t:?} is not a time zone this device knows (e.g. Europe/Berlin, or UTC)"));
                }
                s.timezone = t.into();
            }
            Field::NtpServers => {
                let v = split_list(t);
                if let Some(bad) =
                    v.iter().find(|h| !h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b)))
                {
                    return Err(format!("{bad:?} is not a host name or address"));
                }
                s.network.ntp_servers = v;
            }
        }
        Ok(())
    }

    /// Everything that is wrong, field by field: what was refused as typed,
    /// and what does not hold together (a static address missing, the
    /// gateway outside the subnet). Empty: the draft may be saved.
    pub fn check(&self) -> Vec<(Field, String)> {
        let mut out: Vec<(Field, String)> = self.errors.iter().map(|(f, e)| (*f, e.clone())).collect();
        self.net_check(&mut out);
        let [new, repeat] = &self.password;
        if !new.is_empty() || !repeat.is_empty() {
            match adminlock::check_new(new, repeat) {
                Ok(()) => {}
                Err(e @ adminlock::Error::Differs) => out.push((Field::RepeatPassword, e.to_string())),
                Err(e) => out.push((Field::NewPassword, e.to_string())),
            }
        }
        out.sort_by_key(|(f, _)| FIELDS.iter().position(|i| i.field == *f));
        out
    }

    /// The new administrator password, when one was typed twice alike and
    /// is long enough.
    pub fn new_password(&self) -> Option<&str> {
        let [new, repeat] = &self.password;
        (!new.is_empty() && adminlock::check_new(new, repeat).is_ok()).then_some(new.as_str())
    }

    /// The fields whose setting differs from the one loaded (and the
    /// date and time, when one was given).
    pub fn changed(&self) -> Vec<Field> {
        let before = Draft::new(self.before.clone(), Env::default());
        // The Ethernet fields, as shown for every interface there is.
        let (now, was) = (&self.settings.network.interfaces, &self.before.network.interfaces);
        let views: Vec<Option<String>> =
            std::iter::once(None).chain(now.keys().chain(was.keys()).map(|k| Some(k.clone()))).collect();
        let view =
            |s: &Settings, v: &Option<String>| Draft { iface: v.clone(), ..Draft::new(s.clone(), Env::default()) };
        let net_changed =
            |f: Field| views.iter().any(|v| view(&self.settings, v).value(f) != view(&self.before, v).value(f));
        FIELDS
            .iter()
            .map(|i| i.field)
            .filter(|f| !matches!(f, Field::RepeatPassword | Field::NetInterface) && !crate::ENROLL_FIELDS.contains(f))
            .filter(|f| !self.typed.contains_key(f))
            .filter(|f| if ethernet::VIEWED.contains(f) { net_changed(*f) } else { self.value(*f) != before.value(*f) })
            .collect()
    }

    /// The values a choice field steps through (Left/Right): its fixed
    /// ones, and the interfaces for the interface choice; "same" only for
    /// one interface.
    pub fn choices(&self, f: Field) -> Vec<String> {
        let mut v: Vec<String> = match info(f).kind {
            Kind::Choice(c) => c.iter().map(|(k, _)| k.to_string()).collect(),
            Kind::Toggle => vec!["off".into(), "on".into()],
            _ => vec![],
        };
        match f {
            Field::NetInterface => v.extend(self.interfaces()),
            Field::NetMode if self.iface.is_none() => v.retain(|k| k != "same"),
            _ => {}
        }
        v
    }

    /// The field's value in the settings as loaded or last saved.
    pub fn saved_value(&self, f: Field) -> String {
        Draft::new(self.before.clone(), Env::default()).value(f)
    }

    /// The local date and time to set the clock to, if one was given.
    pub fn clock(&self) -> Option<DateTime> {
        self.clock
    }

    /// The settings to save, or what must be mended first (nothing is
    /// saved then, and the loaded settings stay as they were).
    pub fn to_save(&self) -> Result<Settings, Vec<(Field, String)>> {
        let problems = self.check();
        if problems.is_empty() {
            Ok(self.settings.clone())
        } else {
            Err(problems)
        }
    }

    /// The draft after a save: what was saved is the new starting point
    /// (the clock was set).
    pub fn saved(&mut self) {
        self.before = self.settings.clone();
        self.clock = None;
        self.password = Default::default();
    }
}

/// When a field takes effect once saved.
pub fn effect(f: Field) -> Effect {
    match f {
        // The consoles' layout and the zone are set by the front end; the
        // update, enrollment and discovery services read their settings
        // every time.
        Field::Resolution => Effect::Display,
        Field::Keyboard
        | Field::Blanking
        | Field::Timezone
        | Field::Proxy
        | Field::Repository
        | Field::Channel
        | Field::AutoInstall
        | Field::Window
        | Field::Announce
        | Field::DateTime
        | Field::UsbStorage
        | Field::UsbOffer
        | Field::UsbAuto
        | Field::Consoles
        | Field::NewPassword
        | Field::RepeatPassword
        | Field::MgmtAddress
        | Field::MgmtFingerprint
        | Field::MgmtOtp => Effect::AtOnce,
        Field::NetInterface | Field::NetMode | Field::Address | Field::Gateway | Field::Dns | Field::NtpServers => {
            Effect::Network
        }
        Field::Language => Effect::Restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft::new(Settings::default(), Env::default())
    }

    #[test]
    fn a_static_network_is_checked_as_typed_and_as_a_whole() {
        let mut d = draft();
        d.set(Field::NetMode, "Statisch").unwrap();
        assert_eq!(d.check(), vec![(Field::Address, "a static address is needed, e.g. 192.168.1.20/24".into())]);
        let e = d.set(Field::Address, "192.168.1.300/24").unwrap_err();
        assert!(e.contains("not an IPv4 address"), "{e}");
        assert_eq!(d.value(Field::Address), "192.168.1.300/24", "shown as typed");
        assert_eq!(d.error(Field::Address), Some(e.as_str()));
        assert!(d.set(Field::Address, "192.168.1.20").unwrap_err().contains("prefix"));
        d.set(Field::Address, "192.168.1.20/24").unwrap();
        assert_eq!(d.error(Field::Address), None);
        d.set(Field::Gateway, "10.0.0.1").unwrap();
        let problems = d.check();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, Field::Gateway);
        assert!(problems[0].1.contains("outside the subnet"), "{problems:?}");
        assert!(d.to_save().is_err(), "nothing is saved until it is valid");
        d.set(Field::Gateway, "192.168.1.1").unwrap();
        d.set(Field::Dns, "192.168.1.1, 9.9.9.9").unwrap();
        let s = d.to_save().unwrap();
        assert_eq!(s.network.all.mode, devconfig::AddressMode::Static);
        assert_eq!(s.network.all.dns, ["192.168.1.1", "9.9.9.9"]);
        assert_eq!(d.changed(), [Field::NetMode, Field::Address, Field::Gateway, Field::Dns]);
    }

    #[test]
    fn bad_values_are_explained_and_leave_the_setting() {
        let env = Env {
            timezones: vec!["UTC".into(), "Europe/Berlin".into()],
            modes: vec![(1280, 800), (1024, 768)],
            screen: false,
            ..Env::default()
        };
        let mut d = Draft::new(Settings::default(), env);
        for (f, typed, why) in [
            (Field::Keyboard, "dvorak", "choose one of us, gb, de, ch, fr"),
            (Field::Proxy, "http://", "needs a host"),
            (Field::Proxy, "proxy:3128", "must start with http://"),
            (Field::Repository, "ftp://mirror/", "only http:// and https://"),
            (Field::Repository, "https://u:p@cdn/", "user name or password"),
            (Field::Channel, "Stable!", "lowercase"),
            (Field::Window, "25:00-03:00", ""),
            (Field::AutoInstall, "maybe", "on or off"),
            (Field::Timezone, "Mars/Olympus", ""),
            (Field::Dns, "1.1.1.1, dns.example", "not an IPv4"),
            (Field::NtpServers, "pool.ntp.org, time@server", "not a host name"),
            (Field::Language, "fr", "choose one of en, de"),
            (Field::DateTime, "2026-02-29 10:00", "has 28 days"),
            (Field::DateTime, "2026-12-01 25:00", "YYYY-MM-DD HH:MM"),
            (Field::DateTime, "yesterday", "YYYY-MM-DD HH:MM"),
            (Field::UsbAuto, "sometimes", "on or off"),
            (Field::Resolution, "800x600", "does not offer 800x600; it offers 1280x800, 1024x768"),
            (Field::Resolution, "big", "WIDTHxHEIGHT"),
            (Field::Blanking, "999", "0 (never) to 240"),
            (Field::Consoles, "off", "no screen"),
        ] {
            let before = d.to_save().unwrap_or_default();
            let e = d.set(f, typed).expect_err(&format!("{f:?} {typed:?}"));
            assert!(e.contains(why), "{f:?} {typed:?}: {e}");
            assert!(d.to_save().is_err(), "{f:?}");
            // Typing a good value again clears the reason.
            let good = Draft::new(before, Env::default()).value(f);
            if f == Field::NtpServers || f == Field::Dns {
                d.set(f, "").unwrap();
            } else {
                d.set(f, if good.is_empty() && f == Field::Window { "" } else { &good }).unwrap();
            }
            assert!(d.to_save().is_ok(), "{f:?}: {:?}", d.check());
        }
        let env = Env { timezones: vec!["Europe/Berlin".into(), "UTC".into()], ..Env::default() };
        let mut d = Draft::new(Settings::default(), env);
        assert!(d.set(Field::Timezone, "Europe/Atlantis").is_err());
        d.set(Field::Timezone, "Europe/Berlin").unwrap();
        d.set(Field::Keyboard, "de").unwrap();
        assert_eq!(d.changed(), [Field::Keyboard, Field::Timezone]);
        d.set(Field::DateTime, "2028-02-29 08:05").unwrap();
        assert_eq!(d.clock(), Some(((2028, 2, 29), (8, 5))));
        d.set(Field::UsbAuto, "ein").unwrap();
        assert!(d.to_save().unwrap().usb.install_without_asking);
        assert_eq!(d.changed(), [Field::Keyboard, Field::Timezone, Field::DateTime, Field::UsbAuto]);
        d.saved();
        assert_eq!(d.clock(), None, "the clock is set once");
        assert_eq!(effect(Field::Keyboard), Effect::AtOnce);
        // A new password: long enough and the same twice, or nothing is saved.
        d.set(Field::NewPassword, "short").unwrap();
        assert!(d.check()[0].1.contains("more"), "{:?}", d.check());
        d.set(Field::NewPassword, "quill4admin").unwrap();
        d.set(Field::RepeatPassword, "quill4admim").unwrap();
        assert_eq!(d.check()[0].0, Field::RepeatPassword);
        assert_eq!(d.new_password(), None);
        d.set(Field::RepeatPassword, "quill4admin").unwrap();
        assert_eq!(d.new_password(), Some("quill4admin"));
        assert_eq!(d.changed(), [Field::NewPassword]);
        assert_eq!(effect(Field::Address), Effect::Network);
        assert_eq!(effect(Field::Language), Effect::Restart);
    }
}
