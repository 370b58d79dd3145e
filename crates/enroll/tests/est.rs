//! Enrollment against the EST test server on loopback (testkit::est):
//! real TLS, real certificates, the device's files on a temporary DATA.

use enroll::{est, Device, Error, State, Store};
use std::os::unix::fs::PermissionsExt;
use testkit::est::EstServer;

const UNIT: &str = "525400123456";

fn device() -> Device {
    Device {
        unit_id: UNIT.into(),
        hostname: "quill-525400123456".into(),
        board: "x86-ud".into(),
        firmware: serde_json::json!({ "running_version": "1.2.3", "booted": "a" }),
    }
}

fn server(validity: i64) -> EstServer {
    EstServer::start("127.0.0.1:0".parse().unwrap(), &["127.0.0.1", "localhost"], validity).unwrap()
}

fn address(s: &EstServer) -> String {
    format!("127.0.0.1:{}", s.addr.port())
}

#[test]
fn enrolls_stores_private_and_says_hello_over_mutual_tls() {
    let s = server(3600);
    s.allow(UNIT, "otp-1234");
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    let e = enroll::enroll(&store, &device(), &address(&s), &s.fingerprint, "otp-1234", 1000).unwrap();
    assert_eq!(e.unit_id, UNIT);
    assert_eq!(e.cacerts.len(), 1);
    assert!(e.not_after - e.not_before >= 3600, "{e:?}");
    let mode = std::fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key is readable by root only");
    assert_eq!(store.load().unwrap().unwrap(), e);
    // The certificate names the unit and carries the MAC as RFC 9039's URN.
    let der = enroll::store::unpem("CERTIFICATE", &e.certs[0]).unwrap();
    let info = est::cert_info(&der).unwrap();
    assert!(info.subject.contains(&format!("CN={UNIT}")), "{}", info.subject);
    let text = String::from_utf8_lossy(&der);
    assert!(text.contains("urn:dev:mac:525400123456"), "the SAN is in the certificate");

    let answer = enroll::hello(&store, &device()).unwrap();
    assert_eq!(answer["message"], format!("welcome {UNIT}"));
    let seen = s.seen();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/.well-known/est/cacerts", "/.well-known/est/simpleenroll", "/quill/v1/hello"]);
    assert_eq!(seen[1].client_cn, None, "enrollment authenticates with the password");
    assert_eq!(seen[2].client_cn.as_deref(), Some(UNIT), "the hello with the client certificate");
    let body: serde_json::Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(body["mac"], "525400123456");
    assert_eq!(body["firmware"]["running_version"], "1.2.3");
    assert!(matches!(enroll::state(&store), State::Enrolled { .. }));
}

#[test]
fn a_wrong_fingerprint_sends_nothing_and_names_the_presented_one() {
    let s = server(3600);
    s.allow(UNIT, "otp");
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    let wrong = "ab".repeat(32);
    match enroll::enroll(&store, &device(), &address(&s), &wrong, "otp", 1000) {
        Err(Error::Mismatch { presented }) => assert_eq!(presented, s.fingerprint),
        other => panic!("{other:?}"),
    }
    assert!(s.seen().is_empty(), "no request got through the handshake");
    assert_eq!(store.load().unwrap(), None);
}

#[test]
fn a_wrong_or_reused_password_is_refused_and_nothing_stored() {
    let s = server(3600);
    s.allow(UNIT, "right");
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    let e = enroll::enroll(&store, &device(), &address(&s), &s.fingerprint, "wrong", 1000).unwrap_err();
    assert_eq!(e, Error::Refused { unit: UNIT.into() });
    assert!(e.to_string().contains("one-time password"), "{e}");
    assert_eq!(store.load().unwrap(), None);
    enroll::enroll(&store, &device(), &address(&s), &s.fingerprint, "right", 1000).unwrap();
    let t2 = tempfile::tempdir().unwrap();
    let again = enroll::enroll(&Store::new(t2.path()), &device(), &address(&s), &s.fingerprint, "right", 1000);
    assert!(matches!(again, Err(Error::Refused { .. })), "one time only: {again:?}");
}

