//! Who this boot is: the `quill.*` words the boot selector put on the
//! kernel command line (`/proc/cmdline`) and what the image says about
//! itself (`/etc/quill/release`, written by the image build). The one
//! reader of both, for init, `fwupdate` and the Setup Assistant; each
//! reads them under a root it is given (`/` on a device, a folder in tests).
//!
//! Architecture Invariant: nothing else in Quill parses the kernel command
//! line or the release file.

mod unit;

pub use unit::{mac_hex, unit_id};

use abslot::Slot;
use std::collections::BTreeMap;
use std::path::Path;

/// Path of the kernel command line under the root.
pub const CMDLINE: &str = "proc/cmdline";
/// Path of the release file under the root.
pub const RELEASE: &str = "etc/quill/release";

/// The `quill.*` words of the kernel command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootArgs {
    /// `quill.slot=a|b`, set by the boot selector.
    pub slot: Option<Slot>,
    /// `quill.partuuid=`: PARTUUID of the booted slot partition (lower case).
    pub slot_partuuid: Option<String>,
    /// `quill.diskuuid=`: GUID of the boot disk (lower case).
    pub disk_uuid: Option<String>,
    /// `quill.bootpci=1c.0/00.0`: the PCI device/function numbers from a
    /// PCI root down to the boot disk's controller, from the firmware's
    /// device path (bootsel). Empty when not given or not well formed.
    pub boot_pci: Vec<(u8, u8)>,
    /// `quill.emergency=1`: stop once DATA is mounted (before any service)
    /// and open the emergency console (which asks for the administrator
    /// password when one is set).
    pub emergency: bool,
    /// `quill.recover=1`: the forgotten-password recovery, asked for at the
    /// boot selector by someone at the device: init wipes the settings and
    /// the administrator password (never the trust state) before anything
    /// starts.
    pub recover: bool,
    /// `quill.autoupdate=1`: install an update found on USB storage without asking.
    pub autoupdate: bool,
    /// `quill.reset=1`: run the Setup Assistant again.
    pub reset: bool,
}

/// `1c.0/00.0` → `[(0x1c, 0), (0, 0)]`; `None` for anything else.
fn parse_pci_chain(value: &str) -> Option<Vec<(u8, u8)>> {
    value
        .split('/')
        .map(|step| {
            let (d, f) = step.split_once('.')?;
            let (d, f) = (u8::from_str_radix(d, 16).ok()?, u8::from_str_radix(f, 16).ok()?);
            (d < 32 && f < 8).then_some((d, f))
        })
        .collect()
}

impl BootArgs {
    pub fn parse(cmdline: &str) -> BootArgs {
        let mut args = BootArgs::default();
        for word in cmdline.split_ascii_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            let on = value != "0";
            match key {
                "quill.slot" => args.slot = Slot::from_letter(value),
                "quill.partuuid" if !value.is_empty() => args.slot_partuuid = Some(value.to_ascii_lowercase()),
                "quill.diskuuid" if !value.is_empty() => args.disk_uuid = Some(value.to_ascii_lowercase()),
                "quill.bootpci" => args.boot_pci = parse_pci_chain(value).unwrap_or_default(),
                "quill.emergency" => args.emergency = on,
                "quill.autoupdate" => args.autoupdate = on,
                "quill.reset" => args.reset = on,
                "quill.recover" => args.recover = on,
                _ => {}
            }
        }
        args
    }

    /// Reads `ROOT/proc/cmdline`; an unreadable file gives no words.
    pub fn read(root: &Path) -> BootArgs {
        BootArgs::parse(&std::fs::read_to_string(root.join(CMDLINE)).unwrap_or_default())
    }

    /// Whether the system was booted by Quill's boot selector (it names the
    /// booted slot and its partition).
    pub fn is_quill(&self) -> bool {
        self.slot.is_some() && self.slot_partuuid.is_some()
    }
}

