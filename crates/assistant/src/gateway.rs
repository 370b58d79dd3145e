//! The cloud gateway check: a real TLS handshake with the gateway in which
//! the server certificate's SHA-256 fingerprint must equal the one the user
//! typed (certificate pinning; no certificate authority is consulted, the
//! fingerprint from the gateway's own screen is the trust anchor). The
//! handshake signatures are still verified against that certificate.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    /// The server's certificate is not the one the user expects.
    #[error("the fingerprint does not match: the server presented {presented}")]
    Mismatch { presented: String },
    #[error("{0}")]
    Unreachable(String),
}

#[derive(Debug)]
struct Pinned {
    expected: String,
    presented: Mutex<Option<String>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = hex::encode(Sha256::digest(end_entity.as_ref()));
        let ok = got == self.expected;
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects to `host:port`, completes a TLS handshake and checks the
/// certificate's SHA-256 against `fingerprint` (64 lowercase hex digits).
pub fn check(host: &str, port: u16, fingerprint: &str, timeout: Duration) -> Result<(), GatewayError> {
    let unreachable = |e: &dyn std::fmt::Display| GatewayError::Unreachable(e.to_string());
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| unreachable(&e))?
        .next()
        .ok_or_else(|| GatewayError::Unreachable(format!("{host} has no address")))?;
    let mut tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| unreachable(&e))?;
    tcp.set_read_timeout(Some(timeout)).map_err(|e| unreachable(&e))?;
    tcp.set_write_timeout(Some(timeout)).map_err(|e| unreachable(&e))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        Arc::new(Pinned { expected: fingerprint.to_string(), presented: Mutex::new(None), provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unreachable(&e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| unreachable(&e))?,
    };
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| unreachable(&e))?;
    let result = (|| {
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        conn.send_close_notify();
        conn.complete_io(&mut tcp)?;
        tcp.flush()
    })();
    let presented = verifier.presented.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match (result, presented) {
        (_, Some(p)) if p != fingerprint => Err(GatewayError::Mismatch { presented: p }),
        (Ok(()), Some(_)) => Ok(()),
        (Ok(()), None) => Err(GatewayError::Unreachable("the server sent no certificate".into())),
        (Err(e), _) => Err(GatewayError::Unreachable(format!("TLS handshake failed: {e}"))),
    }
}
