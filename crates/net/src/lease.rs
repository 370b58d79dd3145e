//! What udhcpc (busybox) hands its script: the event as the first argument,
//! the lease as environment variables (`interface`, `ip`, `mask`, `router`,
//! `dns`, `domain`, `search`, `ntpsrv`, `lease`, `staticroutes`, and the
//! options busybox has no name for as `optNN` in hex, such as option 43).
//! Parsed into a typed [`Lease`]; a malformed option is dropped with the
//! reason (the rest of the lease still applies), a malformed address or
//! prefix refuses the lease.

use std::net::Ipv4Addr;

/// One event of udhcpc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Start, or the lease is gone: the interface holds no address.
    Deconfig,
    /// A new lease.
    Bound(Lease),
    /// The lease was renewed (or rebound), possibly with other options.
    Renew(Lease),
    /// No server answered (udhcpc gives up a round).
    LeaseFail,
    /// The server refused the address.
    Nak,
}

/// A static route (option 121): destination, prefix, gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub dest: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    pub iface: String,
    pub ip: Option<Ipv4Addr>,
    pub prefix: u8,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    /// Option 42.
    pub ntp: Vec<Ipv4Addr>,
    /// Option 121; when present, clients ignore the routers (RFC 3442).
    pub routes: Vec<Route>,
    /// Option 43, raw (sub-options: crate::vendor).
    pub vendor: Option<Vec<u8>>,
    pub lease_secs: Option<u32>,
    /// Options that were dropped, with why.
    pub dropped: Vec<String>,
}

fn ips(v: &str) -> Result<Vec<Ipv4Addr>, String> {
    v.split_whitespace().map(|a| a.parse::<Ipv4Addr>().map_err(|_| format!("{a:?} is not an IPv4 address"))).collect()
}

/// A domain name as DHCP may carry it: letters, digits, `-`, `.`, no
/// control characters (it ends up in /etc/resolv.conf and on screen).
fn domain_name(v: &str) -> Result<String, String> {
    let ok = !v.is_empty() && v.len() <= 253 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!("{:?} is not a domain name", v.escape_debug().to_string()))
    }
}

fn routes(v: &str) -> Result<Vec<Route>, String> {
    let w: Vec<&str> = v.split_whitespace().collect();
    if !w.len().is_multiple_of(2) {
        return Err("an odd number of words".into());
    }
    w.chunks(2)
        .map(|p| {
            let (net, gw) = (p[0], p[1]);
            let (dest, prefix) = net.split_once('/').ok_or_else(|| format!("{net:?} has no /prefix"))?;
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("{net:?}: bad prefix"))?;
            Ok(Route {
                dest: dest.parse().map_err(|_| format!("{dest:?} is not an address"))?,
                prefix,
                gateway: gw.parse().map_err(|_| format!("{gw:?} is not an address"))?,
            })
        })
        .collect()
}

fn prefix_of(mask: &str) -> Option<u8> {
    if let Ok(p) = mask.parse::<u8>() {
        return (p <= 32).then_some(p);
    }
    let m = u32::from(mask.parse::<Ipv4Addr>().ok()?);
    (m.leading_ones() + m.trailing_zeros() == 32).then_some(m.leading_ones() as u8)
}

impl Lease {
    /// Reads a lease from udhcpc's variables (`get` looks one up).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Lease, String> {
        let iface = get("interface").ok_or("no interface")?;
        if iface.is_empty() || iface.len() > 15 || iface.contains('/') || iface.chars().any(|c| c.is_control()) {
            return Err(format!("{iface:?} is not an interface name"));
        }
        let mut l = Lease { iface, ..Lease::default() };
        let ip = get("ip").ok_or("the lease has no address")?;
        l.ip = Some(ip.parse().map_err(|_| format!("the leased address {ip:?} is not an IPv4 address"))?);
        let mask = get("mask").or_else(|| get("subnet")).ok_or("the lease has no subnet mask")?;
        l.prefix = prefix_of(&mask).ok_or_else(|| format!("the subnet mask {mask:?} is not valid"))?;
        let mut drop = |what: &str, why: String| l.dropped.push(format!("{what}: {why}"));
        let mut list = |key: &str, what: &str| -> Vec<Ipv4Addr> {
            match get(key).map(|v| ips(&v)) {
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    drop(what, e);
                    vec![]
                }
                None => vec![],
            }
        };
        let routers = list("router", "router (3)");
        let dns = list("dns", "DNS servers (6)");
        let ntp = list("ntpsrv", "NTP servers (42)");
        let mut dropped = Vec::new();
        let domain =
            get("domain").and_then(|d| domain_name(&d).map_err(|e| dropped.push(format!("domain (15): {e}"))).ok());
        let search = match get("search").map(|v| v.split_whitespace().map(domain_name).collect::<Result<Vec<_>, _>>()) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                dropped.push(format!("search (119): {e}"));
                vec![]
            }
            None => vec![],
        };
        let static_routes = match get("staticroutes").map(|v| routes(&v)) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                dropped.push(format!("static routes (121): {e}"));
                vec![]
            }
            None => vec![],
        };
        let vendor = match get("opt43").map(|h| hex::decode(h.trim())) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                dropped.push(format!("vendor information (43): not hex ({e})"));
                None
            }
            None => None,
        };
        let lease_secs = get("lease").and_then(|v| v.parse().ok());
        l.routers = routers;
        l.dns = dns;
        l.ntp = ntp;
        l.domain = domain;
        l.search = search;
        l.routes = static_routes;
        l.vendor = vendor;
        l.lease_secs = lease_secs;
        l.dropped.extend(dropped);
        Ok(l)
    }

    /// The gateway of the default route: option 121's default route when it
    /// is there (RFC 3442: routers are then ignored), else the first router.
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        if !self.routes.is_empty() {
            return self.routes.iter().find(|r| r.prefix == 0).map(|r| r.gateway);
        }
        self.routers.first().copied()
    }
}

