//! The behaviour every [`Bus`] must show, as async checks that take a [`Harness`] (how to open
//! and reopen one implementation). `tests/bus.rs` runs them against the memory and embedded
//! buses with [`conformance_tests!`](crate::conformance_tests); a Kafka implementation runs the
//! same list against a broker. The checks panic (assert) on a violation, like any test.
//!
//! Nothing here measures time: waiting is checked by counting wake-ups, not by sleeping.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use twinlog_core::{Record, StoredRecord, Timestamp, TopicName, partition_for_key};

use crate::api::{Assignment, Bus, Consumer, RebalanceListener};
use crate::error::BusError;
use crate::types::{
    ConsumerOptions, GroupId, OffsetReset, ProducerRecord, StartAt, TopicPartition, TopicSpec,
};

/// How to get a bus of one implementation for one check.
pub trait Harness {
    /// The implementation under test.
    type Bus: Bus + 'static;

    /// A bus on fresh, empty storage (the first call) or on this harness's storage.
    fn open(&self) -> Self::Bus;

    /// Closes `bus` and opens it again on the same storage: a restart for a durable bus.
    /// A bus without durability returns the same instance (offsets then live "within one
    /// instance").
    fn reopen(&self, bus: Self::Bus) -> Self::Bus;
}

/// Declares one `#[tokio::test]` per conformance check, each with a fresh harness from
/// `$harness` (an expression evaluated per test). Use it inside a module per implementation:
/// `mod memory { twinlog_bus::conformance_tests!(MemoryHarness); }`.
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@cases $harness;
            send_returns_dense_offsets_per_partition,
            pipelined_sends_keep_call_order,
            same_key_same_partition_in_order,
            send_batch_routes_like_send,
            committed_offsets_survive_reopen,
            single_member_gets_every_partition,
            group_rebalance_fires_revoke_and_assign,
            commit_is_fenced_to_the_owner,
            two_groups_each_see_all_records,
            latest_reset_skips_existing_records,
            on_assigned_can_seek,
            seek_by_offset_and_time,
            consumer_seeks_by_offset_and_time,
            reader_waits_without_busy_polling,
            consumer_waits_without_busy_polling,
            poll_is_cancel_safe,
            unknown_topic_and_bad_input_error,
            list_and_describe_topics,
            delete_topic_removes_records_and_offsets,
        );
        // Real parallelism: members on different worker threads.
        $crate::conformance_tests!(@multi $harness;
            handover_loses_and_duplicates_nothing,
        );
    };
    (@multi $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::conformance::$name(&harness).await;
            }
        )*
    };
    (@cases $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let harness = $harness;
                $crate::conformance::$name(&harness).await;
            }
        )*
    };
}

/// What a [`RecordingListener`] heard, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// `on_assigned` with these partitions (sorted).
    Assigned(Vec<TopicPartition>),
    /// `on_revoked` with these partitions (sorted).
    Revoked(Vec<TopicPartition>),
}

/// A listener that records every callback; optionally seeks newly assigned partitions.
#[derive(Debug, Default)]
pub struct RecordingListener {
    events: Mutex<Vec<RebalanceEvent>>,
    seek_to: Option<u64>,
}

impl RecordingListener {
    /// A listener that moves every newly assigned partition to `offset`.
    pub fn seeking_to(offset: u64) -> RecordingListener {
        RecordingListener {
            events: Mutex::default(),
            seek_to: Some(offset),
        }
    }

    /// Everything heard so far.
    pub fn events(&self) -> Vec<RebalanceEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn push(&self, e: RebalanceEvent) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e);
    }
}

impl RebalanceListener for RecordingListener {
    fn on_assigned(&self, assignment: &mut Assignment) {
        let mut tps: Vec<TopicPartition> = assignment.partitions().cloned().collect();
        tps.sort();
        if let Some(o) = self.seek_to {
            for tp in &tps {
                assert!(assignment.seek(tp, o));
            }
        }
        self.push(RebalanceEvent::Assigned(tps));
    }

    fn on_revoked(&self, partitions: &[TopicPartition]) {
        let mut tps = partitions.to_vec();
        tps.sort();
        self.push(RebalanceEvent::Revoked(tps));
    }
}

fn topic(name: &str) -> TopicName {
    TopicName::new(name).expect("test topic names are valid")
}

fn group(name: &str) -> GroupId {
    GroupId::new(name).expect("test group ids are valid")
}

fn tps(t: &TopicName, partitions: impl IntoIterator<Item = u32>) -> Vec<TopicPartition> {
    partitions
        .into_iter()
        .map(|p| TopicPartition::new(t.clone(), p))
        .collect()
}

fn record(key: Option<&str>, value: &str, micros: i64) -> Record {
    Record {
        timestamp: Timestamp::from_micros(micros),
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        headers: Vec::new(),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
    }
}

fn value(r: &StoredRecord) -> String {
    String::from_utf8_lossy(r.record.value.as_deref().unwrap_or_default()).into_owned()
}

