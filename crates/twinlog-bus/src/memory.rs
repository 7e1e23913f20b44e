//! [`MemoryBus`]: the bus in memory, for tests and simulation. Same semantics as the embedded
//! bus (it shares the engine) except durability: nothing survives the process, a send is
//! "durable" as soon as it is stored, and committed offsets live as long as the bus.
//! Compaction and retention are not applied (records are kept; the flags are remembered).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::watch;
use twinlog_core::{Record, StoredRecord, Timestamp, TopicName};

use crate::api::BoxFuture;
use crate::engine::{Cursor, Engine, Storage, impl_bus};
use crate::error::BusError;
use crate::types::{GroupId, TopicPartition, TopicSpec};

/// An in-memory bus. Cheap to clone; clones share topics, groups and offsets.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    engine: Arc<Engine<MemoryStorage>>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> MemoryBus {
        let storage = MemoryStorage {
            topics: RwLock::new(BTreeMap::new()),
        };
        match Engine::new(storage) {
            Ok(engine) => MemoryBus { engine },
            // Loading offsets from an empty memory storage cannot fail.
            Err(e) => unreachable!("memory bus failed to start: {e}"),
        }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus::new()
    }
}

impl_bus!(MemoryBus);

pub(crate) struct MemoryStorage {
    topics: RwLock<BTreeMap<TopicName, Arc<MemTopic>>>,
}

struct MemTopic {
    spec: TopicSpec,
    partitions: Vec<Arc<MemPartition>>,
}

struct MemPartition {
    topic: Arc<str>,
    partition: u32,
    records: Mutex<Vec<StoredRecord>>,
    /// The end offset, so that cursors wait for growth without polling.
    end: watch::Sender<u64>,
    /// Set when the topic is deleted: cursors end instead of waiting forever.
    deleted: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemPartition {
    fn read(&self, from: u64, max: usize) -> Vec<StoredRecord> {
        let records = lock(&self.records);
        // Offsets are dense from 0 (no retention, no compaction), so offset == index.
        let start = usize::try_from(from)
            .unwrap_or(usize::MAX)
            .min(records.len());
        let end = start.saturating_add(max).min(records.len());
        records[start..end].to_vec()
    }
}

impl MemoryStorage {
    fn topic(&self, name: &TopicName) -> Result<Arc<MemTopic>, BusError> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::unknown_topic(name.as_str()))
    }

    fn partition(&self, name: &TopicName, partition: u32) -> Result<Arc<MemPartition>, BusError> {
        let topic = self.topic(name)?;
        topic
            .partitions
            .get(partition as usize)
            .cloned()
            .ok_or_else(|| BusError::UnknownPartition {
                topic: name.to_string(),
                partition,
                partitions: topic.spec.partitions,
            })
    }
}

impl Storage for MemoryStorage {
    type Cursor = MemCursor;

    const COALESCE_SENDS: bool = false;

    fn create_topic(&self, name: &TopicName, spec: &TopicSpec) -> Result<(), BusError> {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        if topics.contains_key(name) {
            return Err(BusError::TopicExists {
                topic: name.to_string(),
            });
        }
        let shared: Arc<str> = Arc::from(name.as_str());
        let partitions = (0..spec.partitions)
            .map(|p| {
                Arc::new(MemPartition {
                    topic: Arc::clone(&shared),
                    partition: p,
                    records: Mutex::new(Vec::new()),
                    end: watch::Sender::new(0),
                    deleted: AtomicBool::new(false),
                })
            })
            .collect();
        topics.insert(
            name.clone(),
            Arc::new(MemTopic {
                spec: spec.clone(),
                partitions,
            }),
        );
        Ok(())
    }

    fn delete_topic(&self, name: &TopicName) -> Result<(), BusError> {
        let topic = self
            .topics
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| BusError::unknown_topic(name.as_str()))?;
        for p in &topic.partitions {
            p.deleted.store(true, Ordering::Release);
            p.end.send_modify(|_| {});
        }
        Ok(())
    }

    fn topics(&self) -> Vec<TopicName> {
        self.topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    fn spec(&self, topic: &TopicName) -> Result<TopicSpec, BusError> {
        Ok(self.topic(topic)?.spec.clone())
    }

    fn partition_count(&self, topic: &TopicName) -> Result<u32, BusError> {
        Ok(self.topic(topic)?.spec.partitions)
    }

    fn offsets(&self, topic: &TopicName, partition: u32) -> Result<(u64, u64), BusError> {
        Ok((0, *self.partition(topic, partition)?.end.borrow()))
    }

    fn append(
        &self,
        topic: &TopicName,
        partition: u32,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<u64, BusError>> {
        let result = self.partition(topic, partition).map(|p| {
            let mut stored = lock(&p.records);
            let base = stored.len() as u64;
            for (i, record) in records.into_iter().enumerate() {
                stored.push(StoredRecord {
                    topic: Arc::clone(&p.topic),
                    partition: p.partition,
                    offset: base + i as u64,
                    record,
                });
            }
            let end = stored.len() as u64;
            drop(stored);
            p.end.send_replace(end);
            base
        });
        Box::pin(std::future::ready(result))
    }

    fn read(
        &self,
        topic: &TopicName,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, BusError> {
        Ok(self.partition(topic, partition)?.read(from, max))
    }

    fn offset_for_timestamp(
        &self,
        topic: &TopicName,
        partition: u32,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, BusError> {
        let p = self.partition(topic, partition)?;
        let records = lock(&p.records);
        // A linear scan: fine for tests and simulation (the embedded log uses its time index).
        Ok(records
            .iter()
            .find(|r| r.record.timestamp >= timestamp)
            .map(|r| r.offset))
    }

    fn cursor(&self, topic: &TopicName, partition: u32, from: u64) -> Result<MemCursor, BusError> {
        Ok(MemCursor {
            partition: self.partition(topic, partition)?,
            position: from,
        })
    }

    fn load_offsets(&self) -> Result<Vec<(GroupId, TopicPartition, u64)>, BusError> {
        Ok(Vec::new())
    }

    fn store_offsets(
        &self,
        _group: &GroupId,
        _offsets: &[(TopicPartition, u64)],
    ) -> BoxFuture<'static, Result<(), BusError>> {
        // The engine keeps committed offsets in memory; there is nothing more durable here.
        Box::pin(std::future::ready(Ok(())))
    }

    fn forget_offsets(
        &self,
        _entries: &[(GroupId, TopicPartition)],
    ) -> BoxFuture<'static, Result<(), BusError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A position in an in-memory partition.
pub(crate) struct MemCursor {
    partition: Arc<MemPartition>,
    position: u64,
}

impl Cursor for MemCursor {
    fn position(&self) -> u64 {
        self.position
    }

    fn seek(&mut self, offset: u64) {
        self.position = offset;
    }

    fn try_next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        if self.partition.deleted.load(Ordering::Acquire) {
            return Err(BusError::unknown_topic(&self.partition.topic));
        }
        let batch = self.partition.read(self.position, max);
        if let Some(last) = batch.last() {
            self.position = last.offset + 1;
        }
        Ok(batch)
    }

    async fn next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        let mut end = self.partition.end.subscribe();
        loop {
            let batch = self.try_next_batch(max.max(1))?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            let position = self.position;
            // The sender lives as long as the partition, which this cursor keeps alive.
            let deleted = &self.partition.deleted;
            let woken = end
                .wait_for(|e| *e > position || deleted.load(Ordering::Acquire))
                .await;
            if woken.is_err() {
                return Err(BusError::Closed);
            }
        }
    }
}
