//! [`EmbeddedBus`]: the bus on the embedded durable log (`twinlog-log`), the default of
//! `twinlog serve`. A send resolves once the log acknowledged it under its fsync policy;
//! consumers follow partitions with the log's followers (woken by appends, no polling).
//!
//! Committed offsets are stored like Kafka stores them: as records in an internal compacted
//! topic, `__consumer_offsets` (one partition; key `group NUL topic NUL partition`, value the
//! offset as 8 big-endian bytes). A commit is one append, so concurrent commits share the
//! log's group commit, and a commit is durable exactly when an acknowledged send would be. On
//! open the topic is compacted and read once to rebuild the in-memory table; the latest record
//! per key wins.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use twinlog_core::{Record, StoredRecord, Timestamp, TopicName};
use twinlog_log::{Follower, Log, LogOptions, TopicConfig};

use crate::api::BoxFuture;
use crate::engine::{Cursor, Engine, Storage, impl_bus};
use crate::error::BusError;
use crate::types::{GroupId, TopicPartition, TopicSpec};

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How many offset records are read per call while loading them at open (a read of ~4096
/// small records is ~200 KiB: few calls, bounded memory).
const OFFSETS_LOAD_CHUNK: usize = 4096;

/// A bus on an embedded log. Cheap to clone; clones share the log, groups and offsets.
/// The log (and its data-dir lock) is released when the last clone, consumer and reader are
/// dropped.
#[derive(Debug, Clone)]
pub struct EmbeddedBus {
    engine: Arc<Engine<LogStorage>>,
}

impl EmbeddedBus {
    /// Opens (creating if needed) the data dir `dir` for writing and starts the bus on it.
    /// Blocks while the log recovers; call it before serving, or from `spawn_blocking`.
    /// Errors: those of [`Log::open`] (e.g. the dir is locked by another process). Records of
    /// `__consumer_offsets` that cannot be decoded are skipped with a warning.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<EmbeddedBus, BusError> {
        let log = Log::open(dir, options)?;
        EmbeddedBus::with_log(log)
    }

    /// Starts the bus on an open log: creates `__consumer_offsets` if missing, compacts it and
    /// loads the committed offsets. All appends to `log` should go through the bus.
    pub fn with_log(log: Log) -> Result<EmbeddedBus, BusError> {
        if !log.topics().iter().any(|t| t == OFFSETS_TOPIC) {
            log.create_topic(
                OFFSETS_TOPIC,
                TopicConfig {
                    partitions: 1,
                    compacted: true,
                    ..TopicConfig::default()
                },
            )?;
        } else if !log.is_read_only() {
            log.compact(OFFSETS_TOPIC)?;
        }
        let engine = Engine::new(LogStorage { log })?;
        Ok(EmbeddedBus { engine })
    }

    /// The log underneath (for what the bus does not cover: sizes on disk, retention runs,
    /// the recovery report).
    pub fn log(&self) -> &Log {
        &self.engine.storage.log
    }
}

impl_bus!(EmbeddedBus);

pub(crate) struct LogStorage {
    log: Log,
}

fn offset_key(group: &GroupId, tp: &TopicPartition) -> Bytes {
    Bytes::from(format!("{}\0{}\0{}", group, tp.topic, tp.partition))
}

fn decode_offset(r: &StoredRecord) -> Result<Option<(GroupId, TopicPartition, u64)>, BusError> {
    let corrupt = |reason: &str| BusError::CorruptOffsets {
        offset: r.offset,
        reason: reason.to_owned(),
    };
    let key = r
        .record
        .key
        .as_ref()
        .ok_or_else(|| corrupt("record has no key"))?;
    let key = std::str::from_utf8(key).map_err(|_| corrupt("key is not UTF-8"))?;
    let mut parts = key.split('\0');
    let (Some(group), Some(topic), Some(partition), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt("key is not `group NUL topic NUL partition`"));
    };
    let group = GroupId::new(group).map_err(|_| corrupt("invalid group id in key"))?;
    let topic = TopicName::new(topic).map_err(|_| corrupt("invalid topic name in key"))?;
    let partition: u32 = partition
        .parse()
        .map_err(|_| corrupt("invalid partition number in key"))?;
    let Some(value) = r.record.value.as_ref() else {
        // A tombstone: the offset was deleted.
        return Ok(None);
    };
    let bytes: [u8; 8] = value
        .as_ref()
        .try_into()
        .map_err(|_| corrupt("value is not 8 bytes"))?;
    Ok(Some((
        group,
        TopicPartition::new(topic, partition),
        u64::from_be_bytes(bytes),
    )))
}

