//! `[network]`: how each Ethernet interface gets its address, the proxy
//! and the time servers (Network in the local Setup; read by `quill-net`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How an Ethernet interface gets its address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressMode {
    #[default]
    Dhcp,
    Static,
}

/// How an Ethernet interface gets its address (`[network]` itself for
/// every interface without its own table, `[network.interfaces.eth1]`
/// for one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Addressing {
    #[serde(default)]
    pub mode: AddressMode,
    /// Static address with prefix: `192.168.1.20/24`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// DNS servers (static mode, or in addition to DHCP's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// Fields this firmware does not know, kept as they are.
    #[serde(flatten)]
    pub other: toml::Table,
}

/// The network settings (`[network]`). An additive table: firmware that
/// predates it keeps it as an unknown field, so the schema stays 1 and a
/// rolled-back firmware still reads the file (firmware before the
/// per-interface tables keeps them, and applies `[network]` everywhere).
/// Checked by `quill-net` (crates/net/src/config.rs): an interface whose
/// static configuration does not hold together is reported and uses
/// DHCP, the file is kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Every Ethernet interface without its own table. Its `other` holds
    /// the fields of `[network]` this firmware does not know (one catch-all:
    /// two flattened ones would both take them).
    #[serde(flatten)]
    pub all: Addressing,
    /// Interfaces with their own addressing, by kernel name (`eth1`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<String, Addressing>,
    /// HTTP(S) proxy for updates and enrollment: `http://proxy.example:3128`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub proxy: String,
    /// NTP servers used besides the ones DHCP names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ntp_servers: Vec<String>,
}

impl Network {
    /// The addressing interface `iface` uses: its own table, else the one
    /// for every interface.
    pub fn addressing(&self, iface: &str) -> &Addressing {
        self.interfaces.get(iface).unwrap_or(&self.all)
    }
}

pub(crate) fn is_default_network(n: &Network) -> bool {
    *n == Network::default()
}
