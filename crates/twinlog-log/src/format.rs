//! The on-disk byte layout of a record batch (format version 1), its encoding, decoding and
//! checksum. This is the versioned contract documented in `docs/LOG_FORMAT.md`.
//!
//! A batch (all integers little-endian):
//! ```text
//! offset size field
//!  0     8    base_offset        offset of the batch's first record
//!  8     4    batch_len          bytes of the whole batch, header included (>= 48)
//! 12     4    crc                CRC-32C (Castagnoli) of bytes [16, batch_len) followed by [0, 12)
//! 16     1    magic              format version, 1
//! 17     1    attributes         0 (reserved: compression, transactional…)
//! 18     2    reserved           0
//! 20     4    record_count
//! 24     4    last_offset_delta  offset of the last record − base_offset (>= record_count − 1
//!                                after compaction; it keeps the batch's offset span)
//! 28     4    reserved           0
//! 32     8    first_timestamp    µs since the epoch, of the first record
//! 40     8    max_timestamp      µs, the largest record timestamp in the batch
//! 48     …    records
//! ```
//! A record (varints are unsigned LEB128; `zigzag` maps signed to unsigned):
//! ```text
//! varint body_len          bytes of the record after this field
//! varint offset_delta      offset − base_offset
//! zigzag timestamp_delta   timestamp − first_timestamp
//! varint key_len + 1       0 = no key; then the key bytes
//! varint value_len + 1     0 = no value (tombstone); then the value bytes
//! varint header_count      then per header: varint name_len, name (UTF-8), varint value_len, value
//! ```
//! The CRC covers every byte but itself, so any damaged byte is detected (CRC-32C detects
//! every burst error of up to 32 bits). The writer learns the base offset only when it
//! writes the batch, which is why the 12 bytes it fills in come *last* in the checksummed
//! sequence: the encoder computes the CRC of bytes [16, batch_len) on the appender's thread,
//! and [`EncodedBatch::seal`] only extends it by 12 bytes instead of re-reading the batch.

use bytes::Bytes;
use twinlog_core::{Header, Record, Timestamp};

/// The format version written in every batch's `magic` byte.
pub const MAGIC: u8 = 1;
/// Size of the batch header in bytes.
pub const BATCH_HEADER_LEN: usize = 48;
/// Upper bound of a batch's size: a batch larger than this is treated as damage when
/// scanning, so that a corrupt length field cannot make a reader allocate gigabytes.
pub const MAX_BATCH_LEN: usize = 1 << 30;

/// Why bytes are not a valid batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The buffer ends before the header or the batch does (a torn write, or a short read).
    #[error("incomplete batch: {needed} bytes needed, {available} available")]
    Incomplete {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The magic byte is not a version this build reads.
    #[error("unknown batch format version {found} (this build reads {MAGIC})")]
    BadMagic {
        /// The byte found.
        found: u8,
    },
    /// `batch_len` is impossible.
    #[error("impossible batch length {len}")]
    BadLength {
        /// The length found.
        len: u32,
    },
    /// The checksum does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The CRC matched but the content does not parse (a bug or a deliberate forgery).
    #[error("malformed batch: {reason}")]
    Malformed {
        /// What did not parse.
        reason: &'static str,
    },
}

/// The fixed header of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: u64,
    /// Whole batch length in bytes.
    pub batch_len: u32,
    /// The stored CRC-32C.
    pub crc: u32,
    /// Format version.
    pub magic: u8,
    /// Reserved flags (0).
    pub attributes: u8,
    /// Number of records.
    pub record_count: u32,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: u32,
    /// Timestamp of the first record (µs).
    pub first_timestamp: i64,
    /// Largest record timestamp (µs).
    pub max_timestamp: i64,
}

impl BatchHeader {
    /// One past the last offset this batch covers: where the next batch starts.
    ///
    /// [`BatchHeader::parse`] rejects a header whose span passes `u64::MAX`; for a header
    /// built by hand the result saturates instead of overflowing.
    pub fn next_offset(&self) -> u64 {
        self.base_offset
            .saturating_add(u64::from(self.last_offset_delta))
            .saturating_add(1)
    }