fn spec_of(config: &TopicConfig) -> TopicSpec {
    TopicSpec {
        partitions: config.partitions,
        compacted: config.compacted,
        retention_bytes: config.retention_bytes,
        retention_age: config.retention_age,
    }
}

impl Storage for LogStorage {
    type Cursor = LogCursor;

    const COALESCE_SENDS: bool = true;

    fn create_topic(&self, name: &TopicName, spec: &TopicSpec) -> Result<(), BusError> {
        let config = TopicConfig {
            partitions: spec.partitions,
            compacted: spec.compacted,
            retention_bytes: spec.retention_bytes,
            retention_age: spec.retention_age,
            ..TopicConfig::default()
        };
        Ok(self.log.create_topic(name.as_str(), config)?)
    }

    fn delete_topic(&self, name: &TopicName) -> Result<(), BusError> {
        Ok(self.log.delete_topic(name.as_str())?)
    }

    fn topics(&self) -> Vec<TopicName> {
        self.log
            .topics()
            .iter()
            .filter_map(|t| TopicName::new(t).ok())
            .collect()
    }

    fn spec(&self, topic: &TopicName) -> Result<TopicSpec, BusError> {
        Ok(spec_of(&self.log.topic_config(topic.as_str())?))
    }

    fn partition_count(&self, topic: &TopicName) -> Result<u32, BusError> {
        Ok(self.log.partition_count(topic.as_str())?)
    }

    fn offsets(&self, topic: &TopicName, partition: u32) -> Result<(u64, u64), BusError> {
        Ok((
            self.log.start_offset(topic.as_str(), partition)?,
            self.log.end_offset(topic.as_str(), partition)?,
        ))
    }

