//! Chooses kernel modules by name and resolves what they need, from the
//! files `depmod` wrote for the kernel package: `modules.dep` (hard
//! dependencies), `modules.softdep` (`pre:` soft dependencies, e.g. ext4
//! needs a crc32c implementation), `modules.alias` and `modules.builtin`.
//!
//! The result is the list of module files to ship plus a `modules.dep` and
//! `modules.alias` limited to them. Soft dependencies are folded into the
//! shipped `modules.dep`, so the device's loader only has to read one file.

use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file).replace('-', "_")
}

/// The module index of one kernel, read from its module directory.
pub struct KernelModules {
    pub dir: PathBuf,
    /// name -> (path, dependency paths as listed)
    dep: BTreeMap<String, (String, Vec<String>)>,
    builtin: BTreeSet<String>,
    /// module -> softdep `pre:` tokens (module names or aliases)
    softdep: BTreeMap<String, Vec<String>>,
    /// (pattern, module name, original line)
    alias: Vec<(String, String, String)>,
}

/// What to put into the image.
#[derive(Debug, Default)]
pub struct Selection {
    /// Module files, relative to the module directory, sorted.
    pub files: Vec<String>,
    pub modules_dep: String,
    pub modules_alias: String,
    /// Requested names that are built into the kernel (nothing to ship).
    pub builtin: Vec<String>,
}

impl KernelModules {
    pub fn open(dir: &Path) -> Result<KernelModules> {
        let read = |f: &str| fs::read_to_string(dir.join(f)).map_err(Error::io("reading", dir.join(f)));
        Ok(KernelModules::parse(
            dir,
            &read("modules.dep")?,
            &read("modules.builtin").unwrap_or_default(),
            &read("modules.softdep").unwrap_or_default(),
            &read("modules.alias")?,
        ))
    }

