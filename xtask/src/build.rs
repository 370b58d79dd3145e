//! `cargo xtask build`: compiles the device binaries and assembles
//! target/quill/<board>/disk.img (ESP with bootsel, slot A and B, DATA).

use crate::board::Board;
use crate::util::{mib, run, Paths};
use crate::{fetch, rpi, BUDGET_INITRAMFS_MIB};
use abslot::SlotAttr;
use anyhow::{bail, Context, Result};
use imagebuild::disk::{self, Content, PartSpec};
use imagebuild::initramfs::Tree;
use imagebuild::{fat, kmods, MIB};
use quill_qemu::{DirectBoot, UBoot};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub struct BuildOptions {
    pub version: String,
    /// Folder whose `*.pub` keys the image trusts (only public keys are
    /// read); `None`: the development key (the build says so loudly).
    pub keyring: Option<PathBuf>,
    /// Where the outputs go (default target/quill/<board>).
    pub out: PathBuf,
    /// Test images only: the health check always fails (rollback tests).
    pub fail_health: bool,
    /// Quill's binary compiled differently (opt-level "z", in its own
    /// target folder), so nearly every byte of it differs from the normal
    /// build's while the kernel and packages stay: the bench's app-only
    /// release, as a release that changed Quill's code throughout.
    pub app_variant: bool,
}

impl BuildOptions {
    pub fn new(paths: &Paths, version: &str) -> BuildOptions {
        BuildOptions {
            version: version.to_string(),
            keyring: None,
            out: paths.out.clone(),
            fail_health: false,
            app_variant: false,
        }
    }
}

/// What a build produced.
#[allow(dead_code)] // `slot` is for the bundle step (issue 3).
pub struct Built {
    pub disk: PathBuf,
    pub slot: PathBuf,
    /// Compressed initramfs size in bytes.
    pub initrd_bytes: u64,
    /// Seconds spent assembling the image (after compile and fetch).
    pub assembly_secs: f64,
}

