//! `quill-discovery`: `announce` is the device service (the `_quill._tcp`
//! record, kept up to date, withdrawn when the settings turn it off);
//! `scan` lists the devices on the local network (also `cargo xtask scan`
//! on a host).

use crate::Announcement;
use clap::{Parser, Subcommand};
use mdns_sd::{IfKind, ServiceDaemon};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "quill-discovery",
    version,
    about = "Announce this device with DNS-SD over mDNS, or list the devices that do"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The device service: announce _quill._tcp while [discovery] announce is on.
    Announce {
        /// The settings' and the enrollment's folder on DATA.
        #[arg(long, default_value = "/data/quill")]
        data: PathBuf,
        /// Where /proc, /sys and /etc are found (tests).
        #[arg(long, default_value = "/", hide = true)]
        root: PathBuf,
    },
    /// List the Quill devices on the local network.
    Scan {
        /// How long to listen for answers.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        #[arg(long)]
        json: bool,
    },
}

/// Re-reads the settings and the device's state this often.
const POLL: Duration = Duration::from_secs(5);

fn announce(data: &std::path::Path, root: &std::path::Path) -> Result<(), String> {
    let daemon = ServiceDaemon::new().map_err(|e| format!("starting mDNS: {e}"))?;
    // Never on loopback; addresses that come later (a DHCP lease) are seen
    // within seconds.
    let _ = daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6]);
    let _ = daemon.set_ip_check_interval(POLL.as_secs() as u32);
    let store = devconfig::Store::new(data);
    let mut current: Option<(Announcement, String)> = None;
    loop {
        let on = store.load().map(|(s, _)| s.discovery.announce).unwrap_or(true);
        let want = if on { Announcement::read(root, data) } else { None };
        if want.as_ref() != current.as_ref().map(|(a, _)| a) {
            // A change is announced by registering again (mdns-sd updates
            // the record in place); only switching off unregisters, with a
            // goodbye (TTL 0) so browsers drop the device at once. An
            // unregister followed at once by a register raced with the
            // browsers' 1 s removal of goodbye records (RFC 6762 §10.1).
            if want.is_none() {
                if let Some((_, name)) = current.take() {
                    let _ = daemon.unregister(&name).map(|rx| rx.recv_timeout(Duration::from_secs(2)));
                }
            }
            match &want {
                Some(a) => match crate::announce(&daemon, a) {
                    Ok(name) => {
                        // Said when what the record says changes; a new
                        // address is announced quietly (the console is
                        // also a shell).
                        if current.as_ref().map(|(c, _)| c.txt()) != Some(a.txt()) {
                            let instance = name.strip_suffix(&format!(".{}", crate::SERVICE)).unwrap_or(&name);
                            println!(
                                "quill: discovery announces {instance} as {} (firmware {}, enrolled {})",
                                crate::SERVICE,
                                a.firmware,
                                a.enrolled
                            );
                        }
                        current = Some((a.clone(), name));
                    }
                    Err(e) => println!("quill: discovery: {e}"),
                },
                None if !on => println!("quill: discovery announcement off (settings [discovery])"),
                None => {}
            }
        }
        std::thread::sleep(POLL);
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Announce { data, root } => announce(&data, &root),
        Cmd::Scan { seconds, json } => ServiceDaemon::new()
            .map_err(|e| format!("starting mDNS: {e}"))
            .and_then(|d| crate::scan(&d, Duration::from_secs(seconds), &|_| false))
            .map(|found| {
                if json {
                    println!("{}", serde_json::to_string_pretty(&found).unwrap_or_default());
                } else {
                    println!("{}", crate::table(&found));
                }
            }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quill-discovery: {e}");
            ExitCode::FAILURE
        }
    }
}
