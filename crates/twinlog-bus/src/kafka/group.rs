//! [`KafkaConsumer`]: a member of a Kafka consumer group, with the trait's rebalance contract.
//!
//! - The group uses librdkafka's **cooperative-sticky** assignor: a rebalance moves only the
//!   partitions that change owner (the others keep being read), the same incremental
//!   hand-over as the in-process coordinator of the memory and embedded buses.
//! - Rebalance events are served inside [`Consumer::poll`] (librdkafka queues them with the
//!   messages; `StreamConsumer::recv` runs the context's `rebalance` on the polling task), so
//!   the listener runs there too: `on_revoked` before the partitions are given up,
//!   `on_assigned` before any of their records is returned, with the start positions
//!   (committed offset, else the reset policy) that it may change with `seek`.
//! - Positions are tracked here: a record is handed out only if its partition is owned and it
//!   is at or past the position, so nothing of a revoked partition leaks out, and a seek is
//!   exact at once.
//! - Commits are synchronous (`CommitMode::Sync`, off the async threads) and fenced: every
//!   partition must be owned now.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, StreamConsumer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use twinlog_core::{StoredRecord, Timestamp, TopicName};

use super::reader::to_stored;
use super::{FETCH_QUEUE_BACKOFF, Inner, blocking, kafka_error};
use crate::api::{Assignment, BoxFuture, Consumer, RebalanceListener};
use crate::error::BusError;
use crate::types::{ConsumerOptions, GroupId, OffsetReset, TopicPartition};

/// Records a poll files from what librdkafka has fetched before choosing a batch, at least.
const FETCH_AHEAD: usize = 1024;

/// What the consumer and its rebalance callback share.
#[derive(Default)]
struct State {
    /// Owned partitions and the offset of the next record to hand out.
    owned: BTreeMap<TopicPartition, u64>,
    /// Set by `close` and drop: later callbacks no longer reach the listener.
    closed: bool,
    /// An error of a callback (a committed-offset lookup failed), reported by the next poll.
    error: Option<BusError>,
    /// Partitions revoked since the consumer last looked: what it fetched of them before is
    /// dropped (were one reassigned, its records start again at the committed offset).
    revoked: Vec<TopicPartition>,
}

pub(super) struct GroupContext {
    bus: Arc<Inner>,
    listener: Arc<dyn RebalanceListener>,
    reset: OffsetReset,
    state: Arc<Mutex<State>>,
}

impl ClientContext for GroupContext {}

impl GroupContext {
    fn logical(&self, wire: &str, partition: i32) -> Option<TopicPartition> {
        let name = self.bus.logical(wire)?;
        Some(TopicPartition::new(
            TopicName::new(name).ok()?,
            partition as u32,
        ))
    }

