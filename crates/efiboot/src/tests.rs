//! The encodings against bytes written out by hand from the UEFI
//! specification (10.3.5.1 Hard Drive, 10.3.5.4 File Path, 3.1.3 Load
//! Options), and the repair rules.

use super::*;

fn esp() -> HardDrive {
    HardDrive {
        number: 1,
        start_lba: 0x800,
        size_lba: 0x20000,
        guid: [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
    }
}

/// The Hard Drive node of HD(1,GPT,00112233-4455-6677-8899-aabbccddeeff,0x800,0x20000).
const HD_NODE: &str = concat!(
    "04012a00",                         // media, hard drive, 42 bytes
    "01000000",                         // partition 1
    "0008000000000000",                 // start 0x800
    "0000020000000000",                 // size 0x20000
    "33221100554477668899aabbccddeeff", // signature (GPT byte order)
    "02",                               // GPT
    "02",                               // GUID signature
);

#[test]
fn the_device_path_is_the_specification_s() {
    // The file name spelled out: "\EFI\BOOT\BOOTX64.EFI" in UCS-2 and a NUL.
    let name: Vec<u8> = "\\EFI\\BOOT\\BOOTX64.EFI\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(name.len(), 44);
    let mut want = hex::decode(HD_NODE).unwrap();
    want.extend_from_slice(&[4, 4, 48, 0]);
    want.extend_from_slice(&name);
    want.extend_from_slice(&[0x7f, 0xff, 4, 0]);
    assert_eq!(device_path(&esp(), LOADER_X64), want);
    assert_eq!(esp().guid_text(), "00112233-4455-6677-8899-aabbccddeeff");
}

#[test]
fn a_load_option_round_trips_and_finds_its_partition() {
    let o = LoadOption::quill(&esp());
    let bytes = o.encode();
    // Attributes, path length, "Quill\0" in UCS-2, then the path.
    assert_eq!(&bytes[..4], &[1, 0, 0, 0]);
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]) as usize, o.path.len());
    assert_eq!(&bytes[6..18], &[b'Q', 0, b'u', 0, b'i', 0, b'l', 0, b'l', 0, 0, 0]);
    assert_eq!(LoadOption::decode(&bytes).unwrap(), o);
    assert_eq!(o.hard_drive(), Some(esp()));
    assert!(LoadOption::decode(&bytes[..10]).is_none(), "cut short");
    assert!(LoadOption::decode(&[1, 0, 0, 0, 0xff, 0xff, 0, 0]).is_none(), "a path past the end");
}

fn order(s: &MemStore) -> Vec<u16> {
    boot_order(s).unwrap()
}

fn other(n: u16, name: &str) -> (String, (u32, Vec<u8>)) {
    let hd = HardDrive { number: 2, start_lba: 1, size_lba: 1, guid: [n as u8; 16] };
    let o = LoadOption {
        attributes: ACTIVE,
        description: name.into(),
        path: device_path(&hd, "\\x.efi"),
        optional: vec![],
    };
    (boot_var(n), (ATTRS, o.encode()))
}

fn with(entries: Vec<(String, (u32, Vec<u8>))>, order: &[u16]) -> MemStore {
    let mut s = MemStore::default();
    s.vars.extend(entries);
    s.vars.insert(format!("BootOrder-{GLOBAL}"), (ATTRS, order.iter().flat_map(|n| n.to_le_bytes()).collect()));
    s
}

#[test]
fn a_missing_entry_is_created_first_and_the_others_stay() {
    let mut s = with(vec![other(0, "UEFI Misc Device"), other(1, "EFI Internal Shell")], &[0, 1]);
    let before = s.vars.clone();
    assert!(!check(&s, &esp()).unwrap().healthy());
    assert_eq!(ensure(&mut s, &esp()).unwrap(), [Done::Created(2), Done::MovedFirst(2)]);
    assert_eq!(order(&s), [2, 0, 1]);
    for n in [0, 1] {
        assert_eq!(s.vars[&boot_var(n)], before[&boot_var(n)], "Boot{n:04X} untouched");
    }
    assert!(check(&s, &esp()).unwrap().healthy());
    assert_eq!(ensure(&mut s, &esp()).unwrap(), [Done::Nothing], "a healthy entry is left alone");
}

#[test]
fn a_quill_entry_pointing_elsewhere_is_rewritten_and_one_not_first_moved() {
    let mut s = with(vec![other(0, "UEFI Misc Device"), other(4, NAME)], &[0, 4, 9]);
    let c = check(&s, &esp()).unwrap();
    assert_eq!((c.entry, c.points_here, c.first), (Some(4), false, false));
    assert_eq!(c.dangling, [9], "an order entry without a Boot#### is reported");
    assert_eq!(ensure(&mut s, &esp()).unwrap(), [Done::Rewritten(4), Done::MovedFirst(4)]);
    assert_eq!(order(&s), [4, 0, 9], "the dangling number is left where it was");
    assert_eq!(LoadOption::decode(&s.vars[&boot_var(4)].1).unwrap().hard_drive(), Some(esp()));
}

#[test]
fn no_boot_order_and_a_full_store() {
    let mut s = MemStore::default();
    assert_eq!(ensure(&mut s, &esp()).unwrap(), [Done::Created(0), Done::MovedFirst(0)]);
    assert_eq!(order(&s), [0]);
    let mut full = with(vec![other(0, "UEFI Misc Device")], &[0]);
    full.read_only = true;
    let err = ensure(&mut full, &esp()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
}
