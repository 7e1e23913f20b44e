//! Property tests of the batch encoding: encode ∘ decode = identity, and any single damaged
//! byte (or a cut) anywhere in an encoded batch is detected.

use bytes::Bytes;
use proptest::prelude::*;
use twinlog_log::format::{FormatError, decode_batch, encode_batch, validate_batch};
use twinlog_log::{Header, Record, Timestamp};

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        any::<i64>(),
        proptest::option::of(arb_bytes(40)),
        proptest::collection::vec(("[a-z]{0,6}", arb_bytes(12)), 0..3),
        proptest::option::of(arb_bytes(300)),
    )
        .prop_map(|(ts, key, headers, value)| Record {
            timestamp: Timestamp::from_micros(ts),
            key,
            headers: headers
                .into_iter()
                .map(|(k, v)| Header::new(k, v))
                .collect(),
            value,
        })
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(records in proptest::collection::vec(arb_record(), 1..12), base in 0u64..(1 << 60)) {
        let mut batch = encode_batch(&records);
        batch.seal(base);
        let bytes = Bytes::copy_from_slice(batch.as_bytes());
        let (header, decoded) = decode_batch(&bytes).expect("decodes");
        prop_assert_eq!(header.base_offset, base);
        prop_assert_eq!(header.record_count as usize, records.len());
        prop_assert_eq!(header.max_timestamp, records.iter().map(|r| r.timestamp.as_micros()).max().unwrap());
        let expected: Vec<(u64, Record)> = records.into_iter().enumerate().map(|(i, r)| (base + i as u64, r)).collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn any_byte_flip_is_detected(
        records in proptest::collection::vec(arb_record(), 1..6),
        base in 0u64..(1 << 60),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut batch = encode_batch(&records);
        batch.seal(base);
        let mut bytes = batch.as_bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        prop_assert!(validate_batch(&bytes).is_err(), "flip of byte {} by {:#x} undetected", i, xor);
    }

    #[test]
    fn any_cut_is_detected(records in proptest::collection::vec(arb_record(), 1..6), at in any::<prop::sample::Index>()) {
        let mut batch = encode_batch(&records);
        batch.seal(7);
        let bytes = batch.as_bytes();
        let cut = at.index(bytes.len());
        prop_assert!(validate_batch(&bytes[..cut]).is_err());
    }
}

#[test]
fn a_batch_whose_offsets_pass_the_largest_offset_is_malformed() {
    let records: Vec<Record> = (0..3)
        .map(|i| Record::keyed(Timestamp::from_micros(i), "k", "v"))
        .collect();
    // Three records from u64::MAX - 2 would need offset u64::MAX + 1 after them.
    let mut batch = encode_batch(&records);
    batch.seal(u64::MAX - 2);
    let err = validate_batch(batch.as_bytes()).unwrap_err();
    assert!(matches!(err, FormatError::Malformed { .. }), "{err:?}");
    assert!(decode_batch(&Bytes::copy_from_slice(batch.as_bytes())).is_err());
    // The largest batch that still fits ends exactly at u64::MAX.
    let mut batch = encode_batch(&records);
    batch.seal(u64::MAX - 3);
    let header = validate_batch(batch.as_bytes()).unwrap();
    assert_eq!(header.next_offset(), u64::MAX);
}
