//! Enrollment with the management server over EST (RFC 7030).
//!
//! 1. The user (or DHCP option 43) gives the server's address and the
//!    SHA-256 of its certificate; every connection pins it ([`tls`]).
//! 2. [`enroll`]: `/cacerts` first (the pin is checked before the one-time
//!    password goes anywhere), then a fresh ECDSA P-256 key on the device and
//!    a PKCS#10 request (CN = unit ID, SAN = `urn:dev:mac:…`) to
//!    `/simpleenroll` with HTTP Basic (unit ID, one-time password). The
//!    certificate that answers the device's key is stored with the key and
//!    the CA certificates in one crash-safe file ([`store`]); only then is the
//!    device enrolled.
//! 3. [`renew`] after two thirds of the validity: `/simplereenroll` with a
//!    new key, authenticated by the current certificate; a failure is kept in
//!    the file for the home screen and the current certificate stays.
//! 4. [`hello`]: `POST /quill/v1/hello` over mutual TLS (docs/management-api.md).

/// The command line (`fn main` of the binary; the device's multicall binary calls it too).
pub mod cli;
pub mod est;
pub mod input;
pub mod locate;
pub mod store;
pub mod tls;

use std::time::Duration;
pub use store::{Enrollment, Failure, Store};
use tls::{ClientIdentity, ServerTrust};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The server's certificate is not the pinned one.
    #[error("the fingerprint does not match: the server presented {presented}")]
    Mismatch { presented: String },
    #[error("{0}")]
    Unreachable(String),
    #[error("the server refused the credentials of unit {unit} (HTTP 401): check the one-time password, or ask the administrator for a new one")]
    Refused { unit: String },
    #[error("the server holds the request until an administrator approves it: try again in {0} s")]
    Pending(u64),
    #[error("the server answered HTTP {status}: {body}")]
    Server { status: u16, body: String },
    #[error("the server's answer is not what EST specifies: {0}")]
    Protocol(String),
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Local(String),
    #[error("this device is not enrolled: enroll it in the Setup Assistant or with `quill-enroll enroll ADDRESS`")]
    NotEnrolled,
}

/// What the device says about itself.
#[derive(Clone, Debug, Default)]
pub struct Device {
    /// The MAC of the first interface, 12 upper-case hex digits.
    pub unit_id: String,
    pub hostname: String,
    pub board: String,
    /// The firmware: at least the running version and slot; on the device
    /// what `fwupdate status --json` says.
    pub firmware: serde_json::Value,
}

