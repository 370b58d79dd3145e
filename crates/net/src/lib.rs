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
