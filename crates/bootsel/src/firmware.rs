//! The UEFI side of bootsel: find the disk, read/write its GPT through
//! BlockIO, find the slot partitions, load and start the kernel.

use crate::aligned::{Aligned, RawBlocks};
use crate::decide::{self, Slots, CMDLINE_FILE, KERNEL_FILE};
use abslot::Slot;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use gptedit::{Gpt, Guid};
use uefi::boot::{self, LoadImageSource, OpenProtocolAttributes, OpenProtocolParams, ScopedProtocol};
use uefi::fs::FileSystem;
use uefi::prelude::*;
use uefi::proto::console::text::Key;
use uefi::proto::device_path::build::{media::FilePath, DevicePathBuilder};
use uefi::proto::device_path::media::PartitionSignature;
use uefi::proto::device_path::{DevicePath, DevicePathNodeEnum};
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::block::BlockIO;
use uefi::proto::media::fs::SimpleFileSystem;
use uefi::proto::BootPolicy;
use uefi::{println, CString16};

macro_rules! say {
    ($($t:tt)*) => { println!("bootsel: {}", format_args!($($t)*)) };
}

#[entry]
fn efi_main() -> Status {
    if uefi::helpers::init().is_err() {
        return Status::ABORTED;
    }
    say!("Quill boot selector {}", env!("CARGO_PKG_VERSION"));
    match run() {
        Ok(never) => match never {},
        Err(msg) => {
            say!("error: {msg}");
            say!("nothing could be started; returning to the firmware in 10 s");
            boot::stall(core::time::Duration::from_secs(10));
            Status::LOAD_ERROR
        }
    }
}

/// A GetProtocol (non-exclusive) open, so the firmware's partition and FAT
/// drivers stay connected to the disk while bootsel uses it.
fn open_shared<P: uefi::proto::ProtocolPointer + ?Sized>(handle: Handle) -> uefi::Result<ScopedProtocol<P>> {
    // SAFETY: bootsel never uninstalls protocols, and it stops using the
    // interface before it starts the kernel, so the interface stays valid.
    unsafe {
        boot::open_protocol::<P>(
            OpenProtocolParams { handle, agent: boot::image_handle(), controller: None },
            OpenProtocolAttributes::GetProtocol,
        )
    }
}

/// The whole disk behind the boot partition, through BlockIO (wrapped in
/// [`Aligned`], because U-Boot's BlockIO refuses misaligned buffers).
struct BlockDisk {
    io: ScopedProtocol<BlockIO>,
    media_id: u32,
    block_size: u32,
    block_count: u64,
    io_align: u32,
}

impl RawBlocks for BlockDisk {
    type Error = uefi::Error;
    fn block_size(&self) -> u32 {
        self.block_size
    }
    fn block_count(&self) -> u64 {
        self.block_count
    }
    fn io_align(&self) -> u32 {
        self.io_align
    }
    fn read_raw(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), Self::Error> {
        self.io.read_blocks(self.media_id, lba, buf)
    }
    fn write_raw(&mut self, lba: u64, buf: &[u8]) -> Result<(), Self::Error> {
        self.io.write_blocks(self.media_id, lba, buf)
    }
    fn flush_raw(&mut self) -> Result<(), Self::Error> {
        self.io.flush_blocks()
    }
}

/// Device path bytes without the end node.
fn path_prefix(path: &DevicePath) -> Vec<u8> {
    let bytes = path.as_bytes();
    bytes[..bytes.len().saturating_sub(4)].to_vec()
}

/// The device path of the disk we were started from: our partition's path
/// minus its final HardDrive node.
fn boot_disk_path() -> Result<Box<DevicePath>, String> {
    let loaded = boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle())
        .map_err(|e| format!("cannot open LoadedImage: {e:?}"))?;
    let device = loaded.device().ok_or("the firmware did not say which device bootsel came from")?;
    let path = open_shared::<DevicePath>(device).map_err(|e| format!("boot device has no device path: {e:?}"))?;
    let mut buf = Vec::new();
    let mut builder = DevicePathBuilder::with_vec(&mut buf);
    let nodes: Vec<_> = path.node_iter().collect();
    let keep = match nodes.last().map(|n| n.as_enum()) {
        Some(Ok(DevicePathNodeEnum::MediaHardDrive(_))) => nodes.len() - 1,
        _ => return Err("bootsel was not started from a GPT partition".into()),
    };
    for n in &nodes[..keep] {
        builder = builder.push(n).map_err(|e| format!("device path: {e:?}"))?;
    }
    Ok(builder.finalize().map_err(|e| format!("device path: {e:?}"))?.to_boxed())
}

