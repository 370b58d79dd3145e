//! One copy of the trust record, read raw from the disk.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ev) = trust::record::decode(data) {
        // What decodes must encode again to a valid copy.
        let again = trust::record::decode(&trust::record::encode(&ev).unwrap()).unwrap();
        assert_eq!(again, ev);
    }
});