    /// Parses and sanity-checks a header (magic, length) from the start of `buf`. Does not
    /// check the CRC (that needs the whole batch: [`check_crc`]).
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, FormatError> {
        if buf.len() < BATCH_HEADER_LEN {
            return Err(FormatError::Incomplete {
                needed: BATCH_HEADER_LEN,
                available: buf.len(),
            });
        }
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
        let h = BatchHeader {
            base_offset: u64_at(0),
            batch_len: u32_at(8),
            crc: u32_at(12),
            magic: buf[16],
            attributes: buf[17],
            record_count: u32_at(20),
            last_offset_delta: u32_at(24),
            first_timestamp: u64_at(32) as i64,
            max_timestamp: u64_at(40) as i64,
        };
        if h.magic != MAGIC {
            return Err(FormatError::BadMagic { found: h.magic });
        }
        if (h.batch_len as usize) < BATCH_HEADER_LEN || h.batch_len as usize > MAX_BATCH_LEN {
            return Err(FormatError::BadLength { len: h.batch_len });
        }
        // Each record takes at least 6 bytes, so the count is bounded by the length.
        if h.record_count as usize > (h.batch_len as usize - BATCH_HEADER_LEN) / 6
            || (h.record_count > 0 && h.last_offset_delta < h.record_count - 1)
        {
            return Err(FormatError::Malformed {
                reason: "record count does not fit the batch",
            });
        }
        // The offset after the batch must exist: a crafted base offset near u64::MAX
        // would otherwise overflow every offset computation downstream.
        if h.base_offset
            .checked_add(u64::from(h.last_offset_delta))
            .and_then(|o| o.checked_add(1))
            .is_none()
        {
            return Err(FormatError::Malformed {
                reason: "offsets of the batch pass the largest offset",
            });
        }
        Ok(h)
    }
}

