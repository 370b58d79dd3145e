//! `cargo xtask fetch`: host packages, rustup targets, and the board's Debian
//! packages (kernel, busybox) in a cache under target/quill/cache, through a
//! private apt configuration that leaves the host's apt sources alone.
//! A second run finds everything in place and does nothing; a filled cache
//! works offline; a cached file with the wrong SHA-256 is fetched again.

use crate::board::{Board, Package};
use crate::util::{have_command, run, sha256_file, Paths};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's archive key, used for the private sources when present.
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/quill-backports.list";
const BACKPORTS_LINE: &str = "deb http://deb.debian.org/debian bookworm-backports main\n";

/// What `fetch` would have to do; empty when everything is in place.
pub fn missing(paths: &Paths, board: &Board) -> Vec<String> {
    let mut out = Vec::new();
    for (cmd, pkg) in &board.host.commands {
        if !have_host(cmd) {
            let what = if cmd.starts_with('/') { "host file" } else { "host command" };
            out.push(format!("{what} {cmd} (package {pkg})"));
        }
    }
    if let Some(v) = qemu_major(&board.qemu.binary) {
        if v < 10 {
            out.push(format!("QEMU 10 ({} is version {v})", board.qemu.binary));
        }
    }
    for f in [&board.qemu.firmware_code, &board.qemu.firmware_vars].into_iter().flatten() {
        if !Path::new(f).is_file() {
            out.push(format!("firmware {f}"));
        }
    }
    let installed = installed_targets();
    for t in rust_targets_of(board) {
        if !installed.contains(t) {
            out.push(format!("rustup target {t}"));
        }
    }
    for p in all_packages(board) {
        let deb = deb_path(paths, board, &p);
        if !extracted_ok(&paths.package_dir(board, &p.name), &p.sha256) {
            out.push(format!("Debian package {} {}", p.name, p.version));
        } else if sha256_file(&deb).ok().as_deref() != Some(p.sha256.as_str()) {
            out.push(format!("{} (missing or its SHA-256 differs from the board file)", deb.display()));
        }
    }
    out
}

/// A command on the PATH, or a file when `what` is an absolute path
/// (headers of a library package).
fn have_host(what: &str) -> bool {
    if what.starts_with('/') {
        Path::new(what).exists()
    } else {
        have_command(what)
    }
}

/// The Rust targets the board's binaries are built for.
fn rust_targets_of(board: &Board) -> Vec<&String> {
    std::iter::once(&board.target.rust).chain(&board.target.uefi).collect()
}

fn deb_path(paths: &Paths, board: &Board, p: &Package) -> PathBuf {
    let file = format!("{}_{}_{}.deb", p.name, p.version.replace(':', "%3a"), board.debian.arch);
    paths.cache.join("debs").join(file)
}

fn all_packages(board: &Board) -> Vec<Package> {
    let mut v = vec![Package::kernel(&board.kernel)];
    v.extend(board.packages.iter().cloned());
    v
}

pub fn fetch(paths: &Paths, board: &Board) -> Result<()> {
    let todo = missing(paths, board);
    if todo.is_empty() {
        println!("fetch: everything for {} is in place (cache: {})", board.name, paths.cache.display());
        return Ok(());
    }
    for t in &todo {
        println!("fetch: missing {t}");
    }
    host_packages(board)?;
    rust_targets(board)?;
    for p in all_packages(board) {
        let deb = cached_deb(paths, board, &p)?;
        let is_kernel = p.name == board.kernel.package;
        extract(paths, board, &p, &deb, is_kernel.then_some(board.kernel.release.as_str()))?;
    }
    let left = missing(paths, board);
    if !left.is_empty() {
        bail!("fetch finished but these are still missing: {}", left.join("; "));
    }
    println!("fetch: done; cache in {}", paths.cache.display());
    Ok(())
}

fn qemu_major(binary: &str) -> Option<u32> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split("version ").nth(1)?;
    v.split('.').next()?.trim().parse().ok()
}

fn installed_targets() -> Vec<String> {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect())
        .unwrap_or_default()
}

