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

/// The line of `text` holding `needle` (from the line's start, which may
/// lie before `text`, to its end) and the offset of the end of that line;
/// `None` while the line is incomplete and `whole_line` asks for it.
fn find_line(text: &str, needle: &str, whole_line: bool) -> Option<(String, usize)> {
    let at = text.find(needle)?;
    let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[at..].find('\n').map(|i| at + i).or((!whole_line).then_some(text.len()))?;
    Some((text[start..end].to_string(), end))
}

/// `text` without the complete kernel messages (`[   12.901173] ...\n`) that
/// start in the middle of a line, and for each byte of the result its offset
/// in `text`. "abc[  1.200000] msg\ndef" reads "abcdef".
fn without_interjected_kmsgs(text: &str) -> (String, Vec<usize>) {
    let (joined, map, _) = split_interjected_kmsgs(text);
    (joined, map)
}

/// [`without_interjected_kmsgs`], and the messages taken out.
fn split_interjected_kmsgs(text: &str) -> (String, Vec<usize>, String) {
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    let mut removed = String::new();
    let mut i = 0;
    let mut line_start = true;
    while let Some(c) = text[i..].chars().next() {
        if c == '[' && !line_start {
            if let Some(len) = kmsg_len(&text[i..]) {
                removed.push_str(&text[i..i + len]);
                i += len;
                continue;
            }
        }
        out.push(c);
        map.extend((0..c.len_utf8()).map(|k| i + k));
        line_start = c == '\n';
        i += c.len_utf8();
    }
    (out, map, removed)
}

/// `text` with each kernel message that interrupted a line moved after the
/// text, so that a command's output reads whole and nothing is lost.
pub fn untangle_kmsgs(text: &str) -> String {
    let (mut joined, _, removed) = split_interjected_kmsgs(text);
    joined.push_str(&removed);
    joined
}

/// The length of a complete kernel message at the start of `s`, with its
/// newline: `[` seconds `.` six digits `] ` text `\n`.
fn kmsg_len(s: &str) -> Option<usize> {
    let close = s.find("] ")?;
    let (secs, micros) = s[1..close].trim_start().split_once('.')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !(digits(secs) && digits(micros) && micros.len() == 6) {
        return None;
    }
    Some(s.find('\n')? + 1)
}

/// How the disk image is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskBus {
    Virtio,
    /// A USB stick on an xHCI controller.
    Usb,
    /// The machine's SD card slot (raspi4b). QEMU wants a power-of-two size.
    Sd,
}

