//! The part of a bus that does not depend on where records are stored: routing, the group
//! consumer, the partition reader and committed offsets, written once over the crate-private
//! [`Storage`] trait that the memory and embedded buses implement. This is why both buses
//! behave the same: only appends, reads, waiting and offset persistence differ.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use tokio::sync::Notify;
use twinlog_core::{Record, StoredRecord, Timestamp, TopicName, partition_for_key};

use crate::api::{
    Assignment, BoxFuture, Consumer, DeliveryFuture, PartitionReader, RebalanceListener,
};
use crate::error::BusError;
use crate::group::{Coordinator, MemberId};
use crate::types::{
    ConsumerOptions, Delivery, GroupId, OffsetReset, PartitionInfo, ProducerRecord, StartAt,
    TopicDescription, TopicPartition, TopicSpec,
};

/// An outbox flush appends batches of about this many payload bytes. Big enough that the
/// fixed cost per append vanishes (~650 records of 100 bytes), small enough that a reader
/// fetching a few hundred records does not decode (and CRC-check) a huge batch to use a
/// sliver of it: the log reads whole batches.
const FLUSH_BATCH_BYTES: usize = 64 * 1024;

/// Topic names with this prefix belong to the bus (like Kafka's `__consumer_offsets`).
pub(crate) const INTERNAL_PREFIX: &str = "__";

