//! The evidence a device keeps, how two copies of it are merged, and how the
//! trusted keys follow from it.

use abslot::Slot;
use bundle::format::{Dec, Enc};
use bundle::{KeyStatement, Keyring};

/// Key statements a device keeps at most (each is 113 bytes; the raw record
/// holds them all). A bundle carries at most 16.
pub const MAX_STATEMENTS: usize = 64;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Counts the writes of the raw record; the copy with the higher one is
    /// the newer where the two copies disagree about the slots.
    pub seq: u64,
    /// Bundles below this rollback index are refused.
    pub floor: u64,
    /// The rollback index of the bundle installed into slot A and slot B
    /// (a proven boot raises the floor to it).
    pub slot_index: [u64; 2],
    /// The signed key statements of every bundle installed, in order,
    /// without repeats.
    pub statements: Vec<KeyStatement>,
}

/// The keys that follow from the evidence.
#[derive(Clone, Debug)]
pub struct Replayed {
    pub keyring: Keyring,
    /// Statements that no longer apply (their signer is not trusted by
    /// this image any more); they are kept, not applied.
    pub skipped: usize,
}

impl Evidence {
    /// Nothing was ever installed here.
    pub fn is_fresh(&self) -> bool {
        self.floor == 0 && self.slot_index == [0, 0] && self.statements.is_empty()
    }

    /// Two copies of the evidence as one: the higher floor, every statement
    /// of either (the newer copy's order first), the slots' indexes of the
    /// newer copy.
    pub fn merge(a: &Evidence, b: &Evidence) -> Evidence {
        let (newer, older) = if a.seq >= b.seq { (a, b) } else { (b, a) };
        let mut statements = newer.statements.clone();
        for s in &older.statements {
            if !statements.contains(s) {
                statements.push(s.clone());
            }
        }
        statements.truncate(MAX_STATEMENTS);
        Evidence { seq: newer.seq, floor: a.floor.max(b.floor), slot_index: newer.slot_index, statements }
    }

    /// Keeps a bundle's statements (repeats dropped). Refuses when the
    /// device would keep more than [`MAX_STATEMENTS`].
    pub fn add_statements(&mut self, new: &[KeyStatement]) -> Result<(), String> {
        let fresh: Vec<&KeyStatement> = new
            .iter()
            .enumerate()
            .filter(|(i, s)| !self.statements.contains(s) && !new[..*i].contains(s))
            .map(|(_, s)| s)
            .collect();
        if self.statements.len() + fresh.len() > MAX_STATEMENTS {
            return Err(format!(
                "this device keeps at most {MAX_STATEMENTS} key statements and holds {}; the bundle adds {}",
                self.statements.len(),
                fresh.len()
            ));
        }
        self.statements.extend(fresh.into_iter().cloned());
        Ok(())
    }

    /// Records the rollback index of the bundle just written into `slot`.
    pub fn set_slot_index(&mut self, slot: Slot, index: u64) {
        self.slot_index[slot.index()] = index;
    }

    /// A proven boot of `slot`: the floor rises to its bundle's index.
    /// Returns whether it rose.
    pub fn prove(&mut self, slot: Slot) -> bool {
        let i = self.slot_index[slot.index()];
        let rose = i > self.floor;
        self.floor = self.floor.max(i);
        rose
    }

    /// The image's keyring with the statements replayed in order; each
    /// must be signed by a key trusted at that point (bundle's rules).
    pub fn keyring(&self, image: &Keyring) -> Replayed {
        let mut keyring = image.clone();
        let mut skipped = 0;
        for s in &self.statements {
            if keyring.apply(s).is_err() {
                skipped += 1;
            }
        }
        Replayed { keyring, skipped }
    }

    /// A statement as 226 hex digits (how DATA keeps them).
    pub fn statement_hex(s: &KeyStatement) -> String {
        let mut e = Enc::default();
        s.encode(&mut e);
        hex::encode(e.0)
    }

