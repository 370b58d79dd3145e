//! A partition table of any disk plugged in (bootdisk and the updater read
//! every stick's GPT): any bytes load cleanly or are refused.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small disk whose first blocks are the input (primary header and
    // entries), the rest zeros, and the last blocks the input again
    // (where a backup would be).
    let mut bytes = vec![0u8; 64 * 1024];
    let n = data.len().min(bytes.len() / 2);
    bytes[..n].copy_from_slice(&data[..n]);
    let end = bytes.len();
    bytes[end - n..].copy_from_slice(&data[..n]);
    let mut disk = gptedit::MemDisk { bytes, block_size: 512 };
    if let Ok(g) = gptedit::Gpt::load(&mut disk) {
        let _ = g.health();
        let _ = g.partitions();
        let _ = g.find_by_name("DATA");
    }
});
