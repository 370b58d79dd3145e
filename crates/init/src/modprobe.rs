//! `/sbin/modprobe`, the kernel's way to ask user space for a module
//! (request_module: a crypto algorithm such as `crypto-crc32c`, a
//! filesystem `fs-vfat`, a protocol `net-pf-10`). It is init's own binary
//! under that name, using the same module index and loader as boot: the
//! kernel runs `/sbin/modprobe -q -- NAME`. A name that is a module loads it
//! with its dependencies; any other name is matched against
//! modules.alias, and every module it matches is tried (for `crypto-crc32c`
//! the CPU-specific one may refuse with ENODEV, the generic one then loads).

use crate::modules::{KernelLoader, ModIndex, Modules};
use std::path::PathBuf;

/// Exit 0 when every name ended up loaded, 1 otherwise (the kernel only
/// looks at whether the module is there afterwards).
pub fn run(args: &[String]) -> ! {
    let quiet = args.iter().any(|a| a == "-q" || a == "--quiet");
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = PathBuf::from("/lib/modules").join(release.trim());
    let index = match ModIndex::load(&dir) {
        Ok(i) => i,
        Err(e) => {
            if !quiet {
                eprintln!("modprobe: no module index in {}: {e}", dir.display());
            }
            std::process::exit(1);
        }
    };
    let mut mods = Modules::new(dir, index, KernelLoader);
    let mut ok = true;
    for name in names {
        if let Err(e) = probe(&mut mods, name) {
            ok = false;
            if !quiet {
                eprintln!("modprobe: {e}");
            }
        }
    }
    std::process::exit(if ok { 0 } else { 1 });
}

/// Loads module `name`, or the modules its alias matches (one success is enough).
pub fn probe<L: crate::modules::ModuleLoader>(mods: &mut Modules<L>, name: &str) -> Result<(), String> {
    if mods.index.load_order(name).is_some() {
        return mods.load(name).map(|_| ());
    }
    let candidates: Vec<String> = mods.index.matching(name).into_iter().map(str::to_string).collect();
    if candidates.is_empty() {
        return Err(format!("{name}: no module in the image provides it"));
    }
    let mut errors = Vec::new();
    for m in &candidates {
        match mods.load(m) {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(e),
        }
    }
    Err(format!("{name}: {}", errors.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    struct Fake(std::sync::Mutex<Vec<String>>);
    impl crate::modules::ModuleLoader for Fake {
        fn load(&self, path: &Path) -> std::io::Result<()> {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("crc32c-intel") {
                return Err(std::io::Error::from_raw_os_error(libc::ENODEV));
            }
            self.0.lock().unwrap().push(name);
            Ok(())
        }
    }

    #[test]
    fn an_alias_loads_the_first_module_that_works() {
        let dep = "kernel/arch/x86/crypto/crc32c-intel.ko.xz:\nkernel/crypto/crc32c_generic.ko.xz:\nkernel/fs/fat/vfat.ko.xz: kernel/fs/fat/fat.ko.xz\nkernel/fs/fat/fat.ko.xz:\n";
        let alias = "alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\nalias fs-vfat vfat\n";
        let mut m = Modules::new("/lib/modules/x".into(), ModIndex::parse(dep, alias), Fake(Default::default()));
        probe(&mut m, "crypto-crc32c").unwrap();
        probe(&mut m, "fs-vfat").unwrap();
        probe(&mut m, "vfat").unwrap();
        assert!(probe(&mut m, "net-pf-99").unwrap_err().contains("no module"));
        assert_eq!(m.loaded().iter().cloned().collect::<Vec<_>>(), ["crc32c_generic", "fat", "vfat"]);
    }
}
