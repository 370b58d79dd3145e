//! The EST client (RFC 7030, with RFC 8951's clarifications): the PKCS#10
//! request, the three calls the device makes (`/cacerts`,
//! `/simpleenroll` with HTTP Basic, `/simplereenroll` with the client
//! certificate), and reading their PKCS#7 certs-only answers.

use crate::tls::{self, ClientIdentity, ServerTrust};
use crate::Error;
use base64::Engine;
use der::{Decode, Encode};
use std::io::Read;
use std::time::Duration;

/// Answers larger than this are refused (a certs-only answer is a few KiB).
const MAX_ANSWER: u64 = 256 * 1024;

/// A fresh ECDSA P-256 key pair, PKCS#8 DER.
pub fn new_key() -> Result<rcgen::KeyPair, Error> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| Error::Local(format!("making a key: {e}")))
}

/// The PKCS#10 request: subject CN = the unit ID, the MAC as a URI SAN in
/// RFC 9039's `urn:dev:mac:` form, signed by `key`.
pub fn csr(key: &rcgen::KeyPair, unit_id: &str, mac_hex: &str) -> Result<Vec<u8>, Error> {
    let local = |e: rcgen::Error| Error::Local(format!("making the certificate request: {e}"));
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(local)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, unit_id);
    let urn = format!("urn:dev:mac:{}", mac_hex.to_ascii_lowercase());
    params.subject_alt_names = vec![rcgen::SanType::URI(rcgen::Ia5String::try_from(urn).map_err(local)?)];
    Ok(params.serialize_request(key).map_err(local)?.der().to_vec())
}

/// The certificates of a PKCS#7 certs-only answer (base64 of DER, as EST
/// sends it; whitespace allowed), in the order given.
pub fn certs_only(body: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let text: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| Error::Protocol(format!("the answer is not base64: {e}")))?;
    let bad = |e: der::Error| Error::Protocol(format!("the answer is not PKCS#7 certs-only: {e}"));
    let ci = cms::content_info::ContentInfo::from_der(&der).map_err(bad)?;
    if ci.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(Error::Protocol(format!("the answer's content type is {}, not signed data", ci.content_type)));
    }
    let sd: cms::signed_data::SignedData = ci.content.decode_as().map_err(bad)?;
    let mut out = Vec::new();
    for choice in sd.certificates.iter().flat_map(|set| set.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(c) = choice {
            out.push(c.to_der().map_err(bad)?);
        }
    }
    if out.is_empty() {
        return Err(Error::Protocol("the answer holds no certificate".into()));
    }
    Ok(out)
}

/// A certificate's subject public key (the raw bit string) and validity
/// (seconds since 1970).
pub struct CertInfo {
    pub public_key: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub subject: String,
}

pub fn cert_info(der: &[u8]) -> Result<CertInfo, Error> {
    let c = x509_cert::Certificate::from_der(der)
        .map_err(|e| Error::Protocol(format!("a certificate in the answer cannot be read: {e}")))?;
    let tbs = &c.tbs_certificate;
    Ok(CertInfo {
        public_key: tbs.subject_public_key_info.subject_public_key.raw_bytes().to_vec(),
        not_before: tbs.validity.not_before.to_unix_duration().as_secs() as i64,
        not_after: tbs.validity.not_after.to_unix_duration().as_secs() as i64,
        subject: tbs.subject.to_string(),
    })
}

/// The server to talk to.
pub struct Server<'a> {
    /// `host` or `host:port` (443 when no port is given).
    pub address: &'a str,
    pub trust: &'a ServerTrust,
    pub timeout: Duration,
}

