//! `[update]`: updates over the network from a static repository.

use serde::{Deserialize, Serialize};

/// Updates over the network (`fwupdate check`): the static repository and
/// the channel this device follows. An empty repository: no network
/// updates (USB storage still works).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The repository's root URL: `https://cdn.example/quill/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Hours between checks (each one ±10 % at random).
    #[serde(default = "default_check_hours")]
    pub check_hours: u32,
    /// The first check after boot waits up to this many seconds at random,
    /// so a fleet that powers on together does not ask at once.
    #[serde(default = "default_jitter_secs")]
    pub jitter_secs: u32,
    /// Install an offered update without asking (inside `window`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_install: bool,
    /// The maintenance window for installs by themselves, `HH:MM-HH:MM`
    /// local time; empty: any time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub window: String,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

impl Default for Update {
    fn default() -> Update {
        Update {
            repository: String::new(),
            channel: default_channel(),
            check_hours: default_check_hours(),
            jitter_secs: default_jitter_secs(),
            auto_install: false,
            window: String::new(),
            other: toml::Table::new(),
        }
    }
}

fn default_channel() -> String {
    "stable".into()
}
fn default_check_hours() -> u32 {
    6
}
fn default_jitter_secs() -> u32 {
    60
}

pub(crate) fn is_default_update(u: &Update) -> bool {
    *u == Update::default()
}
