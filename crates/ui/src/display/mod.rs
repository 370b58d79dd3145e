//! Where frames go: DRM/KMS, the fbdev framebuffer, or memory.

#[cfg(target_os = "linux")]
pub mod drm;
pub mod fbdev;
mod memory;

pub use memory::MemoryDisplay;

use crate::canvas::Canvas;
use std::time::{Duration, Instant};

/// A screen.
pub trait Display {
    /// Width and height in pixels; canvases given to
    /// [`Display::present`] have this size.
    fn size(&self) -> (u32, u32);
    /// Shows `frame`.
    fn present(&mut self, frame: &Canvas) -> std::io::Result<()>;
    /// "drm", "fbdev" or "memory", for the log.
    fn kind(&self) -> &'static str;
    /// The DRM card, whose master is given up while a text console shows
    /// (see [`crate::vt`]).
    fn drm_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// The sizes the screen offers, the current one first (none: it
    /// cannot be changed, as on fbdev).
    fn modes(&self) -> Vec<(u32, u32)> {
        vec![]
    }
    /// Switches the screen to one of [`Display::modes`].
    fn set_mode(&mut self, _size: (u32, u32)) -> std::io::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "this display's resolution cannot be changed"))
    }
}

/// Opens the best display there is: DRM when a DRM device appears within
/// `drm_wait`, else the fbdev framebuffer, else none (the caller falls back
/// to the console).
pub fn open_best(drm_wait: Duration) -> Option<Box<dyn Display>> {
    let deadline = Instant::now() + drm_wait;
    loop {
        #[cfg(target_os = "linux")]
        match drm::DrmDisplay::open_any() {
            Ok(d) => return Some(Box::new(d)),
            Err(e) => log::debug!("no DRM display yet: {e}"),
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match fbdev::FbDisplay::open(std::path::Path::new("/dev/fb0")) {
        Ok(d) => Some(Box::new(d)),
        Err(e) => {
            log::info!("no framebuffer: {e}");
            None
        }
    }
}
