//! The terminal side of quill-admin: lines for the person at it, a
//! password read without echo, and what goes to the kernel log (never a
//! password).

use std::io::{BufRead, Write};

pub fn say(line: &str) {
    println!("{line}");
}

/// The terminal this runs on (/dev/ttyS0, /dev/tty2, ...).
pub fn terminal() -> String {
    std::fs::read_link("/proc/self/fd/0").map(|p| p.display().to_string()).unwrap_or_else(|_| "?".into())
}

/// Who did what, on which terminal: a line on the system console and in
/// the kernel log, as init's own lines (never a password).
pub fn log(what: &str) {
    let line = format!("quill-admin: {what} (on {})", terminal());
    let open = |p: &str| std::fs::OpenOptions::new().write(true).open(p);
    let _ = open("/dev/console").and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    let _ = open("/dev/kmsg").and_then(|mut f| f.write_all(format!("<5>{line}\n").as_bytes()));
}

/// Waits up to `timeout` for a line at the terminal; `Some(None)` when the
/// input ended, `None` when nothing was typed in time.
pub fn line_within(timeout: std::time::Duration) -> Option<Option<String>> {
    let mut fds = [libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 }];
    // SAFETY: poll on one valid pollfd.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, timeout.as_millis().min(i32::MAX as u128) as i32) };
    if n <= 0 {
        return None;
    }
    let mut s = String::new();
    Some(match std::io::stdin().lock().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s),
    })
}

/// Reads a line; `None` at the end of input.
pub fn ask(prompt: &str) -> Option<String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut s = String::new();
    match std::io::stdin().lock().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim_end_matches(['\n', '\r']).to_string()),
    }
}

/// Reads a password without echo after `prompt`.
pub fn ask_hidden(prompt: &str) -> Option<String> {
    crate::tty::read_secret(prompt, &mut std::io::stdout()).ok().flatten()
}
