//! Downloads for updates over HTTP and HTTPS, from any static web server,
//! object store or CDN.
//!
//! - URLs: `http://` or `https://` only, never with credentials in them
//!   (they would end up in logs and access logs); plain HTTP is allowed
//!   because everything fetched is signed.
//! - [`Client::get`]: a small file (a channel index, a manifest) with a
//!   size limit and a deadline.
//! - [`Client::stream`]: a large file as a `Read` that resumes a dropped or
//!   stalled connection with a Range request where it stopped; a server
//!   that answers 200 to a Range request is read from the start again and
//!   the bytes already had are skipped; a Range answer that does not start
//!   where asked is refused. One deadline covers the whole stream.
//! - Every request carries the fleet headers (unit ID, version, board,
//!   roll-out seed), so a CDN's access logs show the fleet.
//!
//! ureq (blocking, rustls) rather than an async stack: one download at a
//! time on a small device. Cost in the device's fwupdate: see ARCHITECTURE.

use std::io::Read;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: only http:// and https:// URLs are supported")]
    Scheme(String),
    #[error("{0}: the URL carries a user name or password; configure the server to need none (updates are signed)")]
    Credentials(String),
    #[error("{url}: the server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {why}")]
    Transport { url: String, why: String },
    #[error("{url}: more than {limit} bytes; is this the right URL?")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: the server answered a request for bytes from {asked} with bytes from {got}")]
    BadRange { url: String, asked: u64, got: String },
    #[error("{url}: no progress for {secs} s or the download's deadline passed")]
    Deadline { url: String, secs: u64 },
    #[error("the proxy {0:?} is not a usable proxy URL (http://host:port)")]
    Proxy(String),
    #[error("{what}: {why}")]
    Certificate { what: String, why: String },
}

/// Who is asking, and how patiently.
#[derive(Clone, Debug)]
pub struct Options {
    /// `http://host:port` from the settings; empty: none.
    pub proxy: String,
    /// Sent as X-Quill-Unit, X-Quill-Version, X-Quill-Board, X-Quill-Seed.
    pub unit_id: String,
    pub version: String,
    pub board: String,
    pub seed: u32,
    pub connect_timeout: Duration,
    /// A connection that delivers nothing for this long is dropped (and a
    /// stream resumes on a new one).
    pub stall_timeout: Duration,
    /// For one small GET.
    pub request_deadline: Duration,
    /// For a whole stream, resumes included.
    pub stream_deadline: Duration,
    /// Resumes a stream may need before it gives up.
    pub max_resumes: u32,
    /// CA certificates (PEM) trusted for HTTPS besides the public roots:
    /// a fleet's own CA for an internal server. `(where it came from, text)`.
    pub extra_roots: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            proxy: String::new(),
            unit_id: String::new(),
            version: String::new(),
            board: String::new(),
            seed: 0,
            connect_timeout: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(30),
            request_deadline: Duration::from_secs(60),
            stream_deadline: Duration::from_secs(3600),
            max_resumes: 20,
            extra_roots: Vec::new(),
        }
    }
}

/// Checks a URL before anything is sent.
pub fn check_url(url: &str) -> Result<(), Error> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| Error::Scheme(url.to_string()))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(Error::Credentials(redact(url)));
    }
    if authority.is_empty() {
        return Err(Error::Scheme(url.to_string()));
    }
    Ok(())
}

/// The URL without what is between `//` and `@`.
fn redact(url: &str) -> String {
    match (url.find("//"), url.find('@')) {
        (Some(a), Some(b)) if b > a => format!("{}//…@{}", &url[..a], &url[b + 1..]),
        _ => url.to_string(),
    }
}

/// `rel` resolved against the folder of `base` (`base` itself when it ends in `/`).
pub fn join(base: &str, rel: &str) -> String {
    let dir = match base.rfind('/') {
        Some(i) if base[..i].ends_with('/') => format!("{base}/"), // http://host (no path)
        Some(i) => base[..=i].to_string(),
        None => format!("{base}/"),
    };
    format!("{dir}{}", rel.trim_start_matches('/'))
}

pub struct Client {
    agent: ureq::Agent,
    opts: Options,
}

