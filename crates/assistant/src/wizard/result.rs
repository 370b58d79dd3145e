//! What the wizard produces: the settings to save and the Finish step's summary.

use super::Wizard;
use crate::catalogue::{fill, Msg, LANGUAGES};
use crate::timezones::Zone;
use crate::validate::{self, Fingerprint};
use devconfig::{Gateway, Licence, Settings};

impl Wizard {
    /// The settings as chosen; unknown fields of the old settings are kept.
    /// The one-time password is never stored.
    pub fn settings(&self) -> Settings {
        let mut s = self.base.clone();
        s.setup_done = true;
        s.language = LANGUAGES[self.language].0.into();
        s.keyboard = self.layout().into();
        s.timezone = self.timezone.clone();
        if self.licence == 0 {
            s.licence = Licence::Gateway;
            let fp = match validate::fingerprint(&self.fingerprint.text) {
                Fingerprint::Complete(fp) => fp,
                _ => String::new(),
            };
            let other = s.gateway.take().map(|g| g.other).unwrap_or_default();
            s.gateway = Some(Gateway { address: self.address.text.trim().into(), fingerprint: fp, other });
        } else {
            s.licence = Licence::Skip;
            s.gateway = None;
        }
        s
    }

    /// The summary lines of the Finish step.
    pub fn summary(&self) -> Vec<(String, String)> {
        let zone = self.zones.iter().find(|z| z.name == self.timezone).map_or(self.timezone.clone(), Zone::label);
        let licence = if self.licence == 0 {
            fill(self.t(Msg::LicenceViaGateway), &[self.address.text.trim()])
        } else {
            self.t(Msg::LicenceSkipped).into()
        };
        vec![
            (self.t(Msg::LanguageTitle).into(), LANGUAGES[self.language].1.into()),
            (self.t(Msg::KeyboardTitle).into(), keymap::LAYOUTS[self.keyboard].1.into()),
            (self.t(Msg::TimezoneTitle).into(), zone),
            (self.t(Msg::LicenceTitle).into(), licence),
            (self.t(Msg::AdminTitle).into(), self.admin_summary()),
        ]
    }
}
