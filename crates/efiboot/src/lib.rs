//! Quill's own UEFI boot entry: a `Boot####` load option named `Quill`
//! whose device path is the short form `HD(partition, GPT, ESP GUID, start,
//! size)/\EFI\BOOT\BOOTX64.EFI` (no PCI path, so it survives a disk that
//! moved to another slot or controller), first in `BootOrder`, the other
//! entries kept.
//!
//! The encodings ([`device_path`], [`LoadOption`]) are pure and tested
//! against bytes `efibootmgr` writes; the variables are read and written
//! through [`VarStore`], whose real implementation is efivarfs
//! ([`EfiVarFs`], the folder passed in).
//!
//! Written by hand: no maintained crate encodes load options and HD()
//! nodes without linking libefivar (efivar-rs needs the C library).
//!
//! Architecture Invariant: [`ensure`] changes only the `Quill` entry (or
//! creates it) and the position of its number in `BootOrder`; every other
//! entry and every other number in the order stays.

mod store;

pub use store::{EfiVarFs, MemStore, VarStore};

use std::io;

/// The EFI global variable GUID (`Boot####`, `BootOrder`).
pub const GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
/// Non-volatile, boot-service and runtime access.
pub const ATTRS: u32 = 0x7;
/// `LOAD_OPTION_ACTIVE`.
pub const ACTIVE: u32 = 0x1;
/// The entry's description.
pub const NAME: &str = "Quill";
/// What the entry starts: the boot selector on the ESP.
pub const LOADER_X64: &str = "\\EFI\\BOOT\\BOOTX64.EFI";
pub const LOADER_AA64: &str = "\\EFI\\BOOT\\BOOTAA64.EFI";

/// The loader of the machine this runs on.
pub fn loader() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        LOADER_AA64
    } else {
        LOADER_X64
    }
}

/// An ESP on a GPT disk as a media device path node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardDrive {
    /// Partition number (1-based, as in the GPT).
    pub number: u32,
    pub start_lba: u64,
    pub size_lba: u64,
    /// The partition's unique GUID in the byte order the GPT stores it.
    pub guid: [u8; 16],
}

impl HardDrive {
    /// The GUID as text (lower case, the usual mixed-endian form).
    pub fn guid_text(&self) -> String {
        let g = &self.guid;
        format!(
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
        )
    }
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().chain(std::iter::once(0)).flat_map(u16::to_le_bytes).collect()
}

/// `HD(...)/\PATH` and the end node.
pub fn device_path(hd: &HardDrive, file: &str) -> Vec<u8> {
    let mut p = Vec::new();
    // Media (4) / Hard Drive (1), 42 bytes.
    p.extend_from_slice(&[4, 1, 42, 0]);
    p.extend_from_slice(&hd.number.to_le_bytes());
    p.extend_from_slice(&hd.start_lba.to_le_bytes());
    p.extend_from_slice(&hd.size_lba.to_le_bytes());
    p.extend_from_slice(&hd.guid);
    p.push(2); // partition format: GPT
    p.push(2); // signature type: GUID
               // Media (4) / File Path (4).
    let name = ucs2(file);
    p.extend_from_slice(&[4, 4]);
    p.extend_from_slice(&((4 + name.len()) as u16).to_le_bytes());
    p.extend_from_slice(&name);
    // End of the whole path.
    p.extend_from_slice(&[0x7f, 0xff, 4, 0]);
    p
}

/// An `EFI_LOAD_OPTION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOption {
    pub attributes: u32,
    pub description: String,
    pub path: Vec<u8>,
    pub optional: Vec<u8>,
}

impl LoadOption {
    pub fn quill(hd: &HardDrive) -> LoadOption {
        LoadOption { attributes: ACTIVE, description: NAME.into(), path: device_path(hd, loader()), optional: vec![] }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.attributes.to_le_bytes());
        v.extend_from_slice(&(self.path.len() as u16).to_le_bytes());
        v.extend_from_slice(&ucs2(&self.description));
        v.extend_from_slice(&self.path);
        v.extend_from_slice(&self.optional);
        v
    }

    /// `None` when the bytes are no load option.
    pub fn decode(b: &[u8]) -> Option<LoadOption> {
        let attributes = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
        let path_len = u16::from_le_bytes(b.get(4..6)?.try_into().ok()?) as usize;
        let mut at = 6;
        let mut units = Vec::new();
        loop {
            let u = u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?);
            at += 2;
            if u == 0 {
                break;
            }
            units.push(u);
        }
        let description = String::from_utf16_lossy(&units);
        let path = b.get(at..at + path_len)?.to_vec();
        let optional = b[at + path_len..].to_vec();
        Some(LoadOption { attributes, description, path, optional })
    }

    /// The first Hard Drive node of the path, when it has one.
    pub fn hard_drive(&self) -> Option<HardDrive> {
        let mut at = 0;
        while at + 4 <= self.path.len() {
            let (t, s) = (self.path[at], self.path[at + 1]);
            let len = u16::from_le_bytes([self.path[at + 2], self.path[at + 3]]) as usize;
            if len < 4 || at + len > self.path.len() {
                return None;
            }
            if (t, s) == (4, 1) && len == 42 {
                let n = &self.path[at + 4..at + 42];
                return Some(HardDrive {
                    number: u32::from_le_bytes(n[0..4].try_into().ok()?),
                    start_lba: u64::from_le_bytes(n[4..12].try_into().ok()?),
                    size_lba: u64::from_le_bytes(n[12..20].try_into().ok()?),
                    guid: n[20..36].try_into().ok()?,
                });
            }
            if t == 0x7f && s == 0xff {
                return None;
            }
            at += len;
        }
        None
    }
}

