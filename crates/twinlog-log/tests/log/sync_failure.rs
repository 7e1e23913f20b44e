//! A failing fsync: the append it should have covered is not acknowledged (nor made visible),
//! the log refuses every further append, and a segment whose data could not be synced is
//! never followed by a new segment file (the order that keeps a power cut from leaving a gap
//! of offsets). The fault is injected by the log's test hook on the next data fsync.

use std::fs;

use twinlog_log::{LogError, Record, Timestamp, TopicConfig};

use crate::support::{append_range, block_on, open_small, read_all, rec, segments};

const EIO: i32 = 5;

fn assert_poisoned(err: &LogError) {
    assert!(
        matches!(err, LogError::Poisoned { cause, disk_full: false } if cause.contains("syncing")),
        "{err:?}"
    );
}

#[test]
fn an_append_whose_fsync_failed_is_not_acknowledged_and_the_log_is_poisoned() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", TopicConfig::default()).unwrap();
    append_range(&log, "t", 0, 0, 50, 10);

    log.inject_sync_error("t", 0, EIO).unwrap();
    let err = block_on(log.append("t", 0, (50..60).map(rec).collect())).unwrap_err();
    assert!(
        matches!(&err, LogError::Io { op: "syncing", source, .. } if source.raw_os_error() == Some(EIO)),
        "{err:?}"
    );
    assert_eq!(
        log.end_offset("t", 0).unwrap(),
        50,
        "nothing unsynced is visible"
    );
    assert_eq!(read_all(&log, "t", 0, 0).len(), 50);
    assert_poisoned(&block_on(log.append("t", 0, vec![rec(60)])).unwrap_err());
}

#[test]
fn a_segment_whose_data_could_not_be_synced_is_not_followed_by_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", TopicConfig::default()).unwrap();
    append_range(&log, "t", 0, 0, 50, 10);
    assert_eq!(segments(dir.path(), "t", 0).len(), 1);

    // A record too large for what is left of the 8 KiB segment makes the writer roll.
    log.inject_sync_error("t", 0, EIO).unwrap();
    let big = Record::keyed(Timestamp::from_micros(2_000_000), "big", "x".repeat(7000));
    let err = block_on(log.append("t", 0, vec![big])).unwrap_err();
    assert!(
        matches!(&err, LogError::Io { source, .. } if source.raw_os_error() == Some(EIO)),
        "{err:?}"
    );
    let segs = segments(dir.path(), "t", 0);
    assert_eq!(segs.len(), 1, "a new segment was created: {segs:?}");
    assert_eq!(
        fs::read_dir(segs[0].parent().unwrap()).unwrap().count(),
        3,
        "only the first segment's .log, .index and .timeindex"
    );
    assert_eq!(log.end_offset("t", 0).unwrap(), 50);
    assert_poisoned(&block_on(log.append("t", 0, vec![rec(50)])).unwrap_err());
}
