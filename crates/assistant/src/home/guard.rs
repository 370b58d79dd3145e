//! The administrator password on the home screen: re-running the Setup
//! Assistant, installing an update, installing onto a disk, the terminal
//! and the factory reset ask for it first when one is set. The home screen
//! only collects it; the runner checks it (adminlock) and answers with
//! [`Home::authorized`] or [`Home::refused`].

use super::{Home, HomeHit, HomeOutcome, Overlay};
use crate::catalogue::{fill, Msg};
use crate::field::Field;
use ui::{Key, Rect, Ui};

/// A password on its way to be checked; its Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Home {
    /// `then` happens at once without a password, else after one.
    pub(super) fn guard(&mut self, then: HomeOutcome) -> HomeOutcome {
        if !self.guarded {
            return then;
        }
        self.choice = 0;
        self.overlay = Some(Overlay::Password(Box::new(then), Field::default(), None));
        HomeOutcome::Stay
    }

    /// Opens the password box for `then` right away (a damaged settings
    /// file brought the assistant back: it needs the password first).
    pub fn ask_password(&mut self, then: HomeOutcome) {
        let _ = self.guard(then);
    }

    pub(super) fn password_key(&mut self, key: Key) -> HomeOutcome {
        let Some(Overlay::Password(then, field, note)) = &mut self.overlay else { return HomeOutcome::Stay };
        match key {
            Key::Enter if self.choice == 0 => {
                let password = super::Secret(std::mem::take(&mut field.text));
                let then = then.clone();
                self.overlay = None;
                HomeOutcome::Authorize { password, then }
            }
            Key::Enter | Key::Escape => {
                self.overlay = None;
                HomeOutcome::Stay
            }
            Key::Tab | Key::BackTab => {
                self.choice = 1 - self.choice.min(1);
                HomeOutcome::Stay
            }
            k => {
                if field.edit(k) {
                    *note = None;
                }
                HomeOutcome::Stay
            }
        }
    }

    /// The password was right: what it guarded goes on.
    pub fn authorized(&mut self, then: HomeOutcome) -> HomeOutcome {
        self.overlay = None;
        then
    }

    /// The password was wrong (ask again, after `wait_s`) or cannot be
    /// checked (`locked`: only the recovery helps).
    pub fn refused(&mut self, then: HomeOutcome, wait_s: u64, locked: Option<String>) {
        if let Some(why) = locked {
            self.overlay = Some(Overlay::Info(fill(self.t(Msg::PasswordLocked), &[&why])));
            return;
        }
        self.choice = 0;
        let note = fill(self.t(Msg::PasswordWrong), &[&wait_s.to_string()]);
        self.overlay = Some(Overlay::Password(Box::new(then), Field::default(), Some(note)));
    }

    /// What the password is asked for, for people.
    fn guarded_what(&self, then: &HomeOutcome) -> &'static str {
        self.t(match then {
            HomeOutcome::RunSetup => Msg::ActionSetup,
            HomeOutcome::Install(_) | HomeOutcome::InstallNetwork(_) => Msg::ActionUpdate,
            HomeOutcome::FindDisks | HomeOutcome::InstallToDisk { .. } => Msg::ActionInstallDisk,
            HomeOutcome::Terminal => Msg::ActionTerminal,
            HomeOutcome::FactoryReset => Msg::ActionReset,
            _ => Msg::HomeTitle,
        })
    }

    pub(super) fn draw_password(&self, ui: &mut Ui) -> Vec<(Rect, HomeHit)> {
        let Some(Overlay::Password(then, field, note)) = &self.overlay else { return vec![] };
        let text = fill(self.t(Msg::PasswordPrompt), &[self.guarded_what(then)]);
        let b = ui.password_box(
            self.t(Msg::AdminTitle),
            &text,
            field.text.chars().count(),
            note.as_deref(),
            &["OK", self.t(Msg::Cancel)],
            self.choice,
        );
        b.into_iter().enumerate().map(|(i, r)| (r, HomeHit::Overlay(i))).collect()
    }
}