/// The variable name of entry `n`.
pub fn boot_var(n: u16) -> String {
    format!("Boot{n:04X}-{GLOBAL}")
}

fn order_var() -> String {
    format!("BootOrder-{GLOBAL}")
}

/// `BootOrder` as numbers (empty when it is missing or odd-sized).
pub fn boot_order(store: &dyn VarStore) -> io::Result<Vec<u16>> {
    Ok(match store.get(&order_var())? {
        Some((_, d)) => d.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect(),
        None => vec![],
    })
}

/// Every `Boot####` entry that decodes.
pub fn entries(store: &dyn VarStore) -> io::Result<Vec<(u16, LoadOption)>> {
    let mut out = Vec::new();
    for name in store.list()? {
        let Some(hex) = name.strip_prefix("Boot").and_then(|r| r.strip_suffix(&format!("-{GLOBAL}"))) else {
            continue;
        };
        let Ok(n) = u16::from_str_radix(hex, 16) else { continue };
        if hex.len() != 4 {
            continue;
        }
        if let Some((_, data)) = store.get(&name)? {
            if let Some(o) = LoadOption::decode(&data) {
                out.push((n, o));
            }
        }
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// What the firmware's variables say about Quill's entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// `Boot####` of the entry named Quill, if there is one.
    pub entry: Option<u16>,
    /// It points at this disk's ESP (partition GUID, start, size, loader).
    pub points_here: bool,
    /// It is the first in `BootOrder`.
    pub first: bool,
    /// `BootOrder` numbers with no entry (reported, left alone).
    pub dangling: Vec<u16>,
}

impl Check {
    pub fn healthy(&self) -> bool {
        self.entry.is_some() && self.points_here && self.first
    }
}

/// Looks at Quill's entry against the ESP `hd`.
pub fn check(store: &dyn VarStore, hd: &HardDrive) -> io::Result<Check> {
    let all = entries(store)?;
    let order = boot_order(store)?;
    let want = LoadOption::quill(hd);
    // Ours: one that is exactly right, else the first named Quill.
    let ours =
        all.iter().find(|(_, o)| o.path == want.path).or_else(|| all.iter().find(|(_, o)| o.description == NAME));
    let entry = ours.map(|(n, _)| *n);
    let points_here = ours.is_some_and(|(_, o)| o.path == want.path && o.attributes & ACTIVE != 0);
    let first = entry.is_some() && order.first() == entry.as_ref();
    let dangling = order.iter().copied().filter(|n| !all.iter().any(|(m, _)| m == n)).collect();
    Ok(Check { entry, points_here, first, dangling })
}

/// What [`ensure`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    Nothing,
    /// A new entry `Boot####`.
    Created(u16),
    /// The entry named Quill pointed elsewhere (or was inactive) and was
    /// rewritten.
    Rewritten(u16),
    /// Moved to the front of `BootOrder`.
    MovedFirst(u16),
}

/// Makes Quill's entry exist, point at `hd` and come first. Returns what
/// changed, in order.
pub fn ensure(store: &mut dyn VarStore, hd: &HardDrive) -> io::Result<Vec<Done>> {
    let c = check(store, hd)?;
    let want = LoadOption::quill(hd);
    let mut done = Vec::new();
    let n = match c.entry {
        Some(n) if c.points_here => n,
        Some(n) => {
            store.set(&boot_var(n), ATTRS, &want.encode())?;
            done.push(Done::Rewritten(n));
            n
        }
        None => {
            let used: Vec<u16> = entries(store)?.iter().map(|(n, _)| *n).collect();
            let n = (0..=u16::MAX)
                .find(|n| !used.contains(n))
                .ok_or_else(|| io::Error::other("no free Boot#### number"))?;
            store.set(&boot_var(n), ATTRS, &want.encode())?;
            done.push(Done::Created(n));
            n
        }
    };
    let order = boot_order(store)?;
    if order.first() != Some(&n) {
        let mut new = vec![n];
        new.extend(order.iter().copied().filter(|&m| m != n));
        let bytes: Vec<u8> = new.iter().flat_map(|m| m.to_le_bytes()).collect();
        store.set(&order_var(), ATTRS, &bytes)?;
        done.push(Done::MovedFirst(n));
    }
    if done.is_empty() {
        done.push(Done::Nothing);
    }
    Ok(done)
}

#[cfg(test)]
mod tests;
