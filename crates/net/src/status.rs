//! The network's state as files in /run/quill/net: `IFACE.lease` (JSON,
//! written when an address is applied, by the DHCP hook or the static
//! configuration) and `IFACE.link` (`up` or `down`, written by the daemon
//! when the carrier changes). One reader for `quill-net status`, the home
//! screen and the console lines, so all three say the same.

use crate::vendor::Vendor;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub const RUN_DIR: &str = "/run/quill/net";

/// Where an address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Dhcp,
    Static,
}

/// An applied address and what came with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub iface: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    #[serde(default)]
    pub search: Vec<String>,
    #[serde(default)]
    pub ntp: Vec<Ipv4Addr>,
    #[serde(default)]
    pub vendor: Option<Vendor>,
    pub source: Source,
}

impl Applied {
    /// `quill: network eth0 up ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3`
    pub fn console_line(&self) -> String {
        let gw = self.gateway.map(|g| g.to_string()).unwrap_or_else(|| "none".into());
        let dns = if self.dns.is_empty() {
            "none".to_string()
        } else {
            self.dns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
        };
        let how = if self.source == Source::Static { " (static)" } else { "" };
        format!("quill: network {} up ip={}/{} gw={gw} dns={dns}{how}", self.iface, self.ip, self.prefix)
    }
}

/// One interface as `quill-net status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    /// Carrier: a cable (or a link) is there.
    pub link: bool,
    pub applied: Option<Applied>,
}

impl Interface {
    /// For people: `eth0: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3` or
    /// `eth0: cable unplugged`.
    pub fn summary(&self) -> String {
        match (&self.applied, self.link) {
            (_, false) => format!("{}: cable unplugged", self.name),
            (None, true) => format!("{}: link up, no address yet", self.name),
            (Some(a), true) => {
                let mut s = format!("{}: {}/{}", self.name, a.ip, a.prefix);
                if let Some(g) = a.gateway {
                    s += &format!(", gateway {g}");
                }
                if !a.dns.is_empty() {
                    s += &format!(", DNS {}", a.dns.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(" "));
                }
                s
            }
        }
    }
}

fn lease_path(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("{iface}.lease"))
}

fn link_path(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("{iface}.link"))
}

pub fn write_applied(dir: &Path, a: &Applied) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = serde_json::to_vec(a).expect("status serializes");
    devconfig::write_atomic(&lease_path(dir, &a.iface), &json).map_err(|e| e.to_string())
}

pub fn clear_applied(dir: &Path, iface: &str) {
    let _ = std::fs::remove_file(lease_path(dir, iface));
}

pub fn read_applied(dir: &Path, iface: &str) -> Option<Applied> {
    serde_json::from_slice(&std::fs::read(lease_path(dir, iface)).ok()?).ok()
}

pub fn write_link(dir: &Path, iface: &str, up: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    devconfig::write_atomic(&link_path(dir, iface), if up { b"up\n" } else { b"down\n" }).map_err(|e| e.to_string())
}

const SETTINGS_PROBLEM: &str = "settings-problem";

