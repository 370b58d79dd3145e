//! Random and mutated input never panics the parser and is never accepted.

mod common;
use bundle::Keyring;
use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_refused(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let ring = Keyring::new([key(1).public()]);
        let (got, res) = read_all(&data, &ring, &policy());
        prop_assert!(res.is_err());
        prop_assert!(got.is_empty());
    }

    #[test]
    fn random_bytes_after_a_valid_header_are_refused(data in proptest::collection::vec(any::<u8>(), 0..4096), mlen in 0u32..2048, slen in 0u32..256) {
        let mut bytes = b"QBUNDLE\x00\x01\x00\x00\x00".to_vec();
        bytes.extend_from_slice(&mlen.to_le_bytes());
        bytes.extend_from_slice(&slen.to_le_bytes());
        bytes.extend_from_slice(&[0; 12]);
        bytes.extend_from_slice(&data);
        let (got, res) = read_all(&bytes, &Keyring::new([key(1).public()]), &policy());
        prop_assert!(res.is_err());
        prop_assert!(got.is_empty());
    }

    #[test]
    fn mutated_bundles_are_refused(edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8), cut in any::<prop::sample::Index>(), do_cut in any::<bool>()) {
        let img = image(2 * 4096 + 10, 21);
        let k = key(1);
        let good = bundle(&img, 4096, &k);
        let mut bad = good.clone();
        for (i, x) in &edits {
            let at = i.index(bad.len());
            bad[at] ^= x;
        }
        if do_cut {
            bad.truncate(cut.index(bad.len()));
        }
        prop_assume!(bad != good);
        let (got, res) = read_all(&bad, &Keyring::new([k.public()]), &policy());
        prop_assert!(res.is_err());
        assert_only_good_chunks(&img, &got);
    }
}
