//! `init usb-helper NAME TARGET [--auto]`: the part of USB handling that
//! touches the stick, in a process of its own so PID 1 never waits on it.
//! It reads the volume's first 2 KiB (no link followed), mounts a FAT or
//! exFAT filesystem read-only, nodev, nosuid, noexec at TARGET, leaves a
//! note in /run/quill/usb/NAME for init, and becomes `fwupdate usb TARGET`.
//! ext4 is refused: the kernel's ext4 is not hardened against crafted
//! images, and sticks carrying updates are FAT32 or exFAT. Init gives up on
//! it (and kills it) if the stick does not answer in time.

use crate::usb::{probe_fs, MOUNTED_DIR};
use crate::{modules, system};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

fn say(line: &str) {
    println!("quill: {line}");
}

/// The first 2 KiB of the volume; a link in /dev is not followed.
fn read_head(dev: &Path) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(dev)?;
    let mut head = vec![0u8; 2048];
    f.read_exact(&mut head)?;
    Ok(head)
}

/// Loads the filesystem's module (the kernel has no other way to get it).
fn load_module(fstype: &str) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = PathBuf::from("/lib/modules").join(release.trim());
    if let Ok(index) = modules::ModIndex::load(&dir) {
        let mut m = modules::Modules::new(dir, index, modules::KernelLoader);
        if let Err(e) = m.load(fstype) {
            log::warn!("usb: {e}");
        }
    }
}

/// The settings folder on DATA.
const DATA: &str = "/data/quill";

/// Runs the helper; never returns.
pub fn run(args: &[String]) -> ! {
    let (Some(name), Some(target)) = (args.first(), args.get(1)) else {
        eprintln!("usage: init usb-helper NAME TARGET [--auto]");
        std::process::exit(2);
    };
    let auto = args.iter().any(|a| a == "--auto");
    if name.contains('/') || name.chars().any(|c| c.is_control()) {
        std::process::exit(2);
    }
    // A file that cannot be read gives the defaults, which mount and
    // offer but never install without asking.
    let usb = devconfig::peek(Path::new(DATA)).map(|s| s.usb).unwrap_or_default();
    if !usb.storage {
        say(&format!(
            "USB storage {name}: not mounted: USB storage is switched off in the Setup (Devices › USB storage)"
        ));
        std::process::exit(0);
    }
    let auto = auto || usb.install_without_asking;
    let dev = Path::new("/dev").join(name);
    let head = match read_head(&dev) {
        Ok(h) => h,
        Err(e) => {
            say(&format!("USB storage {name}: cannot be read: {e}"));
            std::process::exit(1);
        }
    };
    let fstype = match probe_fs(&head) {
        None => {
            log::info!("usb: /dev/{name} holds no FAT or exFAT filesystem");
            std::process::exit(0);
        }
        Some("ext4") => {
            say(&format!(
                "USB storage {name} holds ext4, which Quill does not mount from USB storage (a crafted ext4 image \
                 can attack the kernel); put the update on a stick formatted with FAT32 or exFAT"
            ));
            std::process::exit(3);
        }
        Some(t) => t,
    };
    load_module(fstype);
    let target = Path::new(target);
    if let Err(e) = system::mount_ro(&dev, fstype, target) {
        say(&format!("USB storage {name}: {e}; use a stick formatted with FAT32 or exFAT"));
        std::process::exit(1);
    }
    let _ = std::fs::create_dir_all(MOUNTED_DIR);
    let _ = std::fs::write(Path::new(MOUNTED_DIR).join(name), fstype);
    say(&format!("USB storage {name} ({fstype}) mounted read-only on {}", target.display()));
    if !usb.offer_updates {
        say(&format!("USB storage {name}: updates on it are not offered (switched off in the Setup)"));
        std::process::exit(0);
    }
    let mut cmd = std::process::Command::new("/usr/bin/fwupdate");
    cmd.arg("usb");
    if auto {
        cmd.arg("--auto");
    }
    let e = cmd.arg(target).exec();
    say(&format!("USB storage {name}: cannot look for updates: starting fwupdate: {e}"));
    std::process::exit(1);
}