pub fn build(paths: &Paths, board: &Board, opts: &BuildOptions) -> Result<Built> {
    if !fetch::missing(paths, board).is_empty() {
        fetch::fetch(paths, board)?;
    }
    compile(paths, board, opts.app_variant)?;
    let started = Instant::now();
    let out = &opts.out;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    check_writable(out)?;

    let ring = crate::keys::keyring(opts.keyring.as_deref())?;
    let release = release_text(board, &opts.version, &paths.root, &ring.label);
    let quill = quill_binary(paths, board, opts.app_variant);
    let Root { mut base, mut app } = root_tree(paths, board, &quill, &release, &ring.keys)?;
    // The empty DATA filesystem: in the image, and in the root filesystem
    // for `fwupdate install-to-disk` (the device has no mkfs). Its UUID is
    // fixed per board so that builds stay byte-identical.
    let data_tmp = out.join("data.ext4.partial");
    let data_uuid = uuid::Uuid::from_u128(u128::from(volume_id(&board.name, "data")) << 64 | 0x4000_8000_0000_0000);
    imagebuild::ext4::make(&data_tmp, board.partitions.data_mib * MIB, "DATA", &data_uuid.to_string())?;
    let fresh = fs::read(&data_tmp).with_context(|| format!("reading {}", data_tmp.display()))?;
    let fresh_zst = zstd::bulk::compress(&fresh, 19).context("compressing the DATA filesystem")?;
    base.file("usr/share/quill/data.ext4.zst", 0o644, fresh_zst);
    if opts.fail_health {
        println!("build: TEST IMAGE: its health check always fails (--fail-health)");
        app.file("etc/quill/test-fail-health", 0o644, b"built with --fail-health\n".to_vec());
    }
    // The app layer starts on a chunk boundary of the slot (the initrd
    // itself starts on one): an app-only release changes only its chunks.
    let (initrd, app_at) = imagebuild::initramfs::layered(&base, &app, SLOT_ALIGN as usize)?;
    let kernel_path = paths.package_dir(board, &board.kernel.package).join(&board.kernel.image);
    let kernel = fs::read(&kernel_path).with_context(|| format!("reading the kernel {}", kernel_path.display()))?;

    let slot_size = board.partitions.slot_mib * MIB;
    let disk_path = out.join("disk.img");
    let tmp = out.join("disk.img.partial");
    let inputs = DiskInputs { kernel: &kernel, initrd: &initrd, release: &release, data: &data_tmp };
    let layout = uefi_disk(paths, board, &inputs, &tmp)?;
    let _ = fs::remove_file(&data_tmp);
    let slot_path = out.join("slot.img");
    write_atomic(&slot_path, &layout.slot)?;
    write_atomic(&out.join("initrd.img"), &initrd)?;
    if board.qemu.loads_files() {
        // QEMU loads these itself (`cargo xtask run`, the tests): U-Boot as
        // the Pi's firmware would, or, for a direct boot, slot A's kernel.
        write_atomic(&out.join(DirectBoot::KERNEL), &kernel)?;
        write_atomic(&out.join(DirectBoot::CMDLINE), layout.direct_cmdline.as_bytes())?;
        rpi::qemu_dtb(paths, board, &out.join(DirectBoot::DTB))?;
        if let Some((_, uboot)) = layout.esp_extras.iter().find(|(n, _)| n == UBoot::FILE) {
            write_atomic(&out.join(UBoot::FILE), uboot)?;
        }
    }
    fs::rename(&tmp, &disk_path).with_context(|| format!("renaming to {}", disk_path.display()))?;
    let elapsed = started.elapsed().as_secs_f64();

    println!("build: {} {} ({})", board.name, opts.version, board.description);
    println!("  kernel      {:>10}  {}", mib(kernel.len() as u64), board.kernel.package);
    println!(
        "  initramfs   {:>10}  ({} uncompressed): base layer {} (kernel modules, packages), app layer {} (Quill)",
        mib(initrd.len() as u64),
        mib(base.content_size() + app.content_size()),
        mib(app_at as u64),
        mib((initrd.len() - app_at) as u64)
    );
    println!("  slot image  {:>10}  {}", mib(slot_size), slot_path.display());
    println!("  disk image  {:>10}  {}", mib(layout.disk_size), disk_path.display());
    if board.qemu.loads_files() {
        println!(
            "  for QEMU    {} (u-boot.bin, patched device tree; kernel and command line for --direct)",
            out.display()
        );
    }
    let initrd_mib = initrd.len() as f64 / MIB as f64;
    let budget = budget_build_secs(board);
    println!(
        "  budget: initramfs {initrd_mib:.1} MiB of {BUDGET_INITRAMFS_MIB} MiB {}; image assembly {elapsed:.1} s of {budget} s {}",
        verdict(initrd_mib <= BUDGET_INITRAMFS_MIB as f64),
        verdict(elapsed <= budget as f64)
    );
    if initrd_mib > BUDGET_INITRAMFS_MIB as f64 {
        bail!("the initramfs is over its budget of {BUDGET_INITRAMFS_MIB} MiB; ship fewer modules or files");
    }
    Ok(Built { disk: disk_path, slot: slot_path, initrd_bytes: initrd.len() as u64, assembly_secs: elapsed })
}

/// The image assembly budget of the board (its board file's `[budgets]`).
pub fn budget_build_secs(board: &Board) -> u64 {
    board.budgets.build_secs
}

/// What every board's disk is made of.
#[derive(Clone, Copy)]
pub struct DiskInputs<'a> {
    pub kernel: &'a [u8],
    pub initrd: &'a [u8],
    pub release: &'a str,
    /// The empty DATA filesystem image.
    pub data: &'a Path,
}

/// The partitions' contents as written.
pub struct Layout {
    /// The slot image a bundle carries (slot A's).
    pub slot: Vec<u8>,
    pub disk_size: u64,
    /// What bootsel would pass to slot A's kernel (for a direct boot).
    pub direct_cmdline: String,
    /// The ESP's files besides bootsel (the Pi's firmware, U-Boot).
    pub esp_extras: Vec<(String, Vec<u8>)>,
}

