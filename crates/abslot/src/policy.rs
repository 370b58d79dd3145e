//! Selection and transition rules of the A/B scheme (see ARCHITECTURE.md).

use crate::attr::{SlotAttr, MAX_PRIORITY};
use core::fmt;

/// Tries a freshly installed slot gets before it counts as failed.
pub const INSTALL_TRIES: u8 = 3;

/// One of the two system slots.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    /// 0 for A, 1 for B.
    pub const fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
    /// `a` or `b`, as in `quill.slot=a`.
    pub const fn letter(self) -> char {
        match self {
            Slot::A => 'a',
            Slot::B => 'b',
        }
    }
    /// The GPT partition type GUID of both slots (every board; the image
    /// build writes it, the updater refuses a slot without it).
    pub const PARTITION_TYPE: &'static str = "FE3A2A5D-4F32-41A7-B725-ACCC3285A309";

    /// The GPT partition name of the slot.
    pub const fn partition_name(self) -> &'static str {
        match self {
            Slot::A => "SYSTEM_A",
            Slot::B => "SYSTEM_B",
        }
    }
    /// Parses `a`/`b` (either case).
    pub fn from_letter(s: &str) -> Option<Slot> {
        match s {
            "a" | "A" => Some(Slot::A),
            "b" | "B" => Some(Slot::B),
            _ => None,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// Why a slot is in the boot plan at its place.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reason {
    /// Bootable, and the highest priority among the bootable slots.
    Preferred,
    /// Bootable too; used when the preferred slot fails to load.
    Alternative,
    /// No slot is bootable; this one was proven last, so it boots anyway.
    NoneBootableLastSuccessful,
    /// No slot is bootable and none was ever proven; highest priority boots anyway.
    NoneBootableAnyway,
    /// Not bootable by the rules; tried only because everything before it failed to load.
    LastResort,
}

impl Reason {
    pub const fn describe(self) -> &'static str {
        match self {
            Reason::Preferred => "highest-priority bootable slot",
            Reason::Alternative => "other bootable slot",
            Reason::NoneBootableLastSuccessful => "no slot is bootable; booting the last successful slot anyway",
            Reason::NoneBootableAnyway => {
                "no slot is bootable and none was proven; booting the highest priority anyway"
            }
            Reason::LastResort => "not bootable, tried as a last resort",
        }
    }
}

/// One entry of a [`BootPlan`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Candidate {
    pub slot: Slot,
    pub reason: Reason,
}

/// The order in which the boot selector tries the slots. It always names both
/// slots, so the selector never ends at a firmware prompt while a slot might
/// still load.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BootPlan {
    pub order: [Candidate; 2],
}

impl BootPlan {
    pub fn first(&self) -> Candidate {
        self.order[0]
    }
}

/// Which slot to boot, and in which order to fall back.
///
/// Rules: the bootable slot (priority > 0 and successful or tries > 0) with
/// the highest priority wins; a tie goes to the lower partition number (A).
/// When no slot is bootable, the last successful slot boots anyway (the one
/// with the successful bit, preferring higher priority, then A); when none was
/// ever successful, the highest priority one (then A).
pub fn boot_plan(a: SlotAttr, b: SlotAttr) -> BootPlan {
    let attrs = [a, b];
    let attr = |s: Slot| attrs[s.index()];
    // Higher priority first; the tie goes to A because A sorts first.
    let by_priority = if b.priority() > a.priority() { [Slot::B, Slot::A] } else { [Slot::A, Slot::B] };
    let bootable = |s: Slot| attr(s).is_bootable();

    let first = by_priority[0];
    let second = by_priority[1];
    if bootable(first) {
        let reason2 = if bootable(second) { Reason::Alternative } else { Reason::LastResort };
        return plan(first, Reason::Preferred, second, reason2);
    }
    if bootable(second) {
        return plan(second, Reason::Preferred, first, Reason::LastResort);
    }
    // Nothing is bootable: never stop at a firmware prompt.
    let proven: Option<Slot> = by_priority.into_iter().find(|&s| attr(s).successful());
    match proven {
        Some(s) => plan(s, Reason::NoneBootableLastSuccessful, s.other(), Reason::LastResort),
        None => plan(first, Reason::NoneBootableAnyway, second, Reason::LastResort),
    }
}

fn plan(s1: Slot, r1: Reason, s2: Slot, r2: Reason) -> BootPlan {
    BootPlan { order: [Candidate { slot: s1, reason: r1 }, Candidate { slot: s2, reason: r2 }] }
}

/// State to write before starting a slot: an unproven slot uses up one try.
/// A proven slot, or one with no tries left (booted "anyway"), is unchanged.
pub fn on_boot_attempt(attr: SlotAttr) -> SlotAttr {
    if !attr.successful() && attr.tries() > 0 {
        attr.with_tries(attr.tries() - 1)
    } else {
        attr
    }
}

/// New states after an image was written into `target`: the target gets a
/// priority above the other slot, [`INSTALL_TRIES`] tries and is unproven.
/// When the other slot already has the maximum priority it is lowered by one
/// so the order is still strict. Returns `(target, other)`.
pub fn after_install(target: SlotAttr, other: SlotAttr) -> (SlotAttr, SlotAttr) {
    let (new_prio, other) = if other.priority() >= MAX_PRIORITY {
        (MAX_PRIORITY, other.with_priority(MAX_PRIORITY - 1))
    } else {
        (other.priority() + 1, other)
    };
    let target = target.with_priority(new_prio).with_tries(INSTALL_TRIES).with_successful(false);
    (target, other)
}