impl Client {
    pub fn new(opts: Options) -> Result<Client, Error> {
        let mut b = ureq::AgentBuilder::new()
            .timeout_connect(opts.connect_timeout)
            .timeout_read(opts.stall_timeout)
            .timeout_write(opts.stall_timeout)
            .redirects(5)
            .user_agent(&format!("quill-fwupdate/{} ({})", opts.version, opts.board));
        if !opts.extra_roots.is_empty() {
            b = b.tls_config(tls_config(&opts.extra_roots)?);
        }
        if !opts.proxy.is_empty() {
            check_url(&opts.proxy).map_err(|_| Error::Proxy(opts.proxy.clone()))?;
            b = b.proxy(ureq::Proxy::new(&opts.proxy).map_err(|_| Error::Proxy(opts.proxy.clone()))?);
        }
        Ok(Client { agent: b.build(), opts })
    }

    /// A GET with the fleet headers; `deadline` bounds the whole request
    /// (in ureq it replaces the per-read stall timeout, so streams pass
    /// none and keep their own deadline).
    fn request(&self, url: &str, deadline: Option<Duration>) -> ureq::Request {
        let req = self.agent.get(url);
        let req = match deadline {
            Some(d) => req.timeout(d),
            None => req,
        };
        req.set("X-Quill-Unit", &self.opts.unit_id)
            .set("X-Quill-Version", &self.opts.version)
            .set("X-Quill-Board", &self.opts.board)
            .set("X-Quill-Seed", &self.opts.seed.to_string())
    }

    fn call(&self, req: ureq::Request, url: &str) -> Result<ureq::Response, Error> {
        req.call().map_err(|e| match e {
            ureq::Error::Status(status, _) => Error::Status { url: redact(url), status },
            ureq::Error::Transport(t) => {
                // ureq's text starts with the URL, which Error says already.
                let why = transport_why(&t);
                let why = why.strip_prefix(&format!("{url}: ")).map(str::to_string).unwrap_or(why);
                Error::Transport { url: redact(url), why }
            }
        })
    }

    /// A small file, whole, at most `limit` bytes.
    pub fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, Error> {
        check_url(url)?;
        let resp = self.call(self.request(url, Some(self.opts.request_deadline)), url)?;
        let mut out = Vec::new();
        resp.into_reader()
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Transport { url: redact(url), why: e.to_string() })?;
        if out.len() > limit {
            return Err(Error::TooLarge { url: redact(url), limit });
        }
        Ok(out)
    }

    /// `len` bytes of a large file from `from` on (`None`: to its end, as
    /// the server reports it), as a stream that resumes.
    pub fn stream(&self, url: &str, from: u64, len: Option<u64>) -> Result<Stream<'_>, Error> {
        check_url(url)?;
        let mut s = Stream {
            client: self,
            url: url.to_string(),
            start: from,
            pos: 0,
            len,
            body: None,
            deadline: Instant::now() + self.opts.stream_deadline,
            resumes: 0,
            requests: 0,
        };
        s.connect()?;
        Ok(s)
    }
}

impl Client {
    /// Several byte ranges (start, length) of one file, one after the
    /// other, as one `Read`: each range is one request (resumed like
    /// [`Client::stream`]), opened when the previous one is done.
    pub fn ranges(&self, url: &str, ranges: Vec<(u64, u64)>) -> Result<Ranges<'_>, Error> {
        check_url(url)?;
        Ok(Ranges { client: self, url: url.to_string(), ranges: ranges.into_iter().collect(), current: None })
    }
}

/// See [`Client::ranges`].
pub struct Ranges<'a> {
    client: &'a Client,
    url: String,
    ranges: std::collections::VecDeque<(u64, u64)>,
    current: Option<Stream<'a>>,
}

impl Read for Ranges<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(s) = self.current.as_mut() {
                let n = s.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.current = None;
            }
            let Some((start, len)) = self.ranges.pop_front() else { return Ok(0) };
            self.current = Some(self.client.stream(&self.url, start, Some(len)).map_err(std::io::Error::other)?);
        }
    }
}

