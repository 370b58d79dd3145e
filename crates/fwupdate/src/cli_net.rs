//! Updates over the network: `fwupdate check` asks the static repository
//! (settings `[update]`, or `--repo`) what this device's channel offers;
//! `fwupdate install --channel` and `fwupdate install URL` download the
//! bundle once, resuming a broken connection (the `fetch` crate), and
//! install it with the file install's guarantees (updater).
//!
//! A channel index is believed only with a trusted signature, for this
//! board and channel, with a sequence not below one seen before (kept in
//! `channels.json` beside the updater's state); its manifest only with the
//! index's SHA-256 and the bundle's own signature.

use crate::cli_device::Source;
use crate::device::{Device, DeviceArgs};
use crate::Failure;
use channel::{Index, Seen};
use std::collections::BTreeMap;
use std::path::Path;

/// The most a manifest (a bundle's head) may be.
const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Where the device keeps the sequences it has seen, per channel URL.
const SEEN_FILE: &str = "channels.json";

/// What the channel offers this device.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Offer {
    Available {
        version: String,
        sequence: u64,
        bundle: String,
        bundle_size: u64,
    },
    UpToDate {
        version: String,
        sequence: u64,
    },
    Paused {
        version: String,
        sequence: u64,
    },
    /// Installed already into the slot that boots next; it starts at the
    /// next restart.
    Installed {
        version: String,
        sequence: u64,
    },
    /// The roll-out has not reached this device's seed yet.
    NotYet {
        version: String,
        sequence: u64,
        seed: u32,
        max_seed: u32,
    },
}

impl Offer {
    fn describe(&self, running: &str) -> String {
        match self {
            Offer::Available { version, sequence, bundle_size, .. } => format!(
                "update {version} available (channel sequence {sequence}, {:.1} MiB); install it with `fwupdate install --channel`",
                *bundle_size as f64 / 1048576.0
            ),
            Offer::UpToDate { version, .. } => format!("up to date: the channel offers {version}, {running} runs"),
            Offer::Paused { version, .. } => format!("the channel's roll-out of {version} is paused; nothing to do"),
            Offer::Installed { version, .. } => {
                format!("{version} is installed already and starts at the next restart; nothing to do")
            }
            Offer::NotYet { version, seed, max_seed, .. } => format!(
                "{version} is rolling out to seeds below {max_seed}; this device's seed is {seed}: not yet"
            ),
        }
    }
}

/// The unit ID ("unknown" without a network interface) and its roll-out seed.
fn identity(args: &DeviceArgs) -> (String, u32) {
    let unit = bootid::unit_id(&args.root.join("sys/class/net")).unwrap_or_else(|| "unknown".into());
    let seed = channel::seed(&unit);
    (unit, seed)
}

/// The device's identity in requests, and the client.
fn client(args: &DeviceArgs, dev: &Device, proxy: &str) -> Result<fetch::Client, Failure> {
    let (unit, seed) = identity(args);
    let opts = fetch::Options {
        proxy: proxy.to_string(),
        seed,
        unit_id: unit,
        version: dev.running_version.clone(),
        board: dev.board.clone(),
        extra_roots: update_cas(&args.data.join(CA_DIR))?,
        ..fetch::Options::default()
    };
    fetch::Client::new(opts).map_err(Failure::error)
}

/// The folder in DATA whose `*.pem` files are CA certificates trusted for
/// HTTPS repositories besides the public roots (a fleet's internal CA).
pub const CA_DIR: &str = "ca-certificates";

/// The `*.pem` files of `dir` (none when it does not exist). A file that
/// cannot be read is an error: the trust the admin asked for is not
/// dropped in silence.
fn update_cas(dir: &std::path::Path) -> Result<Vec<(String, String)>, Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Failure::error(format!("{}: {e}", dir.display()))),
    };
    let mut files: Vec<_> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pem")).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| Failure::error(format!("{}: {e}", p.display())))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

fn settings(args: &DeviceArgs) -> devconfig::Settings {
    devconfig::peek(&args.data).unwrap_or_default()
}

/// The update repository: the settings' `[update] repository` (an
/// administrator's explicit choice), else DHCP option 43 sub-option 3.
fn repository(args: &DeviceArgs, s: &devconfig::Settings) -> Option<(String, &'static str)> {
    if !s.update.repository.is_empty() {
        return Some((s.update.repository.clone(), "the settings"));
    }
    net::status::leases(&args.root.join(net::status::RUN_DIR.trim_start_matches('/')))
        .into_iter()
        .find_map(|l| l.vendor.and_then(|v| v.channel_url))
        .map(|u| (u, "DHCP option 43"))
}

/// The repository root as a folder URL.
fn root_url(repo: &str) -> String {
    if repo.ends_with('/') {
        repo.to_string()
    } else {
        format!("{repo}/")
    }
}

