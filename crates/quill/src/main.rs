//! The device's one binary, busybox's way: the root filesystem links every
//! Quill program's name to it, and it runs the program it was started as.
//!
//! Seven statically linked programs each carried their own std, rustls,
//! ring, ureq, serde and clap; one binary carries them once. That keeps the
//! volatile part of the root filesystem (what an app-only release changes,
//! and a device downloads) small: see `cargo xtask build`'s figures and
//! ARCHITECTURE.md. The host keeps the separate binaries (`fwupdate` is a
//! host tool too); both call the same `main` of each crate.

use std::process::ExitCode;

/// What runs one program.
type Main = fn() -> ExitCode;

/// Program names (as started) and what runs them.
const PROGRAMS: &[(&str, Main)] = &[
    // PID 1; the kernel's request_module runs it as /sbin/modprobe.
    ("init", || done(quill_init::main)),
    ("modprobe", || done(quill_init::main)),
    ("fwupdate", || done(fwupdate::main)),
    ("quill-setup", || done(assistant::cli::main)),
    // udhcpc's script is quill-net as /usr/lib/quill/dhcp-hook.
    ("quill-net", || done(net::cli::main)),
    ("dhcp-hook", || done(net::cli::main)),
    ("quill-admin", || done(adminlock::cli::main)),
    ("quill-enroll", enroll::cli::main),
    ("quill-discovery", discovery::cli::main),
];

fn done(main: fn()) -> ExitCode {
    main();
    ExitCode::SUCCESS
}

/// The program `argv0` names (its last path component).
fn program(argv0: &str) -> Option<Main> {
    let name = argv0.rsplit('/').next().unwrap_or(argv0);
    PROGRAMS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn main() -> ExitCode {
    let argv0 = std::env::args().next().unwrap_or_default();
    match program(&argv0) {
        Some(run) => run(),
        None => {
            let names: Vec<&str> = PROGRAMS.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "quill: started as {argv0:?}, which is none of its programs; run it through a link named one of: {}",
                names.join(", ")
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_the_last_component_of_the_name_it_was_started_as() {
        assert!(program("/init").is_some());
        assert!(program("/sbin/modprobe").is_some());
        assert!(program("/usr/lib/quill/dhcp-hook").is_some());
        assert!(program("fwupdate").is_some());
        assert!(program("/usr/bin/quill").is_none());
        assert!(program("").is_none());
        assert!(program("/usr/bin/fwupdate-old").is_none());
    }
}
