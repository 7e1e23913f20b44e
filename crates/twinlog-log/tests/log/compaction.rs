//! Key compaction: the latest record per key survives in sealed segments, offsets are
//! preserved, tombstones survive until older than the topic's tombstone retention.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use twinlog_core::TestClock;
use twinlog_log::{FsyncPolicy, Log, LogOptions, Record, Timestamp, TopicConfig};

use crate::support::{block_on, read_all, small};

fn keyed(i: u64, key: u64, ts: i64) -> Record {
    Record::keyed(
        Timestamp::from_micros(ts),
        format!("key-{key}"),
        format!("v{i:06}-{}", "x".repeat(40)),
    )
}

#[test]
fn compaction_keeps_the_latest_record_per_key_and_expires_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(Timestamp::from_micros(1_000_000));
    let options = LogOptions {
        clock: Arc::new(clock.clone()),
        ..small(FsyncPolicy::Always)
    };
    let log = Log::open(dir.path(), options.clone()).unwrap();
    let config = TopicConfig {
        compacted: true,
        tombstone_retention: Duration::from_secs(10),
        ..TopicConfig::default()
    };
    log.create_topic("state", config).unwrap();
    log.create_topic("plain", TopicConfig::default()).unwrap();

    // 1200 records over 10 keys; key 3 is deleted by a tombstone at 603 and never set again
    // (its later slots go to key 10); then keys 0..3 once more.
    let mut all: Vec<Record> = (0..1200)
        .map(|i| {
            keyed(
                i,
                if i % 10 == 3 && i > 603 { 10 } else { i % 10 },
                1_000_000,
            )
        })
        .collect();
    all[603] = Record::tombstone(Timestamp::from_micros(1_000_000), "key-3");
    for i in 1200..1210 {
        all.push(keyed(i, i % 3, 1_000_000));
    }
    let mut futs = Vec::new();
    for chunk in all.chunks(7) {
        futs.push(log.append("state", 0, chunk.to_vec()));
    }
    block_on(async {
        for f in futs {
            f.await.unwrap();
        }
    });
    let mut latest: HashMap<Vec<u8>, u64> = HashMap::new();
    for (i, r) in all.iter().enumerate() {
        latest.insert(r.key.clone().unwrap().to_vec(), i as u64);
    }
    let end = log.end_offset("state", 0).unwrap();
    assert_eq!(end, all.len() as u64);
    let segs = log.describe("state").unwrap().partitions[0].segments;
    assert!(segs > 3);

    let report = log.compact("state").unwrap();
    assert!(report.records_removed > 1000, "{report:?}");
    assert!(report.bytes_after < report.bytes_before, "{report:?}");
    let active_base = last_segment_base(dir.path());
    let after = read_all(&log, "state", 0, 0);
    for r in &after {
        // Offsets preserved: the record at an offset is the one appended there.
        assert_eq!(r.record, all[r.offset as usize], "offset {}", r.offset);
        if r.offset < active_base {
            let key = r.record.key.clone().unwrap().to_vec();
            assert_eq!(
                latest[&key], r.offset,
                "superseded record {} of {:?} survived",
                r.offset, key
            );
        }
    }
    // Every key's latest record survived, the young tombstone included.
    for &offset in latest.values() {
        assert!(
            after.iter().any(|r| r.offset == offset),
            "latest record {offset} lost"
        );
    }
    assert!(
        after
            .iter()
            .any(|r| r.offset == 603 && r.record.value.is_none())
    );
    assert_eq!(log.end_offset("state", 0).unwrap(), end);
    // Appends continue at the same end.
    let ack = block_on(log.append("state", 0, vec![keyed(9999, 1, 1_000_000)])).unwrap();
    assert_eq!(ack.base_offset, end);

    // Later than the tombstone retention, the tombstone itself goes.
    clock.advance(Duration::from_secs(11));
    log.compact("state").unwrap();
    let after = read_all(&log, "state", 0, 0);
    assert!(
        !after.iter().any(|r| r.offset == 603),
        "expired tombstone kept"
    );
    assert!(
        !after
            .iter()
            .any(|r| r.record.key.as_deref() == Some(b"key-3".as_slice()))
    );

    // Reopening serves the same; a non-compacted topic is left alone.
    drop(log);
    let log = Log::open(dir.path(), options).unwrap();
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    assert_eq!(read_all(&log, "state", 0, 0).len(), after.len());
    assert_eq!(log.compact("plain").unwrap(), Default::default());
}

fn last_segment_base(dir: &std::path::Path) -> u64 {
    let segs = crate::support::segments(dir, "state", 0);
    let name = segs
        .last()
        .unwrap()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    name.parse().unwrap()
}
