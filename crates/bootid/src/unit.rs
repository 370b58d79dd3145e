//! The unit ID: IGEL devices are known by the MAC address of their first
//! network interface, upper-case hex without colons. init names the host
//! after it; fwupdate sends it with update requests and derives the
//! roll-out seed from it.

use std::fs;
use std::path::Path;

/// The MAC of the first (lowest ifindex) non-loopback interface with a
/// real address, as 12 upper-case hex digits. `sys_class_net` is
/// `/sys/class/net` on the device.
pub fn unit_id(sys_class_net: &Path) -> Option<String> {
    let mut best: Option<(u32, String)> = None;
    for entry in fs::read_dir(sys_class_net).ok()?.flatten() {
        let dir = entry.path();
        let read = |f: &str| fs::read_to_string(dir.join(f)).ok().map(|s| s.trim().to_string());
        // type 1 = ARPHRD_ETHER; loopback is 772.
        if read("type").as_deref() != Some("1") {
            continue;
        }
        let Some(mac) = read("address").and_then(|a| mac_hex(&a)) else { continue };
        let index = read("ifindex").and_then(|i| i.parse().ok()).unwrap_or(u32::MAX);
        if best.as_ref().is_none_or(|(i, _)| index < *i) {
            best = Some((index, mac));
        }
    }
    best.map(|(_, mac)| mac)
}

/// `52:54:00:12:34:56` -> `525400123456`; None for malformed or all-zero.
pub fn mac_hex(address: &str) -> Option<String> {
    let parts: Vec<&str> = address.split(':').collect();
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2 || !p.chars().all(|c| c.is_ascii_hexdigit())) {
        return None;
    }
    let hex = parts.concat().to_ascii_uppercase();
    (hex != "000000000000").then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(root: &Path, name: &str, ty: &str, index: u32, mac: &str) {
        let d = root.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("type"), format!("{ty}\n")).unwrap();
        fs::write(d.join("ifindex"), format!("{index}\n")).unwrap();
        fs::write(d.join("address"), format!("{mac}\n")).unwrap();
    }

    #[test]
    fn picks_the_first_ethernet_interface() {
        let t = tempfile::tempdir().unwrap();
        nic(t.path(), "lo", "772", 1, "00:00:00:00:00:00");
        nic(t.path(), "eth1", "1", 3, "52:54:00:aa:bb:cc");
        nic(t.path(), "eth0", "1", 2, "52:54:00:12:34:5f");
        assert_eq!(unit_id(t.path()).unwrap(), "52540012345F");
    }

    #[test]
    fn no_interface_gives_none() {
        let t = tempfile::tempdir().unwrap();
        nic(t.path(), "lo", "772", 1, "00:00:00:00:00:00");
        assert_eq!(unit_id(t.path()), None);
        assert_eq!(unit_id(&t.path().join("missing")), None);
    }

    #[test]
    fn mac_forms() {
        assert_eq!(mac_hex("00:00:00:00:00:00"), None);
        assert_eq!(mac_hex("52:54:00:12:34"), None);
        assert_eq!(mac_hex("52:54:00:12:34:zz"), None);
        assert_eq!(mac_hex("de:ad:be:ef:00:01").as_deref(), Some("DEADBEEF0001"));
    }
}
