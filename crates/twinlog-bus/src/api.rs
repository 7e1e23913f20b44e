//! The bus API every implementation provides: [`Bus`] (topics, producer, group consumers,
//! replay readers), [`Consumer`] (a member of a consumer group), [`PartitionReader`] (one
//! partition, no group), [`RebalanceListener`] (assignment callbacks) and [`DeliveryFuture`].
//!
//! The traits are object safe (`Arc<dyn Bus>`, `Box<dyn Consumer>`): async methods return a
//! boxed future ([`BoxFuture`]) instead of using `async fn`, which is not object safe. The
//! runtime and the twins hold a `dyn Bus` chosen at start-up (`--bus`), so adding the Kafka
//! implementation is a new type, not a change to its callers. The cost is one allocation per
//! call, negligible next to an fsync or a network round trip; the per-record hot path
//! (`send`) returns the concrete [`DeliveryFuture`] and consumers hand out records in batches.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use twinlog_core::{StoredRecord, Timestamp, TopicName};

use crate::error::BusError;
use crate::types::{
    ConsumerOptions, Delivery, GroupId, ProducerRecord, StartAt, TopicDescription, TopicPartition,
    TopicSpec,
};

/// A boxed, `Send` future: what the object-safe async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A message bus with Kafka semantics. See the crate docs for the guarantees.
pub trait Bus: Send + Sync + fmt::Debug {
    /// Creates a topic. Errors: [`BusError::TopicExists`], [`BusError::InvalidTopicSpec`]
    /// (0 partitions), [`BusError::ReservedTopic`] (names starting with `__`).
    fn create_topic(
        &self,
        name: &TopicName,
        spec: TopicSpec,
    ) -> BoxFuture<'_, Result<(), BusError>>;

    /// Deletes a topic with its records and every group's committed offsets for it; a topic
    /// created again under the name starts empty. Sends, reads and readers of it then fail
    /// with [`BusError::UnknownTopic`]; a group member that owns its partitions gets that
    /// error from [`Consumer::poll`] (close and re-subscribe without the topic).
    /// Errors: [`BusError::UnknownTopic`], [`BusError::ReservedTopic`].
    fn delete_topic(&self, name: &TopicName) -> BoxFuture<'_, Result<(), BusError>>;

    /// The names of all user topics, sorted (internal `__` topics are not listed).
    fn list_topics(&self) -> BoxFuture<'_, Result<Vec<TopicName>, BusError>>;

    /// A topic's specification and per-partition start/end offsets.
    /// Error: [`BusError::UnknownTopic`].
    fn describe_topic(&self, name: &TopicName)
    -> BoxFuture<'_, Result<TopicDescription, BusError>>;

    /// Sends one record. It is enqueued when this method returns (so records sent one after
    /// the other to a partition get increasing offsets even if the futures are awaited later
    /// or concurrently: pipelining), and the future resolves with its (partition, offset) once
    /// it is durable under the bus's policy. Dropping the future does not cancel the send.
    ///
    /// Called inside a Tokio runtime, the embedded bus queues single sends per partition and
    /// appends what accumulated as one batch from a task spawned on that runtime (see
    /// `docs/BUS.md`); the runtime must keep running until the send resolves (blocking its
    /// only thread on the future would deadlock). Outside a runtime each send is appended
    /// on its own.
    ///
    /// Errors (through the future): [`BusError::UnknownTopic`], [`BusError::UnknownPartition`]
    /// for an explicit partition out of range, [`BusError::ReservedTopic`], and storage errors
    /// (for a queued send, wrapped in [`BusError::BatchFailed`]).
    fn send(&self, topic: &TopicName, record: ProducerRecord) -> DeliveryFuture;

