//! Twinlog's message bus: one async trait with Kafka semantics that the module runtime and the
//! twins use, whichever implementation runs underneath (DESIGN.md §4).
//!
//! What every implementation guarantees (and [`conformance`] checks):
//! - **Topics** have N partitions, fixed at creation; offsets are dense per partition.
//! - **Producer**: [`Bus::send`] routes a record (explicit partition, else Kafka's murmur2 of
//!   its key via [`twinlog_core::partition_for_key`] — one key, one partition, stable across
//!   restarts and implementations — else round-robin), enqueues it at once, and resolves with
//!   its (partition, offset) once durable. Sends are pipelined: records sent in a row to one
//!   partition get increasing offsets however their futures are awaited. (The embedded bus
//!   also coalesces single sends into batches; see `docs/BUS.md`.)
//! - **Consumer groups**: [`Bus::subscribe`] joins a group; the group's partitions are split
//!   between its members and rebalanced when members join or leave, with
//!   [`RebalanceListener`] callbacks (assigned / revoked) run inside the member's
//!   [`Consumer::poll`]. A partition has at most one owner at a time: it moves only after its
//!   old owner's `on_revoked` returned. Committed offsets (the next offset to read) are fenced
//!   (only the owner may commit) and survive a restart of a durable bus.
//! - **Replay**: [`PartitionReader`]s and [`Consumer::seek`] / `seek_to_timestamp` read from
//!   any offset or time; waiting for new records never polls.
//!
//! **Why boxed futures and trait objects.** The runtime picks the bus at start-up
//! (`--bus memory|embedded|kafka://…`) and holds an `Arc<dyn Bus>`; `async fn` in traits is
//! not object safe, so async methods return [`BoxFuture`]. One allocation per call is noise
//! next to an fsync or a network round trip, and the per-record path avoids it where it
//! matters ([`DeliveryFuture`], batched polls). An enum over the implementations would force
//! every caller to be recompiled (and to know the Kafka types) when one is added; a trait
//! keeps `kafka` an additive feature.
//!
//! **Groups run in-process.** Kafka's group coordinator lives in its broker; the memory and
//! embedded buses own their data in one process, so their coordinator (module `group`) is a table
//! in memory and a rebalance is cooperative and immediate. Members of one group in different
//! processes need the Kafka bus.
//!
//! Module map:
//! - [`api`]: the traits [`Bus`], [`Consumer`], [`PartitionReader`], [`RebalanceListener`],
//!   and [`DeliveryFuture`].
//! - [`types`]: the plain data those traits speak ([`TopicPartition`], [`GroupId`],
//!   [`TopicSpec`], [`ProducerRecord`], [`Delivery`], [`StartAt`], [`ConsumerOptions`]…).
//! - [`error`]: [`BusError`], one error enum for every implementation.
//! - `engine`: routing, the group consumer, the reader and committed offsets, written once
//!   over a storage trait that both implementations provide.
//! - `group`: the in-process group coordinator (membership, assignment, hand-over).
//! - [`memory`]: [`MemoryBus`], for tests and simulation (no durability).
//! - [`embedded`]: [`EmbeddedBus`], on the durable embedded log; offsets in `__consumer_offsets`.
//! - `kafka` (feature `kafka`): `KafkaBus`, on a Kafka cluster through librdkafka.
//! - [`conformance`]: the behaviour every bus must show, as async checks run against each
//!   implementation by `tests/bus.rs` (and, later, by the Kafka implementation's tests).

pub mod api;
pub mod conformance;
pub mod embedded;
mod engine;
pub mod error;
mod group;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;
pub mod types;

pub use api::{
    Assignment, BoxFuture, Bus, Consumer, DeliveryFuture, NoopListener, PartitionReader,
    RebalanceListener,
};
pub use embedded::EmbeddedBus;
pub use error::BusError;
#[cfg(feature = "kafka")]
pub use kafka::{KafkaBus, KafkaOptions};
pub use memory::MemoryBus;
pub use types::{
    ConsumerOptions, Delivery, GroupId, OffsetReset, PartitionInfo, ProducerRecord, StartAt,
    TopicDescription, TopicPartition, TopicSpec,
};
