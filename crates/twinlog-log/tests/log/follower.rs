//! Followers wait for appends (woken by the partition's watch, not by polling) and read in
//! order across segments; a read-only follower sees another handle's appends.

use twinlog_log::{Log, TopicConfig};

use crate::support::{append_range, open_small, rec};

#[tokio::test]
async fn a_follower_wakes_on_append_and_reads_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", TopicConfig::default()).unwrap();
    log.append("t", 0, (0..3).map(rec).collect()).await.unwrap();

    let mut f = log.subscribe("t", 0, 1).unwrap();
    let first = f.next_batch(10).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(f.try_next_batch(10).unwrap().is_empty());

    // The follower is parked before the append happens, then must wake for it.
    let waiter = tokio::spawn(async move {
        let r = f.next().await.unwrap();
        (r, f)
    });
    tokio::task::yield_now().await;
    log.append("t", 0, (3..400).map(rec).collect())
        .await
        .unwrap();
    let (r, mut f) = waiter.await.unwrap();
    assert_eq!((r.offset, r.record.clone()), (3, rec(3)));

    let mut next = 4;
    while next < 400 {
        for r in f.next_batch(64).await.unwrap() {
            assert_eq!(r.offset, next);
            assert_eq!(r.record, rec(next));
            next += 1;
        }
    }
    assert_eq!(f.position(), 400);
    f.seek(10);
    assert_eq!(f.next().await.unwrap().offset, 10);
    assert_eq!((f.topic(), f.partition()), ("t", 0));
}

#[tokio::test]
async fn a_read_only_follower_sees_the_writers_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", TopicConfig::default()).unwrap();
    let reader = Log::open_read_only(dir.path()).unwrap();
    let mut f = reader.subscribe("t", 0, 0).unwrap();
    append_range_async(&log, 0, 30).await;
    let mut seen = Vec::new();
    while seen.len() < 30 {
        seen.extend(
            f.next_batch(100)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.offset),
        );
    }
    assert_eq!(seen, (0..30).collect::<Vec<_>>());
}

async fn append_range_async(log: &Log, from: u64, to: u64) {
    log.append("t", 0, (from..to).map(rec).collect())
        .await
        .unwrap();
}

#[test]
fn followers_cross_segments_from_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_small(dir.path());
    log.create_topic("t", TopicConfig::default()).unwrap();
    append_range(&log, "t", 0, 0, 1000, 25);
    let mut f = log.subscribe("t", 0, 0).unwrap();
    let mut n = 0;
    loop {
        let b = f.try_next_batch(333).unwrap();
        if b.is_empty() {
            break;
        }
        for r in b {
            assert_eq!(r.offset, n);
            n += 1;
        }
    }
    assert_eq!(n, 1000);
}
