//! `log` backend of PID 1: every record goes to the console (with the
//! kernel's monotonic timestamp so lines sort with kernel messages) and to
//! /dev/kmsg (so `dmesg` has it too).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

pub struct InitLogger {
    console: Mutex<Option<File>>,
    kmsg: Mutex<Option<File>>,
}

fn open_w(path: &str) -> Option<File> {
    OpenOptions::new().write(true).open(path).ok()
}

/// Seconds since boot (CLOCK_MONOTONIC, as the kernel's printk times).
pub fn uptime() -> f64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

impl InitLogger {
    /// Installs the logger. Safe to call before /dev is mounted: the files
    /// are opened again by [`InitLogger::reopen`] once it is.
    pub fn install() -> &'static InitLogger {
        let logger = Box::leak(Box::new(InitLogger { console: Mutex::new(None), kmsg: Mutex::new(None) }));
        logger.reopen();
        let _ = log::set_logger(logger);
        log::set_max_level(LevelFilter::Info);
        logger
    }

    pub fn reopen(&self) {
        *self.console.lock().unwrap() = open_w("/dev/console");
        *self.kmsg.lock().unwrap() = open_w("/dev/kmsg");
    }

    /// Writes a line to the console as it is, for the lines tests look for
    /// (`quill: ready ...`).
    pub fn console_line(&self, line: &str) {
        if let Some(c) = self.console.lock().unwrap().as_mut() {
            let _ = writeln!(c, "{line}");
        }
        if let Some(k) = self.kmsg.lock().unwrap().as_mut() {
            let _ = writeln!(k, "<5>{line}");
        }
    }
}

impl Log for InitLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= Level::Info
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let (prio, tag) = match r.level() {
            Level::Error => (3, "error: "),
            Level::Warn => (4, "warning: "),
            _ => (6, ""),
        };
        if let Some(c) = self.console.lock().unwrap().as_mut() {
            let _ = writeln!(c, "[{:>12.6}] init: {tag}{}", uptime(), r.args());
        }
        if let Some(k) = self.kmsg.lock().unwrap().as_mut() {
            let _ = writeln!(k, "<{prio}>init: {tag}{}", r.args());
        }
    }

    fn flush(&self) {}
}
