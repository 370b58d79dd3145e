//! A static-file HTTP server on the host's loopback for tests, with the
//! faults a real mirror or CDN shows: a connection cut after some bytes, a
//! stall, a 200 to a Range request, 503s, a redirect loop, more bytes than
//! asked. Hand-written (std only): the faults must be exact, and a test
//! must not depend on a server package's behaviour. Every request is
//! logged (path, range asked, bytes sent) so tests can count re-downloads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What goes wrong, and when.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The first response whose body reaches this many bytes is cut there
    /// (the connection closes); later ones are whole.
    pub cut_once_at: Option<u64>,
    /// The first response whose body is longer than this many bytes is
    /// cut after them (wherever in the file it starts).
    pub cut_once_after: Option<u64>,
    /// Like `cut_once_at`, but the connection stays open and silent.
    pub stall_once_at: Option<u64>,
    /// Range requests are answered 200 with the whole file.
    pub ignore_range: bool,
    /// The first N requests get 503.
    pub unavailable_first: usize,
    /// A Range request's answer starts this many bytes before the asked offset
    /// (a broken cache sending more than asked).
    pub range_off_by: u64,
    /// Send the body in pieces this large with this pause (a trickle).
    pub trickle: Option<(usize, Duration)>,
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub path: String,
    pub range_start: Option<u64>,
    pub status: u16,
    pub body_bytes: u64,
    pub headers: Vec<(String, String)>,
    /// The response is over (`body_bytes` is final).
    pub done: bool,
}

pub struct Server {
    pub url: String,
    log: Arc<Mutex<Vec<Logged>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Serves `root` on 127.0.0.1 (a free port). `/loop` redirects to itself.
    pub fn start(root: &Path, faults: Faults) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            faults,
            served: AtomicUsize::new(0),
            cut_done: AtomicBool::new(false),
            stall_done: AtomicBool::new(false),
            log: log.clone(),
            stop: stop.clone(),
        });
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = shared.handle(conn);
                });
            }
        });
        Ok(Server { url, log, stop })
    }

    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().expect("log").clone()
    }

    /// Body bytes sent for requests of `path`, once their responses are
    /// over: a client can have read a whole body before the server's
    /// thread counted its last bytes (CI saw 1.5 of 3 MB). Waits up to
    /// 10 s for the responses still going out, then counts what there is.
    pub fn bytes_sent(&self, path: &str) -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = self.log();
            let mine = log.iter().filter(|l| l.path == path);
            if mine.clone().all(|l| l.done) || std::time::Instant::now() >= deadline {
                return mine.map(|l| l.body_bytes).sum();
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

struct Shared {
    root: PathBuf,
    faults: Faults,
    served: AtomicUsize,
    cut_done: AtomicBool,
    stall_done: AtomicBool,
    log: Arc<Mutex<Vec<Logged>>>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn handle(&self, conn: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.trim().split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let range = headers.iter().find(|(k, _)| k == "range").and_then(|(_, v)| v.strip_prefix("bytes="));
        let range_start = range.and_then(|v| v.split('-').next()).and_then(|v| v.parse::<u64>().ok());
        let range_end = range.and_then(|v| v.split('-').nth(1)).and_then(|v| v.parse::<u64>().ok());
        let mut out = conn;
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let mut log = Logged { path: path.clone(), range_start, status: 200, body_bytes: 0, headers, done: true };
        if n < self.faults.unavailable_first {
            log.status = 503;
            self.log.lock().expect("log").push(log);
            return out
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        if path == "/loop" {
            log.status = 302;
            self.log.lock().expect("log").push(log);
            return out
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
        let rel = path.trim_start_matches('/');
        let file = self.root.join(rel);
        let data = match (rel.contains(".."), std::fs::read(&file)) {
            (false, Ok(d)) => d,
            _ => {
                log.status = 404;
                self.log.lock().expect("log").push(log);
                return out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        };
        let len = data.len() as u64;
        let (status, start) = match range_start {
            Some(s) if !self.faults.ignore_range && s < len => (206, s.saturating_sub(self.faults.range_off_by)),
            _ => (200, 0),
        };
        let end = match (status, range_end) {
            (206, Some(e)) => (e + 1).min(len),
            _ => len,
        };
        let body = &data[start as usize..end as usize];
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
            if status == 206 { "Partial Content" } else { "OK" },
            body.len()
        );
        if status == 206 {
            head.push_str(&format!("Content-Range: bytes {start}-{}/{len}\r\n", end - 1));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        log.status = status;
        log.done = false;
        // Logged before the body goes out, so a client that has the body
        // finds its request in the log; the byte count follows.
        let entry = {
            let mut l = self.log.lock().expect("log");
            l.push(log);
            l.len() - 1
        };
        // Only a response that goes past the point is cut (or stalled) there.
        let past = |at: &u64| start < *at && *at < end;
        let relative = self.faults.cut_once_after.filter(|n| *n < body.len() as u64).map(|n| start + n);
        let cut = self.faults.cut_once_at.or(relative).filter(|at| past(at) && !self.cut_done.load(Ordering::SeqCst));
        let stall = self.faults.stall_once_at.filter(|at| past(at) && !self.stall_done.load(Ordering::SeqCst));
        let limit = cut.or(stall).map(|c| c.saturating_sub(start).min(body.len() as u64) as usize);
        let to_send = &body[..limit.unwrap_or(body.len())];
        let piece = self.faults.trickle.map_or(1 << 16, |(n, _)| n);
        let mut sent = 0usize;
        let result = (|| -> std::io::Result<()> {
            for part in to_send.chunks(piece) {
                out.write_all(part)?;
                sent += part.len();
                if let Some((_, pause)) = self.faults.trickle {
                    std::thread::sleep(pause);
                }
            }
            Ok(())
        })();
        {
            let mut l = self.log.lock().expect("log");
            l[entry].body_bytes = sent as u64;
            l[entry].done = true;
        }
        result?;
        if limit.is_some() && cut.is_some() {
            self.cut_done.store(true, Ordering::SeqCst);
            return out.shutdown(std::net::Shutdown::Both);
        }
        if limit.is_some() && stall.is_some() {
            self.stall_done.store(true, Ordering::SeqCst);
            // Silent until the client gives up (or the test ends).
            let mut sink = [0u8; 1];
            let _ = out.set_read_timeout(Some(Duration::from_secs(120)));
            let _ = (&out).read(&mut sink);
        }
        Ok(())
    }
}
