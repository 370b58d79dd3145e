//! A/B slot state and policy, shared by the UEFI boot selector and the updater.
//!
//! The state of a slot lives in the GPT attribute bits of its SYSTEM partition,
//! in the layout ChromeOS uses so that `cgpt show` can read it:
//!
//! | bits  | field       |
//! |-------|-------------|
//! | 48-51 | priority    |
//! | 52-55 | tries left  |
//! | 56    | successful  |
//!
//! Everything here is pure: a small typed value ([`SlotAttr`]) and functions
//! that turn one state into the next. Reading and writing the GPT is done by
//! the callers (`gptedit` on a block device).
#![no_std]

extern crate alloc;

mod attr;
mod policy;

pub use attr::{SlotAttr, MAX_PRIORITY, MAX_TRIES};
pub use policy::{
    after_install, boot_plan, mark_rolled_back, mark_successful, on_boot_attempt, BootPlan, Candidate, Reason, Slot,
    INSTALL_TRIES,
};
