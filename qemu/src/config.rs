//! What QEMU is started with: the machine, firmware or direct boot, disks,
//! USB sticks, network, console, as a board file's `[qemu]` table describes.

use crate::MachineSpec;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

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
    /// Virtual CPUs (`-smp`). The tests use one, the slowest case; the
    /// thin clients have two to four cores, which the bench boots too.
    pub cpus: u32,
    /// `-accel` when KVM is not used.
    pub accel: String,
    pub memory_mib: u32,
    /// UEFI firmware; none with [`Config::direct`].
    pub firmware: Option<(PathBuf, PathBuf)>,
    /// Tell the firmware which disk to boot (`bootindex=0`); false: it goes
    /// by its own variables (BootOrder), as a real machine does.
    pub boot_index: bool,
    /// The firmware's variable store to use and keep (a machine's NVRAM
    /// across boots); `None`: a fresh copy of the template per VM.
    pub efi_vars: Option<PathBuf>,
    /// QEMU loads these itself instead of a firmware booting the disk.
    pub direct: Option<DirectBoot>,
    /// QEMU loads U-Boot and its device tree, which boots the disk.
    pub uboot: Option<UBoot>,
    pub nic: Option<String>,
    /// The NIC on this TAP device instead of QEMU's user-mode network.
    pub tap: Option<String>,
    /// Start QEMU inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// A USB keyboard on the machine's own USB controller.
    pub usb_keyboard: bool,
    /// Sticks on the machine's own USB controller instead of a qemu-xhci.
    pub own_usb: bool,
    /// User-mode network only: (guest address:port, host address:port)
    /// pairs the guest reaches through QEMU (`guestfwd`, one host `socat`
    /// per connection); with restrict=on these are the only places it can
    /// reach.
    pub guestfwd: Vec<(String, String)>,
    pub disk: PathBuf,
    pub bus: DiskBus,
    /// Extra raw disks (virtio), e.g. a second internal disk.
    pub extra_disks: Vec<PathBuf>,
    /// USB sticks (raw images) on the xHCI controller.
    pub usb_sticks: Vec<PathBuf>,
    /// USB sticks served by an NBD server on these unix sockets (read only).
    pub nbd_sticks: Vec<PathBuf>,
    /// Add the xHCI controller even without sticks, so that tests can plug
    /// sticks in later ([`Vm::plug_usb_stick`]).
    pub usb_hotplug: bool,
    pub console: Console,
    pub gui: bool,
    /// A display adapter (the machine's default); false: none at all, a
    /// device with only a serial console.
    pub display: bool,
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
    pub const INITRD: &'static str = "initrd.img";
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

/// U-Boot as the Pi's GPU firmware would start it: `-kernel u-boot.bin
/// -dtb qemu.dtb`; it then boots the disk (bootsel on its ESP).
#[derive(Clone, Debug)]
pub struct UBoot {
    pub uboot: PathBuf,
    pub dtb: PathBuf,
}

impl UBoot {
    /// U-Boot as `cargo xtask build` leaves it next to disk.img.
    pub const FILE: &'static str = "u-boot.bin";

    pub fn from_build_dir(dir: &Path) -> Result<UBoot> {
        let u = UBoot { uboot: dir.join(Self::FILE), dtb: dir.join(DirectBoot::DTB) };
        for p in [&u.uboot, &u.dtb] {
            anyhow::ensure!(p.is_file(), "{} does not exist; build the image first", p.display());
        }
        Ok(u)
    }
}

impl Config {
    /// A headless VM of the board's machine booting `disk` from its default bus.
    pub fn new(spec: &MachineSpec, disk: PathBuf, console: Console) -> Result<Config> {
        Ok(Config {
            binary: spec.binary.clone(),
            machine: spec.machine.clone(),
            cpu: spec.cpu.clone(),
            cpus: 1,
            accel: spec.accel.clone(),
            memory_mib: spec.memory_mib,
            firmware: match (&spec.firmware_code, &spec.firmware_vars) {
                (Some(c), Some(v)) => Some((c.into(), v.into())),
                _ => None,
            },
            efi_vars: None,
            boot_index: true,
            direct: None,
            uboot: None,
            nic: spec.nic.clone(),
            tap: None,
            netns: None,
            usb_keyboard: spec.usb_keyboard,
            own_usb: spec.own_usb,
            guestfwd: vec![],
            disk,
            bus: DiskBus::parse(&spec.disk)?,
            extra_disks: vec![],
            usb_sticks: vec![],
            nbd_sticks: vec![],
            usb_hotplug: false,
            console,
            gui: false,
            display: true,
            kvm: false,
            mac: "52:54:00:12:34:56".into(),
        })
    }

