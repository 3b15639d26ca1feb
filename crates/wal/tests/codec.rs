//! Property tests of the record codec: arbitrary records round-trip, and arbitrary or damaged bytes never panic.

mod common;

use liucun_wal::codec::{decode, encode};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn records_round_trip(record in common::record()) {
        let mut bytes = Vec::new();
        encode(&record, &mut bytes);
        prop_assert_eq!(decode(&bytes), Ok(record));
    }

    #[test]
    fn arbitrary_bytes_decode_or_fail_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Err(e) = decode(&bytes) {
            prop_assert!(e.offset <= bytes.len() as u64);
        }
    }

    #[test]
    fn damaged_encodings_never_panic(record in common::record(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = Vec::new();
        encode(&record, &mut bytes);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Err(e) = decode(&bytes) {
            prop_assert!(e.offset <= bytes.len() as u64);
        }
    }
}
