//! A fake device for the assistant's tests.
#![allow(dead_code)]

use assistant::timezones::{parse_zone_tab, Zone};
use assistant::System;
use devconfig::Settings;

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
}

impl System for Fake {
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
