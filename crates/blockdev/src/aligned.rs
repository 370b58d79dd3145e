//! [`AlignedBuf`]: a byte buffer whose start is page-aligned, as O_DIRECT
//! reads and writes need (`Vec<u8>` gives no such promise: a large
//! allocation from malloc starts 16 bytes into its mapping).
//!
//! Written by hand: the crates that do this (`aligned-vec`,
//! `aligned_box`) bring generic element types we do not need, and this is
//! one allocation with a fixed alignment.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ops::{Deref, DerefMut};

/// Alignment of every [`AlignedBuf`]: a page, which satisfies the DMA
/// alignment of every block device and filesystem O_DIRECT path.
pub const ALIGN: usize = 4096;

/// A zero-initialised byte buffer starting at an [`ALIGN`] boundary, with a
/// fixed capacity and an adjustable length (like a `Vec` that never grows).
pub struct AlignedBuf {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads through &[u8].
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A buffer of `cap` bytes (rounded up to [`ALIGN`]), all zero, of
    /// length `cap`.
    pub fn new(cap: usize) -> AlignedBuf {
        let cap = cap.max(1).div_ceil(ALIGN) * ALIGN;
        let layout = Layout::from_size_align(cap, ALIGN).expect("buffer size");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        AlignedBuf { ptr, cap, len: cap }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Sets the length (the bytes keep whatever they held). Panics beyond
    /// the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.cap, "AlignedBuf: length {len} over capacity {}", self.cap);
        self.len = len;
    }

    /// Replaces the contents with `data` (which must fit).
    pub fn copy_from(&mut self, data: &[u8]) {
        self.set_len(data.len());
        self.copy_from_slice(data);
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr is valid for cap >= len initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in new() with this very layout.
        unsafe { dealloc(self.ptr, Layout::from_size_align_unchecked(self.cap, ALIGN)) }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} of {} bytes)", self.len, self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_sized_as_asked() {
        let mut b = AlignedBuf::new(5000);
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        assert_eq!(b.capacity(), 8192);
        assert!(b.iter().all(|&x| x == 0));
        b.copy_from(&[1, 2, 3]);
        assert_eq!(&b[..], &[1, 2, 3]);
        b.set_len(8192);
        assert_eq!(b.len(), 8192);
    }

    #[test]
    #[should_panic(expected = "over capacity")]
    fn longer_than_its_capacity_panics() {
        AlignedBuf::new(4096).set_len(4097);
    }
}
