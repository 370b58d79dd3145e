//! The built image: checked by independent tools, booted through OVMF and
//! bootsel to `quill: ready`, powered off cleanly.

use quill_e2e::{or_log, tool, TestDisk, BOOT_TIMEOUT};
use std::time::Duration;

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn image_passes_independent_checks() {
    let disk = TestDisk::new().unwrap();
    let p = disk.path.to_str().unwrap();
    let v = tool("sgdisk", &["-v", p]).unwrap();
    assert!(v.contains("No problems found"), "sgdisk -v: {v}");

    let show = tool("cgpt", &["show", p]).unwrap();
    for name in ["\"ESP\"", "\"SYSTEM_A\"", "\"SYSTEM_B\"", "\"DATA\""] {
        assert!(show.contains(name), "cgpt show lacks {name}: {show}");
    }
    assert_eq!(disk.cgpt_state(2).unwrap(), (1, 0, true), "slot A is the factory slot");
    assert_eq!(disk.cgpt_state(3).unwrap(), (0, 0, false), "slot B is empty");

    let dir = tempfile::tempdir().unwrap();
    for name in ["ESP", "SYSTEM_A", "SYSTEM_B"] {
        let f = dir.path().join(name);
        disk.extract(name, &f).unwrap();
        tool("fsck.vfat", &["-n", f.to_str().unwrap()]).unwrap();
        // `file` is installed by `cargo xtask test` (board.toml [host]); its
        // absence fails the test, never skips the check.
        let info = tool("file", &["-s", f.to_str().unwrap()]).unwrap();
        assert!(info.contains("FAT (32 bit)"), "{name} is not FAT32: {info}");
    }
    let listing = tool("mdir", &["-b", "-i", &disk.mtools_spec("SYSTEM_A").unwrap(), "::"]).unwrap();
    for f in ["VMLINUZ", "INITRD.IMG", "CMDLINE.TXT"] {
        assert!(listing.to_uppercase().contains(f), "slot lacks {f}: {listing}");
    }
    let esp = tool("mdir", &["-b", "-i", &disk.mtools_spec("ESP").unwrap(), "::/EFI/BOOT"]).unwrap();
    assert!(esp.to_uppercase().contains("BOOTX64.EFI"), "{esp}");

    let data = dir.path().join("data");
    disk.extract("DATA", &data).unwrap();
    tool("e2fsck", &["-n", "-f", data.to_str().unwrap()]).unwrap();

    // The initramfs inside the slot: two LZ4 archives in the kernel's
    // legacy format (magic number, then blocks, each after its size; an
    // archive ends at a zero size) with zero bytes between them (the app
    // layer starts on a chunk boundary: 1 MiB into the file, which starts
    // on one in the slot), each a newc cpio; together they hold /init and
    // the rest. Read with Debian's lz4 and cpio, not with the build's code.
    let initrd = dir.path().join("initrd.img");
    tool("mcopy", &["-i", &disk.mtools_spec("SYSTEM_A").unwrap(), "::initrd.img", initrd.to_str().unwrap()]).unwrap();
    let bytes = std::fs::read(&initrd).unwrap();
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let (mut at, mut layers) = (0, Vec::new());
    while at < bytes.len() {
        if bytes[at] == 0 {
            at += 1;
            continue;
        }
        assert_eq!(word(at), 0x184C_2102, "an LZ4 legacy archive at byte {at}");
        let start = at;
        at += 4;
        while at + 4 <= bytes.len() && word(at) != 0 {
            at += 4 + word(at) as usize;
        }
        layers.push((start, at.min(bytes.len()) - start));
    }
    assert_eq!(layers.len(), 2, "base and app layers: {layers:?}");
    let chunk = bundle::DEFAULT_CHUNK_SIZE as usize;
    assert_eq!(layers[1].0 % chunk, 0, "the app layer starts on a chunk boundary: {layers:?}");
    let mut names = String::new();
    for (i, (at, len)) in layers.into_iter().enumerate() {
        let f = dir.path().join(format!("layer{i}.lz4"));
        std::fs::write(&f, &bytes[at..at + len]).unwrap();
        tool("lz4", &["-t", "-q", f.to_str().unwrap()]).unwrap();
        let cpio = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("lz4 -dc {} | cpio -t --quiet", f.display()))
            .output()
            .unwrap();
        assert!(cpio.status.success(), "cpio -t failed: {}", String::from_utf8_lossy(&cpio.stderr));
        names.push_str(&String::from_utf8_lossy(&cpio.stdout));
    }
    for want in ["init", "bin/busybox", "etc/quill/release", "etc/quill/services"] {
        assert!(names.lines().any(|l| l == want), "initramfs lacks {want}");
    }
    assert!(names.lines().any(|l| l.ends_with("/modules.dep")), "initramfs lacks modules.dep");
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn boots_to_ready_through_ovmf_and_bootsel_then_powers_off_cleanly() {
    let disk = TestDisk::new().unwrap();
    // Two CPUs, as the thin clients have (the other tests boot on one):
    // init's module loads and services then really run side by side.
    let mut cfg = disk.vm_config().unwrap();
    cfg.cpus = 2;
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let result = (|| -> anyhow::Result<()> {
        vm.wait_for("bootsel: choosing slot A", BOOT_TIMEOUT)?;
        let ready = vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        let secs = vm.elapsed();
        println!("boot to ready: {secs:.1} s: {ready}");
        anyhow::ensure!(ready.starts_with("quill: ready"), "the ready line must start the line: {ready:?}");
        anyhow::ensure!(ready.contains("slot=a"), "{ready}");
        anyhow::ensure!(ready.contains("unit=525400123456"), "{ready}");
        anyhow::ensure!(ready.contains("hostname=ITC525400123456"), "{ready}");
        anyhow::ensure!(ready.contains("data=mounted"), "{ready}");
        anyhow::ensure!(ready.contains("version="), "{ready}");
        // The screen can be captured (efifb console), as later UI tests need.
        let png = std::env::temp_dir().join(format!("quill-screen-{}.png", std::process::id()));
        vm.screendump(&png)?;
        let bytes = std::fs::read(&png)?;
        let _ = std::fs::remove_file(&png);
        anyhow::ensure!(bytes.starts_with(b"\x89PNG") && bytes.len() > 1000, "screendump is not a PNG");
        // The administrators' shell answers on the serial console.
        quill_e2e::shell_up(&mut vm)?;
        vm.type_serial("cat /proc/mounts; echo marker-$((40+2))\n")?;
        let mounts = vm.wait_for("marker-42", Duration::from_secs(20))?;
        let _ = mounts;
        let t = vm.transcript();
        anyhow::ensure!(t.contains("/dev/vda4 /data ext4"), "DATA is not mounted as ext4 on /data");
        let cpus = vm.sh("grep -c ^processor /proc/cpuinfo", Duration::from_secs(20))?;
        anyhow::ensure!(cpus.lines().any(|l| l.trim() == "2"), "the guest does not see two CPUs: {cpus}");
        // The console's shell has its terminal as controlling terminal
        // (init opens it as fd 0 of the service's new session), so Ctrl+C
        // and job control work: field 7 of /proc/PID/stat is its tty.
        let tty = vm.sh("cut -d' ' -f7 /proc/$$/stat", Duration::from_secs(20))?;
        anyhow::ensure!(
            tty.lines().any(|l| l.trim().parse::<u64>().is_ok_and(|n| n != 0)),
            "the console's shell has no controlling terminal: {tty}"
        );
        vm.type_serial("poweroff\n")?;
        vm.wait_for("/data unmounted", Duration::from_secs(30))?;
        let status = vm.wait_exit(Duration::from_secs(30))?;
        anyhow::ensure!(status.success(), "QEMU exited with {status}");
        Ok(())
    })();
    or_log("boot", &vm, result);
    // A clean shutdown leaves a clean ext4.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    disk.extract("DATA", &data).unwrap();
    tool("e2fsck", &["-n", "-f", data.to_str().unwrap()]).unwrap();
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn two_builds_give_a_byte_identical_initramfs() {
    let out = quill_e2e::built_image().parent().unwrap().to_path_buf();
    let build = || {
        let status = std::process::Command::new(env!("CARGO"))
            .current_dir(quill_e2e::root())
            .args(["xtask", "build", "--board", &quill_e2e::board()])
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out.join("initrd.img")).unwrap()
    };
    let (first, second) = (build(), build());
    assert!(first == second, "two builds' initrd.img differ ({} vs {} bytes)", first.len(), second.len());
}

/// Without SSE4.2 (QEMU's default `qemu64`), `crc32c_intel` cannot load and
/// ext4 asks the kernel for `crypto-crc32c`, which asks user space
/// (/sbin/modprobe, init's loader): DATA must still mount. On the older
/// `pc` machine type (i440FX) rather than `q35`, too.
#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn boots_with_data_on_a_cpu_without_sse42_and_the_pc_machine() {
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    cfg.cpu = Some("qemu64".into());
    cfg.machine = "pc".into();
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let result = (|| -> anyhow::Result<()> {
        let ready = vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
        anyhow::ensure!(ready.contains("data=mounted"), "{ready}");
        let out = quill_e2e::sh(&mut vm, "grep -c ' /data ext4 ' /proc/mounts; lsmod | grep -c crc32c_generic")?;
        // Two lines "1" (services may print between them on the console).
        anyhow::ensure!(out.lines().filter(|l| l.trim() == "1").count() == 2, "{out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("boot-qemu64-pc", &vm, result);
}
