//! The assistant's lines on the console, with the kernel's time stamp as
//! init writes them (the bench reads the first frame's time from them), and
//! in the kernel log; the ui crate's `log` records go the same way.

use std::io::Write;

/// A line on the console with the kernel's time stamp, as init writes them
/// (the bench reads the first frame's time from it), and in the kernel log.
pub fn log(msg: &str) {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills ts.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    let uptime = ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
    let line = format!("[{uptime:>12.6}] assistant: {msg}\n");
    let open = |p: &str| std::fs::OpenOptions::new().write(true).open(p);
    if open("/dev/console").and_then(|mut f| f.write_all(line.as_bytes())).is_err() {
        eprint!("{line}");
    }
    let _ = open("/dev/kmsg").and_then(|mut f| f.write_all(format!("<6>assistant: {msg}\n").as_bytes()));
}

/// The ui crate's `log` records (input devices found and gone, the
/// display's mode) go to the console like the assistant's own lines, so a
/// keyboard plugged in later shows when it is usable.
pub struct ConsoleLog;

impl ::log::Log for ConsoleLog {
    fn enabled(&self, m: &::log::Metadata) -> bool {
        m.level() <= ::log::Level::Info
    }
    fn log(&self, r: &::log::Record) {
        if self.enabled(r.metadata()) {
            log(&r.args().to_string());
        }
    }
    fn flush(&self) {}
}

pub static CONSOLE_LOG: ConsoleLog = ConsoleLog;
