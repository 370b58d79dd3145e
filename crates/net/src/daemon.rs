//! `quill-net daemon`, started by init (service `net`): the decisions for
//! each Ethernet interface, as a state machine fed with link events and
//! client exits and answering with [`Action`]s; `main.rs` carries them out
//! (netlink, udhcpc, the console). Nothing here waits: ready never waits
//! for the network.
//!
//! Per interface: brought up when it appears (at start or hot-plugged);
//! when its carrier comes up, DHCP starts (busybox udhcpc, supervised:
//! restarted with a growing delay when it gives up), or its static address
//! is applied (its own, or the one for every interface: that one goes to
//! the first interface only, the next ones use DHCP and say why); a carrier
//! that drops is reported and the lease kept (short flaps lose nothing:
//! when it comes back, the lease is renewed).

use crate::config::{Plan, Plans};
use crate::rtnl::Link;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// The first delay before udhcpc is started again after it gave up; it
/// doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    SetUp {
        index: u32,
    },
    /// Start udhcpc on the interface.
    StartDhcp {
        iface: String,
    },
    /// Ask the running udhcpc to renew (SIGUSR1): the carrier came back.
    Renew {
        iface: String,
        pid: i32,
    },
    /// Stop udhcpc (SIGTERM).
    Stop {
        pid: i32,
    },
    ApplyStatic {
        iface: String,
        index: u32,
    },
    /// The link's state for the status readers.
    Link {
        iface: String,
        up: bool,
    },
    Forget {
        iface: String,
    },
    Say(String),
}

#[derive(Clone, Debug, Default)]
struct Iface {
    index: u32,
    carrier: bool,
    client: Option<i32>,
    restart_at: Option<Instant>,
    backoff: Option<Duration>,
}

pub struct Netd {
    plans: Plans,
    ifaces: BTreeMap<String, Iface>,
    /// The interface the static address for every interface went to.
    shared_static: Option<String>,
}

impl Netd {
    pub fn new(plans: Plans) -> Netd {
        Netd { plans, ifaces: BTreeMap::new(), shared_static: None }
    }

    /// The plan `name` follows now: its own, or the one for every
    /// interface, unless that is a static address another interface has.
    pub fn plan(&self, name: &str) -> Plan {
        let p = self.plans.for_iface(name);
        let shared = !self.plans.own.contains_key(name) && matches!(p, Plan::Static(_));
        if shared && self.shared_static.as_deref().is_some_and(|h| h != name) {
            return Plan::DHCP;
        }
        p.clone()
    }

    /// The DNS servers given besides a lease's, for udhcpc on `name`.
    pub fn extra_dns(&self, name: &str) -> Vec<Ipv4Addr> {
        match self.plans.for_iface(name) {
            Plan::Dhcp { extra_dns } => extra_dns.clone(),
            Plan::Static(s) => s.dns.clone(),
        }
    }

    fn start(&mut self, name: &str) -> Vec<Action> {
        let Some(index) = self.ifaces.get(name).map(|i| i.index) else { return vec![] };
        let mut out = Vec::new();
        let shared = !self.plans.own.contains_key(name) && matches!(self.plans.all, Plan::Static(_));
        if shared && self.shared_static.is_none() {
            self.shared_static = Some(name.to_string());
        } else if shared && self.shared_static.as_deref() != Some(name) {
            let holder = self.shared_static.clone().unwrap_or_default();
            out.push(Action::Say(format!(
                "quill: network {name}: the static address is {holder}'s; give {name} its own in the Setup \
                 (Network › Ethernet › Interface {name}); DHCP is used"
            )));
        }
        let static_plan = matches!(self.plan(name), Plan::Static(_));
        let Some(i) = self.ifaces.get_mut(name) else { return out };
        i.restart_at = None;
        out.push(match (static_plan, i.client) {
            (true, _) => Action::ApplyStatic { iface: name.into(), index },
            (false, Some(pid)) => Action::Renew { iface: name.into(), pid },
            (false, None) => Action::StartDhcp { iface: name.into() },
        });
        out
    }

