//! The embedded durable event log: topics of partitions, each an append-only sequence of
//! segment files holding CRC-checked record batches, with sparse offset and time indexes,
//! group commit under a documented fsync policy, crash recovery, retention and compaction.
//! The on-disk format is described in `docs/LOG_FORMAT.md` and on [`format`].
//!
//! Module map:
//! - [`log`]: [`Log`], the entry point: open/lock a data dir, topics, append, read, follow.
//! - [`options`]: [`LogOptions`], [`FsyncPolicy`] and [`TopicConfig`], with their meanings.
//! - [`error`]: [`LogError`], every way an operation can fail, naming what to fix.
//! - [`format`]: the byte layout of record batches (encode, decode, CRC) — the versioned format.
//! - `index`: the sparse offset index and the time index of a segment (files + memory).
//! - `segment`: one segment file: scanning, recovery of a torn tail, reads by position.
//! - `partition`: a partition's segments, its visible end offset and its reads.
//! - `writer`: the group-commit writer and syncer threads of a partition.
//! - [`follower`]: [`Follower`], a reader that waits for new records without polling.
//! - [`recovery`]: [`RecoveryReport`], what opening a data dir found and repaired.
//! - `retention`: deleting old segments and compacting keyed topics.
//! - [`bench`]: the `twinlog bench log` measurement (disk bandwidth, append, read).

pub mod bench;
pub mod error;
pub mod follower;
pub mod format;
mod index;
pub mod log;
pub mod options;
mod partition;
pub mod recovery;
mod retention;
mod segment;
mod writer;

pub use error::LogError;
pub use follower::Follower;
pub use log::{
    AppendAck, CompactionReport, Log, PartitionDescription, RetentionReport, TopicDescription,
};
pub use options::{FsyncPolicy, LogOptions, ParseFsyncPolicyError, TopicConfig};
pub use recovery::{RecoveryEvent, RecoveryReport};
pub use twinlog_core::{Header, Record, StoredRecord, Timestamp};