/// Why the network settings are not used as written (shown on the home
/// screen until they are fixed); `None` clears it.
pub fn set_settings_problem(dir: &Path, problem: Option<&str>) {
    let path = dir.join(SETTINGS_PROBLEM);
    match problem {
        Some(p) => {
            let _ = std::fs::create_dir_all(dir);
            let _ = devconfig::write_atomic(&path, p.as_bytes());
        }
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub fn settings_problem(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(SETTINGS_PROBLEM)).ok().filter(|s| !s.trim().is_empty())
}

/// The daemon asks for a renewal because the carrier came back: the hook
/// then says the lease again even when nothing changed.
pub fn mark_relinked(dir: &Path, iface: &str) {
    let _ = std::fs::write(dir.join(format!("{iface}.relinked")), b"");
}

/// Whether a renewal was asked for after the carrier came back (once).
pub fn take_relinked(dir: &Path, iface: &str) -> bool {
    std::fs::remove_file(dir.join(format!("{iface}.relinked"))).is_ok()
}

/// The interface names that have a `NAME.SUFFIX` file in `dir`, sorted.
fn names_with(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(suffix).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Every applied lease or static address, by interface name: what the
/// network gave (DHCP option 43 for the management server and the update
/// repository, search domains).
pub fn leases(dir: &Path) -> Vec<Applied> {
    names_with(dir, ".lease").iter().filter_map(|n| read_applied(dir, n)).collect()
}

/// The names of the Ethernet interfaces the daemon knows.
pub fn interface_names(dir: &Path) -> Vec<String> {
    names_with(dir, ".link")
}

/// Every interface the daemon knows (it writes `.link` for each).
pub fn read_all(dir: &Path) -> Vec<Interface> {
    names_with(dir, ".link")
        .into_iter()
        .map(|name| {
            let link = std::fs::read_to_string(link_path(dir, &name)).is_ok_and(|s| s.trim() == "up");
            let applied = read_applied(dir, &name);
            Interface { name, link, applied }
        })
        .collect()
}

/// `/etc/resolv.conf` for the applied addresses: their DNS servers (at
/// most three, as the resolver reads) and search domains.
pub fn resolv_conf(applied: &[Applied], extra_dns: &[Ipv4Addr]) -> String {
    let mut dns: Vec<Ipv4Addr> = Vec::new();
    let mut search: Vec<&str> = Vec::new();
    for a in applied {
        for d in &a.dns {
            if !dns.contains(d) {
                dns.push(*d);
            }
        }
        for s in &a.search {
            if !search.contains(&s.as_str()) {
                search.push(s);
            }
        }
    }
    for d in extra_dns {
        if !dns.contains(d) {
            dns.push(*d);
        }
    }
    let mut out = String::from("# Written by quill-net from the network's leases and settings\n");
    if !search.is_empty() {
        out += &format!("search {}\n", search.join(" "));
    }
    for d in dns.iter().take(3) {
        out += &format!("nameserver {d}\n");
    }
    out += "options timeout:2 attempts:2\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(iface: &str, dns: &[&str], search: &[&str]) -> Applied {
        Applied {
            iface: iface.into(),
            ip: "10.0.2.15".parse().unwrap(),
            prefix: 24,
            gateway: Some("10.0.2.2".parse().unwrap()),
            dns: dns.iter().map(|d| d.parse().unwrap()).collect(),
            search: search.iter().map(|s| s.to_string()).collect(),
            ntp: vec![],
            vendor: None,
            source: Source::Dhcp,
        }
    }

    #[test]
    fn files_lines_and_resolv_conf() {
        let t = tempfile::tempdir().unwrap();
        let a = applied("eth0", &["10.0.2.3"], &["example.test"]);
        assert_eq!(a.console_line(), "quill: network eth0 up ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3");
        write_link(t.path(), "eth0", true).unwrap();
        write_applied(t.path(), &a).unwrap();
        write_link(t.path(), "eth1", false).unwrap();
        let all = read_all(t.path());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].summary(), "eth0: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3");
        assert_eq!(all[1].summary(), "eth1: cable unplugged");
        clear_applied(t.path(), "eth0");
        assert_eq!(read_all(t.path())[0].summary(), "eth0: link up, no address yet");
        let r = resolv_conf(
            &[a, applied("eth1", &["10.0.2.3", "1.1.1.1", "9.9.9.9"], &["corp.test"])],
            &["8.8.8.8".parse().unwrap()],
        );
        assert_eq!(
            r.lines().skip(1).collect::<Vec<_>>(),
            [
                "search example.test corp.test",
                "nameserver 10.0.2.3",
                "nameserver 1.1.1.1",
                "nameserver 9.9.9.9",
                "options timeout:2 attempts:2"
            ]
        );
    }
}