/// What the image is, from `/etc/quill/release`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub version: String,
    pub board: String,
    pub build_id: String,
    /// `KEYRING=` names who the image trusts; `dev` for the development
    /// key that `cargo xtask build` makes when no keyring was chosen.
    pub keyring: String,
}

impl Release {
    /// Parses `KEY=value` lines (quotes and `#` comments allowed); missing
    /// keys read as `unknown`.
    pub fn parse(text: &str) -> Release {
        let map: BTreeMap<&str, &str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let get = |k: &str| map.get(k).copied().unwrap_or("unknown").to_string();
        Release { version: get("VERSION"), board: get("BOARD"), build_id: get("BUILD_ID"), keyring: get("KEYRING") }
    }

    /// Reads `ROOT/etc/quill/release`; `None` when there is none (not a
    /// Quill system: a host running `fwupdate`).
    pub fn read(root: &Path) -> Option<Release> {
        std::fs::read_to_string(root.join(RELEASE)).ok().map(|t| Release::parse(&t))
    }

    /// Whether the image trusts the development key (not for a fleet).
    pub fn trusts_dev_key(&self) -> bool {
        self.keyring == "dev"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_words_bootsel_adds() {
        let a = BootArgs::parse(
            "console=ttyS0 initrd=\\initrd.img quill.slot=b quill.partuuid=AB-CD quill.diskuuid=ef quiet\n",
        );
        assert_eq!(a.slot, Some(Slot::B));
        assert_eq!(a.slot_partuuid.as_deref(), Some("ab-cd"));
        assert_eq!(a.disk_uuid.as_deref(), Some("ef"));
        assert!(a.is_quill());
        assert!(!a.emergency && !a.autoupdate && !a.reset);
        assert!(BootArgs::parse("quill.autoupdate=1").autoupdate);
        assert!(!BootArgs::parse("quill.autoupdate=0").autoupdate);
        assert!(BootArgs::parse("quill.reset=1").reset);
        assert!(a.boot_pci.is_empty());
        assert_eq!(BootArgs::parse("quill.bootpci=1c.0/00.0").boot_pci, [(0x1c, 0), (0, 0)]);
        assert_eq!(BootArgs::parse("quill.bootpci=03.0").boot_pci, [(3, 0)]);
        for bad in ["", "3", "20.0", "03.8", "03.0/", "zz.0", "03.0/x"] {
            assert!(BootArgs::parse(&format!("quill.bootpci={bad}")).boot_pci.is_empty(), "{bad}");
        }
    }

    #[test]
    fn ignores_bad_values() {
        let a = BootArgs::parse("quill.slot=c quill.partuuid= quill.emergency");
        assert_eq!(a, BootArgs { emergency: true, ..BootArgs::default() });
        assert!(!a.is_quill());
        assert!(!BootArgs::parse("quill.emergency=0").emergency);
        assert!(BootArgs::parse("quill.slot=a quill.recover=1").recover);
        assert!(!BootArgs::parse("quill.recovery=1").recover);
    }

    #[test]
    fn reads_under_a_root() {
        let t = std::env::temp_dir().join(format!("bootid-{}", std::process::id()));
        std::fs::create_dir_all(t.join("proc")).unwrap();
        std::fs::create_dir_all(t.join("etc/quill")).unwrap();
        std::fs::write(t.join(CMDLINE), "quill.slot=a quill.partuuid=x\n").unwrap();
        std::fs::write(t.join(RELEASE), "# comment\nVERSION=1.2.3\nBOARD=\"x86-ud\"\nKEYRING=dev\n").unwrap();
        assert_eq!(BootArgs::read(&t).slot, Some(Slot::A));
        let r = Release::read(&t).unwrap();
        assert_eq!((r.version.as_str(), r.board.as_str(), r.build_id.as_str()), ("1.2.3", "x86-ud", "unknown"));
        assert!(r.trusts_dev_key());
        assert_eq!(Release::read(&t.join("nowhere")), None);
        assert_eq!(BootArgs::read(&t.join("nowhere")), BootArgs::default());
        std::fs::remove_dir_all(&t).unwrap();
    }
}