fn open_disk(disk_path: &DevicePath) -> Result<Aligned<BlockDisk>, String> {
    let mut dp: &DevicePath = disk_path;
    let handle =
        boot::locate_device_path::<BlockIO>(&mut dp).map_err(|e| format!("no BlockIO for the boot disk: {e:?}"))?;
    let io = open_shared::<BlockIO>(handle).map_err(|e| format!("cannot open the boot disk: {e:?}"))?;
    let media = io.media();
    let (media_id, block_size, block_count) = (media.media_id(), media.block_size(), media.last_block() + 1);
    let io_align = media.io_align();
    Ok(Aligned::new(BlockDisk { io, media_id, block_size, block_count, io_align }))
}

/// The handle and device path of the partition with this unique GUID on our disk.
fn find_partition(disk_prefix: &[u8], uuid: Guid) -> Option<(Handle, Box<DevicePath>)> {
    let want = uefi::Guid::from_bytes(uuid.0);
    for h in boot::find_handles::<BlockIO>().ok()? {
        let Ok(path) = open_shared::<DevicePath>(h) else { continue };
        let prefix = path_prefix(&path);
        if !prefix.starts_with(disk_prefix) {
            continue;
        }
        let last = path.node_iter().last();
        if let Some(Ok(DevicePathNodeEnum::MediaHardDrive(hd))) = last.map(|n| n.as_enum()) {
            if hd.partition_signature() == PartitionSignature::Guid(want) {
                return Some((h, path.to_boxed()));
            }
        }
    }
    None
}

fn read_slot_cmdline(part: Handle) -> Result<String, String> {
    let sfs =
        boot::open_protocol_exclusive::<SimpleFileSystem>(part).map_err(|e| format!("no FAT filesystem: {e:?}"))?;
    let mut fs = FileSystem::new(sfs);
    let path = CString16::try_from(CMDLINE_FILE).unwrap();
    let bytes = fs.read(path.as_ref()).map_err(|e| format!("cannot read {CMDLINE_FILE}: {e:?}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{CMDLINE_FILE} is not UTF-8"))
}

/// The keys typed so far (while the firmware started, R held down fills
/// the buffer), lower-cased; the buffer is left empty.
fn typed_keys() -> Vec<char> {
    uefi::system::with_stdin(|stdin| {
        let mut keys = Vec::new();
        while let Ok(Some(k)) = stdin.read_key() {
            if let Key::Printable(c) = k {
                keys.push(char::from(c).to_ascii_lowercase());
            }
        }
        keys
    })
}

/// How long bootsel listens for R at every start: a held key repeats
/// every 30-50 ms, and the firmware may have emptied the key buffer just
/// before bootsel started.
const LISTEN_MS: u64 = 150;

/// The forgotten-password recovery: R held while the device starts, then Y
/// within 10 s. Only someone at the device can do this.
fn recovery_requested() -> bool {
    let mut seen = typed_keys().contains(&'r');
    for _ in 0..LISTEN_MS / 10 {
        if seen {
            break;
        }
        boot::stall(core::time::Duration::from_millis(10));
        seen = typed_keys().contains(&'r');
    }
    if !seen {
        return false;
    }
    say!("recovery: wipe the settings and the administrator password? The firmware, its updates and its trust");
    say!("recovery: state stay; the Setup Assistant runs. Press Y to wipe, any other key to start normally (10 s).");
    // R (held: its repeats) is no answer.
    for _ in 0..100 {
        boot::stall(core::time::Duration::from_millis(100));
        let keys = typed_keys();
        if keys.iter().any(|&c| c != 'r') {
            let yes = keys.iter().find(|&&c| c != 'r') == Some(&'y');
            say!("recovery: {}", if yes { "confirmed" } else { "cancelled" });
            return yes;
        }
    }
    say!("recovery: no answer; starting normally");
    false
}

/// The PCI device/function numbers on the way to the boot disk's
/// controller (the `Pci` nodes of its device path, from the root down).
fn pci_nodes(disk_path: &DevicePath) -> Vec<(u8, u8)> {
    disk_path
        .node_iter()
        .filter_map(|n| match n.as_enum() {
            Ok(DevicePathNodeEnum::HardwarePci(p)) => Some((p.device(), p.function())),
            _ => None,
        })
        .collect()
}