/// Where records live: what the memory and embedded buses implement.
pub(crate) trait Storage: Send + Sync + 'static {
    /// A position in one partition that can wait for records.
    type Cursor: Cursor;

    /// Whether single sends should be queued and appended together (see `Outbox`): worth it
    /// when an append has a fixed cost (the log), not when it is a push onto a vector.
    const COALESCE_SENDS: bool;

    fn create_topic(&self, name: &TopicName, spec: &TopicSpec) -> Result<(), BusError>;
    /// Deletes a topic and its records; its cursors then fail with `UnknownTopic`.
    fn delete_topic(&self, name: &TopicName) -> Result<(), BusError>;
    /// Every topic, internal ones included, sorted.
    fn topics(&self) -> Vec<TopicName>;
    fn spec(&self, topic: &TopicName) -> Result<TopicSpec, BusError>;
    fn partition_count(&self, topic: &TopicName) -> Result<u32, BusError>;
    /// (start offset, end offset) of a partition.
    fn offsets(&self, topic: &TopicName, partition: u32) -> Result<(u64, u64), BusError>;
    /// Enqueues `records` now (call order = offset order); resolves with the first offset
    /// once they are durable and visible to readers.
    fn append(
        &self,
        topic: &TopicName,
        partition: u32,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<u64, BusError>>;
    fn read(
        &self,
        topic: &TopicName,
        partition: u32,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, BusError>;
    fn offset_for_timestamp(
        &self,
        topic: &TopicName,
        partition: u32,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, BusError>;
    fn cursor(
        &self,
        topic: &TopicName,
        partition: u32,
        from: u64,
    ) -> Result<Self::Cursor, BusError>;
    /// Every committed offset stored so far (called once, when the bus is built).
    fn load_offsets(&self) -> Result<Vec<(GroupId, TopicPartition, u64)>, BusError>;
    /// Stores committed offsets durably; resolves once they are.
    fn store_offsets(
        &self,
        group: &GroupId,
        offsets: &[(TopicPartition, u64)],
    ) -> BoxFuture<'static, Result<(), BusError>>;
    /// Drops committed offsets durably (those of a deleted topic).
    fn forget_offsets(
        &self,
        entries: &[(GroupId, TopicPartition)],
    ) -> BoxFuture<'static, Result<(), BusError>>;
}

/// A position in one partition.
pub(crate) trait Cursor: Send + 'static {
    /// The offset of the next record to return.
    fn position(&self) -> u64;
    fn seek(&mut self, offset: u64);
    /// Records available now (at most `max`), advancing past them; empty at the end.
    fn try_next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError>;
    /// At least one record (at most `max`), waiting without polling until one exists.
    /// Cancel-safe.
    fn next_batch(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<StoredRecord>, BusError>> + Send + '_;
}

/// The shared machinery of a bus over a storage.
pub(crate) struct Engine<S: Storage> {
    pub(crate) storage: S,
    coordinator: Coordinator,
    /// Committed offsets by group, kept in memory; `Storage::store_offsets` makes them durable.
    committed: Mutex<HashMap<GroupId, HashMap<TopicPartition, u64>>>,
    /// The next partition for keyless records, per topic.
    round_robin: Mutex<HashMap<TopicName, u32>>,
    /// Per topic and partition, sends waiting to be appended together (see `Storage::COALESCE_SENDS`).
    outboxes: Mutex<HashMap<TopicName, Vec<Arc<Outbox>>>>,
}

/// Single sends to one partition, queued until a flush task appends them as one batch.
///
/// Why: a storage append has a fixed cost (a batch header and CRC, a queue hop, an
/// acknowledgement), so records sent one by one — what modules and twins do — are cheaper
/// appended together. There is no linger timer: a flush is spawned by the first queued send and
/// runs as soon as the sending task yields (typically when it awaits a delivery), taking
/// everything queued by then. Kafka's producer batches the same way, with `linger.ms`.
#[derive(Debug, Default)]
struct Outbox {
    queue: Mutex<OutboxQueue>,
}

type Waiter = tokio::sync::oneshot::Sender<Result<u64, Arc<BusError>>>;

#[derive(Debug, Default)]
struct OutboxQueue {
    records: Vec<Record>,
    /// Each sender with the index of its first record in `records`.
    waiters: Vec<(usize, Waiter)>,
    /// The flush task spawned for what is queued, until it takes the queue.
    flush: Option<tokio::task::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is short and cannot leave the data half-updated.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Storage> fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("coordinator", &self.coordinator)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Engine<S> {
    /// Wraps a storage, loading the committed offsets it holds.
    pub(crate) fn new(storage: S) -> Result<Arc<Engine<S>>, BusError> {
        let mut committed: HashMap<GroupId, HashMap<TopicPartition, u64>> = HashMap::new();
        for (group, tp, offset) in storage.load_offsets()? {
            committed.entry(group).or_default().insert(tp, offset);
        }
        Ok(Arc::new(Engine {
            storage,
            coordinator: Coordinator::default(),
            committed: Mutex::new(committed),
            round_robin: Mutex::new(HashMap::new()),
            outboxes: Mutex::new(HashMap::new()),
        }))
    }

    pub(crate) fn check_partition(&self, tp: &TopicPartition) -> Result<u32, BusError> {
        let n = self.storage.partition_count(&tp.topic)?;
        if tp.partition >= n {
            return Err(BusError::UnknownPartition {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                partitions: n,
            });
        }
        Ok(n)
    }

    pub(crate) fn create_topic(&self, name: &TopicName, spec: &TopicSpec) -> Result<(), BusError> {
        if name.as_str().starts_with(INTERNAL_PREFIX) {
            return Err(BusError::ReservedTopic {
                topic: name.to_string(),
            });
        }
        if spec.partitions == 0 {
            return Err(BusError::InvalidTopicSpec {
                topic: name.to_string(),
                reason: "a topic needs at least 1 partition".into(),
            });
        }
        self.storage.create_topic(name, spec)
    }

    /// Deletes a user topic: its records, its queued sends (they fail with `UnknownTopic`)
    /// and every group's committed offsets for it, so a topic created again under the name
    /// starts afresh, as on Kafka.
    pub(crate) async fn delete_topic(&self, name: &TopicName) -> Result<(), BusError> {
        self.check_user_topic(name)?;
        self.storage.delete_topic(name)?;
        lock(&self.outboxes).remove(name);
        lock(&self.round_robin).remove(name);
        let forgotten: Vec<(GroupId, TopicPartition)> = {
            let mut committed = lock(&self.committed);
            let mut gone = Vec::new();
            for (group, offsets) in committed.iter_mut() {
                offsets.retain(|tp, _| {
                    let keep = tp.topic != *name;
                    if !keep {
                        gone.push((group.clone(), tp.clone()));
                    }
                    keep
                });
            }
            gone
        };
        if !forgotten.is_empty() {
            self.storage.forget_offsets(&forgotten).await?;
        }
        Ok(())
    }

    pub(crate) fn list_topics(&self) -> Vec<TopicName> {
        let mut topics: Vec<TopicName> = self
            .storage
            .topics()
            .into_iter()
            .filter(|t| !t.as_str().starts_with(INTERNAL_PREFIX))
            .collect();
        topics.sort();
        topics
    }

    pub(crate) fn describe_topic(&self, name: &TopicName) -> Result<TopicDescription, BusError> {
        let spec = self.storage.spec(name)?;
        let partitions = (0..spec.partitions)
            .map(|p| {
                let (start_offset, end_offset) = self.storage.offsets(name, p)?;
                Ok(PartitionInfo {
                    partition: p,
                    start_offset,
                    end_offset,
                })
            })
            .collect::<Result<Vec<_>, BusError>>()?;
        Ok(TopicDescription {
            name: name.clone(),
            spec,
            partitions,
        })
    }

    /// The partition a record goes to (see [`ProducerRecord`] for the rules).
    fn route(
        &self,
        topic: &TopicName,
        record: &ProducerRecord,
        partitions: u32,
    ) -> Result<u32, BusError> {
        if let Some(p) = record.partition {
            if p >= partitions {
                return Err(BusError::UnknownPartition {
                    topic: topic.to_string(),
                    partition: p,
                    partitions,
                });
            }
            return Ok(p);
        }
        if let Some(key) = &record.record.key {
            return Ok(partition_for_key(key, partitions));
        }
        let mut rr = lock(&self.round_robin);
        // Look up before inserting so that the hot path does not clone the topic name.
        let p = match rr.get_mut(topic) {
            Some(next) => {
                let p = *next % partitions;
                *next = (p + 1) % partitions;
                p
            }
            None => {
                rr.insert(topic.clone(), 1 % partitions);
                0
            }
        };
        Ok(p)
    }

    fn check_user_topic(&self, topic: &TopicName) -> Result<u32, BusError> {
        if topic.as_str().starts_with(INTERNAL_PREFIX) {
            return Err(BusError::ReservedTopic {
                topic: topic.to_string(),
            });
        }
        self.storage.partition_count(topic)
    }

    pub(crate) fn send(
        self: &Arc<Self>,
        topic: &TopicName,
        record: ProducerRecord,
    ) -> DeliveryFuture {
        let routed = self
            .check_user_topic(topic)
            .and_then(|n| self.route(topic, &record, n));
        let p = match routed {
            Ok(p) => p,
            Err(e) => return DeliveryFuture::ready(Err(e)),
        };
        DeliveryFuture::pending(p, self.enqueue(topic, p, vec![record.record]))
    }

    /// Hands `records` (routed to `partition`) to the storage, through the partition's outbox
    /// if the storage coalesces sends. Resolves with the offset of the first record; the
    /// others follow densely. Call order is offset order.
    fn enqueue(
        self: &Arc<Self>,
        topic: &TopicName,
        partition: u32,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<u64, BusError>> {
        if !S::COALESCE_SENDS {
            return self.storage.append(topic, partition, records);
        }
        let outbox = self.outbox(topic, partition);
        let mut queue = lock(&outbox.queue);
        let runtime = tokio::runtime::Handle::try_current();
        // A flush task whose runtime shut down before it ran is finished without having taken
        // the queue: treat it as not scheduled, or its records would wait forever.
        if queue.flush.as_ref().is_some_and(|h| h.is_finished()) {
            queue.flush = None;
        }
        if queue.flush.is_none() && runtime.is_err() {
            // Nothing can run a flush: append directly. Records a dead flush left behind go
            // first (their senders' runtime is gone; the log writes them even though nobody
            // awaits the acknowledgement), so call order is kept.
            if !queue.records.is_empty() {
                let stale = std::mem::take(&mut queue.records);
                queue.waiters.clear();
                drop(self.storage.append(topic, partition, stale));
            }
            return self.storage.append(topic, partition, records);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let first = queue.records.len();
        queue.waiters.push((first, tx));
        queue.records.extend(records);
        if queue.flush.is_none()
            && let Ok(runtime) = runtime
        {
            let engine = Arc::clone(self);
            let topic = topic.clone();
            let outbox = Arc::clone(&outbox);
            queue.flush =
                Some(runtime.spawn(async move { engine.flush(&topic, partition, &outbox).await }));
        }
        drop(queue);
        Box::pin(async move {
            match rx.await {
                Ok(Ok(offset)) => Ok(offset),
                Ok(Err(e)) => Err(BusError::BatchFailed { source: e }),
                Err(_) => Err(BusError::Closed),
            }
        })
    }

    /// The outbox of a partition, created on first use.
    fn outbox(&self, topic: &TopicName, partition: u32) -> Arc<Outbox> {
        let mut outboxes = lock(&self.outboxes);
        if let Some(o) = outboxes.get(topic).and_then(|v| v.get(partition as usize)) {
            return Arc::clone(o);
        }
        let v = outboxes.entry(topic.clone()).or_default();
        while v.len() <= partition as usize {
            v.push(Arc::new(Outbox::default()));
        }
        Arc::clone(&v[partition as usize])
    }

    /// Appends everything queued in `outbox`, as batches of about [`FLUSH_BATCH_BYTES`] (never
    /// splitting one sender's records), and resolves the senders.
    async fn flush(&self, topic: &TopicName, partition: u32, outbox: &Outbox) {
        type Chunk = (
            Vec<(usize, Waiter)>,
            BoxFuture<'static, Result<u64, BusError>>,
        );
        let chunks: Vec<Chunk> = {
            let mut queue = lock(&outbox.queue);
            queue.flush = None;
            let mut records = std::mem::take(&mut queue.records).into_iter();
            let waiters = std::mem::take(&mut queue.waiters);
            let total = records.len();
            let mut chunks = Vec::new();
            let mut batch: Vec<Record> = Vec::new();
            let mut batch_waiters = Vec::new();
            let mut bytes = 0;
            let mut waiters = waiters.into_iter().peekable();
            while let Some((first, w)) = waiters.next() {
                let end = waiters.peek().map_or(total, |(next, _)| *next);
                for r in records.by_ref().take(end - first) {
                    bytes += r.payload_len();
                    batch.push(r);
                }
                batch_waiters.push((first, w));
                if bytes >= FLUSH_BATCH_BYTES || waiters.peek().is_none() {
                    let base_index = batch_waiters.first().map_or(0, |(i, _)| *i);
                    let ws = std::mem::take(&mut batch_waiters)
                        .into_iter()
                        .map(|(i, w)| (i - base_index, w))
                        .collect();
                    // Enqueued under the lock, so batches reach the storage in call order.
                    let append = self
                        .storage
                        .append(topic, partition, std::mem::take(&mut batch));
                    chunks.push((ws, append));
                    bytes = 0;
                }
            }
            chunks
        };
        for (waiters, append) in chunks {
            match append.await {
                Ok(base) => {
                    for (index, w) in waiters {
                        // A sender that dropped its future does not care about the offset.
                        let _ = w.send(Ok(base + index as u64));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for (_, w) in waiters {
                        let _ = w.send(Err(Arc::clone(&e)));
                    }
                }
            }
        }
    }

    /// Routes every record, then appends each partition's share as one batch.
    pub(crate) fn send_batch(
        self: &Arc<Self>,
        topic: &TopicName,
        records: Vec<ProducerRecord>,
    ) -> BoxFuture<'static, Result<Vec<Delivery>, BusError>> {
        let n = match self.check_user_topic(topic) {
            Ok(n) => n,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let mut routes = Vec::with_capacity(records.len());
        for r in &records {
            match self.route(topic, r, n) {
                Ok(p) => routes.push(p),
                Err(e) => return Box::pin(std::future::ready(Err(e))),
            }
        }
        // Per partition: the records in input order, and their input positions.
        let mut by_partition: HashMap<u32, (Vec<Record>, Vec<usize>)> = HashMap::new();
        for (i, (r, p)) in records.into_iter().zip(routes.iter()).enumerate() {
            let e = by_partition.entry(*p).or_default();
            e.0.push(r.record);
            e.1.push(i);
        }
        let mut pending = Vec::with_capacity(by_partition.len());
        for (p, (recs, idx)) in by_partition {
            pending.push((p, idx, self.enqueue(topic, p, recs)));
        }
        let total = routes.len();
        Box::pin(async move {
            let mut out = vec![
                Delivery {
                    partition: 0,
                    offset: 0
                };
                total
            ];
            for (p, idx, fut) in pending {
                let base = fut.await?;
                for (k, i) in idx.into_iter().enumerate() {
                    out[i] = Delivery {
                        partition: p,
                        offset: base + k as u64,
                    };
                }
            }
            Ok(out)
        })
    }

    pub(crate) fn committed(&self, group: &GroupId, tp: &TopicPartition) -> Option<u64> {
        lock(&self.committed)
            .get(group)
            .and_then(|g| g.get(tp))
            .copied()
    }

    async fn commit(
        &self,
        group: &GroupId,
        member: MemberId,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> Result<(), BusError> {
        for (tp, _) in &offsets {
            if !self.coordinator.owns(group, member, tp) {
                return Err(BusError::NotAssigned {
                    group: group.to_string(),
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                });
            }
        }
        if offsets.is_empty() {
            return Ok(());
        }
        self.storage.store_offsets(group, &offsets).await?;
        let mut committed = lock(&self.committed);
        let g = committed.entry(group.clone()).or_default();
        for (tp, o) in offsets {
            g.insert(tp, o);
        }
        Ok(())
    }

    /// The first offset at or after `timestamp`, or the end offset if there is none yet.
    fn offset_at(&self, tp: &TopicPartition, timestamp: Timestamp) -> Result<u64, BusError> {
        match self
            .storage
            .offset_for_timestamp(&tp.topic, tp.partition, timestamp)?
        {
            Some(o) => Ok(o),
            None => Ok(self.storage.offsets(&tp.topic, tp.partition)?.1),
        }
    }

    fn resolve(&self, tp: &TopicPartition, start: StartAt) -> Result<u64, BusError> {
        let (first, end) = self.storage.offsets(&tp.topic, tp.partition)?;
        Ok(match start {
            StartAt::Earliest => first,
            StartAt::Latest => end,
            StartAt::Offset(o) => o.max(first),
            StartAt::Timestamp(t) => self.offset_at(tp, t)?,
        })
    }

    pub(crate) fn subscribe(
        self: &Arc<Self>,
        group: &GroupId,
        topics: &[TopicName],
        listener: Arc<dyn RebalanceListener>,
        options: ConsumerOptions,
    ) -> Result<Box<dyn Consumer>, BusError> {
        if topics.is_empty() {
            return Err(BusError::EmptySubscription {
                group: group.to_string(),
            });
        }
        let mut subscribed = Vec::with_capacity(topics.len());
        for t in topics {
            let n = self.check_user_topic(t)?;
            if !subscribed.iter().any(|(s, _): &(TopicName, u32)| s == t) {
                subscribed.push((t.clone(), n));
            }
        }
        let (member, wake) = self.coordinator.join(group, subscribed);
        Ok(Box::new(GroupConsumer {
            engine: Arc::clone(self),
            group: group.clone(),
            member,
            wake,
            listener,
            options,
            parts: Vec::new(),
            next_part: 0,
            left: false,
        }))
    }

    pub(crate) fn reader(
        self: &Arc<Self>,
        tp: &TopicPartition,
        start: StartAt,
    ) -> Result<Box<dyn PartitionReader>, BusError> {
        self.check_partition(tp)?;
        let from = self.resolve(tp, start)?;
        let cursor = self.storage.cursor(&tp.topic, tp.partition, from)?;
        Ok(Box::new(Reader {
            engine: Arc::clone(self),
            tp: tp.clone(),
            cursor,
        }))
    }

    pub(crate) fn read(
        &self,
        tp: &TopicPartition,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, BusError> {
        self.check_partition(tp)?;
        self.storage.read(&tp.topic, tp.partition, from, max)
    }

    pub(crate) fn offset_for_timestamp(
        &self,
        tp: &TopicPartition,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, BusError> {
        self.check_partition(tp)?;
        self.storage
            .offset_for_timestamp(&tp.topic, tp.partition, timestamp)
    }
}

/// Implements [`crate::Bus`] for a type with a field `engine: Arc<Engine<_>>`.
macro_rules! impl_bus {
    ($ty:ty) => {
        impl $crate::api::Bus for $ty {
            fn create_topic(
                &self,
                name: &twinlog_core::TopicName,
                spec: $crate::types::TopicSpec,
            ) -> $crate::api::BoxFuture<'_, Result<(), $crate::BusError>> {
                let r = self.engine.create_topic(name, &spec);
                Box::pin(std::future::ready(r))
            }

            fn delete_topic(
                &self,
                name: &twinlog_core::TopicName,
            ) -> $crate::api::BoxFuture<'_, Result<(), $crate::BusError>> {
                let name = name.clone();
                Box::pin(async move { self.engine.delete_topic(&name).await })
            }

            fn list_topics(
                &self,
            ) -> $crate::api::BoxFuture<'_, Result<Vec<twinlog_core::TopicName>, $crate::BusError>> {
                Box::pin(std::future::ready(Ok(self.engine.list_topics())))
            }

            fn describe_topic(
                &self,
                name: &twinlog_core::TopicName,
            ) -> $crate::api::BoxFuture<'_, Result<$crate::types::TopicDescription, $crate::BusError>> {
                Box::pin(std::future::ready(self.engine.describe_topic(name)))
            }

            fn send(
                &self,
                topic: &twinlog_core::TopicName,
                record: $crate::types::ProducerRecord,
            ) -> $crate::api::DeliveryFuture {
                self.engine.send(topic, record)
            }

            fn send_batch(
                &self,
                topic: &twinlog_core::TopicName,
                records: Vec<$crate::types::ProducerRecord>,
            ) -> $crate::api::BoxFuture<'static, Result<Vec<$crate::types::Delivery>, $crate::BusError>> {
                self.engine.send_batch(topic, records)
            }

            fn subscribe_with(
                &self,
                group: &$crate::types::GroupId,
                topics: &[twinlog_core::TopicName],
                listener: std::sync::Arc<dyn $crate::api::RebalanceListener>,
                options: $crate::types::ConsumerOptions,
            ) -> $crate::api::BoxFuture<'_, Result<Box<dyn $crate::api::Consumer>, $crate::BusError>> {
                Box::pin(std::future::ready(
                    self.engine.subscribe(group, topics, listener, options),
                ))
            }

            fn committed(
                &self,
                group: &$crate::types::GroupId,
                partition: &$crate::types::TopicPartition,
            ) -> $crate::api::BoxFuture<'_, Result<Option<u64>, $crate::BusError>> {
                let r = self
                    .engine
                    .check_partition(partition)
                    .map(|_| self.engine.committed(group, partition));
                Box::pin(std::future::ready(r))
            }

            fn reader(
                &self,
                partition: &$crate::types::TopicPartition,
                start: $crate::types::StartAt,
            ) -> $crate::api::BoxFuture<'_, Result<Box<dyn $crate::api::PartitionReader>, $crate::BusError>> {
                Box::pin(std::future::ready(self.engine.reader(partition, start)))
            }

            fn read(
                &self,
                partition: &$crate::types::TopicPartition,
                from: u64,
                max: usize,
            ) -> $crate::api::BoxFuture<'_, Result<Vec<twinlog_core::StoredRecord>, $crate::BusError>> {
                Box::pin(std::future::ready(self.engine.read(partition, from, max)))
            }

            fn offset_for_timestamp(
                &self,
                partition: &$crate::types::TopicPartition,
                timestamp: twinlog_core::Timestamp,
            ) -> $crate::api::BoxFuture<'_, Result<Option<u64>, $crate::BusError>> {
                Box::pin(std::future::ready(
                    self.engine.offset_for_timestamp(partition, timestamp),
                ))
            }
        }
    };
}
pub(crate) use impl_bus;

