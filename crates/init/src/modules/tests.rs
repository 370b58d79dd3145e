//! Tests of the module index, the loader and its scheduling.

use super::*;

#[test]
fn glob_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("virtio:d00000002v*", "virtio:d00000002v00001AF4", true),
        ("virtio:d00000002v*", "virtio:d00000001v00001AF4", false),
        ("pci:v00008086d*sv*sd*bc0Csc03i30*", "pci:v00008086d00001E31sv0000sd0000bc0Csc03i30", true),
        ("usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("[abc]x", "bx", true),
        ("[!abc]x", "bx", false),
        ("[a-f]1", "e1", true),
        ("[a-f]1", "g1", false),
        ("*", "", true),
        ("", "x", false),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
    ];
    for &(p, s, want) in cases {
        assert_eq!(glob_match(p.as_bytes(), s.as_bytes()), want, "{p} vs {s}");
    }
}

const DEP: &str =
    "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/lib/crc16.ko.xz kernel/crypto/crc32c_generic.ko.xz\n\
kernel/fs/jbd2/jbd2.ko.xz:\n\
kernel/lib/crc16.ko.xz:\n\
kernel/crypto/crc32c_generic.ko.xz:\n\
kernel/drivers/block/virtio_blk.ko.xz:\n\
kernel/drivers/usb/storage/usb-storage.ko.xz:\n";
const ALIAS: &str = "# Aliases\nalias virtio:d00000002v* virtio_blk\nalias fs-ext4 ext4\nalias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n";

/// Records every load tried; fails the one named.
struct Fake(std::sync::Mutex<Vec<PathBuf>>, Option<&'static str>);
impl ModuleLoader for Fake {
    fn load(&self, path: &Path) -> io::Result<()> {
        self.0.lock().unwrap().push(path.to_path_buf());
        if self.1.is_some_and(|bad| path.ends_with(bad)) {
            return Err(io::Error::from_raw_os_error(libc::ENOEXEC));
        }
        Ok(())
    }
}

#[test]
fn dependencies_load_first_and_once() {
    let idx = ModIndex::parse(DEP, ALIAS);
    let mut m = Modules::new("/lib/modules/v".into(), idx, Fake(Default::default(), None));
    assert_eq!(m.load("ext4").unwrap(), 4);
    let names: Vec<String> = m.loader.0.lock().unwrap().iter().map(|p| name_of(p.to_str().unwrap())).collect();
    assert_eq!(names, ["crc32c_generic", "crc16", "jbd2", "ext4"]);
    assert_eq!(m.load("ext4").unwrap(), 0);
    assert!(m.load("nope").unwrap_err().contains("not in the image"));
}

#[test]
fn coldplug_matches_modaliases_and_names_with_dashes() {
    let idx = ModIndex::parse(DEP, ALIAS);
    assert!(idx.contains("usb-storage"));
    let mut m = Modules::new("/m".into(), idx, Fake(Default::default(), None));
    let aliases: Vec<String> = vec![
        "virtio:d00000002v00001AF4".into(),
        "usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00".into(),
        "pci:v0000DEADd0000BEEF".into(),
    ];
    let (newly, errors) = m.coldplug(&aliases);
    assert_eq!(newly, ["usb_storage", "virtio_blk"]);
    assert!(errors.is_empty());
    // Independent modules load in parallel: any order.
    let mut loaded = m.loader.0.lock().unwrap().clone();
    loaded.sort();
    assert_eq!(
        loaded,
        [
            PathBuf::from("/m/kernel/drivers/block/virtio_blk.ko.xz"),
            PathBuf::from("/m/kernel/drivers/usb/storage/usb-storage.ko.xz")
        ]
    );
    let (again, _) = m.coldplug(&aliases);
    assert!(again.is_empty());
}

#[test]
fn a_failing_module_is_reported_and_not_retried() {
    let idx = ModIndex::parse(DEP, ALIAS);
    let mut m = Modules::new("/m".into(), idx, Fake(Default::default(), Some("ext4.ko.xz")));
    let e = m.load("ext4").unwrap_err();
    assert!(e.contains("ext4"), "{e}");
    let e = m.load("ext4").unwrap_err();
    assert!(e.contains("failed to load earlier"), "{e}");
    assert!(!m.loaded().contains("ext4"));
    assert_eq!(
        m.loader.0.lock().unwrap().iter().filter(|p| p.ends_with("ext4.ko.xz")).count(),
        1,
        "ext4 was not tried twice"
    );
}

#[test]
fn a_failing_dependency_does_not_stop_the_module() {
    // ext4's crc32c (a soft dependency resolved to the SSE4.2 version)
    // refuses a CPU without it; ext4 loads, and asks for crc32c later.
    let idx = ModIndex::parse(DEP, ALIAS);
    let mut m = Modules::new("/m".into(), idx, Fake(Default::default(), Some("jbd2.ko.xz")));
    assert!(m.load("ext4").is_ok());
    assert!(m.loaded().contains("ext4") && !m.loaded().contains("jbd2"));
    assert!(m.load("ext4").is_ok(), "nothing tried again");
    assert_eq!(m.loader.0.lock().unwrap().iter().filter(|p| p.ends_with("jbd2.ko.xz")).count(), 1);
}

#[test]
fn finds_modaliases_in_a_sysfs_tree() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("pci0000:00/0000:00:03.0/virtio0");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("modalias"), "virtio:d00000002v00001AF4\n").unwrap();
    fs::write(t.path().join("pci0000:00/modalias"), "\n").unwrap();
    let found = modaliases(t.path());
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["virtio:d00000002v00001AF4"]);
}

