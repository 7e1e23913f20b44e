//! [`RecoveryReport`]: what opening a data dir found and repaired — torn tails truncated,
//! indexes rebuilt, corrupt regions left in place (and refused on read). Each event is also
//! logged with `tracing` at warn level when it happens.

use std::path::PathBuf;

/// One thing recovery did or found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryEvent {
    /// The last segment ended in an incomplete or invalid batch with nothing valid after it
    /// (a write interrupted by a crash); the file was truncated to the last valid batch.
    TruncatedTornTail {
        /// The segment file.
        segment: PathBuf,
        /// The new length of the file (where the torn batch began).
        position: u64,
        /// How many bytes were removed.
        bytes_removed: u64,
    },
    /// A segment's index file was missing or failed validation and was rebuilt by scanning it.
    RebuiltIndex {
        /// The index file (`.index` or `.timeindex`).
        index: PathBuf,
        /// Why it was rebuilt.
        reason: String,
    },
    /// Bytes in the middle of a segment failed their checks but valid batches follow them.
    /// They were left in place (not truncated: that would drop the good records after them);
    /// reads of the offsets inside fail with [`crate::LogError::Corrupt`].
    CorruptRegion {
        /// The segment file.
        segment: PathBuf,
        /// Where the damage begins.
        position: u64,
        /// How many bytes are damaged.
        len: u64,
        /// The first offset that is unreadable.
        first_offset: u64,
        /// The offset at which valid records resume.
        next_offset: u64,
    },
    /// A leftover temporary file of an interrupted compaction was removed.
    RemovedTempFile {
        /// The file removed.
        path: PathBuf,
    },
}

/// Everything recovery did when the log was opened. Empty after a clean shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The events, in the order they happened.
    pub events: Vec<RecoveryEvent>,
}

impl RecoveryReport {
    /// True if recovery had nothing to repair.
    pub fn is_clean(&self) -> bool {
        self.events.is_empty()
    }
}
