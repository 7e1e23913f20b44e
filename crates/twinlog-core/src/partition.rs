//! Key → partition routing. One key always lands on one partition, across restarts, versions
//! and machines, because the order of a key's events is only kept within a partition.
//!
//! The hash is Kafka's default partitioner for keyed records: `murmur2(key)` (32-bit
//! MurmurHash2, seed `0x9747b28c`, Kafka's variant), made positive by masking the sign bit,
//! modulo the partition count. Using Kafka's exact function means a topic moved to Kafka
//! keeps every key on the same partition number. This function is part of the on-disk
//! contract: changing it would reorder keys, so it is frozen and pinned by test vectors.

/// Kafka's murmur2 of `data` (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition (in `0..partitions`) that records with `key` go to.
///
/// `partitions` must be at least 1; 0 is treated as 1 so that routing never panics.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    positive % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafka() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn partition_is_stable_and_in_range() {
        // Fixed vectors: these must never change (see the module docs).
        assert_eq!(partition_for_key(b"abc", 12), (479_470_107 % 12) as u32);
        assert_eq!(
            partition_for_key(b"21", 10),
            ((-973_932_308_i32 & 0x7fff_ffff) % 10) as u32
        );
        assert_eq!(partition_for_key(b"anything", 1), 0);
        assert_eq!(partition_for_key(b"anything", 0), 0);
        for i in 0..1000u32 {
            let key = i.to_string();
            let p = partition_for_key(key.as_bytes(), 7);
            assert!(p < 7);
            assert_eq!(p, partition_for_key(key.as_bytes(), 7));
        }
    }
}