/// An owned partition of a group consumer: its cursor and the records fetched ahead.
struct Part<C> {
    tp: TopicPartition,
    cursor: C,
    fetched: VecDeque<StoredRecord>,
}

impl<C: Cursor> Part<C> {
    fn position(&self) -> u64 {
        self.fetched
            .front()
            .map_or_else(|| self.cursor.position(), |r| r.offset)
    }
}

/// What ended a consumer's wait.
enum Wake {
    Rebalance,
    Records(usize, Result<Vec<StoredRecord>, BusError>),
}

/// The first of `futures` to complete (they are polled in order; the rest are dropped).
async fn first_of<T>(mut futures: Vec<BoxFuture<'_, T>>) -> T {
    poll_fn(|cx| {
        for f in futures.iter_mut() {
            if let Poll::Ready(v) = f.as_mut().poll(cx) {
                return Poll::Ready(v);
            }
        }
        Poll::Pending
    })
    .await
}

/// A group member over the shared coordinator and a storage.
struct GroupConsumer<S: Storage> {
    engine: Arc<Engine<S>>,
    group: GroupId,
    member: MemberId,
    wake: Arc<Notify>,
    listener: Arc<dyn RebalanceListener>,
    options: ConsumerOptions,
    /// Owned partitions, sorted.
    parts: Vec<Part<S::Cursor>>,
    /// Where the next round-robin scan over `parts` starts (fairness between partitions).
    next_part: usize,
    left: bool,
}

