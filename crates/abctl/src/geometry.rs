//! Where the slots lie: checked before anything trusts the table enough to
//! write a slot. A table edited by hand or by another tool could put a slot
//! over the running one, past the end of the disk or nowhere at all.

use abslot::Slot;
use gptedit::{Gpt, Guid, Partition};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("{name} ends before it starts (LBA {first}..{last})")]
    Reversed { name: String, first: u64, last: u64 },
    #[error("{name} (LBA {first}..{last}) lies outside the disk's usable area (LBA {usable_first}..{usable_last})")]
    OutsideDisk { name: String, first: u64, last: u64, usable_first: u64, usable_last: u64 },
    #[error("{name} overlaps partition {other_number} ({other})")]
    Overlap { name: String, other: String, other_number: u32 },
    /// The Raspberry Pi layout of Quill before U-Boot: each slot a FAT boot
    /// partition (Microsoft basic data) that the Pi firmware chose through
    /// autoboot.txt. Its slots cannot be updated into the GPT layout in place.
    #[error(
        "{name} is a Raspberry Pi boot partition of Quill's old tryboot layout (autoboot.txt), which this \
         firmware does not update in place; write the current disk image to the card once \
         (`fwupdate flash IMAGE DEVICE` keeps the settings on DATA), then update it as usual"
    )]
    OldPiLayout { name: String },
    #[error("{name} has partition type {found}, not a Quill slot's ({})", Slot::PARTITION_TYPE)]
    NotASlot { name: String, found: String },
}

/// Microsoft basic data: the old Pi layout's slot type.
const BASIC_DATA: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

/// Checks both slots against the disk and against every other partition.
pub fn check(gpt: &Gpt, slots: &[Partition; 2]) -> Result<(), GeometryError> {
    let (usable_first, usable_last) = gpt.usable_range();
    let all = gpt.partitions();
    let slot_type = Guid::parse(Slot::PARTITION_TYPE).expect("a valid GUID");
    for (s, p) in Slot::ALL.iter().zip(slots) {
        let name = s.partition_name().to_string();
        if p.type_guid != slot_type {
            if Guid::parse(BASIC_DATA) == Some(p.type_guid) {
                return Err(GeometryError::OldPiLayout { name });
            }
            return Err(GeometryError::NotASlot { name, found: p.type_guid.to_string() });
        }
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
