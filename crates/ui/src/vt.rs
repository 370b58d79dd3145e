//! Sharing the screen with the kernel's text consoles: Ctrl+Alt+F2 (or the
//! home screen's "Terminal") shows the administrators' login on tty2,
//! Ctrl+Alt+F1 (Alt+F1 from the text console) comes back.
//!
//! The UI's own virtual terminal (tty1, its standard input when init starts
//! it) is put in `VT_PROCESS` mode, so the kernel asks before it switches
//! away: on the way out the UI gives up DRM master (so the kernel's console
//! can set its mode and draw) and stops presenting frames and taking input;
//! on the way back it takes master again and draws everything anew. Both
//! answers are given in the signal handlers themselves — they are two
//! ioctls and two atomic stores, all async-signal-safe — so a UI busy with
//! an install still lets the terminal open.
//!
//! The terminal's keyboard is switched off (`K_OFF`, as X servers and
//! Wayland compositors do): keys typed into the UI, passwords among them,
//! never queue up in tty1's input buffer for some later reader. The UI reads
//! them through evdev and switches consoles itself
//! ([`crate::Event::Console`]); the kernel ignores Ctrl+Alt+Del in this mode,
//! so the UI passes it on to init ([`crate::Event::CtrlAltDel`]).
//!
//! Written with raw ioctls because no maintained crate covers the VT API
//! (nix has no VT_SETMODE; the drm crate's master calls need the card, not
//! a signal handler).

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};

const VT_GETMODE: libc::c_ulong = 0x5601;
const VT_SETMODE: libc::c_ulong = 0x5602;
const VT_RELDISP: libc::c_ulong = 0x5605;
const VT_ACTIVATE: libc::c_ulong = 0x5606;
const VT_AUTO: libc::c_char = 0;
const VT_PROCESS: libc::c_char = 1;
const VT_ACKACQ: libc::c_int = 2;
const KDGKBMODE: libc::c_ulong = 0x4B44;
const KDSKBMODE: libc::c_ulong = 0x4B45;
const K_OFF: libc::c_int = 4;
const DRM_IOCTL_SET_MASTER: libc::c_ulong = 0x641e;
const DRM_IOCTL_DROP_MASTER: libc::c_ulong = 0x641f;

/// `struct vt_mode` (linux/vt.h).
#[repr(C)]
#[derive(Default)]
struct VtMode {
    mode: libc::c_char,
    waitv: libc::c_char,
    relsig: libc::c_short,
    acqsig: libc::c_short,
    frsig: libc::c_short,
}

static TTY: AtomicI32 = AtomicI32::new(-1);
static DRM: AtomicI32 = AtomicI32::new(-1);
static ACTIVE: AtomicBool = AtomicBool::new(true);
static CHANGED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_release(_: libc::c_int) {
    let drm = DRM.load(SeqCst);
    ACTIVE.store(false, SeqCst);
    // SAFETY: ioctls on descriptors this process owns; async-signal-safe.
    unsafe {
        if drm >= 0 {
            libc::ioctl(drm, DRM_IOCTL_DROP_MASTER as _, 0);
        }
        libc::ioctl(TTY.load(SeqCst), VT_RELDISP as _, 1 as libc::c_int);
    }
    CHANGED.store(true, SeqCst);
}

extern "C" fn on_acquire(_: libc::c_int) {
    let drm = DRM.load(SeqCst);
    // SAFETY: as in on_release.
    unsafe {
        libc::ioctl(TTY.load(SeqCst), VT_RELDISP as _, VT_ACKACQ);
        if drm >= 0 {
            libc::ioctl(drm, DRM_IOCTL_SET_MASTER as _, 0);
        }
    }
    ACTIVE.store(true, SeqCst);
    CHANGED.store(true, SeqCst);
}

/// The UI's hold on its virtual terminal; dropping it gives the terminal
/// back to the kernel (automatic switching, the keyboard on).
pub struct Vt {
    fd: RawFd,
    kb_mode: libc::c_int,
}

impl Vt {
    /// Takes over the virtual terminal on `fd`; `None` when `fd` is not one
    /// (run by hand over SSH or a serial line: there is nothing to share).
    pub fn take(fd: RawFd) -> Option<Vt> {
        let mut old = VtMode::default();
        // SAFETY: VT_GETMODE fills a struct vt_mode.
        if unsafe { libc::ioctl(fd, VT_GETMODE as _, &mut old) } != 0 {
            return None;
        }
        let mut kb_mode: libc::c_int = 0;
        // SAFETY: KDGKBMODE fills an int.
        unsafe { libc::ioctl(fd, KDGKBMODE as _, &mut kb_mode) };
        for (sig, handler) in [(libc::SIGUSR1, on_release as extern "C" fn(libc::c_int)), (libc::SIGUSR2, on_acquire)] {
            // SAFETY: installs handlers that only make async-signal-safe calls.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
        TTY.store(fd, SeqCst);
        let mode = VtMode {
            mode: VT_PROCESS,
            waitv: 0,
            relsig: libc::SIGUSR1 as libc::c_short,
            acqsig: libc::SIGUSR2 as libc::c_short,
            frsig: 0,
        };
        // SAFETY: VT_SETMODE reads a struct vt_mode.
        if unsafe { libc::ioctl(fd, VT_SETMODE as _, &mode) } != 0 {
            log::warn!("the console cannot be shared (VT_SETMODE): {}", io::Error::last_os_error());
            TTY.store(-1, SeqCst);
            return None;
        }
        // SAFETY: KDSKBMODE takes the mode by value.
        unsafe { libc::ioctl(fd, KDSKBMODE as _, K_OFF) };
        Some(Vt { fd, kb_mode })
    }
}

impl Drop for Vt {
    fn drop(&mut self) {
        let auto = VtMode { mode: VT_AUTO, ..VtMode::default() };
        // SAFETY: as in take.
        unsafe {
            libc::ioctl(self.fd, VT_SETMODE as _, &auto);
            libc::ioctl(self.fd, KDSKBMODE as _, self.kb_mode);
        }
        TTY.store(-1, SeqCst);
    }
}

/// The DRM card whose master the UI gives up while another console shows.
pub fn set_drm_fd(fd: Option<RawFd>) {
    DRM.store(fd.unwrap_or(-1), SeqCst);
}

/// Whether the UI's console is the one shown (frames are presented, input
/// is taken).
pub fn active() -> bool {
    ACTIVE.load(SeqCst)
}

/// Whether the console was switched away or back since the last call (the
/// UI draws everything again).
pub fn take_changed() -> bool {
    CHANGED.swap(false, SeqCst)
}

/// Shows text console `n` (tty2 is the administrators' terminal).
pub fn activate(n: u16) -> io::Result<()> {
    let tty = TTY.load(SeqCst);
    let opened;
    let fd = if tty >= 0 {
        tty
    } else {
        opened = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty0")?;
        std::os::fd::AsRawFd::as_raw_fd(&opened)
    };
    // SAFETY: VT_ACTIVATE takes the console number by value.
    if unsafe { libc::ioctl(fd, VT_ACTIVATE as _, libc::c_int::from(n)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
