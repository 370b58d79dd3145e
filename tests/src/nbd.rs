//! A stick that stalls: a small NBD server (the protocol QEMU's `nbd`
//! block driver speaks; fixed newstyle handshake, simple replies, read
//! only) serving an image file, which holds back every read at or beyond
//! a given offset until the test releases it. QEMU attaches it as a USB
//! stick, so the guest sees a device whose first sectors answer (the
//! kernel's partition scan) and whose filesystem never does, as a failing
//! stick would. Hand-written because nothing packaged can hold a read back
//! on command (qemu-nbd serves everything, throttling slows everything).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

const NBDMAGIC: &[u8; 8] = b"NBDMAGIC";
const IHAVEOPT: u64 = 0x4948_4156_454F_5054;
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY: u32 = 0x6744_6698;
const OPT_EXPORT_NAME: u32 = 1;
const OPT_ABORT: u32 = 2;
const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_ERR_UNSUP: u32 = (1 << 31) + 1;
const FLAG_HAS_FLAGS: u16 = 1;
const FLAG_READ_ONLY: u16 = 2;
const CMD_READ: u16 = 0;
const CMD_DISC: u16 = 2;

/// The server; dropping it releases any held read and stops serving.
pub struct StallingStick {
    pub socket: PathBuf,
    gate: Arc<(Mutex<bool>, Condvar)>,
    _dir: tempfile::TempDir,
}

impl StallingStick {
    /// Serves `image`; reads that reach `stall_from` (bytes) wait for [`release`].
    ///
    /// [`release`]: StallingStick::release
    pub fn serve(image: &Path, stall_from: u64) -> Result<StallingStick> {
        let dir = tempfile::Builder::new().prefix("quill-nbd-").tempdir()?;
        let socket = dir.path().join("stick.sock");
        let listener = UnixListener::bind(&socket)?;
        let file = std::fs::File::open(image).with_context(|| format!("opening {}", image.display()))?;
        let size = file.metadata()?.len();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = Arc::clone(&gate);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (f, g) = (file.try_clone().expect("the image stays open"), Arc::clone(&g));
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &f, size, stall_from, &g);
                });
            }
        });
        Ok(StallingStick { socket, gate, _dir: dir })
    }

    /// Lets held reads (and every later one) through.
    pub fn release(&self) {
        let (lock, cv) = &*self.gate;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

impl Drop for StallingStick {
    fn drop(&mut self) {
        self.release();
    }
}

fn u16_of(b: &[u8]) -> u16 {
    u16::from_be_bytes(b.try_into().unwrap())
}
fn u32_of(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap())
}
fn u64_of(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}

fn option_reply(c: &mut UnixStream, option: u32, kind: u32, data: &[u8]) -> Result<()> {
    let mut m = Vec::with_capacity(20 + data.len());
    m.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    m.extend_from_slice(&option.to_be_bytes());
    m.extend_from_slice(&kind.to_be_bytes());
    m.extend_from_slice(&(data.len() as u32).to_be_bytes());
    m.extend_from_slice(data);
    c.write_all(&m)?;
    Ok(())
}

fn serve_one(
    mut c: UnixStream,
    file: &std::fs::File,
    size: u64,
    stall_from: u64,
    gate: &(Mutex<bool>, Condvar),
) -> Result<()> {
    // Fixed newstyle handshake, no zero padding.
    c.write_all(NBDMAGIC)?;
    c.write_all(&IHAVEOPT.to_be_bytes())?;
    c.write_all(&3u16.to_be_bytes())?;
    let mut flags = [0u8; 4];
    c.read_exact(&mut flags)?;
    let export_flags = FLAG_HAS_FLAGS | FLAG_READ_ONLY;
    loop {
        let mut head = [0u8; 16];
        c.read_exact(&mut head)?;
        if u64_of(&head[0..8]) != IHAVEOPT {
            bail!("not an NBD option");
        }
        let (option, len) = (u32_of(&head[8..12]), u32_of(&head[12..16]) as usize);
        let mut data = vec![0u8; len];
        c.read_exact(&mut data)?;
        match option {
            OPT_GO => {
                let mut info = Vec::new();
                info.extend_from_slice(&0u16.to_be_bytes());
                info.extend_from_slice(&size.to_be_bytes());
                info.extend_from_slice(&export_flags.to_be_bytes());
                option_reply(&mut c, option, REP_INFO, &info)?;
                option_reply(&mut c, option, REP_ACK, &[])?;
                break;
            }
            OPT_EXPORT_NAME => {
                c.write_all(&size.to_be_bytes())?;
                c.write_all(&export_flags.to_be_bytes())?;
                break;
            }
            OPT_ABORT => {
                option_reply(&mut c, option, REP_ACK, &[])?;
                return Ok(());
            }
            _ => option_reply(&mut c, option, REP_ERR_UNSUP, &[])?,
        }
    }
    loop {
        let mut req = [0u8; 28];
        c.read_exact(&mut req)?;
        if u32_of(&req[0..4]) != REQUEST_MAGIC {
            bail!("not an NBD request");
        }
        let (kind, cookie, offset, len) = (u16_of(&req[6..8]), &req[8..16], u64_of(&req[16..24]), u32_of(&req[24..28]));
        let mut reply = Vec::with_capacity(16 + len as usize);
        reply.extend_from_slice(&SIMPLE_REPLY.to_be_bytes());
        match kind {
            CMD_READ => {
                if offset + len as u64 > stall_from {
                    let (lock, cv) = gate;
                    let _released = cv.wait_while(lock.lock().unwrap(), |r| !*r).unwrap();
                }
                let mut data = vec![0u8; len as usize];
                let ok = file.read_exact_at(&mut data, offset).is_ok();
                reply.extend_from_slice(&(if ok { 0u32 } else { 5 }).to_be_bytes());
                reply.extend_from_slice(cookie);
                if ok {
                    reply.extend_from_slice(&data);
                }
            }
            CMD_DISC => return Ok(()),
            // Flush and anything else on a read-only export: nothing to do.
            _ => {
                reply.extend_from_slice(&0u32.to_be_bytes());
                reply.extend_from_slice(cookie);
            }
        }
        c.write_all(&reply)?;
    }
}

/// A stick image with an MBR whose one FAT partition starts at 1 MiB: the
/// kernel's partition scan reads only the first sectors.
pub fn partitioned_stick(path: &Path, size_mib: u64) -> Result<u64> {
    let mut img = vec![0u8; (size_mib << 20) as usize];
    let (start, count) = (2048u32, ((size_mib << 20) / 512) as u32 - 2048);
    let e = &mut img[446..462];
    e[4] = 0x0c; // FAT32 (LBA)
    e[8..12].copy_from_slice(&start.to_le_bytes());
    e[12..16].copy_from_slice(&count.to_le_bytes());
    img[510] = 0x55;
    img[511] = 0xAA;
    std::fs::write(path, img)?;
    Ok(1 << 20)
}
