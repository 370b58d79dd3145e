//! `[discovery]`: the device's DNS-SD announcement on the local network
//! (crates/discovery), on unless an administrator turns it off.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// Announce `_quill._tcp` over mDNS.
    #[serde(default = "yes")]
    pub announce: bool,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

fn yes() -> bool {
    true
}

impl Default for Discovery {
    fn default() -> Discovery {
        Discovery { announce: true, other: toml::Table::new() }
    }
}

pub(crate) fn is_default(d: &Discovery) -> bool {
    *d == Discovery::default()
}