async fn create(bus: &(impl Bus + ?Sized), name: &TopicName, partitions: u32) {
    bus.create_topic(name, TopicSpec::new(partitions))
        .await
        .expect("create topic");
}

/// Joins group `g` on topic `t` with a listener that only records.
async fn join(bus: &(impl Bus + ?Sized), g: &GroupId, t: &TopicName) -> Box<dyn Consumer> {
    bus.subscribe(
        g,
        std::slice::from_ref(t),
        Arc::new(RecordingListener::default()),
    )
    .await
    .expect("subscribe")
}

/// Polls until `n` records arrived (each poll waits, so this never spins).
async fn consume(c: &mut Box<dyn Consumer>, n: usize) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    while out.len() < n {
        out.extend(c.poll(n - out.len()).await.expect("poll"));
    }
    out
}

/// Offsets are dense from 0 in each partition, and every send reports where it went.
pub async fn send_returns_dense_offsets_per_partition<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("dense");
    create(&bus, &t, 3).await;
    for round in 0..4u64 {
        for p in 0..3 {
            let d = bus
                .send(&t, ProducerRecord::to_partition(record(None, "x", 0), p))
                .await
                .expect("send");
            assert_eq!((d.partition, d.offset), (p, round));
        }
    }
    // Keyless records go round-robin: 6 of them land 2 per partition, densely after the rest.
    let mut per_partition: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for i in 0..6 {
        let d = bus
            .send(&t, record(None, &format!("rr{i}"), 0).into())
            .await
            .expect("send");
        per_partition.entry(d.partition).or_default().push(d.offset);
    }
    assert_eq!(per_partition.len(), 3);
    for offsets in per_partition.values() {
        assert_eq!(offsets, &vec![4, 5]);
    }
    for p in 0..3 {
        let read = bus
            .read(&TopicPartition::new(t.clone(), p), 0, 100)
            .await
            .expect("read");
        let offsets: Vec<u64> = read.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (0..6).collect::<Vec<u64>>());
        assert!(
            read.iter()
                .all(|r| r.partition == p && &*r.topic == "dense")
        );
    }
}

/// Sends enqueued one after another get offsets in call order even when their futures are
/// awaited later, in reverse, mixed with batches, and sent from a thread without a runtime.
pub async fn pipelined_sends_keep_call_order<H: Harness>(h: &H) {
    let bus = Arc::new(h.open());
    let t = topic("pipelined");
    create(&*bus, &t, 1).await;
    let mut singles = Vec::new();
    let mut batches = Vec::new();
    for i in 0..20 {
        if i % 5 == 4 {
            let batch = (0..3)
                .map(|k| record(Some("k"), &format!("{i}.{k}"), 0).into())
                .collect();
            batches.push((i, bus.send_batch(&t, batch)));
        } else {
            singles.push((i, bus.send(&t, record(Some("k"), &i.to_string(), 0).into())));
        }
    }
    // A plain thread (no Tokio runtime) sends too; its records follow all of the above.
    let from_thread = {
        let (bus, t) = (Arc::clone(&bus), t.clone());
        std::thread::spawn(move || {
            (0..3)
                .map(|k| bus.send(&t, record(Some("k"), &format!("thread.{k}"), 0).into()))
                .collect::<Vec<_>>()
        })
        .join()
        .expect("sender thread")
    };
    let mut expected: Vec<String> = Vec::new();
    for i in 0..20 {
        if i % 5 == 4 {
            expected.extend((0..3).map(|k| format!("{i}.{k}")));
        } else {
            expected.push(i.to_string());
        }
    }
    expected.extend((0..3).map(|k| format!("thread.{k}")));
    let mut offsets: BTreeMap<String, u64> = BTreeMap::new();
    for (k, f) in from_thread.into_iter().enumerate().rev() {
        offsets.insert(
            format!("thread.{k}"),
            f.await.expect("send from thread").offset,
        );
    }
    for (i, f) in singles.into_iter().rev() {
        offsets.insert(i.to_string(), f.await.expect("send").offset);
    }
    for (i, f) in batches.into_iter().rev() {
        for (k, d) in f.await.expect("send_batch").into_iter().enumerate() {
            offsets.insert(format!("{i}.{k}"), d.offset);
        }
    }
    let by_offset: Vec<u64> = expected.iter().map(|v| offsets[v]).collect();
    assert_eq!(
        by_offset,
        (0..expected.len() as u64).collect::<Vec<u64>>(),
        "offsets follow call order"
    );
    let read = bus
        .read(&TopicPartition::new(t.clone(), 0), 0, 100)
        .await
        .expect("read");
    let values: Vec<String> = read.iter().map(value).collect();
    assert_eq!(values, expected);
}

