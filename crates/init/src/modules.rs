//! Kernel modules: the shipped index (modules.dep and modules.alias, as
//! written by the image build), coldplug matching of the modaliases under
//! /sys, and loading through a small trait.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Module names use `_`; file names and some references use `-`.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    normalize(file.split('.').next().unwrap_or(file))
}

/// The module index of `/lib/modules/VERSION`.
#[derive(Default, Debug)]
pub struct ModIndex {
    /// name -> (path relative to the module dir, dependencies in load order)
    deps: HashMap<String, (String, Vec<String>)>,
    /// (glob pattern, module name), in file order.
    aliases: Vec<(String, String)>,
}

impl ModIndex {
    /// Parses `modules.dep` (`path: dep dep ...`, deps listed so that the
    /// last must load first, as modprobe reads them) and `modules.alias`.
    pub fn parse(dep: &str, alias: &str) -> ModIndex {
        let mut deps = HashMap::new();
        for line in dep.lines() {
            let Some((path, rest)) = line.split_once(':') else { continue };
            let mut list: Vec<String> = rest.split_whitespace().map(name_of).collect();
            list.reverse();
            deps.insert(name_of(path), (path.trim().to_string(), list));
        }
        let aliases = alias
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()? == "alias").then_some(())?;
                Some((w.next()?.to_string(), normalize(w.next()?)))
            })
            .collect();
        ModIndex { deps, aliases }
    }

    pub fn load(dir: &Path) -> io::Result<ModIndex> {
        let dep = fs::read_to_string(dir.join("modules.dep"))?;
        let alias = fs::read_to_string(dir.join("modules.alias")).unwrap_or_default();
        Ok(ModIndex::parse(&dep, &alias))
    }

    #[cfg(test)]
    pub fn contains(&self, name: &str) -> bool {
        self.deps.contains_key(&normalize(name))
    }

    /// Modules whose alias pattern matches a device's modalias.
    pub fn matching(&self, modalias: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (pattern, module) in &self.aliases {
            if glob_match(pattern.as_bytes(), modalias.as_bytes()) && !out.contains(&module.as_str()) {
                out.push(module);
            }
        }
        out
    }

    /// `name` and everything it needs, dependencies first, as
    /// (name, path relative to the module directory).
    pub fn load_order(&self, name: &str) -> Option<Vec<(String, String)>> {
        let name = normalize(name);
        let (path, deps) = self.deps.get(&name)?;
        let mut out = Vec::new();
        for d in deps {
            if let Some((p, _)) = self.deps.get(d) {
                out.push((d.clone(), p.clone()));
            }
        }
        out.push((name, path.clone()));
        Some(out)
    }
}

/// fnmatch(3) without flags, as modules.alias needs: `*`, `?`, `[...]`
/// (with ranges and `!`/`^` negation). Written by hand: it is 30 lines and
/// keeps a glob crate's path semantics out of PID 1.
pub fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        let step = match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            Some(b'?') => Some(pi + 1),
            Some(b'[') => class_match(&p[pi..], s[si]).map(|len| pi + len),
            Some(&c) if c == s[si] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                si += 1;
            }
            (None, Some((sp, ss))) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `p`; returns the class
/// length when it matches.
fn class_match(p: &[u8], c: u8) -> Option<usize> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while let Some(&x) = p.get(i) {
        if x == b']' && !first {
            return (hit != negate).then_some(i + 1);
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') {
            hit |= (x..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= x == c;
            i += 1;
        }
    }
    None
}

/// The `modalias` of every device on a bus, through `sys_bus` (`/sys/bus`
/// on the device): controllers, disks and network cards, what is needed
/// before ready. Far fewer directories than the whole of /sys/devices
/// (power/, the virtual devices, ...): under TCG that walk took about
/// 0.2 s of the boot's critical path. Class devices with a modalias of
/// their own (input devices: `input:` asks for evdev) are not on a bus;
/// [`modaliases`] over /sys/devices finds those, after ready.
pub fn bus_modaliases(sys_bus: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(buses) = fs::read_dir(sys_bus) else { return out };
    for bus in buses.flatten() {
        let Ok(devices) = fs::read_dir(bus.path().join("devices")) else { continue };
        for d in devices.flatten() {
            if let Ok(a) = fs::read_to_string(d.path().join("modalias")) {
                let a = a.trim();
                if !a.is_empty() {
                    out.insert(a.to_string());
                }
            }
        }
    }
    out
}

