//! Ed25519 keys, key ids, key files, and the keyring a device trusts.
//!
//! Rotation: a bundle may carry [`KeyStatement`]s, each "trust key N" or
//! "revoke key M", signed by a key the device trusts at that point. The
//! device keeps the statements' effect (its [`Keyring::state_text`]) on
//! DATA. There are no expiry dates and no wall-clock checks: devices that
//! were off the network have wrong clocks.

use crate::error::ErrorKind;
use crate::format::{Dec, Enc, STATEMENT_MAGIC, STATEMENT_REVOKE, STATEMENT_TRUST};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

const SECRET_HEADER: &str = "quill-ed25519-secret-key v1";
const PUBLIC_HEADER: &str = "quill-ed25519-public-key v1";

/// First 8 bytes of SHA-256 of the public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl KeyId {
    pub fn parse(s: &str) -> Option<KeyId> {
        hex::decode(s.trim()).ok()?.try_into().ok().map(KeyId)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(pub VerifyingKey);

impl PublicKey {
    pub fn from_bytes(b: &[u8; 32]) -> Option<PublicKey> {
        VerifyingKey::from_bytes(b).ok().map(PublicKey)
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
    pub fn id(&self) -> KeyId {
        let h = Sha256::digest(self.0.as_bytes());
        KeyId(h[..8].try_into().unwrap())
    }
    /// Strict Ed25519 verification (RFC 8032, no malleable signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0.verify_strict(message, &Signature::from_bytes(signature)).is_ok()
    }
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_HEADER} {}\n{}\n", self.id(), hex::encode(self.to_bytes()))
    }
    pub fn from_file_text(text: &str) -> Result<PublicKey, String> {
        let mut lines = text.lines();
        let head = lines.next().unwrap_or("");
        if !head.starts_with(PUBLIC_HEADER) {
            return Err(format!("not a Quill public key file (first line should start with {PUBLIC_HEADER:?})"));
        }
        let bytes: [u8; 32] = hex::decode(lines.next().unwrap_or("").trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the key line is not 64 hex digits")?;
        PublicKey::from_bytes(&bytes).ok_or_else(|| "not a valid Ed25519 public key".to_string())
    }
}

pub struct SecretKey(pub SigningKey);

impl SecretKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<SecretKey, String> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| format!("no randomness from the OS: {e}"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }
    pub fn id(&self) -> KeyId {
        self.public().id()
    }
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
    pub fn from_file_text(text: &str) -> Result<SecretKey, String> {
        let mut lines = text.lines();
        if lines.next() != Some(SECRET_HEADER) {
            return Err(format!("not a Quill secret key file (first line should be {SECRET_HEADER:?})"));
        }
        let seed: [u8; 32] = hex::decode(lines.next().unwrap_or("").trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("the key line is not 64 hex digits")?;
        Ok(SecretKey::from_seed(&seed))
    }
    pub fn load(path: &Path) -> Result<SecretKey, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("reading the key {}: {e}", path.display()))?;
        SecretKey::from_file_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
    /// Writes `NAME.key` (mode 0600, never overwritten) and `NAME.pub`.
    pub fn write_pair(&self, dir: &Path, name: &str) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let key = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&key).map_err(|e| {
            format!("creating {}: {e} (a key is never overwritten; choose another name)", key.display())
        })?;
        f.write_all(format!("{SECRET_HEADER}\n{}\n", hex::encode(self.0.to_bytes())).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("writing {}: {e}", key.display()))?;
        fs::write(&public, self.public().to_file_text()).map_err(|e| format!("writing {}: {e}", public.display()))?;
        Ok((key, public))
    }
}

/// "Trust this key" or "revoke that key", signed by a trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStatement {
    pub kind: StatementKind,
    pub signer: KeyId,
    pub signature: [u8; 64],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementKind {
    Trust(PublicKey),
    Revoke(KeyId),
}

impl KeyStatement {
    /// The bytes the signer signs.
    pub fn message(kind: &StatementKind) -> Vec<u8> {
        let mut e = Enc::default();
        e.bytes(&STATEMENT_MAGIC);
        match kind {
            StatementKind::Trust(k) => e.u8(STATEMENT_TRUST).bytes(&k.id().0).bytes(&k.to_bytes()),
            StatementKind::Revoke(id) => e.u8(STATEMENT_REVOKE).bytes(&id.0).bytes(&[0; 32]),
        };
        e.0
    }

    pub fn sign(kind: StatementKind, signer: &SecretKey) -> KeyStatement {
        let signature = signer.sign(&KeyStatement::message(&kind));
        KeyStatement { kind, signer: signer.id(), signature }
    }

