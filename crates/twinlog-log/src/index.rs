//! A segment's sparse indexes, in memory and on disk.
//!
//! - Offset index (`.index`): every `index_interval_bytes` of batches, an entry
//!   `(offset − segment base: u32, byte position of the batch: u32)`.
//! - Time index (`.timeindex`): at the same batches, when the running maximum timestamp of
//!   the segment grew, an entry `(running max timestamp: i64, offset − base: u32)`. Because it
//!   holds the running maximum it stays sorted even if record timestamps go backwards.
//!
//! Each entry on disk carries a CRC-32C of its bytes, so a damaged index is detected
//! entry by entry (then rebuilt from the segment) instead of silently misdirecting reads.
//! Entries are derived deterministically from the batches (the same rule at write time and
//! when rebuilding), so an index can always be rebuilt identically.

use crate::format::BatchHeader;

/// Bytes per offset-index entry: rel offset u32, position u32, CRC u32.
pub(crate) const OFFSET_ENTRY_LEN: usize = 12;
/// Bytes per time-index entry: timestamp i64, rel offset u32, CRC u32.
pub(crate) const TIME_ENTRY_LEN: usize = 16;

/// The in-memory indexes of one segment.
#[derive(Debug, Default, Clone)]
pub(crate) struct SegmentIndex {
    /// (offset − base, byte position), both strictly increasing.
    pub offsets: Vec<(u32, u32)>,
    /// (running max timestamp, offset − base), both non-decreasing.
    pub times: Vec<(i64, u32)>,
    /// Running maximum timestamp over all batches observed.
    pub running_max: Option<i64>,
}

/// New entries produced by observing a batch, to be appended to the files.
#[derive(Debug, Default)]
pub(crate) struct NewEntries {
    pub offset: Option<(u32, u32)>,
    pub time: Option<(i64, u32)>,
}

impl SegmentIndex {
    /// Whether both hold the same entries (what the files hold; the running maximum is not
    /// stored and may be ahead of the last time entry).
    pub fn same_entries(&self, other: &SegmentIndex) -> bool {
        self.offsets == other.offsets && self.times == other.times
    }

    /// Accounts for the batch at `pos` (batches must be observed in order) and adds entries
    /// when `interval` bytes passed since the last offset entry (the first batch always gets one).
    pub fn observe(&mut self, interval: u32, base: u64, pos: u64, h: &BatchHeader) -> NewEntries {
        let mut new = NewEntries::default();
        let running = self
            .running_max
            .map_or(h.max_timestamp, |m| m.max(h.max_timestamp));
        self.running_max = Some(running);
        let due = match self.offsets.last() {
            None => true,
            Some(&(_, last_pos)) => pos >= u64::from(last_pos) + u64::from(interval),
        };
        if due {
            let rel = (h.base_offset - base) as u32;
            let entry = (rel, pos as u32);
            self.offsets.push(entry);
            new.offset = Some(entry);
            if self.times.last().is_none_or(|&(ts, _)| running > ts) {
                let t = (running, rel);
                self.times.push(t);
                new.time = Some(t);
            }
        }
        new
    }

    /// The byte position to start scanning from for `rel` (the last entry at or before it).
    pub fn position_for(&self, rel: u64) -> u64 {
        let i = self.offsets.partition_point(|&(o, _)| u64::from(o) <= rel);
        if i == 0 {
            0
        } else {
            u64::from(self.offsets[i - 1].1)
        }
    }

    /// The offset (relative) to start scanning from to find the first record with a
    /// timestamp >= `ts`: the last time entry whose running max is below `ts`.
    pub fn rel_offset_for_time(&self, ts: i64) -> u64 {
        let i = self.times.partition_point(|&(t, _)| t < ts);
        if i == 0 {
            0
        } else {
            u64::from(self.times[i - 1].1)
        }
    }
}

