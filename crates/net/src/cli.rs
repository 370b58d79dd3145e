//! `quill-net`: Quill's network service and its tools.
//!
//! - `quill-net daemon`: run by init (service `net`): links, DHCP, static
//!   addresses, time;
//! - `quill-net status [--json]`: each interface's link, address, gateway,
//!   DNS (what the home screen shows);
//! - `quill-net resolve NAME`: the addresses the device's resolver finds;
//! - as `/usr/lib/quill/dhcp-hook` (a link to this binary): udhcpc's script.

use std::path::Path;

const USAGE: &str = "usage: quill-net daemon [--data DIR] | quill-net status [--json] | quill-net resolve NAME";

pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.first().is_some_and(|a| a.rsplit('/').next() == Some("dhcp-hook")) {
        crate::hook::run(args.get(1).map(String::as_str).unwrap_or(""));
    }
    match args.get(1).map(String::as_str) {
        Some("daemon") => {
            let data = args.iter().position(|a| a == "--data").and_then(|i| args.get(i + 1));
            crate::runner::run(Path::new(data.map(String::as_str).unwrap_or("/data/quill")));
        }
        Some("status") => {
            let all = crate::status::read_all(Path::new(crate::status::RUN_DIR));
            if args.iter().any(|a| a == "--json") {
                println!("{}", serde_json::to_string_pretty(&all).expect("status serializes"));
            } else if all.is_empty() {
                println!("no network interface (is the net service running?)");
            } else {
                for i in &all {
                    println!("{}", i.summary());
                }
            }
        }
        // What the device's programs see: the resolver of musl, through
        // /etc/resolv.conf.
        Some("resolve") if args.len() == 3 => {
            use std::net::ToSocketAddrs;
            match (args[2].as_str(), 0u16).to_socket_addrs() {
                Ok(addrs) => {
                    for a in addrs {
                        println!("{} {}", args[2], a.ip());
                    }
                }
                Err(e) => {
                    eprintln!("quill-net: resolving {}: {e}", args[2]);
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