    /// Sends many records at once (all enqueued before this method returns) and resolves
    /// with their deliveries in input order once all are durable. Implementations write each
    /// partition's share as one batch. If an error is returned, records of other partitions
    /// may have been stored.
    fn send_batch(
        &self,
        topic: &TopicName,
        records: Vec<ProducerRecord>,
    ) -> BoxFuture<'static, Result<Vec<Delivery>, BusError>> {
        let pending: Vec<DeliveryFuture> =
            records.into_iter().map(|r| self.send(topic, r)).collect();
        Box::pin(async move {
            let mut out = Vec::with_capacity(pending.len());
            for f in pending {
                out.push(f.await?);
            }
            Ok(out)
        })
    }

    /// Joins consumer group `group` subscribed to `topics`, with default
    /// [`ConsumerOptions`]. See [`Bus::subscribe_with`].
    fn subscribe(
        &self,
        group: &GroupId,
        topics: &[TopicName],
        listener: Arc<dyn RebalanceListener>,
    ) -> BoxFuture<'_, Result<Box<dyn Consumer>, BusError>> {
        self.subscribe_with(group, topics, listener, ConsumerOptions::default())
    }

    /// Joins consumer group `group` subscribed to `topics`. The group's partitions are split
    /// between its members and rebalanced when a member joins or leaves; `listener` hears
    /// about it from inside the member's [`Consumer::poll`]. A partition has at most one owner
    /// at a time. Errors: [`BusError::UnknownTopic`], [`BusError::EmptySubscription`].
    fn subscribe_with(
        &self,
        group: &GroupId,
        topics: &[TopicName],
        listener: Arc<dyn RebalanceListener>,
        options: ConsumerOptions,
    ) -> BoxFuture<'_, Result<Box<dyn Consumer>, BusError>>;

    /// The offset `group` committed for a partition (the next offset it will read), if any.
    fn committed(
        &self,
        group: &GroupId,
        partition: &TopicPartition,
    ) -> BoxFuture<'_, Result<Option<u64>, BusError>>;

    /// A reader of one partition, independent of any group (replay, tail, what-if).
    fn reader(
        &self,
        partition: &TopicPartition,
        start: StartAt,
    ) -> BoxFuture<'_, Result<Box<dyn PartitionReader>, BusError>>;

    /// Up to `max` records of a partition from `from` (clamped to the first stored offset);
    /// empty at or past the end. Does not wait.
    fn read(
        &self,
        partition: &TopicPartition,
        from: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>>;

    /// The offset of the first record at or after `timestamp`, or `None` if there is none yet.
    fn offset_for_timestamp(
        &self,
        partition: &TopicPartition,
        timestamp: Timestamp,
    ) -> BoxFuture<'_, Result<Option<u64>, BusError>>;
}

/// One member of a consumer group (made by [`Bus::subscribe`]). Dropping it leaves the group
/// (its partitions go to the other members) without calling the listener; [`Consumer::close`]
/// calls `on_revoked` first.
///
/// Offsets follow Kafka: a committed offset, like a position, is the offset of the *next*
/// record to read. Records returned but not committed are delivered again to whoever owns the
/// partition next (at-least-once); exactly-once processing comes from the caller recording the
/// offsets it consumed with its state (DESIGN.md §5).
pub trait Consumer: Send + fmt::Debug {
    /// The group this consumer belongs to.
    fn group(&self) -> &GroupId;

    /// Up to `max` records (at least one) from one of the owned partitions, in offset order,
    /// waiting until some are available. Partitions are served in turn. Rebalances happen
    /// here: `on_revoked` runs (and the partitions are released) and `on_assigned` runs before
    /// any record of a newly assigned partition is returned. Waiting wakes on new records or a
    /// rebalance, never by polling. Cancel-safe: dropping the future loses no record.
    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>>;

    /// The next record: [`Consumer::poll`] with `max = 1` (records are still fetched ahead).
    fn next(&mut self) -> BoxFuture<'_, Result<StoredRecord, BusError>>;

    /// The partitions this consumer owns now.
    fn assignment(&self) -> Vec<TopicPartition>;

    /// The offset of the next record this consumer will return from `partition`, if owned.
    fn position(&self, partition: &TopicPartition) -> Option<u64>;

    /// Moves an owned partition's position. Error: [`BusError::NotAssigned`].
    fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), BusError>;

    /// Moves an owned partition's position to the first record at or after `timestamp` (the
    /// end if there is none yet) and returns that offset.
    fn seek_to_timestamp(
        &mut self,
        partition: &TopicPartition,
        timestamp: Timestamp,
    ) -> BoxFuture<'_, Result<u64, BusError>>;

    /// Commits offsets (each the next offset to read) durably for the group. Every partition
    /// must be owned by this consumer now ([`BusError::NotAssigned`] otherwise: this fences a
    /// member whose partition moved away from overwriting its new owner's progress).
    fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, u64)>,
    ) -> BoxFuture<'_, Result<(), BusError>>;

    /// Commits the current position of every owned partition.
    fn commit_consumed(&mut self) -> BoxFuture<'_, Result<(), BusError>>;

    /// Calls `on_revoked` for the owned partitions, then leaves the group.
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), BusError>>;
}

/// Reads one partition from a position, waiting for new records (made by [`Bus::reader`]).
pub trait PartitionReader: Send + fmt::Debug {
    /// The partition read.
    fn partition(&self) -> &TopicPartition;

    /// Up to `max` records (at least one) from the position, waiting until some exist.
    /// Cancel-safe.
    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>>;

    /// The next record, waiting until it exists. Cancel-safe.
    fn next(&mut self) -> BoxFuture<'_, Result<StoredRecord, BusError>>;

    /// Up to `max` records available now; empty at the end.
    fn try_next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError>;

    /// The offset of the next record to be returned.
    fn position(&self) -> u64;

    /// Moves the position.
    fn seek(&mut self, offset: u64);

    /// Moves to the first record at or after `timestamp` (the end if there is none yet) and
    /// returns that offset.
    fn seek_to_timestamp(&mut self, timestamp: Timestamp) -> BoxFuture<'_, Result<u64, BusError>>;
}

