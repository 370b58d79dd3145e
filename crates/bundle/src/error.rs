//! Errors of bundle reading and writing. Every error names the bundle and
//! says what is wrong and what to do.

use crate::keys::KeyId;
use std::fmt;

/// What is wrong, without the bundle's name (tests match on this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Reading or writing failed.
    Io(String),
    /// The file does not start with the bundle magic.
    BadMagic,
    /// A format version this build does not know.
    UnknownVersion(u16),
    /// Reserved header bytes are not zero.
    ReservedNotZero,
    /// The file ends early.
    Truncated { what: &'static str },
    /// The manifest or signature block does not parse.
    Malformed(String),
    /// No signature by any trusted key; the ids of the signers.
    UnknownKey(Vec<KeyId>),
    /// Signed only by revoked keys.
    RevokedKey(KeyId),
    /// A trusted key's signature does not match the manifest bytes.
    BadSignature(KeyId),
    /// The bundle carries no signature.
    Unsigned,
    /// A key statement is not signed by a key trusted at that point.
    BadStatement(String),
    /// A compressed frame's SHA-256 does not match the manifest.
    FrameHash { payload: usize, chunk: u32 },
    /// A decompressed chunk does not match the manifest (size or SHA-256).
    ChunkHash { payload: usize, chunk: u32 },
    /// The whole image's SHA-256 does not match the manifest.
    ImageHash { payload: usize },
    /// The bundle is not for this board.
    WrongBoard { device: String, bundle: Vec<String> },
    /// The bundle's rollback index is below the device's floor.
    RollbackBelowFloor { index: u64, floor: u64 },
    /// A payload is larger than its target.
    TooLarge { payload: usize, size: u64, limit: u64 },
    /// Bytes after the last frame.
    TrailingData,
    /// Invalid input to the writer.
    Invalid(String),
}

/// An error about one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The bundle's path or name, as the caller gave it.
    pub bundle: String,
    pub kind: ErrorKind,
}

impl Error {
    pub fn new(bundle: impl Into<String>, kind: ErrorKind) -> Error {
        Error { bundle: bundle.into(), kind }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Io(e) => write!(f, "{e}"),
            BadMagic => write!(f, "not a Quill update bundle (bad magic); use a *.qbundle made by `fwupdate bundle create`"),
            UnknownVersion(v) => write!(f, "bundle format version {v} is not supported by this firmware; install an intermediate release first"),
            ReservedNotZero => write!(f, "reserved header bytes are not zero: the file is damaged; download it again"),
            Truncated { what } => write!(f, "the file ends inside the {what}: it is incomplete; copy or download it again"),
            Malformed(what) => write!(f, "damaged bundle: {what}; download it again"),
            UnknownKey(ids) => {
                let ids: Vec<String> = ids.iter().map(|k| k.to_string()).collect();
                write!(f, "signed by unknown key(s) {}: this device does not trust the signer; use a bundle from your vendor", ids.join(", "))
            }
            RevokedKey(id) => write!(f, "signed by revoked key {id}; use a bundle signed with a current key"),
            BadSignature(id) => write!(f, "the signature by key {id} does not match the manifest: the bundle was changed after signing"),
            Unsigned => write!(f, "the bundle is not signed; sign it with `fwupdate bundle sign`"),
            BadStatement(why) => write!(f, "invalid key statement: {why}"),
            FrameHash { payload, chunk } => write!(f, "payload {payload} chunk {chunk}: compressed data does not match its SHA-256: the file is damaged; download it again"),
            ChunkHash { payload, chunk } => write!(f, "payload {payload} chunk {chunk}: data does not match its SHA-256: the file is damaged; download it again"),
            ImageHash { payload } => write!(f, "payload {payload}: the whole image does not match its SHA-256"),
            WrongBoard { device, bundle } => write!(f, "the bundle is for {} but this device is {device}; use the bundle for {device}", bundle.join(", ")),
            RollbackBelowFloor { index, floor } => write!(f, "rollback index {index} is below this device's floor {floor}: this firmware is too old to install"),
            TooLarge { payload, size, limit } => write!(f, "payload {payload} is {size} bytes but its target holds {limit}"),
            TrailingData => write!(f, "unexpected data after the last chunk: the file is damaged; download it again"),
            Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.bundle, self.kind)
    }
}

impl std::error::Error for Error {}
