//! The network settings (devconfig's `[network]`) checked and turned into
//! what to apply. A static configuration that does not hold together is
//! reported with the reason; DHCP is used instead and the file is kept.

use devconfig::{AddressMode, Network};
use std::net::Ipv4Addr;

/// A checked static address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Static {
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
}

/// How the Ethernet interfaces get their address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Dhcp,
    Static(Static),
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

/// The plan for the settings; `Err` says why a static configuration
/// cannot be used (then DHCP runs).
pub fn plan(n: &Network) -> Result<Plan, String> {
    if n.mode == AddressMode::Dhcp {
        return Ok(Plan::Dhcp);
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
    let dns = n
        .dns
        .iter()
        .map(|d| d.parse::<Ipv4Addr>().map_err(|_| format!("the DNS server {d:?} is not an IPv4 address")))
        .collect::<Result<_, _>>()?;
    Ok(Plan::Static(Static { ip, prefix, gateway, dns }))
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

    fn net(address: &str, gateway: &str, dns: &[&str]) -> Network {
        Network {
            mode: AddressMode::Static,
            address: address.into(),
            gateway: gateway.into(),
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ..Network::default()
        }
    }

    #[test]
    fn static_configurations() {
        assert_eq!(plan(&Network::default()), Ok(Plan::Dhcp));
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
    fn proxies() {
        let p = |s: &str| proxy(&Network { proxy: s.into(), ..Network::default() });
        assert_eq!(p(""), Ok(None));
        assert_eq!(p("http://proxy.example:3128"), Ok(Some("http://proxy.example:3128".into())));
        assert!(p("proxy.example:3128").is_err());
        assert!(p("http://").is_err());
        assert!(p("http://user:pw@proxy").unwrap_err().contains("user:password"));
    }
}
