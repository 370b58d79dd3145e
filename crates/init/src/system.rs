//! The side effects of PID 1: mounts, starting processes, shutdown, the
//! emergency shell. This is the only code in Quill that mounts and reboots.

use crate::services::{Service, Tty};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const EARLY: &[(&str, &str, &str, u64, &str)] = &[
    // (source, target, fstype, flags, data)
    ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
    ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
    ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"),
    ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"),
    ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
    ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
];
const MS_NOSUID: u64 = libc::MS_NOSUID;
const MS_NODEV: u64 = libc::MS_NODEV;
const MS_NOEXEC: u64 = libc::MS_NOEXEC;

fn is_mounted(target: &str) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().nth(1) == Some(target)))
        .unwrap_or(false)
}

/// Mounts proc, sys, devtmpfs, devpts, /run and /tmp. A filesystem the
/// kernel already mounted (devtmpfs with CONFIG_DEVTMPFS_MOUNT) is kept.
pub fn mount_early() -> Result<(), String> {
    for &(src, target, fstype, flags, data) in EARLY {
        let _ = fs::create_dir_all(target);
        if target != "/proc" && is_mounted(target) {
            continue;
        }
        let data = (!data.is_empty()).then_some(data);
        mount(Some(src), target, Some(fstype), MsFlags::from_bits_truncate(flags), data)
            .map_err(|e| format!("mounting {fstype} on {target}: {e}"))?;
    }
    // The kernel asks for modules (crypto, filesystems) through this path:
    // init's own loader (crates/init/src/modprobe.rs).
    let _ = fs::write("/proc/sys/kernel/modprobe", "/sbin/modprobe\n");
    Ok(())
}

/// Where the firmware's variables are, when booted through UEFI.
pub const EFIVARS: &str = "/sys/firmware/efi/efivars";

/// Mounts efivarfs (the module loads on demand) when the system booted
/// through UEFI; true when the variables are there.
pub fn mount_efivars() -> bool {
    if !Path::new("/sys/firmware/efi").exists() {
        return false;
    }
    if is_mounted(EFIVARS) {
        return true;
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match mount(Some("efivarfs"), EFIVARS, Some("efivarfs"), flags, None::<&str>) {
        Ok(()) => true,
        Err(e) => {
            log::warn!("mounting efivarfs on {EFIVARS}: {e}; the boot entry is not checked");
            false
        }
    }
}

/// Mounts the DATA partition (ext4) at /data.
pub fn mount_data(dev: &Path) -> Result<(), String> {
    let _ = fs::create_dir_all("/data");
    mount(Some(dev), "/data", Some("ext4"), MsFlags::MS_NOATIME | MsFlags::MS_NODEV, None::<&str>)
        .map_err(|e| format!("mounting {} (ext4) on /data: {e}", dev.display()))
}

/// Mounts a USB volume read-only (no device nodes, no programs, no set-uid).
pub fn mount_ro(dev: &Path, fstype: &str, target: &Path) -> Result<(), String> {
    fs::create_dir_all(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some(dev), target, Some(fstype), flags, None::<&str>).map_err(|e| {
        let _ = fs::remove_dir(target);
        format!("mounting {} ({fstype}) read-only: {e}", dev.display())
    })
}

/// Detaches a mount (lazily: a reader may still hold a file open) and
/// removes its folder.
pub fn detach(target: &Path) {
    if let Err(e) = umount2(target, MntFlags::MNT_DETACH) {
        log::warn!("detaching {}: {e}", target.display());
    }
    let _ = fs::remove_dir(target);
}

/// Starts a helper in its own session with no input and its output on the
/// console (without making the console its controlling terminal, which
/// would take it from the shell).
pub fn spawn_to_console(argv: &[String]) -> std::io::Result<u32> {
    let console = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(console_device())
        .or_else(|_| fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open("/dev/console"))?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let empty = SigSet::empty();
            libc::sigprocmask(libc::SIG_SETMASK, empty.as_ref(), std::ptr::null_mut());
            libc::setsid();
            Ok(())
        });
    }
    Ok(cmd.spawn()?.id())
}

/// The device of the active console (`/dev/ttyS0`, `/dev/tty1`, ...).
pub fn console_device() -> PathBuf {
    fs::read_to_string("/sys/class/tty/console/active")
        .ok()
        .and_then(|s| s.split_whitespace().last().map(|t| PathBuf::from("/dev").join(t)))
        .unwrap_or_else(|| PathBuf::from("/dev/console"))
}

/// The signals init handles itself; they are blocked and read from a signalfd.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPWR,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

