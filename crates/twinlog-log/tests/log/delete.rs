//! Deleting a topic: its records and directory go, followers end instead of waiting forever,
//! appends queued before the delete are acknowledged, a topic of the same name starts empty,
//! and a deletion interrupted after its rename is finished by the next open.

use twinlog_log::{LogError, TopicConfig};

use crate::support::{append_range, block_on, open_small, read_all, rec};

fn two_partitions() -> TopicConfig {
    TopicConfig {
        partitions: 2,
        ..TopicConfig::default()
    }
}

#[test]
fn a_deleted_topic_is_gone_and_its_name_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", two_partitions()).unwrap();
    log.create_topic("kept", TopicConfig::default()).unwrap();
    append_range(&log, "t", 0, 0, 500, 10);
    append_range(&log, "kept", 0, 0, 20, 10);
    let mut follower = log.subscribe("t", 1, 0).unwrap();
    // Queued before the delete: written and acknowledged, then deleted with the rest.
    let queued = log.append("t", 0, vec![rec(500)]);

    log.delete_topic("t").unwrap();
    assert!(
        block_on(queued).is_ok(),
        "an append queued before is acknowledged"
    );
    assert_eq!(log.topics(), vec!["kept".to_string()]);
    assert!(!dir.path().join("topics/t").exists());
    assert!(matches!(
        log.describe("t"),
        Err(LogError::UnknownTopic { topic }) if topic == "t"
    ));
    assert!(matches!(
        block_on(log.append("t", 0, vec![rec(0)])),
        Err(LogError::UnknownTopic { .. })
    ));
    assert!(matches!(
        block_on(follower.next_batch(10)),
        Err(LogError::UnknownTopic { .. })
    ));
    assert!(matches!(
        log.delete_topic("t"),
        Err(LogError::UnknownTopic { .. })
    ));

    log.create_topic("t", TopicConfig::default()).unwrap();
    assert_eq!(log.end_offset("t", 0).unwrap(), 0, "the new topic is empty");
    append_range(&log, "t", 0, 0, 3, 3);
    assert_eq!(read_all(&log, "t", 0, 0).len(), 3);
    assert_eq!(
        read_all(&log, "kept", 0, 0).len(),
        20,
        "other topics keep theirs"
    );
    drop((log, follower));

    let log = open_small(dir.path());
    assert_eq!(log.topics(), vec!["kept".to_string(), "t".to_string()]);
    assert_eq!(read_all(&log, "t", 0, 0).len(), 3);
}

#[test]
fn a_deletion_interrupted_after_the_rename_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open_small(dir.path());
        log.create_topic("t", two_partitions()).unwrap();
        append_range(&log, "t", 0, 0, 100, 10);
    }
    // What a crash between the rename and the removal leaves.
    let topics = dir.path().join("topics");
    std::fs::rename(topics.join("t"), topics.join("~deleted-t")).unwrap();
    let log = open_small(dir.path());
    assert!(log.topics().is_empty());
    assert!(!topics.join("~deleted-t").exists());
    log.create_topic("t", TopicConfig::default()).unwrap();
    assert_eq!(log.end_offset("t", 0).unwrap(), 0);
}

#[test]
fn a_read_only_log_cannot_delete() {
    let dir = tempfile::tempdir().unwrap();
    open_small(dir.path())
        .create_topic("t", TopicConfig::default())
        .unwrap();
    let ro = twinlog_log::Log::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        ro.delete_topic("t"),
        Err(LogError::ReadOnly { .. })
    ));
    assert!(dir.path().join("topics/t").exists());
}
