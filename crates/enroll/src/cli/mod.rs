//! `quill-enroll`: enrollment with the management server from the console
//! (devices without a display, scripts), its state, renewal, the hello, and
//! the device service that renews in time (`watch`).
//!
//! Exit codes: 0 success; 1 error (unreachable, server error, files);
//! 2 usage; 3 refused (fingerprint mismatch, credentials refused, not
//! confirmed).

use crate::{locate, now, Device, Error, State, Store};
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "quill-enroll",
    version,
    about = "Enroll this device with its management server (EST) and keep it enrolled"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// The folder on DATA that holds enrollment.json.
    #[arg(long, default_value = "/data/quill")]
    data: PathBuf,
    /// Where /proc, /sys and /etc are found (tests).
    #[arg(long, default_value = "/", hide = true)]
    root: PathBuf,
    /// The network's state (leases with DHCP option 43).
    #[arg(long, default_value = net::status::RUN_DIR, hide = true)]
    net_dir: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Enroll: confirm the server's certificate, type the one-time password.
    Enroll {
        /// host or host:port (default: DHCP option 43, or quill-mgmt in the search domain).
        address: Option<String>,
        /// SHA-256 of the server's certificate, 64 hex digits (colons and spaces allowed).
        /// Without it the device shows what the server presents and asks.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Read the one-time password as one line from standard input (scripts).
        #[arg(long)]
        otp_stdin: bool,
    },
    /// Show the enrollment: server, certificate validity, renewal.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Renew the certificate now (with --if-due only after two thirds of its validity).
    Renew {
        #[arg(long)]
        if_due: bool,
    },
    /// Call the management server over mutual TLS and show its answer.
    Hello,
    /// Forget the enrollment (the key and certificates are removed).
    Leave,
    /// The device service: renews when due, retries failures.
    Watch,
}

fn device(cli: &Cli) -> Result<Device, Error> {
    Device::read(&cli.root)
}

fn normalise_fingerprint(s: &str) -> Result<String, Error> {
    match crate::input::fingerprint(s) {
        crate::input::Fingerprint::Complete(hex) => Ok(hex),
        _ => Err(Error::Local(format!(
            "{s:?} is not a SHA-256 fingerprint: give 64 hex digits, as the server's status page shows them"
        ))),
    }
}

fn grouped(fp: &str) -> String {
    fp.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// Asks the server for its certificate's fingerprint (a handshake that
/// pins nothing and so fails with what was presented).
fn presented(address: &str) -> Result<String, Error> {
    let trust = crate::tls::ServerTrust::default();
    let server = crate::est::Server { address, trust: &trust, timeout: crate::TIMEOUT };
    match server.cacerts() {
        Err(Error::Mismatch { presented }) => Ok(presented),
        Err(e) => Err(e),
        Ok(_) => Err(Error::Local("the server was trusted without a fingerprint".into())),
    }
}

fn ask_line(prompt: &str) -> Option<String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut s = String::new();
    match std::io::stdin().lock().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim().to_string()),
    }
}

fn cmd_enroll(cli: &Cli, address: Option<String>, fingerprint: Option<String>, otp_stdin: bool) -> Result<(), Error> {
    let store = Store::new(&cli.data);
    let found = locate::find(&cli.net_dir, &locate::resolves);
    let (address, from_dhcp) = match (address, &found) {
        (Some(a), _) => (a, None),
        (None, Some(f)) => {
            println!("management server {} (from {})", f.address, f.source);
            (f.address.clone(), f.fingerprint.clone().filter(|_| f.source == "DHCP option 43"))
        }
        (None, None) => return Err(Error::Local(
            "no management server address: give one (quill-enroll enroll HOST[:PORT]), or have DHCP send option 43 \
                 or name it quill-mgmt in the search domain"
                .into(),
        )),
    };
    let fingerprint = match (fingerprint, from_dhcp) {
        (Some(f), _) => normalise_fingerprint(&f)?,
        (None, Some(f)) => {
            println!("certificate fingerprint from DHCP option 43: {}", grouped(&f));
            f
        }
        (None, None) => {
            let p = presented(&address)?;
            println!("The server presents a certificate with the SHA-256 fingerprint\n  {}", grouped(&p));
            match ask_line("Does it match the fingerprint on the server's status page? [y/N] ").as_deref() {
                Some("y" | "Y" | "yes") => p,
                _ => return Err(Error::Local("not confirmed: nothing was sent to the server".into())),
            }
        }
    };
    let otp = if otp_stdin {
        ask_line("")
    } else {
        adminlock::tty::read_secret("One-time password: ", &mut std::io::stdout()).ok().flatten()
    }
    .filter(|s| !s.is_empty())
    .ok_or_else(|| Error::Local("no one-time password given".into()))?;
    let dev = device(cli)?;
    let (e, answer) = crate::connect(&store, &dev, &address, &fingerprint, &otp, now())?;
    println!("enrolled with {} as {} until {}", e.address, e.unit_id, crate::date(e.not_after));
    println!("connection ready: {}", message(&answer));
    Ok(())
}

