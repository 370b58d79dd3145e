//! The realistic install figures of `cargo xtask bench`: one 256 MiB slot
//! payload built from Debian packages by ../shared/bench/peers (62 % real
//! binaries, libraries and data, 28 MiB incompressible, the rest zeros),
//! installed by fwupdate, RAUC (gzip and zstd bundles) and SWUpdate, next to
//! `dd` and the floor of a verified install (O_DIRECT write, then O_DIRECT
//! read-back), all in one run: rounds in rotated order, caches dropped and
//! the VM's memory settled before every run, medians and same-round ratios.
//! The peers write into the harness's direct-I/O loop device; fwupdate into
//! slot B of a GPT disk on a loop device made the same way.
//!
//! Also here: `fwupdate bundle create` of that payload (time against the
//! creator before it streamed, built from the checkout's history and run in
//! the same rounds; peak memory; size against RAUC's bundles).

use crate::bench::{drop_caches, median, Figure};
use crate::util::run;
use anyhow::{bail, Context, Result};
use imagebuild::MIB;
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Budgets of the performance issue.
const MAX_INSTALL_VS_RAUC_ZSTD: f64 = 0.5;
const MAX_INSTALL_VS_FLOOR: f64 = 1.3;
const MAX_INSTALL_PEAK_MIB: f64 = 32.0;
const MAX_SIZE_VS_RAUC_GZIP: f64 = 0.85;
/// `bundle create` at least twice as fast as the creator the issue measured
/// (whole image in memory, level 19, 1 MiB chunks), timed in the same run.
const MAX_CREATE_VS_BEFORE: f64 = 0.5;
/// The last commit before `bundle create` streamed: the same-run reference.
const CREATE_BEFORE_COMMIT: &str = "f375520";
const MAX_CREATE_PEAK_MIB: f64 = 64.0;

/// One timed run: wall seconds, CPU seconds, peak resident memory in MiB.
#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
}

struct Measure {
    name: &'static str,
    cmd: String,
    /// Untimed, before each run.
    prep: String,
    /// The device written (synced in the timed window), and where the
    /// payload must land on it (checked after the first run).
    target: Option<(String, u64)>,
}

/// A process this bench started, stopped by its PID when dropped.
struct Started(Child);
impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loop device this bench attached, detached when dropped.
struct Loop(String);
impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

