//! [`MemDevice`]: a device in memory, for tests.

use crate::BlockDevice;
use std::io;

/// A device in memory, for tests.
#[derive(Clone)]
pub struct MemDevice(pub Vec<u8>);

impl BlockDevice for MemDevice {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let o = offset as usize;
        let src = self.0.get(o..o + buf.len()).ok_or_else(|| io::Error::other("read beyond the end"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        let o = offset as usize;
        let dst = self.0.get_mut(o..o + buf.len()).ok_or_else(|| io::Error::other("write beyond the end"))?;
        dst.copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
