//! Updates from a static repository over HTTP, as a user runs them on a
//! host against a disk image: `fwupdate repo` makes the repository, a
//! loopback server (testkit's, with faults) serves it, `fwupdate check`
//! and `fwupdate install --channel` use it.

use bundle::SecretKey;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testkit::http::{Faults, Server};

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A device on a disk image (slot A 1.0.0 proven), its keyring and DATA,
/// and a repository with 2.0.0 published on x86-ud/stable.
struct Setup {
    t: tempfile::TempDir,
    key: PathBuf,
    repo: PathBuf,
    bundle_bytes: Vec<u8>,
}

impl Setup {
    fn new() -> Setup {
        let key = SecretKey::from_seed(&[5; 32]);
        let bundle = testkit::fixtures::bundle("2.0.0", "x86-ud", 1, &key, vec![], 2);
        Setup::with(testkit::fixtures::disk().0, bundle)
    }

    /// Slot A holds `running`; the repository offers `new` as 2.0.0.
    fn with(disk: Vec<u8>, bundle_bytes: Vec<u8>) -> Setup {
        let t = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed(&[5; 32]);
        key.write_pair(&t.path().join("keys"), "k").unwrap();
        std::fs::create_dir_all(t.path().join("data")).unwrap();
        std::fs::write(t.path().join("disk.img"), disk).unwrap();
        let file = t.path().join("new.qbundle");
        std::fs::write(&file, &bundle_bytes).unwrap();
        let repo = t.path().join("repo");
        let s = Setup { key: t.path().join("keys/k.key"), repo, bundle_bytes, t };
        s.ok(&["repo", "add", p(&s.repo), p(&file)]);
        s.publish(&["--version", "2.0.0"]);
        s
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fwupdate")).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "fwupdate {args:?}: {}", text(&o));
        text(&o)
    }

    fn publish(&self, extra: &[&str]) -> String {
        let mut a = vec!["repo", "publish", p(&self.repo), "--board", "x86-ud", "--key", p(&self.key)];
        a.extend(extra);
        self.ok(&a)
    }

    /// fwupdate as the device would run it, on the disk image.
    fn device(&self, verb: &[&str]) -> Output {
        let d = self.t.path();
        let (disk, data, keys) = (d.join("disk.img"), d.join("data"), d.join("keys"));
        let mut a = vec![
            "--disk",
            p(&disk),
            "--booted",
            "a",
            "--data",
            p(&data),
            "--keyring",
            p(&keys),
            "--board",
            "x86-ud",
            "--running-version",
            "1.0.0",
        ];
        a.extend(verb);
        self.run(&a)
    }

    fn status(&self) -> String {
        text(&self.device(&["status"]))
    }
}

#[test]
fn check_then_install_from_the_channel_with_a_connection_cut_halfway() {
    let s = Setup::new();
    let size = s.bundle_bytes.len() as u64;
    let srv = Server::start(&s.repo, Faults { cut_once_at: Some(size / 2), ..Faults::default() }).unwrap();
    let o = s.device(&["check", "--repo", &srv.url]);
    assert!(o.status.success() && text(&o).contains("update 2.0.0 available"), "{}", text(&o));
    let o = s.device(&["check", "--repo", &srv.url, "--json"]);
    assert!(text(&o).contains("\"status\":\"available\""), "{}", text(&o));

    let o = s.device(&["install", "--channel", "--repo", &srv.url, "--yes"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("installed 2.0.0 into slot B"), "{out}");
    let bundle = "/bundles/quill-x86-ud-2.0.0.qbundle";
    let log: Vec<_> = srv.log().into_iter().filter(|l| l.path == bundle).collect();
    // Only the frames the device lacks were asked for; the cut request was
    // resumed where it broke, and no byte came twice.
    assert!(log.iter().any(|l| l.range_start == Some(size / 2)), "resumed where the connection broke: {log:?}");
    let mut spans: Vec<(u64, u64)> = log.iter().map(|l| (l.range_start.unwrap(), l.body_bytes)).collect();
    spans.sort();
    assert!(spans.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0), "a byte came twice: {spans:?}");
    assert!(srv.bytes_sent(bundle) < size, "empty chunks are not fetched");
    assert!(log[0].headers.iter().any(|(k, v)| k == "x-quill-version" && v == "1.0.0"), "{:?}", log[0].headers);
    let st = s.status();
    assert!(st.contains("next boot: B") && st.contains("2.0.0"), "{st}");
}

