//! Topics, appends, reads by offset and by time, segment rolling, reopening, and the errors
//! bad input gets.

use std::time::Duration;

use twinlog_log::{FsyncPolicy, Log, LogError, LogOptions, Record, Timestamp, TopicConfig};

use crate::support::{append_range, block_on, open_small, read_all, rec, small};

#[test]
fn appends_get_dense_offsets_and_read_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic(
        "events",
        TopicConfig {
            partitions: 3,
            ..TopicConfig::default()
        },
    )
    .unwrap();
    let acks = append_range(&log, "events", 1, 0, 500, 17);
    let mut expected_base = 0;
    for ack in &acks {
        assert_eq!(ack.partition, 1);
        assert_eq!(ack.base_offset, expected_base);
        expected_base += u64::from(ack.count);
    }
    assert_eq!(log.end_offset("events", 1).unwrap(), 500);
    assert_eq!(log.end_offset("events", 0).unwrap(), 0);
    let all = read_all(&log, "events", 1, 0);
    assert_eq!(all.len(), 500);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
        assert_eq!(&*r.topic, "events");
        assert_eq!(r.partition, 1);
        assert_eq!(r.record, rec(i as u64));
    }
    // From the middle, bounded, and past the end.
    let some = log.read("events", 1, 333, 5).unwrap();
    assert_eq!(
        some.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![333, 334, 335, 336, 337]
    );
    assert!(log.read("events", 1, 500, 10).unwrap().is_empty());
    assert!(log.read("events", 1, 10_000, 10).unwrap().is_empty());
    // The segments rolled (8 KiB each) and reads crossed them.
    let d = log.describe("events").unwrap();
    assert!(d.partitions[1].segments >= 2, "{:?}", d.partitions[1]);
}

#[test]
fn topics_and_data_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_small(dir.path());
        let config = TopicConfig {
            partitions: 2,
            compacted: true,
            retention_bytes: Some(1 << 20),
            retention_age: Some(Duration::from_secs(3600)),
            tombstone_retention: Duration::from_secs(60),
        };
        log.create_topic("b-topic", config).unwrap();
        log.create_topic("a.topic", TopicConfig::default()).unwrap();
        append_range(&log, "b-topic", 0, 0, 300, 10);
    }
    let log = open_small(dir.path());
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
    assert_eq!(
        log.topics(),
        vec!["a.topic".to_owned(), "b-topic".to_owned()]
    );
    let c = log.topic_config("b-topic").unwrap();
    assert_eq!(c.partitions, 2);
    assert!(c.compacted);
    assert_eq!(c.retention_bytes, Some(1 << 20));
    assert_eq!(c.retention_age, Some(Duration::from_secs(3600)));
    assert_eq!(c.tombstone_retention, Duration::from_secs(60));
    let d = log.describe("b-topic").unwrap();
    assert_eq!(
        (d.partitions[0].start_offset, d.partitions[0].end_offset),
        (0, 300)
    );
    assert!(d.partitions[0].size_bytes > 300 * 10);
    assert_eq!(d.partitions[1].end_offset, 0);
    let all = read_all(&log, "b-topic", 0, 0);
    assert_eq!(all.len(), 300);
    assert_eq!(all[299].record, rec(299));
    // Appends continue where they stopped.
    let ack = append_range(&log, "b-topic", 0, 300, 301, 1);
    assert_eq!(ack[0].base_offset, 300);
}

#[test]
fn every_fsync_policy_acknowledges_and_serves() {
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::from_millis(2)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), small(policy)).unwrap();
        log.create_topic("t", TopicConfig::default()).unwrap();
        let acks = append_range(&log, "t", 0, 0, 200, 9);
        assert_eq!(acks.last().unwrap().last_offset(), 199, "{policy}");
        assert_eq!(read_all(&log, "t", 0, 0).len(), 200, "{policy}");
        drop(log);
        let log = Log::open(dir.path(), small(policy)).unwrap();
        assert_eq!(log.end_offset("t", 0).unwrap(), 200, "{policy}");
    }
}

#[test]
fn reads_by_time_find_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", TopicConfig::default()).unwrap();
    // Timestamps mostly rising, with some going backwards.
    let ts = |i: u64| -> i64 { (i as i64) * 10 - if i.is_multiple_of(13) { 95 } else { 0 } };
    let mut futs = Vec::new();
    for chunk in (0..1500u64).collect::<Vec<_>>().chunks(11) {
        let records = chunk
            .iter()
            .map(|&i| Record::new(Timestamp::from_micros(ts(i)), vec![b'x'; 20]))
            .collect();
        futs.push(log.append("t", 0, records));
    }
    block_on(async {
        for f in futs {
            f.await.unwrap();
        }
    });
    let brute = |t: i64| (0..1500u64).find(|&i| ts(i) >= t);
    for t in [
        -1_000, -95, 0, 1, 9, 10, 11, 500, 1234, 7_777, 14_985, 14_990, 14_991, 99_999,
    ] {
        assert_eq!(
            log.offset_for_timestamp("t", 0, Timestamp::from_micros(t))
                .unwrap(),
            brute(t),
            "t = {t}"
        );
    }
    // Still right after a reopen (indexes loaded from disk).
    drop(log);
    let log = open_small(dir.path());
    for t in [0, 1234, 14_990] {
        assert_eq!(
            log.offset_for_timestamp("t", 0, Timestamp::from_micros(t))
                .unwrap(),
            brute(t)
        );
    }
}

