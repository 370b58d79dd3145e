//! The network's figure: from the carrier coming up (QMP `set_link` on
//! QEMU's restricted user-mode network) to the console line that says the
//! lease is applied, seen from the host.

use anyhow::Result;
use quill_qemu::Vm;
use std::time::{Duration, Instant};

/// Flaps measured per run.
const FLAPS: usize = 3;

/// Seconds from carrier up to `quill: network eth0 up`, one per flap.
pub fn carrier_to_lease(vm: &mut Vm) -> Result<Vec<f64>> {
    let step = Duration::from_secs(60);
    vm.wait_seen("quill: network eth0 up", step)?;
    let mut out = Vec::new();
    for _ in 0..FLAPS {
        vm.set_link("net0", false)?;
        vm.wait_for("quill: network eth0 down", step)?;
        let t0 = Instant::now();
        vm.set_link("net0", true)?;
        vm.wait_for("quill: network eth0 up", step)?;
        out.push(t0.elapsed().as_secs_f64());
    }
    Ok(out)
}