fn host_packages(board: &Board) -> Result<()> {
    let mut plain: Vec<&str> = Vec::new();
    let mut backports: Vec<&str> = Vec::new();
    for (cmd, pkg) in &board.host.commands {
        if !have_host(cmd) {
            if board.host.backports.contains(pkg) {
                backports.push(pkg);
            } else {
                plain.push(pkg);
            }
        }
    }
    if qemu_major(&board.qemu.binary).is_some_and(|v| v < 10) {
        backports.extend(board.host.backports.iter().map(String::as_str));
    }
    if [&board.qemu.firmware_code, &board.qemu.firmware_vars].into_iter().flatten().any(|f| !Path::new(f).is_file()) {
        plain.push("ovmf");
    }
    // The build needs all of the board's host packages; install them together.
    if !plain.is_empty() || !backports.is_empty() {
        plain.extend(board.host.packages.iter().map(String::as_str));
    }
    plain.sort();
    plain.dedup();
    backports.sort();
    backports.dedup();
    if plain.is_empty() && backports.is_empty() {
        return Ok(());
    }
    let all = [plain.clone(), backports.clone()].concat().join(" ");
    if !have_command("apt-get") {
        bail!(
            "this machine has no apt-get; install these by hand and run again: {all} \
             (QEMU 10 or newer for {})",
            board.qemu.binary
        );
    }
    let root = nix_is_root();
    let sudo: &[&str] = if root { &[] } else { &["sudo"] };
    if !root && !have_command("sudo") {
        bail!("installing host packages needs root; run as root or install by hand: {all}");
    }
    if !backports.is_empty() && !Path::new(BACKPORTS_LIST).exists() {
        println!("fetch: adding bookworm-backports to the host's apt sources ({BACKPORTS_LIST}) for QEMU 10");
        let mut c = Command::new(sudo.first().copied().unwrap_or("tee"));
        if root {
            fs::write(BACKPORTS_LIST, BACKPORTS_LINE).with_context(|| format!("writing {BACKPORTS_LIST}"))?;
        } else {
            c.args(["sh", "-c", &format!("printf '{}' > {BACKPORTS_LIST}", BACKPORTS_LINE.replace('\n', "\\n"))]);
            run(&mut c)?;
        }
    }
    let apt = |args: &[&str]| {
        let mut c = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !root {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    // Packages of another architecture (musl-dev:arm64 for cross-building)
    // need that architecture in dpkg first.
    let mut foreign: Vec<&str> = plain.iter().filter_map(|p| p.split_once(':').map(|(_, a)| a)).collect();
    foreign.sort();
    foreign.dedup();
    let known = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for arch in foreign.into_iter().filter(|a| !known.lines().any(|l| l.trim() == *a)) {
        println!("fetch: dpkg --add-architecture {arch} (for cross-building)");
        let mut c = Command::new(sudo.first().copied().unwrap_or("dpkg"));
        if !root {
            c.arg("dpkg");
        }
        run(c.args(["--add-architecture", arch]))?;
    }
    println!("fetch: installing host packages: {all}");
    run(&mut apt(&["update", "-q"]))?;
    if !plain.is_empty() {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(&plain);
        run(&mut apt(&args))?;
    }
    if !backports.is_empty() {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends", "-t", "bookworm-backports"];
        args.extend(&backports);
        run(&mut apt(&args))?;
    }
    Ok(())
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn rust_targets(board: &Board) -> Result<()> {
    let installed = installed_targets();
    for t in rust_targets_of(board) {
        if installed.contains(t) {
            continue;
        }
        if !have_command("rustup") {
            bail!(
                "the Rust target {t} is missing and there is no rustup; install the target's standard library by hand"
            );
        }
        println!("fetch: rustup target add {t}");
        run(Command::new("rustup").args(["target", "add", t]))?;
    }
    Ok(())
}

/// Options that point apt at the private configuration under `dir`.
fn apt_options(dir: &Path, arch: &str) -> Vec<String> {
    let d = |p: &str| dir.join(p).display().to_string();
    vec![
        format!("-oDir::Etc::SourceList={}", d("sources.list")),
        format!("-oDir::Etc::SourceParts={}", d("sources.list.d")),
        format!("-oDir::State={}", d("state")),
        format!("-oDir::State::status={}", d("state/status")),
        format!("-oDir::Cache={}", d("cache")),
        format!("-oAPT::Architecture={arch}"),
        "-oAPT::Architectures=".to_string() + arch,
        "-oDebug::NoLocking=1".into(),
        "-oAcquire::Languages=none".into(),
        "-oAPT::Sandbox::User=root".into(),
    ]
}

fn private_apt(paths: &Paths, board: &Board) -> Result<(PathBuf, Vec<String>)> {
    let dir = paths.cache.join(format!("apt-{}", board.debian.arch));
    for sub in ["sources.list.d", "state/lists/partial", "cache/archives/partial"] {
        fs::create_dir_all(dir.join(sub)).with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    let signed = Path::new(KEYRING).exists();
    let sources: String = board
        .debian
        .sources
        .iter()
        .map(|l| match (signed, l.strip_prefix("deb ")) {
            (true, Some(rest)) => format!("deb [signed-by={KEYRING}] {rest}\n"),
            _ => format!("{l}\n"),
        })
        .collect();
    fs::write(dir.join("sources.list"), sources)?;
    let status = dir.join("state/status");
    if !status.exists() {
        fs::write(&status, "")?;
    }
    Ok((dir.clone(), apt_options(&dir, &board.debian.arch)))
}

/// Returns the path of the package's .deb in the cache, downloading it when
/// it is missing or its SHA-256 does not match the board file.
fn cached_deb(paths: &Paths, board: &Board, p: &Package) -> Result<PathBuf> {
    let file = deb_path(paths, board, p);
    let debs = file.parent().unwrap().to_path_buf();
    fs::create_dir_all(&debs)?;
    if file.is_file() {
        let got = sha256_file(&file)?;
        if got == p.sha256 {
            return Ok(file);
        }
        println!("fetch: {} has SHA-256 {got}, the board file says {}; fetching it again", file.display(), p.sha256);
        fs::remove_file(&file)?;
    }
    if !have_command("apt-get") {
        bail!(
            "{} {} is not in the cache and this machine has no apt-get; download {} by hand into {}",
            p.name,
            p.version,
            file.file_name().unwrap().to_string_lossy(),
            debs.display()
        );
    }
    let (dir, opts) = private_apt(paths, board)?;
    let marker = dir.join("state/updated");
    if !marker.exists() {
        println!("fetch: apt-get update (private sources in {})", dir.display());
        run(Command::new("apt-get").args(&opts).args(["update", "-q"]))?;
        fs::write(&marker, "")?;
    }
    let tmp = debs.join("partial");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    println!("fetch: downloading {} {}", p.name, p.version);
    let out = Command::new("apt-get")
        .args(&opts)
        .args(["download", "-q", &format!("{}={}", p.name, p.version)])
        .current_dir(&tmp)
        .output()
        .context("running apt-get download")?;
    if !out.status.success() {
        let offered = Command::new("apt-cache")
            .args(&opts)
            .args(["policy", &p.name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        bail!(
            "apt-get could not download {}={}: {}\nthe archive offers:\n{}\nupdate the version and sha256 in {}",
            p.name,
            p.version,
            String::from_utf8_lossy(&out.stderr).trim(),
            offered.trim(),
            board.dir.join("board.toml").display()
        );
    }
    let got = fs::read_dir(&tmp)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download produced no .deb")?;
    let hash = sha256_file(&got)?;
    if hash != p.sha256 {
        bail!(
            "downloaded {} but its SHA-256 is {hash}, while {} says {}; if Debian rebuilt the package, update the board file",
            got.display(),
            board.dir.join("board.toml").display(),
            p.sha256
        );
    }
    fs::rename(&got, &file)?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(file)
}

fn extracted_ok(dir: &Path, sha256: &str) -> bool {
    fs::read_to_string(dir.join(".quill-extracted")).is_ok_and(|s| s.trim() == sha256)
}

/// Unpacks the .deb into the package's cache folder (and for the kernel runs
/// depmod, whose output the package does not carry). Writes the folder under
/// a temporary name and renames it when complete.
fn extract(paths: &Paths, board: &Board, p: &Package, deb: &Path, kernel_release: Option<&str>) -> Result<()> {
    let dir = paths.package_dir(board, &p.name);
    if extracted_ok(&dir, &p.sha256) {
        return Ok(());
    }
    let tmp = dir.with_extension("partial");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    println!("fetch: unpacking {} into {}", deb.display(), dir.display());
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp))?;
    if let Some(release) = kernel_release {
        if !tmp.join("lib/modules").join(release).is_dir() {
            bail!(
                "{} has no lib/modules/{release}; the kernel release in the board file does not match the package",
                deb.display()
            );
        }
        println!("fetch: depmod {release}");
        run(Command::new("depmod").arg("-b").arg(&tmp).arg(release))?;
    }
    fs::write(tmp.join(".quill-extracted"), &p.sha256)?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir)?;
    Ok(())
}
