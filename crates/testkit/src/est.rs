//! An EST server for tests (RFC 7030's `/cacerts`, `/simpleenroll` with
//! HTTP Basic, `/simplereenroll` with a client certificate) and the
//! management API's `POST /quill/v1/hello` over mutual TLS
//! (docs/management-api.md): a CA of its own made with rcgen, answers in
//! PKCS#7 certs-only built with RustCrypto's `cms`, one request per
//! connection. No EST server is packaged in Debian; this one follows the
//! RFC and OpenSSL's `crl2pkcs7` encoding, which the device's parser is also
//! tested against (crates/enroll/tests).

use base64::Engine;
use der::{Decode, Encode};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The CN of the client certificate, when one was presented.
    pub client_cn: Option<String>,
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// unit ID -> one-time password, removed when used.
    otps: HashMap<String, String>,
    seen: Vec<Seen>,
    /// Answer every simpleenroll with 202 + Retry-After.
    pending: bool,
    /// Answer simplereenroll with this status (a CA that is down).
    reenroll_fails: Option<u16>,
}

pub struct EstServer {
    pub addr: SocketAddr,
    /// SHA-256 of the server's TLS certificate, lowercase hex.
    pub fingerprint: String,
    /// The CA that issues device certificates (DER).
    pub ca_der: Vec<u8>,
    state: Arc<Mutex<State>>,
}

struct Ca {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
    validity: i64,
}

fn now_time() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

impl Ca {
    fn issue(&self, csr_der: &[u8]) -> Result<Vec<u8>, String> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_der(&csr_der.to_vec().into())
            .map_err(|e| format!("the request cannot be read: {e}"))?;
        csr.params.not_before = now_time() - time::Duration::seconds(60);
        csr.params.not_after = now_time() + time::Duration::seconds(self.validity);
        csr.params.is_ca = rcgen::IsCa::NoCa;
        csr.params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        csr.signed_by(&self.cert, &self.key).map(|c| c.der().to_vec()).map_err(|e| e.to_string())
    }
}

/// A PKCS#7 certs-only (degenerate SignedData) holding `certs`, DER.
pub fn certs_only(certs: &[Vec<u8>]) -> Vec<u8> {
    use cms::cert::CertificateChoices;
    use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
    let set: Vec<CertificateChoices> = certs
        .iter()
        .map(|c| CertificateChoices::Certificate(x509_cert::Certificate::from_der(c).expect("a certificate")))
        .collect();
    let sd = SignedData {
        version: cms::content_info::CmsVersion::V1,
        digest_algorithms: Default::default(),
        encap_content_info: EncapsulatedContentInfo { econtent_type: const_oid::db::rfc5911::ID_DATA, econtent: None },
        certificates: Some(CertificateSet(der::asn1::SetOfVec::try_from(set).expect("distinct certificates"))),
        crls: None,
        signer_infos: SignerInfos(Default::default()),
    };
    let ci = cms::content_info::ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: der::Any::encode_from(&sd).expect("encodes"),
    };
    ci.to_der().expect("encodes")
}

impl EstServer {
    /// Starts on `bind` (`127.0.0.1:0` in host tests), issuing certificates
    /// valid for `validity` seconds; the server's certificate names the
    /// given DNS names and addresses.
    pub fn start(bind: SocketAddr, names: &[&str], validity: i64) -> std::io::Result<EstServer> {
        let listener = TcpListener::bind(bind)?;
        Self::serve(listener, names, validity)
    }

