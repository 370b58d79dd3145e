//! udhcpc's script (`/usr/lib/quill/dhcp-hook`, this binary under that
//! name): applies a lease through netlink, keeps it in /run/quill/net for
//! the status readers, rewrites /etc/resolv.conf, prints the console line,
//! and tells the daemon (SIGUSR1) so it syncs the time.

use crate::lease::Event;
use crate::rtnl::Links;
use crate::status::{self, Applied, Source};
use crate::vendor::Vendor;
use std::path::Path;

/// Console lines go to stdout, which udhcpc inherited from the daemon.
fn say(line: &str) {
    println!("{line}");
}

/// Handles one udhcpc event; returns the lines for the console.
pub fn handle(event: &Event, links: &mut dyn Links, run_dir: &Path, iface: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let link = |links: &mut dyn Links| -> Result<u32, String> {
        links
            .list()?
            .into_iter()
            .find(|l| l.name == iface)
            .map(|l| l.index)
            .ok_or_else(|| format!("no interface {iface}"))
    };
    match event {
        Event::Deconfig => {
            let had = status::read_applied(run_dir, iface).is_some_and(|a| a.source == Source::Dhcp);
            let idx = link(links)?;
            links.clear(idx)?;
            status::clear_applied(run_dir, iface);
            if had {
                out.push(format!("quill: network {iface} lost lease"));
            }
        }
        Event::Bound(l) | Event::Renew(l) => {
            let idx = link(links)?;
            let ip = l.ip.ok_or("the lease has no address")?;
            for d in &l.dropped {
                out.push(format!("quill: network {iface}: DHCP option ignored: {d}"));
            }
            let vendor = l.vendor.as_deref().map(Vendor::parse);
            for d in vendor.iter().flat_map(|v| &v.dropped) {
                out.push(format!("quill: network {iface}: option 43: {d}"));
            }
            let applied = Applied {
                iface: iface.to_string(),
                ip,
                prefix: l.prefix,
                gateway: l.gateway(),
                dns: l.dns.clone(),
                search: l.search.iter().cloned().chain(l.domain.clone()).collect(),
                ntp: l.ntp.clone(),
                vendor,
                source: Source::Dhcp,
            };
            let before = status::read_applied(run_dir, iface);
            links.apply(idx, ip, l.prefix, applied.gateway, &l.routes)?;
            status::write_applied(run_dir, &applied)?;
            // Said again when the carrier came back (the daemon asked for
            // this renewal) or when something changed.
            let relinked = status::take_relinked(run_dir, iface);
            if matches!(event, Event::Bound(_)) || relinked || before.as_ref() != Some(&applied) {
                out.push(applied.console_line());
            }
        }
        Event::LeaseFail => out.push(format!("quill: network {iface} no lease (no DHCP server answered)")),
        Event::Nak => out.push(format!("quill: network {iface}: the DHCP server refused the address; asking again")),
    }
    Ok(out)
}

/// The resolver's configuration from every applied address.
pub fn write_resolv_conf(run_dir: &Path, extra_dns: &[std::net::Ipv4Addr], path: &Path) -> Result<(), String> {
    let applied: Vec<Applied> = status::read_all(run_dir).into_iter().filter_map(|i| i.applied).collect();
    devconfig::write_atomic(path, status::resolv_conf(&applied, extra_dns).as_bytes()).map_err(|e| e.to_string())
}