/// All records of one key go to `partition_for_key`, in send order, also after a reopen.
pub async fn same_key_same_partition_in_order<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("keyed");
    create(&bus, &t, 4).await;
    let keys = ["thing-1", "thing-2", "thing-3"];
    for i in 0..10 {
        for k in keys {
            let d = bus
                .send(&t, record(Some(k), &format!("{k}:{i}"), i).into())
                .await
                .expect("send");
            assert_eq!(d.partition, partition_for_key(k.as_bytes(), 4), "key {k}");
        }
    }
    let bus = h.reopen(bus);
    for k in keys {
        let d = bus
            .send(&t, record(Some(k), &format!("{k}:10"), 10).into())
            .await
            .expect("send after reopen");
        assert_eq!(
            d.partition,
            partition_for_key(k.as_bytes(), 4),
            "key {k} after reopen"
        );
        let read = bus
            .read(&TopicPartition::new(t.clone(), d.partition), 0, 1000)
            .await
            .expect("read");
        let values: Vec<String> = read
            .iter()
            .filter(|r| r.record.key.as_deref() == Some(k.as_bytes()))
            .map(value)
            .collect();
        let expected: Vec<String> = (0..=10).map(|i| format!("{k}:{i}")).collect();
        assert_eq!(values, expected);
    }
}

/// A batch is routed record by record like `send` and reported in input order.
pub async fn send_batch_routes_like_send<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("batch");
    create(&bus, &t, 3).await;
    let keys: Vec<String> = (0..30).map(|i| format!("device-{}", i % 7)).collect();
    let batch = keys
        .iter()
        .enumerate()
        .map(|(i, k)| record(Some(k), &i.to_string(), 0).into())
        .collect();
    let deliveries = bus.send_batch(&t, batch).await.expect("send_batch");
    assert_eq!(deliveries.len(), 30);
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for (k, d) in keys.iter().zip(&deliveries) {
        assert_eq!(d.partition, partition_for_key(k.as_bytes(), 3));
        let expected = next.entry(d.partition).or_insert(0);
        assert_eq!(d.offset, *expected, "dense offsets in input order");
        *expected += 1;
    }
    for (i, d) in deliveries.iter().enumerate() {
        let read = bus
            .read(&TopicPartition::new(t.clone(), d.partition), d.offset, 1)
            .await
            .expect("read");
        assert_eq!(value(&read[0]), i.to_string());
    }
}

/// A committed offset is the next offset to read; it survives a restart, and a new member of
/// the group resumes there.
pub async fn committed_offsets_survive_reopen<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("commits");
    create(&bus, &t, 1).await;
    for i in 0..5 {
        bus.send(&t, record(None, &i.to_string(), 0).into())
            .await
            .expect("send");
    }
    let g = group("billing");
    let tp = TopicPartition::new(t.clone(), 0);
    let mut c = join(&bus, &g, &t).await;
    let got = consume(&mut c, 3).await;
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    c.commit(vec![(tp.clone(), 3)]).await.expect("commit");
    assert_eq!(bus.committed(&g, &tp).await.expect("committed"), Some(3));
    drop(c);

    let bus = h.reopen(bus);
    assert_eq!(bus.committed(&g, &tp).await.expect("committed"), Some(3));
    assert_eq!(
        bus.committed(&group("other"), &tp)
            .await
            .expect("committed"),
        None
    );
    let mut c = join(&bus, &g, &t).await;
    let got = consume(&mut c, 2).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(c.position(&tp), Some(5));
    c.commit_consumed().await.expect("commit consumed");
    drop(c);
    let bus = h.reopen(bus);
    assert_eq!(bus.committed(&g, &tp).await.expect("committed"), Some(5));
}

/// With one member, a group owns every partition of every subscribed topic.
pub async fn single_member_gets_every_partition<H: Harness>(h: &H) {
    let bus = h.open();
    let a = topic("single-a");
    let b = topic("single-b");
    create(&bus, &a, 3).await;
    create(&bus, &b, 2).await;
    bus.send(&a, ProducerRecord::to_partition(record(None, "1", 0), 2))
        .await
        .expect("send");
    let listener = Arc::new(RecordingListener::default());
    let mut c = bus
        .subscribe(&group("solo"), &[a.clone(), b.clone()], listener.clone())
        .await
        .expect("subscribe");
    let got = consume(&mut c, 1).await;
    assert_eq!((got[0].partition, value(&got[0])), (2, "1".to_owned()));
    let mut all = tps(&a, 0..3);
    all.extend(tps(&b, 0..2));
    all.sort();
    assert_eq!(
        listener.events(),
        vec![RebalanceEvent::Assigned(all.clone())]
    );
    assert_eq!(c.assignment(), all);
}