#[test]
fn bad_input_gets_an_error_naming_the_problem_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        LogOptions {
            max_record_bytes: 100,
            ..small(FsyncPolicy::Always)
        },
    )
    .unwrap();
    let err = log
        .create_topic("bad name", TopicConfig::default())
        .unwrap_err();
    assert!(matches!(err, LogError::InvalidTopicName(_)), "{err:?}");
    assert!(err.to_string().contains("' ' at position 3"), "{err}");
    let err = log
        .create_topic(
            "t",
            TopicConfig {
                partitions: 0,
                ..TopicConfig::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::InvalidConfig {
                field: "partitions",
                ..
            }
        ),
        "{err:?}"
    );
    log.create_topic(
        "t",
        TopicConfig {
            partitions: 2,
            ..TopicConfig::default()
        },
    )
    .unwrap();
    let err = log.create_topic("t", TopicConfig::default()).unwrap_err();
    assert!(
        matches!(&err, LogError::TopicExists { topic } if topic == "t"),
        "{err:?}"
    );

    let err = block_on(log.append("nope", 0, vec![rec(0)])).unwrap_err();
    assert!(
        matches!(&err, LogError::UnknownTopic { topic } if topic == "nope"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("twinlog topic create nope"),
        "{err}"
    );
    let err = block_on(log.append("t", 2, vec![rec(0)])).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::UnknownPartition {
                partition: 2,
                partitions: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        log.read("nope", 0, 0, 1),
        Err(LogError::UnknownTopic { .. })
    ));

    let big = Record::new(Timestamp::EPOCH, vec![0u8; 101]);
    let err = block_on(log.append("t", 0, vec![rec(0), big])).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::RecordTooLarge {
                index: 1,
                size: 101,
                max: 100
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        log.end_offset("t", 0).unwrap(),
        0,
        "nothing of the batch was written"
    );

    // 1100 records of 1 MiB (one shared buffer) exceed what one append may carry.
    let log2_dir = tempfile::tempdir().unwrap();
    let log2 = Log::open(log2_dir.path(), LogOptions::default()).unwrap();
    log2.create_topic("t", TopicConfig::default()).unwrap();
    let mib = bytes::Bytes::from(vec![0u8; 1 << 20]);
    let huge: Vec<Record> = (0..1100)
        .map(|_| Record::new(Timestamp::EPOCH, mib.clone()))
        .collect();
    let err = block_on(log2.append("t", 0, huge)).unwrap_err();
    assert!(
        matches!(err, LogError::BatchTooLarge { max, .. } if max == 1 << 30),
        "{err:?}"
    );
    assert_eq!(log2.end_offset("t", 0).unwrap(), 0);

    let ack = block_on(log.append("t", 0, Vec::new())).unwrap();
    assert_eq!((ack.base_offset, ack.count), (0, 0));
}

#[test]
fn opening_a_file_as_data_dir_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Log::open(&file, LogOptions::default()).unwrap_err();
    assert!(matches!(err, LogError::InvalidDataDir { .. }), "{err:?}");
    assert!(err.to_string().contains("not a directory"), "{err}");
    let err = Log::open_read_only(dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, LogError::InvalidDataDir { .. }), "{err:?}");
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_small(dir.path()));
    std::fs::write(dir.path().join("FORMAT"), "twinlog-log 2\n").unwrap();
    let err = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::UnsupportedFormat {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_stray_log_file_in_a_partition_dir_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_small(dir.path());
        log.create_topic("t", TopicConfig::default()).unwrap();
        append_range(&log, "t", 0, 0, 500, 10);
    }
    let pdir = crate::support::partition_dir(dir.path(), "t", 0);
    let strays = [
        "123.log",
        "x.log",
        "000000000000000000001.log",
        "+0000000000000000001.log",
    ];
    for name in strays {
        std::fs::write(pdir.join(name), b"not a segment").unwrap();
    }
    let log = open_small(dir.path());
    let all = read_all(&log, "t", 0, 0);
    assert_eq!(
        all.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..500).collect::<Vec<_>>()
    );
    assert_eq!(all[123].record, rec(123));
    assert_eq!(append_range(&log, "t", 0, 500, 501, 1)[0].base_offset, 500);
    // Ignored, not touched: they are not the log's to repair or delete.
    for name in strays {
        assert_eq!(std::fs::read(pdir.join(name)).unwrap(), b"not a segment");
    }
}

#[test]
fn a_data_dir_under_missing_parents_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b").join("data");
    {
        let log = open_small(&nested);
        log.create_topic("t", TopicConfig::default()).unwrap();
        append_range(&log, "t", 0, 0, 20, 10);
    }
    assert!(nested.join("topics").is_dir());
    assert_eq!(read_all(&open_small(&nested), "t", 0, 0).len(), 20);
}