/// ESP with bootsel (and on the Pi the GPU firmware, U-Boot and its
/// environment), both slots the same image (bootsel passes the slot on the
/// command line), DATA.
fn uefi_disk(paths: &Paths, board: &Board, inp: &DiskInputs, out: &Path) -> Result<Layout> {
    let DiskInputs { kernel, initrd, release, data } = *inp;
    let slot_files: Vec<(&str, &[u8])> = vec![
        ("vmlinuz", kernel),
        ("initrd.img", initrd),
        ("cmdline.txt", board.kernel.cmdline.as_bytes()),
        ("release.txt", release.as_bytes()),
    ];
    let slot = fat::build_aligned(
        board.partitions.slot_mib * MIB,
        "QUILL SLOT",
        volume_id(&board.name, "slot"),
        &slot_files,
        SLOT_ALIGN,
    )
    .map_err(|e| anyhow::anyhow!("building the slot image: {e}"))?;
    let uefi = board.target.uefi.as_deref().context("board without target.uefi")?;
    let bootsel_path = paths.root.join("target").join(uefi).join("release/bootsel.efi");
    let bootsel = fs::read(&bootsel_path).with_context(|| format!("reading {}", bootsel_path.display()))?;
    let efi_file = board.target.efi_boot_file.as_deref().context("board without target.efi_boot_file")?;
    let esp_extras = if board.has_gpu_firmware() {
        rpi::esp_files(paths, board, out.parent().unwrap_or(Path::new(".")))?
    } else {
        vec![]
    };
    let mut esp_files: Vec<(&str, &[u8])> = vec![(efi_file, &bootsel)];
    esp_files.extend(esp_extras.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
    let esp = fat::build(board.partitions.esp_mib * MIB, "QUILL ESP", volume_id(&board.name, "esp"), &esp_files)?;
    let factory = SlotAttr::new(1, 0, true).to_gpt(0);
    let parts = vec![
        part("ESP", disk::ESP_TYPE, board.partitions.esp_mib, 0, Content::Bytes(esp)),
        part("SYSTEM_A", disk::SLOT_TYPE, board.partitions.slot_mib, factory, Content::Bytes(slot.clone())),
        part("SYSTEM_B", disk::SLOT_TYPE, board.partitions.slot_mib, 0, Content::Bytes(slot.clone())),
        part("DATA", disk::LINUX_DATA_TYPE, board.partitions.data_mib, 0, Content::File(data.to_path_buf())),
    ];
    let size = disk::disk_size(&parts);
    if board.qemu.disk == "sd" && !size.is_power_of_two() {
        bail!(
            "the disk would be {} MiB, but QEMU's SD card needs a power of two; change [partitions] in {}",
            size / MIB,
            board.dir.join("board.toml").display()
        );
    }
    let disk_guid = uuid::Uuid::new_v4();
    let placed = disk::write(out, disk_guid, &parts)?;
    let slot_a = placed.iter().find(|p| p.name == "SYSTEM_A").context("no SYSTEM_A written")?.unique_guid;
    let direct_cmdline = rpi::direct_cmdline(board, &slot_a.to_string(), &disk_guid.to_string());
    Ok(Layout { slot, disk_size: size, direct_cmdline, esp_extras })
}

/// Large files in a slot (and the initramfs's app layer) start at
/// multiples of this: the bundle's default chunk size, so that a file that
/// did not change stays in chunks that did not change.
pub const SLOT_ALIGN: u64 = bundle::DEFAULT_CHUNK_SIZE as u64;

fn verdict(ok: bool) -> &'static str {
    if ok {
        "(ok)"
    } else {
        "(OVER BUDGET)"
    }
}