/// Loads and starts the slot's kernel. Returns only on failure.
fn start_slot(
    slots: &Slots,
    slot: Slot,
    disk_prefix: &[u8],
    disk_uuid: Guid,
    boot_pci: Option<&str>,
    recover: bool,
) -> Result<(), String> {
    let part = slots.part(slot);
    let (handle, part_path) = find_partition(disk_prefix, part.unique_guid)
        .ok_or_else(|| format!("the firmware shows no partition {} ({})", part.number, part.unique_guid))?;
    let slot_line = read_slot_cmdline(handle)?;
    let cmdline = decide::kernel_cmdline(&slot_line, slot, part.unique_guid, disk_uuid, boot_pci, recover);

    let mut buf = Vec::new();
    let mut builder = DevicePathBuilder::with_vec(&mut buf);
    for n in part_path.node_iter() {
        builder = builder.push(&n).map_err(|e| format!("device path: {e:?}"))?;
    }
    let kernel = CString16::try_from(KERNEL_FILE).unwrap();
    builder = builder.push(&FilePath { path_name: &kernel }).map_err(|e| format!("device path: {e:?}"))?;
    let kernel_path = builder.finalize().map_err(|e| format!("device path: {e:?}"))?;

    let image = boot::load_image(
        boot::image_handle(),
        LoadImageSource::FromDevicePath { device_path: kernel_path, boot_policy: BootPolicy::ExactMatch },
    )
    .map_err(|e| format!("cannot load {KERNEL_FILE}: {:?}", e.status()))?;

    let options = CString16::try_from(cmdline.as_str()).map_err(|_| "command line is not UCS-2".to_string())?;
    let options: &'static CString16 = Box::leak(Box::new(options));
    {
        let mut li = boot::open_protocol_exclusive::<LoadedImage>(image)
            .map_err(|e| format!("cannot set the command line: {e:?}"))?;
        let size = (options.num_bytes()) as u32;
        // SAFETY: `options` is leaked, so it outlives the image.
        unsafe { li.set_load_options(options.as_ptr().cast(), size) };
    }
    say!("starting slot {slot}: {cmdline}");
    let result = boot::start_image(image);
    let _ = boot::unload_image(image);
    Err(format!("kernel returned: {:?}", result.err().map(|e| e.status())))
}

fn run() -> Result<core::convert::Infallible, String> {
    let recover = recovery_requested();
    let disk_path = boot_disk_path()?;
    let disk_prefix = path_prefix(&disk_path);
    let boot_pci = decide::pci_chain(&pci_nodes(&disk_path));
    let mut disk = open_disk(&disk_path)?;
    let mut gpt = Gpt::load(&mut disk).map_err(|e| e.to_string())?;
    let health = gpt.health();
    if !health.is_clean() {
        if let Err(p) = health.primary {
            say!("primary GPT damaged ({p}); using the backup copy");
        }
        if let Err(p) = health.backup {
            say!("backup GPT damaged ({p}); using the primary copy");
        }
        match gpt.write(&mut disk) {
            Ok(()) => say!("GPT repaired: both copies rewritten"),
            Err(e) => say!("GPT repair failed: {e}; booting anyway"),
        }
    }
    let disk_uuid = gpt.disk_guid();

    let mut slots = Slots::find(&gpt)?;
    say!("{}", decide::describe(&slots, Slot::A));
    say!("{}", decide::describe(&slots, Slot::B));
    let plan = slots.plan();
    let mut errors = vec![];
    for candidate in plan.order {
        let slot = candidate.slot;
        say!("choosing slot {slot}: {}", candidate.reason.describe());
        if let Some((number, word, before, after)) = decide::attempt_update(&slots, candidate) {
            gpt.set_attributes::<uefi::Error>(number, word).map_err(|e| e.to_string())?;
            match gpt.write(&mut disk) {
                Ok(()) => say!("slot {slot} is unproven: tries {} -> {}", before.tries(), after.tries()),
                Err(e) => say!("could not record the try of slot {slot}: {e}; booting anyway"),
            }
            slots = Slots::find(&gpt)?;
        }
        match start_slot(&slots, slot, &disk_prefix, disk_uuid, boot_pci.as_deref(), recover) {
            Ok(()) => {}
            Err(e) => {
                say!("slot {slot} failed: {e}; trying the other slot");
                errors.push(format!("slot {slot}: {e}"));
            }
        }
    }
    Err(errors.join("; "))
}
