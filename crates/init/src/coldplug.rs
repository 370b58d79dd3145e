//! Loading kernel modules at boot and on hotplug: the board's list, then
//! coldplug rounds over sysfs until no new module matches a device; later,
//! the module a hot-plugged device asks for; USB storage events go to the
//! USB watcher.

use crate::{logger, modules, usb, UsbHost, ETC};
use log::{error, info, warn};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub type Mods = Option<modules::Modules<modules::KernelLoader>>;

/// What is needed before ready ([`modules::Modules::before_ready`]): the
/// modules listed by the board (`/etc/quill/modules`) and those the
/// devices present ask for. The rest follows after ready ([`load_rest`]).
///
/// With a second CPU, the board's list (the DATA filesystem) starts
/// loading at once, before the devices are known; on one, with the boot
/// disk's drivers. `boot_pci` (`quill.bootpci=`, from the firmware through
/// bootsel) names the boot disk's controller: its drivers and the network
/// cards' (the unit ID) load first; the other controllers' (an AHCI
/// controller probing empty ports) after them all, while DATA mounts and
/// ready comes. On one CPU, modules loading side by side share it, so what
/// ready waits for is done sooner when nothing else loads beside it.
/// Without it (older boot selector, U-Boot) every device's driver loads in
/// the first batch.
pub fn load_modules(boot_pci: Vec<(u8, u8)>) -> Mods {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = PathBuf::from("/lib/modules").join(release.trim());
    let dep = match fs::read_to_string(dir.join("modules.dep")) {
        Ok(d) => d,
        Err(e) => {
            warn!("no module index in {}: {e}; loading no modules", dir.display());
            return None;
        }
    };
    let listed = fs::read_to_string(Path::new(ETC).join("modules")).unwrap_or_default();
    let listed: Vec<String> =
        listed.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    // The board's list (the DATA filesystem: ext4 and what it needs, the
    // longest load on the way to DATA) needs no device scan: with a second
    // CPU it loads at once, from modules.dep alone, while the devices are
    // read from sysfs and the alias table is parsed. On one CPU it would
    // only take the CPU from those and from the UI's first frame: it loads
    // with the boot disk's drivers.
    let (board, listed) = if crate::system::cpus() > 1 {
        let (dir, dep) = (dir.clone(), dep.clone());
        let board = std::thread::spawn(move || {
            let mut m = modules::Modules::new(dir, modules::ModIndex::parse(&dep, ""), modules::KernelLoader);
            load_batch(&mut m, &listed, "the board's list");
            m
        });
        (Some(board), Vec::new())
    } else {
        (None, listed)
    };
    let scan = std::thread::spawn(move || {
        let present = modules::bus_modaliases(Path::new("/sys/bus"));
        let controller =
            pci_device_dir(Path::new("/sys/devices"), &boot_pci).map(|c| (modules::modaliases(&c), c)).ok_or(boot_pci);
        (present, controller)
    });
    let alias = fs::read_to_string(dir.join("modules.alias")).unwrap_or_default();
    let mut mods = modules::Modules::new(dir, modules::ModIndex::parse(&dep, &alias), modules::KernelLoader);
    let (present, controller) = scan.join().unwrap_or_else(|_| (Default::default(), Err(Vec::new())));
    let devices: Vec<String> = mods.wanted_by(&present).into_iter().filter(|m| mods.before_ready(m)).collect();
    let (first, then) = match controller {
        Ok((below, controller)) => {
            let disk = mods.wanted_by(&below);
            let first: Vec<String> = listed
                .into_iter()
                .chain(devices.iter().filter(|m| disk.contains(*m) || mods.for_network(m)).cloned())
                .collect();
            let then = devices.into_iter().filter(|m| !first.contains(m)).collect();
            info!("boot disk controller {}: {} first", controller.display(), first.join(" "));
            (first, then)
        }
        Err(boot_pci) => {
            if !boot_pci.is_empty() {
                warn!("no PCI device at quill.bootpci {boot_pci:x?}; loading every driver at once");
            }
            (listed.into_iter().chain(devices).collect(), Vec::new())
        }
    };
    load_batch(&mut mods, &first, "the boot disk's and network drivers");
    match board.map(std::thread::JoinHandle::join) {
        Some(Ok(b)) => mods.adopt(b),
        Some(Err(_)) => error!("the board's modules' loader failed"),
        None => {}
    }
    if !then.is_empty() {
        // The second batch shares the CPU with what ready still waits for
        // (DATA's checks, the services' start): it yields to them (this
        // thread's nice value, which the loading threads it starts inherit).
        if let Err(e) = crate::system::set_thread_nice(0, 19) {
            warn!("lowering the module loader's priority: {e}");
        }
        load_batch(&mut mods, &then, "the other controllers' drivers");
    }
    // No coldplug rounds here: what the new controllers find (disks, a
    // CD drive) is for after ready, unless it is the boot disk (DATA's
    // mount asks for it while it waits).
    Some(mods)
}

/// Loads `batch` (nothing when empty), logging errors and the time taken.
fn load_batch(mods: &mut modules::Modules<modules::KernelLoader>, batch: &[String], what: &str) {
    if batch.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let (newly, errors) = mods.load_many(batch);
    for e in errors {
        warn!("{e}");
    }
    info!("{what}: {} modules loaded in {} ms", newly.len(), started.elapsed().as_millis());
}