pub(crate) fn part(name: &str, type_guid: &'static str, size_mib: u64, attributes: u64, content: Content) -> PartSpec {
    PartSpec { name: name.into(), type_guid, size: size_mib * MIB, attributes, content }
}

pub(crate) fn volume_id(board: &str, what: &str) -> u32 {
    let h = Sha256::digest(format!("{board}/{what}"));
    u32::from_le_bytes([h[0], h[1], h[2], h[3]])
}

fn check_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(".write-test");
    fs::write(&probe, b"").with_context(|| format!("the output folder {} is not writable", dir.display()))?;
    let _ = fs::remove_file(probe);
    Ok(())
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Builds the device binaries (musl, static) and, on UEFI boards, bootsel,
/// in release mode. Cross-building sets the linker and the C toolchain
/// from the board file, so no environment is needed by hand.
fn compile(paths: &Paths, board: &Board, app_variant: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut builds: Vec<(&str, &String)> = ["quill"].into_iter().map(|p| (p, &board.target.rust)).collect();
    if let Some(uefi) = &board.target.uefi {
        builds.push(("bootsel", uefi));
    }
    for (package, target) in builds {
        println!("build: compiling {package} for {target}");
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&paths.root).args(["build", "--quiet", "--release", "--package", package, "--target", target]);
        if *target == board.target.rust {
            for (key, value) in cross_env(board) {
                cmd.env(key, value);
            }
            if app_variant {
                cmd.env("CARGO_TARGET_DIR", variant_dir(paths)).env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z");
            }
        }
        run(&mut cmd)?;
    }
    Ok(())
}

/// The variables cargo and the `cc` crate read for the board's target.
pub fn cross_env(board: &Board) -> Vec<(String, String)> {
    let t = &board.target;
    let under = t.rust.replace('-', "_");
    let upper = under.to_ascii_uppercase();
    let mut env = Vec::new();
    if let Some(v) = &t.linker {
        env.push((format!("CARGO_TARGET_{upper}_LINKER"), v.clone()));
    }
    if let Some(v) = &t.cc {
        env.push((format!("CC_{under}"), v.clone()));
    }
    if let Some(v) = &t.ar {
        env.push((format!("AR_{under}"), v.clone()));
    }
    if let Some(v) = &t.cflags {
        env.push((format!("CFLAGS_{under}"), v.clone()));
    }
    env
}

/// The git commit of the source tree (or `unknown`).
pub fn build_id(root: &Path) -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn release_text(board: &Board, version: &str, root: &Path, keyring: &str) -> String {
    let commit = build_id(root);
    format!(
        "VERSION={version}\nBOARD={}\nBUILD_ID={commit}\nKERNEL={}\nKEYRING={keyring}\n",
        board.name, board.kernel.release
    )
}

/// The root filesystem in two layers (see `initramfs::layered`).
struct Root {
    /// Changes with the kernel and the packages: busybox, the packages'
    /// files, kernel modules.
    base: Tree,
    /// Changes with every release: Quill's binary, its links, image/,
    /// the release file, the keyring.
    app: Tree,
}

/// Where the device's one binary is; every Quill program is a link to it.
const QUILL_BIN: &str = "usr/lib/quill/quill";

/// Where `BuildOptions::app_variant` builds.
fn variant_dir(paths: &Paths) -> PathBuf {
    paths.root.join("target/app-variant")
}

/// The device binary `compile` made.
fn quill_binary(paths: &Paths, board: &Board, app_variant: bool) -> PathBuf {
    let target = if app_variant { variant_dir(paths) } else { paths.root.join("target") };
    target.join(&board.target.rust).join("release/quill")
}

