//! The daemon's side effects: netlink, udhcpc children, signals, the
//! console, the clock. The decisions are `crate::daemon::Netd`'s.

use crate::config::{self, Plan};
use crate::daemon::{Action, Netd};
use crate::rtnl::{LinkWatch, Links, Rtnl};
use crate::status::{self, Applied, Source};
use crate::timesync::{self, Decision, Floor};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// udhcpc's script: this binary under another name (image/ links it).
const HOOK: &str = "/usr/lib/quill/dhcp-hook";
/// How often the time is asked for again after a success.
const SYNC_EVERY: Duration = Duration::from_secs(3600);
const SYNC_RETRY: Duration = Duration::from_secs(60);

fn say(line: &str) {
    println!("{line}");
}

struct Time {
    floor: Floor,
    next: Option<Instant>,
    stepped: bool,
    servers: Vec<String>,
}

pub fn run(data: &Path) -> ! {
    let settings = devconfig::Store::new(data).load().map(|(s, _)| s).unwrap_or_default();
    let run_dir = Path::new(status::RUN_DIR);
    let mut problems = Vec::new();
    let (plans, wrong) = config::plans(&settings.network);
    for (iface, why) in wrong {
        problems.push(match iface {
            None => format!("network settings: {why}; DHCP is used (the settings file is kept)"),
            Some(i) => format!("network settings of {i}: {why}; DHCP is used there (the settings file is kept)"),
        });
    }
    if let Err(e) = config::proxy(&settings.network) {
        problems.push(format!("network settings: {e}; no proxy is used"));
    }
    for p in &problems {
        say(&format!("quill: {p}"));
    }
    status::set_settings_problem(run_dir, (!problems.is_empty()).then(|| problems.join(" ")).as_deref());
    let mut time =
        Time { floor: Floor::new(data), next: None, stepped: false, servers: settings.network.ntp_servers.clone() };
    apply_floor(&time.floor);

    let mut signals = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGUSR1, Signal::SIGTERM, Signal::SIGINT] {
        signals.add(s);
    }
    let _ = signals.thread_block();
    let sfd = SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).expect("signalfd");
    let mut watch = match LinkWatch::open() {
        Ok(w) => Some(w),
        Err(e) => {
            say(&format!("quill: network: cannot watch links ({e}); hot-plugged adapters are not seen"));
            None
        }
    };
    let mut rtnl = match Rtnl::open() {
        Ok(r) => r,
        Err(e) => {
            say(&format!("quill: network: {e}; no network"));
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    };
    let _ = std::fs::create_dir_all(status::RUN_DIR);
    // For `net::restart_daemon` (the local Setup applies network settings).
    let _ = std::fs::write(run_dir.join(crate::PID_FILE), std::process::id().to_string());
    let mut d = Netd::new(plans);
    let ctx = Ctx { host: hostname() };
    // Loopback first, then every link there is now.
    if let Ok(links) = rtnl.list() {
        for l in links.iter().filter(|l| l.name == "lo" && !l.up) {
            let _ = rtnl.set_up(l.index);
        }
        for l in &links {
            let actions = d.link(l);
            carry_out(&mut d, &mut rtnl, &ctx, actions);
        }
    }
    loop {
        let now = Instant::now();
        let wake = d.next_wakeup().into_iter().chain(time.next).min();
        let ms = wake.map(|t| t.saturating_duration_since(now).as_millis().min(60_000) as i32 + 1).unwrap_or(60_000);
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = &watch {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX));
        drop(fds);
        let now = Instant::now();
        while let Ok(Some(info)) = sfd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => {
                    while let Ok(st) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                        let Some(pid) = st.pid() else { break };
                        let actions = d.exited(pid.as_raw(), now);
                        carry_out(&mut d, &mut rtnl, &ctx, actions);
                    }
                }
                // The hook applied a lease: sync the time now.
                Ok(Signal::SIGUSR1) => {
                    for i in status::read_all(Path::new(status::RUN_DIR)) {
                        if i.applied.is_some_and(|a| a.source == Source::Dhcp) {
                            d.leased(&i.name);
                        }
                    }
                    time.next = Some(now);
                }
                Ok(Signal::SIGTERM | Signal::SIGINT) => {
                    for pid in d.clients() {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
                    }
                    std::process::exit(0);
                }
                _ => {}
            }
        }
        if let Some(w) = watch.as_mut() {
            for (link, removed) in w.drain() {
                let actions = if removed { d.removed(&link.name) } else { d.link(&link) };
                carry_out(&mut d, &mut rtnl, &ctx, actions);
            }
        }
        let actions = d.tick(now);
        carry_out(&mut d, &mut rtnl, &ctx, actions);
        if time.next.is_some_and(|t| t <= now) {
            sync_time(&mut time, now);
        }
    }
}