fn load_seen(data: &Path) -> BTreeMap<String, Seen> {
    std::fs::read(data.join(SEEN_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Asks the channel. Returns the offer and, when an update is available,
/// the bundle's source.
pub fn check(
    args: &DeviceArgs,
    repo: Option<String>,
    channel_name: Option<String>,
) -> Result<(Offer, Option<Source>), Failure> {
    let (mut up, dev) = crate::cli_device::open(args)?;
    let (keyring, floor) = up.trusted()?;
    let s = settings(args);
    let repo = repo.or_else(|| repository(args, &s).map(|(r, _)| r)).unwrap_or_default();
    if repo.is_empty() {
        return Err(Failure::error(
            "no update repository is set: set [update] repository in the settings (or DHCP option 43), or pass --repo URL",
        ));
    }
    let channel_name = channel_name.unwrap_or(s.update.channel.clone());
    fetch::check_url(&repo).map_err(Failure::refused)?;
    let client = client(args, &dev, &s.network.proxy)?;
    let root = root_url(&repo);
    let index_url = format!("{root}channels/{}/{channel_name}.json", dev.board);
    let bytes = client.get(&index_url, channel::MAX_INDEX_BYTES).map_err(Failure::error)?;
    let mut seen = load_seen(&args.data);
    let accepted = channel::verify(&bytes, &keyring, &dev.board, &channel_name, seen.get(&index_url))
        .map_err(|e| Failure::refused(format!("{index_url}: {e}")))?;
    if seen.get(&index_url) != Some(&accepted.seen) {
        seen.insert(index_url.clone(), accepted.seen.clone());
        let text = serde_json::to_vec_pretty(&seen).map_err(Failure::error)?;
        updater::state::write_atomic(&args.data.join(SEEN_FILE), &text)
            .map_err(|e| Failure::error(format!("remembering the channel's sequence: {e}")))?;
    }
    let index: Index = accepted.index;
    let (version, sequence) = (index.version.clone(), index.sequence);
    if updater::version::compare(&index.version, &dev.running_version).is_le() {
        return Ok((Offer::UpToDate { version, sequence }, None));
    }
    if index.paused {
        return Ok((Offer::Paused { version, sequence }, None));
    }
    // Installed already (by the screen, the console or this service) and
    // waiting for a restart: nothing to fetch or offer again.
    if let Ok(st) = up.status() {
        let next = st.slots.iter().find(|s| s.slot == st.next_boot);
        if st.next_boot != st.booted && next.and_then(|s| s.version.as_deref()) == Some(index.version.as_str()) {
            return Ok((Offer::Installed { version, sequence }, None));
        }
    }
    let (_, seed) = identity(args);
    if !index.offers_to(seed) {
        return Ok((Offer::NotYet { version, sequence, seed, max_seed: index.max_seed }, None));
    }
    // The manifest: the index's hash, then the bundle's own signature,
    // board and rollback index, before a byte of payload is fetched.
    let manifest_url = fetch::join(&root, &index.manifest);
    let manifest = client.get(&manifest_url, MAX_MANIFEST_BYTES).map_err(Failure::error)?;
    index.check_manifest(&manifest).map_err(|e| Failure::refused(format!("{manifest_url}: {e}")))?;
    let policy = bundle::Policy { board: Some(dev.board.clone()), rollback_floor: floor, slot_size: None };
    let reader = bundle::Reader::open(&manifest_url, &manifest[..], &keyring, &policy)?;
    if reader.manifest().version != index.version {
        return Err(Failure::refused(format!(
            "{manifest_url}: the manifest is for {}, the index says {}",
            reader.manifest().version,
            index.version
        )));
    }
    let bundle_url = fetch::join(&root, &index.bundle);
    let offer = Offer::Available { version, sequence, bundle: bundle_url.clone(), bundle_size: index.bundle_size };
    Ok((offer, Some(Source::Url { client: Box::new(client), url: bundle_url, head: Some(manifest) })))
}

/// `fwupdate check`.
pub fn run_check(
    args: &DeviceArgs,
    repo: Option<String>,
    channel_name: Option<String>,
    json: bool,
) -> Result<(), Failure> {
    let (offer, _) = check(args, repo, channel_name)?;
    if json {
        println!("{}", serde_json::to_string(&offer).map_err(Failure::error)?);
    } else {
        let running = args.resolve().map(|d| d.running_version).unwrap_or_default();
        println!("fwupdate: {}", offer.describe(&running));
    }
    Ok(())
}

/// `fwupdate install --channel`: the offered bundle, or None (said why).
pub fn channel_source(args: &DeviceArgs, repo: Option<String>) -> Result<Option<Source>, Failure> {
    let (offer, source) = check(args, repo, None)?;
    if source.is_none() {
        let running = args.resolve().map(|d| d.running_version).unwrap_or_default();
        println!("fwupdate: {}", offer.describe(&running));
    }
    Ok(source)
}

/// `fwupdate install URL`.
pub fn url_source(args: &DeviceArgs, url: &str) -> Result<Source, Failure> {
    fetch::check_url(url).map_err(Failure::refused)?;
    let dev = args.resolve()?;
    let s = settings(args);
    Ok(Source::Url { client: Box::new(client(args, &dev, &s.network.proxy)?), url: url.to_string(), head: None })
}

/// A random number below `n` (the standard library's per-process random
/// hash keys: enough for jitter, no dependency).
fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish() % n.max(1)
}

/// One console line in one write, so a kernel message cannot split it.
fn say(line: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(format!("quill: {line}\n").as_bytes());
}

enum AutoInstall {
    /// Outside the maintenance window: look again in this many seconds.
    Wait(u64),
    Done,
    Failed,
}

/// Minutes after local midnight now.
fn local_minute() -> u32 {
    // SAFETY: time(NULL) and localtime_r into a zeroed struct tm it fills.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        (tm.tm_hour * 60 + tm.tm_min) as u32
    }
}

/// `[update] auto_install`: installs `version` now when inside the
/// maintenance window (or when none is set), with the same checks as
/// `fwupdate install --channel --yes`. It starts at the next reboot: the
/// device is never restarted under its user.
fn auto_install(args: &DeviceArgs, s: &devconfig::Settings, version: &str, source: &Source) -> AutoInstall {
    let window = match devconfig::Window::parse(&s.update.window) {
        Ok(w) => w,
        Err(e) => {
            say(&format!("no automatic install: {e}"));
            return AutoInstall::Failed;
        }
    };
    if let Some(w) = window {
        let wait = w.until_open(local_minute());
        if wait > 0 {
            say(&format!(
                "update {version} will install by itself in the maintenance window {} (in {wait} min)",
                s.update.window
            ));
            return AutoInstall::Wait(u64::from(wait) * 60);
        }
    }
    say(&format!("installing update {version} by itself (settings [update] auto_install)"));
    match crate::cli_device::install_from(args, source, true, false, crate::report::Format::Human) {
        Ok(_) => {
            say(&format!("update {version} installed by itself; it starts at the next restart"));
            AutoInstall::Done
        }
        Err(f) => {
            say(&format!("automatic install of {version} failed: {}", f.message));
            AutoInstall::Failed
        }
    }
}

/// Where the home screen finds the network's offer.
const OFFER_FILE: &str = "run/quill/net-offer.json";

/// `fwupdate watch` (an init service): asks the channel at boot (after up
/// to `jitter_secs`) and every `check_hours` (±10 %), while a repository is
/// set; says on the console when an update becomes available and keeps the
/// offer in /run/quill/net-offer.json. A failed check is tried again after
/// 15 s, then after growing pauses up to 30 min.
pub fn watch(args: &DeviceArgs, once: bool) -> Result<(), Failure> {
    let mut announced: Option<(String, u64)> = None;
    let mut announced_repo: Option<String> = None;
    let mut failures = 0u32;
    let mut first = true;
    loop {
        let s = settings(args);
        let Some((repo, from)) = repository(args, &s) else {
            if once {
                return Err(Failure::error(
                    "no update repository is set (settings [update] repository, or DHCP option 43)",
                ));
            }
            std::thread::sleep(std::time::Duration::from_secs(60));
            continue;
        };
        if announced_repo.as_deref() != Some(repo.as_str()) {
            say(&format!("update repository {repo} (from {from})"));
            announced_repo = Some(repo.clone());
        }
        if first && !once {
            first = false;
            std::thread::sleep(std::time::Duration::from_secs(random_below(u64::from(s.update.jitter_secs) + 1)));
        }
        let pause = match check(args, None, None) {
            Ok((offer, source)) => {
                failures = 0;
                if let Ok(json) = serde_json::to_vec(&offer) {
                    let path = args.root.join(OFFER_FILE);
                    let _ = path.parent().map(std::fs::create_dir_all);
                    let _ = updater::state::write_atomic(&path, &json);
                }
                if let Offer::Available { version, sequence, .. } = &offer {
                    if announced.as_ref() != Some(&(version.clone(), *sequence)) {
                        say(&format!(
                            "Update {version} available from the network (channel {}); to install it, type: fwupdate install --channel",
                            s.update.channel
                        ));
                        announced = Some((version.clone(), *sequence));
                    }
                }
                let hours = u64::from(s.update.check_hours.max(1)) * 3600;
                let pause = hours - hours / 10 + random_below(hours / 5 + 1);
                match (&offer, source) {
                    // Once installed, the check says so (Offer::Installed).
                    (Offer::Available { version, .. }, Some(src)) if s.update.auto_install => {
                        match auto_install(args, &s, version, &src) {
                            AutoInstall::Wait(secs) => pause.min(secs),
                            AutoInstall::Done => pause,
                            AutoInstall::Failed => pause.min(1800),
                        }
                    }
                    _ => pause,
                }
            }
            Err(f) => {
                failures += 1;
                let secs = (15u64 << (failures - 1).min(7)).min(1800);
                say(&format!("update check failed: {}; next try in {secs} s", f.message));
                secs
            }
        };
        if once {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(pause));
    }
}
