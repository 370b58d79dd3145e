//! The services init starts and keeps running, read from
//! `/etc/quill/services`:
//!
//! ```text
//! # name   start  restart  tty      command...
//! shell    ready  always   console  /bin/sh -l
//! ```
//!
//! `start` is `early` (right after init starts, before drivers load and
//! DATA is mounted: the display's UI, so that the screen shows something
//! within a second; such a service waits for `/run/quill/data-state`
//! itself), `ready` (once DATA is mounted and the settings applied), or
//! `checked` (a service that writes the slots, such as the updater: ready,
//! and also after `fwupdate boot-check` has settled what the last boot
//! left, which runs beside the `ready` services' start).
//! `restart` is `always` (restarted with a growing delay, 1 s up to 30 s) or
//! `never`; `tty` is `console` (the active console becomes the service's
//! controlling terminal), `none`, or a device such as `tty2`.

use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restart {
    Always,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tty {
    None,
    Console,
    Device(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Early,
    Ready,
    Checked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub start: Start,
    pub restart: Restart,
    pub tty: Tty,
    pub argv: Vec<String>,
}

/// Parses the table; errors name the line and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Service>, String> {
    let mut out: Vec<Service> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 5 {
            return Err(format!("line {}: expected `name start restart tty command...`", n + 1));
        }
        let start = match w[1] {
            "early" => Start::Early,
            "ready" => Start::Ready,
            "checked" => Start::Checked,
            other => return Err(format!("line {}: start must be early, ready or checked, not {other:?}", n + 1)),
        };
        let restart = match w[2] {
            "always" => Restart::Always,
            "never" => Restart::Never,
            other => return Err(format!("line {}: restart must be always or never, not {other:?}", n + 1)),
        };
        let tty = match w[3] {
            "none" => Tty::None,
            "console" => Tty::Console,
            dev => Tty::Device(dev.trim_start_matches("/dev/").to_string()),
        };
        if out.iter().any(|s| s.name == w[0]) {
            return Err(format!("line {}: service {} is listed twice", n + 1, w[0]));
        }
        out.push(Service {
            name: w[0].into(),
            start,
            restart,
            tty,
            argv: w[4..].iter().map(|s| s.to_string()).collect(),
        });
    }
    Ok(out)
}

/// Restart delay after `failures` quick exits in a row: 1, 2, 4 ... 30 s.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs((1u64 << failures.min(5)).min(30))
}

/// Bookkeeping of one service, independent of how processes are started.
#[derive(Debug)]
pub struct State {
    pub service: Service,
    pub pid: Option<i32>,
    pub started: Option<Instant>,
    pub failures: u32,
    pub next_start: Option<Instant>,
}

impl State {
    pub fn new(service: Service, now: Instant) -> State {
        State { service, pid: None, started: None, failures: 0, next_start: Some(now) }
    }

    /// Records an exit; schedules the restart. A run of over 10 s resets the
    /// failure count.
    pub fn exited(&mut self, now: Instant) {
        self.pid = None;
        let ran = self.started.map(|s| now.duration_since(s)).unwrap_or_default();
        self.failures = if ran > Duration::from_secs(10) { 0 } else { self.failures + 1 };
        self.next_start = match self.service.restart {
            Restart::Always => Some(now + backoff(self.failures.saturating_sub(1))),
            Restart::Never => None,
        };
    }

    pub fn due(&self, now: Instant) -> bool {
        self.pid.is_none() && self.next_start.is_some_and(|t| t <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_table() {
        let s = parse("# c\n\nshell ready always console /bin/sh -l\nlog early never /dev/tty2 /bin/x\nup checked always none /u\n")
            .unwrap();
        assert_eq!(s[0].argv, ["/bin/sh", "-l"]);
        assert_eq!(s[0].start, Start::Ready);
        assert_eq!(s[1].start, Start::Early);
        assert_eq!(s[2].start, Start::Checked);
        assert_eq!(s[0].tty, Tty::Console);
        assert_eq!(s[1].restart, Restart::Never);
        assert_eq!(s[1].tty, Tty::Device("tty2".into()));
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(parse("x ready always").unwrap_err().starts_with("line 1"));
        assert!(parse("\nx ready sometimes none /bin/x").unwrap_err().contains("line 2: restart"));
        assert!(parse("x soon always none /bin/x").unwrap_err().contains("line 1: start"));
        assert!(parse("x ready always none /a\nx ready never none /b").unwrap_err().contains("twice"));
    }

    #[test]
    fn restarts_back_off_and_reset_after_a_long_run() {
        let svc = parse("x ready always none /bin/x").unwrap().remove(0);
        let t0 = Instant::now();
        let mut st = State::new(svc, t0);
        assert!(st.due(t0));
        let mut now = t0;
        let mut delays = vec![];
        for _ in 0..7 {
            st.pid = Some(1);
            st.started = Some(now);
            now += Duration::from_millis(100);
            st.exited(now);
            delays.push(st.next_start.unwrap().duration_since(now).as_secs());
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        st.pid = Some(1);
        st.started = Some(now);
        now += Duration::from_secs(60);
        st.exited(now);
        assert_eq!(st.failures, 0);
        assert_eq!(st.next_start.unwrap().duration_since(now).as_secs(), 1);
    }

    #[test]
    fn never_is_not_restarted() {
        let svc = parse("x ready never none /bin/x").unwrap().remove(0);
        let now = Instant::now();
        let mut st = State::new(svc, now);
        st.pid = Some(5);
        st.exited(now);
        assert!(!st.due(now + Duration::from_secs(100)));
    }
}