    pub fn parse(dir: &Path, dep: &str, builtin: &str, softdep: &str, alias: &str) -> KernelModules {
        let dep = dep
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(p, rest)| (name_of(p), (p.trim().to_string(), rest.split_whitespace().map(String::from).collect())))
            .collect();
        let builtin = builtin.lines().map(name_of).collect();
        let mut sd: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in softdep.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w.len() < 3 || w[0] != "softdep" {
                continue;
            }
            let mut pre = false;
            for t in &w[2..] {
                match *t {
                    "pre:" => pre = true,
                    "post:" => pre = false,
                    tok if pre => sd.entry(w[1].replace('-', "_")).or_default().push(tok.to_string()),
                    _ => {}
                }
            }
        }
        let alias = alias
            .lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() == 3 && w[0] == "alias").then(|| (w[1].to_string(), w[2].replace('-', "_"), l.to_string()))
            })
            .collect();
        KernelModules { dir: dir.to_path_buf(), dep, builtin, softdep: sd, alias }
    }

    /// Module names a softdep token stands for (a module, or an alias).
    fn resolve_token(&self, tok: &str) -> Vec<String> {
        let n = tok.replace('-', "_");
        if self.dep.contains_key(&n) {
            return vec![n];
        }
        self.alias.iter().filter(|(p, _, _)| p == tok).map(|(_, m, _)| m.clone()).collect()
    }

    /// Hard deps (paths, as listed) followed by soft `pre:` deps and theirs.
    /// `every_provider`: all the modules a softdep alias stands for (what
    /// the image must hold); else only the first in modules.alias order
    /// (what loads before the module). `crypto-crc32c` stands for
    /// crc32c_intel and crc32c_generic: one of them is enough, and when the
    /// first cannot load (no SSE4.2) the kernel asks for the alias itself
    /// (/sbin/modprobe, init's loader), which finds the other in the image.
    /// Loading both before ext4 cost the boot's critical path some 0.1 s.
    fn full_deps(&self, name: &str, every_provider: bool) -> Vec<String> {
        let Some((_, deps)) = self.dep.get(name) else { return vec![] };
        let mut out = deps.clone();
        for tok in self.softdep.get(name).into_iter().flatten() {
            let providers = self.resolve_token(tok);
            let take = if every_provider { providers.len() } else { 1 };
            for (p, d) in providers.iter().filter_map(|m| self.dep.get(m)).take(take) {
                for x in std::iter::once(p).chain(d) {
                    if !out.contains(x) {
                        out.push(x.clone());
                    }
                }
            }
        }
        out
    }

    /// The package's files to load for `names` one after the other,
    /// dependencies first, each once: the order the device takes from the
    /// `modules.dep` that [`select`](Self::select) writes (its last listed
    /// dependency loads first; of a soft dependency, the first provider).
    pub fn load_order<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            let n = n.replace('-', "_");
            let Some((path, _)) = self.dep.get(&n) else {
                return Err(Error::UnknownModule { name: n, dir: self.dir.clone() });
            };
            for f in self.full_deps(&n, false).into_iter().rev().chain([path.clone()]) {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }

    /// Selects `names` and everything they need.
    pub fn select<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<Selection> {
        let mut chosen: BTreeSet<String> = BTreeSet::new();
        let mut builtin = Vec::new();
        let mut todo: Vec<String> = Vec::new();
        for n in names {
            let n = n.replace('-', "_");
            if self.dep.contains_key(&n) {
                todo.push(n);
            } else if self.builtin.contains(&n) {
                builtin.push(n);
            } else {
                return Err(Error::UnknownModule { name: n, dir: self.dir.clone() });
            }
        }
        while let Some(n) = todo.pop() {
            if !chosen.insert(n.clone()) {
                continue;
            }
            for p in self.full_deps(&n, true) {
                todo.push(name_of(&p));
            }
        }
        let mut sel = Selection { builtin, ..Selection::default() };
        for n in &chosen {
            let (path, _) = &self.dep[n];
            sel.files.push(path.clone());
            let full = self.full_deps(n, false);
            let deps: Vec<&str> = full.iter().map(|d| stored_name(d)).collect();
            sel.modules_dep.push_str(&format!("{}: {}\n", stored_name(path), deps.join(" ")).replace(": \n", ":\n"));
        }
        sel.files.sort();
        for (_, m, line) in &self.alias {
            if chosen.contains(m) {
                sel.modules_alias.push_str(line);
                sel.modules_alias.push('\n');
            }
        }
        Ok(sel)
    }
}