    pub(crate) fn args(&self, dir: &Path) -> Result<Vec<String>> {
        let mut a: Vec<String> = vec![
            "-machine".into(),
            self.machine.clone(),
            "-accel".into(),
            if self.kvm { "kvm".into() } else { self.accel.clone() },
            "-m".into(),
            self.memory_mib.to_string(),
        ];
        if let Some(cpu) = &self.cpu {
            a.extend(["-cpu".into(), cpu.clone(), "-smp".into(), self.cpus.max(1).to_string()]);
        }
        match (&self.direct, &self.firmware) {
            (None, _) if self.uboot.is_some() => {
                let u = self.uboot.as_ref().expect("checked");
                a.extend(["-kernel".into(), u.uboot.display().to_string(), "-dtb".into(), u.dtb.display().to_string()]);
            }
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
                let vars = match &self.efi_vars {
                    Some(v) => {
                        if !v.exists() {
                            std::fs::copy(vars_template, v)
                                .with_context(|| format!("copying {} (install ovmf)", vars_template.display()))?;
                        }
                        v.clone()
                    }
                    None => {
                        let v = dir.join("OVMF_VARS.fd");
                        std::fs::copy(vars_template, &v)
                            .with_context(|| format!("copying {} (install ovmf)", vars_template.display()))?;
                        v
                    }
                };
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
            let netdev = match &self.tap {
                Some(tap) => format!("tap,id=net0,ifname={tap},script=no,downscript=no"),
                None => {
                    let mut n = String::from("user,id=net0,restrict=on");
                    // One socat per guest connection (`cmd:`): a `tcp:`
                    // chardev is one connection for QEMU's whole life, and
                    // is gone once the server closes it.
                    for (guest, host) in &self.guestfwd {
                        n.push_str(&format!(",guestfwd=tcp:{guest}-cmd:socat - TCP:{host}"));
                    }
                    n
                }
            };
            a.extend(["-netdev".into(), netdev, "-device".into(), format!("{nic},netdev=net0,mac={}", self.mac)]);
        }
        if self.usb_keyboard || self.own_usb {
            a.push("-usb".into());
        }
        if self.usb_keyboard {
            a.extend(["-device".into(), "usb-kbd".into()]);
        }
        a.extend([
            "-qmp".into(),
            format!("unix:{},server=on,wait=off", dir.join("qmp.sock").display()),
            "-no-reboot".into(),
        ]);
        let sticks = !self.usb_sticks.is_empty() || !self.nbd_sticks.is_empty() || self.usb_hotplug;
        if self.bus == DiskBus::Usb || (sticks && !self.own_usb) {
            a.extend(["-device".into(), "qemu-xhci,id=xhci".into()]);
        }
        let stick_bus = if self.own_usb { "" } else { "bus=xhci.0," };
        let boot = if self.boot_index { ",bootindex=0" } else { "" };
        match self.bus {
            DiskBus::Virtio => a.extend(["-device".into(), format!("virtio-blk-pci,drive=disk0{boot}")]),
            DiskBus::Usb => {
                a.extend(["-device".into(), format!("usb-storage,bus=xhci.0,drive=disk0,removable=on{boot}")])
            }
            DiskBus::Sd => {}
        }
        for (i, d) in self.usb_sticks.iter().enumerate() {
            a.push("-drive".into());
            a.push(format!("if=none,id=stick{i},format=raw,file={}", d.display()));
            a.push("-device".into());
            a.push(format!("usb-storage,{stick_bus}drive=stick{i},removable=on"));
        }
        for (i, sock) in self.nbd_sticks.iter().enumerate() {
            a.push("-drive".into());
            a.push(format!(
                "if=none,id=nbd{i},format=raw,readonly=on,file.driver=nbd,file.server.type=unix,file.server.path={}",
                sock.display()
            ));
            a.push("-device".into());
            a.push(format!("usb-storage,{stick_bus}drive=nbd{i},removable=on"));
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
        }
        if !self.display {
            a.extend(["-vga".into(), "none".into()]);
        } else if !self.gui && self.firmware.is_some() {
            a.extend(["-vga".into(), "std".into()]);
        }
        match self.console {
            Console::Capture => a.extend(["-serial".into(), "stdio".into(), "-monitor".into(), "none".into()]),
            Console::Terminal => a.extend(["-serial".into(), "mon:stdio".into()]),
        }
        Ok(a)
    }
}
