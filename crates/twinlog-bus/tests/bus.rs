//! The bus's integration tests, in one binary: the conformance suite
//! ([`twinlog_bus::conformance`]) against the memory bus and the embedded bus (on a fresh
//! temporary data dir per test; "reopen" drops the bus and opens the dir again).

use tempfile::TempDir;
use twinlog_bus::conformance::Harness;
use twinlog_bus::{EmbeddedBus, MemoryBus};
use twinlog_log::LogOptions;

/// The memory bus: reopening keeps the same instance (it has no durability).
struct MemoryHarness;

impl Harness for MemoryHarness {
    type Bus = MemoryBus;

    fn open(&self) -> MemoryBus {
        MemoryBus::new()
    }

    fn reopen(&self, bus: MemoryBus) -> MemoryBus {
        bus
    }
}

/// The embedded bus on a temporary data dir with the default (`fsync = always`) options.
struct EmbeddedHarness {
    dir: TempDir,
}

impl EmbeddedHarness {
    fn new() -> EmbeddedHarness {
        EmbeddedHarness {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Harness for EmbeddedHarness {
    type Bus = EmbeddedBus;

    fn open(&self) -> EmbeddedBus {
        EmbeddedBus::open(self.dir.path(), LogOptions::default()).expect("open embedded bus")
    }

    fn reopen(&self, bus: EmbeddedBus) -> EmbeddedBus {
        drop(bus);
        self.open()
    }
}

mod memory {
    twinlog_bus::conformance_tests!(super::MemoryHarness);
}

mod embedded {
    twinlog_bus::conformance_tests!(super::EmbeddedHarness::new());
}

/// Behaviour specific to the embedded bus's send outbox.
mod embedded_outbox {
    use twinlog_bus::{Bus, ProducerRecord, TopicPartition, TopicSpec};
    use twinlog_core::{Record, Timestamp, TopicName};

    use super::EmbeddedHarness;
    use twinlog_bus::conformance::Harness;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    fn send(bus: &impl Bus, t: &TopicName, v: &str) -> twinlog_bus::DeliveryFuture {
        bus.send(
            t,
            ProducerRecord::from(Record::new(Timestamp::EPOCH, v.to_owned())),
        )
    }

    /// A send whose flush task never ran (its runtime shut down first) is not stranded: the
    /// next send, from another runtime or from no runtime at all, writes it first.
    #[test]
    fn records_queued_on_a_runtime_that_shut_down_are_still_written_in_order() {
        let h = EmbeddedHarness::new();
        let bus = h.open();
        let t = TopicName::new("stranded").expect("topic");
        let first = runtime();
        first.block_on(async {
            bus.create_topic(&t, TopicSpec::new(1))
                .await
                .expect("create");
            // Not awaited: the flush task is spawned but the runtime never gets to run it.
            drop(send(&bus, &t, "a"));
        });
        drop(first);

        let second = runtime();
        let d = second.block_on(async { send(&bus, &t, "b").await.expect("send b") });
        assert_eq!(d.offset, 1, "a went first");
        drop(second);

        // Same again, but the next send comes from a thread without any runtime.
        let third = runtime();
        third.block_on(async { drop(send(&bus, &t, "c")) });
        drop(third);
        let d = runtime().block_on(send(&bus, &t, "d")).expect("send d");
        assert_eq!(d.offset, 3, "c went first");

        let values: Vec<String> = runtime()
            .block_on(bus.read(&TopicPartition::new(t.clone(), 0), 0, 10))
            .expect("read")
            .iter()
            .map(|r| {
                String::from_utf8_lossy(r.record.value.as_deref().unwrap_or_default()).into_owned()
            })
            .collect();
        assert_eq!(values, ["a", "b", "c", "d"]);
    }
}

/// Opening the embedded bus: the data-dir lock, and damaged committed-offset records.
mod embedded_open {
    use bytes::Bytes;
    use twinlog_bus::{Bus, BusError, EmbeddedBus, GroupId, TopicPartition, TopicSpec};
    use twinlog_core::{Record, Timestamp, TopicName};
    use twinlog_log::{Log, LogError, LogOptions};

    #[test]
    fn a_second_bus_on_the_same_dir_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _first = EmbeddedBus::open(dir.path(), LogOptions::default()).expect("first");
        let err = EmbeddedBus::open(dir.path(), LogOptions::default()).expect_err("second");
        assert!(
            matches!(&err, BusError::Log(LogError::Locked { holder, .. }) if holder.contains("pid")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn undecodable_offset_records_are_skipped_and_the_rest_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let t = TopicName::new("events").expect("topic");
        let g = GroupId::new("g").expect("group");
        let tp = TopicPartition::new(t.clone(), 0);
        {
            let bus = EmbeddedBus::open(dir.path(), LogOptions::default()).expect("open");
            bus.create_topic(&t, TopicSpec::new(1))
                .await
                .expect("create");
            let mut c = bus
                .subscribe(
                    &g,
                    std::slice::from_ref(&t),
                    std::sync::Arc::new(twinlog_bus::NoopListener),
                )
                .await
                .expect("subscribe");
            // Assignment happens in poll; commit needs ownership, so poll once with a record.
            bus.send(&t, Record::new(Timestamp::EPOCH, "x").into())
                .await
                .expect("send");
            c.next().await.expect("next");
            c.commit(vec![(tp.clone(), 1)]).await.expect("commit");
        }
        {
            // Something other than the bus writes garbage into the internal topic.
            let log = Log::open(dir.path(), LogOptions::default()).expect("log");
            let garbage = Record {
                timestamp: Timestamp::EPOCH,
                key: Some(Bytes::from_static(b"not an offset key")),
                headers: Vec::new(),
                value: Some(Bytes::from_static(b"??")),
            };
            log.append("__consumer_offsets", 0, vec![garbage])
                .await
                .expect("append garbage");
        }
        let bus = EmbeddedBus::open(dir.path(), LogOptions::default()).expect("reopen");
        assert_eq!(bus.committed(&g, &tp).await.expect("committed"), Some(1));
    }
}
