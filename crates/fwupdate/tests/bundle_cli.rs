//! `fwupdate bundle ...` and `fwupdate keygen` as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

fn fwupdate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fwupdate")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn keygen_create_sign_verify_info() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let keys = d.join("keys");
    let o = fwupdate(&["keygen", "--out", p(&keys), "--name", "release"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fwupdate(&["keygen", "--out", p(&keys), "--name", "release"]);
    assert_eq!(o.status.code(), Some(1), "a key is never overwritten: {}", text(&o));

    let img = d.join("slot.img");
    std::fs::write(&img, (0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    let out = d.join("quill-x86-ud-2.0.0.qbundle");
    let o = fwupdate(&[
        "bundle",
        "create",
        "--board",
        "x86-ud",
        "--version",
        "2.0.0",
        "--rollback-index",
        "4",
        "--slot-image",
        p(&img),
        "--chunk-size",
        "65536",
        "--level",
        "3",
        "-o",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("unsigned"), "{}", text(&o));

    // Unsigned: refused with exit code 3.
    let o = fwupdate(&["bundle", "verify", p(&out), "--keyring", p(&keys)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("not signed"), "{}", text(&o));

    let o = fwupdate(&["bundle", "sign", p(&out), "--key", p(&keys.join("release.key"))]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fwupdate(&["bundle", "verify", p(&out), "--keyring", p(&keys), "--board", "x86-ud"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("valid, version 2.0.0"), "{}", text(&o));

    let o = fwupdate(&["bundle", "verify", p(&out), "--keyring", p(&keys), "--board", "rpi4"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("this device is rpi4"), "{}", text(&o));
    let o = fwupdate(&["bundle", "verify", p(&out), "--keyring", p(&keys), "--rollback-floor", "5"]);
    assert_eq!(o.status.code(), Some(3));

    let o = fwupdate(&["bundle", "info", p(&out), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["manifest"]["version"], "2.0.0");
    assert_eq!(v["manifest"]["rollback_index"], 4);
    assert_eq!(v["manifest"]["payloads"][0]["chunks"].as_array().unwrap().len(), 5);
    assert_eq!(v["signers"].as_array().unwrap().len(), 1);
    let o = fwupdate(&["bundle", "info", p(&out)]);
    assert!(text(&o).contains("rollback index: 4"), "{}", text(&o));

    // A flipped byte in the payload: refused, the reason named.
    let mut bytes = std::fs::read(&out).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x40;
    let bad = d.join("bad.qbundle");
    std::fs::write(&bad, bytes).unwrap();
    let o = fwupdate(&["bundle", "verify", p(&bad), "--keyring", p(&keys)]);
    assert_eq!(o.status.code(), Some(3));
    assert!(text(&o).contains("bad.qbundle") && text(&o).contains("SHA-256"), "{}", text(&o));

    // Nothing half-written is left behind when create fails.
    let o = fwupdate(&[
        "bundle",
        "create",
        "--board",
        "x",
        "--version",
        "1",
        "--slot-image",
        p(&d.join("missing")),
        "-o",
        p(&d.join("o.qbundle")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!d.join("o.qbundle").exists() && !d.join("o.partial").exists());
}
