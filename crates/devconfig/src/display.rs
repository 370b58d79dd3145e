//! `[display]`: the screen's resolution and when it blanks (User Interface
//! › Display in the local Setup).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Display {
    /// `1280x800`, one of the modes the screen offers; empty: the screen's
    /// preferred mode.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolution: String,
    /// Minutes without input before the screen blanks; 0: never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blank_minutes: u32,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

pub(crate) fn is_default(d: &Display) -> bool {
    *d == Display::default()
}

/// `1280x800` as (width, height).
pub fn parse_resolution(text: &str) -> Option<(u32, u32)> {
    let (w, h) = text.trim().split_once('x')?;
    Some((w.parse().ok().filter(|v| *v > 0)?, h.parse().ok().filter(|v| *v > 0)?))
}
