//! Fixed numbers of the bundle format and the byte-level encoding helpers.
//! docs/bundle-format.md is the specification; do not reorder anything here.

use crate::error::ErrorKind;

/// First 8 bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"QBUNDLE\x00";
/// The only format version this code reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 32;
/// First 8 bytes of the manifest (and so of every signed manifest message).
pub const MANIFEST_MAGIC: [u8; 8] = *b"QMANIFST";
/// First 8 bytes of a key statement's signed message.
pub const STATEMENT_MAGIC: [u8; 8] = *b"QKEYSTMT";
/// Upper limits that keep a reader's memory bounded.
pub const MAX_MANIFEST_LEN: u32 = 16 << 20;
pub const MAX_SIGNATURES_LEN: u32 = 64 << 10;
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Key statements one manifest may carry (each costs a signature check).
pub const MAX_STATEMENTS: u16 = 16;
pub const MIN_CHUNK_SIZE: u32 = 4096;

/// Payload targets (`Target` in manifest.rs).
pub const TARGET_SLOT_IMAGE: u8 = 1;
pub const TARGET_BOOT_SELECTOR: u8 = 2;
/// Payload compression: one zstd frame per chunk.
pub const COMPRESSION_ZSTD_FRAMES: u8 = 1;
/// Key statement kinds.
pub const STATEMENT_TRUST: u8 = 1;
pub const STATEMENT_REVOKE: u8 = 2;

/// The 32-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub manifest_len: u32,
    pub signatures_len: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        // 10..12 flags: zero
        h[12..16].copy_from_slice(&self.manifest_len.to_le_bytes());
        h[16..20].copy_from_slice(&self.signatures_len.to_le_bytes());
        // 20..32 reserved: zero
        h
    }

    pub fn decode(h: &[u8; HEADER_LEN]) -> Result<Header, ErrorKind> {
        if h[0..8] != MAGIC {
            return Err(ErrorKind::BadMagic);
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if version != FORMAT_VERSION {
            return Err(ErrorKind::UnknownVersion(version));
        }
        if h[10..12] != [0, 0] || h[20..32].iter().any(|&b| b != 0) {
            return Err(ErrorKind::ReservedNotZero);
        }
        let manifest_len = u32::from_le_bytes(h[12..16].try_into().unwrap());
        let signatures_len = u32::from_le_bytes(h[16..20].try_into().unwrap());
        if manifest_len > MAX_MANIFEST_LEN {
            return Err(ErrorKind::Malformed(format!("manifest length {manifest_len} is over the limit")));
        }
        if signatures_len > MAX_SIGNATURES_LEN {
            return Err(ErrorKind::Malformed(format!("signature block length {signatures_len} is over the limit")));
        }
        Ok(Header { manifest_len, signatures_len })
    }
}

/// Appends little-endian fields.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    /// u16 length + UTF-8 bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u16(s.len() as u16).bytes(s.as_bytes())
    }
}

/// Reads little-endian fields; every read checks the remaining length.
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8], what: &'static str) -> Dec<'a> {
        Dec { buf, pos: 0, what }
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ErrorKind> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| ErrorKind::Malformed(format!("{} ends early at byte {}", self.what, self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ErrorKind> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    pub fn u8(&mut self) -> Result<u8, ErrorKind> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, ErrorKind> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, ErrorKind> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, ErrorKind> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn str(&mut self) -> Result<String, ErrorKind> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| ErrorKind::Malformed(format!("{}: text is not UTF-8", self.what)))
    }
    pub fn finish(&self) -> Result<(), ErrorKind> {
        if self.pos != self.buf.len() {
            return Err(ErrorKind::Malformed(format!(
                "{}: {} unexpected bytes at the end",
                self.what,
                self.buf.len() - self.pos
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_refusals() {
        let h = Header { manifest_len: 100, signatures_len: 74 };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Ok(h));
        let mut b = bytes;
        b[0] ^= 1;
        assert_eq!(Header::decode(&b), Err(ErrorKind::BadMagic));
        let mut b = bytes;
        b[8] = 2;
        assert_eq!(Header::decode(&b), Err(ErrorKind::UnknownVersion(2)));
        let mut b = bytes;
        b[31] = 1;
        assert_eq!(Header::decode(&b), Err(ErrorKind::ReservedNotZero));
        let mut b = bytes;
        b[15] = 0xff;
        assert!(matches!(Header::decode(&b), Err(ErrorKind::Malformed(_))));
    }

    #[test]
    fn decoder_checks_lengths() {
        let mut e = Enc::default();
        e.u8(1).u16(2).u32(3).u64(4).str("hé");
        let mut d = Dec::new(&e.0, "test");
        assert_eq!((d.u8().unwrap(), d.u16().unwrap(), d.u32().unwrap(), d.u64().unwrap()), (1, 2, 3, 4));
        assert_eq!(d.str().unwrap(), "hé");
        d.finish().unwrap();
        assert!(d.u8().is_err());
        let mut d = Dec::new(&e.0[..3], "test");
        d.u8().unwrap();
        assert!(d.u32().is_err());
    }
}