    /// kind u8, subject key id [8], public key [32], signer id [8], signature [64].
    pub fn encode(&self, e: &mut Enc) {
        let msg = KeyStatement::message(&self.kind);
        e.bytes(&msg[8..]).bytes(&self.signer.0).bytes(&self.signature);
    }

    pub fn decode(d: &mut Dec) -> Result<KeyStatement, ErrorKind> {
        let kind = d.u8()?;
        let subject = KeyId(d.array()?);
        let key: [u8; 32] = d.array()?;
        let signer = KeyId(d.array()?);
        let signature = d.array()?;
        let kind = match kind {
            STATEMENT_TRUST => {
                let k = PublicKey::from_bytes(&key)
                    .ok_or_else(|| ErrorKind::Malformed("key statement holds an invalid public key".into()))?;
                if k.id() != subject {
                    return Err(ErrorKind::Malformed("key statement's key id does not match its key".into()));
                }
                StatementKind::Trust(k)
            }
            STATEMENT_REVOKE => StatementKind::Revoke(subject),
            other => return Err(ErrorKind::Malformed(format!("unknown key statement kind {other}"))),
        };
        Ok(KeyStatement { kind, signer, signature })
    }
}

/// The keys a device trusts, and those it revoked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    trusted: BTreeMap<KeyId, PublicKey>,
    revoked: BTreeSet<KeyId>,
}

impl Keyring {
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Keyring {
        Keyring { trusted: keys.into_iter().map(|k| (k.id(), k)).collect(), revoked: BTreeSet::new() }
    }

