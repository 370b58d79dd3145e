//! Quill's signed update bundle, `*.qbundle` (layout in docs/bundle-format.md):
//!
//! ```text
//! header (32 bytes) | manifest (signed) | signatures | payload: one zstd frame per chunk
//! ```
//!
//! - [`Builder`] writes bundles (host): compresses the image chunk by chunk
//!   on every core and signs the manifest with one or more Ed25519 keys.
//! - [`Reader`] verifies a bundle from any [`std::io::Read`]: the manifest
//!   signature against a [`Keyring`] before a single payload byte is
//!   yielded, then each frame's and chunk's SHA-256 before the chunk is
//!   yielded, in memory bounded by about two chunks plus decoder state.
//! - [`keys`]: key files, key ids, the keyring with rotation and revocation
//!   statements carried inside bundles. No expiry dates, no clocks.

pub mod error;
pub mod format;
pub mod keys;
pub mod manifest;
mod reader;
mod writer;

pub use error::{Error, ErrorKind};
pub use keys::StatementKind;
pub use keys::{KeyId, KeyStatement, Keyring, PublicKey, SecretKey};
pub use manifest::{ChunkInfo, Manifest, Payload, Target};
pub use reader::{frame_ranges, head_bytes, inspect, Chunk, Policy, Reader};
pub use writer::{add_signature, Builder, Image, WriteSeek, DEFAULT_CHUNK_SIZE, DEFAULT_LEVEL};
