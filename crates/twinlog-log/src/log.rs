//! [`Log`]: the entry point. Opens (and locks) a data dir, recovers it, owns its topics and
//! their partitions, and offers append, read, follow, retention and compaction.
//!
//! Data dir layout (see `docs/LOG_FORMAT.md`):
//! ```text
//! <dir>/FORMAT                      "twinlog-log 1": the format version of the whole dir
//! <dir>/LOCK                        flock()ed by the writer; holds "pid <pid> on <host>"
//! <dir>/topics/<topic>/topic.conf   the TopicConfig, key = value lines
//! <dir>/topics/<topic>/<p>/         one directory per partition:
//!     00000000000000000000.log        segments named by their base offset (20 digits)
//!     00000000000000000000.index      sparse offset index of that segment
//!     00000000000000000000.timeindex  time index of that segment
//! ```

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use twinlog_core::{Record, StoredRecord, Timestamp};

use crate::error::LogError;
use crate::follower::Follower;
use crate::options::{LogOptions, TopicConfig};
use crate::recovery::RecoveryReport;

/// What an append returns once it meets the fsync policy: where its records went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// The partition written.
    pub partition: u32,
    /// The offset of the first record; the others follow densely.
    pub base_offset: u64,
    /// How many records were appended.
    pub count: u32,
}

impl AppendAck {
    /// The offset of the last record (`base_offset` for a one-record batch). For an empty
    /// append (`count == 0`) this is `base_offset - 1` saturated, i.e. meaningless.
    pub fn last_offset(&self) -> u64 {
        (self.base_offset + u64::from(self.count)).saturating_sub(1)
    }
}

/// One partition as [`Log::describe`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition number.
    pub partition: u32,
    /// The first offset still stored (retention moves it forward).
    pub start_offset: u64,
    /// The offset the next record will get (= one past the last visible record).
    pub end_offset: u64,
    /// Bytes on disk: segments and their indexes.
    pub size_bytes: u64,
    /// Number of segment files.
    pub segments: usize,
}

/// A topic as [`Log::describe`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Its name.
    pub name: String,
    /// Its configuration.
    pub config: TopicConfig,
    /// Its partitions, in order.
    pub partitions: Vec<PartitionDescription>,
}

/// What [`Log::enforce_retention`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes freed (segments and indexes).
    pub bytes_deleted: u64,
}

/// What [`Log::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Segments rewritten.
    pub segments_rewritten: usize,
    /// Records dropped (superseded by a later record of the same key, or expired tombstones).
    pub records_removed: u64,
    /// Bytes before and after, for the rewritten segments.
    pub bytes_before: u64,
    /// See `bytes_before`.
    pub bytes_after: u64,
}

/// An open data dir. Cheap to clone (an `Arc`); the writer threads stop, after finishing
/// every queued append, and the lock is released when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Log {
    pub(crate) inner: Arc<()>,
}

impl Log {
    /// Opens `dir` for writing (creating it if needed), taking its exclusive lock, and
    /// recovers every partition (see [`RecoveryReport`]).
    ///
    /// Errors: [`LogError::Locked`] naming the holder if another process writes it;
    /// [`LogError::InvalidDataDir`] / [`LogError::Io`] if it cannot be used.
    pub fn open(dir: impl AsRef<Path>, options: LogOptions) -> Result<Log, LogError> {
        let _ = (dir, options);
        todo!()
    }

    /// Opens `dir` for reading only, without the lock, so it works while another process
    /// writes. It sees complete, CRC-valid batches that were on disk when it opened or when
    /// [`Log::refresh`] last ran (these may include records the writer has written but not
    /// yet acknowledged). It never modifies the dir: a torn tail is skipped, not truncated.
    pub fn open_read_only(dir: impl AsRef<Path>) -> Result<Log, LogError> {
        let _ = dir;
        todo!()
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        todo!()
    }

    /// Whether this handle was opened with [`Log::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        todo!()
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &LogOptions {
        todo!()
    }