pub fn bench(root: &Path, fwupdate: &Path, rounds: usize) -> Result<Vec<Figure>> {
    let peers = root.join("../shared/bench/peers");
    if !peers.join("run.sh").exists() {
        bail!("{} is missing: the realistic install bench needs ../shared beside the checkout", peers.display());
    }
    let uid = String::from_utf8(Command::new("id").arg("-u").output()?.stdout)?;
    if uid.trim() != "0" {
        bail!("the install bench writes loop devices and drops caches: run `cargo xtask bench` as root");
    }
    println!("bench: preparing RAUC, SWUpdate and the realistic payload ({}/setup.sh)", peers.display());
    run(Command::new("bash").arg(peers.join("setup.sh")).stdout(Stdio::null()))?;
    let pb = std::env::var_os("PB").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/peerbench")
    });
    let payload = pb.join("payload/slot.img");
    let payload_len = std::fs::metadata(&payload)?.len();
    let targets = std::fs::read_to_string(pb.join("targets/targets.env"))?;
    let target = targets
        .lines()
        .find_map(|l| l.strip_prefix("TARGET1="))
        .map(|v| v.trim_matches('"').to_string())
        .context("targets.env names no TARGET1")?;
    let work = pb.join("quill");
    std::fs::create_dir_all(&work)?;
    let key = crate::keys::dev_key()?;
    let keys = key.parent().unwrap().to_path_buf();

    // Bundle creation: time, memory, size; each round also runs the creator
    // as it was before it streamed, in alternating order.
    let before = creator_before(root)?;
    let bundle = work.join("payload.qbundle");
    let before_bundle = work.join("payload-before.qbundle");
    let (mut create, mut create_before) = (Vec::new(), Vec::new());
    for i in 0..rounds.min(3) {
        for ours in if i % 2 == 0 { [true, false] } else { [false, true] } {
            let (bin, out) = if ours { (fwupdate, &bundle) } else { (before.as_path(), &before_bundle) };
            drop_caches();
            let s = timed(
                &format!(
                    "{} bundle create --board x86-ud --version 9.0.0 --slot-image {} --key {} -o {}",
                    q(bin),
                    q(&payload),
                    q(&key),
                    q(out)
                ),
                &[],
            )?;
            let who = if ours { "bundle create" } else { "bundle create before streaming" };
            println!("bench: {who} {}: {:.2} s, peak {:.1} MiB", i + 1, s.wall, s.rss_mib);
            if ours { &mut create } else { &mut create_before }.push(s);
        }
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64).unwrap_or(f64::NAN);
    let ours_size = size(&bundle);
    let rauc_gzip = size(&pb.join("rauc/bundles/ud-test-plain.raucb"));
    let rauc_zstd = size(&pb.join("rauc/bundles/ud-test-plain-zstd.raucb"));
    let swu = size(&pb.join("swupdate/ud-test.swu"));

    // fwupdate's target: slot B of a GPT disk on a direct-I/O loop device.
    let (disk_loop, b_offset) = quill_disk(&work, payload_len)?;
    let data = work.join("data");

    // RAUC 1.8 installs through its service on D-Bus: a private bus.
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting dbus-daemon")?;
    let mut address = String::new();
    std::io::BufReader::new(bus.stdout.take().unwrap()).read_line(&mut address)?;
    let _bus = Started(bus);
    let env = [("DBUS_SESSION_BUS_ADDRESS", address.trim().to_string()), ("DBUS_STARTER_BUS_TYPE", "session".into())];
    let conf = pb.join("rauc/system.conf");
    let service = Started(
        Command::new("rauc")
            .arg(format!("--conf={}", conf.display()))
            .args(["service", "--override-boot-slot=A"])
            .envs(env.clone())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting rauc service")?,
    );
    let up = Instant::now();
    while !Command::new("rauc").arg("status").envs(env.clone()).output()?.status.success() {
        if up.elapsed() > Duration::from_secs(20) {
            bail!("rauc service did not come up on the private bus");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let rauc_pid = service.0.id();

    let zero = |dev: &str, off: u64| {
        format!(
            "dd if=/dev/zero of={dev} bs=4M count={} oflag=direct,seek_bytes seek={off} conv=fsync,notrunc status=none",
            payload_len / (4 * MIB)
        )
    };
    let (p, t) = (q(&payload), target.clone());
    let dd_direct = format!("dd if={p} of={t} bs=4M iflag=direct oflag=direct conv=fsync status=none");
    let measures = vec![
        Measure {
            name: "dd_fsync",
            cmd: format!("dd if={p} of={t} bs=4M conv=fsync status=none"),
            prep: zero(&t, 0),
            target: Some((t.clone(), 0)),
        },
        Measure { name: "dd_direct", cmd: dd_direct.clone(), prep: zero(&t, 0), target: Some((t.clone(), 0)) },
        Measure {
            name: "verified_floor",
            cmd: format!(
                "{dd_direct} && dd if={t} of=/dev/null bs=4M iflag=direct count={} status=none",
                payload_len / (4 * MIB)
            ),
            prep: zero(&t, 0),
            target: Some((t.clone(), 0)),
        },
        Measure {
            name: "rauc_gzip",
            cmd: format!("rauc install {}", q(pb.join("rauc/bundles/ud-test-plain.raucb"))),
            prep: zero(&t, 0),
            target: Some((t.clone(), 0)),
        },
        Measure {
            name: "rauc_zstd",
            cmd: format!("rauc install {}", q(pb.join("rauc/bundles/ud-test-plain-zstd.raucb"))),
            prep: zero(&t, 0),
            target: Some((t.clone(), 0)),
        },
        Measure {
            name: "swupdate",
            cmd: format!(
                "TMPDIR={} swupdate -l 3 -H ud-test:1.0 -e stable,copy2 --ca-path {ca} -k {ca} -i {}",
                q(pb.join("swupdate/tmp")),
                q(pb.join("swupdate/ud-test.swu")),
                ca = q(pb.join("keys/ca.cert.pem"))
            ),
            prep: zero(&t, 0),
            target: Some((t.clone(), 0)),
        },
        Measure {
            name: "fwupdate",
            cmd: format!(
                "{} --disk {} --booted a --board x86-ud --running-version 0 --data {} --keyring {} install --yes {}",
                q(fwupdate),
                disk_loop.0,
                q(&data),
                q(&keys),
                q(&bundle)
            ),
            prep: format!("{} && rm -rf {}", zero(&disk_loop.0, b_offset), q(&data)),
            target: Some((disk_loop.0.clone(), b_offset)),
        },
    ];

    let mut samples: BTreeMap<&str, Vec<Option<Sample>>> = BTreeMap::new();
    println!("bench: {rounds} rounds of {} installs of the realistic payload", measures.len());
    for r in 0..rounds {
        for k in 0..measures.len() {
            let m = &measures[(k + r) % measures.len()];
            run(Command::new("bash").args(["-c", &m.prep]))?;
            drop_caches();
            let is_rauc = m.name.starts_with("rauc");
            let before = if is_rauc { rauc_cpu(rauc_pid) } else { 0.0 };
            if is_rauc {
                std::fs::write(format!("/proc/{rauc_pid}/clear_refs"), "5")?;
            }
            let cmd = match &m.target {
                Some((dev, _)) => format!("{} && sync {dev}", m.cmd),
                None => m.cmd.clone(),
            };
            let mut s = timed(&cmd, &env)?;
            if is_rauc {
                s.cpu += rauc_cpu(rauc_pid) - before;
                s.rss_mib = s.rss_mib.max(rauc_hwm_mib(rauc_pid));
            }
            if let (0, Some((dev, off))) = (r, &m.target) {
                if !same_bytes(&payload, Path::new(dev), *off, payload_len)? {
                    bail!("{} did not leave the payload in {dev}", m.name);
                }
            }
            println!("  round {} {:<15} {:>7.3} s", r + 1, m.name, s.wall);
            samples.entry(m.name).or_default().resize(r, None);
            samples.get_mut(m.name).unwrap().push(Some(s));
        }
    }
    drop(service);

    let mib = payload_len as f64 / MIB as f64;
    println!("bench: installs of the {mib:.0} MiB realistic payload, medians of {rounds} (min..max, spread)");
    for m in &measures {
        let v: Vec<Sample> = samples[m.name].iter().flatten().copied().collect();
        let w: Vec<f64> = v.iter().map(|s| s.wall).collect();
        let (lo, hi) = range(&w);
        let med = median(&w);
        println!(
            "  {:<15} {med:>6.3} s {:>7.0} MiB/s  ({lo:.3}..{hi:.3}, spread {:.0} %, cpu {:.2} s, peak {:.0} MiB)",
            m.name,
            mib / med,
            100.0 * (hi - lo) / med,
            median(&v.iter().map(|s| s.cpu).collect::<Vec<_>>()),
            v.iter().map(|s| s.rss_mib).fold(0.0, f64::max)
        );
    }
    let ratio = |a: &str, b: &str| -> (f64, f64, f64) {
        let x: Vec<f64> =
            samples[a].iter().zip(&samples[b]).filter_map(|(a, b)| Some(a.as_ref()?.wall / b.as_ref()?.wall)).collect();
        let (lo, hi) = range(&x);
        (median(&x), lo, hi)
    };
    println!("bench: same-round ratios, median (min..max)");
    for b in ["verified_floor", "dd_direct", "dd_fsync", "rauc_gzip", "rauc_zstd", "swupdate"] {
        let (m, lo, hi) = ratio("fwupdate", b);
        println!("  fwupdate/{b:<15} {m:>5.2}x  ({lo:.2}..{hi:.2})");
    }
    println!("bench: bundles of the payload");
    for (n, s) in
        [("fwupdate (qbundle)", ours_size), ("RAUC gzip", rauc_gzip), ("RAUC zstd", rauc_zstd), ("SWUpdate", swu)]
    {
        println!("  {n:<20} {:>7.1} MiB", s / MIB as f64);
    }
    let before_size = size(&before_bundle);
    println!("  {:<20} {:>7.1} MiB", format!("before ({CREATE_BEFORE_COMMIT})"), before_size / MIB as f64);
    let per_round: Vec<f64> = create.iter().zip(&create_before).map(|(a, b)| a.wall / b.wall).collect();
    let (create_ratio, (lo, hi)) = (median(&per_round), range(&per_round));
    let size_vs_before = ours_size / before_size;
    let med = |v: &[Sample], f: fn(&Sample) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    println!(
        "bench: bundle create {:.2} s against {:.2} s before it streamed (medians): {create_ratio:.2}x ({lo:.2}..{hi:.2}), \
         {:.1} against {:.1} CPU s, bundle {size_vs_before:.3}x the size",
        med(&create, |s| s.wall),
        med(&create_before, |s| s.wall),
        med(&create, |s| s.cpu),
        med(&create_before, |s| s.cpu),
    );
    let peak = samples["fwupdate"].iter().flatten().map(|s| s.rss_mib).fold(0.0, f64::max);
    Ok(vec![
        Figure::at_most(
            "install, real payload: fwupdate / RAUC zstd",
            ratio("fwupdate", "rauc_zstd").0,
            "x",
            MAX_INSTALL_VS_RAUC_ZSTD,
        ),
        Figure::at_most(
            "install, real payload: fwupdate / verified floor",
            ratio("fwupdate", "verified_floor").0,
            "x",
            MAX_INSTALL_VS_FLOOR,
        ),
        Figure::at_most("install, real payload: peak memory", peak, "MiB", MAX_INSTALL_PEAK_MIB),
        Figure::at_most(
            "bundle size / RAUC's default (gzip) bundle",
            ours_size / rauc_gzip,
            "x",
            MAX_SIZE_VS_RAUC_GZIP,
        ),
        Figure::at_most(
            format!("bundle create / before it streamed ({CREATE_BEFORE_COMMIT}), same run"),
            create_ratio,
            "x",
            MAX_CREATE_VS_BEFORE,
        ),
        Figure::at_most(format!("bundle size / before it streamed ({CREATE_BEFORE_COMMIT})"), size_vs_before, "x", 1.0),
        Figure::at_most(
            "bundle create peak memory",
            create.iter().map(|s| s.rss_mib).fold(0.0, f64::max),
            "MiB",
            MAX_CREATE_PEAK_MIB,
        ),
    ])
}

/// A 2 x (payload + 1 MiB) GPT disk with SYSTEM_A (booted, good) and
/// SYSTEM_B, fully allocated, on a loop device with direct I/O like the
/// harness's targets. Returns the device and slot B's offset.
fn quill_disk(work: &Path, payload_len: u64) -> Result<(Loop, u64)> {
    use imagebuild::disk::{self, Content, PartSpec};
    let slot = payload_len + MIB;
    let path = work.join("disk.img");
    let part = |name: &str, attributes| PartSpec {
        name: name.into(),
        type_guid: disk::SLOT_TYPE,
        size: slot,
        attributes,
        content: Content::Bytes(vec![]),
    };
    let placed = disk::write(
        &path,
        uuid::Uuid::new_v4(),
        &[part("SYSTEM_A", abslot::SlotAttr::new(1, 0, true).to_gpt(0)), part("SYSTEM_B", 0)],
    )?;
    let len = std::fs::metadata(&path)?.len();
    run(Command::new("fallocate").arg("-l").arg(len.to_string()).arg(&path))?;
    let out = Command::new("losetup").args(["-f", "--show", "--direct-io=on"]).arg(&path).output()?;
    if !out.status.success() {
        bail!("losetup: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((Loop(String::from_utf8(out.stdout)?.trim().to_string()), placed[1].offset))
}

fn q(p: impl AsRef<std::ffi::OsStr>) -> String {
    let s = p.as_ref().to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The smallest and largest of `v`.
fn range(v: &[f64]) -> (f64, f64) {
    (v.iter().copied().fold(f64::MAX, f64::min), v.iter().copied().fold(0.0, f64::max))
}

/// `fwupdate` as it was at [`CREATE_BEFORE_COMMIT`], built once from the
/// checkout's own history into target/quill/bench-ref/COMMIT (kept for
/// later runs), so that `bundle create` is timed against its predecessor on
/// the same machine in the same run rather than against a figure from
/// another day.
fn creator_before(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/quill/bench-ref").join(CREATE_BEFORE_COMMIT);
    let bin = dir.join("target/release/fwupdate");
    if bin.exists() {
        return Ok(bin);
    }
    let src = dir.join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src)?;
    println!(
        "bench: building fwupdate as of {CREATE_BEFORE_COMMIT} (bundle create before it streamed) in {} \
         (once; about two minutes)",
        dir.display()
    );
    let archive = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; git -C {} archive {CREATE_BEFORE_COMMIT} | tar -x -C {}", q(root), q(&src)))
        .status()
        .context("starting git")?;
    if !archive.success() {
        bail!(
            "commit {CREATE_BEFORE_COMMIT} is not in {}'s history (a shallow clone?): \
             `git fetch --unshallow` and run the bench again",
            root.display()
        );
    }
    run(Command::new("cargo")
        .args(["build", "--release", "--locked", "-p", "fwupdate", "--manifest-path"])
        .arg(src.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dir.join("target")))?;
    Ok(bin)
}

/// Runs `bash -c CMD` under /usr/bin/time: wall time around it, CPU and
/// peak memory of the command and its children.
fn timed(cmd: &str, env: &[(&str, String)]) -> Result<Sample> {
    let out = std::env::temp_dir().join(format!("quill-bench-time-{}", std::process::id()));
    let t = Instant::now();
    let r = Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M", "-o"])
        .arg(&out)
        .args(["bash", "-c", cmd])
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("starting /usr/bin/time")?;
    let wall = t.elapsed().as_secs_f64();
    if !r.status.success() {
        bail!("`{cmd}` failed: {}", String::from_utf8_lossy(&r.stderr));
    }
    let text = std::fs::read_to_string(&out)?;
    let f: Vec<f64> = text.lines().last().unwrap_or("").split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let [u, s, kib] = f[..] else { bail!("/usr/bin/time wrote {text:?}") };
    Ok(Sample { wall, cpu: u + s, rss_mib: kib / 1024.0 })
}

/// CPU seconds of a process so far (utime + stime from /proc).
fn rauc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name.
    f.get(11).zip(f.get(12)).map(|(u, s)| (u + s) / 100.0).unwrap_or(0.0)
}

fn rauc_hwm_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|k| k / 1024.0)
        .unwrap_or(0.0)
}

/// Whether `len` bytes of `dev` at `offset` equal the payload.
fn same_bytes(payload: &Path, dev: &Path, offset: u64, len: u64) -> Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut a = std::fs::File::open(payload)?;
    let mut b = std::fs::File::open(dev)?;
    b.seek(SeekFrom::Start(offset))?;
    let (mut x, mut y) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    let mut done = 0;
    while done < len {
        let n = (len - done).min(MIB) as usize;
        a.read_exact(&mut x[..n])?;
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
        done += n as u64;
    }
    Ok(true)
}
