//! After `quill: ready`: PID 1's loop. It waits on signals, uevents and the
//! next timer, reaps children, restarts services, runs the health check and
//! shuts down on request. Nothing here blocks on a device.

use crate::checks::Checks;
use crate::coldplug::{handle_uevents, Mods};
use crate::{hotplug, logger, services, system, usb};
use log::{error, info};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use system::Shutdown;

pub fn start_due(states: &mut [services::State], now: Instant) {
    for st in states.iter_mut().filter(|s| s.due(now)) {
        match system::spawn(&st.service) {
            Ok(pid) => {
                info!("started {} (pid {pid})", st.service.name);
                st.pid = Some(pid as i32);
                st.started = Some(now);
                st.next_start = None;
            }
            Err(e) => {
                error!("starting {} ({}): {e}", st.service.name, st.service.argv[0]);
                st.exited(now);
            }
        }
    }
}

pub fn supervise(
    signals: &nix::sys::signal::SigSet,
    states: &mut [services::State],
    mut checks: Checks,
    uevents: Option<hotplug::Socket>,
    mut mods: Mods,
    mut watcher: usb::Watcher,
    logger: &logger::InitLogger,
) -> ! {
    let sfd = match SignalFd::with_flags(signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) => system::emergency(&format!("signalfd: {e}")),
    };
    loop {
        let now = Instant::now();
        let wait = states
            .iter()
            .filter_map(|s| s.next_start)
            .chain(checks.next_wakeup())
            .chain(watcher.next_wakeup())
            .map(|t| t.saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(60));
        let timeout = PollTimeout::try_from(wait.as_millis().min(60_000) as i32 + 1).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(u) = &uevents {
            fds.push(PollFd::new(u.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, timeout);
        drop(fds);
        if let Some(u) = &uevents {
            handle_uevents(u, &mut mods, &mut watcher, logger);
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else { continue };
            if let Some(kind) = Shutdown::from_signal(sig) {
                info!("{sig} received");
                system::shutdown(kind);
            }
        }
        let now = Instant::now();
        for pid in system::reap() {
            if watcher.reaped(pid) {
                continue;
            }
            if let Some(st) = states.iter_mut().find(|s| s.pid == Some(pid)) {
                st.exited(now);
                match st.next_start {
                    Some(t) => info!(
                        "{} exited; restarting in {} s",
                        st.service.name,
                        t.saturating_duration_since(now).as_secs()
                    ),
                    None => info!("{} exited", st.service.name),
                }
            }
        }
        for line in watcher.tick(&mut crate::UsbHost, now) {
            logger.console_line(&format!("quill: {line}"));
        }
        start_due(states, now);
        checks.run(states, now);
    }
}