    /// A link was listed or changed.
    pub fn link(&mut self, l: &Link) -> Vec<Action> {
        if !l.ethernet || l.name.is_empty() {
            return vec![];
        }
        let mut out = Vec::new();
        let known = self.ifaces.contains_key(&l.name);
        let i = self.ifaces.entry(l.name.clone()).or_default();
        i.index = l.index;
        if !known {
            out.push(Action::Link { iface: l.name.clone(), up: l.carrier });
            if !l.up {
                out.push(Action::SetUp { index: l.index });
            }
        }
        let was = i.carrier && known;
        i.carrier = l.carrier;
        match (was, l.carrier) {
            (false, true) => {
                if known {
                    out.push(Action::Link { iface: l.name.clone(), up: true });
                }
                out.extend(self.start(&l.name));
            }
            (true, false) => {
                out.push(Action::Link { iface: l.name.clone(), up: false });
                out.push(Action::Say(format!("quill: network {} down (no cable or link)", l.name)));
            }
            _ => {}
        }
        out
    }

    /// A link went away (a USB adapter unplugged).
    pub fn removed(&mut self, name: &str) -> Vec<Action> {
        let Some(i) = self.ifaces.remove(name) else { return vec![] };
        if self.shared_static.as_deref() == Some(name) {
            self.shared_static = None;
        }
        let mut out: Vec<Action> = i.client.map(|pid| Action::Stop { pid }).into_iter().collect();
        out.push(Action::Forget { iface: name.into() });
        out.push(Action::Say(format!("quill: network {name} removed")));
        out
    }

    /// udhcpc was started for `name`.
    pub fn started(&mut self, name: &str, pid: i32) {
        if let Some(i) = self.ifaces.get_mut(name) {
            i.client = Some(pid);
        }
    }

    /// A child exited; when it was an interface's udhcpc (it gave up: no
    /// lease), it is started again later, the delay doubling each time.
    pub fn exited(&mut self, pid: i32, now: Instant) -> Vec<Action> {
        let Some((name, i)) = self.ifaces.iter_mut().find(|(_, i)| i.client == Some(pid)) else { return vec![] };
        i.client = None;
        if !i.carrier {
            return vec![];
        }
        let delay = i.backoff.map(|b| (b * 2).min(MAX_BACKOFF)).unwrap_or(FIRST_BACKOFF);
        i.backoff = Some(delay);
        i.restart_at = Some(now + delay);
        vec![Action::Say(format!("quill: network {name}: asking for a lease again in {} s", delay.as_secs()))]
    }

    /// A lease was applied: the next failure starts from the first delay.
    pub fn leased(&mut self, name: &str) {
        if let Some(i) = self.ifaces.get_mut(name) {
            i.backoff = None;
        }
    }

    pub fn next_wakeup(&self) -> Option<Instant> {
        self.ifaces.values().filter_map(|i| i.restart_at).min()
    }

