//! What udhcpc hands the hook (its environment, from a DHCP server on the
//! wire) and option 43's vendor data.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = net::vendor::Vendor::parse(data);
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let arg = lines.next().unwrap_or("bound").to_string();
    let env: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let _ = net::lease::Event::parse(&arg, &get);
});
