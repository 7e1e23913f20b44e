//! Damaged files: a torn or garbage tail is truncated (and reported); a damaged batch in the
//! middle of a segment is reported on read with its segment, position and offset while the
//! rest stays readable; damaged or missing indexes are rebuilt from the segment.

use std::fs::{self, OpenOptions};
use std::path::Path;

use twinlog_log::{FsyncPolicy, Log, LogError, LogOptions, RecoveryEvent, Timestamp, TopicConfig};

use crate::support::{append_range, batches, open_small, read_all, rec, segments, small};

/// A closed data dir with topic "t": 2000 records over several 8 KiB segments.
fn build(dir: &Path) {
    build_with(dir, small(FsyncPolicy::Always));
}

fn build_with(dir: &Path, options: LogOptions) {
    let log = Log::open(dir, options).unwrap();
    log.create_topic("t", TopicConfig::default()).unwrap();
    append_range(&log, "t", 0, 0, 2000, 10);
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_torn_tail_is_truncated_and_reported_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let last = segments(dir.path(), "t", 0).pop().unwrap();
    let (pos, h) = *batches(&last).last().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let log = open_small(dir.path());
    let events = &log.recovery_report().events;
    assert!(
        events.contains(&RecoveryEvent::TruncatedTornTail {
            segment: last.clone(),
            position: pos,
            bytes_removed: len - 7 - pos
        }),
        "{events:?}"
    );
    assert_eq!(log.end_offset("t", 0).unwrap(), h.base_offset);
    let all = read_all(&log, "t", 0, 0);
    assert_eq!(all.len() as u64, h.base_offset);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, r)| r.offset == i as u64 && r.record == rec(i as u64))
    );
    let ack = append_range(&log, "t", 0, h.base_offset, h.base_offset + 3, 3);
    assert_eq!(ack[0].base_offset, h.base_offset);
    assert!(fs::metadata(&last).unwrap().len() > pos);
}

#[test]
fn garbage_after_the_last_batch_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let last = segments(dir.path(), "t", 0).pop().unwrap();
    let len = fs::metadata(&last).unwrap().len();
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend((0..300u32).map(|i| (i * 7 + 3) as u8));
    fs::write(&last, bytes).unwrap();
    let log = open_small(dir.path());
    assert!(
        log.recovery_report().events.iter().any(|e| matches!(e,
        RecoveryEvent::TruncatedTornTail { position, bytes_removed: 300, .. } if *position == len))
    );
    assert_eq!(log.end_offset("t", 0).unwrap(), 2000);
    assert_eq!(fs::metadata(&last).unwrap().len(), len);
}

#[test]
fn a_damaged_batch_in_a_sealed_segment_is_reported_on_read_and_the_rest_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let first = segments(dir.path(), "t", 0).remove(0);
    let list = batches(&first);
    let (pos, h) = list[list.len() / 2];
    flip(&first, pos + 60);

    let log = open_small(dir.path());
    let end = log.end_offset("t", 0).unwrap();
    assert_eq!(end, 2000, "damage in the middle is not a torn tail");
    // Records before the damage come back; the next read reports it.
    let before = log.read("t", 0, 0, 10_000).unwrap();
    assert_eq!(before.len() as u64, h.base_offset);
    let err = log.read("t", 0, h.base_offset, 10).unwrap_err();
    let LogError::Corrupt {
        segment,
        position,
        offset,
        next_readable,
        ..
    } = &err
    else {
        panic!("expected Corrupt, got {err:?}")
    };
    assert_eq!((segment, *position, *offset), (&first, pos, h.base_offset));
    assert_eq!(*next_readable, Some(h.next_offset()));
    assert!(
        err.to_string().contains(&first.display().to_string()),
        "{err}"
    );
    // Reading inside the damaged batch fails the same way; after it everything is there.
    assert!(matches!(
        log.read("t", 0, h.base_offset + 1, 10),
        Err(LogError::Corrupt { .. })
    ));
    let after = read_all(&log, "t", 0, h.next_offset());
    assert_eq!(after.len() as u64, 2000 - h.next_offset());
    assert_eq!(after[0].record, rec(h.next_offset()));
    // Appends are unaffected.
    assert_eq!(
        append_range(&log, "t", 0, 2000, 2001, 1)[0].base_offset,
        2000
    );
}