#[test]
fn paused_not_yet_replayed_and_tampered_channels_do_not_update() {
    let s = Setup::new();
    let srv = Server::start(&s.repo, Faults::default()).unwrap();
    let first = std::fs::read(s.repo.join("channels/x86-ud/stable.json")).unwrap();

    s.ok(&["repo", "pause", p(&s.repo), "--board", "x86-ud", "--key", p(&s.key)]);
    let o = s.device(&["check", "--repo", &srv.url]);
    assert!(text(&o).contains("paused"), "{}", text(&o));
    let o = s.device(&["install", "--channel", "--repo", &srv.url, "--yes"]);
    assert!(o.status.success() && text(&o).contains("paused"), "{}", text(&o));

    s.ok(&["repo", "resume", p(&s.repo), "--board", "x86-ud", "--max-seed", "0", "--key", p(&s.key)]);
    let o = s.device(&["check", "--repo", &srv.url]);
    assert!(text(&o).contains("not yet"), "no device is below seed 0: {}", text(&o));

    // The first index again (sequence 1, after 3 was seen): a replay.
    std::fs::write(s.repo.join("channels/x86-ud/stable.json"), &first).unwrap();
    let o = s.device(&["check", "--repo", &srv.url]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("older than 3"), "{}", text(&o));

    // A fresh device fetching an index signed by another key.
    let other = tempfile::tempdir().unwrap();
    SecretKey::from_seed(&[9; 32]).write_pair(other.path(), "x").unwrap();
    let s2 = Setup::new();
    let mut a = vec!["repo", "publish", p(&s2.repo), "--board", "x86-ud", "--version", "2.0.0"];
    let xk = other.path().join("x.key");
    a.extend(["--key", p(&xk)]);
    s2.ok(&a);
    let srv2 = Server::start(&s2.repo, Faults::default()).unwrap();
    let o = s2.device(&["check", "--repo", &srv2.url]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("signed by no key this device trusts"), "{}", text(&o));

    // A manifest that does not match the index.
    let s3 = Setup::new();
    let m = s3.repo.join("manifests/quill-x86-ud-2.0.0.qmanifest");
    let mut bytes = std::fs::read(&m).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&m, bytes).unwrap();
    let srv3 = Server::start(&s3.repo, Faults::default()).unwrap();
    let o = s3.device(&["check", "--repo", &srv3.url]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("does not match the channel index"), "{}", text(&o));
}

#[test]
fn a_damaged_download_and_bad_urls_leave_the_slot_not_bootable() {
    let s = Setup::new();
    // Payload bytes changed on the server (every frame is hit): the first
    // frame fetched fails its hash.
    let b = s.repo.join("bundles/quill-x86-ud-2.0.0.qbundle");
    let head = std::fs::metadata(s.repo.join("manifests/quill-x86-ud-2.0.0.qmanifest")).unwrap().len() as usize;
    let mut bytes = std::fs::read(&b).unwrap();
    for i in (head + 8..bytes.len()).step_by(64) {
        bytes[i] ^= 0x40;
    }
    std::fs::write(&b, bytes).unwrap();
    let srv = Server::start(&s.repo, Faults::default()).unwrap();
    let o = s.device(&["install", "--channel", "--repo", &srv.url, "--yes"]);
    assert!(matches!(o.status.code(), Some(3) | Some(4)), "{}", text(&o));
    assert!(text(&o).contains("SHA-256"), "{}", text(&o));
    let st = s.status();
    assert!(st.contains("next boot: A") && st.contains("(not bootable)"), "{st}");

    for (url, why) in [
        ("ftp://mirror/x.qbundle", "only http:// and https://"),
        ("http://user:pw@127.0.0.1:1/x.qbundle", "user name or password"),
        (&format!("{}/loop", srv.url), "redirect"),
        (&format!("{}/missing.qbundle", srv.url), "404"),
    ] {
        let o = s.device(&["install", url, "--yes"]);
        assert!(!o.status.success() && text(&o).contains(why), "{url}: {}", text(&o));
        assert!(!text(&o).contains("pw@"), "credentials are never printed: {}", text(&o));
    }
    let st = s.status();
    assert!(st.contains("next boot: A"), "{st}");
}

