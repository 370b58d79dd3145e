//! The boot selector under QEMU: GPT repair, fallback when a slot does not
//! load, and try counting of an unproven slot.

use quill_e2e::{save_log, tool, TestDisk, BOOT_TIMEOUT};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

fn fail(name: &str, vm: &quill_qemu::Vm, e: anyhow::Error) -> ! {
    panic!("{e:#}\n(console log: {})", save_log(name, vm).display());
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn damaged_primary_gpt_is_repaired_from_the_backup() {
    // Note: OVMF's partition driver (EDK2 PartitionRestoreGptTable) already
    // rewrites a primary whose CRC fails before bootsel runs, so on OVMF the
    // repair may be the firmware's; either way the disk must come out clean
    // and boot. bootsel's own repair is exercised by the stale-backup test
    // below, a damage EDK2 does not look for.
    let disk = TestDisk::new().unwrap();
    {
        let mut f = OpenOptions::new().write(true).open(&disk.path).unwrap();
        // Overwrite part of the primary header (LBA 1) so its CRC fails.
        f.seek(SeekFrom::Start(512 + 40)).unwrap();
        f.write_all(&[0xde, 0xad, 0xbe, 0xef]).unwrap();
    }
    assert!(disk.gpt().unwrap().health().primary.is_err());
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("quill: ready slot=a", BOOT_TIMEOUT)?;
        vm.pull_plug()
    })();
    if let Err(e) = r {
        fail("gpt-repair", &vm, e);
    }
    drop(vm);
    assert!(disk.gpt().unwrap().health().is_clean(), "both GPT copies are intact again");
    let v = tool("sgdisk", &["-v", disk.path.to_str().unwrap()]).unwrap();
    assert!(v.contains("No problems found"), "{v}");
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_stale_backup_gpt_is_rewritten_from_the_primary() {
    // A cut between the two copies of a GPT write: both copies have valid
    // CRCs but different entries. The primary counts.
    let disk = TestDisk::new().unwrap();
    let original = std::fs::read(&disk.path).unwrap();
    disk.cgpt_set(3, 5, 5, false).unwrap(); // rewrites both copies
    {
        let mut f = OpenOptions::new().write(true).open(&disk.path).unwrap();
        f.seek(SeekFrom::Start(512)).unwrap();
        f.write_all(&original[512..34 * 512]).unwrap(); // old primary back
    }
    let h = disk.gpt().unwrap().health();
    assert!(h.primary.is_ok() && h.backup.is_err(), "{h:?}");
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        let line = vm.wait_for("bootsel: backup GPT damaged", BOOT_TIMEOUT)?;
        anyhow::ensure!(line.contains("out of date"), "{line}");
        vm.wait_for("bootsel: GPT repaired", BOOT_TIMEOUT)?;
        vm.wait_for("bootsel: choosing slot A", BOOT_TIMEOUT)?;
        vm.wait_for("quill: ready slot=a", BOOT_TIMEOUT)?;
        vm.pull_plug()
    })();
    if let Err(e) = r {
        fail("gpt-stale", &vm, e);
    }
    drop(vm);
    assert!(disk.gpt().unwrap().health().is_clean());
    assert_eq!(disk.cgpt_state(3).unwrap(), (0, 0, false), "the primary's state won");
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_slot_that_fails_to_load_falls_back_to_the_other() {
    let disk = TestDisk::new().unwrap();
    // B proven and preferred, but its kernel is gone.
    disk.cgpt_set(3, 2, 0, true).unwrap();
    tool("mdel", &["-i", &disk.mtools_spec("SYSTEM_B").unwrap(), "::vmlinuz"]).unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        vm.wait_for("bootsel: choosing slot B", BOOT_TIMEOUT)?;
        let failed = vm.wait_for("bootsel: slot B failed", BOOT_TIMEOUT)?;
        anyhow::ensure!(failed.contains("vmlinuz"), "{failed}");
        vm.wait_for("bootsel: choosing slot A", BOOT_TIMEOUT)?;
        vm.wait_for("quill: ready slot=a", BOOT_TIMEOUT)?;
        vm.pull_plug()
    })();
    if let Err(e) = r {
        fail("fallback", &vm, e);
    }
}

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn an_unproven_slot_uses_one_try_per_boot_and_stops_being_chosen_at_zero() {
    let disk = TestDisk::new().unwrap();
    disk.cgpt_set(3, 2, 2, false).unwrap();
    for tries_left in [1u8, 0] {
        let mut vm = disk.boot().unwrap();
        let r = (|| -> anyhow::Result<()> {
            vm.wait_for("bootsel: choosing slot B", BOOT_TIMEOUT)?;
            vm.wait_for(&format!("tries {} -> {tries_left}", tries_left + 1), BOOT_TIMEOUT)?;
            vm.wait_for("bootsel: starting slot B", BOOT_TIMEOUT)?;
            // The try is on disk before the kernel starts: pull the plug here.
            vm.pull_plug()
        })();
        if let Err(e) = r {
            fail("tries", &vm, e);
        }
        drop(vm);
        assert_eq!(disk.cgpt_state(3).unwrap(), (2, tries_left, false), "cgpt sees the try used up");
    }
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        let b = vm.wait_for("bootsel: slot B", BOOT_TIMEOUT)?;
        anyhow::ensure!(b.contains("not bootable"), "{b}");
        vm.wait_for("bootsel: choosing slot A", BOOT_TIMEOUT)?;
        vm.wait_for("quill: ready slot=a", BOOT_TIMEOUT)?;
        vm.pull_plug()
    })();
    if let Err(e) = r {
        fail("tries", &vm, e);
    }
    drop(vm);
    assert_eq!(disk.cgpt_state(2).unwrap(), (1, 0, true), "slot A untouched");
}