/// A second member takes half the partitions (after the first revoked them), callbacks fire
/// on both sides, and when it leaves the first member gets them back.
pub async fn group_rebalance_fires_revoke_and_assign<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("rebalance");
    create(&bus, &t, 4).await;
    for p in 0..4 {
        bus.send(
            &t,
            ProducerRecord::to_partition(record(None, "first", 0), p),
        )
        .await
        .expect("send");
    }
    let g = group("workers");
    let la = Arc::new(RecordingListener::default());
    let mut a = bus
        .subscribe(&g, std::slice::from_ref(&t), la.clone())
        .await
        .expect("subscribe a");
    let got = consume(&mut a, 4).await;
    assert_eq!(
        got.iter()
            .map(|r| r.partition)
            .collect::<BTreeSet<_>>()
            .len(),
        4
    );
    assert_eq!(la.events(), vec![RebalanceEvent::Assigned(tps(&t, 0..4))]);
    a.commit_consumed().await.expect("commit");

    // B joins; it gets partitions only once A gives them up, inside A's next poll.
    let lb = Arc::new(RecordingListener::default());
    let mut b = bus
        .subscribe(&g, std::slice::from_ref(&t), lb.clone())
        .await
        .expect("subscribe b");
    for p in 0..4 {
        bus.send(
            &t,
            ProducerRecord::to_partition(record(None, "second", 0), p),
        )
        .await
        .expect("send");
    }
    let mut b_task = tokio::spawn(async move {
        let got = b.poll(10).await.expect("poll b");
        (b, got)
    });
    // When the rebalance takes effect differs (at once in process, a few round trips on
    // Kafka), so A may read partitions it is about to lose; what both guarantee is that A
    // gets nothing of a partition after its `on_revoked`.
    let mut a_got = Vec::new();
    let (b, b_got) = loop {
        tokio::select! {
            done = &mut b_task => break done.expect("b task"),
            got = a.poll(10) => {
                let revoked = la.events().len() > 1;
                a_got.extend(got.expect("poll a").into_iter().map(|r| (r, revoked)));
            }
        }
    };
    let a_parts = a.assignment();
    let b_parts = b.assignment();
    assert_eq!(a_parts.len(), 2);
    assert_eq!(b_parts.len(), 2);
    let union: BTreeSet<_> = a_parts.iter().chain(&b_parts).cloned().collect();
    assert_eq!(union.into_iter().collect::<Vec<_>>(), tps(&t, 0..4));
    assert_eq!(
        la.events(),
        vec![
            RebalanceEvent::Assigned(tps(&t, 0..4)),
            RebalanceEvent::Revoked(b_parts.clone())
        ]
    );
    assert_eq!(lb.events(), vec![RebalanceEvent::Assigned(b_parts.clone())]);
    // B resumes where the group committed (offset 1), on its own partitions only.
    assert!(!b_got.is_empty());
    for r in &b_got {
        assert!(b_parts.contains(&TopicPartition::new(t.clone(), r.partition)));
        assert_eq!((r.offset, value(r)), (1, "second".to_owned()));
    }
    for (r, after_revoke) in &a_got {
        assert!(
            !after_revoke || a_parts.contains(&TopicPartition::new(t.clone(), r.partition)),
            "A returned {}/{} after it was revoked",
            r.partition,
            r.offset
        );
    }

    // B leaves: A takes its partitions back and re-reads them from the committed offset
    // (B never committed: at-least-once).
    b.close().await.expect("close b");
    assert_eq!(
        lb.events(),
        vec![
            RebalanceEvent::Assigned(b_parts.clone()),
            RebalanceEvent::Revoked(b_parts.clone())
        ]
    );
    let mut from_b: BTreeSet<(u32, u64)> = BTreeSet::new();
    while from_b.len() < 2 {
        for r in a.poll(10).await.expect("poll a") {
            if b_parts.contains(&TopicPartition::new(t.clone(), r.partition)) {
                from_b.insert((r.partition, r.offset));
            }
        }
    }
    assert!(from_b.iter().all(|(_, o)| *o == 1));
    assert_eq!(a.assignment(), tps(&t, 0..4));
    assert_eq!(
        la.events(),
        vec![
            RebalanceEvent::Assigned(tps(&t, 0..4)),
            RebalanceEvent::Revoked(b_parts.clone()),
            RebalanceEvent::Assigned(b_parts),
        ]
    );
}

/// Only the owner of a partition may commit or seek it.
pub async fn commit_is_fenced_to_the_owner<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("fenced");
    create(&bus, &t, 1).await;
    bus.send(&t, record(None, "x", 0).into())
        .await
        .expect("send");
    let g = group("fence");
    let mut a = join(&bus, &g, &t).await;
    consume(&mut a, 1).await;
    let mut b = join(&bus, &g, &t).await;
    let tp = TopicPartition::new(t.clone(), 0);
    let err = b
        .commit(vec![(tp.clone(), 1)])
        .await
        .expect_err("b owns nothing");
    assert!(
        matches!(err, BusError::NotAssigned { partition: 0, .. }),
        "{err}"
    );
    assert!(matches!(b.seek(&tp, 0), Err(BusError::NotAssigned { .. })));
    a.commit(vec![(tp.clone(), 1)]).await.expect("a owns it");
    assert_eq!(bus.committed(&g, &tp).await.expect("committed"), Some(1));
}