impl DiskBus {
    pub fn parse(s: &str) -> Result<DiskBus> {
        match s {
            "virtio" => Ok(DiskBus::Virtio),
            "usb" => Ok(DiskBus::Usb),
            "sd" => Ok(DiskBus::Sd),
            other => bail!("unknown disk bus {other:?}: use virtio, usb or sd"),
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
    pub cpu: Option<String>,
    /// `-accel` when KVM is not used.
    pub accel: String,
    pub memory_mib: u32,
    /// UEFI firmware; none with [`Config::direct`].
    pub firmware: Option<(PathBuf, PathBuf)>,
    /// QEMU loads these itself instead of a firmware booting the disk.
    pub direct: Option<DirectBoot>,
    pub nic: Option<String>,
    /// A USB keyboard on the machine's own USB controller.
    pub usb_keyboard: bool,
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

/// What QEMU loads itself for a direct boot (`-kernel -dtb -initrd -append`).
#[derive(Clone, Debug)]
pub struct DirectBoot {
    pub kernel: PathBuf,
    pub dtb: PathBuf,
    pub initrd: PathBuf,
    pub append: String,
}

impl DirectBoot {
    /// The files `cargo xtask build` leaves next to a direct-boot board's
    /// disk.img: the kernel, the QEMU-only device tree, the initramfs and
    /// slot A's command line with QEMU's console.
    pub const KERNEL: &'static str = "vmlinuz";
    pub const DTB: &'static str = "qemu.dtb";
    pub const INITRD: &'static str = "initrd.zst";
    pub const CMDLINE: &'static str = "qemu-cmdline.txt";

    pub fn from_build_dir(dir: &Path) -> Result<DirectBoot> {
        let cmdline = dir.join(Self::CMDLINE);
        let append = std::fs::read_to_string(&cmdline)
            .with_context(|| format!("reading {} (build the image first)", cmdline.display()))?;
        Ok(DirectBoot {
            kernel: dir.join(Self::KERNEL),
            dtb: dir.join(Self::DTB),
            initrd: dir.join(Self::INITRD),
            append: append.trim().to_string(),
        })
    }
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
            accel: spec.accel.clone(),
            memory_mib: spec.memory_mib,
            firmware: match (&spec.firmware_code, &spec.firmware_vars) {
                (Some(c), Some(v)) => Some((c.into(), v.into())),
                _ => None,
            },
            direct: None,
            nic: spec.nic.clone(),
            usb_keyboard: spec.usb_keyboard,
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
        let mut a: Vec<String> = vec![
            "-machine".into(),
            self.machine.clone(),
            "-accel".into(),
            if self.kvm { "kvm".into() } else { self.accel.clone() },
            "-m".into(),
            self.memory_mib.to_string(),
        ];
        if let Some(cpu) = &self.cpu {
            a.extend(["-cpu".into(), cpu.clone(), "-smp".into(), "1".into()]);
        }
        match (&self.direct, &self.firmware) {
            (Some(d), _) => {
                for p in [&d.kernel, &d.dtb, &d.initrd] {
                    if !p.is_file() {
                        bail!("{} does not exist; build the image first", p.display());
                    }
                }
                a.extend([
                    "-kernel".into(),
                    d.kernel.display().to_string(),
                    "-dtb".into(),
                    d.dtb.display().to_string(),
                    "-initrd".into(),
                    d.initrd.display().to_string(),
                    "-append".into(),
                    d.append.clone(),
                ]);
            }
            (None, Some((code, vars_template))) => {
                let vars = dir.join("OVMF_VARS.fd");
                std::fs::copy(vars_template, &vars)
                    .with_context(|| format!("copying {} (install ovmf)", vars_template.display()))?;
                a.extend([
                    "-drive".into(),
                    format!("if=pflash,format=raw,unit=0,readonly=on,file={}", code.display()),
                    "-drive".into(),
                    format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
                ]);
            }
            (None, None) => {
                bail!("the machine has neither UEFI firmware nor a direct boot; fix the board's [qemu] table")
            }
        }
        if self.bus == DiskBus::Sd {
            a.extend(["-drive".into(), format!("if=sd,index=0,format=raw,file={}", self.disk.display())]);
        } else {
            a.extend(["-drive".into(), format!("if=none,id=disk0,format=raw,file={}", self.disk.display())]);
        }
        if let Some(nic) = &self.nic {
            a.extend([
                "-netdev".into(),
                "user,id=net0,restrict=on".into(),
                "-device".into(),
                format!("{nic},netdev=net0,mac={}", self.mac),
            ]);
        }
        if self.usb_keyboard {
            a.extend(["-usb".into(), "-device".into(), "usb-kbd".into()]);
        }
        a.extend([
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()),
            "-no-reboot".into(),
        ]);
        if self.bus == DiskBus::Usb || !self.usb_sticks.is_empty() || self.usb_hotplug {
            a.extend(["-device".into(), "qemu-xhci,id=xhci".into()]);
        }
        match self.bus {
            DiskBus::Virtio => a.extend(["-device".into(), "virtio-blk-pci,drive=disk0,bootindex=0".into()]),
            DiskBus::Usb => {
                a.extend(["-device".into(), "usb-storage,bus=xhci.0,drive=disk0,removable=on,bootindex=0".into()])
            }
            DiskBus::Sd => {}
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
            a.extend(["-display".into(), "none".into()]);
            if self.firmware.is_some() {
                a.extend(["-vga".into(), "std".into()]);
            }
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
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.transcript;
        let mut raw = lock.lock().unwrap();
        loop {
            let text = clean(&raw);
            let rest = text.get(self.cursor..).unwrap_or("");
            if let Some((line, end)) = find_line(rest, needle, whole_line) {
                self.cursor += end;
                return Ok(line);
            }
            // The kernel writes its messages straight to the UART, so one can
            // land in the middle of a program's line; look again with those
            // messages taken out.
            let (joined, map) = without_interjected_kmsgs(rest);
            if let Some((line, end)) = find_line(&joined, needle, whole_line) {
                self.cursor += map.get(end).copied().unwrap_or(rest.len());
                return Ok(line);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_message_inside_a_line_is_looked_through() {
        let text = "x\nfwupdate: test pause at [   12.901173] init: health check passed\nAfterFlip for 600 s\nnext\n";
        assert_eq!(find_line(text, "test pause at AfterFlip", true), None);
        let (joined, map) = without_interjected_kmsgs(text);
        assert_eq!(joined, "x\nfwupdate: test pause at AfterFlip for 600 s\nnext\n");
        let (line, end) = find_line(&joined, "test pause at AfterFlip", true).unwrap();
        assert_eq!(line, "fwupdate: test pause at AfterFlip for 600 s");
        // The end maps to the newline after the continuation in the raw text.
        assert_eq!(&text[map[end]..], "\nnext\n");
        // The kernel message itself is still found in the raw text.
        assert_eq!(
            find_line(text, "health check passed", true).unwrap().0,
            "fwupdate: test pause at [   12.901173] init: health check passed"
        );
    }

    #[test]
    fn untangled_output_keeps_the_kernel_messages_at_the_end() {
        let text = "status: prio[    1.000000] init: a\nrity=2\nok\n";
        assert_eq!(untangle_kmsgs(text), "status: priority=2\nok\n[    1.000000] init: a\n");
        assert_eq!(untangle_kmsgs("plain\n"), "plain\n");
    }

    #[test]
    fn only_complete_timestamped_messages_are_taken_out() {
        for text in ["a [1] b\n", "a [   1.2] b\n", "[   12.901173] at line start\n", "a [   12.901173] no newline yet"]
        {
            assert_eq!(without_interjected_kmsgs(text).0, text, "{text:?}");
        }
    }
}