#[test]
fn a_damaged_batch_in_the_active_segment_is_reported_at_open_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let last = segments(dir.path(), "t", 0).pop().unwrap();
    let list = batches(&last);
    assert!(list.len() >= 3);
    let (pos, h) = list[1];
    flip(&last, pos + 50);
    let log = open_small(dir.path());
    let events = &log.recovery_report().events;
    assert!(
        events.iter().any(|e| matches!(e, RecoveryEvent::CorruptRegion { segment, position, first_offset, next_offset, .. }
            if *segment == last && *position == pos && *first_offset == h.base_offset && *next_offset == h.next_offset())),
        "{events:?}"
    );
    assert_eq!(log.end_offset("t", 0).unwrap(), 2000);
    let err = log.read("t", 0, h.base_offset, 5).unwrap_err();
    assert!(
        matches!(err, LogError::Corrupt { next_readable: Some(n), .. } if n == h.next_offset()),
        "{err:?}"
    );
    assert_eq!(
        read_all(&log, "t", 0, h.next_offset()).len() as u64,
        2000 - h.next_offset()
    );
}

#[test]
fn damaged_truncated_or_missing_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let segs = segments(dir.path(), "t", 0);
    let (a, b, c) = (&segs[0], &segs[1], &segs[2]);
    flip(&a.with_extension("index"), 13);
    let idx = b.with_extension("index");
    let len = fs::metadata(&idx).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    fs::remove_file(c.with_extension("timeindex")).unwrap();
    let pristine_a = fs::read(a.with_extension("timeindex")).unwrap();

    let log = open_small(dir.path());
    let rebuilt: Vec<_> = log
        .recovery_report()
        .events
        .iter()
        .filter_map(|e| match e {
            RecoveryEvent::RebuiltIndex { index, .. } => Some(index.clone()),
            _ => None,
        })
        .collect();
    for s in [a, b, c] {
        assert!(
            rebuilt.contains(&s.with_extension("index")),
            "{s:?} not rebuilt: {rebuilt:?}"
        );
    }
    // The rebuilt files equal what the writer wrote, and reads by offset and time work.
    assert_eq!(fs::read(a.with_extension("timeindex")).unwrap(), pristine_a);
    assert!(c.with_extension("timeindex").exists());
    let all = read_all(&log, "t", 0, 0);
    assert_eq!(all.len(), 2000);
    for probe in [0u64, 77, 555, 1234, 1999] {
        assert_eq!(log.read("t", 0, probe, 1).unwrap()[0].record, rec(probe));
        let ts = rec(probe).timestamp;
        assert_eq!(log.offset_for_timestamp("t", 0, ts).unwrap(), Some(probe));
    }
    assert_eq!(
        log.offset_for_timestamp("t", 0, Timestamp::from_micros(i64::MAX))
            .unwrap(),
        None
    );
    // A clean reopen has nothing left to repair.
    drop(log);
    let log = Log::open(
        dir.path(),
        crate::support::small(twinlog_log::FsyncPolicy::Always),
    )
    .unwrap();
    assert!(
        log.recovery_report().is_clean(),
        "{:?}",
        log.recovery_report()
    );
}

/// Options with small segments and the given index density (a sparse index makes reads scan
/// from the segment's start, through any damage before the offset asked for).
fn with_index_interval(interval: u32) -> LogOptions {
    LogOptions {
        index_interval_bytes: interval,
        ..small(FsyncPolicy::Always)
    }
}