#[test]
fn finds_modaliases_through_the_buses() {
    let t = tempfile::tempdir().unwrap();
    let dev = t.path().join("devices/pci0000:00/0000:00:03.0");
    fs::create_dir_all(dev.join("virtio0")).unwrap();
    fs::write(dev.join("modalias"), "pci:v00001AF4d00001001\n").unwrap();
    fs::write(dev.join("virtio0/modalias"), "virtio:d00000002v00001AF4\n").unwrap();
    fs::create_dir_all(t.path().join("devices/platform/pcspkr")).unwrap();
    for (bus, name, target) in [
        ("pci", "0000:00:03.0", "../../../devices/pci0000:00/0000:00:03.0"),
        ("virtio", "virtio0", "../../../devices/pci0000:00/0000:00:03.0/virtio0"),
        ("platform", "pcspkr", "../../../devices/platform/pcspkr"),
    ] {
        let d = t.path().join("bus").join(bus).join("devices");
        fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink(target, d.join(name)).unwrap();
    }
    fs::create_dir_all(t.path().join("bus/empty")).unwrap();
    let found: Vec<String> = bus_modaliases(&t.path().join("bus")).into_iter().collect();
    assert_eq!(found, ["pci:v00001AF4d00001001", "virtio:d00000002v00001AF4"], "a device without one is skipped");
    assert_eq!(found.iter().collect::<BTreeSet<_>>(), modaliases(&t.path().join("devices")).iter().collect());
    assert!(bus_modaliases(&t.path().join("none")).is_empty());
}

/// Loads wait (up to a second) until another load runs beside them.
struct Overlapping {
    order: std::sync::Mutex<Vec<String>>,
    active: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
    most: std::sync::atomic::AtomicUsize,
}
impl ModuleLoader for Overlapping {
    fn load(&self, path: &Path) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        let mut n = self.active.lock().unwrap();
        *n += 1;
        self.most.fetch_max(*n, Ordering::SeqCst);
        self.cv.notify_all();
        let (mut n, _) = self.cv.wait_timeout_while(n, std::time::Duration::from_secs(1), |n| *n < 2).unwrap();
        self.order.lock().unwrap().push(name_of(path.to_str().unwrap()));
        *n -= 1;
        if path.ends_with("crc16.ko.xz") {
            return Err(io::Error::from_raw_os_error(libc::ENOEXEC));
        }
        Ok(())
    }
}

