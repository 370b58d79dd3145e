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
        let t = tempfile::tempdir().unwrap();
        let key = SecretKey::from_seed(&[5; 32]);
        key.write_pair(&t.path().join("keys"), "k").unwrap();
        std::fs::create_dir_all(t.path().join("data")).unwrap();
        std::fs::write(t.path().join("disk.img"), testkit::fixtures::disk().0).unwrap();
        let bundle_bytes = testkit::fixtures::bundle("2.0.0", "x86-ud", 1, &key, vec![], 2);
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
    assert_eq!(log.len(), 2, "one request and one resume: {log:?}");
    assert_eq!(log[1].range_start, Some(size / 2), "resumed where the connection broke");
    assert_eq!(srv.bytes_sent(bundle), size, "nothing downloaded twice");
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
    // One payload byte changed on the server: the frame's hash fails.
    let b = s.repo.join("bundles/quill-x86-ud-2.0.0.qbundle");
    let mut bytes = std::fs::read(&b).unwrap();
    let n = bytes.len();
    bytes[n - 200] ^= 0x40;
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
