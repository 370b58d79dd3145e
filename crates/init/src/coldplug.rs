//! Loading kernel modules at boot and on hotplug: the board's list, then
//! coldplug rounds over sysfs until no new module matches a device; later,
//! the module a hot-plugged device asks for; USB storage events go to the
//! USB watcher.

use crate::{logger, modules, usb, UsbHost, ETC};
use log::{info, warn};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub type Mods = Option<modules::Modules<modules::KernelLoader>>;

/// What is needed before ready ([`modules::Modules::before_ready`]): the
/// modules listed by the board (`/etc/quill/modules`) and those the
/// devices present ask for. The rest follows after ready ([`load_rest`]).
pub fn load_modules() -> Mods {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = PathBuf::from("/lib/modules").join(release.trim());
    let index = match modules::ModIndex::load(&dir) {
        Ok(i) => i,
        Err(e) => {
            warn!("no module index in {}: {e}; loading no modules", dir.display());
            return None;
        }
    };
    let mut mods = modules::Modules::new(dir, index, modules::KernelLoader);
    // The board's list and what the devices present ask for, in one batch:
    // independent modules load at the same time (the disk controller's
    // probe beside the filesystems).
    let listed = fs::read_to_string(Path::new(ETC).join("modules")).unwrap_or_default();
    let mut wanted: Vec<String> =
        listed.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    let devices = mods.wanted_by(&modules::modaliases(Path::new("/sys/devices")));
    wanted.extend(devices.into_iter().filter(|m| mods.before_ready(m)));
    let started = std::time::Instant::now();
    let (newly, errors) = mods.load_many(&wanted);
    for e in errors {
        warn!("{e}");
    }
    info!("{} modules loaded in {} ms", newly.len(), started.elapsed().as_millis());
    // No coldplug rounds here: what the new controllers find (disks, a
    // CD drive) is for after ready, unless it is the boot disk (DATA's
    // mount asks for it while it waits).
    Some(mods)
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
        .wanted_by(&modules::modaliases(Path::new("/sys/devices")))
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