    /// Restarts that are due.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let due: Vec<String> = self
            .ifaces
            .iter()
            .filter(|(_, i)| i.restart_at.is_some_and(|t| t <= now))
            .map(|(n, _)| n.clone())
            .collect();
        due.iter().flat_map(|n| self.start(n)).collect()
    }

    /// The udhcpc of each interface (to stop them at the end).
    pub fn clients(&self) -> Vec<i32> {
        self.ifaces.values().filter_map(|i| i.client).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(carrier: bool, up: bool) -> Link {
        Link {
            index: 2,
            name: "eth0".into(),
            ethernet: true,
            up,
            carrier,
            mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
        }
    }

    #[test]
    fn dhcp_starts_with_the_carrier_survives_a_flap_and_backs_off() {
        let now = Instant::now();
        let mut d = Netd::new(Plans::dhcp());
        // Listed at start, down, no cable yet.
        assert_eq!(
            d.link(&eth(false, false)),
            [Action::Link { iface: "eth0".into(), up: false }, Action::SetUp { index: 2 }]
        );
        // The carrier comes up: DHCP.
        let a = d.link(&eth(true, true));
        assert_eq!(a, [Action::Link { iface: "eth0".into(), up: true }, Action::StartDhcp { iface: "eth0".into() }]);
        d.started("eth0", 40);
        // The cable is pulled and put back: reported, and the lease renewed.
        let a = d.link(&eth(false, true));
        assert!(matches!(&a[1], Action::Say(s) if s.contains("eth0 down")), "{a:?}");
        let a = d.link(&eth(true, true));
        assert_eq!(a[1], Action::Renew { iface: "eth0".into(), pid: 40 });
        // udhcpc gives up: again after 2, 4, 8 ... 60 s.
        let a = d.exited(40, now);
        assert!(matches!(&a[0], Action::Say(s) if s.contains("again in 2 s")), "{a:?}");
        assert_eq!(d.next_wakeup(), Some(now + FIRST_BACKOFF));
        assert!(d.tick(now).is_empty());
        assert_eq!(d.tick(now + FIRST_BACKOFF), [Action::StartDhcp { iface: "eth0".into() }]);
        d.started("eth0", 41);
        d.exited(41, now);
        assert_eq!(d.next_wakeup(), Some(now + 2 * FIRST_BACKOFF));
        for pid in 42..50 {
            d.tick(now + MAX_BACKOFF * 10);
            d.started("eth0", pid);
            d.exited(pid, now);
        }
        assert_eq!(d.next_wakeup(), Some(now + MAX_BACKOFF), "the delay stops growing");
        d.leased("eth0");
        d.started("eth0", 60);
        d.exited(60, now);
        assert_eq!(d.next_wakeup(), Some(now + FIRST_BACKOFF), "a lease resets it");
    }

    #[test]
    fn static_addresses_loopback_and_removal() {
        let now = Instant::now();
        let plan = Plan::Static(crate::config::Static {
            ip: "192.168.1.20".parse().unwrap(),
            prefix: 24,
            gateway: None,
            dns: vec![],
        });
        let mut d = Netd::new(Plans { all: plan, own: BTreeMap::new() });
        let a = d.link(&eth(true, true));
        assert_eq!(
            a,
            [Action::Link { iface: "eth0".into(), up: true }, Action::ApplyStatic { iface: "eth0".into(), index: 2 }]
        );
        let lo = Link { index: 1, name: "lo".into(), ethernet: false, up: false, carrier: true, mac: None };
        assert!(d.link(&lo).is_empty(), "loopback is brought up elsewhere");
        let a = d.removed("eth0");
        assert!(matches!(a.last(), Some(Action::Say(s)) if s.contains("eth0 removed")));
        assert!(d.removed("eth0").is_empty());
        assert!(d.exited(99, now).is_empty(), "not ours");
    }

    #[test]
    fn the_static_address_for_all_goes_to_one_interface_and_own_plans_to_theirs() {
        let st = |ip: &str| {
            Plan::Static(crate::config::Static { ip: ip.parse().unwrap(), prefix: 24, gateway: None, dns: vec![] })
        };
        let mut own = BTreeMap::new();
        own.insert("eth2".to_string(), st("192.168.7.2"));
        let mut d = Netd::new(Plans { all: st("10.0.0.5"), own });
        let link = |index: u32, name: &str| Link { index, name: name.into(), ..eth(true, true) };
        let a = d.link(&link(2, "eth0"));
        assert_eq!(a[1], Action::ApplyStatic { iface: "eth0".into(), index: 2 });
        // A second interface without its own table: DHCP, and why.
        let a = d.link(&link(3, "eth1"));
        assert!(matches!(&a[1], Action::Say(s) if s.contains("eth1: the static address is eth0's")), "{a:?}");
        assert_eq!(a[2], Action::StartDhcp { iface: "eth1".into() });
        assert_eq!(d.plan("eth1"), Plan::DHCP);
        // One with its own table gets its own address.
        let a = d.link(&link(4, "eth2"));
        assert_eq!(a[1], Action::ApplyStatic { iface: "eth2".into(), index: 4 });
        assert_eq!(d.plan("eth2"), st("192.168.7.2"));
        // eth0 unplugged for good: the next interface to come up takes the address.
        d.removed("eth0");
        d.link(&link(3, "eth1"));
        let a = d.link(&Link { carrier: false, ..link(5, "eth3") });
        assert_eq!(a, [Action::Link { iface: "eth3".into(), up: false }]);
        let a = d.link(&link(5, "eth3"));
        assert_eq!(a[1], Action::ApplyStatic { iface: "eth3".into(), index: 5 });
    }
}