/// Hears about partitions assigned to and revoked from a group member — where the runtime
/// activates and deactivates what lives on a partition (DESIGN.md §4).
///
/// Both run synchronously on the consumer's own task, inside [`Consumer::poll`] /
/// [`Consumer::next`], like Kafka's rebalance listener runs inside `poll`. A revoked partition
/// is handed to another member only after `on_revoked` has returned; commit what you have
/// processed *before* calling `poll` again. Work that must be async belongs in the caller's
/// event loop: send it a message from the callback.
pub trait RebalanceListener: Send + Sync {
    /// Partitions now owned by this member, each with the position it will read from (the
    /// committed offset, or the reset policy's). The callback may change positions with
    /// [`Assignment::seek`] before any record is returned.
    fn on_assigned(&self, assignment: &mut Assignment) {
        let _ = assignment;
    }

    /// Partitions taken from this member. Records of them are no longer returned.
    fn on_revoked(&self, partitions: &[TopicPartition]) {
        let _ = partitions;
    }
}

/// A listener that does nothing (for consumers that do not care about assignment).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopListener;

impl RebalanceListener for NoopListener {}

/// Newly assigned partitions with their start positions, given to
/// [`RebalanceListener::on_assigned`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub(crate) positions: Vec<(TopicPartition, u64)>,
}

impl Assignment {
    /// An assignment of `positions` (for implementations, and for testing listeners).
    pub fn new(positions: Vec<(TopicPartition, u64)>) -> Assignment {
        Assignment { positions }
    }

    /// The partitions with their start positions, after any `seek`.
    pub fn into_positions(self) -> Vec<(TopicPartition, u64)> {
        self.positions
    }

    /// The newly assigned partitions.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.positions.iter().map(|(tp, _)| tp)
    }

    /// Where reading `partition` will start, if it is in this assignment.
    pub fn position(&self, partition: &TopicPartition) -> Option<u64> {
        self.positions
            .iter()
            .find(|(tp, _)| tp == partition)
            .map(|(_, o)| *o)
    }

    /// Starts `partition` at `offset` instead (e.g. just after the offset recorded in a
    /// snapshot). Returns `false` (and changes nothing) if it is not in this assignment.
    pub fn seek(&mut self, partition: &TopicPartition, offset: u64) -> bool {
        match self.positions.iter_mut().find(|(tp, _)| tp == partition) {
            Some((_, o)) => {
                *o = offset;
                true
            }
            None => false,
        }
    }
}

/// The future of [`Bus::send`]: resolves with where the record was stored once it is durable.
/// The record was enqueued when `send` returned; dropping this future does not cancel it.
#[must_use = "the delivery reports where the record went, or why it failed"]
pub struct DeliveryFuture {
    inner: DeliveryInner,
}

enum DeliveryInner {
    Ready(Option<Result<Delivery, BusError>>),
    Pending {
        partition: u32,
        base: BoxFuture<'static, Result<u64, BusError>>,
    },
    Delivery(BoxFuture<'static, Result<Delivery, BusError>>),
}

impl DeliveryFuture {
    /// A delivery already known (e.g. a routing error, or an in-memory append).
    pub fn ready(result: Result<Delivery, BusError>) -> DeliveryFuture {
        DeliveryFuture {
            inner: DeliveryInner::Ready(Some(result)),
        }
    }

    /// A delivery whose partition and offset are both known only later (e.g. when a broker
    /// reports them).
    pub fn from_future(delivery: BoxFuture<'static, Result<Delivery, BusError>>) -> DeliveryFuture {
        DeliveryFuture {
            inner: DeliveryInner::Delivery(delivery),
        }
    }

    /// A delivery to `partition` whose offset `offset` will resolve to.
    pub fn pending(
        partition: u32,
        offset: BoxFuture<'static, Result<u64, BusError>>,
    ) -> DeliveryFuture {
        DeliveryFuture {
            inner: DeliveryInner::Pending {
                partition,
                base: offset,
            },
        }
    }
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            DeliveryInner::Ready(r) => f.debug_tuple("DeliveryFuture::Ready").field(r).finish(),
            DeliveryInner::Pending { partition, .. } => f
                .debug_struct("DeliveryFuture::Pending")
                .field("partition", partition)
                .finish_non_exhaustive(),
            DeliveryInner::Delivery(_) => f
                .debug_struct("DeliveryFuture::Delivery")
                .finish_non_exhaustive(),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<Delivery, BusError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.inner {
            DeliveryInner::Ready(r) => match r.take() {
                Some(r) => Poll::Ready(r),
                None => Poll::Ready(Err(BusError::Closed)),
            },
            DeliveryInner::Pending { partition, base } => base.as_mut().poll(cx).map(|r| {
                r.map(|offset| Delivery {
                    partition: *partition,
                    offset,
                })
            }),
            DeliveryInner::Delivery(f) => f.as_mut().poll(cx),
        }
    }
}