impl Server<'_> {
    pub fn url(&self, path: &str) -> String {
        if self.address.contains(':') {
            format!("https://{}{path}", self.address)
        } else {
            format!("https://{}:443{path}", self.address)
        }
    }

    fn agent(&self, client: Option<&ClientIdentity>) -> Result<(ureq::Agent, std::sync::Arc<tls::Verifier>), Error> {
        let (config, verifier) = tls::client_config(self.trust, client).map_err(Error::Local)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(config)
            .timeout_connect(self.timeout)
            .timeout(self.timeout)
            .redirects(0)
            .user_agent(concat!("quill-enroll/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok((agent, verifier))
    }

    /// Sends `req` (built on `agent`), turning errors into what the user
    /// should be told, and returns the body of a 200.
    fn call(
        &self,
        verifier: &tls::Verifier,
        req: ureq::Request,
        body: Option<(&str, &[u8])>,
        unit: &str,
    ) -> Result<(Vec<u8>, String), Error> {
        let r = match body {
            Some((ctype, data)) => req.set("Content-Type", ctype).send_bytes(data),
            None => req.call(),
        };
        let resp = match r {
            Ok(resp) => resp,
            Err(ureq::Error::Status(401, _)) => return Err(Error::Refused { unit: unit.to_string() }),
            Err(ureq::Error::Status(202, resp)) | Err(ureq::Error::Status(503, resp))
                if resp.header("Retry-After").is_some() =>
            {
                let secs = resp.header("Retry-After").and_then(|v| v.trim().parse().ok()).unwrap_or(60);
                return Err(Error::Pending(secs));
            }
            Err(ureq::Error::Status(code, resp)) => {
                let mut text = String::new();
                let _ = resp.into_reader().take(512).read_to_string(&mut text);
                return Err(Error::Server { status: code, body: text.trim().to_string() });
            }
            Err(ureq::Error::Transport(t)) => {
                if let Some(presented) = verifier.mismatch() {
                    return Err(Error::Mismatch { presented });
                }
                return Err(Error::Unreachable(t.to_string()));
            }
        };
        if resp.status() == 202 {
            let secs = resp.header("Retry-After").and_then(|v| v.trim().parse().ok()).unwrap_or(60);
            return Err(Error::Pending(secs));
        }
        let ctype = resp.content_type().to_string();
        let mut data = Vec::new();
        resp.into_reader()
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::Unreachable(format!("reading the answer: {e}")))?;
        if data.len() as u64 > MAX_ANSWER {
            return Err(Error::Protocol(format!("the answer is larger than {MAX_ANSWER} bytes")));
        }
        Ok((data, ctype))
    }

    /// `GET /.well-known/est/cacerts`.
    pub fn cacerts(&self) -> Result<Vec<Vec<u8>>, Error> {
        let (agent, v) = self.agent(None)?;
        let (body, _) = self.call(&v, agent.get(&self.url("/.well-known/est/cacerts")), None, "")?;
        certs_only(&body)
    }

    /// `POST /.well-known/est/simpleenroll` with HTTP Basic (unit ID and
    /// one-time password, RFC 7030 §3.2.3); the certificates of the answer.
    pub fn simpleenroll(&self, csr: &[u8], unit: &str, otp: &str) -> Result<Vec<Vec<u8>>, Error> {
        let (agent, v) = self.agent(None)?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{unit}:{otp}"));
        let req = agent
            .post(&self.url("/.well-known/est/simpleenroll"))
            .set("Authorization", &format!("Basic {basic}"))
            .set("Content-Transfer-Encoding", "base64");
        let b64 = base64::engine::general_purpose::STANDARD.encode(csr);
        let (body, _) = self.call(&v, req, Some(("application/pkcs10", b64.as_bytes())), unit)?;
        certs_only(&body)
    }

    /// `POST /.well-known/est/simplereenroll`, authenticated by the current
    /// client certificate.
    pub fn simplereenroll(&self, csr: &[u8], current: &ClientIdentity, unit: &str) -> Result<Vec<Vec<u8>>, Error> {
        let (agent, v) = self.agent(Some(current))?;
        let req = agent.post(&self.url("/.well-known/est/simplereenroll")).set("Content-Transfer-Encoding", "base64");
        let b64 = base64::engine::general_purpose::STANDARD.encode(csr);
        let (body, _) = self.call(&v, req, Some(("application/pkcs10", b64.as_bytes())), unit)?;
        certs_only(&body)
    }

    /// A JSON POST with the client certificate (the hello).
    pub fn post_json(
        &self,
        path: &str,
        client: &ClientIdentity,
        body: &serde_json::Value,
        unit: &str,
    ) -> Result<serde_json::Value, Error> {
        let (agent, v) = self.agent(Some(client))?;
        let data = serde_json::to_vec(body).map_err(|e| Error::Local(e.to_string()))?;
        let (answer, _) = self.call(&v, agent.post(&self.url(path)), Some(("application/json", &data)), unit)?;
        serde_json::from_slice(&answer).map_err(|e| Error::Protocol(format!("the answer to {path} is not JSON: {e}")))
    }
}