impl<S: Storage> fmt::Debug for GroupConsumer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConsumer")
            .field("group", &self.group)
            .field("member", &self.member)
            .field(
                "assignment",
                &self
                    .parts
                    .iter()
                    .map(|p| p.tp.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<S: Storage> GroupConsumer<S> {
    /// Applies a pending rebalance: revoke (callback, then release) and acquire (positions,
    /// callback). Runs on the consumer's task, without any lock held during callbacks.
    fn rebalance(&mut self) -> Result<(), BusError> {
        let coordinator = &self.engine.coordinator;
        let revoke = coordinator.to_revoke(&self.group, self.member);
        if !revoke.is_empty() {
            self.listener.on_revoked(&revoke);
            self.parts.retain(|p| !revoke.contains(&p.tp));
            coordinator.release(&self.group, self.member, &revoke);
        }
        let acquired = coordinator.acquire(&self.group, self.member);
        if acquired.is_empty() {
            return Ok(());
        }
        // If a partition cannot be set up, give back what is not set up yet (so that a later
        // poll retries instead of holding partitions nobody reads) and report the error.
        let mut positions = Vec::with_capacity(acquired.len());
        for tp in &acquired {
            let pos = match self.engine.committed(&self.group, tp) {
                Some(o) => Ok(o),
                None => {
                    let start = match self.options.reset {
                        OffsetReset::Earliest => StartAt::Earliest,
                        OffsetReset::Latest => StartAt::Latest,
                    };
                    self.engine.resolve(tp, start)
                }
            };
            match pos {
                Ok(pos) => positions.push((tp.clone(), pos)),
                Err(e) => {
                    coordinator.release(&self.group, self.member, &acquired);
                    return Err(e);
                }
            }
        }
        let mut assignment = Assignment { positions };
        self.listener.on_assigned(&mut assignment);
        let mut positions = assignment.positions.into_iter();
        while let Some((tp, pos)) = positions.next() {
            match self.engine.storage.cursor(&tp.topic, tp.partition, pos) {
                Ok(cursor) => self.parts.push(Part {
                    tp,
                    cursor,
                    fetched: VecDeque::new(),
                }),
                Err(e) => {
                    let rest: Vec<TopicPartition> = std::iter::once(tp)
                        .chain(positions.map(|(tp, _)| tp))
                        .collect();
                    self.listener.on_revoked(&rest);
                    coordinator.release(&self.group, self.member, &rest);
                    self.parts.sort_by(|a, b| a.tp.cmp(&b.tp));
                    return Err(e);
                }
            }
        }
        self.parts.sort_by(|a, b| a.tp.cmp(&b.tp));
        Ok(())
    }

    /// Up to `max` records of one partition from what is fetched or available now.
    fn take_available(&mut self, max: usize) -> Result<Option<Vec<StoredRecord>>, BusError> {
        let n = self.parts.len();
        for i in 0..n {
            let idx = (self.next_part + i) % n;
            let part = &mut self.parts[idx];
            if part.fetched.is_empty() {
                let batch = part
                    .cursor
                    .try_next_batch(self.options.fetch_records.max(1))?;
                part.fetched.extend(batch);
            }
            if !part.fetched.is_empty() {
                let k = max.max(1).min(part.fetched.len());
                let out: Vec<StoredRecord> = part.fetched.drain(..k).collect();
                self.next_part = idx + 1;
                return Ok(Some(out));
            }
        }
        Ok(None)
    }

    async fn poll_inner(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        if self.left {
            return Err(BusError::Closed);
        }
        loop {
            self.rebalance()?;
            if let Some(records) = self.take_available(max)? {
                return Ok(records);
            }
            let fetch = self.options.fetch_records.max(1);
            let wake = Arc::clone(&self.wake);
            let mut waits: Vec<BoxFuture<'_, Wake>> = Vec::with_capacity(self.parts.len() + 1);
            waits.push(Box::pin(async move {
                wake.notified().await;
                Wake::Rebalance
            }));
            for (i, part) in self.parts.iter_mut().enumerate() {
                waits.push(Box::pin(async move {
                    Wake::Records(i, part.cursor.next_batch(fetch).await)
                }));
            }
            match first_of(waits).await {
                Wake::Rebalance => {}
                Wake::Records(i, batch) => self.parts[i].fetched.extend(batch?),
            }
        }
    }

    fn owned(&mut self, tp: &TopicPartition) -> Result<&mut Part<S::Cursor>, BusError> {
        let group = &self.group;
        self.parts
            .iter_mut()
            .find(|p| &p.tp == tp)
            .ok_or_else(|| BusError::NotAssigned {
                group: group.to_string(),
                topic: tp.topic.to_string(),
                partition: tp.partition,
            })
    }

    fn leave(&mut self) {
        if !self.left {
            self.left = true;
            self.parts.clear();
            self.engine.coordinator.leave(&self.group, self.member);
        }
    }
}

impl<S: Storage> Drop for GroupConsumer<S> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<S: Storage> Consumer for GroupConsumer<S> {
    fn group(&self) -> &GroupId {
        &self.group
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>> {
        Box::pin(self.poll_inner(max))
    }

    fn next(&mut self) -> BoxFuture<'_, Result<StoredRecord, BusError>> {
        Box::pin(async move {
            let mut batch = self.poll_inner(1).await?;
            // poll_inner returns at least one record.
            batch.pop().ok_or(BusError::Closed)
        })
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.parts.iter().map(|p| p.tp.clone()).collect()
    }

    fn position(&self, partition: &TopicPartition) -> Option<u64> {
        self.parts
            .iter()
            .find(|p| &p.tp == partition)
            .map(Part::position)
    }

    fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), BusError> {
        let part = self.owned(partition)?;
        part.fetched.clear();
        part.cursor.seek(offset);
        Ok(())
    }

    fn seek_to_timestamp(
        &mut self,
        partition: &TopicPartition,
        timestamp: Timestamp,
    ) -> BoxFuture<'_, Result<u64, BusError>> {
        let partition = partition.clone();
        Box::pin(async move {
            self.owned(&partition)?;
            let offset = self.engine.offset_at(&partition, timestamp)?;
            self.seek(&partition, offset)?;
            Ok(offset)
        })
    }

    fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(async move {
            if self.left {
                return Err(BusError::Closed);
            }
            self.engine.commit(&self.group, self.member, offsets).await
        })
    }

    fn commit_consumed(&mut self) -> BoxFuture<'_, Result<(), BusError>> {
        let offsets: Vec<(TopicPartition, u64)> = self
            .parts
            .iter()
            .map(|p| (p.tp.clone(), p.position()))
            .collect();
        self.commit(offsets)
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>> {
        let owned = self.assignment();
        if !owned.is_empty() && !self.left {
            self.listener.on_revoked(&owned);
        }
        self.leave();
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A partition reader over a storage cursor.
struct Reader<S: Storage> {
    engine: Arc<Engine<S>>,
    tp: TopicPartition,
    cursor: S::Cursor,
}

impl<S: Storage> fmt::Debug for Reader<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("partition", &self.tp)
            .field("position", &self.cursor.position())
            .finish_non_exhaustive()
    }
}

impl<S: Storage> PartitionReader for Reader<S> {
    fn partition(&self) -> &TopicPartition {
        &self.tp
    }

    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>> {
        Box::pin(self.cursor.next_batch(max.max(1)))
    }

    fn next(&mut self) -> BoxFuture<'_, Result<StoredRecord, BusError>> {
        Box::pin(async move {
            let mut batch = self.cursor.next_batch(1).await?;
            batch.pop().ok_or(BusError::Closed)
        })
    }

    fn try_next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        self.cursor.try_next_batch(max)
    }

    fn position(&self) -> u64 {
        self.cursor.position()
    }

    fn seek(&mut self, offset: u64) {
        self.cursor.seek(offset);
    }

    fn seek_to_timestamp(&mut self, timestamp: Timestamp) -> BoxFuture<'_, Result<u64, BusError>> {
        Box::pin(async move {
            let offset = self.engine.offset_at(&self.tp, timestamp)?;
            self.cursor.seek(offset);
            Ok(offset)
        })
    }
}
