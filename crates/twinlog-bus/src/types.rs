//! The vocabulary of the bus API: topic/partition addresses, group ids, topic specifications
//! and descriptions, what a producer sends and gets back, where a reader starts, and the
//! options of a group consumer. Plain data, shared by every implementation.

use std::fmt;
use std::time::Duration;

use twinlog_core::{Record, Timestamp, TopicName};

use crate::error::BusError;

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: TopicName,
    /// The partition (`0..partitions`).
    pub partition: u32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: TopicName, partition: u32) -> TopicPartition {
        TopicPartition { topic, partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A validated consumer-group id. Same rules as topic names (1 to 249 characters from
/// `a-z A-Z 0-9 . _ -`), so an id is safe in a file name, a record key and a Kafka group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(String);

impl GroupId {
    /// Validates `id`.
    pub fn new(id: &str) -> Result<GroupId, BusError> {
        TopicName::new(id)
            .map(|_| GroupId(id.to_owned()))
            .map_err(|e| BusError::InvalidGroupId {
                group: id.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to create a topic. `TopicSpec::new(4).compacted()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicSpec {
    /// Number of partitions (at least 1; fixed once created).
    pub partitions: u32,
    /// Key-compacted: only the latest record per key is guaranteed to be kept (state topics).
    pub compacted: bool,
    /// Retention by size per partition (`None`: keep everything).
    pub retention_bytes: Option<u64>,
    /// Retention by age (`None`: keep everything).
    pub retention_age: Option<Duration>,
}

impl TopicSpec {
    /// A plain (not compacted) topic with `partitions` partitions and no retention limit.
    pub fn new(partitions: u32) -> TopicSpec {
        TopicSpec {
            partitions,
            compacted: false,
            retention_bytes: None,
            retention_age: None,
        }
    }

    /// Marks the topic key-compacted.
    pub fn compacted(mut self) -> TopicSpec {
        self.compacted = true;
        self
    }

    /// Sets retention by size per partition.
    pub fn retention_bytes(mut self, bytes: u64) -> TopicSpec {
        self.retention_bytes = Some(bytes);
        self
    }

    /// Sets retention by age.
    pub fn retention_age(mut self, age: Duration) -> TopicSpec {
        self.retention_age = Some(age);
        self
    }
}

/// One partition as [`crate::Bus::describe_topic`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition number.
    pub partition: u32,
    /// The first offset still stored.
    pub start_offset: u64,
    /// The offset the next record will get (the high-water mark).
    pub end_offset: u64,
}

/// A topic as [`crate::Bus::describe_topic`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Its name.
    pub name: TopicName,
    /// How it was created.
    pub spec: TopicSpec,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionInfo>,
}

/// A record to send, with an optional explicit partition.
///
/// Routing: an explicit `partition` wins; otherwise a record with a key goes to
/// [`twinlog_core::partition_for_key`] (Kafka's murmur2, stable across restarts and
/// implementations); a record without a key goes round-robin over the partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The record (timestamp, key, headers, value).
    pub record: Record,
    /// Where to put it, overriding key routing.
    pub partition: Option<u32>,
}

impl ProducerRecord {
    /// Routes `record` to an explicit partition.
    pub fn to_partition(record: Record, partition: u32) -> ProducerRecord {
        ProducerRecord {
            record,
            partition: Some(partition),
        }
    }
}

impl From<Record> for ProducerRecord {
    fn from(record: Record) -> Self {
        ProducerRecord {
            record,
            partition: None,
        }
    }
}

/// Where a sent record was stored, once it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivery {
    /// The partition it went to.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
}

/// Where a [`crate::PartitionReader`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The first record still stored.
    Earliest,
    /// The end: only records sent from now on.
    Latest,
    /// This offset (clamped to the first stored one if it is older).
    Offset(u64),
    /// The first record whose timestamp is at or after this time (the end if there is none).
    Timestamp(Timestamp),
}

/// Where a group consumer starts on a partition its group never committed an offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// From the first record still stored (the default: an event-sourced system replays).
    #[default]
    Earliest,
    /// From the end: only records sent after the assignment.
    Latest,
}

/// Options of a group consumer. Build with `ConsumerOptions { reset: …, ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerOptions {
    /// Where to start without a committed offset.
    pub reset: OffsetReset,
    /// How many records one fetch from a partition reads ahead. 512: enough to amortise a
    /// read (index search, one file read) over many records, small enough (~50 KiB of
    /// 100-byte records) that a revoked partition's read-ahead costs little.
    pub fetch_records: usize,
}

impl ConsumerOptions {
    /// Options with the given reset policy and the default fetch size.
    pub fn with_reset(reset: OffsetReset) -> ConsumerOptions {
        ConsumerOptions {
            reset,
            ..ConsumerOptions::default()
        }
    }
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            reset: OffsetReset::Earliest,
            fetch_records: 512,
        }
    }
}
