//! The UD Pocket: the x86 image flashed onto a USB stick boots any PC from
//! USB without touching its disk, and installs itself onto that disk.

use quill_e2e::{keys, or_log, ready_shell, sh, tool, Admin, TestDisk, ADMIN_PASSWORD, BOOT_TIMEOUT};
use quill_qemu::{DiskBus, Vm};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;
use std::time::Duration;

fn sha256(p: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(p).unwrap()))
}

/// Flashes the built image onto a stick image of `mib` MiB with the same
/// code as `fwupdate flash` (new GUIDs, DATA grown to the end).
fn flashed_stick(dir: &Path, mib: u64) -> std::path::PathBuf {
    let stick = dir.join("stick.img");
    fs::File::create(&stick).unwrap().set_len(mib << 20).unwrap();
    let (plan, _) = flash::plan_image(&quill_e2e::built_image(), mib << 20, true).unwrap();
    let mut dev = blockdev::FileDevice::open(&stick).unwrap();
    flash::write_disk(&mut dev, plan, &mut |_| {}).unwrap();
    tool("sgdisk", &["-v", stick.to_str().unwrap()]).unwrap();
    // Set up already ("no password"): the serial console opens a shell.
    quill_e2e::set_up_image(&stick, quill_e2e::Admin::Open).unwrap();
    stick
}

/// An internal disk full of non-zero bytes (a PC's own system, say).
fn filled_disk(path: &Path, mib: usize) {
    let mut block = vec![0u8; 1 << 20];
    for (i, b) in block.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8 + 1;
    }
    let mut all = Vec::with_capacity(mib << 20);
    for _ in 0..mib {
        all.extend_from_slice(&block);
    }
    fs::write(path, all).unwrap();
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn pocket_boots_from_usb_and_leaves_the_internal_disk_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let stick = flashed_stick(dir.path(), 1024);
    let internal = dir.path().join("internal.img");
    filled_disk(&internal, 256);
    let before = sha256(&internal);
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    cfg.disk = stick.clone();
    cfg.bus = DiskBus::Usb;
    cfg.extra_disks = vec![internal.clone()];
    let mut vm = Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        let ready = ready_shell(&mut vm)?;
        anyhow::ensure!(ready.contains("slot=a ") && ready.contains("data=mounted"), "{ready}");
        // DATA is the stick's, and its ext4 was grown to the grown partition.
        let out =
            sh(&mut vm, "grep ' /data ' /proc/mounts; echo data-kib=$(df -k /data | tail -1 | awk '{print $2}')")?;
        anyhow::ensure!(out.contains("/dev/sda4 /data ext4"), "DATA is not the stick's: {out}");
        let kib: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("data-kib="))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no df line: {out}"))?;
        anyhow::ensure!(
            kib > 600 * 1024,
            "DATA (637 MiB partition) was not grown from 64 MiB to fill the stick: {kib} KiB"
        );
        // The health check passes and marks the slot good on the stick.
        vm.wait_seen("health check passed", Duration::from_secs(60))?;
        // Status and the disk listing read the internal disk, never write it.
        let out = sh(&mut vm, "fwupdate status; fwupdate install-to-disk")?;
        anyhow::ensure!(out.contains("/dev/vda (vda)") && out.contains("end-42-0"), "{out}");
        anyhow::ensure!(!out.contains("/dev/sda (sda)"), "the stick itself is offered: {out}");
        vm.type_serial("poweroff\n")?;
        vm.wait_for("/data unmounted", Duration::from_secs(30))?;
        vm.wait_exit(Duration::from_secs(30))?;
        Ok(())
    })();
    or_log("pocket-untouched", &vm, r);
    assert_eq!(sha256(&internal), before, "the Pocket changed the PC's internal disk");
    let out = tool("cgpt", &["show", "-i", "2", "-S", stick.to_str().unwrap()]).unwrap();
    assert_eq!(out.trim(), "1", "slot A of the stick is marked successful");
}

/// The Pocket (the image as a USB stick) booting with an empty 2 GiB
/// internal virtio disk in `dir`.
fn pocket_with_empty_disk(dir: &Path, admin: Admin) -> (TestDisk, std::path::PathBuf, Vm) {
    let internal = dir.join("internal.img");
    fs::File::create(&internal).unwrap().set_len(2 << 30).unwrap();
    let disk = TestDisk::new().unwrap();
    disk.set_up(admin).unwrap();
    let mut cfg = disk.vm_config().unwrap();
    // The PC's NVRAM, kept for the boots of its internal disk.
    cfg.efi_vars = Some(dir.join("OVMF_VARS.fd"));
    cfg.bus = DiskBus::Usb;
    cfg.extra_disks = vec![internal.clone()];
    let vm = Vm::start(&cfg).unwrap();
    (disk, internal, vm)
}