/// The directory under `sys_devices` of the PCI device at the end of
/// `chain` (device/function numbers from a PCI root down, as the
/// firmware's device path gives them; bus numbers are not in it). Each PCI
/// root (`pci0000:00`, …) is tried in name order; `None` when no root
/// holds the chain or it is empty.
pub fn pci_device_dir(sys_devices: &Path, chain: &[(u8, u8)]) -> Option<PathBuf> {
    if chain.is_empty() {
        return None;
    }
    let mut roots: Vec<PathBuf> = fs::read_dir(sys_devices)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pci"))
        .map(|e| e.path())
        .collect();
    roots.sort();
    roots.into_iter().find_map(|root| {
        chain.iter().try_fold(root, |dir, (dev, func)| {
            // A PCI device's directory is DOMAIN:BUS:DEV.FN (0000:01:00.0).
            let suffix = format!(":{dev:02x}.{func:x}");
            let mut found: Vec<PathBuf> = fs::read_dir(&dir)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy().to_string();
                    name.len() == 12 && name.ends_with(&suffix) && p.is_dir()
                })
                .collect();
            found.sort();
            found.into_iter().next()
        })
    })
}

/// After ready: every other module a device asks for (graphics, input, …).
pub fn load_rest(mods: &mut Mods) {
    let Some(m) = mods.as_mut() else { return };
    let started = std::time::Instant::now();
    rounds(m);
    info!("{} modules loaded after ready in {} ms", m.loaded().len(), started.elapsed().as_millis());
}

/// Coldplug rounds until no new module matches a device (at most five).
fn rounds(mods: &mut modules::Modules<modules::KernelLoader>) {
    for _round in 0..5 {
        if coldplug_sysfs(mods, false).is_empty() {
            break;
        }
        // Let new buses (USB, virtio) announce their devices.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One coldplug round over every device in sysfs: loads the modules that
/// match and are not loaded yet (`early`: only those needed before
/// ready); returns their names (errors are logged).
pub fn coldplug_sysfs(mods: &mut modules::Modules<modules::KernelLoader>, early: bool) -> Vec<String> {
    let wanted: Vec<String> = mods
        .wanted_by(&if early {
            modules::bus_modaliases(Path::new("/sys/bus"))
        } else {
            modules::modaliases(Path::new("/sys/devices"))
        })
        .into_iter()
        .filter(|m| !early || mods.before_ready(m))
        .collect();
    let (newly, errors) = mods.load_many(&wanted);
    for e in errors {
        warn!("{e}");
    }
    newly
}

/// Hotplug: loads the modules a new device needs; USB storage goes to the watcher.
pub fn handle_uevents(
    socket: &crate::hotplug::Socket,
    mods: &mut Mods,
    watcher: &mut usb::Watcher,
    logger: &logger::InitLogger,
) {
    for ev in socket.drain() {
        if ev.action == "remove" && ev.get("SUBSYSTEM") == Some("block") {
            let name = ev.devpath.rsplit('/').next().unwrap_or_default().to_string();
            for line in watcher.removed(&name, &mut UsbHost) {
                logger.console_line(&format!("quill: {line}"));
            }
            continue;
        }
        if ev.action != "add" {
            continue;
        }
        if let Some(v) = usb::Volume::from_uevent(&ev) {
            for line in watcher.added(&v, &mut UsbHost, std::time::Instant::now()) {
                logger.console_line(&format!("quill: {line}"));
            }
            continue;
        }
        if let (Some(alias), Some(m)) = (ev.get("MODALIAS"), mods.as_mut()) {
            let (newly, errors) = m.coldplug(&[alias.to_string()]);
            for n in newly {
                info!("hotplug: loaded {n} for {}", ev.devpath);
            }
            for e in errors {
                warn!("hotplug: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_controller_is_found_by_its_chain_under_any_pci_root() {
        let d = tempfile::tempdir().unwrap();
        let sys = d.path();
        for p in [
            "pci0000:00/0000:00:03.0/virtio0",
            "pci0000:00/0000:00:1c.0/0000:01:00.0/nvme",
            "pci0000:00/0000:00:1f.2/ata1",
            "pci0000:80/0000:80:02.0/0000:81:00.1",
            "platform/serial8250",
        ] {
            fs::create_dir_all(sys.join(p)).unwrap();
        }
        let at = |chain: &[(u8, u8)]| pci_device_dir(sys, chain).map(|p| p.strip_prefix(sys).unwrap().to_path_buf());
        assert_eq!(at(&[(3, 0)]), Some("pci0000:00/0000:00:03.0".into()));
        assert_eq!(at(&[(0x1c, 0), (0, 0)]), Some("pci0000:00/0000:00:1c.0/0000:01:00.0".into()));
        assert_eq!(at(&[(2, 0), (0, 1)]), Some("pci0000:80/0000:80:02.0/0000:81:00.1".into()), "a second root");
        assert_eq!(at(&[(0x1c, 0), (0, 1)]), None, "no such function");
        assert_eq!(at(&[(4, 0)]), None);
        assert_eq!(at(&[]), None, "no chain: not a PCI disk");
        assert_eq!(pci_device_dir(&sys.join("none"), &[(3, 0)]), None);
    }
}
