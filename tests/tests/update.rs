//! The A/B updater end to end under QEMU: install 2.0.0 from a USB stick
//! on the console, reboot into it and see it proven; install a 3.0.0 whose
//! health check fails, see three tries and the rollback to 2.0.0 reported;
//! `cgpt show` agrees with `fwupdate status` at every step (the flow is in
//! tests/src/flows.rs; rpi4.rs runs it on the Pi).

use quill_e2e::{flows, Target};

#[test]
#[ignore = "needs the image and bundles: run with `cargo xtask test`"]
fn install_from_a_stick_prove_it_then_a_failing_update_rolls_back() {
    flows::update_then_rollback(&Target::main());
}
