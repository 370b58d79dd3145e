//! A fake device for the assistant's tests.
#![allow(dead_code)]

use assistant::timezones::{parse_zone_tab, Zone};
use assistant::System;
use devconfig::Settings;
use std::path::{Path, PathBuf};
use ui::Canvas;

/// (year, month, day), (hour, minute, second).
pub type DateTime = ((i32, u32, u32), (u32, u32, u32));

#[derive(Default)]
pub struct Fake {
    pub layouts: Vec<String>,
    pub zone: Option<String>,
    pub clock: Option<DateTime>,
    /// (address, fingerprint, one-time password) of each enrollment.
    pub checks: Vec<(String, String, String)>,
    /// The fingerprint the fake gateway presents.
    pub gateway_fp: String,
    pub saved: Vec<Settings>,
    pub fail_save: bool,
    pub admin: Vec<assistant::AdminChoice>,
    /// Whether a network service runs (restart_network), and its restarts.
    pub network_runs: bool,
    pub network_restarts: usize,
    /// The Setup's actions asked for.
    pub actions: Vec<localsetup::Action>,
    /// Restarts asked for.
    pub reboots: usize,
}

/// What a device's `fwupdate status` and `quill-enroll status` say.
pub fn about(info: localsetup::Info) -> Vec<String> {
    match info {
        localsetup::Info::Firmware => vec![
            "booted: slot A (2.0.0), next boot: A".into(),
            "slot A: 2.0.0, priority 2, successful".into(),
            "slot B: 1.0.0, priority 1, successful".into(),
        ],
        localsetup::Info::Management => vec!["not enrolled".into()],
        localsetup::Info::Display => vec!["The screen offers: 1280x800, 1024x768".into()],
    }
}

impl System for Fake {
    fn about(&mut self, info: localsetup::Info) -> Vec<String> {
        about(info)
    }
    fn action(&mut self, action: localsetup::Action) -> Result<String, String> {
        self.actions.push(action);
        match action {
            localsetup::Action::CheckUpdate => Ok("update 3.0.0 available (channel stable)".into()),
            localsetup::Action::RollBack => Err("slot B never booted successfully; nothing to roll back to".into()),
            localsetup::Action::FactoryReset => Ok("The settings are wiped; restarting.".into()),
            localsetup::Action::Enroll => Err("not through action".into()),
        }
    }
    fn reboot(&mut self) {
        self.reboots += 1;
    }
    fn restart_network(&mut self) -> Result<bool, String> {
        self.network_restarts += usize::from(self.network_runs);
        Ok(self.network_runs)
    }
    fn set_layout(&mut self, layout: &str) {
        self.layouts.push(layout.into());
    }
    fn set_timezone(&mut self, zone: &str) -> Result<(), String> {
        self.zone = Some(zone.into());
        Ok(())
    }
    fn now_local(&mut self) -> ((i32, u32, u32), (u32, u32, u32)) {
        ((2026, 11, 23), (9, 30, 0))
    }
    fn set_clock_local(&mut self, d: (i32, u32, u32), t: (u32, u32, u32)) -> Result<(), String> {
        self.clock = Some((d, t));
        Ok(())
    }
    fn enroll(&mut self, address: &str, fp: &str, otp: &str) -> Result<assistant::Enrolled, enroll::Error> {
        self.checks.push((address.into(), fp.into(), otp.into()));
        if fp != self.gateway_fp {
            return Err(enroll::Error::Mismatch { presented: self.gateway_fp.clone() });
        }
        if otp == "wrong" {
            return Err(enroll::Error::Refused { unit: "525400123456".into() });
        }
        Ok(assistant::Enrolled { unit_id: "525400123456".into(), until: "2027-11-23".into() })
    }
    fn save_admin(&mut self, choice: &assistant::AdminChoice) -> Result<(), String> {
        if self.fail_save {
            return Err("DATA is read-only".into());
        }
        self.admin.push(choice.clone());
        Ok(())
    }
    fn save(&mut self, s: &Settings) -> Result<(), String> {
        if self.fail_save {
            return Err("DATA is read-only".into());
        }
        self.saved.push(s.clone());
        Ok(())
    }
}

pub const ZONES: &str = "DE\t+5230+01322\tEurope/Berlin\nCH\t+4723+00832\tEurope/Zurich\nFR\t+4852+00220\tEurope/Paris\nGB\t+513030-0000731\tEurope/London\nUS\t+404251-0740023\tAmerica/New_York\nJP\t+353916+1394441\tAsia/Tokyo\nAU\t-3352+15113\tAustralia/Sydney\n";

pub fn zones() -> Vec<Zone> {
    parse_zone_tab(ZONES)
}

pub fn fp() -> String {
    "0123456789abcdef".repeat(4)
}

/// Share of pixels that may differ (font hinting noise), and by how much.
const MAX_SHARE: f64 = 0.002;
const TOLERANCE: u8 = 24;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

pub fn check(name: &str, frame: &Canvas) {
    let reference = root().join("tests/golden").join(format!("{name}.png"));
    if std::env::var_os("QUILL_BLESS").is_some() {
        std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
        frame.save_png(&reference).unwrap();
        return;
    }
    let expected = Canvas::load_png(&reference)
        .unwrap_or_else(|e| panic!("{}: {e} (run with QUILL_BLESS=1 to create it)", reference.display()));
    let (share, diff) = expected.diff(frame, TOLERANCE);
    if share > MAX_SHARE {
        let out = root().join("../../target/golden-diff");
        std::fs::create_dir_all(&out).unwrap();
        frame.save_png(&out.join(format!("{name}.actual.png"))).unwrap();
        diff.save_png(&out.join(format!("{name}.diff.png"))).unwrap();
        panic!(
            "{name}: {:.2}% of the pixels differ from {}; see {}/{name}.diff.png",
            share * 100.0,
            reference.display(),
            out.display()
        );
    }
}
