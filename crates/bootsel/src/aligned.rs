//! Block I/O with the firmware's buffer alignment. UEFI's BlockIO media
//! carry `IoAlign`: a buffer handed to ReadBlocks/WriteBlocks must start at
//! a multiple of it, or the call fails with INVALID_PARAMETER. OVMF says 1
//! (anything goes); U-Boot says 512 and means it (FACTS.md: bootsel found
//! "no usable GPT" there until its buffers were aligned). [`Aligned`] passes
//! an aligned caller's buffer straight through and copies the others
//! through a bounce buffer it keeps aligned.

use alloc::vec::Vec;

/// The firmware's block device as it is: buffers must respect `io_align`.
pub trait RawBlocks {
    type Error: core::fmt::Debug + core::fmt::Display;
    /// Bytes per block.
    fn block_size(&self) -> u32;
    fn block_count(&self) -> u64;
    /// The media's IoAlign (0 and 1: no requirement).
    fn io_align(&self) -> u32;
    fn read_raw(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error>;
    fn write_raw(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error>;
    fn flush_raw(&mut self) -> Result<(), Self::Error>;
}

/// A [`gptedit::Disk`] over [`RawBlocks`] that never hands the firmware a
/// misaligned buffer.
pub struct Aligned<R> {
    raw: R,
    /// Over-allocated by `align` so an aligned window of any needed length fits.
    bounce: Vec<u8>,
}

impl<R: RawBlocks> Aligned<R> {
    pub fn new(raw: R) -> Aligned<R> {
        Aligned { raw, bounce: Vec::new() }
    }

    fn align(&self) -> usize {
        (self.raw.io_align() as usize).max(1)
    }

    fn fits(&self, ptr: *const u8) -> bool {
        (ptr as usize).is_multiple_of(self.align())
    }

    /// The bounce buffer, taken out, long enough for an aligned window of
    /// `len` bytes (it goes back after the call: no allocation per call).
    fn take_window(&mut self, len: usize) -> Vec<u8> {
        let mut bounce = core::mem::take(&mut self.bounce);
        if bounce.len() < len + self.align() {
            bounce.resize(len + self.align(), 0);
        }
        bounce
    }
}

impl<R: RawBlocks> gptedit::Disk for Aligned<R> {
    type Error = R::Error;
    fn block_size(&self) -> u32 {
        self.raw.block_size()
    }
    fn block_count(&self) -> u64 {
        self.raw.block_count()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        if self.fits(buf.as_ptr()) {
            return self.raw.read_raw(lba, buf);
        }
        let mut bounce = self.take_window(buf.len());
        let (off, len) = (bounce.as_ptr().align_offset(self.align()), buf.len());
        let r = self.raw.read_raw(lba, &mut bounce[off..off + len]);
        if r.is_ok() {
            buf.copy_from_slice(&bounce[off..off + len]);
        }
        self.bounce = bounce;
        r
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error> {
        if self.fits(buf.as_ptr()) {
            return self.raw.write_raw(lba, buf);
        }
        let mut bounce = self.take_window(buf.len());
        let (off, len) = (bounce.as_ptr().align_offset(self.align()), buf.len());
        bounce[off..off + len].copy_from_slice(buf);
        let r = self.raw.write_raw(lba, &bounce[off..off + len]);
        self.bounce = bounce;
        r
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.raw.flush_raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptedit::{Disk, Gpt, MemDisk};
    use std::io::Cursor;

    const MIB: u64 = 1024 * 1024;

    /// U-Boot's BlockIO in miniature: a misaligned buffer is refused, as
    /// U-Boot refuses it (EFI_INVALID_PARAMETER).
    struct StrictBlockIo {
        disk: MemDisk,
        align: u32,
        refused: usize,
    }

    impl StrictBlockIo {
        fn check(&mut self, ptr: *const u8) -> Result<(), &'static str> {
            if !(ptr as usize).is_multiple_of(self.align.max(1) as usize) {
                self.refused += 1;
                return Err("INVALID_PARAMETER: buffer not aligned to IoAlign");
            }
            Ok(())
        }
    }

    impl RawBlocks for StrictBlockIo {
        type Error = &'static str;
        fn block_size(&self) -> u32 {
            self.disk.block_size
        }
        fn block_count(&self) -> u64 {
            self.disk.block_count()
        }
        fn io_align(&self) -> u32 {
            self.align
        }
        fn read_raw(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
            self.check(buf.as_ptr())?;
            self.disk.read_blocks(lba, buf)
        }
        fn write_raw(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error> {
            self.check(buf.as_ptr())?;
            self.disk.write_blocks(lba, buf)
        }
        fn flush_raw(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// A 32 MiB disk with the A/B layout, made by the `gpt` crate.
    fn strict_disk(align: u32) -> StrictBlockIo {
        let size = 32 * MIB;
        let mut cur = Cursor::new(vec![0u8; size as usize]);
        let mbr = gpt::mbr::ProtectiveMBR::with_lb_size((size / 512 - 1) as u32);
        mbr.overwrite_lba0(&mut cur).unwrap();
        let mut disk = gpt::GptConfig::new()
            .writable(true)
            .logical_block_size(gpt::disk::LogicalBlockSize::Lb512)
            .create_from_device(&mut cur, Some(uuid::Uuid::from_u128(0x5eed)))
            .unwrap();
        disk.update_partitions(Default::default()).unwrap();
        for (name, mib) in [("ESP", 4), ("SYSTEM_A", 8), ("SYSTEM_B", 8), ("DATA", 4)] {
            disk.add_partition(name, mib * MIB, gpt::partition_types::BASIC, 0, None).unwrap();
        }
        disk.write().unwrap();
        StrictBlockIo { disk: MemDisk { bytes: cur.into_inner(), block_size: 512 }, align, refused: 0 }
    }

    #[test]
    fn the_gpt_reads_and_writes_through_a_blockio_that_demands_512_byte_alignment() {
        let mut disk = Aligned::new(strict_disk(512));
        let mut gpt = Gpt::load(&mut disk).expect("load through the aligned layer");
        assert!(gpt.health().is_clean());
        let b = gpt.find_by_name("SYSTEM_B").unwrap();
        gpt.set_attributes::<()>(b.number, 0x0033_0000_0000_0000).unwrap();
        gpt.write(&mut disk).expect("write both copies through the aligned layer");
        assert_eq!(disk.raw.refused, 0, "a misaligned buffer reached the firmware");

        let again = Gpt::load(&mut disk.raw.disk).unwrap();
        assert!(again.health().is_clean());
        assert_eq!(again.partition(b.number).unwrap().attributes, 0x0033_0000_0000_0000);
    }

    #[test]
    fn a_misaligned_caller_buffer_goes_through_the_bounce_buffer_both_ways() {
        let mut disk = Aligned::new(strict_disk(512));
        let mut backing = vec![0u8; 2048 + 1];
        let start = backing.as_ptr().align_offset(512) + 1; // off by one byte: never aligned
        let misaligned = &mut backing[start..start + 1024];
        disk.read_blocks(1, misaligned).unwrap();
        assert_eq!(&misaligned[..8], b"EFI PART");
        misaligned[512..].fill(0xa5);
        disk.write_blocks(40, misaligned).unwrap();
        assert_eq!(disk.raw.refused, 0);
        assert!(disk.raw.disk.bytes[41 * 512..42 * 512].iter().all(|&b| b == 0xa5));
        // Without the layer the same buffer is refused: the test can fail.
        let mut raw = strict_disk(512);
        assert!(raw.read_raw(1, misaligned).is_err());
    }

    #[test]
    fn firmware_without_an_alignment_rule_gets_the_caller_buffer_as_it_is() {
        for align in [0, 1] {
            let mut disk = Aligned::new(strict_disk(align));
            let mut buf = vec![0u8; 513];
            disk.read_blocks(1, &mut buf[1..]).unwrap();
            assert_eq!(&buf[1..9], b"EFI PART");
            assert!(disk.bounce.is_empty(), "no bounce buffer needed for IoAlign {align}");
        }
    }
}