#[test]
fn a_request_held_for_approval_says_when_to_try_again() {
    let s = server(3600);
    s.allow(UNIT, "otp");
    s.set_pending(true);
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    let e = enroll::enroll(&store, &device(), &address(&s), &s.fingerprint, "otp", 1000).unwrap_err();
    assert_eq!(e, Error::Pending(30));
    assert_eq!(store.load().unwrap(), None);
}

#[test]
fn renewal_takes_a_new_key_and_a_failure_keeps_the_certificate() {
    let s = server(3600);
    s.allow(UNIT, "otp");
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    let first = enroll::enroll(&store, &device(), &address(&s), &s.fingerprint, "otp", 1000).unwrap();
    assert_eq!(first.renew_at(), first.not_before + (first.not_after - first.not_before) * 2 / 3);
    let renewed = enroll::renew(&store, 2000).unwrap();
    assert_ne!(renewed.key, first.key, "a new key");
    assert_ne!(renewed.certs, first.certs);
    assert_eq!(renewed.enrolled_at, 2000);
    let seen = s.seen();
    let last = seen.last().unwrap();
    assert_eq!(last.path, "/.well-known/est/simplereenroll");
    assert_eq!(last.client_cn.as_deref(), Some(UNIT), "renewal authenticates with the current certificate");
    enroll::hello(&store, &device()).unwrap();

    s.set_reenroll_fails(Some(503));
    let e = enroll::renew(&store, 3000).unwrap_err();
    assert!(matches!(e, Error::Server { status: 503, .. }), "{e:?}");
    let kept = store.load().unwrap().unwrap();
    assert_eq!(kept.certs, renewed.certs, "the current certificate stays");
    assert_eq!(kept.renewal_failed.as_ref().unwrap().at, 3000);
    match enroll::state(&store) {
        State::RenewalFailed { reason, .. } => assert!(reason.contains("503"), "{reason}"),
        other => panic!("{other:?}"),
    }
    enroll::hello(&store, &device()).unwrap();
    s.set_reenroll_fails(None);
    enroll::renew(&store, 4000).unwrap();
    assert!(matches!(enroll::state(&store), State::Enrolled { .. }), "success clears the failure");
}

#[test]
fn after_enrollment_a_server_certificate_from_the_enrolled_ca_is_trusted() {
    let s = server(3600);
    s.allow(UNIT, "otp");
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    let mut e = enroll::enroll(&store, &device(), &address(&s), &s.fingerprint, "otp", 1000).unwrap();
    // The server renewed its certificate: the pin no longer matches, but
    // the new one is issued by the CA from /cacerts for this address.
    e.fingerprint = "00".repeat(32);
    enroll::hello_with(&e, &device()).unwrap();
    // Without the CA, the pin alone decides.
    e.cacerts.clear();
    assert!(matches!(enroll::hello_with(&e, &device()), Err(Error::Mismatch { .. })));
}

#[test]
fn an_unreadable_enrollment_is_reported_and_no_call_is_made() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::new(t.path());
    std::fs::write(store.path(), b"{ torn").unwrap();
    assert!(matches!(enroll::state(&store), State::Unreadable(_)));
    assert!(matches!(enroll::hello(&store, &device()), Err(Error::Store(_))));
    assert!(matches!(enroll::renew(&store, 1), Err(Error::Store(_))));
    assert_eq!(enroll::hello(&Store::new(&t.path().join("none")), &device()), Err(Error::NotEnrolled));
}

#[test]
fn certs_only_as_openssl_encodes_it() {
    let b64 = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openssl-certs-only.b64")).unwrap();
    let certs = est::certs_only(&b64).unwrap();
    let subjects: Vec<String> = certs.iter().map(|c| est::cert_info(c).unwrap().subject).collect();
    assert_eq!(subjects, ["CN=fixture one", "CN=fixture two"]);
    let pem =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openssl-certs.pem")).unwrap();
    let first = enroll::store::unpem("CERTIFICATE", &pem).unwrap();
    assert_eq!(certs[0], first);
    for bad in [&b"not base64!"[..], b"AAAA", b""] {
        assert!(matches!(est::certs_only(bad), Err(Error::Protocol(_))), "{bad:?}");
    }
}