    /// Start positions of newly assigned partitions: the committed offset, else the reset
    /// policy's end of the partition.
    fn start_positions(
        &self,
        base: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
    ) -> Result<Vec<(TopicPartition, u64)>, BusError> {
        let committed = base
            .committed_offsets(tpl.clone(), self.bus.options.request_timeout)
            .map_err(|e| kafka_error("read committed offsets", e))?;
        let mut out = Vec::new();
        for e in committed.elements() {
            let Some(tp) = self.logical(e.topic(), e.partition()) else {
                continue;
            };
            let pos = match e.offset() {
                Offset::Offset(o) if o >= 0 => o as u64,
                _ => {
                    let (low, high) = self.bus.watermarks(tp.topic.as_str(), tp.partition)?;
                    match self.reset {
                        OffsetReset::Earliest => low,
                        OffsetReset::Latest => high,
                    }
                }
            };
            out.push((tp, pos));
        }
        out.sort();
        Ok(out)
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let closed = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let positions = if tpl.count() == 0 {
                    Ok(Vec::new())
                } else {
                    self.start_positions(base, tpl)
                };
                let positions = match positions {
                    Ok(p) => p,
                    Err(e) => {
                        // Assign anyway (the group would stall otherwise) at the committed
                        // offsets librdkafka finds itself; the next poll reports the error.
                        self.state
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .error = Some(e);
                        let _ = base.incremental_assign(tpl);
                        return;
                    }
                };
                let mut assignment = Assignment::new(positions);
                if !closed && assignment.partitions().next().is_some() {
                    self.listener.on_assigned(&mut assignment);
                }
                let positions = assignment.into_positions();
                let mut at = TopicPartitionList::new();
                for (tp, pos) in &positions {
                    let _ = at.add_partition_offset(
                        &self.bus.wire(tp.topic.as_str()),
                        tp.partition as i32,
                        Offset::Offset(i64::try_from(*pos).unwrap_or(i64::MAX)),
                    );
                }
                {
                    let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                    st.owned.extend(positions);
                }
                if let Err(e) = base.incremental_assign(&at) {
                    self.state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .error = Some(kafka_error("take assigned partitions", e));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let mut revoked: Vec<TopicPartition> = tpl
                    .elements()
                    .iter()
                    .filter_map(|e| self.logical(e.topic(), e.partition()))
                    .collect();
                revoked.sort();
                if !closed && !revoked.is_empty() {
                    self.listener.on_revoked(&revoked);
                }
                {
                    let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                    for tp in &revoked {
                        st.owned.remove(tp);
                    }
                    st.revoked.extend(revoked);
                }
                let _ = base.incremental_unassign(tpl);
            }
            other => {
                tracing::warn!(error = ?other, "Kafka consumer-group rebalance error");
            }
        }
    }
}

