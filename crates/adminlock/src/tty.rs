//! Reading a password at a terminal without showing it.

use std::io::{BufRead, Write};

/// Shows `prompt` on `out` and reads a line from stdin with the terminal's
/// echo off (restored afterwards); `Ok(None)` at the end of input. Echo goes
/// off before the prompt shows, so nothing typed after it is echoed. Not a
/// terminal: a plain line.
pub fn read_secret(prompt: &str, out: &mut dyn Write) -> std::io::Result<Option<String>> {
    // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios they fill.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(0, &mut t) == 0).then_some(t)
    };
    if let Some(t) = saved {
        let mut quiet = t;
        quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
        // SAFETY: as above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    }
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut s = String::new();
    let read = std::io::stdin().lock().read_line(&mut s);
    if let Some(t) = saved {
        // SAFETY: restores what tcgetattr read.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        writeln!(out)?;
    }
    Ok(match read? {
        0 => None,
        _ => Some(s.trim_end_matches(['\n', '\r']).to_string()),
    })
}
