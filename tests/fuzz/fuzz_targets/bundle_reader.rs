//! A bundle from a stick or a server: any bytes must give a clean error,
//! never a panic, a hang or a huge allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = bundle::SecretKey::from_seed(&[7; 32]);
    let keyring = bundle::Keyring::new([key.public()]);
    let policy = bundle::Policy { board: Some("x86-ud".into()), rollback_floor: 0, slot_size: Some(64 << 20) };
    if let Ok(r) = bundle::Reader::open("fuzz", data, &keyring, &policy) {
        let _ = r.verify_all();
    }
    let _ = bundle::inspect("fuzz", data);
});
