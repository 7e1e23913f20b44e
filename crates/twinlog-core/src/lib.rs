//! Twinlog's shared vocabulary: the types every other crate speaks, with no I/O and no async
//! runtime, so that the language, the log, the bus and the edges agree on one definition.
//!
//! Module map:
//! - [`time`]: [`Timestamp`] (UTC microseconds) and the injected [`Clock`] ([`SystemClock`], [`TestClock`]).
//! - [`record`]: [`Record`], [`Header`] and [`StoredRecord`], what the log stores and returns.
//! - [`topic`]: [`TopicName`] and its validation rules.
//! - [`partition`]: [`partition_for_key`], the stable key → partition routing.

pub mod partition;
pub mod record;
pub mod time;
pub mod topic;

pub use partition::{murmur2, partition_for_key};
pub use record::{Header, Record, StoredRecord};
pub use time::{Clock, SystemClock, TestClock, Timestamp};
pub use topic::{InvalidTopicName, TopicName};
