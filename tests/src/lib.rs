//! Helpers for the end-to-end tests: a private copy of the built disk image,
//! its partitions, the independent checking tools (sgdisk, cgpt, fsck.vfat,
//! e2fsck), and a VM booting it.
//!
//! The tests are `#[ignore]`d for plain `cargo test` because they need the
//! image; `cargo xtask test` builds it and runs them with `--include-ignored`.

pub mod flows;
pub mod nbd;
pub mod netlab;
pub use testkit::nginx;
pub mod powercut;

use anyhow::{bail, Context, Result};
use gptedit::{FileDisk, Gpt, Partition};
use quill_qemu::{Config, Console, MachineSpec, UBoot, Vm};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Boot timeout for one boot under TCG: well above the 15 s budget so a busy
/// CI machine does not fail the test; the budget itself is checked by the bench.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn board() -> String {
    std::env::var("QUILL_BOARD").unwrap_or_else(|_| "x86-ud".into())
}

/// The image `cargo xtask test` built.
pub fn built_image() -> PathBuf {
    Target::main().image
}

/// An image under test: its board, its disk and the bundles made for it.
#[derive(Clone, Debug)]
pub struct Target {
    pub board: String,
    pub image: PathBuf,
    /// Where `quill-<board>-<version>.qbundle` files are.
    pub bundles: PathBuf,
}

impl Target {
    /// The board `cargo xtask test` runs for (`QUILL_BOARD`, x86-ud).
    pub fn main() -> Target {
        let board = board();
        let image = match std::env::var_os("QUILL_IMAGE") {
            Some(p) => PathBuf::from(p),
            None => {
                let p = root().join("target/quill").join(&board).join("disk.img");
                assert!(p.is_file(), "{} is missing: run the end-to-end tests with `cargo xtask test`", p.display());
                p
            }
        };
        let bundles = std::env::var_os("QUILL_BUNDLES")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/quill").join(&board));
        Target { board, image, bundles }
    }

    /// The Raspberry Pi 4 image and bundles `cargo xtask test` builds
    /// alongside (`QUILL_RPI4_DIR`, target/quill/rpi4).
    pub fn rpi4() -> Target {
        let dir =
            std::env::var_os("QUILL_RPI4_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target/quill/rpi4"));
        let image = dir.join("disk.img");
        assert!(image.is_file(), "{} is missing: run `cargo xtask test` (it builds rpi4)", image.display());
        Target { board: "rpi4".into(), image, bundles: dir }
    }

    /// The folder the build left the image in (with U-Boot and the QEMU
    /// device tree on the Pi).
    pub fn build_dir(&self) -> PathBuf {
        self.image.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// A bundle's file name as the build names it: `quill-<board>-<name>.qbundle`.
    pub fn bundle_name(&self, name: &str) -> String {
        format!("quill-{}-{name}.qbundle", self.board)
    }

    /// A bundle `cargo xtask test` made for this image.
    pub fn bundle(&self, name: &str) -> PathBuf {
        let p = self.bundles.join(self.bundle_name(name));
        assert!(p.is_file(), "{} is missing: run the end-to-end tests with `cargo xtask test`", p.display());
        p
    }

    pub fn spec(&self) -> Result<MachineSpec> {
        MachineSpec::from_board_file(&root().join("board").join(&self.board).join("board.toml"))
    }
}

/// A test's own copy of the disk image.
pub struct TestDisk {
    pub path: PathBuf,
    pub target: Target,
    _dir: tempfile::TempDir,
}

pub use testkit::data::{
    data_file, data_listing, set_admin_image, set_up_image, write_data_file, write_settings, Admin,
};

impl TestDisk {
    /// A copy of the built image on which the Setup Assistant has run
    /// ("no password" chosen): the home screen comes up, and the serial
    /// console opens a shell, as most tests need.
    pub fn new() -> Result<TestDisk> {
        TestDisk::set_up_for(&Target::main())
    }

    /// [`TestDisk::new`] for another image than the main one.
    pub fn set_up_for(target: &Target) -> Result<TestDisk> {
        let d = TestDisk::fresh_for(target)?;
        d.set_up(Admin::Open)?;
        Ok(d)
    }