fn root_tree(paths: &Paths, board: &Board, quill: &Path, release: &str, keys: &[(String, Vec<u8>)]) -> Result<Root> {
    let mut t = Tree::new();
    for d in ["proc", "sys", "dev", "run", "tmp", "data", "mnt", "root", "usr/bin", "usr/sbin", "sbin", "usr/lib/quill"]
    {
        t.dir(d, 0o755);
    }
    let mut app = Tree::new();
    app.file(QUILL_BIN, 0o755, fs::read(quill).with_context(|| format!("reading {}", quill.display()))?);
    for at in [
        "init",
        "usr/bin/fwupdate",
        "usr/bin/quill-setup",
        "usr/bin/quill-net",
        "usr/bin/quill-admin",
        "usr/bin/quill-enroll",
        "usr/bin/quill-discovery",
        // The kernel asks for modules through /sbin/modprobe: init's loader.
        "sbin/modprobe",
        // udhcpc's script: quill-net under another name.
        "usr/lib/quill/dhcp-hook",
    ] {
        app.symlink(at, &format!("/{QUILL_BIN}"));
    }
    // The trusted keyring: public keys only, never a secret key.
    for (name, text) in keys {
        app.file(&format!("etc/quill/keys/{name}"), 0o644, text.clone());
    }

    for p in &board.packages {
        let dir = paths.package_dir(board, &p.name);
        for (from, to) in &p.files {
            package_files(&mut t, &dir.join(from), to).with_context(|| format!("{from} from package {}", p.name))?;
        }
    }
    if t.contains("bin/busybox") {
        let list = fs::read_to_string(paths.root.join("image/busybox-applets"))?;
        for applet in list.lines().filter(|l| !l.starts_with('#')).flat_map(str::split_whitespace) {
            t.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    overlay(&mut app, &paths.root.join("image"), "")?;
    // The release file changes with every release: at the app layer's end,
    // a release that changes nothing else changes only its last chunk.
    app.file("etc/quill/release", 0o644, release.as_bytes().to_vec()).put_last("etc/quill/release");
    app.file("etc/quill/modules", 0o644, (board.modules.load.join("\n") + "\n").into_bytes());

    let kdir = paths.package_dir(board, &board.kernel.package).join("lib/modules").join(&board.kernel.release);
    let km = kmods::KernelModules::open(&kdir)?;
    let names = board.modules.load.iter().chain(&board.modules.ship).map(String::as_str);
    let sel = km.select(names).map_err(|e| anyhow::anyhow!("{e} ({})", board.dir.join("board.toml").display()))?;
    let mdir = format!("lib/modules/{}", board.kernel.release);
    for f in &sel.files {
        let (name, data) = kmods::stored(&kdir, f)?;
        t.file(&format!("{mdir}/{name}"), 0o644, data);
    }
    t.file(&format!("{mdir}/modules.dep"), 0o644, sel.modules_dep.into_bytes());
    t.file(&format!("{mdir}/modules.alias"), 0o644, sel.modules_alias.into_bytes());
    Ok(Root { base: t, app })
}

/// Puts a file of a package into the tree at `to`, or a directory with
/// everything below it (regular files only; links in packages such as
/// tzdata's aliases are left out).
fn package_files(t: &mut Tree, src: &Path, to: &str) -> Result<()> {
    let meta = fs::symlink_metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if meta.is_dir() {
        t.dir(to, 0o755);
        let mut entries: Vec<_> = fs::read_dir(src)?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let ft = e.file_type()?;
            if ft.is_dir() || ft.is_file() {
                package_files(t, &e.path(), &format!("{to}/{}", e.file_name().to_string_lossy()))?;
            }
        }
    } else {
        let data = fs::read(src).with_context(|| format!("reading {}", src.display()))?;
        t.file(to, meta.permissions().mode() & 0o7777, data);
    }
    Ok(())
}

/// Copies image/<dir> (files under image/ except the top-level lists) into the tree.
fn overlay(t: &mut Tree, dir: &Path, prefix: &str) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let ft = e.file_type()?;
        if ft.is_dir() {
            t.dir(&rel, 0o755);
            overlay(t, &e.path(), &rel)?;
        } else if !prefix.is_empty() {
            let mode = e.metadata()?.permissions().mode() & 0o755;
            t.file(&rel, mode | 0o644, fs::read(e.path())?);
        }
    }
    Ok(())
}
