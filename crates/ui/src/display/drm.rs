//! DRM/KMS with dumb buffers: the first connected connector, its preferred
//! mode, a CRTC that can drive it, and two buffers (draw into the one not
//! shown, then switch).

use super::Display;
use crate::canvas::Canvas;
use drm::buffer::{Buffer, DrmFourcc};
use drm::control::{
    connector, crtc, dumbbuffer::DumbBuffer, framebuffer, Device as ControlDevice, Mode, ModeTypeFlags,
};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
impl drm::Device for Card {}
impl ControlDevice for Card {}

/// A DRM card driving one connector.
pub struct DrmDisplay {
    card: Card,
    connector: connector::Handle,
    crtc: crtc::Handle,
    mode: Mode,
    /// Every mode the connector offers.
    modes: Vec<Mode>,
    buffers: Vec<(DumbBuffer, framebuffer::Handle)>,
    front: usize,
    /// Whether a frame has been shown yet.
    shown: bool,
}

impl DrmDisplay {
    /// The first /dev/dri/card* with a connected screen.
    pub fn open_any() -> io::Result<DrmDisplay> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no /dev/dri/card* yet");
        let mut cards: Vec<_> = std::fs::read_dir("/dev/dri")?.flatten().map(|e| e.path()).collect();
        cards.sort();
        for p in cards.iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("card"))) {
            match DrmDisplay::open(p) {
                Ok(d) => return Ok(d),
                Err(e) => last = io::Error::new(e.kind(), format!("{}: {e}", p.display())),
            }
        }
        Err(last)
    }

    pub fn open(path: &Path) -> io::Result<DrmDisplay> {
        let card = Card(OpenOptions::new().read(true).write(true).open(path)?);
        let res = card.resource_handles()?;
        let mut found = None;
        for &h in res.connectors() {
            let info = card.get_connector(h, true)?;
            if info.state() == connector::State::Connected && !info.modes().is_empty() {
                found = Some(info);
                break;
            }
        }
        let info = found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no connected screen"))?;
        let mode =
            *info.modes().iter().find(|m| m.mode_type().contains(ModeTypeFlags::PREFERRED)).unwrap_or(&info.modes()[0]);
        let mut crtc = info.current_encoder().and_then(|e| card.get_encoder(e).ok()).and_then(|e| e.crtc());
        if crtc.is_none() {
            for &e in info.encoders() {
                if let Some(&c) = card
                    .get_encoder(e)
                    .ok()
                    .and_then(|e| res.filter_crtcs(e.possible_crtcs()).first().copied())
                    .as_ref()
                {
                    crtc = Some(c);
                    break;
                }
            }
        }
        let crtc = crtc.ok_or_else(|| io::Error::other("no CRTC can drive the screen"))?;
        let (w, h) = mode.size();
        let buffers = buffers(&card, (w as u32, h as u32))?;
        log::info!("drm {} {w}x{h}, connector {:?}", path.display(), info.interface());
        let modes = info.modes().to_vec();
        Ok(DrmDisplay { card, connector: info.handle(), crtc, mode, modes, buffers, front: 1, shown: false })
    }

    fn drop_buffers(&mut self) {
        for (db, fb) in self.buffers.drain(..) {
            let _ = self.card.destroy_framebuffer(fb);
            let _ = self.card.destroy_dumb_buffer(db);
        }
    }
}

/// Two dumb buffers of `size` with their framebuffers.
fn buffers(card: &Card, size: (u32, u32)) -> io::Result<Vec<(DumbBuffer, framebuffer::Handle)>> {
    let mut out = Vec::new();
    for _ in 0..2 {
        let db = card.create_dumb_buffer(size, DrmFourcc::Xrgb8888, 32)?;
        let fb = card.add_framebuffer(&db, 24, 32)?;
        out.push((db, fb));
    }
    Ok(out)
}

impl Display for DrmDisplay {
    fn size(&self) -> (u32, u32) {
        let (w, h) = self.mode.size();
        (w as u32, h as u32)
    }

    fn present(&mut self, frame: &Canvas) -> io::Result<()> {
        let back = 1 - self.front;
        let (w, h) = self.size();
        if (frame.width(), frame.height()) != (w, h) {
            return Err(io::Error::other("frame size differs from the screen's"));
        }
        {
            let (db, _) = &mut self.buffers[back];
            let pitch = db.pitch() as usize;
            let mut map = self.card.map_dumb_buffer(db)?;
            let bytes: &mut [u8] = map.as_mut();
            for y in 0..h {
                let row = frame.row(y);
                let out = &mut bytes[y as usize * pitch..y as usize * pitch + row.len() * 4];
                super::fbdev::convert_row(super::fbdev::Format::Xrgb8888, row, out);
            }
        }
        let fb = self.buffers[back].1;
        self.card.set_crtc(self.crtc, Some(fb), (0, 0), &[self.connector], Some(self.mode))?;
        self.front = back;
        if !std::mem::replace(&mut self.shown, true) {
            // Under QEMU's bochs-drm, the first frame shown on a card just
            // taken over from the firmware's framebuffer was seen to stay
            // black (the cause is not known); showing it again, from the
            // other buffer, makes it appear.
            std::thread::sleep(std::time::Duration::from_millis(100));
            return self.present(frame);
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "drm"
    }

    fn drm_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(&self.card.0))
    }

    fn modes(&self) -> Vec<(u32, u32)> {
        let size = |m: &Mode| (m.size().0 as u32, m.size().1 as u32);
        let mut out = vec![size(&self.mode)];
        for m in &self.modes {
            if !out.contains(&size(m)) {
                out.push(size(m));
            }
        }
        out
    }

    fn set_mode(&mut self, (w, h): (u32, u32)) -> io::Result<()> {
        let mode = *self
            .modes
            .iter()
            .find(|m| (m.size().0 as u32, m.size().1 as u32) == (w, h))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("the screen offers no {w}x{h}")))?;
        let fresh = buffers(&self.card, (w, h))?;
        self.drop_buffers();
        self.buffers = fresh;
        self.mode = mode;
        self.front = 1;
        log::info!("drm mode {w}x{h}");
        Ok(())
    }
}

impl Drop for DrmDisplay {
    fn drop(&mut self) {
        self.drop_buffers();
    }
}
