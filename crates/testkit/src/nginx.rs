//! Debian's nginx serving a folder on the host's loopback, for the network
//! update tests and the bench: a private configuration in a temporary folder, started in
//! the foreground as a child process and stopped by its PID.

use anyhow::{Context, Result};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Serves `root` on 127.0.0.1 (a free port) until dropped.
    pub fn serve(root: &Path) -> Result<Nginx> {
        Nginx::start(root, None)
    }

    /// As [`Nginx::serve`], over HTTPS with this certificate and key (PEM).
    pub fn serve_tls(root: &Path, cert_pem: &str, key_pem: &str) -> Result<Nginx> {
        Nginx::start(root, Some((cert_pem, key_pem)))
    }

    fn start(root: &Path, tls: Option<(&str, &str)>) -> Result<Nginx> {
        let dir = tempfile::Builder::new().prefix("quill-nginx-").tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let d = dir.path().display();
        let listen = match tls {
            Some((cert, key)) => {
                std::fs::write(dir.path().join("cert.pem"), cert)?;
                std::fs::write(dir.path().join("key.pem"), key)?;
                format!("listen 127.0.0.1:{port} ssl; ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem;")
            }
            None => format!("listen 127.0.0.1:{port};"),
        };
        // Workers of a root master run as another user unless told; the
        // test folders are private to root.
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { "user root;" } else { "" };
        let conf = format!(
            "{user}\nworker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               server {{ {listen} root {}; }}\n}}\n",
            root.display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf)?;
        let child = Command::new(if Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" })
            .args(["-c", &format!("{d}/nginx.conf"), "-p", &d.to_string()])
            .spawn()
            .context("starting nginx (the x86 board's host packages install it)")?;
        let n = Nginx { port, child, dir };
        // Ready when it accepts a connection.
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(20),
                "nginx did not listen on {port}: {}",
                n.errors()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(n)
    }

    /// nginx's error log.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The access log: one line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers, then itself (SIGKILL
        // would leave the workers running).
        // SAFETY: a signal to our own child, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
