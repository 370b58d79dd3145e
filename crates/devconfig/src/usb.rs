//! `[usb]`: what Quill does with USB storage (Devices › USB storage in the
//! local Setup). A settings file that cannot be read counts as the
//! defaults, which never install anything without asking.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usb {
    /// Mount USB sticks (read-only, FAT32 or exFAT).
    #[serde(default = "yes")]
    pub storage: bool,
    /// Offer the updates found on a stick.
    #[serde(default = "yes")]
    pub offer_updates: bool,
    /// Install an update found on a stick without asking (as
    /// `quill.autoupdate=1` does; never a downgrade).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub install_without_asking: bool,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

fn yes() -> bool {
    true
}

impl Default for Usb {
    fn default() -> Usb {
        Usb { storage: true, offer_updates: true, install_without_asking: false, other: toml::Table::new() }
    }
}

pub(crate) fn is_default(u: &Usb) -> bool {
    *u == Usb::default()
}
