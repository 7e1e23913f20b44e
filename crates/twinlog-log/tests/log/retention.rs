//! Retention by size and by age deletes whole old segments (never the active one) and moves
//! the start offset; reads from before it start at it.

use std::sync::Arc;
use std::time::Duration;

use twinlog_core::TestClock;
use twinlog_log::{FsyncPolicy, Log, LogOptions, Record, Timestamp, TopicConfig};

use crate::support::{append_range, block_on, open_small, read_all, small};

#[test]
fn retention_by_size_deletes_the_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    let limit = 20 * 1024;
    log.create_topic(
        "t",
        TopicConfig {
            retention_bytes: Some(limit),
            ..TopicConfig::default()
        },
    )
    .unwrap();
    log.create_topic("kept", TopicConfig::default()).unwrap();
    append_range(&log, "t", 0, 0, 3000, 20);
    append_range(&log, "kept", 0, 0, 3000, 20);
    let before = log.describe("t").unwrap().partitions[0].clone();
    assert!(before.size_bytes > 3 * limit, "{before:?}");

    let report = log.enforce_retention().unwrap();
    assert!(
        report.segments_deleted > 0 && report.bytes_deleted > 0,
        "{report:?}"
    );
    let after = log.describe("t").unwrap().partitions[0].clone();
    assert!(after.size_bytes <= limit, "{after:?}");
    assert!(after.start_offset > 0);
    assert_eq!(after.end_offset, 3000);
    // Reading from 0 starts at the new start offset and reaches the end.
    let rest = read_all(&log, "t", 0, 0);
    assert_eq!(rest.first().unwrap().offset, after.start_offset);
    assert_eq!(rest.len() as u64, 3000 - after.start_offset);
    // The topic without retention is untouched; a second pass finds nothing to do.
    assert_eq!(log.describe("kept").unwrap().partitions[0].start_offset, 0);
    assert_eq!(log.enforce_retention().unwrap().segments_deleted, 0);
    // Survives a reopen.
    drop(log);
    let log = open_small(dir.path());
    assert_eq!(log.start_offset("t", 0).unwrap(), after.start_offset);
}

#[test]
fn retention_by_age_deletes_segments_whose_newest_record_is_too_old() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(Timestamp::from_micros(0));
    let options = LogOptions {
        clock: Arc::new(clock.clone()),
        ..small(FsyncPolicy::Always)
    };
    let log = Log::open(dir.path(), options).unwrap();
    log.create_topic(
        "t",
        TopicConfig {
            retention_age: Some(Duration::from_secs(60)),
            ..TopicConfig::default()
        },
    )
    .unwrap();
    // Records one second apart: 0 s .. 599 s.
    let mut futs = Vec::new();
    for chunk in (0..600i64).collect::<Vec<_>>().chunks(10) {
        let records = chunk
            .iter()
            .map(|&s| Record::new(Timestamp::from_micros(s * 1_000_000), vec![b'v'; 64]))
            .collect();
        futs.push(log.append("t", 0, records));
    }
    block_on(async {
        for f in futs {
            f.await.unwrap();
        }
    });
    clock.set(Timestamp::from_micros(300 * 1_000_000));
    let report = log.enforce_retention().unwrap();
    assert!(report.segments_deleted > 0, "{report:?}");
    let start = log.start_offset("t", 0).unwrap();
    // Every deleted record was older than 240 s; the first kept segment holds a record at or after it.
    assert!(start <= 240, "start {start}");
    let first_kept = log.read("t", 0, 0, 1).unwrap()[0].clone();
    assert_eq!(first_kept.offset, start);
    let seg_records = log.read("t", 0, start, 1000).unwrap();
    assert!(
        seg_records
            .iter()
            .any(|r| r.record.timestamp.as_micros() >= 240 * 1_000_000)
    );
    // Far in the future everything but the active segment goes.
    clock.set(Timestamp::from_micros(10_000 * 1_000_000));
    log.enforce_retention().unwrap();
    assert_eq!(log.describe("t").unwrap().partitions[0].segments, 1);
    assert_eq!(log.end_offset("t", 0).unwrap(), 600);
}

#[test]
fn the_background_maintenance_thread_applies_retention() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        maintenance_interval: Some(Duration::from_millis(1)),
        ..small(FsyncPolicy::Always)
    };
    let log = Log::open(dir.path(), options).unwrap();
    log.create_topic(
        "t",
        TopicConfig {
            retention_bytes: Some(10 * 1024),
            ..TopicConfig::default()
        },
    )
    .unwrap();
    append_range(&log, "t", 0, 0, 3000, 20);
    // Eventually (bounded: the thread runs every millisecond) the partition is within its limit.
    let mut waited = 0;
    while log.describe("t").unwrap().partitions[0].size_bytes > 10 * 1024 {
        assert!(waited < 30_000, "background retention never ran");
        std::thread::sleep(Duration::from_millis(1));
        waited += 1;
    }
    assert!(log.start_offset("t", 0).unwrap() > 0);
    assert_eq!(log.end_offset("t", 0).unwrap(), 3000);
}
