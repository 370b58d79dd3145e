//! Finding the management server without typing: DHCP option 43
//! (vendor class `quill-dhcp-1`, sub-option 1 the address, 2 the
//! fingerprint; crates/net/src/vendor.rs), or else the name `quill-mgmt`
//! in the lease's search domain when it resolves.
//!
//! The trade-off (docs/management-api.md): a fingerprint from DHCP is
//! trusted without a person confirming it, so whoever controls the DHCP
//! server of that network controls which server the device enrolls with.
//! That is the same trust an administrator already gives that network for
//! the address itself; a fingerprint found any other way (DNS) is shown for
//! a person to confirm.

use std::net::ToSocketAddrs;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// `host` or `host:port`.
    pub address: String,
    /// From DHCP: trusted without confirmation.
    pub fingerprint: Option<String>,
    /// Where it came from, for the user: "DHCP option 43" or "DNS".
    pub source: &'static str,
}

/// Looks at the leases in `net_run_dir` (`/run/quill/net`); `resolves`
/// answers whether a name has an address (DNS on the device).
pub fn find(net_run_dir: &Path, resolves: &dyn Fn(&str) -> bool) -> Option<Found> {
    let leases = net::status::leases(net_run_dir);
    for l in &leases {
        if let Some(v) = &l.vendor {
            if let Some(a) = &v.mgmt_address {
                return Some(Found {
                    address: a.clone(),
                    fingerprint: v.mgmt_fingerprint.clone(),
                    source: "DHCP option 43",
                });
            }
        }
    }
    for l in &leases {
        for domain in &l.search {
            let name = format!("quill-mgmt.{}", domain.trim_end_matches('.'));
            if resolves(&name) {
                return Some(Found { address: name, fingerprint: None, source: "DNS" });
            }
        }
    }
    None
}

/// Name resolution through the C library (the device's resolv.conf).
pub fn resolves(name: &str) -> bool {
    (name, 443).to_socket_addrs().map(|mut a| a.next().is_some()).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use net::status::{Applied, Source};
    use net::vendor::Vendor;

    fn lease(dir: &Path, iface: &str, vendor: Option<Vendor>, search: &[&str]) {
        let a = Applied {
            iface: iface.into(),
            ip: "10.0.0.5".parse().unwrap(),
            prefix: 24,
            gateway: None,
            dns: vec![],
            search: search.iter().map(|s| s.to_string()).collect(),
            ntp: vec![],
            vendor,
            source: Source::Dhcp,
        };
        net::status::write_applied(dir, &a).unwrap();
    }

    #[test]
    fn option_43_first_then_the_search_domain() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(find(t.path(), &|_| true), None);
        lease(t.path(), "eth0", None, &["lab.test"]);
        assert_eq!(find(t.path(), &|_| false), None, "quill-mgmt does not resolve");
        let f = find(t.path(), &|n| n == "quill-mgmt.lab.test").unwrap();
        assert_eq!((f.address.as_str(), f.fingerprint, f.source), ("quill-mgmt.lab.test", None, "DNS"));
        let v = Vendor {
            mgmt_address: Some("mgmt.example:8443".into()),
            mgmt_fingerprint: Some("ab".repeat(32)),
            ..Default::default()
        };
        lease(t.path(), "eth1", Some(v), &[]);
        let f = find(t.path(), &|_| true).unwrap();
        assert_eq!(f.address, "mgmt.example:8443");
        assert_eq!(f.fingerprint, Some("ab".repeat(32)));
        assert_eq!(f.source, "DHCP option 43");
    }
}
