//! What bootsel does, as pure functions of the GPT: which slots exist, in
//! which order to try them, what to write before trying, and the command line.

use abslot::{BootPlan, Candidate, Slot, SlotAttr};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use gptedit::{Gpt, Guid, Partition};

/// File in each slot's FAT holding the kernel command line.
pub const CMDLINE_FILE: &str = "\\cmdline.txt";
/// Kernel file in each slot's FAT.
pub const KERNEL_FILE: &str = "\\vmlinuz";

/// The two SYSTEM partitions of the disk.
pub struct Slots {
    pub parts: [Partition; 2],
}

impl Slots {
    /// Finds SYSTEM_A and SYSTEM_B by GPT name.
    pub fn find(gpt: &Gpt) -> Result<Slots, String> {
        let get = |s: Slot| {
            gpt.find_by_name(s.partition_name()).ok_or_else(|| {
                format!("no partition named {} on the boot disk; re-flash the disk image", s.partition_name())
            })
        };
        Ok(Slots { parts: [get(Slot::A)?, get(Slot::B)?] })
    }

    pub fn part(&self, s: Slot) -> &Partition {
        &self.parts[s.index()]
    }

    pub fn attr(&self, s: Slot) -> SlotAttr {
        SlotAttr::from_gpt(self.part(s).attributes)
    }

    pub fn plan(&self) -> BootPlan {
        abslot::boot_plan(self.attr(Slot::A), self.attr(Slot::B))
    }
}

/// The attribute word to write before trying `c`, if it changes.
pub fn attempt_update(slots: &Slots, c: Candidate) -> Option<(u32, u64, SlotAttr, SlotAttr)> {
    let part = slots.part(c.slot);
    let before = SlotAttr::from_gpt(part.attributes);
    let after = abslot::on_boot_attempt(before);
    (after != before).then(|| (part.number, after.to_gpt(part.attributes), before, after))
}

/// `quill.bootpci=`'s value: the PCI device/function numbers from the PCI
/// root down to the boot disk's controller, as the firmware's device path
/// gives them (`1c.0/00.0`: a controller behind the bridge at 1c.0). Bus
/// numbers are not in a device path; the chain is enough to find the
/// device under /sys/devices. `None` for a disk not behind PCI.
pub fn pci_chain(pci: &[(u8, u8)]) -> Option<String> {
    (!pci.is_empty()).then(|| pci.iter().map(|(d, f)| format!("{d:02x}.{f:x}")).collect::<Vec<_>>().join("/"))
}

/// The slot's own command line, with any `quill.slot=`/`quill.*uuid=`/
/// `quill.bootpci=` it carries replaced by what bootsel knows, and
/// `initrd=` added if missing. `quill.recover=1` comes only from someone
/// at the device (`recover`: R held and Y pressed at bootsel), never from
/// a file. `boot_pci` ([`pci_chain`]) lets init load the boot disk's
/// driver before the other controllers'.
pub fn kernel_cmdline(
    slot_file: &str,
    slot: Slot,
    slot_uuid: Guid,
    disk_uuid: Guid,
    boot_pci: Option<&str>,
    recover: bool,
) -> String {
    let mut words: Vec<&str> = slot_file
        .split_ascii_whitespace()
        .filter(|w| {
            !w.starts_with("quill.slot=")
                && !w.starts_with("quill.partuuid=")
                && !w.starts_with("quill.diskuuid=")
                && !w.starts_with("quill.recover")
                && !w.starts_with("quill.bootpci=")
        })
        .collect();
    if recover {
        words.push("quill.recover=1");
    }
    if !words.iter().any(|w| w.starts_with("initrd=")) {
        words.push("initrd=\\initrd.img");
    }
    let mut line = words.join(" ");
    line.push_str(&format!(" quill.slot={} quill.partuuid={} quill.diskuuid={}", slot.letter(), slot_uuid, disk_uuid));
    if let Some(chain) = boot_pci {
        line.push_str(&format!(" quill.bootpci={chain}"));
    }
    line
}

