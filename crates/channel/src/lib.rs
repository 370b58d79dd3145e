//! The signed channel index of a static update repository.
//!
//! A repository is a folder of static files any web server or CDN can
//! serve (made by `fwupdate repo`):
//!
//! ```text
//! bundles/quill-<board>-<version>.qbundle     the bundles, unchanged
//! manifests/quill-<board>-<version>.qmanifest the bundle's header, manifest and signatures (a few KB)
//! channels/<board>/<channel>.json             the signed index of one channel
//! ```
//!
//! The index names the channel's latest version, its manifest's path and
//! SHA-256, a sequence number that only goes up, the roll-out fraction
//! (`max_seed` of [`SEEDS`]) and `paused`. It is signed with the same
//! Ed25519 keys as bundles (rotation and revocation included, through the
//! device's [`bundle::Keyring`]). There is no expiry and no clock: a device
//! refuses an index whose sequence is below one it has seen (replay), and
//! an equal sequence with other content (a forked channel).
//!
//! The signed bytes are the index's JSON text exactly as published, carried
//! as a string inside the envelope, so nobody has to agree on a canonical
//! JSON form.
//!
//! Architecture Invariant: nothing in an index is believed before its
//! signature checked against the device's keyring; the manifest it names is
//! believed only if its SHA-256 matches.

use bundle::{KeyId, Keyring, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A device's seed is below this; `max_seed = SEEDS` reaches every device.
pub const SEEDS: u32 = 2048;
/// The index format this code reads and writes.
pub const FORMAT: u32 = 1;
/// An index larger than this is refused before it is parsed (one channel's
/// metadata stays small).
pub const MAX_INDEX_BYTES: usize = 64 << 10;

/// What a channel offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: u32,
    pub board: String,
    pub channel: String,
    /// Goes up by at least one with every publish, pause or resume.
    pub sequence: u64,
    pub version: String,
    /// Relative to the repository's root (the folder above `channels/`).
    pub manifest: String,
    pub manifest_sha256: String,
    pub bundle: String,
    pub bundle_size: u64,
    /// Only devices whose seed is below this take the update.
    pub max_seed: u32,
    pub paused: bool,
}

/// The file as published: the index's JSON text and its signatures.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    signed: String,
    signatures: Vec<Signature>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    key: String,
    sig: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the channel index is {0} bytes, more than {MAX_INDEX_BYTES}; is this URL a channel index?")]
    TooLarge(usize),
    #[error("the channel index is not a signed index: {0}")]
    Malformed(String),
    #[error("the channel index is signed by no key this device trusts ({0})")]
    Untrusted(String),
    #[error("the channel index is for {found:?}, this device is {want:?}")]
    WrongChannel { want: String, found: String },
    #[error(
        "the channel index has sequence {found}, older than {seen} seen before: a replayed or frozen index; \
         the repository's mirror may be stale"
    )]
    Replayed { seen: u64, found: u64 },
    #[error("the channel index has sequence {0} like one seen before but other content: the channel was forked")]
    Forked(u64),
    #[error("format {0} of the channel index is newer than this firmware reads ({FORMAT})")]
    Format(u32),
    #[error("the manifest does not match the channel index's SHA-256 (index {want}, file {found})")]
    ManifestHash { want: String, found: String },
    #[error("{0}")]
    Invalid(String),
}

impl Index {
    /// Checks what a publisher could get wrong.
    pub fn validate(&self) -> Result<(), Error> {
        if self.format != FORMAT {
            return Err(Error::Format(self.format));
        }
        if self.max_seed > SEEDS {
            return Err(Error::Invalid(format!("max_seed {} is above {SEEDS}", self.max_seed)));
        }
        for (what, path) in [("manifest", &self.manifest), ("bundle", &self.bundle)] {
            if path.is_empty() || path.starts_with('/') || path.contains("..") || path.contains("://") {
                return Err(Error::Invalid(format!("the {what} path {path:?} is not inside the repository")));
            }
        }
        if self.manifest_sha256.len() != 64 || hex::decode(&self.manifest_sha256).is_err() {
            return Err(Error::Invalid("manifest_sha256 is not a SHA-256 in hex".into()));
        }
        Ok(())
    }