/// Every `modalias` under `sys_devices` (`/sys/devices` on the device, or
/// one device's directory).
pub fn modaliases(sys_devices: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![sys_devices.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && !ft.is_symlink() {
                stack.push(e.path());
            } else if e.file_name() == "modalias" {
                if let Ok(a) = fs::read_to_string(e.path()) {
                    let a = a.trim();
                    if !a.is_empty() {
                        out.insert(a.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Loads one module file into the kernel (from several threads at once).
pub trait ModuleLoader: Sync {
    fn load(&self, path: &Path) -> io::Result<()>;
}

/// `finit_module(2)`; `.ko.xz`/`.ko.zst` are decompressed by the kernel
/// (MODULE_INIT_COMPRESSED_FILE, Linux 6.2+).
pub struct KernelLoader;

const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

impl ModuleLoader for KernelLoader {
    fn load(&self, path: &Path) -> io::Result<()> {
        let file = fs::File::open(path)?;
        let compressed = path.extension().is_some_and(|e| e == "xz" || e == "zst" || e == "gz");
        let flags = if compressed { MODULE_INIT_COMPRESSED_FILE } else { 0 };
        use std::os::fd::AsRawFd;
        // SAFETY: plain syscall with a valid fd and a static empty C string.
        let rc = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), c"".as_ptr(), flags) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EEXIST) {
            Ok(())
        } else {
            Err(err)
        }
    }
}

/// The loaded set plus the index: loads each module once, dependencies first.
pub struct Modules<L: ModuleLoader> {
    pub dir: PathBuf,
    pub index: ModIndex,
    loader: L,
    loaded: BTreeSet<String>,
    failed: BTreeSet<String>,
}

impl<L: ModuleLoader> Modules<L> {
    pub fn new(dir: PathBuf, index: ModIndex, loader: L) -> Self {
        Modules { dir, index, loader, loaded: BTreeSet::new(), failed: BTreeSet::new() }
    }

    /// Loads `name` and its dependencies. Returns how many modules were newly
    /// loaded; a module that failed once is not retried. A dependency that
    /// fails does not stop `name`: the image's dependency lists include
    /// soft dependencies resolved to one provider (ext4's `crc32c` to
    /// crc32c_intel, which needs SSE4.2); the kernel asks /sbin/modprobe for
    /// another provider when it needs one, and a missing hard dependency
    /// makes `name` itself fail to load, which is reported.
    pub fn load(&mut self, name: &str) -> Result<usize, String> {
        let order = self.index.load_order(name).ok_or_else(|| format!("module {name} is not in the image"))?;
        let target = normalize(name);
        let mut count = 0;
        for (module, path) in order {
            if self.loaded.contains(&module) {
                continue;
            }
            if self.failed.contains(&module) {
                if module == target {
                    return Err(format!("{module} failed to load earlier"));
                }
                continue;
            }
            let started = std::time::Instant::now();
            let result = self.loader.load(&self.dir.join(&path));
            let took = started.elapsed();
            if took > std::time::Duration::from_millis(150) {
                log::info!("module {module} took {} ms to load", took.as_millis());
            }
            match result {
                Ok(()) => {
                    self.loaded.insert(module);
                    count += 1;
                }
                Err(e) => {
                    self.failed.insert(module.clone());
                    if module == target {
                        return Err(format!("loading {module} ({path}): {e}"));
                    }
                    log::info!("{module} ({path}) did not load ({e}); going on with {target}");
                }
            }
        }
        Ok(count)
    }

    /// The modules matching each modalias (not loaded yet).
    pub fn wanted_by<'a>(&self, aliases: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
        let mut wanted = BTreeSet::new();
        for a in aliases {
            for m in self.index.matching(a) {
                if !self.loaded.contains(m) && !self.failed.contains(m) {
                    wanted.insert(m.to_string());
                }
            }
        }
        wanted
    }

    /// Loads the modules matching each modalias. Returns what was loaded
    /// newly and the errors met on the way.
    pub fn coldplug<'a>(&mut self, aliases: impl IntoIterator<Item = &'a String>) -> (Vec<String>, Vec<String>) {
        let wanted: Vec<String> = self.wanted_by(aliases).into_iter().collect();
        self.load_many(&wanted)
    }

    /// Whether `module` is needed before ready, by where Linux keeps it:
    /// filesystems, disk controllers and the buses disks hang on (DATA is
    /// mounted before ready, from an internal disk or a USB stick), and
    /// network cards (the unit ID is a MAC address). Graphics, input and
    /// the rest load after ready; the screen starts on the firmware's
    /// framebuffer and the services take devices that come later.
    pub fn before_ready(&self, module: &str) -> bool {
        const EARLY: &[&str] = &[
            "kernel/fs/",
            "kernel/drivers/block/",
            "kernel/drivers/ata/",
            "kernel/drivers/nvme/",
            "kernel/drivers/scsi/",
            "kernel/drivers/mmc/",
            "kernel/drivers/md/",
            "kernel/drivers/usb/host/",
            "kernel/drivers/usb/storage/",
            "kernel/drivers/net/",
        ];
        self.own_path(module).is_some_and(|p| EARLY.iter().any(|e| p.starts_with(e)))
    }

    /// Whether `module` is a network driver (a network card: the unit ID).
    pub fn for_network(&self, module: &str) -> bool {
        self.own_path(module).is_some_and(|p| p.starts_with("kernel/drivers/net/"))
    }

    /// The module's file, relative to the modules directory.
    fn own_path(&self, module: &str) -> Option<String> {
        self.index.load_order(module).and_then(|o| o.last().map(|(_, p)| p.clone()))
    }

    /// Loads `names` and what they need, independent modules at the same
    /// time: in each round, every module whose dependencies are all in (or
    /// failed) is loaded on its own thread. A module's init runs inside
    /// finit_module (ahci probing its ports, ext4 registering), so
    /// independent ones overlap instead of queueing. Returns the modules
    /// newly loaded and the errors of the ones asked for (a failed
    /// dependency is only logged, as in [`Modules::load`]).
    pub fn load_many(&mut self, names: &[String]) -> (Vec<String>, Vec<String>) {
        let mut errors = Vec::new();
        let asked: BTreeSet<String> = names.iter().map(|n| normalize(n)).collect();
        // module -> (path, every module it needs)
        let mut pending: std::collections::BTreeMap<String, (String, Vec<String>)> = Default::default();
        for n in names {
            let Some(order) = self.index.load_order(n) else {
                errors.push(format!("module {n} is not in the image"));
                continue;
            };
            for (m, _) in order {
                if self.loaded.contains(&m) || pending.contains_key(&m) {
                    continue;
                }
                if self.failed.contains(&m) {
                    let e = format!("{m} failed to load earlier");
                    if asked.contains(&m) && !errors.contains(&e) {
                        errors.push(e);
                    }
                    continue;
                }
                let own = self.index.load_order(&m).unwrap_or_default();
                let (path, deps) = match own.split_last() {
                    Some(((_, p), deps)) => (p.clone(), deps.iter().map(|(d, _)| d.clone()).collect()),
                    None => continue,
                };
                pending.insert(m, (path, deps));
            }
        }
        let mut newly = Vec::new();
        // Each module starts as soon as the ones it needs are in (not in
        // rounds that wait for their slowest member): ext4 does not wait
        // for a graphics driver that happened to start beside jbd2.
        let (loader, dir, loaded, failed) = (&self.loader, &self.dir, &mut self.loaded, &mut self.failed);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let mut running: BTreeSet<String> = BTreeSet::new();
            loop {
                let startable: Vec<(String, String)> = pending
                    .iter()
                    .filter(|(m, (_, deps))| !running.contains(*m) && deps.iter().all(|d| !pending.contains_key(d)))
                    .map(|(m, (p, _))| (m.clone(), p.clone()))
                    .collect();
                for (module, path) in startable {
                    running.insert(module.clone());
                    let tx = tx.clone();
                    s.spawn(move || {
                        let started = std::time::Instant::now();
                        let result = loader.load(&dir.join(&path));
                        let _ = tx.send((module, path, result, started.elapsed()));
                    });
                }
                if running.is_empty() {
                    if !pending.is_empty() {
                        errors.push(format!("a dependency cycle among {:?}", pending.keys().collect::<Vec<_>>()));
                    }
                    break;
                }
                let (module, path, result, took) = rx.recv().expect("a module loading thread reports");
                running.remove(&module);
                pending.remove(&module);
                if took > std::time::Duration::from_millis(150) {
                    log::info!("module {module} took {} ms to load", took.as_millis());
                }
                match result {
                    Ok(()) => {
                        loaded.insert(module.clone());
                        newly.push(module);
                    }
                    Err(e) if asked.contains(&module) => {
                        failed.insert(module.clone());
                        errors.push(format!("loading {module} ({path}): {e}"));
                    }
                    Err(e) => {
                        failed.insert(module.clone());
                        log::info!("{module} ({path}) did not load ({e})");
                    }
                }
            }
        });
        // In name order, whichever finished first.
        newly.sort();
        (newly, errors)
    }

    pub fn loaded(&self) -> &BTreeSet<String> {
        &self.loaded
    }

    /// Takes over what another loader of the same kernel loaded or failed
    /// to load (the board's list, loaded on a thread of its own).
    pub fn adopt<M: ModuleLoader>(&mut self, other: Modules<M>) {
        self.loaded.extend(other.loaded);
        self.failed.extend(other.failed.into_iter().filter(|m| !self.loaded.contains(m)));
    }
}

#[cfg(test)]
mod tests;
