//! The gateway check against a real TLS server on loopback.

use assistant::gateway::{check, GatewayError};
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// A TLS server on 127.0.0.1 with a fresh self-signed certificate; returns
/// its port and the certificate's SHA-256.
fn server(handshakes: usize) -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["gateway.test".into(), "127.0.0.1".into()]).unwrap();
    let der = cert.cert.der().clone();
    let fp = hex::encode(Sha256::digest(der.as_ref()));
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(handshakes) {
            let mut tcp = stream.unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    break;
                }
            }
            let _ = conn.complete_io(&mut tcp);
        }
    });
    (port, fp)
}

#[test]
fn the_right_fingerprint_gives_a_ready_connection() {
    let (port, fp) = server(1);
    check("127.0.0.1", port, &fp, Duration::from_secs(10)).unwrap();
}

#[test]
fn another_fingerprint_is_refused_and_the_presented_one_reported() {
    let (port, fp) = server(1);
    let wrong = "ab".repeat(32);
    match check("127.0.0.1", port, &wrong, Duration::from_secs(10)) {
        Err(GatewayError::Mismatch { presented }) => assert_eq!(presented, fp),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_closed_port_and_a_plain_tcp_server_are_unreachable() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = check("127.0.0.1", port, &"ab".repeat(32), Duration::from_secs(5)).unwrap_err();
    assert!(matches!(e, GatewayError::Unreachable(_)), "{e:?}");

    // A server that answers but does not speak TLS.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        let (mut s, _) = l.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
    });
    let e = check("127.0.0.1", port, &"ab".repeat(32), Duration::from_secs(5)).unwrap_err();
    assert!(matches!(e, GatewayError::Unreachable(ref m) if m.contains("TLS")), "{e:?}");
}