/// Sets the nice value of every thread of the processes `pids` (Linux
/// keeps it per thread; a thread inherits its creator's). Errors are
/// logged: a process that has exited meanwhile is no error.
pub fn renice(pids: &[i32], nice: i32) {
    for pid in pids {
        let tasks: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
            .unwrap_or_default();
        for tid in tasks {
            if let Err(e) = set_thread_nice(tid, nice) {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    log::warn!("nice {nice} for thread {tid} of {pid}: {e}");
                }
            }
        }
    }
}

/// Sets one thread's nice value (`tid` 0: the calling thread). Threads it
/// starts afterwards inherit it.
pub fn set_thread_nice(tid: i32, nice: i32) -> std::io::Result<()> {
    // SAFETY: setpriority changes no memory.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs this system runs on (1 when it cannot be told).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Starts a service in its own session, on its terminal if it has one.
///
/// Through posix_spawn (musl: a vfork-style clone sharing init's memory
/// until the exec), not fork: forking PID 1 copies its page tables and
/// write-protects every page it has, and the copy-on-write faults and TLB
/// flushes that follow, on every CPU running init's threads, made each
/// service's start cost tens of milliseconds before ready under QEMU.
/// std's Command cannot start a session (its `setsid` is unstable), so
/// the spawn attributes are set here: a new session, no blocked signals,
/// default dispositions (std ignores SIGPIPE in init), and the terminal
/// opened as fd 0 without O_NOCTTY, which makes it the new session's
/// controlling terminal, then copied to 1 and 2.
pub fn spawn(service: &Service) -> std::io::Result<u32> {
    use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
    use std::ffi::CString;
    let tty = match &service.tty {
        Tty::None => None,
        Tty::Console => Some(console_device()),
        Tty::Device(d) => Some(PathBuf::from("/dev").join(d)),
    };
    let cstring = |s: &str| CString::new(s).map_err(|_| std::io::Error::other(format!("a NUL byte in {s:?}")));
    let argv = service.argv.iter().map(|a| cstring(a)).collect::<std::io::Result<Vec<_>>>()?;
    let env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=linux"]
        .iter()
        .map(|e| cstring(e))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF
            | PosixSpawnFlags::from_bits_retain(libc::c_int::from(libc::POSIX_SPAWN_SETSID)),
    )?;
    attr.set_sigmask(&SigSet::empty())?;
    attr.set_sigdefault(&SigSet::all())?;
    let mut actions = PosixSpawnFileActions::init()?;
    if let Some(path) = &tty {
        actions.add_open(0, path.as_path(), nix::fcntl::OFlag::O_RDWR, nix::sys::stat::Mode::empty())?;
        actions.add_dup2(0, 1)?;
        actions.add_dup2(0, 2)?;
    }
    let program = argv.first().ok_or_else(|| std::io::Error::other("a service without a program"))?;
    // init's working directory is / (PID 1 never changes it).
    let pid = posix_spawn(program.as_c_str(), &actions, &attr, &argv, &env)?;
    Ok(pid.as_raw() as u32)
}

/// Starts a tool with its output captured, for [`tool_output`]; init does
/// other work while it runs.
pub fn start_tool(argv: &[&str]) -> std::io::Result<std::process::Child> {
    // No pre_exec: std empties the child's signal mask itself, and
    // without a closure it starts the child through posix_spawn instead
    // of forking PID 1 (see [`spawn`]).
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn()
}

/// Waits for a tool [`start_tool`] started: its exit status, and its
/// output (stdout, then stderr).
pub fn tool_output(child: std::process::Child) -> std::io::Result<(std::process::ExitStatus, String)> {
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok((out.status, text))
}

/// Reaps every exited child; returns their pids.
pub fn reap() -> Vec<i32> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    out.push(pid.as_raw());
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    PowerOff,
    Reboot,
    Halt,
}

impl Shutdown {
    pub fn from_signal(s: Signal) -> Option<Shutdown> {
        // The signals busybox's halt/poweroff/reboot send to PID 1;
        // SIGINT is ctrl-alt-del, SIGPWR a power-fail notice.
        match s {
            Signal::SIGTERM | Signal::SIGINT => Some(Shutdown::Reboot),
            Signal::SIGUSR2 | Signal::SIGPWR => Some(Shutdown::PowerOff),
            Signal::SIGUSR1 => Some(Shutdown::Halt),
            _ => None,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Shutdown::PowerOff => "powering off",
            Shutdown::Reboot => "rebooting",
            Shutdown::Halt => "halting",
        }
    }
}

