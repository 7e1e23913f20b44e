//! Helpers shared by the integration tests: deterministic records, opening logs with small
//! segments, blocking on appends, and walking the batches of a segment file.

use std::future::Future;
use std::path::{Path, PathBuf};

use twinlog_log::format::BatchHeader;
use twinlog_log::{AppendAck, FsyncPolicy, Log, LogOptions, Record, StoredRecord, Timestamp};

/// Runs a future to completion on a fresh current-thread runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Record number `i`: key `k{i % 7}`, value `value-{i}`, timestamp `1_000_000 + i` µs.
pub fn rec(i: u64) -> Record {
    Record::keyed(
        Timestamp::from_micros(1_000_000 + i as i64),
        format!("k{}", i % 7),
        format!("value-{i}"),
    )
}

/// Options with small segments and a dense index, so tests cross segment boundaries.
pub fn small(fsync: FsyncPolicy) -> LogOptions {
    LogOptions {
        fsync,
        segment_bytes: 8 * 1024,
        index_interval_bytes: 512,
        ..LogOptions::default()
    }
}

pub fn open_small(dir: &Path) -> Log {
    Log::open(dir, small(FsyncPolicy::Always)).expect("open")
}

/// Appends records `from..to` in batches of `batch`, pipelined; returns the acks.
pub fn append_range(
    log: &Log,
    topic: &str,
    partition: u32,
    from: u64,
    to: u64,
    batch: u64,
) -> Vec<AppendAck> {
    let mut futs = Vec::new();
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        futs.push(log.append(topic, partition, (i..end).map(rec).collect()));
        i = end;
    }
    block_on(async {
        let mut acks = Vec::new();
        for f in futs {
            acks.push(f.await.expect("append"));
        }
        acks
    })
}

/// Reads everything visible in a partition from `from`.
pub fn read_all(log: &Log, topic: &str, partition: u32, from: u64) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut next = from;
    loop {
        let batch = log.read(topic, partition, next, 97).expect("read");
        let Some(last) = batch.last() else { return out };
        next = last.offset + 1;
        out.extend(batch);
    }
}

/// The partition directory of a topic in a data dir.
pub fn partition_dir(dir: &Path, topic: &str, partition: u32) -> PathBuf {
    dir.join("topics").join(topic).join(partition.to_string())
}

/// Segment files of a partition, sorted by base offset.
pub fn segments(dir: &Path, topic: &str, partition: u32) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(partition_dir(dir, topic, partition))
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// (position, header) of every batch in a segment file.
pub fn batches(path: &Path) -> Vec<(u64, BatchHeader)> {
    let bytes = std::fs::read(path).expect("read segment");
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..]).expect("valid header");
        out.push((pos as u64, h));
        pos += h.batch_len as usize;
    }
    out
}
