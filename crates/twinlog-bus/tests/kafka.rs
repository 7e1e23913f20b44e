//! The conformance suite against a real Kafka-protocol broker: the address comes from
//! `TWINLOG_TEST_KAFKA` (`host:port`), which `scripts/test.sh` sets after starting one
//! (`scripts/kafka-broker.sh`). Without it every test here fails saying so: Kafka tests never
//! skip.
//!
//! Every test gets its own namespace (a prefix of its topics and groups on the wire), so the
//! tests share one broker without seeing each other's topics; "reopen" drops the bus and
//! connects again to the same broker and namespace.
//!

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use twinlog_bus::conformance::Harness;
use twinlog_bus::{KafkaBus, KafkaOptions};

struct KafkaHarness {
    options: KafkaOptions,
}

impl KafkaHarness {
    fn new() -> KafkaHarness {
        static N: AtomicU32 = AtomicU32::new(0);
        let brokers = std::env::var("TWINLOG_TEST_KAFKA").unwrap_or_else(|_| {
            panic!(
                "TWINLOG_TEST_KAFKA is not set: the Kafka tests need a broker. Run scripts/test.sh \
                 (it starts one), or start one with `scripts/kafka-broker.sh start` and export \
                 TWINLOG_TEST_KAFKA=127.0.0.1:PORT"
            )
        });
        let ns = format!(
            "t{}-{}-",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut options = KafkaOptions::new(brokers)
            .namespace(ns)
            // The test broker answers a fetch only after the full wait: keep it short.
            .option("fetch.wait.max.ms", "10")
            // The test broker (tansu 0.6) reports a partition's end as the last batch's base
            // offset + 1, so only one-record batches keep its watermarks right.
            .option("batch.num.messages", "1");
        options.request_timeout = Duration::from_secs(20);
        KafkaHarness { options }
    }
}

impl Harness for KafkaHarness {
    type Bus = KafkaBus;

    fn open(&self) -> KafkaBus {
        KafkaBus::connect(self.options.clone()).expect("connect to the test broker")
    }

    fn reopen(&self, bus: KafkaBus) -> KafkaBus {
        bus.flush(Duration::from_secs(10)).expect("flush");
        drop(bus);
        self.open()
    }
}

mod conformance {
    twinlog_bus::conformance_tests!(super::KafkaHarness::new());
}

#[test]
fn kafka_urls_name_every_broker_with_a_port() {
    let o = KafkaOptions::from_url("kafka://127.0.0.1:9092,broker2:9093").expect("valid");
    assert_eq!(o.brokers, "127.0.0.1:9092,broker2:9093");
    for bad in [
        "kafka://",
        "kafka://host",
        "kafka://host:x",
        "http://h:1",
        "kafka://h:1,,h:2",
    ] {
        let e = KafkaOptions::from_url(bad).expect_err(bad).to_string();
        assert!(e.contains("invalid bus configuration"), "{bad}: {e}");
    }
    // Secrets in client options never show in Debug output.
    let o = o.option("sasl.password", "hunter2");
    assert!(!format!("{o:?}").contains("hunter2"));
}

/// A loopback port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn an_unreachable_cluster_fails_each_call_with_a_retriable_error() {
    use std::sync::Arc;
    use twinlog_bus::{Bus, BusError, GroupId, NoopListener};
    use twinlog_core::{Record, Timestamp, TopicName};

