//! The Setup Assistant: the first-boot wizard of Quill (language, keyboard
//! layout, time zone, date and time, licence, cloud gateway login), the home
//! screen shown after it, and a console version of the wizard for devices
//! without a display.

pub mod catalogue;
/// The command line (`fn main` of the binary; the device's multicall binary calls it too).
pub mod cli;
pub mod console;
pub mod field;

pub mod home;
pub mod local;
pub mod setup;
pub mod timezones;
pub mod validate;
pub mod view;
pub mod wizard;

pub use wizard::{AdminChoice, Enrolled, Outcome, System, Wizard};
