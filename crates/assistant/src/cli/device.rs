//! The device side of the assistant: what it shows about the device
//! (unit ID, addresses, firmware, slot) and the `System` its wizard changes
//! the device through (keyboard, time zone, clock, gateway, saving).

use super::console_log::log;
use super::layout;
use crate::home::DeviceInfo;
use crate::System;
use devconfig::{Settings, Store};
use std::path::{Path, PathBuf};

/// The bundle files on the USB volumes init mounted (the updater's rules).
pub fn usb_bundles() -> Vec<PathBuf> {
    let mut vols: Vec<PathBuf> =
        std::fs::read_dir("/run/media").into_iter().flatten().flatten().map(|e| e.path()).collect();
    vols.sort();
    vols.iter().flat_map(|v| updater::usb::bundle_files(v).0).collect()
}

/// The wizard with the management server the network names filled in.
pub fn with_found_server(w: crate::Wizard) -> crate::Wizard {
    match enroll::locate::find(Path::new(net::status::RUN_DIR), &enroll::locate::resolves) {
        Some(f) => {
            log(&format!("management server {} from {}", f.address, f.source));
            w.with_found_server(&f.address, f.fingerprint.as_deref())
        }
        None => w,
    }
}

/// The version the update channel offers this device, when `fwupdate
/// watch` found one (its offer in /run/quill/net-offer.json).
pub fn network_offer() -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read("/run/quill/net-offer.json").ok()?).ok()?;
    (v.get("status")?.as_str()? == "available").then(|| v.get("version")?.as_str().map(str::to_string))?
}

/// VERSION from /etc/quill/release.
pub fn firmware_version() -> String {
    bootid::Release::read(Path::new("/")).map(|r| r.version).unwrap_or_else(|| "?".into())
}

pub fn device_info() -> DeviceInfo {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_string();
    let version = firmware_version();
    let slot =
        bootid::BootArgs::read(Path::new("/")).slot.map(|s| s.letter().to_string()).unwrap_or_else(|| "?".into());
    let hostname = read("/proc/sys/kernel/hostname");
    let unit = hostname.strip_prefix("ITC").unwrap_or(&hostname).to_string();
    let mut warnings = Vec::new();
    let data = Path::new("/data/quill");
    let lock = adminlock::Lock::read(data);
    let setup_done = devconfig::Store::new(data).load().is_ok_and(|(s, _)| s.setup_done);
    if lock == adminlock::Lock::Open || (lock == adminlock::Lock::NotSet && setup_done) {
        warnings.push(lang_text(crate::catalogue::Msg::AdminNoneWarning));
    }
    if let Some(why) = devconfig::data_missing_reason() {
        warnings.push(format!("DATA is not mounted: {why}. Settings are not kept."));
    }
    if let Some(p) = net::status::settings_problem(Path::new(net::status::RUN_DIR)) {
        warnings.push(p);
    }
    if bootid::Release::read(Path::new("/")).is_some_and(|r| r.trusts_dev_key()) {
        warnings.push("DEV-KEY: this firmware trusts the development signing key; not for devices in a fleet.".into());
    }
    let management = enroll::state(&enroll::Store::new(data));
    DeviceInfo { unit, hostname, addresses: addresses(), version, slot, management, pocket: false, warnings }
}

/// Each network interface as quill-net reports it: address, gateway, DNS,
/// or that the cable is unplugged (the home screen refreshes it every 2 s).
fn addresses() -> Vec<String> {
    net::status::read_all(Path::new(net::status::RUN_DIR)).iter().map(|i| i.summary()).collect()
}

/// A warning in the language of the settings.
fn lang_text(m: crate::catalogue::Msg) -> String {
    let lang = devconfig::Store::new("/data/quill").load().map(|(s, _)| s.language).unwrap_or_default();
    crate::catalogue::text(crate::catalogue::Lang::from_tag(&lang), m).to_string()
}

/// Runs a tool; its output (without its name's prefix), Err when it failed.
fn run_text(program: &str, args: &[&str]) -> Result<String, String> {
    match std::process::Command::new(program).args(args).output() {
        Ok(o) => {
            let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            let text = text.replace(&format!("{program}: "), "").trim().to_string();
            if o.status.success() {
                Ok(text)
            } else {
                Err(text)
            }
        }
        Err(e) => Err(format!("{program}: {e}")),
    }
}