/// Two groups on one topic each receive every record.
pub async fn two_groups_each_see_all_records<H: Harness>(h: &H) {
    // Through a trait object, as the runtime holds it.
    let bus: Arc<dyn Bus> = Arc::new(h.open());
    let bus = &*bus;
    let t = topic("fanout");
    create(bus, &t, 2).await;
    let mut sent = BTreeSet::new();
    for i in 0..10 {
        let d = bus
            .send(&t, record(Some(&format!("k{i}")), "v", 0).into())
            .await
            .expect("send");
        sent.insert((d.partition, d.offset));
    }
    for name in ["audit", "twins"] {
        let mut c = join(bus, &group(name), &t).await;
        let records = consume(&mut c, 10).await;
        // Within a partition, records arrive in offset order.
        let mut last: BTreeMap<u32, u64> = BTreeMap::new();
        for r in &records {
            if let Some(prev) = last.insert(r.partition, r.offset) {
                assert!(
                    r.offset > prev,
                    "partition {} went {prev} -> {}",
                    r.partition,
                    r.offset
                );
            }
        }
        let got: BTreeSet<(u32, u64)> = records.iter().map(|r| (r.partition, r.offset)).collect();
        assert_eq!(got, sent, "group {name}");
    }
}

/// `OffsetReset::Latest` starts a group without commits at the end.
pub async fn latest_reset_skips_existing_records<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("latest");
    create(&bus, &t, 1).await;
    bus.send(&t, record(None, "old", 0).into())
        .await
        .expect("send");
    let listener = Arc::new(RecordingListener::default());
    let mut c = bus
        .subscribe_with(
            &group("late"),
            std::slice::from_ref(&t),
            listener.clone(),
            ConsumerOptions::with_reset(OffsetReset::Latest),
        )
        .await
        .expect("subscribe");
    // The first poll takes the assignment (at the end, offset 1) and waits. "Latest" is the
    // end when the assignment is made: on Kafka that is a few round trips after the first
    // poll (under load, longer than a quiet spell), so the record is sent only once the
    // listener has heard of the assignment.
    let mut next = c.next();
    poll_until(&mut next, || !listener.events().is_empty()).await;
    assert_parked(&mut next).await;
    bus.send(&t, record(None, "new", 0).into())
        .await
        .expect("send");
    let got = next.await.expect("next");
    assert_eq!((got.offset, value(&got)), (1, "new".to_owned()));
}

/// `on_assigned` may move the start position before any record is returned.
pub async fn on_assigned_can_seek<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("assign-seek");
    create(&bus, &t, 1).await;
    for i in 0..5 {
        bus.send(&t, record(None, &i.to_string(), 0).into())
            .await
            .expect("send");
    }
    let mut c = bus
        .subscribe(
            &group("snap"),
            std::slice::from_ref(&t),
            Arc::new(RecordingListener::seeking_to(3)),
        )
        .await
        .expect("subscribe");
    let got = consume(&mut c, 2).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![3, 4]);
}

/// Readers start at an offset or a time, and seek to either; time lookups find the first
/// record at or after the time.
pub async fn seek_by_offset_and_time<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("replay");
    create(&bus, &t, 1).await;
    let tp = TopicPartition::new(t.clone(), 0);
    send_timed(&bus, &t).await;
    let at = |micros: i64| Timestamp::from_micros(micros);
    assert_eq!(
        bus.offset_for_timestamp(&tp, at(2500)).await.expect("oft"),
        Some(2)
    );
    assert_eq!(
        bus.offset_for_timestamp(&tp, at(3000)).await.expect("oft"),
        Some(2)
    );
    assert_eq!(
        bus.offset_for_timestamp(&tp, at(0)).await.expect("oft"),
        Some(0)
    );
    assert_eq!(
        bus.offset_for_timestamp(&tp, at(10_001))
            .await
            .expect("oft"),
        None
    );

    let mut r = bus.reader(&tp, StartAt::Offset(7)).await.expect("reader");
    assert_eq!(r.next().await.expect("next").offset, 7);
    let mut r = bus
        .reader(&tp, StartAt::Timestamp(at(4500)))
        .await
        .expect("reader");
    assert_eq!(r.position(), 4);
    assert_eq!(value(&r.next().await.expect("next")), "4");
    assert_eq!(r.seek_to_timestamp(at(1500)).await.expect("seek"), 1);
    assert_eq!(r.next().await.expect("next").offset, 1);
    r.seek(9);
    assert_eq!(r.try_next_batch(10).expect("try").len(), 1);
    assert!(r.try_next_batch(10).expect("try").is_empty());
    assert_eq!(
        r.seek_to_timestamp(at(99_999))
            .await
            .expect("seek past end"),
        10
    );
    let r = bus.reader(&tp, StartAt::Latest).await.expect("reader");
    assert_eq!(r.position(), 10);
    let r = bus.reader(&tp, StartAt::Earliest).await.expect("reader");
    assert_eq!(r.position(), 0);
}

/// A group consumer seeks an owned partition by offset and by time.
pub async fn consumer_seeks_by_offset_and_time<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("replay");
    create(&bus, &t, 1).await;
    let tp = TopicPartition::new(t.clone(), 0);
    send_timed(&bus, &t).await;
    let at = |micros: i64| Timestamp::from_micros(micros);
    let mut c = join(&bus, &group("replayer"), &t).await;
    assert_eq!(consume(&mut c, 1).await[0].offset, 0);
    c.seek(&tp, 8).expect("seek");
    assert_eq!(c.position(&tp), Some(8));
    assert_eq!(c.next().await.expect("next").offset, 8);
    assert_eq!(c.seek_to_timestamp(&tp, at(5000)).await.expect("seek"), 4);
    assert_eq!(c.next().await.expect("next").offset, 4);
}