    let mut options = KafkaOptions::new(format!("127.0.0.1:{}", dead_port()));
    options.request_timeout = Duration::from_secs(1);
    // librdkafka connects in the background: creating the clients succeeds.
    let bus = KafkaBus::connect(options).expect("clients are created without a broker");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let topic = TopicName::new("t").expect("name");
    let unreachable = |what: &str, r: Result<(), BusError>| match r {
        Err(BusError::Kafka {
            retriable: true,
            reason,
            ..
        }) => assert!(
            reason.contains("BrokerTransportFailure")
                || reason.contains("AllBrokersDown")
                || reason.contains("TimedOut"),
            "{what}: {reason}"
        ),
        other => panic!("{what}: expected a retriable Kafka error, got {other:?}"),
    };
    rt.block_on(async {
        // Each call gives up after the request timeout (the outer bound only keeps a
        // regression from hanging the suite).
        let bounded = Duration::from_secs(30);
        let listed = tokio::time::timeout(bounded, bus.list_topics())
            .await
            .expect("list gives up");
        unreachable("list_topics", listed.map(drop));
        let sent = tokio::time::timeout(
            bounded,
            bus.send(
                &topic,
                Record::new(Timestamp::from_millis(1), &b"v"[..]).into(),
            ),
        )
        .await
        .expect("send gives up");
        unreachable("send", sent.map(drop));
        let group = GroupId::new("g").expect("group");
        let joined = tokio::time::timeout(
            bounded,
            bus.subscribe(&group, std::slice::from_ref(&topic), Arc::new(NoopListener)),
        )
        .await
        .expect("subscribe gives up");
        unreachable("subscribe", joined.map(drop));
    });
}

/// A private tansu broker on a fixed port, killed by its PID on drop.
struct PrivateBroker {
    child: std::process::Child,
    _work: tempfile::TempDir,
}

impl PrivateBroker {
    fn start(port: u16) -> PrivateBroker {
        let bin = std::env::var("TWINLOG_TEST_TANSU").unwrap_or_else(|_| {
            panic!(
                "TWINLOG_TEST_TANSU is not set: the broker-restart test runs a broker of its own. \
                 Run scripts/test.sh, or export TWINLOG_TEST_TANSU=$(scripts/kafka-broker.sh bin)"
            )
        });
        let work = tempfile::tempdir().expect("work dir");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(work.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let mut broker = PrivateBroker { child, _work: work };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return broker;
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("the private broker exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the private broker did not listen on 127.0.0.1:{port} within 30 s");
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_restarted_broker_is_found_again_by_the_same_bus() {
    use twinlog_bus::{Bus, BusError, TopicSpec};
    use twinlog_core::{Record, Timestamp, TopicName};

    let port = dead_port();
    let broker = PrivateBroker::start(port);
    let mut options = KafkaOptions::new(format!("127.0.0.1:{port}"))
        .option("fetch.wait.max.ms", "10")
        .option("batch.num.messages", "1");
    options.request_timeout = Duration::from_secs(2);
    let bus = KafkaBus::connect(options).expect("connect");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let topic = TopicName::new("restart").expect("name");
    let record = |v: &'static str| Record::new(Timestamp::from_millis(1), v.as_bytes());
    rt.block_on(async {
        bus.create_topic(&topic, TopicSpec::new(1))
            .await
            .expect("create");
        bus.send(&topic, record("before").into())
            .await
            .expect("send");
    });
    // Down: calls fail with a retriable error instead of hanging.
    drop(broker);
    let down = rt.block_on(bus.list_topics());
    assert!(
        matches!(
            down,
            Err(BusError::Kafka {
                retriable: true,
                ..
            })
        ),
        "{down:?}"
    );
    // Up again on the same address (memory storage: the topic is gone): librdkafka
    // reconnects with its back-off, and the same bus works without being recreated.
    let _broker = PrivateBroker::start(port);
    rt.block_on(async {
        let mut last = None;
        for _ in 0..30 {
            match bus.list_topics().await {
                Ok(_) => {
                    last = None;
                    break;
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        assert!(last.is_none(), "never reconnected: {last:?}");
        // Admin and metadata requests work again. (Records are not sent here: this broker
        // keeps everything in memory, so after a restart it no longer knows the idempotent
        // producer's id and librdkafka's retries of a send run into the message timeout; a
        // Kafka cluster keeps producer state in its log across restarts.)
        let again = TopicName::new("restart-again").expect("name");
        bus.create_topic(&again, TopicSpec::new(3))
            .await
            .expect("create after");
        let d = bus.describe_topic(&again).await.expect("describe after");
        assert_eq!(d.partitions.len(), 3);
        assert!(
            bus.list_topics()
                .await
                .expect("list after")
                .contains(&again)
        );
    });
}