    /// A copy of the built image as it leaves the build: the first boot
    /// runs the Setup Assistant, and the serial console opens no shell.
    pub fn fresh() -> Result<TestDisk> {
        TestDisk::fresh_for(&Target::main())
    }

    pub fn fresh_for(target: &Target) -> Result<TestDisk> {
        let dir = tempfile::Builder::new().prefix(&format!("quill-e2e-{}-", target.board)).tempdir()?;
        let path = dir.path().join("disk.img");
        fs::copy(&target.image, &path).context("copying the built image")?;
        Ok(TestDisk { path, target: target.clone(), _dir: dir })
    }

    /// Writes what a finished Setup Assistant leaves on DATA: settings with
    /// `setup_done` and the administrator's choice.
    pub fn set_up(&self, admin: Admin) -> Result<()> {
        set_up_image(&self.path, admin)
    }

    pub fn gpt(&self) -> Result<Gpt> {
        let mut d = FileDisk::new(fs::File::open(&self.path)?, 512)?;
        Gpt::load(&mut d).map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn partition(&self, name: &str) -> Result<Partition> {
        self.gpt()?.find_by_name(name).with_context(|| format!("no partition {name}"))
    }

    /// `mtools` image spec of a partition: `disk.img@@OFFSET`.
    pub fn mtools_spec(&self, name: &str) -> Result<String> {
        Ok(format!("{}@@{}", self.path.display(), self.partition(name)?.first_lba * 512))
    }

    /// Copies a partition out into its own file (for fsck tools).
    pub fn extract(&self, name: &str, to: &Path) -> Result<()> {
        let p = self.partition(name)?;
        let bytes = fs::read(&self.path)?;
        let (a, b) = ((p.first_lba * 512) as usize, ((p.last_lba + 1) * 512) as usize);
        fs::write(to, &bytes[a..b])?;
        Ok(())
    }

    /// Adds `words` to the command line slot A's kernel starts with (its
    /// cmdline.txt, through mtools).
    pub fn append_cmdline(&self, words: &str) -> Result<()> {
        let spec = self.mtools_spec("SYSTEM_A")?;
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("cmdline.txt");
        let f = file.to_str().unwrap();
        tool("mcopy", &["-n", "-i", &spec, "::cmdline.txt", f])?;
        let line = fs::read_to_string(&file)?;
        fs::write(&file, format!("{} {words}", line.trim()))?;
        tool("mcopy", &["-o", "-i", &spec, f, "::cmdline.txt"])?;
        Ok(())
    }

    /// Sets a slot's A/B state with `cgpt` (an independent implementation).
    pub fn cgpt_set(&self, number: u32, priority: u8, tries: u8, successful: bool) -> Result<()> {
        tool(
            "cgpt",
            &[
                "add",
                "-i",
                &number.to_string(),
                "-P",
                &priority.to_string(),
                "-T",
                &tries.to_string(),
                "-S",
                if successful { "1" } else { "0" },
                self.path.to_str().unwrap(),
            ],
        )?;
        Ok(())
    }

    /// A slot's state as `cgpt show` reads it: (priority, tries, successful).
    pub fn cgpt_state(&self, number: u32) -> Result<(u8, u8, bool)> {
        let get = |flag: &str| -> Result<u8> {
            let out = tool("cgpt", &["show", "-i", &number.to_string(), flag, self.path.to_str().unwrap()])?;
            out.trim().parse().with_context(|| format!("cgpt show {flag}: {out:?}"))
        };
        Ok((get("-P")?, get("-T")?, get("-S")? == 1))
    }

    pub fn vm_config(&self) -> Result<Config> {
        let spec = self.target.spec()?;
        let mut cfg = Config::new(&spec, self.path.clone(), Console::Capture)?;
        if spec.uboot() {
            cfg.uboot = Some(UBoot::from_build_dir(&self.target.build_dir())?);
        }
        Ok(cfg)
    }

    pub fn boot(&self) -> Result<Vm> {
        Vm::start(&self.vm_config()?)
    }

    /// Boots with USB sticks (raw images) attached.
    pub fn boot_with_sticks(&self, sticks: &[&Path]) -> Result<Vm> {
        let mut cfg = self.vm_config()?;
        cfg.usb_sticks = sticks.iter().map(|p| p.to_path_buf()).collect();
        Vm::start(&cfg)
    }

    /// Boots with extra raw disks attached (virtio, after the boot disk).
    pub fn boot_with(&self, extra: &[&Path]) -> Result<Vm> {
        let mut cfg = self.vm_config()?;
        cfg.extra_disks = extra.iter().map(|p| p.to_path_buf()).collect();
        Vm::start(&cfg)
    }
}

/// Runs a host tool, returns its stdout; fails with its output.
pub fn tool(cmd: &str, args: &[&str]) -> Result<String> {
    let out =
        Command::new(cmd).args(args).output().with_context(|| format!("running {cmd} (run `cargo xtask fetch`)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("{cmd} {args:?} failed ({}): {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(stdout)
}

/// Keeps the console transcript of a failed test in target/quill/test-logs.
pub fn save_log(name: &str, vm: &Vm) -> PathBuf {
    let dir = root().join("target/quill/test-logs");
    let _ = fs::create_dir_all(&dir);
    let p = dir.join(format!("{name}.log"));
    let _ = fs::write(&p, vm.transcript());
    p
}

/// A FAT filesystem image (whole disk, no partition table) holding `files`
/// (names may have folders: `quill/x.qbundle`), made with dosfstools and
/// mtools, so long file names work.
pub fn fat_stick(path: &Path, size_mib: u64, files: &[(&str, &Path)]) -> Result<()> {
    let _ = fs::remove_file(path);
    let img = path.to_str().unwrap();
    tool("mkfs.vfat", &["-C", "-n", "STICK", img, &(size_mib * 1024).to_string()])?;
    let mut made = std::collections::BTreeSet::new();
    for (name, src) in files {
        if let Some((dir, _)) = name.rsplit_once('/') {
            if made.insert(dir.to_string()) {
                tool("mmd", &["-i", img, &format!("::{dir}")])?;
            }
        }
        tool("mcopy", &["-i", img, src.to_str().unwrap(), &format!("::{name}")])?;
    }
    Ok(())
}

/// The development signing key that `cargo xtask build` trusts in the image.
pub fn dev_key() -> bundle::SecretKey {
    let p = std::env::var_os("QUILL_DEV_KEY").map(PathBuf::from).expect("QUILL_DEV_KEY: run with `cargo xtask test`");
    bundle::SecretKey::load(&p).unwrap()
}

/// A bundle `cargo xtask test` made for the main image: `quill-<board>-<name>.qbundle`.
pub fn test_bundle(name: &str) -> PathBuf {
    Target::main().bundle(name)
}

/// Long enough for one install under TCG.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// [`Vm::sh`] with the install-sized timeout.
pub fn sh(vm: &mut Vm, cmd: &str) -> Result<String> {
    vm.sh(cmd, STEP_TIMEOUT)
}

/// Presses each key (QMP qcodes) in turn, `gap` apart so the UI handles
/// one before the next arrives.
pub fn keys(vm: &mut Vm, qcodes: &[&str], gap: Duration) -> Result<()> {
    for k in qcodes {
        vm.send_key(&[k])?;
        std::thread::sleep(gap.min(Duration::from_millis(100)));
    }
    Ok(())
}

/// Types `text` (lower-case letters, digits, spaces, new lines) as key
/// presses on the VM's keyboard (QMP), `gap` apart; the same keys on the
/// us and de layouts.
pub fn type_keys(vm: &mut Vm, text: &str, gap: Duration) -> Result<()> {
    let mut codes = Vec::new();
    for c in text.chars() {
        codes.push(match c {
            'a'..='z' | '0'..='9' => c.to_string(),
            ' ' => "spc".into(),
            '\n' => "ret".into(),
            _ => bail!("type_keys: no key for {c:?}"),
        });
    }
    keys(vm, &codes.iter().map(String::as_str).collect::<Vec<_>>(), gap)
}

/// The administrator password the tests set (letters and digits only: the
/// same keys on the us and de layouts).
pub const ADMIN_PASSWORD: &str = "quill4admin";

/// Logs in on the serial console with the administrator password (its
/// prompt may have come before lines already waited for); waits for the
/// shell's prompt.
pub fn serial_login(vm: &mut Vm, password: &str) -> Result<()> {
    vm.wait_seen_text("Administrator password: ", BOOT_TIMEOUT)?;
    vm.type_serial(&format!("{password}\n"))?;
    vm.wait_for_text("# ", Duration::from_secs(60))?;
    Ok(())
}

/// Waits until the serial console's shell runs commands: its prompt may
/// come before or after `quill: ready`, so a command's answer is the sign.
pub fn shell_up(vm: &mut Vm) -> Result<()> {
    vm.sh("true", Duration::from_secs(60)).map(|_| ())
}

/// Waits for `quill: ready` and the shell; returns the ready line.
pub fn ready_shell(vm: &mut Vm) -> Result<String> {
    let ready = vm.wait_for("quill: ready", BOOT_TIMEOUT)?;
    shell_up(vm)?;
    Ok(ready)
}

/// [`ready_shell`], and the system runs `version` from `slot`.
pub fn boot_ready(vm: &mut Vm, slot: char, version: &str) -> Result<()> {
    let ready = ready_shell(vm)?;
    anyhow::ensure!(
        ready.contains(&format!("slot={slot} ")) && ready.contains(&format!("version={version} ")),
        "{ready}"
    );
    Ok(())
}

/// Mounts the first USB stick (a FAT without partition table) at /mnt/stick.
pub fn mount_stick(vm: &mut Vm) -> Result<()> {
    // The stick enumerates on USB a little after boot (hotplug loads usb-storage).
    let out = sh(
        vm,
        "for i in $(seq 1 100); do [ -b /dev/sda ] && break; sleep 0.2; done; \
         mkdir -p /mnt/stick && mount -t vfat -o ro /dev/sda /mnt/stick",
    )?;
    anyhow::ensure!(out.contains("end-42-0"), "mounting the stick failed: {out}");
    Ok(())
}

/// Types `poweroff` and waits for QEMU to exit.
pub fn poweroff(vm: &mut Vm) -> Result<()> {
    vm.type_serial("poweroff\n")?;
    vm.wait_exit(Duration::from_secs(60))?;
    Ok(())
}

/// Panics with the error and where the console log of `vm` was saved
/// (`target/quill/test-logs/LOG_NAME.log`) when a test step failed.
pub fn or_log(log_name: &str, vm: &Vm, r: Result<()>) {
    if let Err(e) = r {
        panic!("{log_name}: {e:#}\n(console log: {})", save_log(log_name, vm).display());
    }
}

/// Share of pixels a screendump may differ from its reference by more than
/// `TOLERANCE` per channel: the clock on the date screen, the pointer, and
/// glyph edges (and a 16-bit framebuffer's rounding). Two different screens
/// of the assistant differ in far more (`screens_tell_each_other_apart`).
pub const MAX_SHARE: f64 = 0.004;
pub const TOLERANCE: u8 = 40;

/// Compares a screen with its reference; on a mismatch writes the diff image
/// beside the screendump.
fn compare(actual: &ui::Canvas, reference: &Path, out: &Path) -> Result<f64> {
    let want = ui::Canvas::load_png(reference)?;
    let (share, diff) = want.diff(actual, TOLERANCE);
    if share > MAX_SHARE {
        let d = out.with_extension("diff.png");
        diff.save_png(&d)?;
        bail!(
            "{}: {:.2}% of the pixels differ from {} (at most {:.2}% may); diff in {}",
            out.display(),
            share * 100.0,
            reference.display(),
            MAX_SHARE * 100.0,
            d.display()
        );
    }
    Ok(share)
}

/// Saves a QMP screendump as target/quill/test-logs/screens/FILE.png and
/// compares it with a golden frame, looking again every 100 ms while the
/// frame may still be on its way to the display (for at most 10 s).
/// Returns the share of differing pixels.
pub fn expect_screen(vm: &mut Vm, file: &str, reference: &Path) -> Result<f64> {
    let dir = root().join("target/quill/test-logs/screens");
    fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{file}.png"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let _ = fs::remove_file(&path);
        // QMP answers screendump once the file is written.
        vm.screendump(&path)?;
        let r = ui::Canvas::load_png(&path).map_err(anyhow::Error::from).and_then(|c| compare(&c, reference, &path));
        match r {
            Ok(share) => {
                eprintln!("{file}: {:.3}% of the pixels differ from the reference", share * 100.0);
                return Ok(share);
            }
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