/// A waker that counts how often it is woken.
#[derive(Debug, Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` with a counting waker, lets every other task run many times, and checks that
/// nothing woke it (a busy-polling wait would wake itself to be polled again).
///
/// A group consumer's first wait may be woken while its assignment is served: in process
/// that happens before it parks, on Kafka it takes a few round trips. So the check both meet
/// is that the wait *settles*: within 30 s it is polled, stays pending, and is not woken
/// during a quiet period of 100 yields and 50 ms.
/// Records "0".."9" at offsets 0..10 of partition 0, at times 1000, 2000, … 10000 µs.
async fn send_timed(bus: &impl Bus, t: &TopicName) {
    for i in 0..10i64 {
        bus.send(t, record(None, &i.to_string(), (i + 1) * 1000).into())
            .await
            .expect("send");
    }
}

/// Polls a future that has nothing to return yet until `cond` holds (at most 30 s).
async fn poll_until<F: Future + Unpin>(fut: &mut F, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        assert!(
            std::pin::Pin::new(&mut *fut)
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending(),
            "nothing was sent yet, the wait must be pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the condition did not hold within 30 s");
}

async fn assert_parked<F: Future + Unpin>(fut: &mut F) {
    let mut settled = false;
    for _ in 0..600 {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        assert!(
            std::pin::Pin::new(&mut *fut).poll(&mut cx).is_pending(),
            "nothing was sent yet, the wait must be pending"
        );
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if counter.0.load(Ordering::SeqCst) == 0 {
            settled = true;
            break;
        }
    }
    assert!(settled, "the waiting future kept waking itself");
    // Poll it once more with the real context so it wakes this task when records arrive.
    poll_fn(|cx| {
        let _ = std::pin::Pin::new(&mut *fut).poll(cx).is_pending();
        Poll::Ready(())
    })
    .await;
}

/// A reader at the end waits without polling and wakes when a record is sent.
pub async fn reader_waits_without_busy_polling<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("tail");
    create(&bus, &t, 1).await;
    let mut r = bus
        .reader(&TopicPartition::new(t.clone(), 0), StartAt::Latest)
        .await
        .expect("reader");
    let mut next = r.next();
    assert_parked(&mut next).await;
    bus.send(&t, record(None, "wake", 0).into())
        .await
        .expect("send");
    let got = next.await.expect("next");
    assert_eq!((got.offset, value(&got)), (0, "wake".to_owned()));
}

/// A group consumer with nothing to read waits without polling and wakes on a send.
pub async fn consumer_waits_without_busy_polling<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("idle");
    create(&bus, &t, 2).await;
    let mut c = join(&bus, &group("idle"), &t).await;
    let mut next = c.next();
    assert_parked(&mut next).await;
    bus.send(&t, ProducerRecord::to_partition(record(None, "wake", 0), 1))
        .await
        .expect("send");
    let got = next.await.expect("next");
    assert_eq!(
        (got.partition, got.offset, value(&got)),
        (1, 0, "wake".to_owned())
    );
}

