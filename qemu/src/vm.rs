//! A running QEMU: its console captured, QMP for keys, screendumps, USB
//! hot-plug and pulling the plug; killed by PID when dropped.

use crate::console::{clean, find_line, untangle_kmsgs, without_interjected_kmsgs, CLOSED};
use crate::{Config, Console, Qmp};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running QEMU.
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    transcript: Arc<(Mutex<Vec<u8>>, Condvar)>,
    /// Transcript offset from which [`Vm::wait_for`] searches.
    cursor: usize,
    qmp: Option<Qmp>,
    _dir: tempfile::TempDir,
    qmp_path: PathBuf,
    started: Instant,
}

impl Vm {
    pub fn start(cfg: &Config) -> Result<Vm> {
        let dir = tempfile::Builder::new().prefix("quill-qemu-").tempdir()?;
        let args = cfg.args(dir.path())?;
        let mut cmd = match &cfg.netns {
            // `ip netns exec` execs QEMU: the pid stays QEMU's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, &cfg.binary]);
                c
            }
            None => Command::new(&cfg.binary),
        };
        cmd.args(&args);
        match cfg.console {
            Console::Capture => {
                cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            }
            Console::Terminal => {}
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {} (run `cargo xtask fetch` to install QEMU)", cfg.binary))?;
        let transcript = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let stdin = child.stdin.take();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let t = Arc::clone(&transcript);
            std::thread::spawn(move || {
                // Chunks, not lines: a shell prompt has no newline.
                let mut r = stream;
                let mut buf = [0u8; 4096];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let (lock, cv) = &*t;
                            lock.lock().unwrap().extend_from_slice(&buf[..n]);
                            cv.notify_all();
                        }
                    }
                }
                let (lock, cv) = &*t;
                lock.lock().unwrap().extend_from_slice(CLOSED.as_bytes());
                cv.notify_all();
            });
        }
        let qmp_path = dir.path().join("qmp.sock");
        Ok(Vm { child, stdin, transcript, cursor: 0, qmp: None, _dir: dir, qmp_path, started: Instant::now() })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the console printed so far.
    pub fn transcript(&self) -> String {
        clean(&self.transcript.0.lock().unwrap())
    }

    /// Seconds since QEMU was started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Waits until a complete console line after the cursor contains
    /// `needle`; returns that line and moves the cursor past it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait(needle, timeout, true)
    }

    /// Waits until a complete console line anywhere in the transcript, also
    /// before the cursor, contains `needle`; the cursor stays. For lines
    /// whose order against the ones already waited for is not fixed (a
    /// service started before `quill: ready` that logs around it).
    pub fn wait_seen(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let cursor = std::mem::take(&mut self.cursor);
        let r = self.wait(needle, timeout, true);
        self.cursor = cursor;
        r
    }

    /// Waits until `n` more complete lines came after the cursor (any
    /// lines: a moment picked by counting the guest's own events) and moves
    /// the cursor past them.
    pub fn wait_lines(&mut self, n: usize, timeout: Duration) -> Result<()> {
        self.wait_until(timeout, |rest| {
            let ends: Vec<usize> = rest.match_indices('\n').map(|(i, _)| i + 1).take(n).collect();
            (ends.len() >= n).then(|| ((), ends.last().copied().unwrap_or(0)))
        })
        .map_err(|_| anyhow!("{n} more console lines did not come within {timeout:?}"))
    }

    /// Like [`Vm::wait_seen`] but does not wait for the end of the line (a
    /// prompt printed before a line already waited for).
    pub fn wait_seen_text(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let cursor = std::mem::take(&mut self.cursor);
        let r = self.wait(needle, timeout, false);
        self.cursor = cursor.max(self.cursor);
        r
    }

    /// Runs a shell command on the serial console and waits for its end
    /// marker (computed by the shell, so the echo of the typed line does not
    /// match); returns the transcript from the command on, with kernel
    /// messages that landed inside lines moved after them. The exit status
    /// shows as `end-42-STATUS`.
    pub fn sh(&mut self, cmd: &str, timeout: Duration) -> Result<String> {
        let start = self.transcript().len();
        self.type_serial(&format!("{cmd}; echo end-$((40+2))-$?\n"))?;
        self.wait_for("end-42-", timeout)?;
        Ok(untangle_kmsgs(self.transcript().get(start..).unwrap_or("")))
    }

    /// Like [`Vm::wait_for`] but does not wait for the end of the line (for
    /// prompts).
    pub fn wait_for_text(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait(needle, timeout, false)
    }

    fn wait(&mut self, needle: &str, timeout: Duration, whole_line: bool) -> Result<String> {
        self.wait_until(timeout, |rest| {
            find_line(rest, needle, whole_line).or_else(|| {
                // The kernel writes its messages straight to the UART, so one
                // can land in the middle of a program's line; look again with
                // those messages taken out.
                let (joined, map) = without_interjected_kmsgs(rest);
                let (line, end) = find_line(&joined, needle, whole_line)?;
                Some((line, map.get(end).copied().unwrap_or(rest.len())))
            })
        })
        .map_err(|text| {
            let tail: String =
                text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            anyhow!(
                "{needle:?} did not appear on the console within {:?}{}; last lines:\n{tail}",
                timeout,
                if text.ends_with(CLOSED) { " (QEMU exited)" } else { "" }
            )
        })
    }

    /// Waits until `found` recognises something in the transcript after the
    /// cursor (it returns a value and how far to move the cursor). At the
    /// deadline, or when QEMU has exited, returns the whole transcript.
    fn wait_until<T>(
        &mut self,
        timeout: Duration,
        mut found: impl FnMut(&str) -> Option<(T, usize)>,
    ) -> std::result::Result<T, String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.transcript;
        let mut raw = lock.lock().unwrap();
        loop {
            let text = clean(&raw);
            if let Some((value, advance)) = found(text.get(self.cursor..).unwrap_or("")) {
                self.cursor += advance;
                return Ok(value);
            }
            let now = Instant::now();
            if now >= deadline || text.ends_with(CLOSED) {
                return Err(text);
            }
            raw = cv.wait_timeout(raw, deadline - now).unwrap().0;
        }
    }

    /// Types text on the serial console.
    pub fn type_serial(&mut self, text: &str) -> Result<()> {
        let s = self.stdin.as_mut().ok_or_else(|| anyhow!("the console is not captured"))?;
        s.write_all(text.as_bytes())?;
        s.flush()?;
        Ok(())
    }

    /// The QMP connection (opened on first use).
    pub fn qmp(&mut self) -> Result<&mut Qmp> {
        if self.qmp.is_none() {
            self.qmp = Some(Qmp::connect(&self.qmp_path, Duration::from_secs(10))?);
        }
        Ok(self.qmp.as_mut().unwrap())
    }

    /// Presses and releases keys given as QMP qcodes, e.g. `["ctrl", "alt", "delete"]`.
    pub fn send_key(&mut self, qcodes: &[&str]) -> Result<()> {
        let keys: Vec<_> = qcodes.iter().map(|k| serde_json::json!({"type": "qcode", "data": k})).collect();
        self.qmp()?.execute("send-key", serde_json::json!({ "keys": keys }))?;
        Ok(())
    }

    /// Saves the screen as a PNG.
    pub fn screendump(&mut self, path: &Path) -> Result<()> {
        self.qmp()?.execute("screendump", serde_json::json!({"filename": path, "format": "png"}))?;
        Ok(())
    }

    /// Plugs a USB stick (raw image) into the running machine's xHCI
    /// controller (the config needs `usb_hotplug` or a stick at start).
    pub fn plug_usb_stick(&mut self, id: &str, image: &Path) -> Result<()> {
        let q = self.qmp()?;
        q.execute(
            "blockdev-add",
            serde_json::json!({
                "driver": "raw", "node-name": format!("{id}-node"),
                "file": {"driver": "file", "filename": image},
            }),
        )?;
        q.execute(
            "device_add",
            serde_json::json!({
                "driver": "usb-storage", "bus": "xhci.0", "drive": format!("{id}-node"),
                "id": id, "removable": true,
            }),
        )?;
        Ok(())
    }

    /// Pulls the network cable of NIC `netdev` (`net0`) out, or puts it back.
    pub fn set_link(&mut self, netdev: &str, up: bool) -> Result<()> {
        self.qmp()?.execute("set_link", serde_json::json!({"name": netdev, "up": up}))?;
        Ok(())
    }

    /// Pulls a stick plugged with [`Vm::plug_usb_stick`] out.
    pub fn unplug_usb_stick(&mut self, id: &str) -> Result<()> {
        self.qmp()?.execute("device_del", serde_json::json!({ "id": id }))?;
        Ok(())
    }

    /// Pulls the plug: QEMU stops at once, nothing is flushed by the guest.
    pub fn pull_plug(&mut self) -> Result<()> {
        let _ = self.qmp().and_then(|q| q.execute("quit", serde_json::json!({})));
        self.wait_exit(Duration::from_secs(10)).map(|_| ())
    }

    /// Waits for QEMU to exit by itself (the guest powered off).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                bail!("QEMU (pid {}) did not exit within {timeout:?}", self.child.id());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
