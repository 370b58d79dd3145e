//! Quill's UEFI A/B boot selector (`\EFI\BOOT\BOOTX64.EFI` on the ESP of
//! a PC, `BOOTAA64.EFI` on the Raspberry Pi, where U-Boot starts it).
//!
//! It reads the GPT of the disk it was started from (repairing a damaged
//! copy), picks a slot by the rules of `abslot`, uses up one try of an
//! unproven slot and writes both GPT copies *before* loading it, then starts
//! `\vmlinuz` from the slot's FAT partition with the slot's command line plus
//! `quill.slot=` and the PARTUUIDs. When a slot fails to load it tries the
//! other one. Every decision is one console line starting with `bootsel:`.
//!
//! The decisions are pure functions in [`decide`], tested on the host; the
//! UEFI calls live in `firmware` and only build for `target_os = "uefi"`.
#![cfg_attr(target_os = "uefi", no_std, no_main)]
// On the host only the pure decisions are compiled (for their tests).
#![cfg_attr(not(target_os = "uefi"), allow(dead_code))]

extern crate alloc;

mod aligned;
mod decide;

#[cfg(target_os = "uefi")]
mod firmware;

#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("bootsel is a UEFI application; build it with --target x86_64-unknown-uefi");
    std::process::exit(2);
}