/// Unknown topics and partitions, duplicate or reserved names and empty subscriptions are
/// typed errors.
pub async fn unknown_topic_and_bad_input_error<H: Harness>(h: &H) {
    let bus = h.open();
    let missing = topic("missing");
    let tp = TopicPartition::new(missing.clone(), 0);
    let is_unknown =
        |e: &BusError| matches!(e, BusError::UnknownTopic { topic } if topic == "missing");
    let e = bus
        .send(&missing, record(None, "x", 0).into())
        .await
        .expect_err("send");
    assert!(is_unknown(&e), "{e}");
    let e = bus
        .send_batch(&missing, vec![record(None, "x", 0).into()])
        .await
        .expect_err("send_batch");
    assert!(is_unknown(&e), "{e}");
    let e = bus.describe_topic(&missing).await.expect_err("describe");
    assert!(is_unknown(&e), "{e}");
    let e = bus
        .subscribe(
            &group("g"),
            std::slice::from_ref(&missing),
            Arc::new(RecordingListener::default()),
        )
        .await
        .expect_err("subscribe");
    assert!(is_unknown(&e), "{e}");
    let e = bus
        .reader(&tp, StartAt::Earliest)
        .await
        .expect_err("reader");
    assert!(is_unknown(&e), "{e}");
    let e = bus.read(&tp, 0, 1).await.expect_err("read");
    assert!(is_unknown(&e), "{e}");
    assert!(e.to_string().contains("missing"));

    let t = topic("present");
    create(&bus, &t, 2).await;
    let e = bus
        .create_topic(&t, TopicSpec::new(2))
        .await
        .expect_err("duplicate");
    assert!(matches!(e, BusError::TopicExists { .. }), "{e}");
    let e = bus
        .send(&t, ProducerRecord::to_partition(record(None, "x", 0), 2))
        .await
        .expect_err("partition 2 of 2");
    assert!(
        matches!(
            e,
            BusError::UnknownPartition {
                partition: 2,
                partitions: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = bus
        .reader(&TopicPartition::new(t.clone(), 5), StartAt::Earliest)
        .await
        .expect_err("partition 5");
    assert!(
        matches!(e, BusError::UnknownPartition { partition: 5, .. }),
        "{e}"
    );
    let e = bus
        .create_topic(&topic("__internal"), TopicSpec::new(1))
        .await
        .expect_err("reserved");
    assert!(matches!(e, BusError::ReservedTopic { .. }), "{e}");
    let e = bus
        .create_topic(&topic("empty"), TopicSpec::new(0))
        .await
        .expect_err("0 partitions");
    assert!(matches!(e, BusError::InvalidTopicSpec { .. }), "{e}");
    let e = bus
        .subscribe(&group("g"), &[], Arc::new(RecordingListener::default()))
        .await
        .expect_err("no topics");
    assert!(matches!(e, BusError::EmptySubscription { .. }), "{e}");
    assert!(matches!(
        GroupId::new("bad group"),
        Err(BusError::InvalidGroupId { .. })
    ));
}

/// Topics are listed sorted without internal ones and described with their offsets.
pub async fn list_and_describe_topics<H: Harness>(h: &H) {
    let bus = h.open();
    create(&bus, &topic("zeta"), 1).await;
    bus.create_topic(&topic("alpha"), TopicSpec::new(3).compacted())
        .await
        .expect("create");
    assert_eq!(
        bus.list_topics().await.expect("list"),
        vec![topic("alpha"), topic("zeta")]
    );
    for _ in 0..2 {
        bus.send(
            &topic("alpha"),
            ProducerRecord::to_partition(record(Some("k"), "v", 0), 1),
        )
        .await
        .expect("send");
    }
    let d = bus.describe_topic(&topic("alpha")).await.expect("describe");
    assert_eq!(d.name, topic("alpha"));
    assert_eq!(d.spec, TopicSpec::new(3).compacted());
    let ends: Vec<(u32, u64, u64)> = d
        .partitions
        .iter()
        .map(|p| (p.partition, p.start_offset, p.end_offset))
        .collect();
    assert_eq!(ends, vec![(0, 0, 0), (1, 0, 2), (2, 0, 0)]);
    let bus = h.reopen(bus);
    assert_eq!(
        bus.list_topics().await.expect("list after reopen"),
        vec![topic("alpha"), topic("zeta")]
    );
}

/// Dropping a waiting `poll` loses nothing: the record sent afterwards is the next one returned.
pub async fn poll_is_cancel_safe<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("cancel");
    create(&bus, &t, 1).await;
    let mut c = join(&bus, &group("cancel"), &t).await;
    {
        let mut waiting = c.poll(10);
        assert_parked(&mut waiting).await;
    }
    bus.send(&t, record(None, "after", 0).into())
        .await
        .expect("send");
    let got = c.next().await.expect("next");
    assert_eq!((got.offset, value(&got)), (0, "after".to_owned()));
}

/// Members that commit what they consumed before polling again hand partitions over without
/// losing or repeating a record, while members join and leave and records keep arriving.
pub async fn handover_loses_and_duplicates_nothing<H: Harness>(h: &H) {
    const PARTITIONS: u32 = 4;
    const PER_PHASE: usize = 60;
    let bus = Arc::new(h.open());
    let t = topic("handover");
    create(&*bus, &t, PARTITIONS).await;
    let g = group("handover");
    // Every record consumed, by any member, and how many there are so far.
    let seen: Arc<Mutex<Vec<(u32, u64)>>> = Arc::default();
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let count_tx = Arc::new(count_tx);

    // Joining happens when `subscribe` returns, so the group's targets change at a known point.
    let join = || {
        bus.subscribe(
            &g,
            std::slice::from_ref(&t),
            Arc::new(RecordingListener::default()),
        )
    };
    let spawn_member = |mut c: Box<dyn Consumer>, mut stop: tokio::sync::watch::Receiver<bool>| {
        let (seen, count_tx) = (Arc::clone(&seen), Arc::clone(&count_tx));
        tokio::spawn(async move {
            let mut mine = 0;
            loop {
                let got = tokio::select! {
                    _ = stop.wait_for(|s| *s) => None,
                    got = c.poll(7) => Some(got.expect("poll")),
                };
                let Some(got) = got else { break };
                mine += got.len();
                let n = {
                    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    seen.extend(got.iter().map(|r| (r.partition, r.offset)));
                    seen.len()
                };
                // Commit before the next poll: that is where a rebalance can take partitions.
                c.commit_consumed().await.expect("commit");
                count_tx.send_replace(n);
            }
            c.close().await.expect("close");
            mine
        })
    };
    let send_phase = |phase: usize| {
        let bus = Arc::clone(&bus);
        let t = t.clone();
        async move {
            let batch = (0..PER_PHASE)
                .map(|i| record(Some(&format!("k{}", phase * PER_PHASE + i)), "v", 0).into())
                .collect();
            bus.send_batch(&t, batch).await.expect("send_batch");
        }
    };

    let (stop_a, stop_a_rx) = tokio::sync::watch::channel(false);
    let (stop_rest, stop_rest_rx) = tokio::sync::watch::channel(false);
    let a = spawn_member(join().await.expect("join a"), stop_a_rx);
    send_phase(0).await;
    count_rx
        .wait_for(|n| *n >= PER_PHASE / 2)
        .await
        .expect("progress");
    // b joins before phase 1 is sent: a gives up half the partitions at its next poll, so b
    // (and later c) necessarily consume some of the records sent after they joined.
    let b = spawn_member(join().await.expect("join b"), stop_rest_rx.clone());
    send_phase(1).await;
    let c = spawn_member(join().await.expect("join c"), stop_rest_rx);
    send_phase(2).await;
    count_rx
        .wait_for(|n| *n >= PER_PHASE * 2)
        .await
        .expect("progress");
    stop_a.send_replace(true);
    let by_a = a.await.expect("member a");
    send_phase(3).await;
    count_rx
        .wait_for(|n| *n >= PER_PHASE * 4)
        .await
        .expect("progress");
    stop_rest.send_replace(true);
    let by_b = b.await.expect("member b");
    let by_c = c.await.expect("member c");
    assert!(
        by_a > 0 && by_b > 0 && by_c > 0,
        "a {by_a}, b {by_b}, c {by_c}"
    );
    assert_eq!(by_a + by_b + by_c, PER_PHASE * 4);

    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    seen.sort_unstable();
    let mut expected = Vec::new();
    for p in 0..PARTITIONS {
        let end = bus.describe_topic(&t).await.expect("describe").partitions[p as usize].end_offset;
        expected.extend((0..end).map(|o| (p, o)));
    }
    assert_eq!(expected.len(), PER_PHASE * 4);
    assert_eq!(
        seen, expected,
        "every record exactly once across hand-overs"
    );
}

/// A deleted topic is gone with its records and every group's committed offsets for it; a
/// topic created again under its name starts empty. (A cluster deletes in the background,
/// so the checks after the delete allow it a few seconds to show.)
pub async fn delete_topic_removes_records_and_offsets<H: Harness>(h: &H) {
    let bus = h.open();
    let t = topic("deleted");
    let kept = topic("deleted-not");
    create(&bus, &t, 2).await;
    create(&bus, &kept, 1).await;
    for i in 0..4 {
        bus.send(
            &t,
            ProducerRecord::to_partition(record(None, &i.to_string(), 0), i % 2),
        )
        .await
        .expect("send");
    }
    bus.send(&kept, record(None, "stays", 0).into())
        .await
        .expect("send");
    let g = group("deleter");
    let tp = TopicPartition::new(t.clone(), 0);
    let mut c = join(&bus, &g, &t).await;
    consume(&mut c, 4).await;
    c.commit(vec![(tp.clone(), 2)]).await.expect("commit");
    c.close().await.expect("close");

    bus.delete_topic(&t).await.expect("delete");
    let mut gone = false;
    for _ in 0..100 {
        match bus.describe_topic(&t).await {
            Err(BusError::UnknownTopic { .. }) => {
                gone = true;
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            Err(e) => panic!("describe after delete: {e}"),
        }
    }
    assert!(gone, "the topic is still described 10 s after its deletion");
    assert!(!bus.list_topics().await.expect("list").contains(&t));
    assert!(
        bus.list_topics().await.expect("list").contains(&kept),
        "other topics stay"
    );
    assert!(matches!(
        bus.delete_topic(&t).await,
        Err(BusError::UnknownTopic { .. })
    ));
    assert!(matches!(
        bus.delete_topic(&topic("__internal")).await,
        Err(BusError::ReservedTopic { .. })
    ));

    let mut created = false;
    for _ in 0..100 {
        match bus.create_topic(&t, TopicSpec::new(1)).await {
            Ok(()) => {
                created = true;
                break;
            }
            // Still being deleted.
            Err(BusError::TopicExists { .. } | BusError::Kafka { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("create after delete: {e}"),
        }
    }
    assert!(created, "the name is free again within 10 s");
    let desc = bus.describe_topic(&t).await.expect("describe");
    assert_eq!(desc.partitions.len(), 1);
    assert_eq!(desc.partitions[0].end_offset, 0, "the new topic is empty");
    assert_eq!(
        bus.committed(&g, &tp).await.expect("committed"),
        None,
        "committed offsets of the deleted topic are gone"
    );
    let bus = h.reopen(bus);
    assert_eq!(bus.committed(&g, &tp).await.expect("committed"), None);
    assert_eq!(
        bus.read(&TopicPartition::new(kept, 0), 0, 10)
            .await
            .expect("read")
            .len(),
        1
    );
}
