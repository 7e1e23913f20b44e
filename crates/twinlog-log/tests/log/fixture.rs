//! The on-disk format is pinned by a checked-in data dir written by format version 1
//! (`tests/fixtures/format-v1/`): this build must read it, and writing the same records
//! today must produce the same bytes. Regenerate (only for a deliberate format change, with a
//! new version number) with `TWINLOG_REGENERATE_FIXTURES=1 cargo test -p twinlog-log fixture`.

use std::fs;
use std::path::{Path, PathBuf};

use twinlog_log::{FsyncPolicy, Header, Log, LogOptions, Record, Timestamp, TopicConfig};

use crate::support::{block_on, read_all};

const FILES: [&str; 5] = [
    "FORMAT",
    "topics/sensors/topic.conf",
    "topics/sensors/0/00000000000000000000.log",
    "topics/sensors/0/00000000000000000000.index",
    "topics/sensors/0/00000000000000000000.timeindex",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1")
}

/// The records of the fixture, in two appends.
fn batches() -> Vec<Vec<Record>> {
    let t = |s: i64| Timestamp::from_micros(1_764_000_000_000_000 + s);
    vec![
        vec![
            Record::keyed(t(0), "thermo-1", r#"{"celsius":21.5}"#),
            Record::new(t(1), "no key"),
            Record {
                timestamp: t(-5),
                key: Some("door".into()),
                headers: vec![Header::new("kind", "e"), Header::new("producer", "mqtt")],
                value: Some(vec![0u8, 1, 2, 255].into()),
            },
        ],
        vec![Record::tombstone(t(10), "thermo-1"), Record::new(t(11), "")],
    ]
}

fn write(dir: &Path) {
    let log = Log::open(
        dir,
        LogOptions {
            fsync: FsyncPolicy::Always,
            ..LogOptions::default()
        },
    )
    .unwrap();
    log.create_topic("sensors", TopicConfig::default()).unwrap();
    for b in batches() {
        block_on(log.append("sensors", 0, b)).unwrap();
    }
}

#[test]
fn format_v1_fixture_is_read_and_reproduced() {
    let fresh = tempfile::tempdir().unwrap();
    write(fresh.path());
    if std::env::var_os("TWINLOG_REGENERATE_FIXTURES").is_some() {
        for f in FILES {
            let to = fixture_dir().join(f);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(fresh.path().join(f), to).unwrap();
        }
    }
    // Today's writer produces exactly the checked-in bytes.
    for f in FILES {
        let want = fs::read(fixture_dir().join(f)).unwrap_or_else(|e| panic!("fixture {f}: {e}"));
        assert_eq!(
            fs::read(fresh.path().join(f)).unwrap(),
            want,
            "{f} differs from the v1 fixture"
        );
    }
    // And reads the checked-in dir (a copy: opening for writing takes the lock) back.
    let copy = tempfile::tempdir().unwrap();
    for f in FILES {
        let to = copy.path().join(f);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(fixture_dir().join(f), to).unwrap();
    }
    let expected: Vec<Record> = batches().into_iter().flatten().collect();
    for log in [
        Log::open_read_only(copy.path()).unwrap(),
        Log::open(copy.path(), LogOptions::default()).unwrap(),
    ] {
        assert!(
            log.recovery_report().is_clean(),
            "{:?}",
            log.recovery_report()
        );
        let got = read_all(&log, "sensors", 0, 0);
        assert_eq!(
            got.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            got.into_iter().map(|r| r.record).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(
            log.offset_for_timestamp("sensors", 0, expected[3].timestamp)
                .unwrap(),
            Some(3)
        );
        drop(log);
    }
}
