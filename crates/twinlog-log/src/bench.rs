//! The `twinlog bench log` measurement: this disk's sequential fsync'd write bandwidth, then
//! pipelined appends of N records (ack latency per append), then reading them all back.
//! Runs in a fresh directory under the given dir and removes it afterwards.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use twinlog_core::{Record, Timestamp};

use crate::error::LogError;
use crate::log::Log;
use crate::options::{FsyncPolicy, LogOptions, TopicConfig};

/// Bytes written by the disk probe: enough to get past caches in front of the disk for a
/// steady rate, short enough (~0.9 s on a 300 MB/s disk) not to dominate the bench.
const PROBE_BYTES: usize = 256 * 1024 * 1024;
/// The probe writes in 1 MiB chunks, about the size of one group commit at full speed.
const PROBE_CHUNK: usize = 1024 * 1024;
/// Records per append call: large enough to amortise the per-append cost, and capped at
/// 1 MiB so huge records do not make one append huge.
const BATCH_RECORDS: usize = 1000;
const BATCH_BYTES: usize = 1024 * 1024;
/// Appends kept in flight (1.5 MiB). By Little's law the ack latency is about in-flight
/// bytes / rate, so this is just enough data to keep the disk busy across one 5 ms fsync
/// interval plus its fsync at ~300 MB/s (measured: 1 MiB caps the rate near 1.9 M
/// records/s, 2 MiB doubles p50 latency for no more throughput).
const IN_FLIGHT_BYTES: usize = 3 * 512 * 1024;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// A directory on the disk to measure; the bench works in a fresh subdirectory of it.
    pub dir: PathBuf,
    /// Records to append (spread round-robin over the partitions).
    pub records: u64,
    /// Value size of each record in bytes (records have no key and no headers).
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
    /// Appended MB/s (10^6 bytes of values per second).
    pub append_mb_per_s: f64,
    /// Median append-ack latency (µs) of one append call (one batch).
    pub append_p50_us: u64,
    /// 99th-percentile append-ack latency (µs).
    pub append_p99_us: u64,
    /// Records read back per second.
    pub read_records_per_s: f64,
    /// MB/s read back (values).
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
    if config.records == 0 || config.partitions == 0 {
        return Err(LogError::InvalidConfig {
            field: "records",
            reason: "the bench needs at least one record and one partition".into(),
        });
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let work = config
        .dir
        .join(format!("twinlog-bench-{}-{stamp}", std::process::id()));
    fs::create_dir_all(&work).map_err(|e| LogError::io("creating", &work, e))?;
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LogError::io("starting a runtime for", &work, e))?;
            rt.block_on(run_in(&config, &work, progress))
        })
        .join()
        .unwrap_or(Err(LogError::Closed))
    });
    let _ = fs::remove_dir_all(&work);
    result
}

