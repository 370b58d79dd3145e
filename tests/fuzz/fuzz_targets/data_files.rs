//! The files on DATA (anyone with the disk can write them): the settings
//! and the updater's state parse cleanly or are refused.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(s) = devconfig::Settings::parse(text) {
            let _ = s.to_text();
        }
    }
    if let Ok(state) = serde_json::from_slice::<updater::state::State>(data) {
        let _ = state.evidence();
        let _ = state.to_bytes();
    }
});
