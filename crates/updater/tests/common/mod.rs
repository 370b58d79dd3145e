//! Shared fixtures of the updater's tests: a Quill-like disk in memory
//! (slot A 1.0.0 proven, slot B empty), a key, bundles, an install.
#![allow(dead_code)]

use abslot::Slot;
use bundle::SecretKey;
use std::io;
use updater::{install, BlockDevice, Error, InstallOptions, MemDevice, Paths, Updater};

#[allow(unused_imports)]
pub use testkit::fixtures::{disk, slot_image, SLOT};

pub struct Env {
    pub _t: tempfile::TempDir,
    pub paths: Paths,
    pub key: SecretKey,
}

pub fn env() -> Env {
    let t = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed(&[5; 32]);
    key.write_pair(&t.path().join("keys"), "k").unwrap();
    let paths = Paths { keyring: t.path().join("keys"), state: t.path().join("data") };
    Env { _t: t, paths, key }
}

pub fn make_bundle(e: &Env, version: &str, board: &str, rollback_index: u64) -> Vec<u8> {
    testkit::fixtures::bundle(version, board, rollback_index, &e.key, vec![], 1)
}

pub fn opts() -> InstallOptions {
    InstallOptions { board: "x86-ud".into(), running_version: "1.0.0".into(), ..Default::default() }
}

pub fn run<D: BlockDevice>(up: &mut Updater<D>, bytes: &[u8], o: &InstallOptions) -> Result<updater::Installed, Error> {
    install(up, "test.qbundle", &mut || Ok(bytes), o, &mut |_| {})
}

/// Uses up B's tries as bootsel would on three boots that never mark good.
pub fn fail_three_boots(up: &mut Updater<MemDevice>) {
    for _ in 0..3 {
        let mut t = abctl::SlotTable::load(&mut up.dev, 512).unwrap();
        t.set(Slot::B, abslot::on_boot_attempt(t.attr(Slot::B)));
        t.write(&mut up.dev).unwrap();
    }
}

/// A bundle for x86-ud signed by `signer`, carrying key `statements`.
pub fn bundle_by(
    version: &str,
    rollback_index: u64,
    signer: &SecretKey,
    statements: Vec<bundle::KeyStatement>,
) -> Vec<u8> {
    testkit::fixtures::bundle(version, "x86-ud", rollback_index, signer, statements, 2)
}

/// The updater of the system that runs from `booted` on `dev`.
pub fn on(dev: MemDevice, booted: Slot, e: &Env) -> Updater<MemDevice> {
    Updater::new(dev, 512, booted, e.paths.clone())
}

/// A device that loses power after `budget` writes: later writes fail and
/// nothing more reaches the medium.
pub struct PowerCut {
    pub inner: MemDevice,
    pub budget: usize,
}

impl BlockDevice for PowerCut {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&mut self, o: u64, b: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(o, b)
    }
    fn write_at(&mut self, o: u64, b: &[u8]) -> io::Result<()> {
        if self.budget == 0 {
            return Err(io::Error::other("power cut"));
        }
        self.budget -= 1;
        self.inner.write_at(o, b)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
