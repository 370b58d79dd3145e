//! `[security]`: who may use the consoles (Security › Consoles in the local
//! Setup). A settings file that cannot be read counts as the defaults.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Security {
    /// The serial console and tty2 offer a login (behind the
    /// administrator password when one is set). Off: they say so and open
    /// nothing; the screen's Setup and the recovery still work.
    #[serde(default = "yes")]
    pub console: bool,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

fn yes() -> bool {
    true
}

impl Default for Security {
    fn default() -> Security {
        Security { console: true, other: toml::Table::new() }
    }
}

pub(crate) fn is_default(s: &Security) -> bool {
    *s == Security::default()
}
