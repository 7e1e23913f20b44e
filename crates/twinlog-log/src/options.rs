//! How a log behaves: [`LogOptions`] for the whole data dir (durability, segment size, limits),
//! [`FsyncPolicy`] (what "acknowledged" means) and [`TopicConfig`] per topic.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use twinlog_core::{Clock, SystemClock};

/// When an append is acknowledged, i.e. when its future resolves `Ok`.
///
/// Appends are always written in groups (group commit): the writer drains everything queued,
/// writes it with one `write(2)` per partition, and a syncer thread makes it durable while
/// the next group is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// The default. An append is acknowledged only after an `fdatasync` that covers it has
    /// returned; concurrent appends share one fsync. Acknowledged records survive a process
    /// crash and a power cut.
    #[default]
    Always,
    /// The partition's file is fsynced at this interval (if anything was written), and appends
    /// are acknowledged at the first fsync that covers them. Acknowledged records survive a
    /// crash and a power cut; the price is up to one interval (plus the fsync) of latency, in
    /// exchange for fewer, larger fsyncs.
    Interval(Duration),
    /// Acknowledged once `write(2)` returned: the records are in the OS page cache. They
    /// survive a process crash, but not a power cut or kernel crash (the OS writes them back
    /// on its own schedule).
    Never,
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::Interval(d) => {
                let micros = d.as_micros();
                if micros % 1_000_000 == 0 {
                    write!(f, "{}s", micros / 1_000_000)
                } else if micros % 1000 == 0 {
                    write!(f, "{}ms", micros / 1000)
                } else {
                    write!(f, "{micros}us")
                }
            }
        }
    }
}

/// A `--fsync` value that is not `always`, `never` or a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fsync policy must be `always`, `never` or an interval like `5ms`, `100ms` or `1s` (units: us, ms, s); got `{input}`"
)]
pub struct ParseFsyncPolicyError {
    /// The rejected text.
    pub input: String,
}

impl FromStr for FsyncPolicy {
    type Err = ParseFsyncPolicyError;

    /// Accepts `always`, `never`, or a positive integer followed by `us`, `ms` or `s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseFsyncPolicyError {
            input: s.to_owned(),
        };
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "always" => return Ok(FsyncPolicy::Always),
            "never" => return Ok(FsyncPolicy::Never),
            _ => {}
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| err())?;
        let d = match unit {
            "us" | "µs" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            _ => return Err(err()),
        };
        if d.is_zero() {
            return Err(err());
        }
        Ok(FsyncPolicy::Interval(d))
    }
}

/// Options for a whole data dir. Build with `LogOptions { fsync: …, ..LogOptions::default() }`.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// What "acknowledged" means; see [`FsyncPolicy`]. Default: [`FsyncPolicy::Always`].
    pub fsync: FsyncPolicy,
    /// A segment is rolled (a new file started) once it reaches this size. Default 128 MiB:
    /// large enough that rolling is rare, small enough that retention frees space in useful
    /// steps and recovery rescans at most this much of the active segment.
    pub segment_bytes: u64,
    /// An offset-index and time-index entry is written every this many bytes of batches.
    /// Default 4 KiB (Kafka's): a read by offset scans at most ~4 KiB after its binary search.
    pub index_interval_bytes: u32,
    /// The largest record (key + value + headers) accepted. Default 1 MiB.
    pub max_record_bytes: usize,
    /// Where "now" comes from for retention by age and tombstone expiry.
    pub clock: Arc<dyn Clock>,
    /// If set, retention and compaction run in a background thread at this interval.
    /// Default `None`: call [`crate::Log::enforce_retention`] / [`crate::Log::compact`].
    pub maintenance_interval: Option<Duration>,
}

impl LogOptions {
    /// 128 MiB; see [`LogOptions::segment_bytes`].
    pub const DEFAULT_SEGMENT_BYTES: u64 = 128 * 1024 * 1024;
    /// 4 KiB; see [`LogOptions::index_interval_bytes`].
    pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
    /// 1 MiB; see [`LogOptions::max_record_bytes`].
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            fsync: FsyncPolicy::Always,
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            index_interval_bytes: Self::DEFAULT_INDEX_INTERVAL_BYTES,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
            clock: Arc::new(SystemClock),
            maintenance_interval: None,
        }
    }
}

/// A topic's configuration, fixed at creation and stored in the data dir.
/// Build with `TopicConfig { partitions: 4, ..TopicConfig::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// Number of partitions (1..=10_000). Default 1.
    pub partitions: u32,
    /// Key-compacted: [`crate::Log::compact`] keeps only the latest record per key.
    pub compacted: bool,
    /// Retention by size: oldest whole segments of a partition are deleted while the
    /// partition is larger than this. The active segment is never deleted.
    pub retention_bytes: Option<u64>,
    /// Retention by age: whole segments whose newest record is older than this are deleted.
    pub retention_age: Option<Duration>,
    /// For compacted topics: how long a tombstone (a record with a key and no value) is kept
    /// after it was written before compaction drops it, so that slow readers still see the
    /// delete. Default 24 h.
    pub tombstone_retention: Duration,
}

impl TopicConfig {
    /// The most partitions a topic may have (each is a directory and a writer thread).
    pub const MAX_PARTITIONS: u32 = 10_000;
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            partitions: 1,
            compacted: false,
            retention_bytes: None,
            retention_age: None,
            tombstone_retention: Duration::from_secs(24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_fsync_policies() {
        let cases = [
            ("always", FsyncPolicy::Always),
            ("never", FsyncPolicy::Never),
            ("5ms", FsyncPolicy::Interval(Duration::from_millis(5))),
            ("100ms", FsyncPolicy::Interval(Duration::from_millis(100))),
            ("1s", FsyncPolicy::Interval(Duration::from_secs(1))),
            ("250us", FsyncPolicy::Interval(Duration::from_micros(250))),
        ];
        for (text, policy) in cases {
            assert_eq!(text.parse::<FsyncPolicy>(), Ok(policy));
            assert_eq!(policy.to_string(), text);
        }
        assert_eq!("ALWAYS".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Always));
    }

    #[test]
    fn rejects_bad_fsync_policies_naming_the_forms() {
        for bad in ["", "5", "ms", "0ms", "5 ms", "5m", "-5ms", "sometimes"] {
            let err = bad.parse::<FsyncPolicy>().unwrap_err();
            assert_eq!(err.input, bad);
            let text = err.to_string();
            assert!(
                text.contains("`always`") && text.contains("`5ms`"),
                "{text}"
            );
        }
    }
}
