use super::*;
use testkit::http::{Faults, Server};

fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn serve(faults: Faults) -> (Server, tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = file(3 << 20);
    std::fs::write(dir.path().join("big.bin"), &data).unwrap();
    std::fs::write(dir.path().join("small.json"), b"{\"a\":1}").unwrap();
    (Server::start(dir.path(), faults).unwrap(), dir, data)
}

fn client() -> Client {
    Client::new(Options {
        unit_id: "52:54:00:12:34:56".into(),
        version: "1.0.0".into(),
        board: "board-a".into(),
        seed: 77,
        stall_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .unwrap()
}

fn read_all(s: &mut Stream) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn urls_without_http_or_with_credentials_are_refused_before_anything_is_sent() {
    assert!(matches!(check_url("ftp://mirror/x"), Err(Error::Scheme(_))));
    assert!(matches!(check_url("file:///etc/passwd"), Err(Error::Scheme(_))));
    assert!(matches!(check_url("http://"), Err(Error::Scheme(_))));
    let e = check_url("https://admin:secret@cdn.example/repo").unwrap_err().to_string();
    assert!(e.contains("user name or password") && !e.contains("secret"), "{e}");
    check_url("https://cdn.example/repo/channels/x/stable.json").unwrap();
    assert!(matches!(Client::new(Options { proxy: "proxy:3128".into(), ..Options::default() }), Err(Error::Proxy(_))));
}

#[test]
fn relative_paths_resolve_against_the_index_folder() {
    assert_eq!(join("http://h/r/channels/b/stable.json", "../../m/x"), "http://h/r/channels/b/../../m/x");
    assert_eq!(join("http://h/repo/", "bundles/a.qbundle"), "http://h/repo/bundles/a.qbundle");
    assert_eq!(join("http://h", "bundles/a"), "http://h/bundles/a");
}

#[test]
fn a_small_file_comes_whole_with_the_fleet_headers_and_a_large_one_is_refused() {
    let (srv, _d, _) = serve(Faults::default());
    assert_eq!(client().get(&format!("{}/small.json", srv.url), 64).unwrap(), b"{\"a\":1}");
    let h = &srv.log()[0].headers;
    for (k, v) in [("x-quill-unit", "52:54:00:12:34:56"), ("x-quill-version", "1.0.0"), ("x-quill-seed", "77")] {
        assert!(h.iter().any(|(hk, hv)| hk == k && hv == v), "{k} missing in {h:?}");
    }
    let e = client().get(&format!("{}/big.bin", srv.url), 1024).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    let e = client().get(&format!("{}/nothing", srv.url), 1024).unwrap_err();
    assert!(matches!(e, Error::Status { status: 404, .. }), "{e}");
}

#[test]
fn a_redirect_loop_and_a_503_are_errors_with_the_reason() {
    let (srv, _d, _) = serve(Faults { unavailable_first: 1, ..Faults::default() });
    let e = client().get(&format!("{}/small.json", srv.url), 64).unwrap_err();
    assert!(matches!(e, Error::Status { status: 503, .. }), "{e}");
    let e = client().get(&format!("{}/loop", srv.url), 64).unwrap_err().to_string();
    assert!(e.contains("redirect"), "{e}");
}

#[test]
fn a_cut_connection_resumes_where_it_stopped_with_a_range_request() {
    let cut = 1_500_000;
    let (srv, _d, data) = serve(Faults { cut_once_at: Some(cut), ..Faults::default() });
    let c = client();
    let mut s = c.stream(&format!("{}/big.bin", srv.url), 0, Some(data.len() as u64)).unwrap();
    assert_eq!(read_all(&mut s).unwrap(), data);
    assert_eq!(s.requests(), 2);
    let log = srv.log();
    assert_eq!(log[1].range_start, Some(cut), "{log:?}");
    assert_eq!(srv.bytes_sent("/big.bin"), data.len() as u64, "nothing fetched twice");
}

#[test]
fn a_stream_of_unknown_length_learns_it_from_the_server_and_still_resumes() {
    let (srv, _d, data) = serve(Faults { cut_once_at: Some(700_000), ..Faults::default() });
    let c = client();
    let mut s = c.stream(&format!("{}/big.bin", srv.url), 0, None).unwrap();
    assert_eq!(s.len(), data.len() as u64);
    assert_eq!(read_all(&mut s).unwrap(), data);
    assert_eq!(s.requests(), 2);
}

#[test]
fn a_part_of_a_file_is_fetched_with_one_range_request() {
    let (srv, _d, data) = serve(Faults::default());
    let c = client();
    let mut s = c.stream(&format!("{}/big.bin", srv.url), 1000, Some(5000)).unwrap();
    assert_eq!(read_all(&mut s).unwrap(), &data[1000..6000]);
    assert_eq!(srv.log()[0].range_start, Some(1000));
}

#[test]
fn a_server_that_ignores_range_is_read_from_the_start_and_the_bytes_had_are_skipped() {
    let (srv, _d, data) = serve(Faults { cut_once_at: Some(1 << 20), ignore_range: true, ..Faults::default() });
    let c = client();
    let mut s = c.stream(&format!("{}/big.bin", srv.url), 0, Some(data.len() as u64)).unwrap();
    assert_eq!(read_all(&mut s).unwrap(), data);
    assert_eq!(srv.log()[1].status, 200);
}

#[test]
fn a_range_answer_starting_elsewhere_is_refused() {
    let (srv, _d, data) = serve(Faults { range_off_by: 100, ..Faults::default() });
    let e = client().stream(&format!("{}/big.bin", srv.url), 4096, Some(data.len() as u64 - 4096)).err().unwrap();
    assert!(matches!(e, Error::BadRange { asked: 4096, .. }), "{e}");
}

#[test]
fn a_stalled_connection_is_dropped_and_resumed() {
    let (srv, _d, data) = serve(Faults { stall_once_at: Some(2 << 20), ..Faults::default() });
    let c = client();
    let mut s = c.stream(&format!("{}/big.bin", srv.url), 0, Some(data.len() as u64)).unwrap();
    assert_eq!(read_all(&mut s).unwrap(), data);
    assert_eq!(srv.log().last().unwrap().range_start, Some(2 << 20));
}

#[test]
fn a_trickling_server_meets_the_deadline() {
    let (srv, _d, data) = serve(Faults { trickle: Some((4096, Duration::from_millis(50))), ..Faults::default() });
    let c = Client::new(Options { stream_deadline: Duration::from_secs(1), ..Options::default() }).unwrap();
    let mut s = c.stream(&format!("{}/big.bin", srv.url), 0, Some(data.len() as u64)).unwrap();
    let e = read_all(&mut s).unwrap_err().to_string();
    assert!(e.contains("deadline"), "{e}");
}

#[test]
fn several_ranges_read_as_one_stream_one_request_each() {
    let (srv, _d, data) = serve(Faults::default());
    let c = client();
    let mut r = c.ranges(&format!("{}/big.bin", srv.url), vec![(10, 100), (5000, 1 << 20), (3 << 19, 7)]).unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    let mut want = data[10..110].to_vec();
    want.extend_from_slice(&data[5000..5000 + (1 << 20)]);
    want.extend_from_slice(&data[3 << 19..(3 << 19) + 7]);
    assert_eq!(got, want);
    let starts: Vec<_> = srv.log().iter().map(|l| l.range_start).collect();
    assert_eq!(starts, [Some(10), Some(5000), Some(3 << 19)]);
}