/// Runs as udhcpc's script; never fails udhcpc (it would stop).
pub fn run(arg: &str) -> ! {
    let get = |k: &str| std::env::var(k).ok();
    let iface = get("interface").unwrap_or_default();
    let event = match Event::parse(arg, &get) {
        Ok(e) => e,
        Err(e) => {
            say(&format!("quill: network {iface}: a DHCP answer was refused: {e}"));
            std::process::exit(0);
        }
    };
    let run_dir = Path::new(status::RUN_DIR);
    let result = crate::rtnl::Rtnl::open().and_then(|mut r| handle(&event, &mut r, run_dir, &iface));
    match result {
        Ok(lines) => lines.iter().for_each(|l| say(l)),
        Err(e) => say(&format!("quill: network {iface}: applying the DHCP lease failed: {e}")),
    }
    let extra: Vec<std::net::Ipv4Addr> =
        get("QUILL_EXTRA_DNS").unwrap_or_default().split(',').filter_map(|d| d.parse().ok()).collect();
    if let Err(e) = write_resolv_conf(run_dir, &extra, Path::new("/etc/resolv.conf")) {
        say(&format!("quill: network: /etc/resolv.conf: {e}"));
    }
    if let Some(pid) = get("QUILL_NETD_PID").and_then(|p| p.parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1);
    }
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::Lease;
    use crate::rtnl::Link;
    use std::net::Ipv4Addr;

    #[derive(Default)]
    struct Fake {
        applied: Vec<(u32, Ipv4Addr, u8, Option<Ipv4Addr>)>,
        cleared: Vec<u32>,
    }

    impl Links for Fake {
        fn list(&mut self) -> Result<Vec<Link>, String> {
            Ok(vec![Link { index: 2, name: "eth0".into(), ethernet: true, up: true, carrier: true, mac: None }])
        }
        fn set_up(&mut self, _: u32) -> Result<(), String> {
            Ok(())
        }
        fn apply(
            &mut self,
            i: u32,
            ip: Ipv4Addr,
            p: u8,
            g: Option<Ipv4Addr>,
            _: &[crate::lease::Route],
        ) -> Result<(), String> {
            self.applied.push((i, ip, p, g));
            Ok(())
        }
        fn clear(&mut self, i: u32) -> Result<(), String> {
            self.cleared.push(i);
            Ok(())
        }
    }

    fn lease() -> Lease {
        Lease {
            iface: "eth0".into(),
            ip: Some(Ipv4Addr::new(10, 0, 2, 15)),
            prefix: 24,
            routers: vec![Ipv4Addr::new(10, 0, 2, 2)],
            dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
            ..Lease::default()
        }
    }

    #[test]
    fn bound_renew_and_loss_each_say_so_once() {
        let t = tempfile::tempdir().unwrap();
        let mut f = Fake::default();
        let lines = handle(&Event::Bound(lease()), &mut f, t.path(), "eth0").unwrap();
        assert_eq!(lines, ["quill: network eth0 up ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3"]);
        assert_eq!(f.applied, [(2, Ipv4Addr::new(10, 0, 2, 15), 24, Some(Ipv4Addr::new(10, 0, 2, 2)))]);
        assert!(handle(&Event::Renew(lease()), &mut f, t.path(), "eth0").unwrap().is_empty(), "nothing changed");
        status::mark_relinked(t.path(), "eth0");
        assert_eq!(handle(&Event::Renew(lease()), &mut f, t.path(), "eth0").unwrap().len(), 1, "the cable came back");
        assert!(handle(&Event::Renew(lease()), &mut f, t.path(), "eth0").unwrap().is_empty());
        let mut moved = lease();
        moved.dns = vec![Ipv4Addr::new(10, 0, 2, 4)];
        assert_eq!(handle(&Event::Renew(moved), &mut f, t.path(), "eth0").unwrap().len(), 1);
        let lines = handle(&Event::Deconfig, &mut f, t.path(), "eth0").unwrap();
        assert_eq!(lines, ["quill: network eth0 lost lease"]);
        assert_eq!(f.cleared, [2]);
        assert!(status::read_applied(t.path(), "eth0").is_none());
        assert!(handle(&Event::Deconfig, &mut f, t.path(), "eth0").unwrap().is_empty(), "said once");
        let lines = handle(&Event::LeaseFail, &mut f, t.path(), "eth0").unwrap();
        assert!(lines[0].contains("no lease"));
        assert!(handle(&Event::Bound(lease()), &mut f, t.path(), "eth9").is_err(), "no such interface");
    }
}
