//! The attribute bits of one slot as a typed value.

use core::fmt;

/// Highest value the 4-bit priority field can hold.
pub const MAX_PRIORITY: u8 = 15;
/// Highest value the 4-bit tries field can hold.
pub const MAX_TRIES: u8 = 15;

const PRIORITY_SHIFT: u32 = 48;
const TRIES_SHIFT: u32 = 52;
const SUCCESSFUL_SHIFT: u32 = 56;
const NIBBLE: u64 = 0xf;
/// All bits this crate owns; every other attribute bit is preserved.
const OWNED_MASK: u64 = (NIBBLE << PRIORITY_SHIFT) | (NIBBLE << TRIES_SHIFT) | (1 << SUCCESSFUL_SHIFT);

/// Priority, tries left and the successful flag of one slot.
///
/// Construct with [`SlotAttr::new`] (which clamps to the 4-bit fields) or
/// decode with [`SlotAttr::from_gpt`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SlotAttr {
    priority: u8,
    tries: u8,
    successful: bool,
}

impl SlotAttr {
    /// A state; priority and tries are clamped to 0..=15.
    pub const fn new(priority: u8, tries: u8, successful: bool) -> Self {
        let priority = if priority > MAX_PRIORITY { MAX_PRIORITY } else { priority };
        let tries = if tries > MAX_TRIES { MAX_TRIES } else { tries };
        SlotAttr { priority, tries, successful }
    }

    /// Decodes the slot bits of a GPT partition entry's 64-bit attribute field.
    pub const fn from_gpt(attributes: u64) -> Self {
        SlotAttr {
            priority: ((attributes >> PRIORITY_SHIFT) & NIBBLE) as u8,
            tries: ((attributes >> TRIES_SHIFT) & NIBBLE) as u8,
            successful: (attributes >> SUCCESSFUL_SHIFT) & 1 == 1,
        }
    }

    /// Writes this state into `attributes`, keeping every bit it does not own
    /// (for example bit 0 "required partition" or bit 63 "no automount").
    pub const fn to_gpt(self, attributes: u64) -> u64 {
        (attributes & !OWNED_MASK)
            | ((self.priority as u64) << PRIORITY_SHIFT)
            | ((self.tries as u64) << TRIES_SHIFT)
            | ((self.successful as u64) << SUCCESSFUL_SHIFT)
    }

    pub const fn priority(self) -> u8 {
        self.priority
    }
    pub const fn tries(self) -> u8 {
        self.tries
    }
    pub const fn successful(self) -> bool {
        self.successful
    }

    /// A slot may be chosen when it has a priority and is either proven or
    /// still has tries left.
    pub const fn is_bootable(self) -> bool {
        self.priority > 0 && (self.successful || self.tries > 0)
    }

    pub const fn with_priority(self, priority: u8) -> Self {
        SlotAttr::new(priority, self.tries, self.successful)
    }
    pub const fn with_tries(self, tries: u8) -> Self {
        SlotAttr::new(self.priority, tries, self.successful)
    }
    pub const fn with_successful(self, successful: bool) -> Self {
        SlotAttr::new(self.priority, self.tries, successful)
    }
}

impl fmt::Display for SlotAttr {
    /// `priority=2 tries=3 successful=0`, the wording of `cgpt show`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "priority={} tries={} successful={}", self.priority, self.tries, self.successful as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_encodes_the_chromeos_bit_positions() {
        // Table: raw attribute word -> (priority, tries, successful).
        let cases: &[(u64, u8, u8, bool)] = &[
            (0, 0, 0, false),
            (0x0001_0000_0000_0000, 1, 0, false),
            (0x000f_0000_0000_0000, 15, 0, false),
            (0x0010_0000_0000_0000, 0, 1, false),
            (0x00f0_0000_0000_0000, 0, 15, false),
            (0x0100_0000_0000_0000, 0, 0, true),
            (0x0132_0000_0000_0000, 2, 3, true),
            (0x01ff_0000_0000_0000, 15, 15, true),
        ];
        for &(raw, p, t, s) in cases {
            let a = SlotAttr::from_gpt(raw);
            assert_eq!((a.priority(), a.tries(), a.successful()), (p, t, s), "{raw:#x}");
            assert_eq!(a.to_gpt(0), raw, "round trip of {raw:#x}");
        }
    }

    #[test]
    fn foreign_bits_are_preserved() {
        let foreign = 0x8000_0000_0000_0001u64 | (0xfe << 57);
        let a = SlotAttr::new(2, 3, true);
        let raw = a.to_gpt(foreign | 0x00ff_0000_0000_0000);
        assert_eq!(raw & !0x01ff_0000_0000_0000, foreign);
        assert_eq!(SlotAttr::from_gpt(raw), a);
    }

    #[test]
    fn new_clamps_to_four_bits() {
        let a = SlotAttr::new(200, 16, false);
        assert_eq!((a.priority(), a.tries()), (15, 15));
    }

    #[test]
    fn bootable_rule() {
        // priority > 0 and (successful or tries > 0)
        let cases: &[(u8, u8, bool, bool)] = &[
            (0, 0, false, false),
            (0, 3, false, false),
            (0, 0, true, false),
            (0, 3, true, false),
            (1, 0, false, false),
            (1, 1, false, true),
            (1, 0, true, true),
            (15, 15, true, true),
        ];
        for &(p, t, s, want) in cases {
            assert_eq!(SlotAttr::new(p, t, s).is_bootable(), want, "p={p} t={t} s={s}");
        }
    }

    #[test]
    fn display_matches_cgpt_wording() {
        extern crate alloc;
        use alloc::format;
        assert_eq!(format!("{}", SlotAttr::new(2, 3, false)), "priority=2 tries=3 successful=0");
    }
}
