//! The fbdev framebuffer (`/dev/fb0`): efifb on x86 before the DRM driver
//! loads, simple-framebuffer on the Raspberry Pi under QEMU. 32-bit XRGB
//! and 16-bit RGB565 are supported.
//!
//! Written by hand on libc: the fbdev crates on crates.io are unmaintained,
//! and the interface is two ioctls and an mmap.

use super::Display;
use crate::canvas::Canvas;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

const FBIOGET_VSCREENINFO: libc::c_ulong = 0x4600;
const FBIOGET_FSCREENINFO: libc::c_ulong = 0x4602;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Bitfield {
    offset: u32,
    length: u32,
    msb_right: u32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct VarInfo {
    xres: u32,
    yres: u32,
    xres_virtual: u32,
    yres_virtual: u32,
    xoffset: u32,
    yoffset: u32,
    bits_per_pixel: u32,
    grayscale: u32,
    red: Bitfield,
    green: Bitfield,
    blue: Bitfield,
    transp: Bitfield,
    rest: [u32; 20],
}

#[repr(C)]
struct FixInfo {
    id: [u8; 16],
    smem_start: libc::c_ulong,
    smem_len: u32,
    kind: u32,
    type_aux: u32,
    visual: u32,
    xpanstep: u16,
    ypanstep: u16,
    ywrapstep: u16,
    line_length: u32,
    mmio_start: libc::c_ulong,
    mmio_len: u32,
    accel: u32,
    capabilities: u16,
    reserved: [u16; 2],
}

/// How pixels are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// 32 bits, red at bit 16.
    Xrgb8888,
    /// 32 bits, blue at bit 16.
    Xbgr8888,
    /// 16 bits, 5-6-5.
    Rgb565,
}

impl Format {
    fn from_info(v: &VarInfo) -> Option<Format> {
        match (v.bits_per_pixel, v.red.offset, v.blue.offset) {
            (32, 16, 0) => Some(Format::Xrgb8888),
            (32, 0, 16) => Some(Format::Xbgr8888),
            (16, 11, 0) => Some(Format::Rgb565),
            _ => None,
        }
    }
    fn bytes(self) -> usize {
        if self == Format::Rgb565 {
            2
        } else {
            4
        }
    }
}

/// Converts one row of XRGB8888 pixels into `out` in `format`.
pub fn convert_row(format: Format, row: &[u32], out: &mut [u8]) {
    match format {
        Format::Xrgb8888 => {
            for (p, o) in row.iter().zip(out.chunks_exact_mut(4)) {
                o.copy_from_slice(&p.to_ne_bytes());
            }
        }
        Format::Xbgr8888 => {
            for (p, o) in row.iter().zip(out.chunks_exact_mut(4)) {
                let swapped = (p & 0x00ff00) | ((p >> 16) & 0xff) | ((p & 0xff) << 16);
                o.copy_from_slice(&swapped.to_ne_bytes());
            }
        }
        Format::Rgb565 => {
            for (p, o) in row.iter().zip(out.chunks_exact_mut(2)) {
                let v = (((p >> 19) & 0x1f) << 11) | (((p >> 10) & 0x3f) << 5) | ((p >> 3) & 0x1f);
                o.copy_from_slice(&(v as u16).to_ne_bytes());
            }
        }
    }
}

/// `/dev/fb0`, mapped.
pub struct FbDisplay {
    _file: File,
    map: *mut u8,
    map_len: usize,
    width: u32,
    height: u32,
    stride: usize,
    format: Format,
    /// The rows as last written, so that only changed rows are copied
    /// (framebuffer memory is slow, above all under emulation).
    shadow: Vec<u32>,
}

impl FbDisplay {
    pub fn open(path: &Path) -> io::Result<FbDisplay> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let mut var = VarInfo::default();
        // SAFETY: the ioctls fill the structs, which match the kernel's
        // fb_var_screeninfo and fb_fix_screeninfo layouts.
        let mut fix: FixInfo = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(file.as_raw_fd(), FBIOGET_VSCREENINFO as _, &mut var) } < 0
            || unsafe { libc::ioctl(file.as_raw_fd(), FBIOGET_FSCREENINFO as _, &mut fix) } < 0
        {
            return Err(io::Error::last_os_error());
        }
        let format = Format::from_info(&var).ok_or_else(|| {
            io::Error::other(format!(
                "{}: unsupported pixel format ({} bits, red at {}, blue at {})",
                path.display(),
                var.bits_per_pixel,
                var.red.offset,
                var.blue.offset
            ))
        })?;
        let stride = fix.line_length as usize;
        let map_len = stride * var.yres as usize;
        if map_len == 0 || map_len > fix.smem_len as usize || stride < var.xres as usize * format.bytes() {
            return Err(io::Error::other(format!("{}: inconsistent framebuffer geometry", path.display())));
        }
        // SAFETY: a shared mapping of the framebuffer memory, inside smem_len.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        log::info!("fbdev {}: {}x{} {:?}, stride {}", path.display(), var.xres, var.yres, format, stride);
        Ok(FbDisplay {
            _file: file,
            map: map.cast(),
            map_len,
            width: var.xres,
            height: var.yres,
            stride,
            format,
            shadow: Vec::new(),
        })
    }
}

impl Display for FbDisplay {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn present(&mut self, frame: &Canvas) -> io::Result<()> {
        if (frame.width(), frame.height()) != (self.width, self.height) {
            return Err(io::Error::other("frame size differs from the framebuffer's"));
        }
        let w = self.width as usize;
        let first = self.shadow.is_empty();
        if first {
            self.shadow = vec![0; w * self.height as usize];
        }
        let mut line = vec![0u8; w * self.format.bytes()];
        for y in 0..self.height {
            let row = frame.row(y);
            let old = &mut self.shadow[y as usize * w..(y as usize + 1) * w];
            if !first && old == row {
                continue;
            }
            old.copy_from_slice(row);
            convert_row(self.format, row, &mut line);
            // SAFETY: the row lies inside the mapping (stride * yres bytes).
            unsafe {
                std::ptr::copy_nonoverlapping(line.as_ptr(), self.map.add(y as usize * self.stride), line.len());
            }
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "fbdev"
    }
}

impl Drop for FbDisplay {
    fn drop(&mut self) {
        // SAFETY: unmaps what open mapped.
        unsafe { libc::munmap(self.map.cast(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<VarInfo>(), 160);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<FixInfo>(), 80);
    }

    #[test]
    fn rows_convert_to_each_format() {
        let row = [0x00ff8040u32];
        let mut out = [0u8; 4];
        convert_row(Format::Xrgb8888, &row, &mut out);
        assert_eq!(u32::from_ne_bytes(out), 0x00ff8040);
        convert_row(Format::Xbgr8888, &row, &mut out);
        assert_eq!(u32::from_ne_bytes(out), 0x004080ff);
        let mut out16 = [0u8; 2];
        convert_row(Format::Rgb565, &row, &mut out16);
        assert_eq!(u16::from_ne_bytes(out16), (0x1f << 11) | (0x20 << 5) | 0x08);
    }
}