    /// The published file: this index signed by `keys`.
    pub fn sign(&self, keys: &[&SecretKey]) -> Result<Vec<u8>, Error> {
        self.validate()?;
        if keys.is_empty() {
            return Err(Error::Invalid("an index needs at least one signature".into()));
        }
        let signed = serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        let signatures = keys
            .iter()
            .map(|k| Signature { key: k.public().id().to_string(), sig: hex::encode(k.sign(signed.as_bytes())) })
            .collect();
        let mut out =
            serde_json::to_vec_pretty(&Envelope { signed, signatures }).map_err(|e| Error::Invalid(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }

    /// Reads a published file without checking its signature: for the host
    /// tool, which re-signs what it changes. A device uses [`verify`].
    pub fn read_unverified(file: &[u8]) -> Result<Index, Error> {
        let env = envelope(file)?;
        parse(&env.signed)
    }

    /// Whether a device with this seed takes the update (and the channel
    /// is not paused).
    pub fn offers_to(&self, seed: u32) -> bool {
        !self.paused && seed < self.max_seed
    }

    /// Checks a manifest file fetched by the index's `manifest` path.
    pub fn check_manifest(&self, bytes: &[u8]) -> Result<(), Error> {
        let found = hex::encode(Sha256::digest(bytes));
        if !found.eq_ignore_ascii_case(&self.manifest_sha256) {
            return Err(Error::ManifestHash { want: self.manifest_sha256.clone(), found });
        }
        Ok(())
    }
}

fn envelope(file: &[u8]) -> Result<Envelope, Error> {
    if file.len() > MAX_INDEX_BYTES {
        return Err(Error::TooLarge(file.len()));
    }
    serde_json::from_slice(file).map_err(|e| Error::Malformed(e.to_string()))
}

fn parse(signed: &str) -> Result<Index, Error> {
    let index: Index = serde_json::from_str(signed).map_err(|e| Error::Malformed(e.to_string()))?;
    index.validate()?;
    Ok(index)
}

/// What the device remembers of a channel: the highest sequence it has
/// accepted and the SHA-256 of that index's signed text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub sequence: u64,
    pub signed_sha256: String,
}

/// An index the device accepted, and what to remember.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub index: Index,
    pub signer: KeyId,
    pub seen: Seen,
}

/// The device's check of a fetched index: a signature by a trusted key,
/// its board and channel, its sequence against what was seen before.
pub fn verify(
    file: &[u8],
    keyring: &Keyring,
    board: &str,
    channel: &str,
    seen: Option<&Seen>,
) -> Result<Accepted, Error> {
    let env = envelope(file)?;
    let mut failures = Vec::new();
    let mut signer = None;
    for s in &env.signatures {
        let (Some(id), Ok(Ok(sig))) = (KeyId::parse(&s.key), hex::decode(&s.sig).map(<[u8; 64]>::try_from)) else {
            failures.push(format!("unreadable signature by {:?}", s.key));
            continue;
        };
        match keyring.verify(&id, env.signed.as_bytes(), &sig) {
            Ok(()) => {
                signer = Some(id);
                break;
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let Some(signer) = signer else {
        if failures.is_empty() {
            failures.push("no signatures".into());
        }
        return Err(Error::Untrusted(failures.join("; ")));
    };
    let index = parse(&env.signed)?;
    if index.board != board || index.channel != channel {
        return Err(Error::WrongChannel {
            want: format!("{board}/{channel}"),
            found: format!("{}/{}", index.board, index.channel),
        });
    }
    let signed_sha256 = hex::encode(Sha256::digest(env.signed.as_bytes()));
    if let Some(seen) = seen {
        if index.sequence < seen.sequence {
            return Err(Error::Replayed { seen: seen.sequence, found: index.sequence });
        }
        if index.sequence == seen.sequence && signed_sha256 != seen.signed_sha256 {
            return Err(Error::Forked(index.sequence));
        }
    }
    let seen = Seen { sequence: index.sequence, signed_sha256 };
    Ok(Accepted { index, signer, seen })
}

/// A device's roll-out seed: SHA-256 of its unit ID, modulo [`SEEDS`].
/// Stable for the device's life, spread evenly over the fleet.
pub fn seed(unit_id: &str) -> u32 {
    let h = Sha256::digest(unit_id.as_bytes());
    (u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % u64::from(SEEDS)) as u32
}

#[cfg(test)]
mod tests;
