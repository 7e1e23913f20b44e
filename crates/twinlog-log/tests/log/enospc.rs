//! A full disk: the failed append gets "disk full while writing <segment>", acknowledged
//! records stay readable, every further append is refused (Poisoned) until the log is
//! reopened, and after reopening appends continue with dense offsets. The fault is injected
//! by the writer's test hook: half the group's bytes land, then the write fails with ENOSPC.

use twinlog_log::{LogError, RecoveryEvent, TopicConfig};

use crate::support::{append_range, block_on, open_small, read_all, rec};

#[test]
fn a_full_disk_poisons_the_log_until_reopened_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_small(dir.path());
        log.create_topic(
            "t",
            TopicConfig {
                partitions: 2,
                ..TopicConfig::default()
            },
        )
        .unwrap();
        append_range(&log, "t", 0, 0, 100, 10);

        log.inject_write_error("t", 0, 28).unwrap();
        let err = block_on(log.append("t", 0, (100..110).map(rec).collect())).unwrap_err();
        let LogError::DiskFull { path, .. } = &err else {
            panic!("expected DiskFull, got {err:?}")
        };
        assert!(path.extension().is_some_and(|e| e == "log"), "{path:?}");
        assert!(
            err.to_string().starts_with("disk full while writing "),
            "{err}"
        );

        for partition in [0, 1] {
            let err = block_on(log.append("t", partition, vec![rec(0)])).unwrap_err();
            assert!(
                matches!(&err, LogError::Poisoned { cause, disk_full: true } if cause.contains("disk full")),
                "{err:?}"
            );
            assert!(err.to_string().contains("reopen"), "{err}");
        }
        let all = read_all(&log, "t", 0, 0);
        assert_eq!(all.len(), 100);
        assert_eq!(all[99].record, rec(99));
        assert_eq!(log.end_offset("t", 0).unwrap(), 100);
    }
    let log = open_small(dir.path());
    assert!(
        log.recovery_report()
            .events
            .iter()
            .any(|e| matches!(e, RecoveryEvent::TruncatedTornTail { .. })),
        "the half-written batch is cut off: {:?}",
        log.recovery_report()
    );
    let ack = append_range(&log, "t", 0, 100, 105, 5);
    assert_eq!(ack[0].base_offset, 100);
    let all = read_all(&log, "t", 0, 0);
    assert_eq!(
        all.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..105).collect::<Vec<_>>()
    );
}
