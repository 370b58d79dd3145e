//! Quill's network: every Ethernet interface brought up when it appears,
//! DHCPv4 through busybox `udhcpc` (supervised by the daemon) with a hook
//! that applies the lease through netlink, or a static address from the
//! settings; DNS (/etc/resolv.conf); SNTP with a time floor on DATA; state
//! in /run/quill/net for `quill-net status`, the console and the home
//! screen. Why busybox udhcpc: it is already in the image, well-kept and
//! does the whole DHCP state machine (discover, request, renew, rebind,
//! release); the Rust side only applies what it hands over, so there is no
//! hand-written DHCP client and no async runtime in a static binary.
//!
//! Architecture Invariant: nothing here makes a trust decision, and init's
//! `quill: ready` never waits for it.

/// The command line (`fn main` of the binary; the device's multicall binary calls it too).
pub mod cli;
pub mod config;
pub mod daemon;
pub mod hook;
pub mod lease;
pub mod rtnl;
mod runner;
pub mod status;
pub mod timesync;
pub mod vendor;

/// The running network service's PID, in [`status::RUN_DIR`].
pub const PID_FILE: &str = "daemon.pid";

/// Asks the running network service to start over with the saved
/// settings: it exits on SIGTERM and init starts it again, and it reads
/// the settings when it starts. `Ok(false)`: no service runs here (a host,
/// or it is down), so the settings apply when it starts. The PID is only
/// signalled when that process is still the daemon (`quill-net daemon`).
pub fn restart_daemon(run_dir: &std::path::Path) -> Result<bool, String> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(PID_FILE)) else { return Ok(false) };
    let Ok(pid) = text.trim().parse::<i32>() else { return Ok(false) };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_daemon = argv.first().is_some_and(|a| a.ends_with(b"quill-net")) && argv.get(1) == Some(&&b"daemon"[..]);
    if !is_daemon {
        return Ok(false);
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM)
        .map(|()| true)
        .map_err(|e| format!("restarting the network service (PID {pid}): {e}"))
}