/// Checks the CRC of a whole batch (`batch.len() == batch_len`).
pub fn check_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), FormatError> {
    let computed = crc32c::crc32c_append(crc32c::crc32c(&batch[16..]), &batch[..12]);
    if computed != header.crc {
        return Err(FormatError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// A batch encoded but not yet placed: [`EncodedBatch::seal`] sets its base offset and CRC.
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    buf: Vec<u8>,
    body_crc: u32,
    record_count: u32,
    last_offset_delta: u32,
    first_timestamp: i64,
    max_timestamp: i64,
}

impl EncodedBatch {
    /// Number of records.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }
    /// Offset span minus one (see the header field).
    pub fn last_offset_delta(&self) -> u32 {
        self.last_offset_delta
    }
    /// Largest record timestamp.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    /// Timestamp of the first record.
    pub fn first_timestamp(&self) -> i64 {
        self.first_timestamp
    }
    /// Encoded length in bytes.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Whether it holds no bytes (never: the header is always there).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Places the batch at `base_offset`: writes the offset and the final CRC.
    pub fn seal(&mut self, base_offset: u64) {
        self.buf[0..8].copy_from_slice(&base_offset.to_le_bytes());
        let crc = crc32c::crc32c_append(self.body_crc, &self.buf[0..12]);
        self.buf[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    /// The encoded bytes (sealed or not).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Builds a batch record by record.
#[derive(Debug)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    count: u32,
    last_offset_delta: u32,
    first_timestamp: i64,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// A builder with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> BatchBuilder {
        let mut buf = Vec::with_capacity(capacity.max(BATCH_HEADER_LEN));
        buf.resize(BATCH_HEADER_LEN, 0);
        BatchBuilder {
            buf,
            count: 0,
            last_offset_delta: 0,
            first_timestamp: 0,
            max_timestamp: i64::MIN,
        }
    }

    /// Number of records pushed.
    pub fn record_count(&self) -> u32 {
        self.count
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a record at `offset_delta` from the base (deltas must increase).
    pub fn push(&mut self, offset_delta: u32, record: &Record) {
        let ts = record.timestamp.as_micros();
        if self.count == 0 {
            self.first_timestamp = ts;
        }
        self.max_timestamp = self.max_timestamp.max(ts);
        self.count += 1;
        self.last_offset_delta = offset_delta;

        let ts_delta = zigzag(ts.wrapping_sub(self.first_timestamp));
        let key_len = record.key.as_ref().map_or(0, |k| k.len() as u64 + 1);
        let value_len = record.value.as_ref().map_or(0, |v| v.len() as u64 + 1);
        let mut body_len = varint_len(u64::from(offset_delta))
            + varint_len(ts_delta)
            + varint_len(key_len)
            + record.key.as_ref().map_or(0, Bytes::len)
            + varint_len(value_len)
            + record.value.as_ref().map_or(0, Bytes::len)
            + varint_len(record.headers.len() as u64);
        for h in &record.headers {
            body_len += varint_len(h.key.len() as u64)
                + h.key.len()
                + varint_len(h.value.len() as u64)
                + h.value.len();
        }
        let buf = &mut self.buf;
        buf.reserve(body_len + 10);
        put_varint(buf, body_len as u64);
        put_varint(buf, u64::from(offset_delta));
        put_varint(buf, ts_delta);
        put_varint(buf, key_len);
        if let Some(k) = &record.key {
            buf.extend_from_slice(k);
        }
        put_varint(buf, value_len);
        if let Some(v) = &record.value {
            buf.extend_from_slice(v);
        }
        put_varint(buf, record.headers.len() as u64);
        for h in &record.headers {
            put_varint(buf, h.key.len() as u64);
            buf.extend_from_slice(h.key.as_bytes());
            put_varint(buf, h.value.len() as u64);
            buf.extend_from_slice(&h.value);
        }
    }

    /// Sets `last_offset_delta` beyond the last record's (compaction keeps a batch's span
    /// when its last records were removed).
    pub fn extend_span(&mut self, last_offset_delta: u32) {
        self.last_offset_delta = self.last_offset_delta.max(last_offset_delta);
    }

    /// Writes the header (all but base offset and CRC) and computes the body CRC.
    pub fn finish(mut self) -> EncodedBatch {
        let len = self.buf.len() as u32;
        let max_ts = if self.count == 0 {
            0
        } else {
            self.max_timestamp
        };
        let h = &mut self.buf[..BATCH_HEADER_LEN];
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[16] = MAGIC;
        h[20..24].copy_from_slice(&self.count.to_le_bytes());
        h[24..28].copy_from_slice(&self.last_offset_delta.to_le_bytes());
        h[32..40].copy_from_slice(&self.first_timestamp.to_le_bytes());
        h[40..48].copy_from_slice(&max_ts.to_le_bytes());
        let body_crc = crc32c::crc32c(&self.buf[16..]);
        EncodedBatch {
            buf: self.buf,
            body_crc,
            record_count: self.count,
            last_offset_delta: self.last_offset_delta,
            first_timestamp: self.first_timestamp,
            max_timestamp: max_ts,
        }
    }
}

/// Encodes `records` as one batch with dense offset deltas `0..n`.
pub fn encode_batch(records: &[Record]) -> EncodedBatch {
    let estimate = BATCH_HEADER_LEN + records.iter().map(|r| r.payload_len() + 12).sum::<usize>();
    encode_batch_with_capacity(records, estimate)
}

/// [`encode_batch`] when the caller already knows about how many bytes it will take.
pub fn encode_batch_with_capacity(records: &[Record], capacity: usize) -> EncodedBatch {
    let mut b = BatchBuilder::with_capacity(capacity);
    for (i, r) in records.iter().enumerate() {
        b.push(i as u32, r);
    }
    b.finish()
}

/// Validates a whole batch (`batch` is exactly one batch: header, length, CRC) and returns
/// its header.
pub fn validate_batch(batch: &[u8]) -> Result<BatchHeader, FormatError> {
    let h = BatchHeader::parse(batch)?;
    if h.batch_len as usize != batch.len() {
        return Err(if (h.batch_len as usize) > batch.len() {
            FormatError::Incomplete {
                needed: h.batch_len as usize,
                available: batch.len(),
            }
        } else {
            FormatError::BadLength { len: h.batch_len }
        });
    }
    check_crc(&h, batch)?;
    Ok(h)
}

/// Decodes one whole, validated-here batch into `(offset, record)` pairs.
pub fn decode_batch(batch: &Bytes) -> Result<(BatchHeader, Vec<(u64, Record)>), FormatError> {
    let h = validate_batch(batch)?;
    let mut out = Vec::with_capacity(h.record_count as usize);
    decode_records(batch, &h, |offset, record| {
        out.push((offset, record));
        true
    })?;
    Ok((h, out))
}

/// Calls `f(offset, record)` for each record of a batch whose CRC was checked, in order,
/// until `f` returns false. Keys and values are slices of `batch` (no copy).
pub fn decode_records(
    batch: &Bytes,
    header: &BatchHeader,
    mut f: impl FnMut(u64, Record) -> bool,
) -> Result<(), FormatError> {
    let buf: &[u8] = batch;
    let mut pos = BATCH_HEADER_LEN;
    let end = header.batch_len as usize;
    let mut last_delta: Option<u64> = None;
    for _ in 0..header.record_count {
        let body_len = get_varint(buf, &mut pos, end)? as usize;
        let body_end =
            pos.checked_add(body_len)
                .filter(|&e| e <= end)
                .ok_or(FormatError::Malformed {
                    reason: "record longer than its batch",
                })?;
        let offset_delta = get_varint(buf, &mut pos, body_end)?;
        if offset_delta > u64::from(header.last_offset_delta)
            || last_delta.is_some_and(|d| offset_delta <= d)
        {
            return Err(FormatError::Malformed {
                reason: "offset deltas out of order",
            });
        }
        last_delta = Some(offset_delta);
        let ts = header
            .first_timestamp
            .wrapping_add(unzigzag(get_varint(buf, &mut pos, body_end)?));
        let key = get_optional_bytes(batch, &mut pos, body_end)?;
        let value = get_optional_bytes(batch, &mut pos, body_end)?;
        let header_count = get_varint(buf, &mut pos, body_end)? as usize;
        let mut headers = Vec::new();
        if header_count > 0 {
            if header_count > body_len {
                return Err(FormatError::Malformed {
                    reason: "header count larger than the record",
                });
            }
            headers.reserve(header_count);
            for _ in 0..header_count {
                let name = get_bytes(batch, &mut pos, body_end)?;
                let name =
                    String::from_utf8(name.to_vec()).map_err(|_| FormatError::Malformed {
                        reason: "header name is not UTF-8",
                    })?;
                let value = get_bytes(batch, &mut pos, body_end)?;
                headers.push(Header { key: name, value });
            }
        }
        if pos != body_end {
            return Err(FormatError::Malformed {
                reason: "record length does not match its fields",
            });
        }
        let record = Record {
            timestamp: Timestamp::from_micros(ts),
            key,
            headers,
            value,
        };
        if !f(header.base_offset + offset_delta, record) {
            return Ok(());
        }
    }
    if pos != end {
        return Err(FormatError::Malformed {
            reason: "bytes after the last record",
        });
    }
    Ok(())
}

fn get_optional_bytes(
    batch: &Bytes,
    pos: &mut usize,
    end: usize,
) -> Result<Option<Bytes>, FormatError> {
    let len_plus_one = get_varint(batch, pos, end)?;
    if len_plus_one == 0 {
        return Ok(None);
    }
    take(batch, pos, end, (len_plus_one - 1) as usize).map(Some)
}

fn get_bytes(batch: &Bytes, pos: &mut usize, end: usize) -> Result<Bytes, FormatError> {
    let len = get_varint(batch, pos, end)? as usize;
    take(batch, pos, end, len)
}

#[inline]
fn take(batch: &Bytes, pos: &mut usize, end: usize, len: usize) -> Result<Bytes, FormatError> {
    let stop = pos
        .checked_add(len)
        .filter(|&s| s <= end)
        .ok_or(FormatError::Malformed {
            reason: "field longer than its record",
        })?;
    let b = batch.slice(*pos..stop);
    *pos = stop;
    Ok(b)
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[inline]
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn get_varint(buf: &[u8], pos: &mut usize, end: usize) -> Result<u64, FormatError> {
    let mut v: u64 = 0;
    let mut shift = 0;
    loop {
        if *pos >= end || shift > 63 {
            return Err(FormatError::Malformed {
                reason: "truncated or overlong varint",
            });
        }
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_have_the_computed_length() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            let mut pos = 0;
            assert_eq!(get_varint(&buf, &mut pos, buf.len()), Ok(v));
            assert_eq!(pos, buf.len());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn header_layout_is_the_documented_one() {
        let mut b = encode_batch(&[
            Record::new(Timestamp::from_micros(10), "a"),
            Record::new(Timestamp::from_micros(7), "b"),
        ]);
        b.seal(42);
        let bytes = b.as_bytes();
        assert_eq!(&bytes[0..8], &42u64.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(bytes[16], MAGIC);
        assert_eq!(&bytes[20..24], &2u32.to_le_bytes());
        assert_eq!(&bytes[24..28], &1u32.to_le_bytes());
        assert_eq!(&bytes[32..40], &10i64.to_le_bytes());
        assert_eq!(&bytes[40..48], &10i64.to_le_bytes());
        let stored = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
        let mut covered = bytes[16..].to_vec();
        covered.extend_from_slice(&bytes[..12]);
        assert_eq!(stored, crc32c::crc32c(&covered));
    }
}
