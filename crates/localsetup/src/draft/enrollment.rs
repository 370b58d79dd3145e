//! The Management page's fields: the server to enroll with, its
//! certificate's fingerprint and the one-time password. Not settings:
//! they are the Enroll action's input, and the enrollment saves the
//! server once it succeeded ([`Draft::enrolled`]).

use super::Draft;
use crate::Field;
use devconfig::{Gateway, Licence, Settings};
use enroll::input::{address, fingerprint, group_fingerprint, Fingerprint};

/// What the Enroll action needs, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrollment {
    pub address: String,
    /// 64 lowercase hex digits.
    pub fingerprint: String,
    pub otp: String,
}

fn index(f: Field) -> usize {
    crate::ENROLL_FIELDS.iter().position(|g| *g == f).expect("an enrollment field")
}

/// The page's starting values: the server the device enrolled with.
pub(super) fn from_settings(s: &Settings) -> [String; 3] {
    match &s.gateway {
        Some(g) => [g.address.clone(), group_fingerprint(&g.fingerprint), String::new()],
        None => Default::default(),
    }
}

impl Draft {
    pub(super) fn mgmt_value(&self, f: Field) -> String {
        self.mgmt[index(f)].clone()
    }

    pub(super) fn mgmt_apply(&mut self, f: Field, t: &str) -> Result<(), String> {
        match f {
            Field::MgmtAddress if !t.is_empty() && address(t).is_none() => {
                return Err(format!("{t:?}: write the server's host name or address, with :port when it is not 443"))
            }
            Field::MgmtFingerprint => match fingerprint(t) {
                Fingerprint::Invalid(bad) => {
                    return Err(format!("{bad:?}: a fingerprint has only hex digits 0-9, a-f"))
                }
                Fingerprint::Partial(n) if n > 0 => return Err(format!("{n} of 64 hex digits")),
                Fingerprint::Complete(hex) => {
                    self.mgmt[index(f)] = group_fingerprint(&hex);
                    return Ok(());
                }
                Fingerprint::Partial(_) => {}
            },
            _ => {}
        }
        self.mgmt[index(f)] = t.to_string();
        Ok(())
    }

    /// The Enroll action's input, or what is missing, at its field.
    pub fn enrollment(&self) -> Result<Enrollment, (Field, String)> {
        for f in crate::ENROLL_FIELDS {
            if let Some(why) = self.errors.get(&f) {
                return Err((f, why.clone()));
            }
        }
        let [a, fp, otp] = &self.mgmt;
        if address(a).is_none() {
            return Err((Field::MgmtAddress, "the management server's address is needed".into()));
        }
        let Fingerprint::Complete(hex) = fingerprint(fp) else {
            return Err((
                Field::MgmtFingerprint,
                "the server certificate's fingerprint is needed (64 hex digits)".into(),
            ));
        };
        if otp.trim().is_empty() {
            return Err((Field::MgmtOtp, "the one-time password from the server is needed".into()));
        }
        Ok(Enrollment { address: a.trim().to_string(), fingerprint: hex, otp: otp.trim().to_string() })
    }

    /// The enrollment succeeded: the server is recorded (licence through
    /// it) in the draft and in the settings as saved, and the one-time
    /// password is forgotten. Returns the saved settings with the server
    /// in them, to be written; other changes still wait for Apply.
    pub fn enrolled(&mut self, e: &Enrollment) -> Settings {
        for s in [&mut self.settings, &mut self.before] {
            let other = s.gateway.take().map(|g| g.other).unwrap_or_default();
            s.gateway = Some(Gateway { address: e.address.clone(), fingerprint: e.fingerprint.clone(), other });
            s.licence = Licence::Gateway;
        }
        self.mgmt[2].clear();
        self.before.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Draft, Env};

    #[test]
    fn the_enrollment_needs_an_address_a_whole_fingerprint_and_the_password() {
        let mut d = Draft::new(Settings::default(), Env::default());
        assert_eq!(d.enrollment().unwrap_err().0, Field::MgmtAddress);
        assert!(d.set(Field::MgmtAddress, "https://gw").unwrap_err().contains("host name"));
        d.set(Field::MgmtAddress, "gw.example:8443").unwrap();
        assert!(d.set(Field::MgmtFingerprint, "ab:cd").unwrap_err().contains("4 of 64"));
        assert_eq!(d.enrollment().unwrap_err().0, Field::MgmtFingerprint);
        assert!(d.set(Field::MgmtFingerprint, "xyz").unwrap_err().contains("hex digits"));
        d.set(Field::MgmtFingerprint, &"AB:".repeat(32)).unwrap();
        assert_eq!(d.value(Field::MgmtFingerprint), group_fingerprint(&"ab".repeat(32)));
        assert_eq!(d.enrollment().unwrap_err().0, Field::MgmtOtp);
        d.set(Field::MgmtOtp, "otp-1").unwrap();
        assert!(d.changed().is_empty(), "not settings: Apply has nothing to save");
        assert!(d.to_save().is_ok());
        let e = d.enrollment().unwrap();
        assert_eq!((e.address.as_str(), e.fingerprint.len()), ("gw.example:8443", 64));
        // Typed but not applied: stays a change, not saved with the server.
        d.set(Field::Keyboard, "de").unwrap();
        let saved = d.enrolled(&e);
        assert_eq!(saved.gateway.as_ref().unwrap().address, "gw.example:8443");
        assert_eq!((saved.licence, saved.keyboard.as_str()), (Licence::Gateway, "us"));
        assert_eq!(d.changed(), [Field::Keyboard]);
        assert_eq!(d.value(Field::MgmtOtp), "", "the one-time password is forgotten");
        // The page shows the server enrolled with when it opens next.
        let d = Draft::new(saved, Env::default());
        assert_eq!(d.value(Field::MgmtAddress), "gw.example:8443");
    }
}
