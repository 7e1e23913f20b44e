//! [`LogError`]: every way a log operation fails, with the fields a caller needs to act and a
//! message that names the thing to fix.

use std::io;
use std::path::PathBuf;

use twinlog_core::InvalidTopicName;

/// An error from the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O operation failed.
    #[error("I/O error while {op} {path}: {source}")]
    Io {
        /// What was being done ("writing", "opening", "syncing", …).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The disk (or quota) is full. The log is poisoned: it refuses further appends until it
    /// is reopened; acknowledged records stay readable.
    #[error("disk full while writing {path}; free some space and reopen the data dir")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// The underlying error (ENOSPC or EDQUOT).
        #[source]
        source: io::Error,
    },
    /// Another process holds the data dir for writing.
    #[error(
        "data dir {path} is in use by another writer ({holder}); stop it, or use a read-only command"
    )]
    Locked {
        /// The data dir.
        path: PathBuf,
        /// Who holds it, as written in its lock file (`pid 1234 on host`), or "unknown".
        holder: String,
    },
    /// The data dir cannot be used (not a directory, unreadable, from a newer version…).
    #[error("cannot use data dir {path}: {reason}")]
    InvalidDataDir {
        /// The data dir.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The data dir (or a segment) was written in a format version this build does not read.
    #[error(
        "{path} uses log format version {found}, this build reads version {supported}; use a newer twinlog"
    )]
    UnsupportedFormat {
        /// The file concerned.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The topic name breaks the naming rules.
    #[error(transparent)]
    InvalidTopicName(#[from] InvalidTopicName),
    /// No topic of that name exists.
    #[error("unknown topic {topic:?}; create it first (`twinlog topic create {topic}`)")]
    UnknownTopic {
        /// The name asked for.
        topic: String,
    },
    /// The topic exists but has no such partition.
    #[error(
        "topic {topic:?} has {partitions} partition(s) (0..{partitions}); there is no partition {partition}"
    )]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A topic of that name already exists.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// A configuration value is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The option (`partitions`, `segment_bytes`, …).
        field: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A record is larger than `max_record_bytes`. Nothing of its batch was written.
    #[error(
        "record {index} of the batch is {size} bytes (key + value + headers); the maximum is {max} bytes (`max_record_bytes`)"
    )]
    RecordTooLarge {
        /// Its position in the appended batch (0-based).
        index: usize,
        /// Its payload size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The records of one append together exceed the largest batch the format allows.
    /// Nothing was written; split the append.
    #[error("the append is {size} bytes; one append may carry at most {max} bytes, split it")]
    BatchTooLarge {
        /// The batch's approximate encoded size.
        size: usize,
        /// The limit ([`crate::format::MAX_BATCH_LEN`]).
        max: usize,
    },
    /// An earlier write or fsync failed, so the log refuses appends until it is reopened
    /// rather than risk a hole in a partition.
    #[error("the log refuses writes until it is reopened, since an earlier write failed: {cause}")]
    Poisoned {
        /// The first failure, as text.
        cause: String,
        /// Whether that failure was a full disk ([`LogError::DiskFull`]).
        disk_full: bool,
    },
    /// The log was opened read-only.
    #[error(
        "the data dir {path} is open read-only; appends, retention and compaction need the writer"
    )]
    ReadOnly {
        /// The data dir.
        path: PathBuf,
    },
    /// A stored batch failed its checks (CRC, length, magic). It is never served.
    #[error(
        "corrupt batch in segment {segment} at byte {position} (offset {offset}): {reason}{}",
        next_readable.map(|o| format!("; records resume at offset {o}")).unwrap_or_default()
    )]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// The byte position of the bad batch in the segment.
        position: u64,
        /// The first offset that could not be read.
        offset: u64,
        /// The next offset that can be read after the damage, if any was found.
        next_readable: Option<u64>,
        /// What check failed.
        reason: String,
    },
    /// The log was closed while the append was queued.
    #[error("the log was closed before the append completed")]
    Closed,
}

impl LogError {
    /// Builds [`LogError::Io`], or [`LogError::DiskFull`] for ENOSPC / EDQUOT.
    #[cold]
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> LogError {
        let path = path.into();
        if is_disk_full(&source) {
            LogError::DiskFull { path, source }
        } else {
            LogError::Io { op, path, source }
        }
    }
}

/// Whether `e` means "no space left" (ENOSPC = 28, EDQUOT = 122 on Linux).
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28) | Some(122))
}
