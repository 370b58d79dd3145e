//! Where the firmware's variables are: efivarfs on a device, memory in
//! tests.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

/// UEFI variables by their efivarfs name (`Name-GUID`).
pub trait VarStore {
    /// The attributes and data of a variable; `None` when it is missing.
    fn get(&self, name: &str) -> io::Result<Option<(u32, Vec<u8>)>>;
    fn set(&mut self, name: &str, attributes: u32, data: &[u8]) -> io::Result<()>;
    fn list(&self) -> io::Result<Vec<String>>;
}

/// efivarfs mounted at `root` (on a device `/sys/firmware/efi/efivars`,
/// which init mounts).
pub struct EfiVarFs {
    pub root: PathBuf,
}

const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
const FS_IMMUTABLE_FL: libc::c_long = 0x10;

impl EfiVarFs {
    pub const ROOT: &'static str = "/sys/firmware/efi/efivars";

    /// The store, when efivarfs is mounted there (booted through UEFI).
    pub fn open(root: impl Into<PathBuf>) -> Option<EfiVarFs> {
        let root = root.into();
        root.join(format!("BootOrder-{}", crate::GLOBAL)).exists().then_some(EfiVarFs { root })
    }

    /// efivarfs makes the firmware's variables immutable files; an update
    /// clears the flag on that one file first.
    fn set_immutable(&self, name: &str, on: bool) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(self.root.join(name))?;
        let mut flags: libc::c_long = 0;
        // SAFETY: FS_IOC_GETFLAGS fills a long; SETFLAGS reads one.
        unsafe {
            if libc::ioctl(f.as_raw_fd(), FS_IOC_GETFLAGS as _, &mut flags) != 0 {
                return Err(io::Error::last_os_error());
            }
            let new = if on { flags | FS_IMMUTABLE_FL } else { flags & !FS_IMMUTABLE_FL };
            if new != flags && libc::ioctl(f.as_raw_fd(), FS_IOC_SETFLAGS as _, &new) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl VarStore for EfiVarFs {
    fn get(&self, name: &str) -> io::Result<Option<(u32, Vec<u8>)>> {
        match std::fs::read(self.root.join(name)) {
            Ok(b) if b.len() >= 4 => Ok(Some((u32::from_le_bytes([b[0], b[1], b[2], b[3]]), b[4..].to_vec()))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn set(&mut self, name: &str, attributes: u32, data: &[u8]) -> io::Result<()> {
        let path = self.root.join(name);
        let existed = path.exists();
        if existed {
            self.set_immutable(name, false)?;
        }
        // efivarfs takes a variable in one write: attributes, then data.
        let mut buf = attributes.to_le_bytes().to_vec();
        buf.extend_from_slice(data);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .and_then(|mut f| f.write_all(&buf));
        if existed {
            let _ = self.set_immutable(name, true);
        }
        written.map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&self.root)? {
            v.push(e?.file_name().to_string_lossy().into_owned());
        }
        v.sort();
        Ok(v)
    }
}

/// Variables in memory (tests), optionally refusing writes (a full or
/// write-protected store).
#[derive(Default)]
pub struct MemStore {
    pub vars: BTreeMap<String, (u32, Vec<u8>)>,
    pub read_only: bool,
}

impl VarStore for MemStore {
    fn get(&self, name: &str) -> io::Result<Option<(u32, Vec<u8>)>> {
        Ok(self.vars.get(name).cloned())
    }
    fn set(&mut self, name: &str, attributes: u32, data: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.vars.insert(name.to_string(), (attributes, data.to_vec()));
        Ok(())
    }
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.vars.keys().cloned().collect())
    }
}