/// One line describing a slot's state, e.g. `slot A (partition 2): priority=1 tries=0 successful=1`.
pub fn describe(slots: &Slots, s: Slot) -> String {
    let attr = slots.attr(s);
    format!(
        "slot {} (partition {}): {}{}",
        s,
        slots.part(s).number,
        attr,
        if attr.is_bootable() { "" } else { ", not bootable" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use abslot::Reason;

    const A_UUID: &str = "11111111-2222-3333-4444-555555555555";
    const D_UUID: &str = "66666666-7777-8888-9999-000000000000";

    fn part(number: u32, name: &str, attr: SlotAttr) -> Partition {
        Partition {
            number,
            type_guid: Guid([1; 16]),
            unique_guid: Guid([number as u8; 16]),
            first_lba: 0,
            last_lba: 0,
            attributes: attr.to_gpt(1),
            name: name.into(),
        }
    }

    #[test]
    fn cmdline_carries_the_slot_and_uuids_and_replaces_stale_ones() {
        let u = Guid::parse(A_UUID).unwrap();
        let d = Guid::parse(D_UUID).unwrap();
        let line =
            kernel_cmdline("console=ttyS0,115200 quill.slot=b initrd=\\initrd.img\n", Slot::A, u, d, None, false);
        assert_eq!(
            line,
            format!(
                "console=ttyS0,115200 initrd=\\initrd.img quill.slot=a quill.partuuid={A_UUID} quill.diskuuid={D_UUID}"
            )
        );
        let line = kernel_cmdline("", Slot::B, u, d, None, false);
        assert!(line.starts_with("initrd=\\initrd.img quill.slot=b "), "{line}");
        // The recovery comes from the keyboard only, never from the file.
        let line = kernel_cmdline("quill.recover=1 quiet", Slot::A, u, d, None, false);
        assert!(!line.contains("recover"), "{line}");
        let line = kernel_cmdline("quiet", Slot::A, u, d, None, true);
        assert!(line.starts_with("quiet quill.recover=1 initrd="), "{line}");
        // The boot disk's controller, from the firmware, never from the file.
        let chain = pci_chain(&[(0x1c, 0), (0, 0)]);
        assert_eq!(chain.as_deref(), Some("1c.0/00.0"));
        assert_eq!(pci_chain(&[(3, 0)]).as_deref(), Some("03.0"));
        assert_eq!(pci_chain(&[]), None);
        let line = kernel_cmdline("quill.bootpci=07.0 quiet", Slot::A, u, d, chain.as_deref(), false);
        assert!(line.ends_with(&format!("quill.diskuuid={D_UUID} quill.bootpci=1c.0/00.0")), "{line}");
        assert!(!line.contains("07.0"), "{line}");
        assert!(!kernel_cmdline("quill.bootpci=07.0", Slot::A, u, d, None, false).contains("bootpci"));
    }

    #[test]
    fn unproven_slot_uses_a_try_and_keeps_foreign_bits() {
        let slots = Slots {
            parts: [part(2, "SYSTEM_A", SlotAttr::new(1, 0, true)), part(3, "SYSTEM_B", SlotAttr::new(2, 3, false))],
        };
        let plan = slots.plan();
        assert_eq!(plan.first(), Candidate { slot: Slot::B, reason: Reason::Preferred });
        let (n, word, before, after) = attempt_update(&slots, plan.first()).unwrap();
        assert_eq!((n, before.tries(), after.tries()), (3, 3, 2));
        assert_eq!(word & 1, 1, "bit 0 kept");
        assert_eq!(SlotAttr::from_gpt(word), SlotAttr::new(2, 2, false));
        // The proven fallback needs no write.
        assert!(attempt_update(&slots, plan.order[1]).is_none());
        assert_eq!(describe(&slots, Slot::A), "slot A (partition 2): priority=1 tries=0 successful=1");
        assert!(describe(&slots, Slot::B).ends_with("successful=0"));
    }
}