    pub fn statement_from_hex(text: &str) -> Result<KeyStatement, String> {
        let bytes = hex::decode(text).map_err(|e| format!("a key statement is not hex: {e}"))?;
        let mut d = Dec::new(&bytes, "key statement");
        let s = KeyStatement::decode(&mut d).map_err(|e| format!("a key statement: {e}"))?;
        d.finish().map_err(|e| format!("a key statement: {e}"))?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::{SecretKey, StatementKind};

    fn keys() -> (SecretKey, SecretKey, SecretKey) {
        (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]), SecretKey::from_seed(&[3; 32]))
    }

    #[test]
    fn keys_follow_from_statements_replayed_onto_the_image() {
        let (old, new, stranger) = keys();
        let trust_new = KeyStatement::sign(StatementKind::Trust(new.public()), &old);
        let revoke_old = KeyStatement::sign(StatementKind::Revoke(old.id()), &new);
        let forged = KeyStatement::sign(StatementKind::Trust(stranger.public()), &stranger);
        let ev = Evidence { statements: vec![trust_new.clone(), revoke_old.clone(), forged], ..Evidence::default() };
        let r = ev.keyring(&Keyring::new([old.public()]));
        assert!(r.keyring.is_trusted(&new.id()) && !r.keyring.is_trusted(&old.id()));
        assert!(!r.keyring.is_trusted(&stranger.id()), "a statement signed by a stranger adds nothing");
        assert_eq!(r.skipped, 1);
        // An image that no longer ships the old key: what the old key
        // signed no longer applies, and the old key is not trusted.
        let r = ev.keyring(&Keyring::new([stranger.public()]));
        assert!(!r.keyring.is_trusted(&new.id()) && !r.keyring.is_trusted(&old.id()));
        assert_eq!(r.skipped, 2);
    }

    #[test]
    fn merge_keeps_the_higher_floor_and_every_statement() {
        let (old, new, _) = keys();
        let s1 = KeyStatement::sign(StatementKind::Trust(new.public()), &old);
        let s2 = KeyStatement::sign(StatementKind::Revoke(old.id()), &new);
        let disk = Evidence { seq: 5, floor: 3, slot_index: [3, 4], statements: vec![s1.clone()] };
        let data = Evidence { seq: 4, floor: 7, slot_index: [3, 1], statements: vec![s2.clone(), s1.clone()] };
        let m = Evidence::merge(&disk, &data);
        assert_eq!((m.seq, m.floor, m.slot_index), (5, 7, [3, 4]));
        assert_eq!(m.statements, vec![s1, s2]);
        assert_eq!(Evidence::merge(&data, &disk), m, "order of the arguments does not matter");
    }

    #[test]
    fn statements_are_kept_once_and_capped() {
        let (old, _, _) = keys();
        let mk = |i: u8| KeyStatement::sign(StatementKind::Trust(SecretKey::from_seed(&[i; 32]).public()), &old);
        let mut ev = Evidence::default();
        ev.add_statements(&[mk(10), mk(11), mk(10)]).unwrap();
        ev.add_statements(&[mk(11)]).unwrap();
        assert_eq!(ev.statements.len(), 2);
        let many: Vec<_> = (20..20 + MAX_STATEMENTS as u8 - 1).map(mk).collect();
        let e = ev.add_statements(&many).unwrap_err();
        assert!(e.contains("at most 64"), "{e}");
        assert_eq!(ev.statements.len(), 2, "nothing kept from a refused batch");
        for s in &ev.statements {
            assert_eq!(&Evidence::statement_from_hex(&Evidence::statement_hex(s)).unwrap(), s);
        }
        assert!(Evidence::statement_from_hex("zz").is_err());
    }

    #[test]
    fn a_proven_boot_raises_the_floor_to_its_slot() {
        let mut ev = Evidence { floor: 2, ..Evidence::default() };
        ev.set_slot_index(Slot::B, 5);
        assert!(ev.prove(Slot::B));
        assert_eq!(ev.floor, 5);
        assert!(!ev.prove(Slot::A), "a lower index never lowers the floor");
        assert_eq!(ev.floor, 5);
    }
}