    fn append(
        &self,
        topic: &TopicName,
        partition: u32,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<u64, BusError>> {
        let ack = self.log.append(topic.as_str(), partition, records);
        Box::pin(async move { Ok(ack.await?.base_offset) })
    }

    fn read(
        &self,
        topic: &TopicName,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, BusError> {
        Ok(self.log.read(topic.as_str(), partition, from, max)?)
    }

    fn offset_for_timestamp(
        &self,
        topic: &TopicName,
        partition: u32,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, BusError> {
        Ok(self
            .log
            .offset_for_timestamp(topic.as_str(), partition, timestamp)?)
    }

    fn cursor(&self, topic: &TopicName, partition: u32, from: u64) -> Result<LogCursor, BusError> {
        Ok(LogCursor(self.log.subscribe(
            topic.as_str(),
            partition,
            from,
        )?))
    }

    fn load_offsets(&self) -> Result<Vec<(GroupId, TopicPartition, u64)>, BusError> {
        let mut latest = std::collections::HashMap::new();
        let end = self.log.end_offset(OFFSETS_TOPIC, 0)?;
        let mut from = self.log.start_offset(OFFSETS_TOPIC, 0)?;
        while from < end {
            let batch = self.log.read(OFFSETS_TOPIC, 0, from, OFFSETS_LOAD_CHUNK)?;
            let Some(last) = batch.last() else { break };
            from = last.offset + 1;
            for r in &batch {
                match decode_offset(r) {
                    Ok(decoded) => {
                        latest.insert(r.record.key.clone(), decoded);
                    }
                    // Only the bus writes here, but the log crate (or a CLI on it) could too.
                    // One bad record must not keep the bus from starting: its group at worst
                    // re-reads from its reset position (at-least-once), which we say loudly.
                    Err(e) => tracing::warn!(error = %e, "skipping a committed-offset record"),
                }
            }
        }
        Ok(latest.into_values().flatten().collect())
    }

    fn store_offsets(
        &self,
        group: &GroupId,
        offsets: &[(TopicPartition, u64)],
    ) -> BoxFuture<'static, Result<(), BusError>> {
        let now = self.log.options().clock.now();
        let records = offsets
            .iter()
            .map(|(tp, o)| Record::keyed(now, offset_key(group, tp), o.to_be_bytes().to_vec()))
            .collect();
        let ack = self.log.append(OFFSETS_TOPIC, 0, records);
        Box::pin(async move {
            ack.await?;
            Ok(())
        })
    }

    fn forget_offsets(
        &self,
        entries: &[(GroupId, TopicPartition)],
    ) -> BoxFuture<'static, Result<(), BusError>> {
        let now = self.log.options().clock.now();
        let records = entries
            .iter()
            .map(|(group, tp)| Record::tombstone(now, offset_key(group, tp)))
            .collect();
        let ack = self.log.append(OFFSETS_TOPIC, 0, records);
        Box::pin(async move {
            ack.await?;
            Ok(())
        })
    }
}

/// A position in a log partition: a log [`Follower`].
pub(crate) struct LogCursor(Follower);

impl Cursor for LogCursor {
    fn position(&self) -> u64 {
        self.0.position()
    }

    fn seek(&mut self, offset: u64) {
        self.0.seek(offset);
    }

    fn try_next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        Ok(self.0.try_next_batch(max)?)
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        Ok(self.0.next_batch(max).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn stored(offset: u64, key: Option<&[u8]>, value: Option<&[u8]>) -> StoredRecord {
        StoredRecord {
            topic: Arc::from(OFFSETS_TOPIC),
            partition: 0,
            offset,
            record: Record {
                timestamp: Timestamp::EPOCH,
                key: key.map(Bytes::copy_from_slice),
                headers: Vec::new(),
                value: value.map(Bytes::copy_from_slice),
            },
        }
    }

    #[test]
    fn offset_records_round_trip() {
        let group = GroupId::new("billing").expect("group");
        let tp = TopicPartition::new(TopicName::new("events.v2").expect("topic"), 7);
        let key = offset_key(&group, &tp);
        let r = stored(3, Some(&key), Some(&42u64.to_be_bytes()));
        let decoded = decode_offset(&r).expect("decodes");
        assert_eq!(decoded, Some((group, tp, 42)));
        // A tombstone deletes the offset.
        let r = stored(4, Some(&key), None);
        assert_eq!(decode_offset(&r).expect("decodes"), None);
    }

    #[test]
    fn damaged_offset_records_are_reported_with_their_offset() {
        // (key, value, what the error must mention)
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, &'a str);
        let cases: [Case<'_>; 5] = [
            (None, Some(&[0; 8]), "no key"),
            (
                Some(b"g\0t"),
                Some(&[0; 8]),
                "not `group NUL topic NUL partition`",
            ),
            (Some(b"g\x00t\x00x"), Some(&[0; 8]), "invalid partition"),
            (Some(b"bad group\x00t\x001"), Some(&[0; 8]), "invalid group"),
            (Some(b"g\x00t\x001"), Some(&[0; 3]), "not 8 bytes"),
        ];
        for (key, value, reason) in cases {
            match decode_offset(&stored(9, key, value)) {
                Err(BusError::CorruptOffsets {
                    offset,
                    reason: got,
                }) => {
                    assert_eq!(offset, 9);
                    assert!(got.contains(reason), "{got:?} should mention {reason:?}");
                }
                other => panic!("expected CorruptOffsets for {reason}, got {other:?}"),
            }
        }
    }
}
