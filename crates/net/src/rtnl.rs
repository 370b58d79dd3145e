//! The kernel's routing netlink, through netlink-packet-route and
//! netlink-sys: list links, bring one up, replace an interface's IPv4
//! address and routes, and watch links come and go and carriers change.
//! The only module here with network side effects; the daemon and the
//! DHCP hook reach it through the [`Links`] trait, so their logic is tested
//! without a kernel.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkLayerType, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::{IpAddr, Ipv4Addr};

/// One network interface as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub ethernet: bool,
    pub up: bool,
    /// A cable (a link partner) is there.
    pub carrier: bool,
    pub mac: Option<[u8; 6]>,
}

/// What the daemon and the hook need from the kernel.
pub trait Links {
    fn list(&mut self) -> Result<Vec<Link>, String>;
    fn set_up(&mut self, index: u32) -> Result<(), String>;
    /// Replaces the interface's IPv4 addresses and routes with these.
    fn apply(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        routes: &[crate::lease::Route],
    ) -> Result<(), String>;
    /// Removes the interface's IPv4 addresses (and with them its routes).
    fn clear(&mut self, index: u32) -> Result<(), String>;
}

/// A netlink socket for requests.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

fn nl_err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("netlink {what}: {e}")
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, String> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(nl_err("socket"))?;
        socket.bind_auto().map_err(nl_err("bind"))?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(nl_err("connect"))?;
        Ok(Rtnl { socket, seq: 1 })
    }

    /// Sends one request and collects the answers until the ACK or the end
    /// of a dump.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>, String> {
        self.seq += 1;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = flags;
        hdr.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(nl_err("send"))?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 << 10];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0).map_err(nl_err("recv"))?;
            let mut at = 0;
            while at < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[at..n])
                    .map_err(|e| format!("netlink: an answer does not parse: {e}"))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(out),
                                Some(code) => Err(std::io::Error::from_raw_os_error(-code.get()).to_string()),
                            }
                        }
                        NetlinkPayload::InnerMessage(inner) => out.push(inner),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
            }
        }
    }

    fn addresses(&mut self, index: u32) -> Result<Vec<AddressMessage>, String> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let all = self.request(RouteNetlinkMessage::GetAddress(req), NLM_F_REQUEST | NLM_F_DUMP)?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => Some(a),
                _ => None,
            })
            .collect())
    }

    fn add_route(&mut self, index: u32, dest: Ipv4Addr, prefix: u8, gateway: Ipv4Addr) -> Result<(), String> {
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.destination_prefix_length = prefix;
        r.header.table = RouteHeader::RT_TABLE_MAIN;
        r.header.protocol = RouteProtocol::Dhcp;
        r.header.scope = RouteScope::Universe;
        r.header.kind = RouteType::Unicast;
        if prefix > 0 {
            r.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(dest)));
        }
        r.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        r.attributes.push(RouteAttribute::Oif(index));
        self.request(RouteNetlinkMessage::NewRoute(r), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE)
            .map(|_| ())
            .map_err(|e| format!("route {dest}/{prefix} via {gateway}: {e}"))
    }
}

fn parse_link(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        name: String::new(),
        ethernet: m.header.link_layer_type == LinkLayerType::Ether,
        up: m.header.flags.contains(LinkFlags::Up),
        carrier: m.header.flags.contains(LinkFlags::LowerUp),
        mac: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => l.mac = b.as_slice().try_into().ok(),
            _ => {}
        }
    }
    l
}

impl Links for Rtnl {
    fn list(&mut self) -> Result<Vec<Link>, String> {
        let all = self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_REQUEST | NLM_F_DUMP)?;
        Ok(all
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })
            .collect())
    }

    fn set_up(&mut self, index: u32) -> Result<(), String> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_REQUEST | NLM_F_ACK).map(|_| ())
    }

    fn apply(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        routes: &[crate::lease::Route],
    ) -> Result<(), String> {
        // Other addresses of ours go (a changed lease); the new one is added
        // (or replaced, keeping open connections when it is the same).
        for a in self.addresses(index)? {
            let same = a.attributes.iter().any(|x| matches!(x, AddressAttribute::Local(IpAddr::V4(v)) if *v == ip))
                && a.header.prefix_len == prefix;
            if !same {
                self.request(RouteNetlinkMessage::DelAddress(a), NLM_F_REQUEST | NLM_F_ACK)?;
            }
        }
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet;
        a.header.prefix_len = prefix;
        a.header.index = index;
        a.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        a.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        if prefix < 31 {
            let host = if prefix == 0 { u32::MAX } else { u32::MAX >> prefix };
            a.attributes.push(AddressAttribute::Broadcast(Ipv4Addr::from(u32::from(ip) | host)));
        }
        self.request(RouteNetlinkMessage::NewAddress(a), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE)
            .map_err(|e| format!("address {ip}/{prefix}: {e}"))?;
        for r in routes.iter().filter(|r| r.prefix > 0) {
            self.add_route(index, r.dest, r.prefix, r.gateway)?;
        }
        if let Some(g) = gateway {
            self.add_route(index, Ipv4Addr::UNSPECIFIED, 0, g)?;
        }
        Ok(())
    }

    fn clear(&mut self, index: u32) -> Result<(), String> {
        for a in self.addresses(index)? {
            self.request(RouteNetlinkMessage::DelAddress(a), NLM_F_REQUEST | NLM_F_ACK)?;
        }
        Ok(())
    }
}

/// A socket that hears links appear, go and change their carrier.
pub struct LinkWatch {
    socket: Socket,
}

/// RTMGRP_LINK.
const GROUP_LINK: u32 = 1;

impl LinkWatch {
    pub fn open() -> Result<LinkWatch, String> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(nl_err("socket"))?;
        socket.bind(&SocketAddr::new(0, GROUP_LINK)).map_err(nl_err("bind"))?;
        socket.set_non_blocking(true).map_err(nl_err("non-blocking"))?;
        Ok(LinkWatch { socket })
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.socket.as_fd()
    }

    /// The link changes waiting on the socket: (link, removed).
    pub fn drain(&mut self) -> Vec<(Link, bool)> {
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 << 10];
        while let Ok(n) = self.socket.recv(&mut &mut rx[..], 0) {
            let mut at = 0;
            while at < n {
                let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[at..n]) else { break };
                let len = msg.header.length as usize;
                match msg.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => out.push((parse_link(&l), false)),
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => out.push((parse_link(&l), true)),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
            }
        }
        out
    }
}