/// Sequential fsync'd write bandwidth in bytes/s: one thread writes 1 MiB chunks while
/// another fsyncs as `policy` says (back to back for `always`, every interval, or only at
/// the end for `never`) — the same overlap of writing and syncing the log uses, so the
/// fraction compares like with like.
fn probe_disk(
    dir: &Path,
    policy: FsyncPolicy,
    progress: &mut impl FnMut(BenchProgress),
) -> Result<f64, LogError> {
    let path = dir.join("disk-probe.tmp");
    let chunk = vec![0x5au8; PROBE_CHUNK];
    let mut f = File::create(&path).map_err(|e| LogError::io("creating", &path, e))?;
    let sync_handle = f
        .try_clone()
        .map_err(|e| LogError::io("opening", &path, e))?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let start = Instant::now();
    let synced = std::thread::scope(|s| {
        let syncer = s.spawn(|| -> std::io::Result<()> {
            let file = &sync_handle;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                match policy {
                    FsyncPolicy::Always => file.sync_data()?,
                    FsyncPolicy::Interval(d) => {
                        std::thread::sleep(d);
                        file.sync_data()?;
                    }
                    FsyncPolicy::Never => std::thread::sleep(std::time::Duration::from_millis(1)),
                }
            }
            Ok(())
        });
        let mut written = Ok(());
        for i in 0..PROBE_BYTES / PROBE_CHUNK {
            if let Err(e) = f.write_all(&chunk) {
                written = Err(e);
                break;
            }
            if i % 16 == 0 {
                progress(BenchProgress {
                    phase: BenchPhase::Disk,
                    done: (i * PROBE_CHUNK) as u64,
                    total: PROBE_BYTES as u64,
                });
            }
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        let synced = syncer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the probe's syncer panicked")));
        written.and(synced)
    });
    synced
        .and_then(|()| f.sync_data())
        .map_err(|e| LogError::io("writing", &path, e))?;
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    let _ = fs::remove_file(&path);
    Ok(PROBE_BYTES as f64 / secs)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run_in(
    config: &BenchConfig,
    work: &Path,
    mut progress: impl FnMut(BenchProgress),
) -> Result<BenchReport, LogError> {
    let disk_bytes_per_s = probe_disk(work, config.fsync, &mut progress)?;

    let log = Log::open(
        work.join("log"),
        LogOptions {
            fsync: config.fsync,
            ..LogOptions::default()
        },
    )?;
    let topic = "bench";
    log.create_topic(
        topic,
        TopicConfig {
            partitions: config.partitions,
            ..TopicConfig::default()
        },
    )?;
    let per_batch = (BATCH_BYTES / config.record_size.max(1)).clamp(1, BATCH_RECORDS);
    let window = (IN_FLIGHT_BYTES / (per_batch * config.record_size.max(1))).max(4);
    // One shared buffer; every record's value is a slice of it (no per-record allocation).
    let payload = Bytes::from(vec![0x61u8; config.record_size]);
    let total = config.records;

    let mut latencies: Vec<u64> = Vec::with_capacity((total as usize / per_batch) + 1);
    let mut in_flight = VecDeque::with_capacity(window + 1);
    let mut acked = 0u64;
    let mut sent = 0u64;
    let mut next_partition = 0u32;
    let start = Instant::now();
    while sent < total || !in_flight.is_empty() {
        if sent < total && in_flight.len() < window {
            let n = (per_batch as u64).min(total - sent) as usize;
            let ts = Timestamp::now();
            let records: Vec<Record> = (0..n).map(|_| Record::new(ts, payload.clone())).collect();
            let t0 = Instant::now();
            let fut = log.append(topic, next_partition, records);
            let handle = tokio::spawn(async move {
                let ack = fut.await;
                (ack, t0.elapsed())
            });
            in_flight.push_back(handle);
            next_partition = (next_partition + 1) % config.partitions;
            sent += n as u64;
            continue;
        }
        let handle = in_flight.pop_front().expect("in-flight appends");
        let (ack, latency) = handle.await.map_err(|_| LogError::Closed)?;
        let ack = ack?;
        latencies.push(latency.as_micros() as u64);
        acked += u64::from(ack.count);
        if latencies.len().is_multiple_of(64) {
            progress(BenchProgress {
                phase: BenchPhase::Append,
                done: acked,
                total,
            });
        }
    }
    let append_secs = start.elapsed().as_secs_f64();
    progress(BenchProgress {
        phase: BenchPhase::Append,
        done: acked,
        total,
    });
    let described = log.describe(topic)?;
    let bytes_on_disk: u64 = described.partitions.iter().map(|p| p.size_bytes).sum();

    let start = Instant::now();
    let mut read = 0u64;
    let mut value_bytes = 0u64;
    for p in 0..config.partitions {
        let mut from = 0;
        loop {
            let batch = log.read(topic, p, from, 10_000)?;
            let Some(last) = batch.last() else { break };
            from = last.offset + 1;
            read += batch.len() as u64;
            value_bytes += batch
                .iter()
                .map(|r| r.record.value.as_ref().map_or(0, |v| v.len()) as u64)
                .sum::<u64>();
            if read % 100_000 < 10_000 {
                progress(BenchProgress {
                    phase: BenchPhase::Read,
                    done: read,
                    total,
                });
            }
        }
    }
    let read_secs = start.elapsed().as_secs_f64().max(1e-9);
    progress(BenchProgress {
        phase: BenchPhase::Read,
        done: read,
        total,
    });
    if read != total {
        return Err(LogError::InvalidDataDir {
            path: work.to_owned(),
            reason: format!("the bench read back {read} records but appended {total}"),
        });
    }
    drop(log);

    latencies.sort_unstable();
    let mb = (total as f64) * (config.record_size as f64) / 1e6;
    let disk_mb_per_s = disk_bytes_per_s / 1e6;
    let log_mb_per_s = bytes_on_disk as f64 / 1e6 / append_secs;
    Ok(BenchReport {
        records: total,
        record_size: config.record_size,
        partitions: config.partitions,
        fsync: config.fsync,
        append_records_per_s: total as f64 / append_secs,
        append_mb_per_s: mb / append_secs,
        append_p50_us: percentile(&latencies, 0.50),
        append_p99_us: percentile(&latencies, 0.99),
        read_records_per_s: read as f64 / read_secs,
        read_mb_per_s: value_bytes as f64 / 1e6 / read_secs,
        bytes_on_disk,
        disk_mb_per_s,
        disk_fraction: log_mb_per_s / disk_mb_per_s,
    })
}