#[test]
fn damage_at_the_end_of_a_sealed_segment_is_reported_not_truncated() {
    for interval in [512, 1 << 20] {
        let dir = tempfile::tempdir().unwrap();
        build_with(dir.path(), with_index_interval(interval));
        let segs = segments(dir.path(), "t", 0);
        let (first, next_base) = (&segs[0], batches(&segs[1])[0].1.base_offset);
        let (pos, h) = *batches(first).last().unwrap();
        assert_eq!(h.next_offset(), next_base);
        flip(first, pos + 60);
        let len = fs::metadata(first).unwrap().len();

        for round in 0..2 {
            // Reopening twice: the damage stays reported, nothing was cut away.
            let log = Log::open(dir.path(), with_index_interval(interval)).unwrap();
            let events = &log.recovery_report().events;
            assert!(
                events.iter().any(|e| matches!(e, RecoveryEvent::CorruptRegion { segment, position, len: l, first_offset, next_offset }
                    if segment == first && *position == pos && *l == len - pos && *first_offset == h.base_offset && *next_offset == next_base)),
                "interval {interval}, round {round}: {events:?}"
            );
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, RecoveryEvent::TruncatedTornTail { .. })),
                "a sealed segment is never truncated: {events:?}"
            );
            assert_eq!(fs::metadata(first).unwrap().len(), len);
            assert_eq!(log.end_offset("t", 0).unwrap(), 2000);

            // Records before the damage come back, then the damage is reported, not skipped.
            let before = log.read("t", 0, 0, 10_000).unwrap();
            assert_eq!(before.len() as u64, h.base_offset);
            assert!(before.iter().enumerate().all(|(i, r)| r.offset == i as u64));
            for from in [h.base_offset, h.base_offset + 3] {
                let err = log.read("t", 0, from, 10).unwrap_err();
                let LogError::Corrupt {
                    segment,
                    position,
                    offset,
                    next_readable,
                    ..
                } = &err
                else {
                    panic!("expected Corrupt, got {err:?}")
                };
                assert_eq!(
                    (segment, *position, *offset, *next_readable),
                    (first, pos, from, Some(next_base)),
                    "{err}"
                );
            }
            let after = read_all(&log, "t", 0, next_base);
            assert_eq!(after.len() as u64, 2000 - next_base);
            assert_eq!(after[0].record, rec(next_base));
        }
        // A read-only handle sees the same: the damage is reported, not skipped.
        let ro = Log::open_read_only(dir.path()).unwrap();
        assert!(
            ro.recovery_report().events.iter().any(
                |e| matches!(e, RecoveryEvent::CorruptRegion { first_offset, .. } if *first_offset == h.base_offset)
            ),
            "{:?}",
            ro.recovery_report()
        );
        assert!(matches!(
            ro.read("t", 0, h.base_offset, 10),
            Err(LogError::Corrupt { offset, next_readable: Some(n), .. }) if offset == h.base_offset && n == next_base
        ));
        assert_eq!(
            read_all(&ro, "t", 0, next_base).len() as u64,
            2000 - next_base
        );
    }
}

#[test]
fn a_read_inside_an_intact_batch_after_damage_is_served() {
    let dir = tempfile::tempdir().unwrap();
    build_with(dir.path(), with_index_interval(1 << 20));
    let first = segments(dir.path(), "t", 0).remove(0);
    let list = batches(&first);
    let ((pos, damaged), (_, intact)) = (list[2], list[3]);
    flip(&first, pos + 60);
    let log = Log::open(dir.path(), with_index_interval(1 << 20)).unwrap();
    for from in intact.base_offset..intact.next_offset() {
        let got = log.read("t", 0, from, 5).unwrap();
        let offsets: Vec<u64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (from..from + 5).collect::<Vec<_>>());
        assert_eq!(got[0].record, rec(from));
    }
    for from in damaged.base_offset..damaged.next_offset() {
        let err = log.read("t", 0, from, 5).unwrap_err();
        assert!(
            matches!(err, LogError::Corrupt { offset, next_readable: Some(n), .. }
                if offset == from && n == intact.base_offset),
            "{err:?}"
        );
    }
}

#[test]
fn compaction_refuses_a_segment_with_a_damaged_end_instead_of_dropping_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_small(dir.path());
        let config = TopicConfig {
            compacted: true,
            ..TopicConfig::default()
        };
        log.create_topic("t", config).unwrap();
        // Seven keys over and over: compaction would rewrite every sealed segment.
        append_range(&log, "t", 0, 0, 2000, 10);
    }
    let first = segments(dir.path(), "t", 0).remove(0);
    let (pos, h) = *batches(&first).last().unwrap();
    flip(&first, pos + 60);
    let bytes = fs::read(&first).unwrap();

    let log = open_small(dir.path());
    let err = log.compact("t").unwrap_err();
    assert!(
        matches!(&err, LogError::Corrupt { segment, position, offset, .. }
            if *segment == first && *position == pos && *offset == h.base_offset),
        "{err:?}"
    );
    assert_eq!(
        fs::read(&first).unwrap(),
        bytes,
        "the damaged segment is untouched"
    );
    assert!(matches!(
        log.read("t", 0, h.base_offset, 1),
        Err(LogError::Corrupt { .. })
    ));
}