/// The public roots ureq trusts by default, and `extra` (each file's
/// certificates; a file without one, or a certificate rustls cannot use,
/// is an error naming the file, never skipped in silence).
fn tls_config(extra: &[(String, String)]) -> Result<std::sync::Arc<rustls::ClientConfig>, Error> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for (what, pem) in extra {
        let bad = |why: String| Error::Certificate { what: what.clone(), why };
        let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("not PEM ({e:?}); fix or remove the file")))?;
        if certs.is_empty() {
            return Err(bad("holds no \"BEGIN CERTIFICATE\" block; fix or remove the file".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| bad(format!("not a usable CA certificate ({e}); fix or remove the file")))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Certificate { what: "TLS".into(), why: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

fn transport_why(t: &ureq::Transport) -> String {
    let s = t.to_string();
    if s.contains("redirect") {
        format!("{s} (a redirect loop?)")
    } else if s.contains("UnknownIssuer") || s.contains("invalid peer certificate") {
        format!("{s}: the server's certificate is not from a CA this device trusts; put your CA's certificate (PEM) in the update CA folder (/data/quill/ca-certificates)")
    } else {
        s
    }
}

/// A byte range of a remote file as a `Read`; see [`Client::stream`].
pub struct Stream<'a> {
    client: &'a Client,
    url: String,
    /// Where the range starts in the file.
    start: u64,
    /// Bytes of the range delivered so far.
    pos: u64,
    /// Unknown until the first answer when the caller did not say.
    len: Option<u64>,
    body: Option<Box<dyn Read + Send + Sync>>,
    deadline: Instant,
    resumes: u32,
    requests: u32,
}

impl Stream<'_> {
    /// Requests made so far (1 without resumes).
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The range's length (known after the first answer).
    pub fn len(&self) -> u64 {
        self.len.unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn connect(&mut self) -> Result<(), Error> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Deadline { url: redact(&self.url), secs: self.client.opts.stream_deadline.as_secs() });
        }
        let at = self.start + self.pos;
        let range = match self.len {
            Some(len) => format!("bytes={at}-{}", self.start + len - 1),
            None => format!("bytes={at}-"),
        };
        let req = self.client.request(&self.url, None).set("Range", &range);
        self.requests += 1;
        let resp = self.client.call(req, &self.url)?;
        if self.len.is_none() {
            self.len = Some(
                total_len(&resp).ok_or_else(|| Error::Transport {
                    url: redact(&self.url),
                    why: "the server did not say how long the file is".into(),
                })? - self.start,
            );
        }
        let mut body = resp_body(resp, at, &self.url)?;
        if let Some(skip) = body.1 {
            // 200: the whole file again; skip what was had.
            std::io::copy(&mut (&mut body.0).take(skip), &mut std::io::sink())
                .map_err(|e| Error::Transport { url: redact(&self.url), why: e.to_string() })?;
        }
        self.body = Some(body.0);
        Ok(())
    }
}

/// The whole file's length from an answer to a Range request.
fn total_len(resp: &ureq::Response) -> Option<u64> {
    if resp.status() == 206 {
        resp.header("Content-Range")?.rsplit('/').next()?.parse().ok()
    } else {
        resp.header("Content-Length")?.parse().ok()
    }
}

/// The body of an answer to a Range request for bytes from `at`, and how
/// many bytes to skip when the server sent the whole file.
type Body = (Box<dyn Read + Send + Sync>, Option<u64>);

fn resp_body(resp: ureq::Response, at: u64, url: &str) -> Result<Body, Error> {
    match resp.status() {
        206 => {
            let got = resp.header("Content-Range").unwrap_or("").to_string();
            let start =
                got.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse::<u64>().ok());
            if start != Some(at) {
                return Err(Error::BadRange { url: redact(url), asked: at, got });
            }
            Ok((resp.into_reader(), None))
        }
        _ => Ok((resp.into_reader(), Some(at))),
    }
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = ((self.len() - self.pos) as usize).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        loop {
            if Instant::now() > self.deadline {
                let secs = self.client.opts.stream_deadline.as_secs();
                return Err(std::io::Error::other(Error::Deadline { url: redact(&self.url), secs }));
            }
            let r = match self.body.as_mut() {
                Some(b) => b.read(&mut buf[..want]),
                None => Ok(0),
            };
            match r {
                Ok(n) if n > 0 => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                // Ended early or broke: resume where it stopped.
                _ => {
                    self.body = None;
                    if self.resumes >= self.client.opts.max_resumes {
                        let why = format!("the connection broke {} times; giving up", self.resumes);
                        return Err(std::io::Error::other(Error::Transport { url: redact(&self.url), why }));
                    }
                    self.resumes += 1;
                    if let Err(e) = self.connect() {
                        // A server error or refusal is final; a transport
                        // error is tried again (the next loop) until the
                        // resumes or the deadline run out.
                        if !matches!(e, Error::Transport { .. } | Error::Status { status: 500..=599, .. }) {
                            return Err(std::io::Error::other(e));
                        }
                        std::thread::sleep(Duration::from_millis(200 * u64::from(self.resumes.min(10))));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
