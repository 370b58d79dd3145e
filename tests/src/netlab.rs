//! A network of the test's own: a network namespace holding a TAP device
//! (10.77.0.1/24) that QEMU, started inside the namespace, uses as its
//! NIC; Debian's dnsmasq there for DHCP (router, DNS, NTP, search domain,
//! option 43 for vendor class `quill-dhcp-1`) and DNS; an SNTP server of
//! the test answering with the time it is told. Nothing in the namespace
//! has a route anywhere else: no packet leaves it. Needs root (CI runs as
//! root) and the host packages `iproute2` and `dnsmasq-base`.

use anyhow::{bail, Context, Result};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub const HOST: &str = "10.77.0.1";
const TAP: &str = "tapq";

/// What the lab's DHCP server hands out.
#[derive(Clone, Debug, Default)]
pub struct LabOptions {
    /// Run dnsmasq (DHCP and DNS); without it nobody answers DHCP.
    pub dhcp: bool,
    /// Option 43, sub-option 1 (the management server) for `quill-dhcp-1`.
    pub mgmt_address: Option<String>,
    /// Option 43, sub-option 2 (its certificate's SHA-256, hex).
    pub mgmt_fingerprint: Option<String>,
}

pub struct Lab {
    pub ns: String,
    dnsmasq: Option<Child>,
    /// The time (seconds since 1970) the SNTP server answers with.
    pub ntp_time: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

/// Moves the calling thread into the network namespace at `ns_path`.
fn enter(ns_path: &std::path::Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(ns_path)?;
    // SAFETY: setns on an open namespace file; only this thread moves.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("entering {}: {}", ns_path.display(), std::io::Error::last_os_error());
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output().context("running ip (install iproute2)")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Lab {
    pub fn new(opts: &LabOptions) -> Result<Lab> {
        let ns = format!("quill-lab-{}-{}", std::process::id(), rand_suffix());
        ip(&["netns", "add", &ns])?;
        let dir = tempfile::Builder::new().prefix("quill-lab-").tempdir()?;
        let mut lab = Lab { ns: ns.clone(), dnsmasq: None, ntp_time: Arc::new(AtomicI64::new(0)), _dir: dir };
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &ns, "ip"];
            a.extend_from_slice(args);
            ip(&a)
        };
        inside(&["link", "set", "lo", "up"])?;
        inside(&["tuntap", "add", "dev", TAP, "mode", "tap"])?;
        inside(&["addr", "add", &format!("{HOST}/24"), "dev", TAP])?;
        inside(&["link", "set", TAP, "up"])?;
        lab.start_sntp()?;
        if opts.dhcp {
            lab.start_dhcp(opts)?;
        }
        Ok(lab)
    }

    /// Starts dnsmasq (DHCP and DNS) with `opts`; for a lab made without
    /// it, when the options are only known once the lab exists.
    pub fn start_dhcp(&mut self, opts: &LabOptions) -> Result<()> {
        if self.dnsmasq.is_some() {
            bail!("dnsmasq runs already");
        }
        let leases = self._dir.path().join("leases");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts"])
            .arg(format!("--interface={TAP}"))
            .arg("--bind-interfaces")
            .arg("--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,1h")
            .arg(format!("--dhcp-option=option:router,{HOST}"))
            .arg(format!("--dhcp-option=option:dns-server,{HOST}"))
            .arg(format!("--dhcp-option=option:ntp-server,{HOST}"))
            .arg("--dhcp-option=option:domain-search,lab.test")
            .arg(format!("--host-record=quill-mgmt.lab.test,{HOST}"))
            // The lab's own domain: answered here (an AAAA query gets no
            // data, not REFUSED), never forwarded.
            .arg("--local=/lab.test/")
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg("--pid-file=")
            .arg("--log-facility=-");
        if let Some(m) = &opts.mgmt_address {
            cmd.arg(format!("--dhcp-option=vendor:quill-dhcp-1,1,{m}"));
        }
        if let Some(fp) = &opts.mgmt_fingerprint {
            // dnsmasq sends colon-separated hex as bytes.
            let bytes: Vec<&str> = (0..fp.len()).step_by(2).map(|i| &fp[i..i + 2]).collect();
            cmd.arg(format!("--dhcp-option=vendor:quill-dhcp-1,2,{}", bytes.join(":")));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting dnsmasq (install dnsmasq-base)")?;
        self.dnsmasq = Some(child);
        Ok(())
    }

    /// A TCP listener on HOST:`port` inside the namespace (opened by a
    /// thread that entered it; the socket stays there whoever accepts).
    pub fn listen_tcp(&self, port: u16) -> Result<std::net::TcpListener> {
        let ns_path = PathBuf::from("/var/run/netns").join(&self.ns);
        std::thread::spawn(move || -> Result<std::net::TcpListener> {
            enter(&ns_path)?;
            Ok(std::net::TcpListener::bind((HOST, port))?)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread opening the listener panicked"))?
    }

    /// Runs `f` on a thread inside the namespace (threads it starts stay
    /// there too): an mDNS browser of the test, for instance.
    pub fn run_inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let ns_path = PathBuf::from("/var/run/netns").join(&self.ns);
        std::thread::spawn(move || -> Result<T> {
            enter(&ns_path)?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread inside the namespace panicked"))?
    }

    /// An SNTP server on HOST:123 inside the namespace (a thread that
    /// entered it to open its socket).
    fn start_sntp(&mut self) -> Result<()> {
        let ns_path = PathBuf::from("/var/run/netns").join(&self.ns);
        let time = Arc::clone(&self.ntp_time);
        let (tx, rx) = std::sync::mpsc::channel::<Result<()>>();
        std::thread::spawn(move || {
            let socket = (|| -> Result<UdpSocket> {
                enter(&ns_path)?;
                Ok(UdpSocket::bind((HOST, 123))?)
            })();
            let socket = match socket {
                Ok(s) => {
                    let _ = tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let t = time.load(Ordering::SeqCst);
                if n < 48 || t == 0 {
                    continue;
                }
                let _ = socket.send_to(&ntp_answer(&buf[..48], t), from);
            }
        });
        rx.recv().context("the SNTP thread")?
    }

    /// QEMU's NIC on the lab's TAP device; QEMU runs inside the namespace.
    pub fn attach(&self, cfg: &mut quill_qemu::Config) {
        cfg.tap = Some(TAP.into());
        cfg.netns = Some(self.ns.clone());
    }
}

/// A server's answer (mode 4, stratum 1) to a client's 48-byte request,
/// saying it is `t` seconds after 1970.
fn ntp_answer(req: &[u8], t: i64) -> [u8; 48] {
    let mut a = [0u8; 48];
    let version = (req[0] >> 3) & 7;
    a[0] = (version << 3) | 4;
    a[1] = 1;
    a[3] = 0xec; // precision
    a[12..16].copy_from_slice(b"QUIL");
    let ntp = ((t + 2_208_988_800) as u64) << 32;
    a[16..24].copy_from_slice(&ntp.to_be_bytes()); // reference
    a[24..32].copy_from_slice(&req[40..48]); // origin: the client's transmit time
    a[32..40].copy_from_slice(&ntp.to_be_bytes()); // receive
    a[40..48].copy_from_slice(&ntp.to_be_bytes()); // transmit
    a
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0) % 100_000
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = ip(&["netns", "del", &self.ns]);
    }
}
