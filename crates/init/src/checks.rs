//! The health check after boot and what follows it: mark the slot good,
//! or reboot an unproven slot so the boot selector counts the failed try.

use crate::{health, services, system};
use log::{error, info, warn};
use std::fs;
use std::path::Path;
use std::time::Instant;
use system::Shutdown;

/// The pending health check and, after a failed one, the reboot.
pub struct Checks {
    pub data: bool,
    pub slot: Option<abslot::Slot>,
    pub partuuid: Option<String>,
    pub deadline: Option<Instant>,
    pub reboot_at: Option<Instant>,
}

impl Checks {
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.deadline.into_iter().chain(self.reboot_at).min()
    }

    pub fn run(&mut self, states: &[services::State], now: Instant) {
        if self.reboot_at.is_some_and(|t| t <= now) {
            info!("rebooting after the failed health check");
            system::shutdown(Shutdown::Reboot);
        }
        if self.deadline.is_none_or(|t| t > now) {
            return;
        }
        self.deadline = None;
        let test_fail = Path::new(health::TEST_FAIL_FLAG).exists();
        match health::evaluate(self.data, states, now, test_fail) {
            Ok(()) => {
                info!("health check passed");
                // A child of its own, reaped by the loop: it may wait for an
                // install that holds the updater's lock, and PID 1 must not.
                let argv: Vec<String> = ["/usr/bin/fwupdate", "--wait", "600", "mark-good"].map(String::from).to_vec();
                if let Err(e) = system::spawn_to_console(&argv) {
                    warn!("starting fwupdate mark-good: {e}");
                }
            }
            Err(why) => {
                error!("health check failed: {why}");
                if self.booted_slot_is_unproven() {
                    error!(
                        "slot {} is unproven: rebooting in {} s so the boot selector counts this try",
                        self.slot.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
                        health::REBOOT_DELAY.as_secs()
                    );
                    self.reboot_at = Some(now + health::REBOOT_DELAY);
                }
            }
        }
    }

    fn booted_slot_is_unproven(&self) -> bool {
        let Some(part) = self.partuuid.as_deref().and_then(gptedit::Guid::parse) else { return false };
        let Ok(disk) =
            bootdisk::find_boot_disk(Path::new("/sys/class/block"), Path::new("/dev"), self.partuuid.as_deref(), None)
        else {
            return false;
        };
        let Ok(file) = fs::File::open(&disk.node) else { return false };
        let Ok(mut d) = gptedit::FileDisk::new(file, disk.block_size) else { return false };
        let Ok(gpt) = gptedit::Gpt::load(&mut d) else { return false };
        gpt.partitions()
            .iter()
            .find(|p| p.unique_guid == part)
            .is_some_and(|p| !abslot::SlotAttr::from_gpt(p.attributes).successful())
    }
}
