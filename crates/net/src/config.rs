//! The network settings (devconfig's `[network]`) checked and turned into
//! what to apply, per interface. A static configuration that does not hold
//! together is reported with the reason; that interface uses DHCP instead
//! and the file is kept.

use devconfig::{AddressMode, Addressing, Network};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A checked static address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Static {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

/// How an Ethernet interface gets its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// DHCP; these DNS servers are used besides the lease's.
    Dhcp {
        extra_dns: Vec<Ipv4Addr>,
    },
    Static(Static),
}

impl Plan {
    pub const DHCP: Plan = Plan::Dhcp { extra_dns: Vec::new() };
}

/// The plan of every interface: its own, else the one for all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans {
    pub all: Plan,
    pub own: BTreeMap<String, Plan>,
}

impl Plans {
    pub fn dhcp() -> Plans {
        Plans { all: Plan::DHCP, own: BTreeMap::new() }
    }

    pub fn for_iface(&self, iface: &str) -> &Plan {
        self.own.get(iface).unwrap_or(&self.all)
    }
}

/// A kernel interface name as a settings table may name it.
pub fn check_iface_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && name != "lo";
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not an Ethernet interface's name (like eth0 or enp1s0)"))
    }
}

/// Whether `a` and `b` lie in the same /prefix.
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) };
    u32::from(a) & mask == u32::from(b) & mask
}

/// `192.168.1.20/24`.
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) =
        s.split_once('/').ok_or_else(|| format!("{s:?}: write the address with its prefix, e.g. 192.168.1.20/24"))?;
    let ip: Ipv4Addr = a.parse().map_err(|_| format!("{a:?} is not an IPv4 address"))?;
    let prefix: u8 =
        p.parse().ok().filter(|p| (1..=32).contains(p)).ok_or_else(|| format!("{p:?} is not a prefix from 1 to 32"))?;
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        return Err(format!("{ip} cannot be a device's address"));
    }
    Ok((ip, prefix))
}

fn parse_dns(dns: &[String]) -> Result<Vec<Ipv4Addr>, String> {
    dns.iter()
        .map(|d| d.parse::<Ipv4Addr>().map_err(|_| format!("the DNS server {d:?} is not an IPv4 address")))
        .collect()
}

/// The plan for one interface's addressing; `Err` says why it cannot be
/// used (then DHCP runs there).
pub fn plan(n: &Addressing) -> Result<Plan, String> {
    if n.mode == AddressMode::Dhcp {
        return Ok(Plan::Dhcp { extra_dns: parse_dns(&n.dns)? });
    }
    let (ip, prefix) = parse_cidr(&n.address)?;
    let gateway = if n.gateway.is_empty() {
        None
    } else {
        let g: Ipv4Addr =
            n.gateway.parse().map_err(|_| format!("the gateway {:?} is not an IPv4 address", n.gateway))?;
        if !same_subnet(g, ip, prefix) {
            return Err(format!("the gateway {g} is outside the subnet of {ip}/{prefix}"));
        }
        if g == ip {
            return Err(format!("the gateway {g} is the device's own address"));
        }
        Some(g)
    };
    Ok(Plan::Static(Static { ip, prefix, gateway, dns: parse_dns(&n.dns)? }))
}

/// The plans of every interface, and what does not hold together: each
/// as (interface, or None for all of them; the reason). An interface
/// whose settings are wrong, or clash with another's (the same address,
/// a second default gateway), uses DHCP.
pub fn plans(n: &Network) -> (Plans, Vec<(Option<String>, String)>) {
    let mut problems = Vec::new();
    let mut out = Plans::dhcp();
    match plan(&n.all) {
        Ok(p) => out.all = p,
        Err(e) => problems.push((None, e)),
    }
    // Who holds each address and the default gateway so far.
    let mut taken: Vec<(Ipv4Addr, String)> = Vec::new();
    let mut gateway: Option<String> = None;
    let claim = |p: &Plan, who: &str, taken: &mut Vec<(Ipv4Addr, String)>, gateway: &mut Option<String>| {
        let Plan::Static(s) = p else { return Ok(()) };
        if let Some((_, other)) = taken.iter().find(|(ip, _)| *ip == s.ip) {
            return Err(format!("the address {} is {other}'s already", s.ip));
        }
        if s.gateway.is_some() {
            if let Some(other) = gateway {
                return Err(format!("only one interface can have the default gateway, and {other} has it"));
            }
            *gateway = Some(who.to_string());
        }
        taken.push((s.ip, who.to_string()));
        Ok(())
    };
    let _ = claim(&out.all, "every interface", &mut taken, &mut gateway);
    for (name, a) in &n.interfaces {
        if let Err(e) = check_iface_name(name) {
            problems.push((Some(name.clone()), e));
            continue;
        }
        let p = plan(a).and_then(|p| {
            claim(&p, name, &mut taken, &mut gateway)?;
            Ok(p)
        });
        let p = p.unwrap_or_else(|e| {
            problems.push((Some(name.clone()), e));
            Plan::DHCP
        });
        out.own.insert(name.clone(), p);
    }
    (out, problems)
}

