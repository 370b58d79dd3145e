//! TLS to the management server. The server is trusted when its
//! certificate's SHA-256 equals the fingerprint a person confirmed (or DHCP
//! provided): certificate pinning, the fingerprint from the server's own
//! screen is the trust anchor, no public CA is consulted. After enrollment
//! a certificate that chains to the CA certificates EST gave is accepted as
//! well (RFC 7030 §4.1.3: the /cacerts answer becomes the explicit trust
//! anchor), so the server may renew its certificate. Handshake signatures
//! are always verified against the presented certificate.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// What the device trusts the server by.
#[derive(Clone, Debug, Default)]
pub struct ServerTrust {
    /// SHA-256 of the server's certificate, 64 lowercase hex digits.
    pub pin: String,
    /// The CA certificates from EST's /cacerts (DER), after enrollment.
    pub cas: Vec<Vec<u8>>,
}

/// The device's own certificate (and chain) and key, for mutual TLS.
pub struct ClientIdentity {
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key: Vec<u8>,
}

#[derive(Debug)]
pub struct Verifier {
    pin: String,
    ca: Option<Arc<WebPkiServerVerifier>>,
    presented: Mutex<Option<String>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    /// The fingerprint of the certificate the server presented in the last
    /// handshake, when it did not match (for the error the user sees).
    pub fn mismatch(&self) -> Option<String> {
        self.presented.lock().unwrap_or_else(|e| e.into_inner()).clone().filter(|p| *p != self.pin)
    }
}

pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity.as_ref());
        let pinned = got == self.pin;
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
        if pinned {
            return Ok(ServerCertVerified::assertion());
        }
        if let Some(ca) = &self.ca {
            if ca.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).is_ok() {
                // Trusted through the enrolled CA: not a mismatch.
                *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.pin.clone());
                return Ok(ServerCertVerified::assertion());
            }
        }
        Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
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

/// A client configuration that trusts the server by `trust` and presents
/// `client` when given; the verifier tells afterwards what was presented.
pub fn client_config(
    trust: &ServerTrust,
    client: Option<&ClientIdentity>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<Verifier>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = if trust.cas.is_empty() {
        None
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for der in &trust.cas {
            roots.add(CertificateDer::from(der.clone())).map_err(|e| format!("a CA certificate from EST: {e}"))?;
        }
        Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("the CA certificates from EST: {e}"))?,
        )
    };
    let verifier =
        Arc::new(Verifier { pin: trust.pin.clone(), ca, presented: Mutex::new(None), provider: provider.clone() });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(
                id.chain.iter().map(|c| CertificateDer::from(c.clone())).collect(),
                PrivateKeyDer::Pkcs8(id.key.clone().into()),
            )
            .map_err(|e| format!("the device's certificate and key do not go together: {e}"))?,
    };
    Ok((Arc::new(config), verifier))
}