/// A member of a Kafka consumer group (made by [`crate::Bus::subscribe`] on a
/// [`super::KafkaBus`]).
pub struct KafkaConsumer {
    bus: Arc<Inner>,
    group: GroupId,
    consumer: Option<Arc<StreamConsumer<GroupContext>>>,
    state: Arc<Mutex<State>>,
    /// Records fetched and not yet handed out.
    fetched: Fetched,
    /// Logical topic names by wire name (shared `Arc<str>`s for the records).
    names: BTreeMap<String, Arc<str>>,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group", &self.group)
            .field("assignment", &self.assignment())
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    pub(super) async fn join(
        bus: Arc<Inner>,
        group: GroupId,
        topics: Vec<TopicName>,
        listener: Arc<dyn RebalanceListener>,
        options: ConsumerOptions,
    ) -> Result<KafkaConsumer, BusError> {
        if topics.is_empty() {
            return Err(BusError::EmptySubscription {
                group: group.to_string(),
            });
        }
        {
            let topics = topics.clone();
            blocking(&bus, move |inner| {
                for t in &topics {
                    inner.partition_count(t.as_str())?;
                }
                Ok(())
            })
            .await?;
        }
        let state = Arc::new(Mutex::new(State::default()));
        let context = GroupContext {
            bus: bus.clone(),
            listener,
            reset: options.reset,
            state: state.clone(),
        };
        let wire_group = bus.wire(group.as_str());
        let consumer: StreamConsumer<GroupContext> = bus
            .options
            .config(&[
                ("group.id", wire_group.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("partition.assignment.strategy", "cooperative-sticky"),
                (
                    "auto.offset.reset",
                    match options.reset {
                        OffsetReset::Earliest => "earliest",
                        OffsetReset::Latest => "latest",
                    },
                ),
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "1000"),
                FETCH_QUEUE_BACKOFF,
            ])
            .create_with_context(context)
            .map_err(|e| {
                bus.options
                    .scrubbed(kafka_error("create a group consumer", e))
            })?;
        let wire: Vec<String> = topics.iter().map(|t| bus.wire(t.as_str())).collect();
        let refs: Vec<&str> = wire.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|e| kafka_error("subscribe", e))?;
        let names = wire
            .iter()
            .zip(&topics)
            .map(|(w, t)| (w.clone(), Arc::from(t.as_str())))
            .collect();
        Ok(KafkaConsumer {
            bus,
            group,
            consumer: Some(Arc::new(consumer)),
            state,
            fetched: Fetched::default(),
            names,
        })
    }

    fn consumer(&self) -> Result<&Arc<StreamConsumer<GroupContext>>, BusError> {
        self.consumer.as_ref().ok_or(BusError::Closed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn not_assigned(&self, tp: &TopicPartition) -> BusError {
        BusError::NotAssigned {
            group: self.group.to_string(),
            topic: tp.topic.to_string(),
            partition: tp.partition,
        }
    }

    fn convert(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Option<StoredRecord> {
        use rdkafka::Message as _;
        let name = self.names.get(m.topic())?;
        Some(to_stored(name, m))
    }

    /// Files a fetched message, after forgetting what was fetched of partitions revoked by
    /// the callbacks that ran in the same fetch (they run before its message is returned).
    fn file(&mut self, m: Option<StoredRecord>) {
        let revoked = std::mem::take(&mut self.state().revoked);
        for tp in revoked {
            self.fetched.forget(tp.topic.as_str(), tp.partition);
        }
        if let Some(r) = m {
            self.fetched.push(r);
        }
    }

    /// Files what librdkafka has fetched now, up to `limit` records held (runs rebalance
    /// callbacks; never waits).
    fn fetch_ready(&mut self, limit: usize) -> Result<(), BusError> {
        while self.fetched.len < limit {
            let consumer = self.consumer()?.clone();
            let mut fut = pin!(consumer.recv());
            let m = match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Ok(m)) => self.convert(&m),
                Poll::Ready(Err(e)) => return Err(kafka_error("poll the group", e)),
                Poll::Pending => {
                    self.file(None);
                    return Ok(());
                }
            };
            self.file(m);
        }
        Ok(())
    }

    fn check_error(&self) -> Result<(), BusError> {
        match self.state().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The next batch of the partitions in turn that is still wanted: records of a partition
    /// owned now, at or past its position (which moves past them). One ownership check and
    /// one lock per batch, not per record.
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<StoredRecord>>, BusError> {
        while let Some((topic, partition, records)) = self.fetched.take(max) {
            let tp = TopicPartition::new(TopicName::new(&topic)?, partition);
            let mut st = self.state();
            let Some(pos) = st.owned.get_mut(&tp) else {
                continue;
            };
            let mut out = Vec::with_capacity(records.len());
            for r in records {
                if r.offset >= *pos {
                    *pos = r.offset + 1;
                    out.push(r);
                }
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

/// Fetched records not yet handed out: one queue per partition in fetch order, and the
/// partitions with records in the order they are served (in turn, as the trait asks).
#[derive(Default)]
struct Fetched {
    queues: HashMap<(Arc<str>, u32), VecDeque<StoredRecord>>,
    /// Exactly the partitions whose queue is non-empty.
    turn: VecDeque<(Arc<str>, u32)>,
    len: usize,
}

impl Fetched {
    fn push(&mut self, r: StoredRecord) {
        let key = (r.topic.clone(), r.partition);
        let q = self.queues.entry(key).or_default();
        if q.is_empty() {
            self.turn.push_back((r.topic.clone(), r.partition));
        }
        q.push_back(r);
        self.len += 1;
    }

    /// Up to `max` records of the next partition in turn; it goes to the back of the turn if
    /// it has more.
    fn take(&mut self, max: usize) -> Option<(Arc<str>, u32, Vec<StoredRecord>)> {
        let key = self.turn.pop_front()?;
        let q = self.queues.get_mut(&key)?;
        let n = q.len().min(max);
        let out: Vec<StoredRecord> = q.drain(..n).collect();
        self.len -= n;
        if !q.is_empty() {
            self.turn.push_back(key.clone());
        }
        Some((key.0, key.1, out))
    }

    fn forget(&mut self, topic: &str, partition: u32) {
        if let Some(q) = self.queues.remove(&(Arc::from(topic), partition)) {
            self.len -= q.len();
            self.turn
                .retain(|(t, p)| !(*p == partition && **t == *topic));
        }
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        self.state().closed = true;
        // Leaving the group blocks until the coordinator answers: off the async threads.
        if let Some(c) = self.consumer.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(h) => {
                    h.spawn_blocking(move || drop(c));
                }
                Err(_) => drop(c),
            }
        }
    }
}

impl Consumer for KafkaConsumer {
    fn group(&self) -> &GroupId {
        &self.group
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>> {
        Box::pin(async move {
            let max = max.max(1);
            loop {
                self.check_error()?;
                // What librdkafka holds already, so that a batch can fill up and the
                // partitions take turns.
                self.fetch_ready(max.saturating_mul(4).max(FETCH_AHEAD))?;
                self.check_error()?;
                if let Some(batch) = self.next_batch(max)? {
                    return Ok(batch);
                }
                let r = {
                    let consumer = self.consumer()?.clone();
                    let m = consumer
                        .recv()
                        .await
                        .map_err(|e| kafka_error("poll the group", e))?;
                    self.convert(&m)
                };
                self.file(r);
            }
        })
    }

    fn next(&mut self) -> BoxFuture<'_, Result<StoredRecord, BusError>> {
        Box::pin(async move {
            let mut batch = self.poll(1).await?;
            batch.pop().ok_or(BusError::Closed)
        })
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.state().owned.keys().cloned().collect()
    }

    fn position(&self, partition: &TopicPartition) -> Option<u64> {
        self.state().owned.get(partition).copied()
    }

    fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), BusError> {
        if !self.state().owned.contains_key(partition) {
            return Err(self.not_assigned(partition));
        }
        let consumer = self.consumer()?.clone();
        consumer
            .seek(
                &self.bus.wire(partition.topic.as_str()),
                partition.partition as i32,
                Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX)),
                self.bus.options.request_timeout,
            )
            .map_err(|e| kafka_error("seek", e))?;
        self.fetched
            .forget(partition.topic.as_str(), partition.partition);
        if let Some(pos) = self.state().owned.get_mut(partition) {
            *pos = offset;
        }
        Ok(())
    }

    fn seek_to_timestamp(
        &mut self,
        partition: &TopicPartition,
        timestamp: Timestamp,
    ) -> BoxFuture<'_, Result<u64, BusError>> {
        let tp = partition.clone();
        Box::pin(async move {
            if !self.state().owned.contains_key(&tp) {
                return Err(self.not_assigned(&tp));
            }
            let offset = {
                let tp = tp.clone();
                blocking(&self.bus, move |inner| {
                    Ok(match inner.offset_for_time(&tp, timestamp)? {
                        Some(o) => o,
                        None => inner.watermarks(tp.topic.as_str(), tp.partition)?.1,
                    })
                })
                .await?
            };
            self.seek(&tp, offset)?;
            Ok(offset)
        })
    }

    fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> BoxFuture<'_, Result<(), BusError>> {
        Box::pin(async move {
            let mut tpl = TopicPartitionList::new();
            {
                let st = self.state();
                for (tp, _) in &offsets {
                    if !st.owned.contains_key(tp) {
                        drop(st);
                        return Err(self.not_assigned(tp));
                    }
                }
            }
            for (tp, o) in &offsets {
                tpl.add_partition_offset(
                    &self.bus.wire(tp.topic.as_str()),
                    tp.partition as i32,
                    Offset::Offset(i64::try_from(*o).unwrap_or(i64::MAX)),
                )
                .map_err(|e| kafka_error("commit offsets", e))?;
            }
            if tpl.count() == 0 {
                return Ok(());
            }
            let consumer = self.consumer()?.clone();
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
                .await
                .map_err(|_| BusError::Closed)?
                .map_err(|e| kafka_error("commit offsets", e))
        })
    }

    fn commit_consumed(&mut self) -> BoxFuture<'_, Result<(), BusError>> {
        let offsets: Vec<(TopicPartition, u64)> = self
            .state()
            .owned
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        self.commit(offsets)
    }

    fn close(mut self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>> {
        Box::pin(async move {
            let owned: Vec<TopicPartition> = self.assignment();
            if !owned.is_empty() {
                // The listener is reached through the context that holds it.
                if let Some(c) = &self.consumer {
                    c.context().listener.on_revoked(&owned);
                }
            }
            {
                let mut st = self.state();
                st.closed = true;
                st.owned.clear();
            }
            if let Some(c) = self.consumer.take() {
                tokio::task::spawn_blocking(move || {
                    c.unsubscribe();
                    drop(c);
                })
                .await
                .map_err(|_| BusError::Closed)?;
            }
            Ok(())
        })
    }
}