fn message(answer: &serde_json::Value) -> String {
    answer.get("message").and_then(|m| m.as_str()).map(str::to_string).unwrap_or_else(|| answer.to_string())
}

fn cmd_status(cli: &Cli, json: bool) -> Result<(), Error> {
    let store = Store::new(&cli.data);
    let state = crate::state(&store);
    if json {
        let v = match &state {
            State::NotEnrolled => serde_json::json!({ "enrolled": false }),
            State::Enrolled { address, until } => {
                serde_json::json!({ "enrolled": true, "address": address, "until": until })
            }
            State::RenewalFailed { address, until, reason } => {
                serde_json::json!({ "enrolled": true, "address": address, "until": until, "renewal_failed": reason })
            }
            State::Unreadable(r) => serde_json::json!({ "enrolled": false, "error": r }),
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("{}", describe(&state));
    }
    match state {
        State::Unreadable(r) => Err(Error::Store(r)),
        _ => Ok(()),
    }
}

fn describe(s: &State) -> String {
    match s {
        State::NotEnrolled => "not enrolled".into(),
        State::Enrolled { address, until } => format!("enrolled to {address} until {}", crate::date(*until)),
        State::RenewalFailed { address, until, reason } => {
            format!("enrolled to {address} until {}; renewal failed: {reason}", crate::date(*until))
        }
        State::Unreadable(r) => format!("enrollment unreadable: {r}"),
    }
}

fn cmd_renew(cli: &Cli, if_due: bool) -> Result<(), Error> {
    let store = Store::new(&cli.data);
    let e = store.load()?.ok_or(Error::NotEnrolled)?;
    if if_due && now() < e.renew_at() {
        println!("renewal not due before {}", crate::date(e.renew_at()));
        return Ok(());
    }
    let e = crate::renew(&store, now())?;
    println!("renewed: enrolled to {} until {}", e.address, crate::date(e.not_after));
    Ok(())
}

/// The service: sleeps until renewal is due (at most an hour at a time, so
/// a clock set from NTP is seen), renews, and after a failure tries again
/// in ten minutes, growing to an hour.
fn cmd_watch(cli: &Cli) -> Result<(), Error> {
    let store = Store::new(&cli.data);
    let mut retry = Duration::from_secs(600);
    loop {
        let wait = match store.load() {
            Ok(Some(e)) if now() >= e.renew_at() => match crate::renew(&store, now()) {
                Ok(e) => {
                    println!("quill: enrollment renewed until {}", crate::date(e.not_after));
                    retry = Duration::from_secs(600);
                    Duration::from_secs(3600)
                }
                Err(err) => {
                    println!("quill: enrollment renewal failed: {err}");
                    let w = retry;
                    retry = (retry * 2).min(Duration::from_secs(3600));
                    w
                }
            },
            Ok(Some(e)) => Duration::from_secs((e.renew_at() - now()).clamp(1, 3600) as u64),
            Ok(None) => Duration::from_secs(3600),
            Err(err) => {
                println!("quill: enrollment unreadable: {err}");
                Duration::from_secs(3600)
            }
        };
        std::thread::sleep(wait);
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let store = Store::new(&cli.data);
    let r = match &cli.cmd {
        Cmd::Enroll { address, fingerprint, otp_stdin } => {
            cmd_enroll(&cli, address.clone(), fingerprint.clone(), *otp_stdin)
        }
        Cmd::Status { json } => cmd_status(&cli, *json),
        Cmd::Renew { if_due } => cmd_renew(&cli, *if_due),
        Cmd::Hello => device(&cli).and_then(|d| crate::hello(&store, &d)).map(|a| println!("{}", message(&a))),
        Cmd::Leave => store.remove().map(|had| {
            println!("{}", if had { "enrollment removed" } else { "not enrolled" });
        }),
        Cmd::Watch => cmd_watch(&cli),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quill-enroll: {e}");
            ExitCode::from(match e {
                Error::Mismatch { .. } | Error::Refused { .. } => 3,
                _ => 1,
            })
        }
    }
}
