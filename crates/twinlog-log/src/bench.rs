//! The `twinlog bench log` measurement: this disk's sequential fsync'd write bandwidth, then
//! pipelined appends of N records (ack latency per append), then reading them all back.
//! Runs in a fresh directory under the given dir and removes it afterwards.

use std::path::PathBuf;

use crate::error::LogError;
use crate::options::FsyncPolicy;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// A directory on the disk to measure; the bench works in a fresh subdirectory of it.
    pub dir: PathBuf,
    /// Records to append (spread round-robin over the partitions).
    pub records: u64,
    /// Value size of each record in bytes (the key is the record number, 8 bytes, counted in).
    pub record_size: usize,
    /// Partitions of the bench topic.
    pub partitions: u32,
    /// The fsync policy to append under.
    pub fsync: FsyncPolicy,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            dir: PathBuf::from("."),
            records: 1_000_000,
            record_size: 100,
            partitions: 1,
            fsync: FsyncPolicy::Interval(std::time::Duration::from_millis(5)),
        }
    }
}

/// Which part of the bench is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BenchPhase {
    /// Measuring the disk's sequential fsync'd write bandwidth (`done`/`total` in bytes).
    Disk,
    /// Appending (`done`/`total` in records acknowledged).
    Append,
    /// Reading back (`done`/`total` in records).
    Read,
}

/// Progress, reported every few thousand records (for a progress bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchProgress {
    /// The phase.
    pub phase: BenchPhase,
    /// Units done in this phase.
    pub done: u64,
    /// Units in this phase.
    pub total: u64,
}

/// The figures.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Records appended and read.
    pub records: u64,
    /// Value size in bytes.
    pub record_size: usize,
    /// Partitions.
    pub partitions: u32,
    /// The fsync policy.
    pub fsync: FsyncPolicy,
    /// Appended records per second (first append to last ack).
    pub append_records_per_s: f64,
    /// Appended MB/s (10^6 bytes of key + value per second).
    pub append_mb_per_s: f64,
    /// Median append-ack latency (µs) of one append call (one batch).
    pub append_p50_us: u64,
    /// 99th-percentile append-ack latency (µs).
    pub append_p99_us: u64,
    /// Records read back per second.
    pub read_records_per_s: f64,
    /// MB/s read back (key + value).
    pub read_mb_per_s: f64,
    /// Bytes on disk after appending (segments + indexes).
    pub bytes_on_disk: u64,
    /// The disk's sequential fsync'd write bandwidth in MB/s, measured just before.
    pub disk_mb_per_s: f64,
    /// Log bytes written per second during the append phase / `disk_mb_per_s`.
    pub disk_fraction: f64,
}

/// Runs the bench. Blocking: it runs its own runtime on its own thread, so it can be called
/// from inside or outside a tokio runtime (inside one, prefer `spawn_blocking`).
pub fn run(
    config: BenchConfig,
    progress: impl FnMut(BenchProgress) + Send,
) -> Result<BenchReport, LogError> {
    let _ = (config, progress);
    todo!()
}