/// An installed internal disk: a clean table, slot A active and proven, B
/// not bootable.
fn assert_installed(internal: &Path) {
    tool("sgdisk", &["-v", internal.to_str().unwrap()]).unwrap();
    let cg =
        |i: &str, f: &str| tool("cgpt", &["show", "-i", i, f, internal.to_str().unwrap()]).unwrap().trim().to_string();
    assert_eq!((cg("2", "-P"), cg("2", "-S")), ("1".into(), "1".into()), "A active and proven");
    assert_eq!(cg("3", "-P"), "0", "B not bootable");
}

/// Time between two key presses on the home screen.
const KEY_GAP: Duration = Duration::from_millis(100);

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn pocket_installs_onto_an_empty_internal_disk_which_then_boots_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, internal, mut vm) = pocket_with_empty_disk(dir.path(), Admin::Open);
    let r = (|| -> anyhow::Result<()> {
        ready_shell(&mut vm)?;
        vm.wait_seen("the firmware's boot entries are left alone", Duration::from_secs(60))?;
        // Bad input first: the stick itself, a partition, no --yes without a terminal.
        let out = sh(&mut vm, "fwupdate install-to-disk /dev/sda --yes")?;
        anyhow::ensure!(out.contains("holds the running system") && out.contains("end-42-3"), "{out}");
        let out = sh(&mut vm, "fwupdate install-to-disk /dev/vda </dev/null")?;
        anyhow::ensure!(out.contains("add --yes") && out.contains("end-42-3"), "{out}");
        // Settings made on the stick (as the Setup Assistant saves them)
        // go along to the internal disk.
        sh(
            &mut vm,
            "mkdir -p /data/quill && printf 'schema = 1\\nsetup_done = true\\nlanguage = \"de\"\\n\
             keyboard = \"ch\"\\ntimezone = \"Europe/Zurich\"\\nlicence = \"skip\"\\n' \
             > /data/quill/settings.toml",
        )?;
        // The Pocket's own boot left the PC's boot entries alone.
        anyhow::ensure!(
            vm.transcript()
                .contains("running from removable storage (/dev/sda): the firmware's boot entries are left alone"),
            "the Pocket did not say it leaves the boot entries alone"
        );
        anyhow::ensure!(
            !String::from_utf8_lossy(&fs::read(dir.path().join("OVMF_VARS.fd"))?).contains("Q\0u\0i\0l\0l\0"),
            "the Pocket's boot wrote a Quill entry into the PC's variables"
        );
        let out = sh(&mut vm, "fwupdate install-to-disk /dev/vda --yes")?;
        anyhow::ensure!(out.contains("now holds Quill") && out.contains("end-42-0"), "{out}");
        anyhow::ensure!(out.contains("settings of this stick were copied to /dev/vda4"), "{out}");
        // Installing onto this PC registers a boot entry for its disk.
        anyhow::ensure!(out.contains("\"Quill\" created for ESP"), "{out}");
        quill_e2e::poweroff(&mut vm)?;
        Ok(())
    })();
    or_log("pocket-install", &vm, r);
    assert_installed(&internal);
    let stick_guid = disk.gpt().unwrap().disk_guid();
    let mut d = gptedit::FileDisk::new(fs::File::open(&internal).unwrap(), 512).unwrap();
    let g = gptedit::Gpt::load(&mut d).unwrap();
    assert_ne!(g.disk_guid(), stick_guid, "the internal disk has GUIDs of its own");

    // The internal disk alone boots, from its slot A, with its own DATA,
    // through the firmware's "Quill" entry (no boot index from QEMU: the
    // firmware goes by its variables, as a PC does).
    let mut cfg = disk.vm_config().unwrap();
    cfg.disk = internal.clone();
    cfg.efi_vars = Some(dir.path().join("OVMF_VARS.fd"));
    cfg.boot_index = false;
    let mut vm = Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        let loading = vm.wait_for("BdsDxe: loading Boot", BOOT_TIMEOUT)?;
        anyhow::ensure!(loading.contains("\"Quill\" from HD(1,GPT,"), "not through Quill's entry: {loading}");
        let ready = vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        anyhow::ensure!(ready.contains("slot=a ") && ready.contains("data=mounted"), "{ready}");
        quill_e2e::shell_up(&mut vm)?;
        let out = sh(
            &mut vm,
            "grep ' /data ' /proc/mounts; echo data-kib=$(df -k /data | tail -1 | awk '{print $2}'); fwupdate status",
        )?;
        anyhow::ensure!(out.contains("/dev/vda4 /data ext4"), "{out}");
        let kib: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("data-kib="))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no df line: {out}"))?;
        anyhow::ensure!(kib > 1500 * 1024, "DATA was not grown to fill the disk: {kib} KiB");
        anyhow::ensure!(out.contains("booted slot: A"), "{out}");
        // The settings came along: the time zone is in effect, the
        // assistant does not run.
        let out = sh(&mut vm, "cat /data/quill/settings.toml; date +%Z")?;
        anyhow::ensure!(out.contains("Europe/Zurich") && out.contains("keyboard = \"ch\""), "{out}");
        anyhow::ensure!(out.contains("CET") || out.contains("CEST"), "the copied time zone is not in effect: {out}");
        anyhow::ensure!(!vm.transcript().contains("assistant: screen Language"), "the assistant ran again");
        vm.wait_seen("health check passed", Duration::from_secs(60))?;
        let st = sh(&mut vm, "fwupdate status --json | grep -A3 boot_entry; fwupdate status | grep 'boot entry'")?;
        anyhow::ensure!(
            st.contains("boot entry: ok (Boot") && st.contains("boots first, from this disk's ESP"),
            "{st}"
        );
        quill_e2e::poweroff(&mut vm)?;
        Ok(())
    })();
    or_log("pocket-internal-boot", &vm, r);
    drop(vm);

    // The same disk with another PCI layout (a USB controller added before
    // it, so the disk moves): the entry names the partition, not the PCI
    // path, and still boots it.
    let mut cfg = disk.vm_config().unwrap();
    cfg.disk = internal.clone();
    cfg.efi_vars = Some(dir.path().join("OVMF_VARS.fd"));
    cfg.boot_index = false;
    cfg.usb_hotplug = true;
    let mut vm = Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        let loading = vm.wait_for("BdsDxe: loading Boot", BOOT_TIMEOUT)?;
        anyhow::ensure!(loading.contains("\"Quill\""), "not through Quill's entry: {loading}");
        let ready = vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        anyhow::ensure!(ready.contains("slot=a "), "{ready}");
        quill_e2e::shell_up(&mut vm)?;
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("pocket-internal-moved", &vm, r);
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn pocket_home_screen_installs_onto_the_internal_disk() {
    let dir = tempfile::tempdir().unwrap();
    // `_disk` keeps the stick image alive while the VM runs.
    let (_disk, internal, mut vm) = pocket_with_empty_disk(dir.path(), Admin::Password(ADMIN_PASSWORD));
    let step = Duration::from_secs(120);
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        quill_e2e::serial_login(&mut vm, ADMIN_PASSWORD)?;
        // Set up already (TestDisk::set_up): the home screen comes up and,
        // on a stick, offers the internal disk.
        vm.wait_seen("assistant: home screen: running from removable storage", step)?;
        // Keys typed before the keyboard's event device is there are lost
        // (evdev loads after ready); so are keys typed while the assistant
        // moves from fbdev to the DRM card (bochs loads after ready too):
        // it reads no input for a second or two under TCG, and the event
        // device's queue (64 events) overflows.
        vm.wait_seen("assistant: input /dev/input/event", step)?;
        vm.wait_seen("assistant: display drm", step)?;
        // Third action: the administrator password first (a wrong one
        // lists no disk), then Yes to erasing (No is the default), then Yes
        // to copying the settings (the default).
        keys(&mut vm, &["down", "down", "ret"], KEY_GAP)?;
        vm.wait_for("assistant: home screen shows Password", step)?;
        quill_e2e::type_keys(&mut vm, "wrong4password\n", KEY_GAP)?;
        vm.wait_for("wrong administrator password on the screen for FindDisks", step)?;
        quill_e2e::type_keys(&mut vm, &format!("{ADMIN_PASSWORD}\n"), KEY_GAP)?;
        vm.wait_for("administrator password accepted on the screen for FindDisks", step)?;
        anyhow::ensure!(!vm.transcript().contains("assistant: disks:"), "disks were listed before the password");
        let found = vm.wait_seen("assistant: disks:", step)?;
        anyhow::ensure!(found.contains("/dev/vda"), "{found}");
        // One usable disk: the erase question comes at once.
        vm.wait_for("assistant: home screen shows ConfirmDisk", step)?;
        keys(&mut vm, &["left", "ret"], KEY_GAP)?;
        vm.wait_for("assistant: home screen shows DiskSettings", step)?;
        keys(&mut vm, &["ret"], KEY_GAP)?;
        let ended = vm.wait_seen("assistant: fwupdate install-to-disk ended", Duration::from_secs(300))?;
        anyhow::ensure!(ended.contains("exit status: 0"), "{ended}");
        anyhow::ensure!(ended.contains("settings of this stick were copied to /dev/vda4"), "{ended}");
        let shown = vm.wait_seen("assistant: install-to-disk result shown", step)?;
        anyhow::ensure!(shown.contains("Quill is on /dev/vda and verified"), "{shown}");
        vm.screendump(&quill_e2e::root().join("target/quill/test-logs/screens/pocket-home-installed.png")).ok();
        quill_e2e::poweroff(&mut vm)?;
        Ok(())
    })();
    or_log("pocket-home-install", &vm, r);
    assert_installed(&internal);
}
