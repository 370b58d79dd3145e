//! The signed manifest: what the bundle is for and what its payload must be.
//! The byte layout is in docs/bundle-format.md; do not reorder fields.

use crate::error::ErrorKind;
use crate::format::*;
use crate::keys::{KeyStatement, StatementKind};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The FAT image of a system slot.
    SlotImage,
    /// The UEFI boot selector on the ESP.
    BootSelector,
}

impl Target {
    fn code(self) -> u8 {
        match self {
            Target::SlotImage => TARGET_SLOT_IMAGE,
            Target::BootSelector => TARGET_BOOT_SELECTOR,
        }
    }
    fn from_code(c: u8) -> Result<Target, ErrorKind> {
        match c {
            TARGET_SLOT_IMAGE => Ok(Target::SlotImage),
            TARGET_BOOT_SELECTOR => Ok(Target::BootSelector),
            _ => Err(ErrorKind::Malformed(format!("unknown payload target {c}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChunkInfo {
    /// Bytes of this chunk's zstd frame.
    pub frame_len: u32,
    #[serde(serialize_with = "as_hex")]
    pub frame_sha256: [u8; 32],
    /// SHA-256 of the chunk's uncompressed bytes.
    #[serde(serialize_with = "as_hex")]
    pub data_sha256: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Payload {
    pub target: Target,
    /// Uncompressed bytes.
    pub size: u64,
    /// Every chunk but the last holds exactly this many bytes.
    pub chunk_size: u32,
    /// Sum of the frame lengths.
    pub compressed_size: u64,
    #[serde(serialize_with = "as_hex")]
    pub sha256: [u8; 32],
    pub chunks: Vec<ChunkInfo>,
}

impl Payload {
    /// Uncompressed length of chunk `i`.
    pub fn chunk_len(&self, i: usize) -> usize {
        let start = i as u64 * self.chunk_size as u64;
        (self.size - start).min(self.chunk_size as u64) as usize
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Boards this bundle may be installed on.
    pub boards: Vec<String>,
    pub version: String,
    /// Devices refuse bundles whose index is below their floor.
    pub rollback_index: u64,
    pub build_id: String,
    #[serde(serialize_with = "statements_text")]
    pub statements: Vec<KeyStatement>,
    pub payloads: Vec<Payload>,
}

fn as_hex<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

fn statements_text<S: serde::Serializer>(v: &[KeyStatement], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|st| match &st.kind {
        StatementKind::Trust(k) => format!("trust {} (signed by {})", k.id(), st.signer),
        StatementKind::Revoke(id) => format!("revoke {id} (signed by {})", st.signer),
    }))
}

/// Largest zstd frame a chunk of `n` bytes can produce (ZSTD_compressBound).
pub fn frame_bound(n: u32) -> u64 {
    let n = n as u64;
    n + (n >> 8) + if n < (128 << 10) { ((128 << 10) - n) >> 11 } else { 0 }
}

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.bytes(&MANIFEST_MAGIC);
        e.u16(self.boards.len() as u16);
        for b in &self.boards {
            e.str(b);
        }
        e.str(&self.version).u64(self.rollback_index).str(&self.build_id);
        e.u16(self.statements.len() as u16);
        for s in &self.statements {
            s.encode(&mut e);
        }
        e.u16(self.payloads.len() as u16);
        for p in &self.payloads {
            e.u8(p.target.code())
                .u8(COMPRESSION_ZSTD_FRAMES)
                .u64(p.size)
                .u32(p.chunk_size)
                .u64(p.compressed_size)
                .bytes(&p.sha256)
                .u32(p.chunks.len() as u32);
            for c in &p.chunks {
                e.u32(c.frame_len).bytes(&c.frame_sha256).bytes(&c.data_sha256);
            }
        }
        e.0
    }

    /// Parses and checks the manifest's internal consistency.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ErrorKind> {
        let mut d = Dec::new(bytes, "manifest");
        if d.array::<8>()? != MANIFEST_MAGIC {
            return Err(ErrorKind::Malformed("manifest magic is wrong".into()));
        }
        let n = d.u16()?;
        let boards = (0..n).map(|_| d.str()).collect::<Result<Vec<_>, _>>()?;
        let version = d.str()?;
        let rollback_index = d.u64()?;
        let build_id = d.str()?;
        let n = d.u16()?;
        if n > MAX_STATEMENTS {
            return Err(ErrorKind::Malformed(format!("{n} key statements; a bundle carries at most {MAX_STATEMENTS}")));
        }
        let statements = (0..n).map(|_| KeyStatement::decode(&mut d)).collect::<Result<Vec<_>, _>>()?;
        if statements.iter().enumerate().any(|(i, s)| statements[..i].contains(s)) {
            return Err(ErrorKind::Malformed("a key statement is repeated".into()));
        }
        let n = d.u16()?;
        let mut payloads = Vec::new();
        for i in 0..n {
            let target = Target::from_code(d.u8()?)?;
            let compression = d.u8()?;
            if compression != COMPRESSION_ZSTD_FRAMES {
                return Err(ErrorKind::Malformed(format!("payload {i}: unknown compression {compression}")));
            }
            let size = d.u64()?;
            let chunk_size = d.u32()?;
            let compressed_size = d.u64()?;
            let sha256 = d.array()?;
            let count = d.u32()?;
            if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
                return Err(ErrorKind::Malformed(format!("payload {i}: chunk size {chunk_size} out of range")));
            }
            if count as u64 != size.div_ceil(chunk_size as u64) {
                return Err(ErrorKind::Malformed(format!("payload {i}: {count} chunks do not cover {size} bytes")));
            }
            let mut chunks = Vec::with_capacity(count.min(1 << 16) as usize);
            for _ in 0..count {
                let frame_len = d.u32()?;
                if frame_len as u64 > frame_bound(chunk_size) + 64 || frame_len == 0 {
                    return Err(ErrorKind::Malformed(format!("payload {i}: frame length {frame_len} out of range")));
                }
                chunks.push(ChunkInfo { frame_len, frame_sha256: d.array()?, data_sha256: d.array()? });
            }
            if chunks.iter().map(|c| c.frame_len as u64).sum::<u64>() != compressed_size {
                return Err(ErrorKind::Malformed(format!("payload {i}: frame lengths do not add up")));
            }
            payloads.push(Payload { target, size, chunk_size, compressed_size, sha256, chunks });
        }
        d.finish()?;
        if boards.is_empty() || payloads.is_empty() {
            return Err(ErrorKind::Malformed("the manifest names no board or no payload".into()));
        }
        Ok(Manifest { boards, version, rollback_index, build_id, statements, payloads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            boards: vec!["x86-ud".into(), "ud-pocket".into()],
            version: "1.2.3".into(),
            rollback_index: 7,
            build_id: "abc".into(),
            statements: vec![],
            payloads: vec![Payload {
                target: Target::SlotImage,
                size: 10000,
                chunk_size: 4096,
                compressed_size: 30,
                sha256: [1; 32],
                chunks: (0..3)
                    .map(|i| ChunkInfo { frame_len: 10, frame_sha256: [i; 32], data_sha256: [9; 32] })
                    .collect(),
            }],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(m.payloads[0].chunk_len(2), 10000 - 8192);
    }

    #[test]
    fn inconsistent_manifests_are_refused() {
        let mut m = sample();
        m.payloads[0].size = 20000;
        assert!(Manifest::decode(&m.encode()).is_err(), "chunk count does not cover the size");
        let mut m = sample();
        m.payloads[0].compressed_size = 31;
        assert!(Manifest::decode(&m.encode()).is_err());
        let mut m = sample();
        m.boards.clear();
        assert!(Manifest::decode(&m.encode()).is_err());
        let mut bytes = sample().encode();
        bytes.push(0);
        assert!(Manifest::decode(&bytes).is_err(), "trailing bytes");
    }

    #[test]
    fn too_many_or_repeated_key_statements_are_refused_before_any_is_checked() {
        use crate::keys::SecretKey;
        let a = SecretKey::from_seed(&[1; 32]);
        let keys: Vec<_> = (0..=MAX_STATEMENTS as u8).map(|i| SecretKey::from_seed(&[i + 2; 32]).public()).collect();
        let stmt = |k| KeyStatement::sign(StatementKind::Trust(k), &a);
        let mut m = sample();
        m.statements = keys[..MAX_STATEMENTS as usize].iter().map(|k| stmt(*k)).collect();
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m, "the cap itself is fine");
        m.statements.push(stmt(keys[MAX_STATEMENTS as usize]));
        let e = Manifest::decode(&m.encode()).unwrap_err();
        assert!(e.to_string().contains("at most 16"), "{e}");
        let mut m = sample();
        m.statements = vec![stmt(keys[0]), stmt(keys[1]), stmt(keys[0])];
        let e = Manifest::decode(&m.encode()).unwrap_err();
        assert!(e.to_string().contains("repeated"), "{e}");
    }
}