/// Slot A runs 1.0.0 with 8 incompressible MiBs; 2.0.0 changes one of them.
fn app_only_release() -> Setup {
    let key = SecretKey::from_seed(&[5; 32]);
    let seeds_v1: Vec<u64> = (1..=8).collect();
    let mut seeds_v2 = seeds_v1.clone();
    seeds_v2[5] = 99;
    let running = testkit::fixtures::noisy_slot("1.0.0", &seeds_v1);
    let disk = testkit::quill_disk(testkit::fixtures::SLOT >> 20, running).0;
    let bundle =
        testkit::fixtures::bundle_of("2.0.0", "x86-ud", 1, &key, testkit::fixtures::noisy_slot("2.0.0", &seeds_v2));
    Setup::with(disk, bundle)
}

const BUNDLE: &str = "/bundles/quill-x86-ud-2.0.0.qbundle";

#[test]
fn a_release_that_changes_one_file_downloads_only_its_chunks() {
    let s = app_only_release();
    let srv = Server::start(&s.repo, Faults::default()).unwrap();
    let o = s.device(&["install", "--channel", "--repo", &srv.url, "--yes"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("installed 2.0.0 into slot B"), "{out}");
    assert!(out.contains("chunks are on this device already"), "{out}");
    // The changed MiB lies in at most two chunks (the file is not
    // chunk-aligned in this FAT), plus the first chunk (the FAT's own
    // metadata); the noise does not compress.
    let fetched = srv.bytes_sent(BUNDLE);
    let size = s.bundle_bytes.len() as u64;
    let chunk = bundle::DEFAULT_CHUNK_SIZE as u64;
    assert!(fetched <= 3 * chunk + (64 << 10), "fetched {fetched} of {size} bytes for one changed MiB of eight: {out}");
    assert!(
        fetched + chunk <= size,
        "not a chunk left out: fetched {fetched} of {size} bytes for one changed MiB of eight: {out}"
    );
    assert!(fetched >= 1 << 20, "the changed MiB was fetched: {fetched}");
    let st = s.status();
    assert!(st.contains("next boot: B") && st.contains("2.0.0"), "{st}");
}

#[test]
fn an_install_stopped_halfway_resumes_from_the_chunks_already_in_the_slot() {
    let key = SecretKey::from_seed(&[5; 32]);
    let running = testkit::fixtures::noisy_slot("1.0.0", &[1, 2, 3, 4, 5, 6, 7, 8]);
    let disk = testkit::quill_disk(testkit::fixtures::SLOT >> 20, running).0;
    let new = testkit::fixtures::noisy_slot("2.0.0", &[11, 12, 13, 14, 15, 16, 17, 18]);
    let s = Setup::with(disk, testkit::fixtures::bundle_of("2.0.0", "x86-ud", 1, &key, new));
    let srv = Server::start(&s.repo, Faults::default()).unwrap();
    // The first install stops halfway through writing, as a power cut would.
    let d = s.t.path();
    let never = d.join("never");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fwupdate"))
        .args(["--disk", p(&d.join("disk.img")), "--booted", "a", "--data", p(&d.join("data"))])
        .args(["--keyring", p(&d.join("keys")), "--board", "x86-ud", "--running-version", "1.0.0"])
        .args(["install", "--channel", "--repo", &srv.url, "--yes"])
        .env("FWUPDATE_TEST_PAUSE", format!("middle:{}", never.display()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("test pause at Middle") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "fwupdate ended before the pause");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first = srv.bytes_sent(BUNDLE);
    let st = s.status();
    assert!(st.contains("next boot: A"), "{st}");

    let o = s.device(&["install", "--channel", "--repo", &srv.url, "--yes"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("installed 2.0.0 into slot B"), "{out}");
    let second = srv.bytes_sent(BUNDLE) - first;
    let size = s.bundle_bytes.len() as u64;
    assert!(second < size * 3 / 4, "the second download fetched {second} of {size} bytes");
}

#[test]
fn without_a_repository_in_the_settings_dhcp_option_43_names_it() {
    let s = Setup::new();
    let srv = Server::start(&s.repo, Faults::default()).unwrap();
    let root = s.t.path().join("root");
    let with_root = |verb: &[&str]| {
        let mut a = vec!["--root", p(&root)];
        a.extend(verb);
        s.device(&a)
    };
    let o = with_root(&["check"]);
    assert!(!o.status.success() && text(&o).contains("DHCP option 43"), "{}", text(&o));
    let lease = net::status::Applied {
        iface: "eth0".into(),
        ip: "10.0.0.5".parse().unwrap(),
        prefix: 24,
        gateway: None,
        dns: vec![],
        search: vec![],
        ntp: vec![],
        vendor: Some(net::vendor::Vendor { channel_url: Some(srv.url.clone()), ..Default::default() }),
        source: net::status::Source::Dhcp,
    };
    net::status::write_applied(&root.join("run/quill/net"), &lease).unwrap();
    let o = with_root(&["check"]);
    assert!(o.status.success() && text(&o).contains("update 2.0.0 available"), "{}", text(&o));
}

#[test]
fn auto_install_waits_for_its_window_then_installs_by_itself() {
    let s = Setup::new();
    let srv = Server::start(&s.repo, Faults::default()).unwrap();
    let data = s.t.path().join("data");
    let write = |window: &str| {
        let text = format!(
            "schema = 1\nsetup_done = true\n[update]\nrepository = \"{}\"\njitter_secs = 0\nauto_install = true\nwindow = \"{window}\"\n",
            srv.url
        );
        std::fs::write(data.join(devconfig::FILE_NAME), text).unwrap();
    };
    // A window that opened a minute from now (local time): not yet.
    let now = {
        // SAFETY: time(NULL) and localtime_r into a zeroed struct tm.
        let tm = unsafe {
            let t = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&t, &mut tm);
            tm
        };
        (tm.tm_hour * 60 + tm.tm_min) as u32
    };
    let hm = |m: u32| format!("{:02}:{:02}", (m / 60) % 24, m % 60);
    write(&format!("{}-{}", hm(now + 2), hm(now + 60)));
    let o = s.device(&["watch", "--once"]);
    let out = text(&o);
    assert!(out.contains("will install by itself in the maintenance window"), "{out}");
    assert!(!s.status().contains("next boot: B"), "nothing installed outside the window");
    write("not a window");
    let out = text(&s.device(&["watch", "--once"]));
    assert!(out.contains("no automatic install") && out.contains("HH:MM-HH:MM"), "{out}");
    // Any time: installed, the running slot untouched until a restart.
    write("");
    let out = text(&s.device(&["watch", "--once"]));
    assert!(out.contains("update 2.0.0 installed by itself; it starts at the next restart"), "{out}");
    let st = s.status();
    assert!(st.contains("next boot: B") && st.contains("2.0.0"), "{st}");
    // Installed and waiting for a restart: neither offered nor installed again.
    let out = text(&s.device(&["watch", "--once"]));
    assert!(!out.contains("installing update"), "{out}");
    let out = text(&s.device(&["check"]));
    assert!(out.contains("2.0.0 is installed already and starts at the next restart"), "{out}");
}

#[test]
fn https_from_a_server_of_the_fleets_own_ca_once_its_certificate_is_in_data() {
    let s = Setup::new();
    let ca = testkit::tls::TestCa::new(&["127.0.0.1", "localhost"]).unwrap();
    let web = testkit::nginx::Nginx::serve_tls(&s.repo, &ca.cert_pem, &ca.key_pem).unwrap();
    let url = format!("https://127.0.0.1:{}/", web.port);

    // Not trusted yet: refused with what to do, nothing installed.
    let o = s.device(&["install", "--channel", "--repo", &url, "--yes"]);
    assert!(!o.status.success() && text(&o).contains("ca-certificates"), "{}", text(&o));
    assert!(s.status().contains("next boot: A"), "{}", s.status());

    // A file that is not a certificate is named, not skipped.
    let cas = s.t.path().join("data/ca-certificates");
    std::fs::create_dir_all(&cas).unwrap();
    std::fs::write(cas.join("broken.pem"), "not a certificate\n").unwrap();
    let o = s.device(&["check", "--repo", &url]);
    assert!(!o.status.success() && text(&o).contains("broken.pem"), "{}", text(&o));

    std::fs::write(cas.join("broken.pem"), &ca.ca_pem).unwrap();
    let o = s.device(&["install", "--channel", "--repo", &url, "--yes"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("installed 2.0.0 into slot B"), "{out}");
    assert!(web.access_log().contains("/bundles/quill-x86-ud-2.0.0.qbundle"), "{}", web.access_log());
    assert!(s.status().contains("next boot: B"), "{}", s.status());
}
