//! Time: SNTP against the servers DHCP named (option 42) and those in the
//! settings, and a time floor kept on DATA so the clock never starts
//! earlier than the last time the device knew. The first answer steps the
//! clock (when it is more than a second off), later ones slew it. An answer
//! earlier than the floor is ignored. No signature check in Quill depends on
//! the clock: this is for logs, certificates' display and the user.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The floor's file under the settings folder on DATA.
pub const FLOOR_FILE: &str = "time-floor";

/// What to do with a server's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Set the clock to this time (seconds since 1970).
    Step(i64),
    /// Nudge the clock by this many microseconds.
    Slew(i64),
    /// The server's time is before the floor: not believed.
    BeforeFloor,
}

/// `now` and the server's time, in microseconds since 1970; `floor` in seconds.
pub fn decide(now_us: i64, server_us: i64, floor_s: i64, stepped_before: bool) -> Decision {
    if server_us / 1_000_000 < floor_s {
        return Decision::BeforeFloor;
    }
    let offset = server_us - now_us;
    if !stepped_before || offset.abs() > 1_000_000 {
        Decision::Step(server_us.div_euclid(1_000_000))
    } else {
        Decision::Slew(offset)
    }
}

/// The floor on DATA (seconds since 1970).
pub struct Floor {
    path: PathBuf,
}

impl Floor {
    pub fn new(settings_dir: &Path) -> Floor {
        Floor { path: settings_dir.join(FLOOR_FILE) }
    }

    pub fn read(&self) -> Option<i64> {
        std::fs::read_to_string(&self.path).ok()?.trim().parse().ok()
    }

    /// Raises the floor to `t` (never lowers it).
    pub fn raise(&self, t: i64) -> Result<(), String> {
        if self.read().is_some_and(|f| f >= t) {
            return Ok(());
        }
        devconfig::write_atomic(&self.path, format!("{t}\n").as_bytes()).map_err(|e| e.to_string())
    }
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Asks one server (`host:123`) for the time, in microseconds since 1970.
pub fn query(server: &str, timeout: Duration) -> Result<i64, String> {
    use sntpc::{sync::get_time, NtpContext, StdTimestampGen};
    use std::net::ToSocketAddrs;
    let addr = (server, 123u16)
        .to_socket_addrs()
        .map_err(|e| format!("{server}: {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("{server}: no IPv4 address"))?;
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let socket = sntpc_net_std::UdpSocketWrapper::new(socket);
    let context = NtpContext::new(StdTimestampGen::default());
    let r = get_time(addr, &socket, context).map_err(|e| format!("{server}: {e:?}"))?;
    // The server's clock now = ours + the measured offset.
    Ok(now_us() + r.offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let s = 1_000_000i64;
        assert_eq!(decide(100 * s, 5000 * s, 4000, false), Decision::Step(5000));
        assert_eq!(decide(5000 * s, 5000 * s + 300_000, 4000, true), Decision::Slew(300_000));
        assert_eq!(decide(5000 * s, 5003 * s, 4000, true), Decision::Step(5003));
        assert_eq!(decide(5000 * s, 3000 * s, 4000, true), Decision::BeforeFloor);
        assert_eq!(decide(5000 * s, 4999 * s, 4000, false), Decision::Step(4999), "first answer steps");
    }

    #[test]
    fn the_floor_only_rises() {
        let t = tempfile::tempdir().unwrap();
        let f = Floor::new(t.path());
        assert_eq!(f.read(), None);
        f.raise(100).unwrap();
        f.raise(50).unwrap();
        assert_eq!(f.read(), Some(100));
        f.raise(200).unwrap();
        assert_eq!(f.read(), Some(200));
    }
}