/// The committed offset of `group` for a partition (blocking), through a consumer of that
/// group that never joins it.
pub(super) fn committed(
    inner: &Inner,
    group: &GroupId,
    tp: &TopicPartition,
) -> Result<Option<u64>, BusError> {
    inner.check_partition(tp)?;
    let consumer: BaseConsumer = inner
        .options
        .config(&[
            ("group.id", inner.wire(group.as_str()).as_str()),
            ("enable.auto.commit", "false"),
        ])
        .create()
        .map_err(|e| kafka_error("read committed offsets", e))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&inner.wire(tp.topic.as_str()), tp.partition as i32);
    let found = consumer
        .committed_offsets(tpl, inner.options.request_timeout)
        .map_err(|e| kafka_error("read committed offsets", e))?;
    Ok(match found.elements().first().map(|e| e.offset()) {
        Some(Offset::Offset(o)) if o >= 0 => Some(o as u64),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinlog_core::Record;

    fn rec(topic: &Arc<str>, partition: u32, offset: u64) -> StoredRecord {
        StoredRecord {
            topic: topic.clone(),
            partition,
            offset,
            record: Record::new(Timestamp::from_millis(0), &b"v"[..]),
        }
    }

    fn offsets(batch: &(Arc<str>, u32, Vec<StoredRecord>)) -> (u32, Vec<u64>) {
        (batch.1, batch.2.iter().map(|r| r.offset).collect())
    }

    #[test]
    fn partitions_take_turns_and_batches_keep_fetch_order() {
        let t: Arc<str> = Arc::from("t");
        let mut f = Fetched::default();
        for (p, o) in [(0, 10), (1, 20), (0, 11), (0, 12), (1, 21), (2, 30)] {
            f.push(rec(&t, p, o));
        }
        assert_eq!(f.len, 6);
        let got: Vec<_> = std::iter::from_fn(|| f.take(2))
            .map(|b| offsets(&b))
            .collect();
        assert_eq!(
            got,
            [
                (0, vec![10, 11]),
                (1, vec![20, 21]),
                (2, vec![30]),
                (0, vec![12])
            ]
        );
        assert_eq!(f.len, 0);
        assert!(f.turn.is_empty());
    }

    #[test]
    fn a_forgotten_partition_leaves_the_turn_and_starts_afresh() {
        let t: Arc<str> = Arc::from("t");
        let mut f = Fetched::default();
        for (p, o) in [(0, 10), (1, 20), (0, 11)] {
            f.push(rec(&t, p, o));
        }
        f.forget("t", 0);
        f.forget("t", 7);
        assert_eq!(f.len, 1);
        // Reassigned at a lower committed offset: only the new fetch is served.
        f.push(rec(&t, 0, 5));
        let got: Vec<_> = std::iter::from_fn(|| f.take(10))
            .map(|b| offsets(&b))
            .collect();
        assert_eq!(got, [(1, vec![20]), (0, vec![5])]);
        assert_eq!(f.len, 0);
    }
}