impl Device {
    /// The device under `root` (`/`): the unit ID from /sys/class/net, the
    /// host name, the board from /etc/quill/release, and the firmware as
    /// `fwupdate status --json` reports it (the running version alone when
    /// it cannot say).
    pub fn read(root: &std::path::Path) -> Result<Device, Error> {
        let unit_id = bootid::unit_id(&root.join("sys/class/net"))
            .ok_or_else(|| Error::Local("this device has no network interface with a MAC address".into()))?;
        let release = bootid::Release::read(root);
        let hostname = std::fs::read_to_string(root.join("proc/sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let version = release.as_ref().map(|r| r.version.clone()).unwrap_or_default();
        let firmware = std::process::Command::new("fwupdate")
            .args(["status", "--json"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or_else(|| serde_json::json!({ "running_version": version }));
        Ok(Device { unit_id, hostname, board: release.map(|r| r.board).unwrap_or_default(), firmware })
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// What the Setup Assistant and `quill-enroll enroll` do: enroll (unless
/// the device already is, with this server and certificate, and the
/// certificate is still valid: then the one-time password is not spent
/// again), then the hello. A failing hello is an error; the enrollment
/// stays, so that trying again only repeats the hello.
pub fn connect(
    store: &Store,
    device: &Device,
    address: &str,
    fingerprint: &str,
    otp: &str,
    now: i64,
) -> Result<(Enrollment, serde_json::Value), Error> {
    let e = match store.load() {
        Ok(Some(e)) if e.address == address && e.fingerprint == fingerprint && now < e.not_after => e,
        _ => enroll(store, device, address, fingerprint, otp, now)?,
    };
    let answer = hello_with(&e, device).map_err(|err| {
        Error::Local(format!("enrolled, but the call to {HELLO} failed: {err}; try again to repeat only the call"))
    })?;
    Ok((e, answer))
}

pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The path of the mutual-TLS call after enrollment.
pub const HELLO: &str = "/quill/v1/hello";

fn pick_leaf(key: &rcgen::KeyPair, certs: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, est::CertInfo), Error> {
    let ours = key.public_key_raw();
    let mut chain = certs.to_vec();
    let i = certs
        .iter()
        .position(|c| est::cert_info(c).map(|i| i.public_key == ours).unwrap_or(false))
        .ok_or_else(|| Error::Protocol("no certificate in the answer is for the device's key".into()))?;
    let leaf = chain.remove(i);
    let info = est::cert_info(&leaf)?;
    chain.insert(0, leaf);
    Ok((chain, info))
}

/// Enrolls with the server at `address` whose certificate has `fingerprint`
/// (64 lowercase hex digits), with the one-time password; stores the result
/// under `store` and returns it. `now` is the device's clock.
pub fn enroll(
    store: &Store,
    device: &Device,
    address: &str,
    fingerprint: &str,
    otp: &str,
    now: i64,
) -> Result<Enrollment, Error> {
    let trust = ServerTrust { pin: fingerprint.to_string(), cas: Vec::new() };
    let server = est::Server { address, trust: &trust, timeout: TIMEOUT };
    let cas = server.cacerts()?;
    let key = est::new_key()?;
    let csr = est::csr(&key, &device.unit_id, &device.unit_id)?;
    let certs = server.simpleenroll(&csr, &device.unit_id, otp)?;
    let (chain, info) = pick_leaf(&key, &certs)?;
    let e = Enrollment {
        schema: 1,
        address: address.to_string(),
        fingerprint: fingerprint.to_string(),
        unit_id: device.unit_id.clone(),
        key: store::pem("PRIVATE KEY", &key.serialize_der()),
        certs: chain.iter().map(|c| store::pem("CERTIFICATE", c)).collect(),
        cacerts: cas.iter().map(|c| store::pem("CERTIFICATE", c)).collect(),
        not_before: info.not_before,
        not_after: info.not_after,
        enrolled_at: now,
        renewal_failed: None,
    };
    store.save(&e)?;
    Ok(e)
}

impl Enrollment {
    fn identity(&self) -> Result<ClientIdentity, Error> {
        Ok(ClientIdentity {
            chain: self.certs.iter().map(|c| store::unpem("CERTIFICATE", c)).collect::<Result<_, _>>()?,
            key: store::unpem("PRIVATE KEY", &self.key)?,
        })
    }

    fn trust(&self) -> Result<ServerTrust, Error> {
        Ok(ServerTrust {
            pin: self.fingerprint.clone(),
            cas: self.cacerts.iter().map(|c| store::unpem("CERTIFICATE", c)).collect::<Result<_, _>>()?,
        })
    }
}

/// Renews the certificate with a new key; on failure the reason is stored
/// (the current certificate stays) and returned.
pub fn renew(store: &Store, now: i64) -> Result<Enrollment, Error> {
    let mut e = store.load()?.ok_or(Error::NotEnrolled)?;
    let attempt = (|| {
        let trust = e.trust()?;
        let server = est::Server { address: &e.address, trust: &trust, timeout: TIMEOUT };
        let key = est::new_key()?;
        let csr = est::csr(&key, &e.unit_id, &e.unit_id)?;
        let certs = server.simplereenroll(&csr, &e.identity()?, &e.unit_id)?;
        let (chain, info) = pick_leaf(&key, &certs)?;
        Ok::<_, Error>((key, chain, info))
    })();
    match attempt {
        Ok((key, chain, info)) => {
            e.key = store::pem("PRIVATE KEY", &key.serialize_der());
            e.certs = chain.iter().map(|c| store::pem("CERTIFICATE", c)).collect();
            e.not_before = info.not_before;
            e.not_after = info.not_after;
            e.enrolled_at = now;
            e.renewal_failed = None;
            store.save(&e)?;
            Ok(e)
        }
        Err(err) => {
            e.renewal_failed = Some(Failure { at: now, reason: err.to_string() });
            store.save(&e)?;
            Err(err)
        }
    }
}

/// The body of the hello (docs/management-api.md).
pub fn hello_body(device: &Device) -> serde_json::Value {
    serde_json::json!({
        "unit_id": device.unit_id,
        "mac": device.unit_id.to_ascii_lowercase(),
        "hostname": device.hostname,
        "board": device.board,
        "firmware": device.firmware,
    })
}

/// `POST /quill/v1/hello` with the client certificate; the server's answer.
pub fn hello(store: &Store, device: &Device) -> Result<serde_json::Value, Error> {
    let e = store.load()?.ok_or(Error::NotEnrolled)?;
    hello_with(&e, device)
}

pub fn hello_with(e: &Enrollment, device: &Device) -> Result<serde_json::Value, Error> {
    let trust = e.trust()?;
    let server = est::Server { address: &e.address, trust: &trust, timeout: TIMEOUT };
    server.post_json(HELLO, &e.identity()?, &hello_body(device), &e.unit_id)
}

/// What the home screen and `quill-enroll status` show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    NotEnrolled,
    Enrolled {
        address: String,
        until: i64,
    },
    RenewalFailed {
        address: String,
        until: i64,
        reason: String,
    },
    /// The file could not be read: nothing is sent until it is replaced.
    Unreadable(String),
}

pub fn state(store: &Store) -> State {
    match store.load() {
        Ok(None) => State::NotEnrolled,
        Ok(Some(e)) => match e.renewal_failed {
            Some(f) => State::RenewalFailed { address: e.address, until: e.not_after, reason: f.reason },
            None => State::Enrolled { address: e.address, until: e.not_after },
        },
        Err(e) => State::Unreadable(e.to_string()),
    }
}

/// `2027-03-01`, UTC, for "enrolled until".
pub fn date(secs: i64) -> String {
    let ((y, m, d), _) = devconfig::civil(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_798_761_600), "2027-01-01");
        assert_eq!(super::date(951_782_400), "2000-02-29");
    }
}