    /// Every `*.pub` in `dir` (the image ships them in /etc/quill/keys).
    pub fn load_dir(dir: &Path) -> Result<Keyring, String> {
        let mut keys = Vec::new();
        let rd = fs::read_dir(dir).map_err(|e| format!("reading the keyring {}: {e}", dir.display()))?;
        let mut paths: Vec<_> =
            rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pub")).collect();
        paths.sort();
        for p in paths {
            let text = fs::read_to_string(&p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            keys.push(PublicKey::from_file_text(&text).map_err(|e| format!("{}: {e}", p.display()))?);
        }
        if keys.is_empty() {
            return Err(format!("the keyring {} holds no *.pub key", dir.display()));
        }
        Ok(Keyring::new(keys))
    }

    pub fn is_trusted(&self, id: &KeyId) -> bool {
        self.trusted.contains_key(id) && !self.revoked.contains(id)
    }

    pub fn trusted_ids(&self) -> Vec<KeyId> {
        self.trusted.keys().filter(|id| !self.revoked.contains(id)).copied().collect()
    }

    /// Checks one signature by key `id` over `message`.
    pub fn verify(&self, id: &KeyId, message: &[u8], signature: &[u8; 64]) -> Result<(), ErrorKind> {
        if self.revoked.contains(id) {
            return Err(ErrorKind::RevokedKey(*id));
        }
        let key = self.trusted.get(id).ok_or_else(|| ErrorKind::UnknownKey(vec![*id]))?;
        if key.verify(message, signature) {
            Ok(())
        } else {
            Err(ErrorKind::BadSignature(*id))
        }
    }

    /// Applies a statement if its signer is trusted now. Refuses to revoke
    /// the last trusted key (the device could never update again).
    pub fn apply(&mut self, s: &KeyStatement) -> Result<(), ErrorKind> {
        self.verify(&s.signer, &KeyStatement::message(&s.kind), &s.signature)
            .map_err(|e| ErrorKind::BadStatement(format!("not signed by a trusted key ({e})")))?;
        match &s.kind {
            StatementKind::Trust(k) => {
                if self.revoked.contains(&k.id()) {
                    return Err(ErrorKind::BadStatement(format!(
                        "key {} was revoked and cannot be trusted again",
                        k.id()
                    )));
                }
                self.trusted.insert(k.id(), *k);
            }
            StatementKind::Revoke(id) => {
                if self.trusted_ids() == [*id] {
                    return Err(ErrorKind::BadStatement(format!("revoking {id} would leave no trusted key")));
                }
                self.revoked.insert(*id);
            }
        }
        Ok(())
    }

    /// What the device keeps on DATA: `trust <hex key>` and `revoke <key id>` lines.
    pub fn state_text(&self) -> String {
        let mut s = String::from("# Quill keyring state: keys trusted and revoked through key statements\n");
        for k in self.trusted.values() {
            s.push_str(&format!("trust {}\n", hex::encode(k.to_bytes())));
        }
        for id in &self.revoked {
            s.push_str(&format!("revoke {id}\n"));
        }
        s
    }

    /// Adds the keys and revocations of a saved [`Keyring::state_text`].
    pub fn merge_state(&mut self, text: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("keyring state line {}: {line:?}", n + 1);
            match line.split_once(' ') {
                Some(("trust", hexkey)) => {
                    let b: [u8; 32] = hex::decode(hexkey).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
                    let k = PublicKey::from_bytes(&b).ok_or_else(bad)?;
                    self.trusted.insert(k.id(), k);
                }
                Some(("revoke", id)) => {
                    self.revoked.insert(KeyId::parse(id).ok_or_else(bad)?);
                }
                _ => return Err(bad()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// RFC 8032 section 7.1, TEST 1-3, through the same verification path
    /// bundles use (`Keyring::verify`).
    #[test]
    fn rfc8032_test_vectors() {
        let vectors = [
            ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
             "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
             "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
            ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
             "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
        ];
        for (seed, public, msg, sig) in vectors {
            let sk = SecretKey::from_seed(&unhex(seed));
            let pk = PublicKey::from_bytes(&unhex(public)).unwrap();
            assert_eq!(sk.public(), pk, "public key derivation");
            let msg = hex::decode(msg).unwrap();
            let sig: [u8; 64] = unhex(sig);
            assert_eq!(sk.sign(&msg), sig, "deterministic signature");
            let ring = Keyring::new([pk]);
            ring.verify(&pk.id(), &msg, &sig).unwrap();
            let mut bad = sig;
            bad[63] ^= 1;
            assert_eq!(ring.verify(&pk.id(), &msg, &bad), Err(ErrorKind::BadSignature(pk.id())));
            let mut other = msg.clone();
            other.push(0);
            assert!(ring.verify(&pk.id(), &other, &sig).is_err());
        }
    }

    #[test]
    fn key_files_round_trip_and_secret_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let sk = SecretKey::generate().unwrap();
        let (kf, pf) = sk.write_pair(t.path(), "release").unwrap();
        assert_eq!(fs::metadata(&kf).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(SecretKey::load(&kf).unwrap().id(), sk.id());
        let ring = Keyring::load_dir(t.path()).unwrap();
        assert!(ring.is_trusted(&sk.id()));
        assert_eq!(PublicKey::from_file_text(&fs::read_to_string(pf).unwrap()).unwrap(), sk.public());
        assert!(sk.write_pair(t.path(), "release").unwrap_err().contains("never overwritten"));
        assert!(SecretKey::from_file_text("garbage").is_err());
        assert!(Keyring::load_dir(&t.path().join("none")).is_err());
    }

    #[test]
    fn rotation_and_revocation() {
        let old = SecretKey::from_seed(&[1; 32]);
        let new = SecretKey::from_seed(&[2; 32]);
        let stranger = SecretKey::from_seed(&[3; 32]);
        let mut ring = Keyring::new([old.public()]);

        // A stranger cannot add keys.
        let forged = KeyStatement::sign(StatementKind::Trust(stranger.public()), &stranger);
        assert!(matches!(ring.apply(&forged), Err(ErrorKind::BadStatement(_))));
        // The old key can not revoke itself while it is the only key.
        let early = KeyStatement::sign(StatementKind::Revoke(old.id()), &old);
        assert!(matches!(ring.apply(&early), Err(ErrorKind::BadStatement(_))));

        // Trust new (signed by old), then retire old (signed by new).
        ring.apply(&KeyStatement::sign(StatementKind::Trust(new.public()), &old)).unwrap();
        ring.apply(&KeyStatement::sign(StatementKind::Revoke(old.id()), &new)).unwrap();
        assert!(ring.is_trusted(&new.id()) && !ring.is_trusted(&old.id()));
        assert_eq!(ring.verify(&old.id(), b"m", &old.sign(b"m")), Err(ErrorKind::RevokedKey(old.id())));
        // A revoked key cannot sign statements any more, nor be trusted again.
        let late = KeyStatement::sign(StatementKind::Trust(stranger.public()), &old);
        assert!(ring.apply(&late).is_err());
        let back = KeyStatement::sign(StatementKind::Trust(old.public()), &new);
        assert!(ring.apply(&back).is_err());

        // The state survives a save and load on top of the image keyring.
        let mut reloaded = Keyring::new([old.public()]);
        reloaded.merge_state(&ring.state_text()).unwrap();
        assert_eq!(reloaded, ring);
        assert!(Keyring::default().merge_state("trust zz").is_err());
    }

    #[test]
    fn statements_encode_and_decode() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        for s in [
            KeyStatement::sign(StatementKind::Trust(b.public()), &a),
            KeyStatement::sign(StatementKind::Revoke(b.id()), &a),
        ] {
            let mut e = Enc::default();
            s.encode(&mut e);
            assert_eq!(e.0.len(), 1 + 8 + 32 + 8 + 64);
            let mut d = Dec::new(&e.0, "statement");
            assert_eq!(KeyStatement::decode(&mut d).unwrap(), s);
            d.finish().unwrap();
        }
    }
}
