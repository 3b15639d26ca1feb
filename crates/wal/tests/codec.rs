//! Property tests of the record codec: arbitrary records round-trip, and arbitrary or damaged bytes never panic.

mod common;

use liucun_wal::codec::{DecodeReason, decode, decode_version, encode};
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

#[test]
fn sensors_merge_sources_are_damage_in_a_version_1_body() {
    let mut bytes = Vec::new();
    encode(&common::sensors_record(1), &mut bytes);
    assert_eq!(decode_version(&bytes, 2), Ok(common::sensors_record(1)));
    let err = decode_version(&bytes, 1).expect_err("version 1 has merge sources 0 to 4");
    assert_eq!(
        err.reason,
        DecodeReason::UnknownTag {
            field: "merge source",
            tag: 5
        }
    );
}

#[test]
fn version_1_bodies_decode_in_the_current_version() {
    for record in common::v1_records() {
        let mut bytes = Vec::new();
        encode(&record, &mut bytes);
        assert_eq!(decode_version(&bytes, 1).as_ref(), Ok(&record));
        assert_eq!(decode(&bytes), Ok(record));
    }
}