/// A healthy boot proves the slot: successful set, tries cleared (as ChromeOS).
pub fn mark_successful(attr: SlotAttr) -> SlotAttr {
    attr.with_successful(true).with_tries(0)
}

/// A slot that used up its tries without being proven is taken out of the
/// rotation once the rollback has been reported.
pub fn mark_rolled_back(attr: SlotAttr) -> SlotAttr {
    attr.with_priority(0).with_tries(0).with_successful(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reason::*;
    use Slot::*;

    fn s(p: u8, t: u8, ok: bool) -> SlotAttr {
        SlotAttr::new(p, t, ok)
    }

    #[test]
    fn boot_plan_table() {
        // (A, B) -> (first slot, reason, second slot, reason)
        let cases: &[(SlotAttr, SlotAttr, Slot, Reason, Slot, Reason)] = &[
            // Factory image: A proven, B empty.
            (s(1, 0, true), s(0, 0, false), A, Preferred, B, LastResort),
            // Fresh install into B: B above A with tries.
            (s(1, 0, true), s(2, 3, false), B, Preferred, A, Alternative),
            // B used up its tries: A boots.
            (s(1, 0, true), s(2, 0, false), A, Preferred, B, LastResort),
            // Both proven, B higher.
            (s(1, 0, true), s(2, 0, true), B, Preferred, A, Alternative),
            // Equal priority: lower partition number wins.
            (s(2, 0, true), s(2, 0, true), A, Preferred, B, Alternative),
            (s(2, 1, false), s(2, 1, false), A, Preferred, B, Alternative),
            // Higher priority but priority 0 on the other.
            (s(0, 0, true), s(1, 0, true), B, Preferred, A, LastResort),
            // Only the lower-priority slot is bootable.
            (s(3, 0, false), s(1, 1, false), B, Preferred, A, LastResort),
            // Nothing bootable, B was the last successful.
            (s(0, 0, false), s(0, 0, true), B, NoneBootableLastSuccessful, A, LastResort),
            // Nothing bootable, both successful but priority 0: higher-priority/A first.
            (s(0, 0, true), s(0, 0, true), A, NoneBootableLastSuccessful, B, LastResort),
            // Nothing bootable, A tried out with priority, B successful with priority 0.
            (s(5, 0, false), s(0, 0, true), B, NoneBootableLastSuccessful, A, LastResort),
            // Nothing bootable, nothing ever proven: highest priority anyway.
            (s(1, 0, false), s(2, 0, false), B, NoneBootableAnyway, A, LastResort),
            (s(0, 0, false), s(0, 0, false), A, NoneBootableAnyway, B, LastResort),
        ];
        for (i, &(a, b, s1, r1, s2, r2)) in cases.iter().enumerate() {
            let p = boot_plan(a, b);
            assert_eq!(
                p.order,
                [Candidate { slot: s1, reason: r1 }, Candidate { slot: s2, reason: r2 }],
                "case {i}: A={a} B={b}"
            );
        }
    }

    #[test]
    fn boot_attempt_decrements_only_unproven_slots_with_tries() {
        let cases: &[(SlotAttr, SlotAttr)] = &[
            (s(2, 3, false), s(2, 2, false)),
            (s(2, 1, false), s(2, 0, false)),
            (s(2, 0, false), s(2, 0, false)),
            (s(2, 0, true), s(2, 0, true)),
            (s(2, 5, true), s(2, 5, true)),
        ];
        for &(before, after) in cases {
            assert_eq!(on_boot_attempt(before), after, "{before}");
        }
    }

    #[test]
    fn install_puts_the_target_above_the_other() {
        let cases: &[(SlotAttr, SlotAttr, SlotAttr, SlotAttr)] = &[
            // target before, other before, target after, other after
            (s(0, 0, false), s(1, 0, true), s(2, 3, false), s(1, 0, true)),
            (s(1, 0, true), s(2, 0, true), s(3, 3, false), s(2, 0, true)),
            (s(9, 9, true), s(0, 0, true), s(1, 3, false), s(0, 0, true)),
            (s(0, 0, false), s(15, 0, true), s(15, 3, false), s(14, 0, true)),
        ];
        for &(t, o, t2, o2) in cases {
            assert_eq!(after_install(t, o), (t2, o2), "target={t} other={o}");
        }
    }

    #[test]
    fn a_new_slot_is_tried_three_times_then_the_old_one_boots() {
        let old = s(1, 0, true);
        let (mut new, old) = after_install(s(0, 0, false), old);
        for attempt in 0..INSTALL_TRIES {
            let plan = boot_plan(old, new);
            assert_eq!(plan.first().slot, B, "attempt {attempt}");
            new = on_boot_attempt(new);
        }
        let plan = boot_plan(old, new);
        assert_eq!(plan.first(), Candidate { slot: A, reason: Preferred });
        // The OS then reports the rollback and retires the failed slot.
        let retired = mark_rolled_back(new);
        assert!(!retired.is_bootable());
        assert_eq!(boot_plan(old, retired).first().slot, A);
    }

    #[test]
    fn a_proven_slot_stays_chosen() {
        let (new, old) = after_install(s(0, 0, false), s(1, 0, true));
        let new = mark_successful(on_boot_attempt(new));
        assert_eq!(new, s(2, 0, true));
        for _ in 0..10 {
            assert_eq!(boot_plan(old, on_boot_attempt(new)).first().slot, B);
        }
    }

    #[test]
    fn slot_names() {
        assert_eq!(Slot::from_letter("b"), Some(B));
        assert_eq!(Slot::from_letter("c"), None);
        assert_eq!(A.other(), B);
        assert_eq!(B.partition_name(), "SYSTEM_B");
        assert_eq!(A.letter(), 'a');
    }
}
