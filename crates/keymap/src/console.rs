//! The layout of the Linux console (the text terminals on the screen), set
//! with the KDSKBENT ioctl: one entry per key and modifier table, as
//! `loadkeys` does.

use crate::Layout;
use std::os::fd::AsRawFd;

const KDSKBENT: libc::c_ulong = 0x4B47;
/// Modifier tables: plain, Shift, AltGr.
const TABLES: [u8; 3] = [0, 1, 2];
/// `K(KT_LETTER, c)`: a letter, which Caps Lock shifts.
const KT_LETTER: u16 = 0x0b00;
/// `K(KT_SHIFT, KG_ALTGR)`: the right Alt key as AltGr.
const ALTGR_KEY: u16 = 0x0701;
/// `K(KT_SPEC, 0)`: the key does nothing.
const HOLE: u16 = 0x0200;
/// The right Alt key.
const KEY_RIGHTALT: u16 = 100;

#[repr(C)]
struct KbEntry {
    table: u8,
    index: u8,
    value: u16,
}

/// The console's value for a character: ASCII as itself (letters as
/// letters), anything else as Unicode (the kernel stores `value ^ 0xf000`,
/// so Unicode is passed xor 0xf000).
fn value(c: char) -> u16 {
    match c {
        'a'..='z' | 'A'..='Z' => KT_LETTER | c as u16,
        c if c.is_ascii() => c as u16,
        c => (c as u32 ^ 0xf000) as u16,
    }
}

/// Every (table, key code, value) that sets `layout` on the console.
pub fn entries(layout: &Layout) -> Vec<(u8, u16, u16)> {
    let mut out = Vec::new();
    for (code, plain, shift) in layout.keys() {
        out.push((TABLES[0], code, value(plain)));
        out.push((TABLES[1], code, value(shift)));
        let altgr = layout.altgr_keys().iter().find(|(k, _)| *k == code).map_or(HOLE, |&(_, c)| value(c));
        out.push((TABLES[2], code, altgr));
    }
    for &(code, c) in layout.altgr_keys() {
        if !out.iter().any(|&(t, k, _)| t == TABLES[2] && k == code) {
            out.push((TABLES[2], code, value(c)));
        }
    }
    if !layout.altgr_keys().is_empty() {
        for t in TABLES {
            out.push((t, KEY_RIGHTALT, ALTGR_KEY));
        }
    }
    out
}

const KDGKBMODE: libc::c_ulong = 0x4B44;
const KDSKBMODE: libc::c_ulong = 0x4B45;
const K_UNICODE: libc::c_int = 3;

/// Sets `layout` on the console behind `tty` (`/dev/tty0`, or a tty). The
/// keymaps are the kernel's, shared by every console; the kernel takes
/// Unicode entries only through a console in Unicode mode, so a console
/// whose keyboard the UI has switched off (K_OFF, see `ui::vt`) is put in
/// Unicode mode for the moment of the change.
pub fn apply(tty: &impl AsRawFd, layout: &Layout) -> std::io::Result<()> {
    let fd = tty.as_raw_fd();
    let mut mode: libc::c_int = K_UNICODE;
    // SAFETY: KDGKBMODE fills an int; KDSKBMODE takes the mode by value.
    let switched = unsafe { libc::ioctl(fd, KDGKBMODE as _, &mut mode) } == 0
        && mode != K_UNICODE
        && unsafe { libc::ioctl(fd, KDSKBMODE as _, K_UNICODE) } == 0;
    let mut result = Ok(());
    for (table, code, value) in entries(layout) {
        let e = KbEntry { table, index: code as u8, value };
        // SAFETY: KDSKBENT reads one struct kbentry, which `e` is.
        let r = unsafe { libc::ioctl(fd, KDSKBENT as _, &e as *const KbEntry) };
        if r < 0 {
            result = Err(std::io::Error::last_os_error());
            break;
        }
    }
    if switched {
        // SAFETY: as above; the mode read before.
        unsafe { libc::ioctl(fd, KDSKBMODE as _, mode) };
    }
    result
}

const KDGKBENT: libc::c_ulong = 0x4B46;

/// The layout the console behind `tty` has now: the one whose every entry
/// the kernel's tables hold (read back with KDGKBENT, in Unicode mode as
/// [`apply`] writes them); `None` when no layout matches (the kernel's
/// default table is `us`).
pub fn active(tty: &impl AsRawFd) -> std::io::Result<Option<&'static str>> {
    let fd = tty.as_raw_fd();
    let mut mode: libc::c_int = K_UNICODE;
    // SAFETY: as in `apply`.
    let switched = unsafe { libc::ioctl(fd, KDGKBMODE as _, &mut mode) } == 0
        && mode != K_UNICODE
        && unsafe { libc::ioctl(fd, KDSKBMODE as _, K_UNICODE) } == 0;
    let mut found = Ok(None);
    'layouts: for layout in Layout::all() {
        for (table, code, value) in entries(layout) {
            let mut e = KbEntry { table, index: code as u8, value: 0 };
            // SAFETY: KDGKBENT fills the value of one struct kbentry, which `e` is.
            if unsafe { libc::ioctl(fd, KDGKBENT as _, &mut e as *mut KbEntry) } < 0 {
                found = Err(std::io::Error::last_os_error());
                break 'layouts;
            }
            if e.value != value {
                continue 'layouts;
            }
        }
        found = Ok(Some(layout.name));
        break;
    }
    if switched {
        // SAFETY: as in `apply`.
        unsafe { libc::ioctl(fd, KDSKBMODE as _, mode) };
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_console_entries() {
        let e = entries(Layout::by_name("de").unwrap());
        let find = |t, k| e.iter().find(|&&(tt, kk, _)| tt == t && kk == k).map(|&(_, _, v)| v);
        assert_eq!(find(0, 21), Some(KT_LETTER | b'z' as u16), "Y key types z");
        assert_eq!(find(1, 21), Some(KT_LETTER | b'Z' as u16));
        assert_eq!(find(0, 39), Some(0xf0f6), "ö as Unicode xor 0xf000");
        assert_eq!(find(2, 16), Some(b'@' as u16), "AltGr+Q");
        assert_eq!(find(2, 18), Some((0x20ac ^ 0xf000) as u16), "AltGr+E is the euro sign");
        assert_eq!(find(2, 17), Some(HOLE));
        assert_eq!(find(0, KEY_RIGHTALT), Some(ALTGR_KEY));
    }

    #[test]
    fn us_console_keeps_right_alt() {
        let e = entries(Layout::by_name("us").unwrap());
        assert!(!e.iter().any(|&(_, k, _)| k == KEY_RIGHTALT));
        assert_eq!(e.len(), 48 * 3);
    }
}