    /// What recovery found and repaired when the log was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        todo!()
    }

    /// Creates a topic. Errors: [`LogError::InvalidTopicName`], [`LogError::TopicExists`],
    /// [`LogError::InvalidConfig`] (e.g. 0 partitions), [`LogError::ReadOnly`].
    pub fn create_topic(&self, name: &str, config: TopicConfig) -> Result<(), LogError> {
        let _ = (name, config);
        todo!()
    }

    /// The names of all topics, sorted.
    pub fn topics(&self) -> Vec<String> {
        todo!()
    }

    /// A topic's configuration. Error: [`LogError::UnknownTopic`].
    pub fn topic_config(&self, topic: &str) -> Result<TopicConfig, LogError> {
        let _ = topic;
        todo!()
    }

    /// A topic's number of partitions. Error: [`LogError::UnknownTopic`].
    pub fn partition_count(&self, topic: &str) -> Result<u32, LogError> {
        let _ = topic;
        todo!()
    }

    /// A topic's configuration and, per partition, start/end offsets and size on disk.
    pub fn describe(&self, topic: &str) -> Result<TopicDescription, LogError> {
        let _ = topic;
        todo!()
    }

    /// Appends `records` to one partition, as one batch with dense offsets.
    ///
    /// The append is queued when this function is called (not when the future is first
    /// polled), so appends to a partition get offsets in call order, and callers can keep many
    /// in flight (pipelining) before awaiting any. The future resolves once the batch meets
    /// the [`crate::FsyncPolicy`]; records become visible to readers at the same moment.
    /// Works without a tokio runtime (the future only waits on a oneshot channel).
    ///
    /// Errors (through the future): [`LogError::RecordTooLarge`] (nothing written),
    /// [`LogError::UnknownTopic`], [`LogError::UnknownPartition`], [`LogError::ReadOnly`],
    /// [`LogError::Poisoned`], or the I/O error ([`LogError::DiskFull`], [`LogError::Io`]) of
    /// the failed write or fsync that poisoned the log. An empty `records` resolves at once
    /// with `count: 0` and `base_offset` = the current end offset.
    pub fn append(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<Record>,
    ) -> impl Future<Output = Result<AppendAck, LogError>> + Send + 'static {
        let _ = (topic, partition, records);
        async { todo!() }
    }

    /// Reads up to `max_records` visible records of a partition starting at `from_offset`
    /// (or at the next record after it, if compaction removed it). Reading before the start
    /// offset (records deleted by retention) starts at the start offset; reading at or past
    /// the end returns an empty vector. Cost: a binary search over segments and over the
    /// segment's offset index, then a scan of at most `index_interval_bytes`.
    ///
    /// Errors: [`LogError::Corrupt`] if the first batch to serve is damaged (records before
    /// the damage are returned first; the error names the segment, position and offset and
    /// the offset where records resume).
    pub fn read(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let _ = (topic, partition, from_offset, max_records);
        todo!()
    }

    /// The offset of the first visible record whose timestamp is at or after `timestamp`, or
    /// `None` if there is none (yet). O(log n) via the time index. Timestamps need not be
    /// monotonic: the index stores the running maximum, so the answer is the first record
    /// at or after `timestamp` in offset order.
    pub fn offset_for_timestamp(
        &self,
        topic: &str,
        partition: u32,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, LogError> {
        let _ = (topic, partition, timestamp);
        todo!()
    }

    /// The first offset still stored in the partition.
    pub fn start_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        let _ = (topic, partition);
        todo!()
    }

    /// The offset the next appended record will get; records below it are visible.
    pub fn end_offset(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        let _ = (topic, partition);
        todo!()
    }

    /// A [`Follower`] of a partition starting at `from_offset`.
    pub fn subscribe(
        &self,
        topic: &str,
        partition: u32,
        from_offset: u64,
    ) -> Result<Follower, LogError> {
        let _ = (topic, partition, from_offset);
        todo!()
    }

    /// Applies retention to every topic: deletes whole old segments (never the active one)
    /// while a partition is over `retention_bytes`, and segments whose newest record is older
    /// than `retention_age` (by [`LogOptions::clock`]). Start offsets move forward.
    pub fn enforce_retention(&self) -> Result<RetentionReport, LogError> {
        todo!()
    }

    /// Compacts a topic created with `compacted: true`: rewrites its sealed segments keeping
    /// only the latest record per key (the active segment is left alone; a record in it still
    /// supersedes older ones). Tombstones survive until older than `tombstone_retention`.
    /// Records without a key are kept. Offsets are preserved (gaps appear).
    pub fn compact(&self, topic: &str) -> Result<CompactionReport, LogError> {
        let _ = topic;
        todo!()
    }

    /// Read-only handle: rescans the data dir for new topics, segments and records written
    /// by the writer process. A no-op for the writer.
    pub fn refresh(&self) -> Result<(), LogError> {
        todo!()
    }
}
