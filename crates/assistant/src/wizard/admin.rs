//! The administrator step: set a password (typed twice, at least
//! `adminlock::MIN_LEN` characters, shown as dots), keep the current one,
//! or choose explicitly to have none. The password leaves the wizard only
//! through `System::save_admin`, never in the settings.

use super::{FieldId, Wizard};
use crate::catalogue::{fill, Msg};

/// What the administrator step decided.
#[derive(Clone, PartialEq, Eq)]
pub enum AdminChoice {
    Set(String),
    /// Explicitly no password.
    None,
    /// The password set before stays.
    Keep,
}

impl std::fmt::Debug for AdminChoice {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminChoice::Set(_) => "Set(..)",
            AdminChoice::None => "None",
            AdminChoice::Keep => "Keep",
        })
    }
}

impl Wizard {
    pub(super) fn admin_items(&self) -> Vec<String> {
        let mut v = vec![self.t(Msg::AdminSet).to_string(), self.t(Msg::AdminNone).to_string()];
        if self.admin_existing {
            v.push(self.t(Msg::AdminKeep).to_string());
        }
        v
    }

    /// Prefills the step for a run where a password is set already: keep it.
    pub fn with_admin_existing(mut self) -> Wizard {
        self.admin_existing = true;
        self.admin = 2;
        self
    }

    pub(super) fn admin_hint(&self, id: FieldId) -> Option<(String, bool)> {
        let n = self.password.text.chars().count();
        match id {
            FieldId::Password if n < adminlock::MIN_LEN => Some((
                fill(
                    self.t(Msg::AdminTooShort),
                    &[&adminlock::MIN_LEN.to_string(), &(adminlock::MIN_LEN - n).to_string()],
                ),
                n > 0,
            )),
            FieldId::Repeat if !self.repeat.text.is_empty() && self.repeat.text != self.password.text => {
                Some((self.t(Msg::AdminDiffers).into(), true))
            }
            _ => None,
        }
    }

    pub(super) fn admin_blocker(&self) -> Option<String> {
        if self.admin != 0 {
            return None;
        }
        match adminlock::check_new(&self.password.text, &self.repeat.text) {
            Ok(()) => None,
            Err(adminlock::Error::TooShort { missing }) => {
                Some(fill(self.t(Msg::AdminTooShort), &[&adminlock::MIN_LEN.to_string(), &missing.to_string()]))
            }
            Err(_) => Some(self.t(Msg::AdminDiffers).into()),
        }
    }

    /// What Finish saves for the administrator.
    pub fn admin_choice(&self) -> AdminChoice {
        match self.admin {
            0 => AdminChoice::Set(self.password.text.clone()),
            1 => AdminChoice::None,
            _ => AdminChoice::Keep,
        }
    }

    pub(super) fn admin_summary(&self) -> String {
        self.t(match self.admin {
            0 => Msg::AdminSummarySet,
            1 => Msg::AdminSummaryNone,
            _ => Msg::AdminSummaryKeep,
        })
        .to_string()
    }
}
