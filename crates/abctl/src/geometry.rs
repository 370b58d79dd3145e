//! Where the slots lie: checked before anything trusts the table enough to
//! write a slot. A table edited by hand or by another tool could put a slot
//! over the running one, past the end of the disk or nowhere at all.

use abslot::Slot;
use gptedit::{Gpt, Partition};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("{name} ends before it starts (LBA {first}..{last})")]
    Reversed { name: String, first: u64, last: u64 },
    #[error("{name} (LBA {first}..{last}) lies outside the disk's usable area (LBA {usable_first}..{usable_last})")]
    OutsideDisk { name: String, first: u64, last: u64, usable_first: u64, usable_last: u64 },
    #[error("{name} overlaps partition {other_number} ({other})")]
    Overlap { name: String, other: String, other_number: u32 },
}

/// Checks both slots against the disk and against every other partition.
pub fn check(gpt: &Gpt, slots: &[Partition; 2]) -> Result<(), GeometryError> {
    let (usable_first, usable_last) = gpt.usable_range();
    let all = gpt.partitions();
    for (s, p) in Slot::ALL.iter().zip(slots) {
        let name = s.partition_name().to_string();
        if p.first_lba > p.last_lba {
            return Err(GeometryError::Reversed { name, first: p.first_lba, last: p.last_lba });
        }
        if p.first_lba < usable_first || p.last_lba > usable_last {
            return Err(GeometryError::OutsideDisk {
                name,
                first: p.first_lba,
                last: p.last_lba,
                usable_first,
                usable_last,
            });
        }
        for o in all.iter().filter(|o| o.number != p.number) {
            if o.first_lba <= p.last_lba && p.first_lba <= o.last_lba {
                return Err(GeometryError::Overlap { name, other: o.name.clone(), other_number: o.number });
            }
        }
    }
    Ok(())
}