#[test]
fn independent_modules_load_at_the_same_time_after_their_dependencies() {
    let idx = ModIndex::parse(DEP, ALIAS);
    let loader = Overlapping {
        order: Default::default(),
        active: Default::default(),
        cv: Default::default(),
        most: Default::default(),
    };
    let mut m = Modules::new("/m".into(), idx, loader);
    let names: Vec<String> = ["ext4", "virtio_blk", "nope"].map(String::from).into();
    let (newly, errors) = m.load_many(&names);
    assert!(m.loader.most.load(std::sync::atomic::Ordering::SeqCst) >= 2, "no two loads overlapped");
    let order = m.loader.order.lock().unwrap().clone();
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    for dep in ["jbd2", "crc32c_generic", "crc16"] {
        assert!(pos(dep) < pos("ext4"), "{dep} before ext4: {order:?}");
    }
    // crc16 failed: a dependency, so only logged; ext4 went on.
    assert_eq!(newly.len(), 4, "{newly:?}");
    assert!(!newly.contains(&"crc16".to_string()));
    assert_eq!(errors, ["module nope is not in the image"]);
    let (again, errors) = m.load_many(&["ext4".to_string(), "crc16".to_string()]);
    assert!(again.is_empty());
    assert_eq!(errors, ["crc16 failed to load earlier"]);
}

/// Loads instantly, except `slow`; records when each load started and ended.
struct Timed(std::sync::Mutex<Vec<(String, std::time::Instant, std::time::Instant)>>, &'static str);
impl ModuleLoader for Timed {
    fn load(&self, path: &Path) -> io::Result<()> {
        let start = std::time::Instant::now();
        if path.ends_with(self.1) {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        let name = path.file_name().unwrap().to_string_lossy().split('.').next().unwrap().to_string();
        self.0.lock().unwrap().push((name, start, std::time::Instant::now()));
        Ok(())
    }
}

#[test]
fn storage_filesystems_and_network_cards_load_before_ready() {
    let dep = "kernel/drivers/gpu/drm/drm.ko:\nkernel/drivers/net/virtio_net.ko:\nkernel/fs/vfat/vfat.ko:\n\
               kernel/drivers/usb/storage/uas.ko:\nkernel/drivers/input/evdev.ko:\n";
    let m = Modules::new("/m".into(), ModIndex::parse(dep, ""), Fake(Default::default(), None));
    let early: Vec<bool> = ["drm", "virtio_net", "vfat", "uas", "evdev", "nosuch"].map(|n| m.before_ready(n)).into();
    assert_eq!(early, [false, true, true, true, false, false]);
    let net: Vec<bool> = ["drm", "virtio_net", "vfat", "nosuch"].map(|n| m.for_network(n)).into();
    assert_eq!(net, [false, true, false, false]);
}

#[test]
fn a_module_starts_as_soon_as_its_own_dependencies_are_in() {
    let idx = ModIndex::parse(DEP, ALIAS);
    let mut m = Modules::new("/m".into(), idx, Timed(Default::default(), "virtio_blk.ko.xz"));
    let (newly, errors) = m.load_many(&["virtio_blk".to_string(), "ext4".to_string()]);
    assert_eq!((newly.len(), errors.len()), (5, 0), "{newly:?} {errors:?}");
    let log = m.loader.0.lock().unwrap().clone();
    let at = |n: &str| log.iter().find(|(x, _, _)| x == n).map(|(_, s, e)| (*s, *e)).unwrap();
    assert!(at("ext4").0 < at("virtio_blk").1, "ext4 waited for the slow virtio_blk: {log:?}");
}

#[test]
fn what_another_loader_did_is_taken_over() {
    // The board's list loads on a thread of its own, from modules.dep
    // alone; the device loader then neither loads it again nor retries
    // what failed there.
    let mut board = Modules::new("/m".into(), ModIndex::parse(DEP, ""), Fake(Default::default(), Some("jbd2.ko.xz")));
    assert!(board.load("ext4").is_ok());
    let mut m = Modules::new("/m".into(), ModIndex::parse(DEP, ALIAS), Fake(Default::default(), None));
    m.adopt(board);
    assert!(m.loaded().contains("ext4") && m.loaded().contains("crc16"));
    assert_eq!(m.load("ext4").unwrap(), 0);
    let (newly, errors) = m.load_many(&["jbd2".to_string(), "virtio_blk".to_string()]);
    assert_eq!(newly, ["virtio_blk"]);
    assert!(errors.iter().any(|e| e.contains("jbd2 failed to load earlier")), "{errors:?}");
    assert!(m.loader.0.lock().unwrap().iter().all(|p| !p.ends_with("ext4.ko.xz") && !p.ends_with("jbd2.ko.xz")));
}
