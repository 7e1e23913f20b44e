//! [`Follower`]: a reader that follows a growing partition. It waits on the partition's
//! `tokio::sync::watch` of its visible end offset, so it wakes exactly when an append becomes
//! visible — no polling. (A read-only log opened while another process writes cannot be
//! notified across processes: there the follower checks the files every
//! [`Follower::READ_ONLY_POLL_INTERVAL`].)

use std::sync::Arc;
use std::time::Duration;

use twinlog_core::StoredRecord;

use crate::error::LogError;
use crate::log::Log;

/// Follows one partition from an offset. Made by [`Log::subscribe`].
#[derive(Debug)]
pub struct Follower {
    pub(crate) log: Log,
    pub(crate) topic: Arc<str>,
    pub(crate) partition: u32,
    pub(crate) position: u64,
}

impl Follower {
    /// How often a follower of a read-only log looks for records appended by another process.
    pub const READ_ONLY_POLL_INTERVAL: Duration = Duration::from_millis(100);

    /// The next records from the current position (at most `max_records`, at least one),
    /// waiting until some are visible. Advances the position past them. Cancel-safe: dropping
    /// the future loses nothing.
    pub async fn next_batch(&mut self, max_records: usize) -> Result<Vec<StoredRecord>, LogError> {
        let _ = max_records;
        todo!()
    }

    /// The next record, waiting until one is visible.
    pub async fn next(&mut self) -> Result<StoredRecord, LogError> {
        todo!()
    }

    /// The records visible now (at most `max_records`), without waiting; empty at the end.
    pub fn try_next_batch(&mut self, max_records: usize) -> Result<Vec<StoredRecord>, LogError> {
        let _ = max_records;
        todo!()
    }

    /// The offset of the next record to be returned.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Moves to `offset` (the next call returns records from there).
    pub fn seek(&mut self, offset: u64) {
        self.position = offset;
    }

    /// The topic followed.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition followed.
    pub fn partition(&self) -> u32 {
        self.partition
    }
}