/// Stops every process, syncs, unmounts /data and resets or powers off.
pub fn shutdown(kind: Shutdown) -> ! {
    log::info!("{}: stopping all processes", kind.verb());
    let _ = kill(Pid::from_raw(-1), Signal::SIGTERM);
    // Interactive shells ignore SIGTERM but end on a hangup.
    let _ = kill(Pid::from_raw(-1), Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        reap();
        if matches!(waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)), Err(nix::errno::Errno::ECHILD)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(100));
    reap();
    nix::unistd::sync();
    if is_mounted("/data") {
        match umount2("/data", MntFlags::empty()) {
            Ok(()) => log::info!("/data unmounted"),
            Err(e) => {
                log::warn!("unmounting /data: {e}; remounting it read-only");
                let _ =
                    mount(None::<&str>, "/data", None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>);
            }
        }
    }
    nix::unistd::sync();
    log::info!("{}", kind.verb());
    let mode = match kind {
        Shutdown::PowerOff => RebootMode::RB_POWER_OFF,
        Shutdown::Reboot => RebootMode::RB_AUTOBOOT,
        Shutdown::Halt => RebootMode::RB_HALT_SYSTEM,
    };
    let err = reboot(mode).unwrap_err();
    emergency(&format!("the reboot system call failed: {err}"))
}

/// The emergency console's program.
const ADMIN: &str = "/usr/bin/quill-admin";

/// Prints the reason and keeps the emergency console (a password prompt
/// when one is set, then a shell) instead of letting the kernel panic.
/// Leave it with `reboot -f` or `poweroff -f`.
pub fn emergency(reason: &str) -> ! {
    let msg = format!(
        "\nquill: EMERGENCY: {reason}\nquill: starting the emergency console (the administrator password, when \
         one is set, opens a shell; leave it with `reboot -f` or `poweroff -f`)\n"
    );
    if let Ok(mut c) = fs::OpenOptions::new().write(true).open("/dev/console") {
        use std::io::Write;
        let _ = c.write_all(msg.as_bytes());
    } else {
        eprint!("{msg}");
    }
    let shell = Service {
        name: "emergency".into(),
        start: crate::services::Start::Early,
        restart: crate::services::Restart::Always,
        tty: Tty::Console,
        // Never a bare shell: quill-admin asks for the password (fails
        // closed when DATA, which holds it, is not mounted).
        argv: vec![ADMIN.into(), "login".into(), "--emergency".into()],
    };
    if !Path::new(ADMIN).exists() {
        let _ = fs::write("/dev/console", format!("quill: no emergency console: {ADMIN} is missing\n"));
    }
    loop {
        match spawn(&shell) {
            Ok(pid) => loop {
                match waitpid(Pid::from_raw(-1), None) {
                    Ok(s) if s.pid() == Some(Pid::from_raw(pid as i32)) => break,
                    Ok(_) => continue,
                    Err(_) => break,
                }
            },
            Err(e) => {
                let _ = fs::write("/dev/console", format!("quill: no emergency shell ({e})\n"));
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service starts in a session of its own, with nothing blocked and
    /// SIGPIPE at its default, whatever init's thread blocks and ignores
    /// (init blocks the signals it reads from a signalfd; std ignores
    /// SIGPIPE, and so does this test binary); a missing program is an
    /// error at once.
    #[test]
    fn a_service_starts_in_its_own_session_with_signals_as_new() {
        let dir = tempfile::tempdir().unwrap();
        // The output file stands in for the service's terminal (fds 0-2).
        let run = |name: &str, argv: &str| -> String {
            let out = dir.path().join(name);
            fs::write(&out, "").unwrap();
            let table = format!("{name} ready never {} {argv}\n", out.display());
            let service = crate::services::parse(&table).unwrap().remove(0);
            let mut blocked = SigSet::empty();
            blocked.add(Signal::SIGTERM);
            blocked.thread_block().unwrap();
            let pid = spawn(&service);
            blocked.thread_unblock().unwrap();
            waitpid(Pid::from_raw(pid.unwrap() as i32), None).unwrap();
            fs::read_to_string(&out).unwrap()
        };
        let status = run("status", "/bin/grep ^Sig /proc/self/status");
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or_default();
        assert_eq!(u64::from_str_radix(field("SigBlk:"), 16).unwrap(), 0, "{status}");
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(u64::from_str_radix(field("SigIgn:"), 16).unwrap() & sigpipe, 0, "{status}");
        // /proc/PID/stat: pid (comm) state ppid pgrp session ...
        let stat = run("stat", "/bin/cat /proc/self/stat");
        let words: Vec<&str> = stat.split_whitespace().collect();
        assert_eq!(words[0], words[5], "not a session leader: {stat}");

        let missing = crate::services::parse("x ready never none /nonexistent/program\n").unwrap().remove(0);
        assert!(spawn(&missing).is_err());
    }
}