    /// As [`EstServer::start`] on a listener the caller opened (inside a
    /// network namespace, for instance).
    pub fn serve(listener: TcpListener, names: &[&str], validity: i64) -> std::io::Result<EstServer> {
        let err = |e: rcgen::Error| std::io::Error::other(e.to_string());
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Quill test CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        let srv_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut srv_params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map_err(err)?;
        srv_params.distinguished_name.push(rcgen::DnType::CommonName, "quill-mgmt");
        let srv_cert = srv_params.signed_by(&srv_key, &ca_cert, &ca_key).map_err(err)?;
        let fingerprint = hex::encode(Sha256::digest(srv_cert.der()));
        let ca_der = ca_cert.der().to_vec();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der.clone())).map_err(|e| std::io::Error::other(e.to_string()))?;
        let client_verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(vec![srv_cert.der().clone()], PrivateKeyDer::Pkcs8(srv_key.serialize_der().into()))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let config = Arc::new(config);
        let ca = Arc::new(Ca { cert: ca_cert, key: ca_key, validity });
        let state = Arc::new(Mutex::new(State::default()));
        let addr = listener.local_addr()?;
        let st = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, ca, st) = (config.clone(), ca.clone(), st.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, config, &ca, &st);
                });
            }
        });
        Ok(EstServer { addr, fingerprint, ca_der, state })
    }

    /// Lets `unit` enroll once with `otp`.
    pub fn allow(&self, unit: &str, otp: &str) {
        self.state.lock().unwrap().otps.insert(unit.to_string(), otp.to_string());
    }

    pub fn set_pending(&self, pending: bool) {
        self.state.lock().unwrap().pending = pending;
    }

    pub fn set_reenroll_fails(&self, status: Option<u16>) {
        self.state.lock().unwrap().reenroll_fails = status;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn handle(tcp: TcpStream, config: Arc<rustls::ServerConfig>, ca: &Ca, st: &Mutex<State>) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut reader = BufReader::new(&mut tls);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len.min(1 << 20)];
    reader.read_exact(&mut body)?;
    drop(reader);
    let client_cn = tls.conn.peer_certificates().and_then(|c| c.first()).and_then(|c| cn(c.as_ref()));
    let (status, ctype, answer, extra) = route(&method, &path, &headers, &body, client_cn.as_deref(), ca, st);
    st.lock().unwrap().seen.push(Seen { method, path, client_cn, status, body });
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        404 => "Not Found",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        answer.len()
    );
    tls.write_all(head.as_bytes())?;
    tls.write_all(&answer)?;
    tls.conn.send_close_notify();
    tls.flush()
}

fn cn(der: &[u8]) -> Option<String> {
    let c = x509_cert::Certificate::from_der(der).ok()?;
    let s = c.tbs_certificate.subject.to_string();
    s.split(',').find_map(|p| p.trim().strip_prefix("CN=").map(str::to_string))
}

type Answer = (u16, &'static str, Vec<u8>, String);

fn route(
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
    client_cn: Option<&str>,
    ca: &Ca,
    st: &Mutex<State>,
) -> Answer {
    let b64 = base64::engine::general_purpose::STANDARD;
    let pkcs7 = |certs: &[Vec<u8>]| -> Answer {
        let mut text = b64.encode(certs_only(certs)).into_bytes();
        text.push(b'\n');
        (200, "application/pkcs7-mime; smime-type=certs-only", text, "Content-Transfer-Encoding: base64\r\n".into())
    };
    let text = |status: u16, msg: &str| -> Answer { (status, "text/plain", msg.as_bytes().to_vec(), String::new()) };
    let csr = || -> Result<Vec<u8>, String> {
        let t: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        b64.decode(t).map_err(|e| format!("the request is not base64: {e}"))
    };
    match (method, path) {
        ("GET", "/.well-known/est/cacerts") => pkcs7(&[ca.cert.der().to_vec()]),
        ("POST", "/.well-known/est/simpleenroll") => {
            let creds = headers
                .get("authorization")
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|v| b64.decode(v).ok())
                .and_then(|v| String::from_utf8(v).ok());
            let Some((unit, otp)) = creds.as_deref().and_then(|c| c.split_once(':')) else {
                let mut a = text(401, "credentials needed");
                a.3 = "WWW-Authenticate: Basic realm=\"estrealm\"\r\n".into();
                return a;
            };
            let mut s = st.lock().unwrap();
            if s.otps.get(unit).map(String::as_str) != Some(otp) {
                return text(401, "unknown unit or wrong one-time password");
            }
            if s.pending {
                return (202, "text/plain", b"waiting for approval".to_vec(), "Retry-After: 30\r\n".into());
            }
            s.otps.remove(unit);
            drop(s);
            match csr().and_then(|d| ca.issue(&d)) {
                Ok(cert) => pkcs7(&[cert]),
                Err(e) => text(400, &e),
            }
        }
        ("POST", "/.well-known/est/simplereenroll") => {
            if client_cn.is_none() {
                return text(401, "a client certificate is needed to renew");
            }
            if let Some(code) = st.lock().unwrap().reenroll_fails {
                return text(code, "the CA is not available");
            }
            match csr().and_then(|d| ca.issue(&d)) {
                Ok(cert) => pkcs7(&[cert]),
                Err(e) => text(400, &e),
            }
        }
        ("POST", "/quill/v1/hello") => {
            let Some(cn) = client_cn else { return text(401, "a client certificate is needed") };
            let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let answer = serde_json::json!({
                "message": format!("welcome {cn}"),
                "unit_id": v.get("unit_id"),
            });
            (200, "application/json", answer.to_string().into_bytes(), String::new())
        }
        _ => text(404, "not here"),
    }
}