/// The proxy setting checked: `http://host:port` (or https).
pub fn proxy(n: &Network) -> Result<Option<String>, String> {
    if n.proxy.is_empty() {
        return Ok(None);
    }
    let rest = n
        .proxy
        .strip_prefix("http://")
        .or_else(|| n.proxy.strip_prefix("https://"))
        .ok_or_else(|| format!("the proxy {:?} must start with http:// or https://", n.proxy))?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host.is_empty() || rest.contains('@') || rest.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("the proxy {:?} needs a host (and no user:password in it)", n.proxy));
    }
    Ok(Some(n.proxy.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(address: &str, gateway: &str, dns: &[&str]) -> Addressing {
        Addressing {
            mode: AddressMode::Static,
            address: address.into(),
            gateway: gateway.into(),
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ..Addressing::default()
        }
    }

    #[test]
    fn static_configurations() {
        assert_eq!(plan(&Addressing::default()), Ok(Plan::DHCP));
        assert_eq!(
            plan(&net("192.168.1.20/24", "192.168.1.1", &["192.168.1.1"])),
            Ok(Plan::Static(Static {
                ip: "192.168.1.20".parse().unwrap(),
                prefix: 24,
                gateway: Some("192.168.1.1".parse().unwrap()),
                dns: vec!["192.168.1.1".parse().unwrap()],
            }))
        );
        for (n, why) in [
            (net("192.168.1.20", "", &[]), "with its prefix"),
            (net("192.168.1.300/24", "", &[]), "not an IPv4 address"),
            (net("192.168.1.20/33", "", &[]), "prefix from 1 to 32"),
            (net("192.168.1.20/24", "192.168.2.1", &[]), "outside the subnet"),
            (net("192.168.1.20/24", "192.168.1.20", &[]), "own address"),
            (net("192.168.1.20/24", "", &["dns.example"]), "DNS server"),
            (net("0.0.0.0/8", "", &[]), "cannot be a device's address"),
        ] {
            let e = plan(&n).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn each_interface_has_its_plan_and_clashes_fall_back_to_dhcp() {
        let mut n = Network { all: net("10.0.0.5/24", "10.0.0.1", &[]), ..Network::default() };
        let dhcp = Addressing { dns: vec!["9.9.9.9".into()], ..Addressing::default() };
        n.interfaces.insert("eth1".into(), dhcp);
        n.interfaces.insert("eth2".into(), net("192.168.7.2/24", "", &["192.168.7.1"]));
        let (p, problems) = plans(&n);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(matches!(p.for_iface("eth0"), Plan::Static(s) if s.ip.to_string() == "10.0.0.5"));
        assert_eq!(p.for_iface("eth1"), &Plan::Dhcp { extra_dns: vec!["9.9.9.9".parse().unwrap()] });
        assert!(matches!(p.for_iface("eth2"), Plan::Static(s) if s.gateway.is_none()));
        // A second gateway, the same address twice, a wrong name, a wrong table.
        n.interfaces.insert("eth3".into(), net("192.168.8.2/24", "192.168.8.1", &[]));
        n.interfaces.insert("eth4".into(), net("10.0.0.5/16", "", &[]));
        n.interfaces.insert("lo".into(), net("127.0.0.2/8", "", &[]));
        n.interfaces.insert("eth5".into(), net("192.168.9.2", "", &[]));
        let (p, problems) = plans(&n);
        let why = |i: &str| problems.iter().find(|(n, _)| n.as_deref() == Some(i)).map(|(_, w)| w.as_str());
        assert!(why("eth3").unwrap().contains("only one interface can have the default gateway, and every interface"));
        assert!(why("eth4").unwrap().contains("10.0.0.5 is every interface's already"));
        assert!(why("lo").unwrap().contains("not an Ethernet interface"));
        assert!(why("eth5").unwrap().contains("prefix"));
        assert_eq!(problems.len(), 4);
        for i in ["eth3", "eth4", "eth5"] {
            assert_eq!(p.for_iface(i), &Plan::DHCP, "{i} uses DHCP, never half a plan or another's address");
        }
    }

    #[test]
    fn proxies() {
        let p = |s: &str| proxy(&Network { proxy: s.into(), ..Network::default() });
        assert_eq!(p(""), Ok(None));
        assert_eq!(p("http://proxy.example:3128"), Ok(Some("http://proxy.example:3128".into())));
        assert!(p("proxy.example:3128").is_err());
        assert!(p("http://").is_err());
        assert!(p("http://user:pw@proxy").unwrap_err().contains("user:password"));
    }
}
