//! The disk of a crash state: the image before the run, the writes made
//! durable by flushes, and one fate's pending writes, layered in 4 KiB pages
//! without copying the image.

use super::{Op, PAGE};
use blockdev::BlockDevice;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

/// 4 KiB pages written over the base image, shared between states.
pub(crate) type Overlay = HashMap<u64, Arc<[u8]>>;

/// A device write as whole pages, when it is page-aligned (most are):
/// built once per step and shared by every state that keeps it.
pub(crate) type Pages = Rc<Vec<(u64, Arc<[u8]>)>>;

fn op_range(op: &Op) -> Option<(u64, u64)> {
    match op {
        Op::Write { offset, data } => Some((*offset, data.len() as u64)),
        Op::Zero { offset, len } => Some((*offset, *len)),
        _ => None,
    }
}

pub(crate) fn whole_pages(op: &Op, zero: &Arc<[u8]>) -> Option<Pages> {
    let (offset, len) = op_range(op)?;
    if offset % PAGE != 0 || len % PAGE != 0 {
        return None;
    }
    let pages = (0..len / PAGE)
        .map(|i| {
            let page = offset / PAGE + i;
            let bytes = match op {
                Op::Write { data, .. } => Arc::from(&data[(i * PAGE) as usize..((i + 1) * PAGE) as usize]),
                _ => zero.clone(),
            };
            (page, bytes)
        })
        .collect();
    Some(Rc::new(pages))
}

/// Applies a device step (its first `limit` bytes) onto `overlay`, over
/// `lower` and the base image.
pub(crate) fn apply(
    overlay: &mut Overlay,
    base: &[u8],
    lower: Option<&Overlay>,
    op: &Op,
    pages: Option<&Pages>,
    limit: Option<u64>,
) {
    let Some((offset, len)) = op_range(op) else { return };
    let len = limit.map_or(len, |l| l.min(len));
    if let Some(p) = pages {
        for (page, bytes) in p.iter().take((len / PAGE) as usize) {
            overlay.insert(*page, bytes.clone());
        }
        return;
    }
    let mut at = offset;
    while at < offset + len {
        let page = at / PAGE;
        let in_page = (at % PAGE) as usize;
        let n = ((PAGE as usize - in_page) as u64).min(offset + len - at) as usize;
        let mut buf = read_page(overlay, lower, base, page).to_vec();
        match op {
            Op::Write { data, .. } => {
                let from = (at - offset) as usize;
                buf[in_page..in_page + n].copy_from_slice(&data[from..from + n]);
            }
            _ => buf[in_page..in_page + n].fill(0),
        }
        overlay.insert(page, Arc::from(buf));
        at += n as u64;
    }
}

fn read_page<'a>(top: &'a Overlay, lower: Option<&'a Overlay>, base: &'a [u8], page: u64) -> &'a [u8] {
    if let Some(s) = top.get(&page) {
        return s;
    }
    if let Some(s) = lower.and_then(|l| l.get(&page)) {
        return s;
    }
    let at = (page * PAGE) as usize;
    &base[at..(at + PAGE as usize).min(base.len())]
}

/// The disk after a power cut: the image before, the durable writes, this
/// fate's pending writes, and whatever the next boot writes itself.
pub struct CrashDevice {
    pub(crate) base: Arc<Vec<u8>>,
    pub(crate) durable: Rc<Overlay>,
    pub(crate) top: Overlay,
}

impl CrashDevice {
    /// The whole disk as bytes (for tools that want a file).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = self.base.as_ref().clone();
        for (p, b) in self.durable.iter().chain(self.top.iter()) {
            let at = (*p * PAGE) as usize;
            v[at..at + b.len()].copy_from_slice(b);
        }
        v
    }
}

impl BlockDevice for CrashDevice {
    fn len(&self) -> u64 {
        self.base.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset + buf.len() as u64 > self.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the disk"));
        }
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let page = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let p = read_page(&self.top, Some(&self.durable), &self.base, page);
            let n = (p.len() - in_page).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&p[in_page..in_page + n]);
            done += n;
        }
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let op = Op::Write { offset, data: buf.to_vec() };
        apply(&mut self.top, &self.base, Some(&self.durable), &op, None, None);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