/// The device side of the assistant.
pub struct DeviceSystem {
    pub store: Store,
}

impl System for DeviceSystem {
    fn restart_network(&mut self) -> Result<bool, String> {
        net::restart_daemon(Path::new(net::status::RUN_DIR))
    }

    fn about(&mut self, info: localsetup::Info) -> Vec<String> {
        let (program, args): (&str, &[&str]) = match info {
            localsetup::Info::Firmware => ("fwupdate", &["status"]),
            localsetup::Info::Management => ("quill-enroll", &["status"]),
            // The display's front end fills these in itself.
            localsetup::Info::Display => return vec![],
        };
        match run_text(program, args) {
            Ok(text) | Err(text) => text.lines().map(String::from).filter(|l| !l.trim().is_empty()).collect(),
        }
    }

    fn action(&mut self, action: localsetup::Action) -> Result<String, String> {
        let args: &[&str] = match action {
            localsetup::Action::CheckUpdate => &["check"],
            localsetup::Action::RollBack => &["rollback"],
            localsetup::Action::FactoryReset => {
                let removed = adminlock::factory_reset(self.store.dir()).map_err(|e| e.to_string())?;
                log(&format!("factory reset from the local Setup: removed {}; restarting", removed.join(", ")));
                return Ok("The settings are wiped; restarting. The Setup Assistant runs next.".into());
            }
            // The enrollment goes through `enroll` (crate::local::run_action).
            localsetup::Action::Enroll => return Err("enroll through the Management page".into()),
        };
        log(&format!("local Setup: fwupdate {}", args.join(" ")));
        run_text("fwupdate", args)
    }

    fn reboot(&mut self) {
        // SIGTERM to PID 1 is Quill's reboot request.
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(1, libc::SIGTERM) };
    }

    fn active_layout(&mut self) -> Option<String> {
        let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty0").ok()?;
        keymap::console::active(&tty).ok().flatten().map(String::from)
    }

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
        // SAFETY: mktime reads and normalises an initialised struct tm.
        let t = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            tm.tm_year = y - 1900;
            tm.tm_mon = m as i32 - 1;
            tm.tm_mday = d as i32;
            tm.tm_hour = hh as i32;
            tm.tm_min = mm as i32;
            tm.tm_sec = ss as i32;
            tm.tm_isdst = -1;
            libc::mktime(&mut tm)
        };
        if t == -1 {
            return Err("the date cannot be represented".into());
        }
        devconfig::set_system_clock(t as i64)?;
        let what = match devconfig::set_hardware_clock(t as i64) {
            Ok(true) => "system and hardware clock".to_string(),
            Ok(false) => "no hardware clock".to_string(),
            Err(e) => e,
        };
        log(&format!("clock set to {y:04}-{m:02}-{d:02} {hh:02}:{mm:02} ({what})"));
        Ok(())
    }

    fn enroll(&mut self, address: &str, fingerprint: &str, otp: &str) -> Result<crate::Enrolled, enroll::Error> {
        let store = enroll::Store::new(self.store.dir());
        let r = enroll::Device::read(Path::new("/"))
            .and_then(|dev| enroll::connect(&store, &dev, address, fingerprint, otp, enroll::now()));
        match r {
            Ok((e, answer)) => {
                log(&format!(
                    "enrolled with {address} as {} until {}; connection ready: {answer}",
                    e.unit_id,
                    enroll::date(e.not_after)
                ));
                Ok(crate::Enrolled { unit_id: e.unit_id, until: enroll::date(e.not_after) })
            }
            Err(e) => {
                log(&format!("enrollment with {address}: {e}"));
                Err(e)
            }
        }
    }

    fn save_admin(&mut self, choice: &crate::AdminChoice) -> Result<(), String> {
        let dir = self.store.dir();
        let r = match choice {
            crate::AdminChoice::Set(pw) => adminlock::set_password(dir, pw),
            crate::AdminChoice::None => adminlock::set_open(dir),
            crate::AdminChoice::Keep => return Ok(()),
        };
        r.map_err(|e| e.to_string())?;
        log(match choice {
            crate::AdminChoice::Set(_) => "administrator password set",
            _ => "no administrator password (chosen)",
        });
        Ok(())
    }

    fn save(&mut self, settings: &Settings) -> Result<(), String> {
        self.store.save(settings).map_err(|e| e.to_string())
    }
}