/// A module file as the image stores it: an xz-compressed module
/// decompressed (its name without `.xz`), anything else as it is.
pub fn stored(dir: &Path, file: &str) -> Result<(String, Vec<u8>)> {
    let path = dir.join(file);
    let Some(name) = file.strip_suffix(".xz") else {
        return Ok((file.to_string(), fs::read(&path).map_err(Error::io("reading", path))?));
    };
    let out = std::process::Command::new("xz")
        .args(["-dc", "--"])
        .arg(&path)
        .output()
        .map_err(Error::io("running xz (install xz-utils) on", path.clone()))?;
    if !out.status.success() {
        return Err(Error::Tool(format!("xz -dc {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok((name.to_string(), out.stdout))
}

/// The path the image stores a module file under (see [`stored`]).
pub fn stored_name(file: &str) -> &str {
    file.strip_suffix(".xz").unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz\n\
kernel/fs/jbd2/jbd2.ko.xz:\n\
kernel/fs/mbcache.ko.xz:\n\
kernel/crypto/crc32c_generic.ko.xz:\n\
kernel/arch/x86/crypto/crc32c-intel.ko.xz:\n\
kernel/drivers/block/virtio_blk.ko.xz:\n\
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/scsi/scsi_mod.ko.xz\n\
kernel/drivers/scsi/scsi_mod.ko.xz:\n\
kernel/sound/unused.ko.xz:\n";
    const ALIAS: &str = "alias crypto-crc32c crc32c_generic\nalias crypto-crc32c crc32c_intel\n\
alias virtio:d00000002v* virtio_blk\nalias fs-ext4 ext4\nalias usb:v*ic08* usb_storage\nalias pci:v1* unused\n";
    const SOFT: &str = "# comment\nsoftdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c post: nothing\n";
    const BUILTIN: &str = "kernel/drivers/virtio/virtio_pci.ko\n";

    fn km() -> KernelModules {
        KernelModules::parse(Path::new("/k"), DEP, BUILTIN, SOFT, ALIAS)
    }

    #[test]
    fn load_order_puts_dependencies_first_each_once() {
        let order = km().load_order(["ext4", "virtio-blk", "jbd2"]).unwrap();
        assert_eq!(
            order,
            [
                "kernel/crypto/crc32c_generic.ko.xz",
                "kernel/fs/mbcache.ko.xz",
                "kernel/fs/jbd2/jbd2.ko.xz",
                "kernel/fs/ext4/ext4.ko.xz",
                "kernel/drivers/block/virtio_blk.ko.xz",
            ]
        );
        let e = km().load_order(["not_there"]).unwrap_err().to_string();
        assert!(e.contains("not_there"), "{e}");
    }

    #[test]
    fn selects_hard_and_soft_dependencies() {
        let s = km().select(["ext4", "usb-storage", "virtio_pci"]).unwrap();
        assert_eq!(
            s.files,
            [
                "kernel/arch/x86/crypto/crc32c-intel.ko.xz",
                "kernel/crypto/crc32c_generic.ko.xz",
                "kernel/drivers/scsi/scsi_mod.ko.xz",
                "kernel/drivers/usb/storage/usb-storage.ko.xz",
                "kernel/fs/ext4/ext4.ko.xz",
                "kernel/fs/jbd2/jbd2.ko.xz",
                "kernel/fs/mbcache.ko.xz",
            ]
        );
        assert_eq!(s.builtin, ["virtio_pci"]);
        // The image stores modules decompressed: its index names them so.
        assert!(s.modules_dep.contains(
            "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/crypto/crc32c_generic.ko\n"
        ));
        // Both crc32c modules are in the image and its alias list (the
        // kernel asks for the alias when the first cannot load), but only
        // the first is loaded before ext4.
        assert!(s.modules_alias.contains("alias crypto-crc32c crc32c_intel\n"));
        assert!(s.modules_dep.contains("kernel/fs/mbcache.ko:\n"));
        assert!(!s.modules_dep.contains(".xz"));
        assert!(s.modules_alias.contains("alias usb:v*ic08* usb_storage\n"));
        assert!(!s.modules_alias.contains("unused"));
        assert!(!s.modules_alias.contains("virtio_blk"));
    }

    #[test]
    fn xz_modules_are_stored_decompressed_and_others_as_they_are() {
        let d = tempfile::tempdir().unwrap();
        let body = b"\x7fELF module with its signature appended".repeat(100);
        std::fs::write(d.path().join("m.ko"), &body).unwrap();
        let xz = std::process::Command::new("xz").args(["-k", "-z"]).arg(d.path().join("m.ko")).status().unwrap();
        assert!(xz.success());
        assert_eq!(stored(d.path(), "m.ko.xz").unwrap(), ("m.ko".to_string(), body.clone()));
        assert_eq!(stored(d.path(), "m.ko").unwrap(), ("m.ko".to_string(), body));
        std::fs::write(d.path().join("bad.ko.xz"), b"not xz").unwrap();
        let e = stored(d.path(), "bad.ko.xz").unwrap_err().to_string();
        assert!(e.contains("xz -dc") && e.contains("bad.ko.xz"), "{e}");
    }

    #[test]
    fn unknown_module_is_an_error_naming_it() {
        let e = km().select(["ext4", "nosuch"]).unwrap_err().to_string();
        assert!(e.contains("\"nosuch\"") && e.contains("board file"), "{e}");
    }
}
