//! [`Follower`]: a reader that follows a growing partition. It waits on the partition's
//! `tokio::sync::watch` of its visible end offset, so it wakes exactly when an append becomes
//! visible — no polling. (A read-only log opened while another process writes cannot be
//! notified across processes: there the follower checks the files every
//! [`Follower::READ_ONLY_POLL_INTERVAL`].)

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use twinlog_core::StoredRecord;

use crate::error::LogError;
use crate::log::Log;
use crate::partition::Partition;

/// Follows one partition from an offset. Made by [`Log::subscribe`]. It holds a clone of
/// the [`Log`], so the log stays open while a follower lives.
#[derive(Debug)]
pub struct Follower {
    log: Log,
    part: Arc<Partition>,
    visible: watch::Receiver<u64>,
    position: u64,
}

impl Follower {
    /// How often a follower of a read-only log looks for records appended by another process.
    pub const READ_ONLY_POLL_INTERVAL: Duration = Duration::from_millis(100);

    pub(crate) fn new(log: Log, part: Arc<Partition>, position: u64) -> Follower {
        let visible = part.visible.subscribe();
        Follower {
            log,
            part,
            visible,
            position,
        }
    }

    /// The next records from the current position (at most `max_records`, at least one),
    /// waiting until some are visible. Advances the position past them. Cancel-safe: dropping
    /// the future loses nothing. A read-only log is rescanned every
    /// [`Follower::READ_ONLY_POLL_INTERVAL`] (needs a tokio runtime with the timer enabled).
    pub async fn next_batch(&mut self, max_records: usize) -> Result<Vec<StoredRecord>, LogError> {
        loop {
            let batch = self.try_next_batch(max_records.max(1))?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            if self.log.is_read_only() {
                tokio::time::sleep(Self::READ_ONLY_POLL_INTERVAL).await;
                self.log.refresh_partition(&self.part)?;
                continue;
            }
            let position = self.position;
            let deleted = &self.part.deleted;
            let woken = self
                .visible
                .wait_for(|&end| end > position || deleted.load(Ordering::Acquire))
                .await;
            if woken.is_err() {
                return Err(LogError::Closed);
            }
        }
    }

    /// The next record, waiting until one is visible.
    pub async fn next(&mut self) -> Result<StoredRecord, LogError> {
        let mut batch = self.next_batch(1).await?;
        Ok(batch.pop().expect("next_batch returns at least one record"))
    }

    /// The records visible now (at most `max_records`), without waiting; empty at the end.
    pub fn try_next_batch(&mut self, max_records: usize) -> Result<Vec<StoredRecord>, LogError> {
        let (batch, end) = self.part.read(self.position, max_records)?;
        match batch.last() {
            Some(last) => self.position = last.offset + 1,
            // Nothing below `end` from here on (compaction gaps, or retention moved the
            // start past us): skip to what the read saw as the end.
            None => self.position = self.position.max(end),
        }
        Ok(batch)
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
        &self.part.topic
    }

    /// The partition followed.
    pub fn partition(&self) -> u32 {
        self.part.id
    }
}
