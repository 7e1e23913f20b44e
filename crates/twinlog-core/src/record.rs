//! What the log stores: a [`Record`] (timestamp, optional key, headers, optional value) and,
//! once stored, a [`StoredRecord`] that adds where it lives (topic, partition, offset).
//! The log does not interpret keys or values (DESIGN.md §2); bytes are [`Bytes`] so that
//! records read from the log share one buffer instead of being copied one by one.

use std::sync::Arc;

use bytes::Bytes;

use crate::time::Timestamp;

/// One header of a record: a UTF-8 name and opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's name.
    pub key: String,
    /// The header's value.
    pub value: Bytes,
}

impl Header {
    /// A header from a name and a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Header {
        Header {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One record as it is appended: the log assigns its offset.
///
/// `value: None` is a value-less event; in a compacted topic it is a tombstone that deletes
/// the key. `key: None` means no routing key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// When the event happened (set by the producer, kept as given).
    pub timestamp: Timestamp,
    /// The routing / compaction key.
    pub key: Option<Bytes>,
    /// Metadata the log carries without interpreting.
    pub headers: Vec<Header>,
    /// The payload; `None` is a tombstone in a compacted topic.
    pub value: Option<Bytes>,
}

impl Record {
    /// A record with a value and no key or headers.
    pub fn new(timestamp: Timestamp, value: impl Into<Bytes>) -> Record {
        Record {
            timestamp,
            key: None,
            headers: Vec::new(),
            value: Some(value.into()),
        }
    }

    /// A record with a key and a value.
    pub fn keyed(timestamp: Timestamp, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Record {
        Record {
            timestamp,
            key: Some(key.into()),
            headers: Vec::new(),
            value: Some(value.into()),
        }
    }

    /// A tombstone: the key with no value (deletes the key in a compacted topic).
    pub fn tombstone(timestamp: Timestamp, key: impl Into<Bytes>) -> Record {
        Record {
            timestamp,
            key: Some(key.into()),
            headers: Vec::new(),
            value: None,
        }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Record {
        self.headers.push(Header::new(key, value));
        self
    }

    /// The record's payload size: key + value + every header's name and value, in bytes.
    /// This is what size limits (`max_record_bytes`) are checked against.
    pub fn payload_len(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + self
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.len())
                .sum::<usize>()
    }
}

/// A record read back from the log, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The topic it was read from (shared by every record of a read).
    pub topic: Arc<str>,
    /// The partition within the topic.
    pub partition: u32,
    /// Its offset: dense per partition, except where compaction removed records.
    pub offset: u64,
    /// The record as appended.
    pub record: Record,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_len_counts_key_value_and_headers() {
        let r = Record::keyed(Timestamp::EPOCH, "abc", "12345").with_header("h", "xy");
        assert_eq!(r.payload_len(), 3 + 5 + 1 + 2);
        let t = Record::tombstone(Timestamp::EPOCH, "k");
        assert_eq!(t.payload_len(), 1);
        assert_eq!(t.value, None);
    }
}
