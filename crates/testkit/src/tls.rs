//! A CA of the test's own and a server certificate it issued (rcgen), as
//! PEM for a TLS server such as nginx, and the CA's PEM for the client.

pub struct TestCa {
    /// The CA certificate, PEM: what a device is told to trust.
    pub ca_pem: String,
    /// The server's certificate and its key, PEM.
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A fresh CA and a server certificate for `names` (DNS names or IP
    /// addresses).
    pub fn new(names: &[&str]) -> Result<TestCa, rcgen::Error> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Quill test fleet CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let ca = ca_params.self_signed(&ca_key)?;
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(rcgen::DnType::CommonName, names.first().copied().unwrap_or("server"));
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        Ok(TestCa { ca_pem: ca.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}
