//! The health check that proves a boot: DATA mounted and every service that
//! should keep running has been up for a few seconds. When it passes, init
//! has the updater mark the booted slot good; when it fails on an unproven
//! slot, init reboots so the boot selector counts the try and, after the
//! last one, falls back to the previous slot.

use crate::services::{Restart, State};
use std::time::{Duration, Instant};

/// How long services must have been running.
pub const SETTLE: Duration = Duration::from_secs(5);
/// Delay before rebooting after a failed check on an unproven slot.
pub const REBOOT_DELAY: Duration = Duration::from_secs(10);
/// Present only in images built with `cargo xtask build --fail-health`
/// (tests of the rollback): the check always fails.
pub const TEST_FAIL_FLAG: &str = "/etc/quill/test-fail-health";

pub fn evaluate(data_mounted: bool, services: &[State], now: Instant, test_fail: bool) -> Result<(), String> {
    if test_fail {
        return Err(format!("{TEST_FAIL_FLAG} is present (test image)"));
    }
    if !data_mounted {
        return Err("DATA is not mounted".into());
    }
    for s in services.iter().filter(|s| s.service.restart == Restart::Always) {
        let up_for = s.started.filter(|_| s.pid.is_some()).map(|t| now.saturating_duration_since(t));
        match up_for {
            Some(d) if d >= SETTLE => {}
            Some(d) => return Err(format!("service {} has run only {} ms", s.service.name, d.as_millis())),
            None => return Err(format!("service {} is not running", s.service.name)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::parse;

    #[test]
    fn passes_only_when_data_and_services_are_up_long_enough() {
        let t0 = Instant::now();
        let mut st: Vec<State> = parse("shell ready always console /bin/sh\nonce ready never none /bin/true")
            .unwrap()
            .into_iter()
            .map(|s| State::new(s, t0))
            .collect();
        let later = t0 + Duration::from_secs(6);
        assert!(evaluate(true, &st, later, false).unwrap_err().contains("not running"));
        st[0].pid = Some(10);
        st[0].started = Some(t0);
        assert_eq!(evaluate(true, &st, later, false), Ok(()), "a `never` service that exited does not count");
        assert!(evaluate(true, &st, t0 + Duration::from_secs(2), false).unwrap_err().contains("run only"));
        assert!(evaluate(false, &st, later, false).unwrap_err().contains("DATA"));
        assert!(evaluate(true, &st, later, true).unwrap_err().contains("test image"));
    }
}
