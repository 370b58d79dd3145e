//! QEMU harness for Quill: start a VM the way a board describes it, read
//! its serial console, wait for lines, type, send keys and take screendumps
//! over QMP, shut it down or pull the plug. The VM is killed (by PID) when
//! the [`Vm`] is dropped, also when a test panics.

mod qmp;
mod spec;

use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use qmp::Qmp;
pub use spec::MachineSpec;

const CLOSED: &str = "\n<console closed>\n";

/// The console bytes as text, without carriage returns.
fn clean(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).replace('\r', "")
}

/// How the disk image is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskBus {
    Virtio,
    /// A USB stick on an xHCI controller.
    Usb,
}

impl DiskBus {
    pub fn parse(s: &str) -> Result<DiskBus> {
        match s {
            "virtio" => Ok(DiskBus::Virtio),
            "usb" => Ok(DiskBus::Usb),
            other => bail!("unknown disk bus {other:?}: use virtio or usb"),
        }
    }
}

/// Where the serial console goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Read by the harness (tests).
    Capture,
    /// The user's terminal (`cargo xtask run`).
    Terminal,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub binary: String,
    pub machine: String,
    pub cpu: String,
    pub memory_mib: u32,
    pub firmware_code: PathBuf,
    pub firmware_vars: PathBuf,
    pub nic: String,
    pub disk: PathBuf,
    pub bus: DiskBus,
    /// Extra raw disks (virtio), e.g. a second internal disk.
    pub extra_disks: Vec<PathBuf>,
    /// USB sticks (raw images) on the xHCI controller.
    pub usb_sticks: Vec<PathBuf>,
    /// Add the xHCI controller even without sticks, so that tests can plug
    /// sticks in later ([`Vm::plug_usb_stick`]).
    pub usb_hotplug: bool,
    pub console: Console,
    pub gui: bool,
    /// Use KVM when /dev/kvm works; off by default (FACTS.md: KVM does not
    /// run Linux guests on these machines).
    pub kvm: bool,
    pub mac: String,
}

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

impl Config {
    /// A headless VM of the board's machine booting `disk` from its default bus.
    pub fn new(spec: &MachineSpec, disk: PathBuf, console: Console) -> Result<Config> {
        Ok(Config {
            binary: spec.binary.clone(),
            machine: spec.machine.clone(),
            cpu: spec.cpu.clone(),
            memory_mib: spec.memory_mib,
            firmware_code: spec.firmware_code.clone().into(),
            firmware_vars: spec.firmware_vars.clone().into(),
            nic: spec.nic.clone(),
            disk,
            bus: DiskBus::parse(&spec.disk)?,
            extra_disks: vec![],
            usb_sticks: vec![],
            usb_hotplug: false,
            console,
            gui: false,
            kvm: false,
            mac: "52:54:00:12:34:56".into(),
        })
    }

    fn args(&self, dir: &Path) -> Result<Vec<String>> {
        let vars = dir.join("OVMF_VARS.fd");
        std::fs::copy(&self.firmware_vars, &vars)
            .with_context(|| format!("copying {} (install ovmf)", self.firmware_vars.display()))?;
        let mut a: Vec<String> = vec![
            "-machine".into(),
            self.machine.clone(),
            "-accel".into(),
            if self.kvm { "kvm".into() } else { "tcg".into() },
            "-cpu".into(),
            self.cpu.clone(),
            "-m".into(),
            self.memory_mib.to_string(),
            "-smp".into(),
            "1".into(),
            "-drive".into(),
            format!("if=pflash,format=raw,unit=0,readonly=on,file={}", self.firmware_code.display()),
            "-drive".into(),
            format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
            "-drive".into(),
            format!("if=none,id=disk0,format=raw,file={}", self.disk.display()),
            "-netdev".into(),
            "user,id=net0,restrict=on".into(),
            "-device".into(),
            format!("{},netdev=net0,mac={}", self.nic, self.mac),
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()),
            "-no-reboot".into(),
        ];
        if self.bus == DiskBus::Usb || !self.usb_sticks.is_empty() || self.usb_hotplug {
            a.extend(["-device".into(), "qemu-xhci,id=xhci".into()]);
        }
        match self.bus {
            DiskBus::Virtio => a.extend(["-device".into(), "virtio-blk-pci,drive=disk0,bootindex=0".into()]),
            DiskBus::Usb => {
                a.extend(["-device".into(), "usb-storage,bus=xhci.0,drive=disk0,removable=on,bootindex=0".into()])
            }
        }
        for (i, d) in self.usb_sticks.iter().enumerate() {
            a.push("-drive".into());
            a.push(format!("if=none,id=stick{i},format=raw,file={}", d.display()));
            a.push("-device".into());
            a.push(format!("usb-storage,bus=xhci.0,drive=stick{i},removable=on"));
        }
        for (i, d) in self.extra_disks.iter().enumerate() {
            a.push("-drive".into());
            a.push(format!("if=none,id=extra{i},format=raw,file={}", d.display()));
            a.push("-device".into());
            a.push(format!("virtio-blk-pci,drive=extra{i}"));
        }
        if self.gui {
            a.extend(["-display".into(), "gtk".into()]);
        } else {
            a.extend(["-display".into(), "none".into(), "-vga".into(), "std".into()]);
        }
        match self.console {
            Console::Capture => a.extend(["-serial".into(), "stdio".into(), "-monitor".into(), "none".into()]),
            Console::Terminal => a.extend(["-serial".into(), "mon:stdio".into()]),
        }
        Ok(a)
    }
}

impl Vm {
    pub fn start(cfg: &Config) -> Result<Vm> {
        let dir = tempfile::Builder::new().prefix("quill-qemu-").tempdir()?;
        let args = cfg.args(dir.path())?;
        let mut cmd = Command::new(&cfg.binary);
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

    /// Like [`Vm::wait_for`] but does not wait for the end of the line (for
    /// prompts).
    pub fn wait_for_text(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait(needle, timeout, false)
    }

    fn wait(&mut self, needle: &str, timeout: Duration, whole_line: bool) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.transcript;
        let mut raw = lock.lock().unwrap();
        loop {
            let text = clean(&raw);
            if let Some(pos) = text.get(self.cursor..).and_then(|t| t.find(needle)) {
                let at = self.cursor + pos;
                let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
                let newline = text[at..].find('\n').map(|i| at + i);
                if let Some(end) = newline.or((!whole_line).then_some(text.len())) {
                    self.cursor = end;
                    return Ok(text[start..end].to_string());
                }
            }
            let now = Instant::now();
            if now >= deadline || text.ends_with(CLOSED) {
                let tail: String =
                    text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(anyhow!(
                    "{needle:?} did not appear on the console within {:?}{}; last lines:\n{tail}",
                    timeout,
                    if text.ends_with(CLOSED) { " (QEMU exited)" } else { "" }
                ));
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