impl Event {
    /// udhcpc's script argument and variables.
    pub fn parse(arg: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Event, String> {
        Ok(match arg {
            "deconfig" => Event::Deconfig,
            "bound" => Event::Bound(Lease::from_env(get)?),
            "renew" => Event::Renew(Lease::from_env(get)?),
            "leasefail" => Event::LeaseFail,
            "nak" => Event::Nak,
            other => return Err(format!("unknown udhcpc event {other:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn a_lease_from_qemus_dhcp_server() {
        let e = env(&[
            ("interface", "eth0"),
            ("ip", "10.0.2.15"),
            ("mask", "24"),
            ("subnet", "255.255.255.0"),
            ("router", "10.0.2.2"),
            ("dns", "10.0.2.3"),
            ("lease", "86400"),
            ("ntpsrv", "10.0.2.2 10.0.2.9"),
            ("search", "example.test corp.example"),
            ("opt43", "010d6d676d742e6578616d706c65"),
        ]);
        let Event::Bound(l) = Event::parse("bound", &e).unwrap() else { panic!() };
        assert_eq!(l.ip, Some(Ipv4Addr::new(10, 0, 2, 15)));
        assert_eq!((l.prefix, l.gateway()), (24, Some(Ipv4Addr::new(10, 0, 2, 2))));
        assert_eq!(l.dns, [Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(l.ntp.len(), 2);
        assert_eq!(l.search, ["example.test", "corp.example"]);
        assert_eq!(l.vendor.as_deref(), Some(&b"\x01\x0dmgmt.example"[..]));
        assert_eq!(l.lease_secs, Some(86400));
        assert!(l.dropped.is_empty());
    }

    #[test]
    fn malformed_options_are_dropped_with_the_reason_and_the_rest_applies() {
        let e = env(&[
            ("interface", "eth0"),
            ("ip", "192.168.7.20"),
            ("subnet", "255.255.255.0"),
            ("router", "192.168.7.1"),
            ("dns", "192.168.7.1 not-an-ip"),
            ("domain", "evil\n.example"),
            ("staticroutes", "10.0.0.0/8 192.168.7.254 0.0.0.0/0 192.168.7.2"),
            ("opt43", "zz"),
        ]);
        let l = Lease::from_env(&e).unwrap();
        assert_eq!(l.prefix, 24);
        assert!(l.dns.is_empty());
        assert_eq!(l.domain, None);
        assert_eq!(l.vendor, None);
        assert_eq!(l.gateway(), Some(Ipv4Addr::new(192, 168, 7, 2)), "option 121 wins over the router");
        assert_eq!(l.dropped.len(), 3, "{:?}", l.dropped);
        assert!(l.dropped.iter().any(|d| d.contains("DNS") && d.contains("not-an-ip")));
    }

    #[test]
    fn a_lease_without_a_usable_address_is_refused() {
        assert!(Lease::from_env(&env(&[("interface", "eth0"), ("mask", "24")])).is_err());
        assert!(Lease::from_env(&env(&[("interface", "eth0"), ("ip", "10.0.0.300"), ("mask", "24")])).is_err());
        assert!(Lease::from_env(&env(&[("interface", "eth0"), ("ip", "10.0.0.3"), ("subnet", "255.0.255.0")])).is_err());
        assert!(Lease::from_env(&env(&[("interface", "../x"), ("ip", "10.0.0.3"), ("mask", "8")])).is_err());
        assert!(Event::parse("fried", &env(&[])).is_err());
        assert_eq!(Event::parse("leasefail", &env(&[])).unwrap(), Event::LeaseFail);
    }
}
