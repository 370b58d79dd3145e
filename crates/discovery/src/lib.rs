//! Discovery on the local network: the device announces itself with DNS-SD
//! over mDNS as `_quill._tcp` (RFC 6762/6763, through the `mdns-sd` crate),
//! with what the IGEL management console's scan shows in the TXT record;
//! [`scan`] lists the devices that answer.
//!
//! The record announces presence only: port 0, nothing listens on the
//! device (management goes from the device to its server, crates/enroll).
//!
//! TXT keys (RFC 6763 §6: short, `txtvers` first): `txtvers=1`, `id` (unit
//! ID), `mac`, `name` (host name), `board`, `fw` (running version), `slot`,
//! `enrolled` (`yes`/`no`).

/// The command line (`fn main` of the binary; the device's multicall binary calls it too).
pub mod cli;

use mdns_sd::{ServiceDaemon, ServiceEvent, ServiceInfo};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const SERVICE: &str = "_quill._tcp.local.";

/// What a device says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announcement {
    pub unit_id: String,
    pub hostname: String,
    pub board: String,
    pub firmware: String,
    pub slot: String,
    pub enrolled: bool,
    /// The addresses the network gave (not in the TXT record; a change
    /// makes the announcer announce again, so browsers get them at once
    /// rather than at the responder's next interface scan).
    pub addresses: Vec<String>,
}

impl Announcement {
    /// `52:54:00:12:34:56` from the unit ID.
    pub fn mac(&self) -> String {
        self.unit_id
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn txt(&self) -> Vec<(&'static str, String)> {
        vec![
            ("txtvers", "1".into()),
            ("id", self.unit_id.clone()),
            ("mac", self.mac()),
            ("name", self.hostname.clone()),
            ("board", self.board.clone()),
            ("fw", self.firmware.clone()),
            ("slot", self.slot.clone()),
            ("enrolled", if self.enrolled { "yes" } else { "no" }.into()),
        ]
    }

    /// The device under `root` and its DATA folder.
    pub fn read(root: &std::path::Path, data: &std::path::Path) -> Option<Announcement> {
        let unit_id = bootid::unit_id(&root.join("sys/class/net"))?;
        let release = bootid::Release::read(root);
        let hostname = std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let slot = bootid::BootArgs::read(root).slot.map(|s| s.letter().to_string()).unwrap_or_default();
        let enrolled = matches!(
            enroll::state(&enroll::Store::new(data)),
            enroll::State::Enrolled { .. } | enroll::State::RenewalFailed { .. }
        );
        let mut addresses: Vec<String> = net::status::leases(&root.join(net::status::RUN_DIR.trim_start_matches('/')))
            .iter()
            .map(|l| format!("{}/{}", l.ip, l.prefix))
            .collect();
        addresses.sort();
        Some(Announcement {
            unit_id,
            hostname,
            board: release.as_ref().map(|r| r.board.clone()).unwrap_or_default(),
            firmware: release.map(|r| r.version).unwrap_or_default(),
            slot,
            enrolled,
            addresses,
        })
    }
}

/// Registers `a` on every interface's addresses (loopback excluded);
/// returns the instance's full name, for [`ServiceDaemon::unregister`].
pub fn announce(daemon: &ServiceDaemon, a: &Announcement) -> Result<String, String> {
    let host = format!("{}.local.", if a.hostname.is_empty() { &a.unit_id } else { &a.hostname });
    let instance = if a.hostname.is_empty() { a.unit_id.clone() } else { a.hostname.clone() };
    let txt = a.txt();
    let props: Vec<(&str, &str)> = txt.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let info = ServiceInfo::new(SERVICE, &instance, &host, "", 0, &props[..])
        .map_err(|e| format!("the announcement: {e}"))?
        .enable_addr_auto();
    let name = info.get_fullname().to_string();
    daemon.register(info).map_err(|e| format!("registering {name}: {e}"))?;
    Ok(name)
}

/// A device that answered a scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub unit_id: String,
    pub mac: String,
    pub name: String,
    pub ip: Vec<IpAddr>,
    /// The board (product).
    pub product: String,
    pub firmware: String,
    pub slot: String,
    pub enrolled: bool,
}

/// Browses `_quill._tcp` until `done` says the list is complete or `wait`
/// has passed; the devices sorted by unit ID.
pub fn scan(daemon: &ServiceDaemon, wait: Duration, done: &dyn Fn(&[Found]) -> bool) -> Result<Vec<Found>, String> {
    let rx = daemon.browse(SERVICE).map_err(|e| format!("browsing {SERVICE}: {e}"))?;
    let deadline = Instant::now() + wait;
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(s)) => {
                let get = |k: &str| s.txt_properties.get_property_val_str(k).unwrap_or_default().to_string();
                let mut ip: Vec<IpAddr> = s.addresses.iter().map(|a| a.to_ip_addr()).collect();
                ip.sort();
                let f = Found {
                    unit_id: get("id"),
                    mac: get("mac"),
                    name: get("name"),
                    ip,
                    product: get("board"),
                    firmware: get("fw"),
                    slot: get("slot"),
                    enrolled: get("enrolled") == "yes",
                };
                found.insert(s.fullname.clone(), f);
                let list: Vec<Found> = found.values().cloned().collect();
                if done(&list) {
                    break;
                }
            }
            Ok(ServiceEvent::ServiceRemoved(_, name)) => {
                found.remove(&name);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = daemon.stop_browse(SERVICE);
    let mut list: Vec<Found> = found.into_values().collect();
    list.sort_by(|a, b| a.unit_id.cmp(&b.unit_id));
    Ok(list)
}

/// The console's table: Unit ID, MAC address, Name, IP address, Product,
/// Firmware, Enrolled.
pub fn table(found: &[Found]) -> String {
    let head = ["Unit ID", "MAC address", "Name", "IP address", "Product", "Firmware", "Enrolled"];
    let rows: Vec<[String; 7]> = found
        .iter()
        .map(|f| {
            let ip = f.ip.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let fw = if f.slot.is_empty() { f.firmware.clone() } else { format!("{} ({})", f.firmware, f.slot) };
            [
                f.unit_id.clone(),
                f.mac.clone(),
                f.name.clone(),
                ip,
                f.product.clone(),
                fw,
                if f.enrolled { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells.iter().zip(width).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    let mut out = line(head.to_vec());
    for r in &rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_and_table() {
        let a = Announcement {
            unit_id: "525400123456".into(),
            hostname: "ITC525400123456".into(),
            board: "x86-ud".into(),
            firmware: "2.0.0".into(),
            slot: "b".into(),
            enrolled: true,
            addresses: vec!["10.77.0.58/24".into()],
        };
        assert_eq!(a.mac(), "52:54:00:12:34:56");
        let txt = a.txt();
        assert_eq!(txt[0], ("txtvers", "1".into()));
        assert!(txt.contains(&("enrolled", "yes".into())));
        let f = Found {
            unit_id: a.unit_id.clone(),
            mac: a.mac(),
            name: a.hostname.clone(),
            ip: vec!["10.77.0.58".parse().unwrap()],
            product: a.board.clone(),
            firmware: a.firmware.clone(),
            slot: a.slot.clone(),
            enrolled: true,
        };
        let t = table(&[f]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("Unit ID       MAC address"), "{t}");
        assert!(lines[1].contains("10.77.0.58") && lines[1].contains("2.0.0 (b)") && lines[1].ends_with("yes"), "{t}");
        assert_eq!(table(&[]).lines().count(), 1);
    }
}