struct Ctx {
    host: String,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn carry_out(d: &mut Netd, rtnl: &mut Rtnl, ctx: &Ctx, actions: Vec<Action>) {
    let run = Path::new(status::RUN_DIR);
    for a in actions {
        match a {
            Action::SetUp { index } => {
                if let Err(e) = rtnl.set_up(index) {
                    say(&format!("quill: network: bringing link {index} up: {e}"));
                }
            }
            Action::Link { iface, up } => {
                let _ = status::write_link(run, &iface, up);
            }
            Action::Forget { iface } => {
                status::clear_applied(run, &iface);
                let _ = std::fs::remove_file(run.join(format!("{iface}.link")));
            }
            Action::Say(line) => say(&line),
            Action::Renew { iface, pid } => {
                status::mark_relinked(run, &iface);
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGUSR1);
            }
            Action::Stop { pid } => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
            }
            Action::StartDhcp { iface } => match start_udhcpc(&iface, &d.extra_dns(&iface), ctx) {
                Ok(pid) => d.started(&iface, pid),
                Err(e) => say(&format!("quill: network {iface}: starting udhcpc: {e}")),
            },
            Action::ApplyStatic { iface, index } => {
                let Plan::Static(s) = d.plan(&iface) else { continue };
                match rtnl.apply(index, s.ip, s.prefix, s.gateway, &[]) {
                    Ok(()) => {
                        let applied = Applied {
                            iface: iface.clone(),
                            ip: s.ip,
                            prefix: s.prefix,
                            gateway: s.gateway,
                            dns: s.dns.clone(),
                            search: vec![],
                            ntp: vec![],
                            vendor: None,
                            source: Source::Static,
                        };
                        let _ = status::write_applied(run, &applied);
                        let _ = crate::hook::write_resolv_conf(run, &[], Path::new("/etc/resolv.conf"));
                        say(&applied.console_line());
                    }
                    Err(e) => say(&format!("quill: network {iface}: the static address: {e}")),
                }
            }
        }
    }
}

fn start_udhcpc(iface: &str, extra_dns: &[std::net::Ipv4Addr], ctx: &Ctx) -> std::io::Result<i32> {
    let mut cmd = Command::new("/bin/udhcpc");
    cmd.args(["-f", "-n", "-t", "4", "-T", "1", "-i", iface, "-s", HOOK, "-V", "quill-dhcp-1"]);
    if !ctx.host.is_empty() {
        cmd.arg("-x").arg(format!("hostname:{}", ctx.host));
    }
    for opt in ["ntpsrv", "43", "staticroutes", "search", "domain"] {
        cmd.args(["-O", opt]);
    }
    cmd.env("QUILL_NETD_PID", std::process::id().to_string())
        .env("QUILL_EXTRA_DNS", extra_dns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","));
    // udhcpc's own chatter stays off the console; the hook's lines do not.
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let empty = SigSet::empty();
            libc::sigprocmask(libc::SIG_SETMASK, empty.as_ref(), std::ptr::null_mut());
            Ok(())
        });
    }
    Ok(cmd.spawn()?.id() as i32)
}

/// At start: a clock before the floor (a flat RTC battery, no RTC) is set
/// to the floor.
fn apply_floor(floor: &Floor) {
    let Some(f) = floor.read() else { return };
    let now = timesync::now_secs();
    if now < f {
        match devconfig::set_system_clock(f) {
            Ok(()) => say(&format!(
                "quill: the clock read {} ({now}), before the last known time; set to {} ({f})",
                date(now),
                date(f)
            )),
            Err(e) => say(&format!("quill: time floor: {e}")),
        }
    }
}

fn date(secs: i64) -> String {
    // SAFETY: gmtime_r fills a zeroed tm from a valid time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&(secs as _), &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

fn sync_time(t: &mut Time, now: Instant) {
    let mut servers: Vec<String> = status::read_all(Path::new(status::RUN_DIR))
        .into_iter()
        .filter_map(|i| i.applied)
        .flat_map(|a| a.ntp)
        .map(|a| a.to_string())
        .collect();
    for s in &t.servers {
        if !servers.contains(s) {
            servers.push(s.clone());
        }
    }
    if servers.is_empty() {
        t.next = None;
        return;
    }
    for server in &servers {
        let answer = match timesync::query(server, Duration::from_secs(2)) {
            Ok(a) => a,
            Err(e) => {
                say(&format!("quill: time: {e}"));
                continue;
            }
        };
        let floor = t.floor.read().unwrap_or(0);
        match timesync::decide(timesync::now_us(), answer, floor, t.stepped) {
            Decision::BeforeFloor => {
                say(&format!(
                    "quill: time: {server} says {}, before the last known time {}; ignored",
                    date(answer / 1_000_000),
                    date(floor)
                ));
                continue;
            }
            Decision::Step(secs) => {
                let before = timesync::now_secs();
                if let Err(e) = devconfig::set_system_clock(secs) {
                    say(&format!("quill: time: {e}"));
                    continue;
                }
                let _ = devconfig::set_hardware_clock(secs);
                t.stepped = true;
                say(&format!("quill: time set from NTP {server}: {} (was {})", date(secs), date(before)));
            }
            Decision::Slew(us) => {
                let tv = libc::timeval { tv_sec: (us / 1_000_000) as _, tv_usec: (us % 1_000_000) as _ };
                // SAFETY: adjtime reads a valid timeval; the old value is not asked for.
                unsafe { libc::adjtime(&tv, std::ptr::null_mut()) };
            }
        }
        if let Err(e) = t.floor.raise(timesync::now_secs()) {
            say(&format!("quill: time floor: {e}"));
        }
        t.next = Some(now + SYNC_EVERY);
        return;
    }
    t.next = Some(now + SYNC_RETRY);
}
