//! Keyboards and pointers through evdev (`/dev/input/event*`). Devices that
//! appear later (a USB keyboard plugged in, a driver that loads after the UI
//! started) are picked up: the directory is scanned again twice a second.
//! Key repeat comes from the kernel (value 2 events).

use super::{InputSource, Raw, BTN_LEFT};
use evdev::{AbsoluteAxisCode, Device, EventType, RelativeAxisCode};
use std::collections::{HashSet, VecDeque};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

struct Dev {
    path: PathBuf,
    dev: Device,
    /// (min, max) of ABS_X and ABS_Y for tablets.
    abs: Option<((i32, i32), (i32, i32))>,
    abs_pos: (i32, i32),
}

/// Every keyboard and pointer under /dev/input.
pub struct EvdevInput {
    dir: PathBuf,
    devices: Vec<Dev>,
    ignored: HashSet<PathBuf>,
    pending: VecDeque<Raw>,
    last_scan: Option<Instant>,
}

impl EvdevInput {
    pub fn new() -> EvdevInput {
        EvdevInput {
            dir: "/dev/input".into(),
            devices: Vec::new(),
            ignored: HashSet::new(),
            pending: VecDeque::new(),
            last_scan: None,
        }
    }

    fn scan(&mut self) {
        self.last_scan = Some(Instant::now());
        let Ok(rd) = std::fs::read_dir(&self.dir) else { return };
        for e in rd.flatten() {
            let path = e.path();
            let is_event = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("event"));
            if !is_event || self.ignored.contains(&path) || self.devices.iter().any(|d| d.path == path) {
                continue;
            }
            let Ok(dev) = Device::open(&path) else { continue };
            let keys =
                dev.supported_keys().is_some_and(|k| k.iter().count() > 20 || k.contains(evdev::KeyCode::BTN_LEFT));
            let rel = dev.supported_relative_axes().is_some_and(|r| r.contains(RelativeAxisCode::REL_X));
            let abs_axes = dev.supported_absolute_axes().is_some_and(|a| a.contains(AbsoluteAxisCode::ABS_X));
            if !(keys || rel || abs_axes) {
                self.ignored.insert(path);
                continue;
            }
            let mut abs = None;
            if abs_axes {
                if let Ok(infos) = dev.get_absinfo() {
                    let mut x = None;
                    let mut y = None;
                    for (code, info) in infos {
                        if code == AbsoluteAxisCode::ABS_X {
                            x = Some((info.minimum(), info.maximum()));
                        } else if code == AbsoluteAxisCode::ABS_Y {
                            y = Some((info.minimum(), info.maximum()));
                        }
                    }
                    abs = x.zip(y);
                }
            }
            if let Err(e) = dev.set_nonblocking(true) {
                log::warn!("input {}: {e}", path.display());
                continue;
            }
            log::info!("input {}: {}", path.display(), dev.name().unwrap_or("?"));
            self.devices.push(Dev { path, dev, abs, abs_pos: (0, 0) });
        }
    }

    fn read(&mut self, i: usize) -> bool {
        let d = &mut self.devices[i];
        let events: Vec<_> = match d.dev.fetch_events() {
            Ok(it) => it.collect(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) => {
                log::info!("input {} gone: {e}", d.path.display());
                return false;
            }
        };
        let mut moved = (0, 0);
        let mut pointed = false;
        for ev in events {
            match ev.event_type() {
                EventType::KEY if ev.code() == BTN_LEFT => {
                    if moved != (0, 0) {
                        self.pending.push_back(Raw::Move { dx: moved.0, dy: moved.1 });
                        moved = (0, 0);
                    }
                    self.pending.push_back(Raw::Button { down: ev.value() != 0 })
                }
                EventType::KEY => self.pending.push_back(Raw::Key { code: ev.code(), value: ev.value() }),
                EventType::RELATIVE if ev.code() == RelativeAxisCode::REL_X.0 => moved.0 += ev.value(),
                EventType::RELATIVE if ev.code() == RelativeAxisCode::REL_Y.0 => moved.1 += ev.value(),
                EventType::ABSOLUTE if ev.code() == AbsoluteAxisCode::ABS_X.0 => {
                    d.abs_pos.0 = ev.value();
                    pointed = true;
                }
                EventType::ABSOLUTE if ev.code() == AbsoluteAxisCode::ABS_Y.0 => {
                    d.abs_pos.1 = ev.value();
                    pointed = true;
                }
                EventType::SYNCHRONIZATION => {
                    if moved != (0, 0) {
                        self.pending.push_back(Raw::Move { dx: moved.0, dy: moved.1 });
                        moved = (0, 0);
                    }
                    if let (true, Some(((x0, x1), (y0, y1)))) = (pointed, d.abs) {
                        let f = |v: i32, a: i32, b: i32| (v - a) as f32 / (b - a).max(1) as f32;
                        self.pending.push_back(Raw::Point { x: f(d.abs_pos.0, x0, x1), y: f(d.abs_pos.1, y0, y1) });
                        pointed = false;
                    }
                }
                _ => {}
            }
        }
        true
    }
}

impl Default for EvdevInput {
    fn default() -> Self {
        Self::new()
    }
}

impl InputSource for EvdevInput {
    fn next(&mut self, timeout: Duration) -> Option<Raw> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(r);
            }
            if self.last_scan.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                self.scan();
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wait = (deadline - now).min(Duration::from_millis(500));
            let mut fds: Vec<libc::pollfd> = self
                .devices
                .iter()
                .map(|d| libc::pollfd { fd: d.dev.as_raw_fd(), events: libc::POLLIN, revents: 0 })
                .collect();
            // SAFETY: fds is a valid array of pollfd for its length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait.as_millis() as i32) };
            if n <= 0 {
                continue;
            }
            let mut gone = Vec::new();
            for (i, p) in fds.iter().enumerate() {
                if p.revents != 0 && !self.read(i) {
                    gone.push(i);
                }
            }
            for i in gone.into_iter().rev() {
                self.devices.remove(i);
            }
        }
    }
}
