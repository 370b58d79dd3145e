//! Feeds arbitrary bytes to the bundle reader: it must never panic, and
//! must never yield a chunk for input that is not a validly signed bundle.
#![no_main]

use bundle::{Keyring, Policy, Reader, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::new([SecretKey::from_seed(&[1; 32]).public()]);
    let policy = Policy { board: Some("x86-ud".into()), rollback_floor: 0, slot_size: Some(1 << 30) };
    if let Ok(mut r) = Reader::open("fuzz", data, &ring, &policy) {
        while let Ok(Some(_)) = r.next_chunk() {}
    }
});