pub(crate) fn encode_offset_entry(e: (u32, u32), out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&e.0.to_le_bytes());
    out.extend_from_slice(&e.1.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

pub(crate) fn encode_time_entry(e: (i64, u32), out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&e.0.to_le_bytes());
    out.extend_from_slice(&e.1.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Encodes all entries of both indexes (for rewriting the files).
pub(crate) fn encode_files(index: &SegmentIndex) -> (Vec<u8>, Vec<u8>) {
    let mut o = Vec::with_capacity(index.offsets.len() * OFFSET_ENTRY_LEN);
    for &e in &index.offsets {
        encode_offset_entry(e, &mut o);
    }
    let mut t = Vec::with_capacity(index.times.len() * TIME_ENTRY_LEN);
    for &e in &index.times {
        encode_time_entry(e, &mut t);
    }
    (o, t)
}

/// Parses and checks index files: entry CRCs, sizes, ordering, positions below `segment_len`,
/// and every time entry pointing at an offset entry. Returns why not, if not.
pub(crate) fn decode_files(
    offsets: &[u8],
    times: &[u8],
    segment_len: u64,
) -> Result<SegmentIndex, String> {
    if !offsets.len().is_multiple_of(OFFSET_ENTRY_LEN) {
        return Err(format!(
            "offset index length {} is not a multiple of {OFFSET_ENTRY_LEN}",
            offsets.len()
        ));
    }
    if !times.len().is_multiple_of(TIME_ENTRY_LEN) {
        return Err(format!(
            "time index length {} is not a multiple of {TIME_ENTRY_LEN}",
            times.len()
        ));
    }
    let mut index = SegmentIndex::default();
    for (i, e) in offsets.chunks_exact(OFFSET_ENTRY_LEN).enumerate() {
        let crc = u32::from_le_bytes(e[8..12].try_into().expect("4 bytes"));
        if crc32c::crc32c(&e[..8]) != crc {
            return Err(format!("offset index entry {i} fails its CRC"));
        }
        let rel = u32::from_le_bytes(e[0..4].try_into().expect("4 bytes"));
        let pos = u32::from_le_bytes(e[4..8].try_into().expect("4 bytes"));
        if let Some(&(prev_rel, prev_pos)) = index.offsets.last() {
            if rel <= prev_rel || pos <= prev_pos {
                return Err(format!("offset index entry {i} is out of order"));
            }
        } else if pos != 0 {
            return Err("offset index does not start at position 0".into());
        }
        if u64::from(pos) >= segment_len {
            return Err(format!(
                "offset index entry {i} points past the segment end"
            ));
        }
        index.offsets.push((rel, pos));
    }
    let mut j = 0;
    for (i, e) in times.chunks_exact(TIME_ENTRY_LEN).enumerate() {
        let crc = u32::from_le_bytes(e[12..16].try_into().expect("4 bytes"));
        if crc32c::crc32c(&e[..12]) != crc {
            return Err(format!("time index entry {i} fails its CRC"));
        }
        let ts = i64::from_le_bytes(e[0..8].try_into().expect("8 bytes"));
        let rel = u32::from_le_bytes(e[8..12].try_into().expect("4 bytes"));
        if index.times.last().is_some_and(|&(prev, _)| ts <= prev) {
            return Err(format!("time index entry {i} is out of order"));
        }
        while j < index.offsets.len() && index.offsets[j].0 < rel {
            j += 1;
        }
        if j == index.offsets.len() || index.offsets[j].0 != rel {
            return Err(format!(
                "time index entry {i} matches no offset index entry"
            ));
        }
        index.times.push((ts, rel));
    }
    if index.offsets.is_empty() != index.times.is_empty() {
        return Err("offset and time index disagree on being empty".into());
    }
    index.running_max = index.times.last().map(|&(ts, _)| ts);
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: u64, max_ts: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_len: 100,
            crc: 0,
            magic: 1,
            attributes: 0,
            record_count: 1,
            last_offset_delta: 0,
            first_timestamp: max_ts,
            max_timestamp: max_ts,
        }
    }

    #[test]
    fn entries_follow_the_interval_and_the_running_max() {
        let mut idx = SegmentIndex::default();
        for (i, ts) in [5, 3, 9, 9, 2, 20].into_iter().enumerate() {
            idx.observe(200, 10, i as u64 * 100, &header(10 + i as u64, ts));
        }
        assert_eq!(idx.offsets, vec![(0, 0), (2, 200), (4, 400)]);
        assert_eq!(idx.times, vec![(5, 0), (9, 2)]);
        assert_eq!(idx.position_for(3), 200);
        assert_eq!(idx.position_for(0), 0);
        assert_eq!(idx.rel_offset_for_time(9), 0);
        assert_eq!(idx.rel_offset_for_time(10), 2);
        let (o, t) = encode_files(&idx);
        assert!(decode_files(&o, &t, 600).unwrap().same_entries(&idx));
        for i in 0..o.len() {
            let mut bad = o.clone();
            bad[i] ^= 0x40;
            assert!(
                decode_files(&bad, &t, 600).is_err(),
                "flip at {i} undetected"
            );
        }
        for i in 0..t.len() {
            let mut bad = t.clone();
            bad[i] ^= 0x01;
            assert!(
                decode_files(&o, &bad, 600).is_err(),
                "flip at {i} undetected"
            );
        }
        assert!(decode_files(&o[..o.len() - 1], &t, 600).is_err());
        assert!(decode_files(&o, &t, 400).is_err());
    }
}
