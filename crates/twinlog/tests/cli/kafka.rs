//! The log commands against a Kafka-protocol broker (`--bus kafka://…`), and that what they
//! write and read is plain Kafka: a plain rdkafka client reads `twinlog publish`'s records and
//! `twinlog tail` shows a plain producer's. The broker address comes from
//! `TWINLOG_TEST_KAFKA`, set by `scripts/test.sh`; without it these tests fail saying so.

use crate::common::Env;
use rdkafka::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use std::time::Duration;

fn broker() -> String {
    std::env::var("TWINLOG_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "TWINLOG_TEST_KAFKA is not set: the Kafka tests need a broker. Run scripts/test.sh \
             (it starts one), or `scripts/kafka-broker.sh start` and export TWINLOG_TEST_KAFKA"
        )
    })
}

/// A topic name no other test (or earlier run on the same broker) uses.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("cli-{what}-{}-{nanos}", std::process::id())
}

/// `twinlog ARGS… --bus kafka://BROKER` with the test broker's quirks handled.
fn kafka_args<'a>(bus: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend([
        "--bus",
        bus,
        // tansu 0.6 reports a partition's end wrongly after multi-record batches, and makes
        // every fetch wait its full max wait (see docs/BUS.md).
        "--kafka-option",
        "batch.num.messages=1",
        "--kafka-option",
        "fetch.wait.max.ms=10",
    ]);
    v
}

#[test]
fn topic_publish_and_tail_work_against_kafka() {
    let env = Env::new();
    let bus = format!("kafka://{}", broker());
    let t = unique("log");
    let created = env
        .run(&kafka_args(&bus, &["topic", "create", &t, "-p", "3"]))
        .success();
    assert!(
        created
            .stdout
            .starts_with(&format!("created topic {t} (3 partitions)")),
        "{}",
        created.stdout
    );
    let again = env
        .run(&kafka_args(&bus, &["topic", "create", &t]))
        .failure(1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);

    let one = env
        .run(&kafka_args(
            &bus,
            &["publish", &t, "-k", "dev-1", r#"{"n": 0}"#, "--json"],
        ))
        .success()
        .json_lines();
    let key_partition = twinlog_core::partition_for_key(b"dev-1", 3);
    assert_eq!(one[0]["partition"], key_partition);
    assert_eq!(one[0]["offset"], 0);
    let lines: String = (1..=5).map(|i| format!("{{\"n\": {i}}}\n")).collect();
    let acks = env
        .run_with_stdin(
            &kafka_args(&bus, &["publish", &t, "-k", "dev-1", "-", "--json"]),
            Some(&lines),
        )
        .success()
        .json_lines();
    let offsets: Vec<u64> = acks.iter().map(|a| a["offset"].as_u64().unwrap()).collect();
    assert_eq!(
        offsets,
        [1, 2, 3, 4, 5],
        "pipelined, acknowledged in input order"
    );
    let bad = env
        .run_with_stdin(
            &kafka_args(&bus, &["publish", &t, "-k", "dev-1", "-"]),
            Some("{\"n\": 6}\nnot json\n{\"n\": 7}\n"),
        )
        .failure(1);
    assert!(
        bad.stderr.contains("line 2 is not valid JSON"),
        "{}",
        bad.stderr
    );
    assert_eq!(
        bad.stdout.lines().count(),
        1,
        "the line before the bad one is published"
    );

    let all = env
        .run(&kafka_args(
            &bus,
            &["tail", &t, "--from-beginning", "--json"],
        ))
        .success()
        .json_lines();
    let values: Vec<i64> = all
        .iter()
        .map(|r| r["value"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(values, [0, 1, 2, 3, 4, 5, 6]);
    assert!(
        all.iter()
            .all(|r| r["key"] == "dev-1" && r["partition"] == key_partition)
    );
    let from3 = env
        .run(&kafka_args(
            &bus,
            &[
                "tail",
                &t,
                "--offset",
                "3",
                "--partition",
                &key_partition.to_string(),
                "--json",
            ],
        ))
        .success()
        .json_lines();
    assert_eq!(from3.first().unwrap()["offset"], 3);
    assert_eq!(from3.len(), 4);
    let since = all[4]["timestamp"].as_str().unwrap().to_owned();
    let later = env
        .run(&kafka_args(
            &bus,
            &["tail", &t, "--since", &since, "--json"],
        ))
        .success()
        .json_lines();
    assert!(
        later.first().unwrap()["offset"].as_u64().unwrap() <= 4,
        "{later:?}"
    );
    assert!(later.iter().any(|r| r["offset"] == 6));

    let described = env
        .run(&kafka_args(&bus, &["topic", "describe", &t, "--json"]))
        .success()
        .json_lines();
    let parts = described[0]["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[key_partition as usize]["end_offset"], 7);
    let listed = env.run(&kafka_args(&bus, &["topic", "list"])).success();
    assert!(
        listed.stdout.lines().any(|l| l.starts_with(&t)),
        "{}",
        listed.stdout
    );
    let deleted = env
        .run(&kafka_args(&bus, &["topic", "delete", &t]))
        .success();
    assert!(
        deleted
            .stdout
            .starts_with(&format!("deleted topic {t} on ")),
        "{}",
        deleted.stdout
    );
    let again = env
        .run(&kafka_args(&bus, &["topic", "delete", &t]))
        .failure(1);
    assert!(again.stderr.contains("unknown topic"), "{}", again.stderr);
}

#[test]
fn kafka_options_are_checked_and_secrets_never_printed() {
    let env = Env::new();
    let bus = format!("kafka://{}", broker());
    let missing = env
        .run(&[
            "topic",
            "list",
            "--bus",
            &bus,
            "--kafka-option",
            "sasl.password=env:TWINLOG_TEST_NO_SUCH_VAR",
        ])
        .failure(1);
    assert!(
        missing
            .stderr
            .contains("TWINLOG_TEST_NO_SUCH_VAR is not set"),
        "{}",
        missing.stderr
    );
    let bad = env
        .run(&["topic", "list", "--bus", "kafka://nohost"])
        .failure(1);
    assert!(
        bad.stderr.contains("needs a host and a port"),
        "{}",
        bad.stderr
    );
    let secret = env
        .run(&[
            "topic",
            "list",
            "--bus",
            &bus,
            "--kafka-option",
            "socket.timeout.ms=hunter2",
        ])
        .failure(1);
    assert!(!secret.stderr.contains("hunter2"), "{}", secret.stderr);
    assert!(
        secret.stderr.contains("socket.timeout.ms"),
        "{}",
        secret.stderr
    );
    let serve = env.run(&["module", "list", "--bus", &bus]).failure(1);
    assert!(
        serve
            .stderr
            .contains("works with `topic`, `publish`, `tail`, `consume` and `bench log`"),
        "{}",
        serve.stderr
    );
}

#[test]
fn plain_kafka_clients_read_and_write_the_same_records() {
    let env = Env::new();
    let addr = broker();
    let bus = format!("kafka://{addr}");
    let t = unique("interop");
    env.run(&kafka_args(&bus, &["topic", "create", &t, "-p", "4"]))
        .success();

    // Twinlog writes; a plain consumer reads the same key, value and partition.
    let ack = env
        .run(&kafka_args(
            &bus,
            &[
                "publish",
                &t,
                "-k",
                "sensor-7",
                r#"{"temp": 21.5}"#,
                "--json",
            ],
        ))
        .success()
        .json_lines();
    let partition = ack[0]["partition"].as_i64().unwrap() as i32;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("group.id", unique("plain"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&t, partition, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let got = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no record from the plain consumer"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            break m.unwrap().detach();
        }
    };
    assert_eq!(got.key(), Some(&b"sensor-7"[..]));
    assert_eq!(got.payload(), Some(&br#"{"temp": 21.5}"#[..]));
    assert_eq!(got.partition(), partition);
    assert_eq!(
        got.partition(),
        twinlog_core::partition_for_key(b"sensor-7", 4) as i32,
        "the default (murmur2) partitioner's choice"
    );
    assert!(got.headers().is_none_or(|h| h.count() == 0));

    // A plain producer writes (key, header, explicit partition); twinlog tail shows it.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .create()
        .unwrap();
    producer
        .send(
            BaseRecord::to(&t)
                .partition(2)
                .key("plain-key")
                .payload("plain text, not JSON")
                .headers(OwnedHeaders::new().insert(Header {
                    key: "origin",
                    value: Some("kcat"),
                })),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(20)).unwrap();
    let shown = env
        .run(&kafka_args(
            &bus,
            &["tail", &t, "--partition", "2", "--from-beginning", "--json"],
        ))
        .success()
        .json_lines();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["key"], "plain-key");
    assert_eq!(shown[0]["value"], "plain text, not JSON");
    assert_eq!(shown[0]["offset"], 0);

    // librdkafka's own default partitioner is CRC32-based; with the Java client's
    // (`partitioner=murmur2_random`) a plain producer puts a key where Twinlog does.
    let java_like: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &addr)
        .set("partitioner", "murmur2_random")
        .create()
        .unwrap();
    java_like
        .send(BaseRecord::to(&t).key("sensor-7").payload("\"same key\""))
        .map_err(|(e, _)| e)
        .unwrap();
    java_like.flush(Duration::from_secs(20)).unwrap();
    let all = env
        .run(&kafka_args(
            &bus,
            &["tail", &t, "--from-beginning", "--json"],
        ))
        .success()
        .json_lines();
    let same: Vec<_> = all.iter().filter(|r| r["key"] == "sensor-7").collect();
    assert_eq!(same.len(), 2, "{all:?}");
    assert!(same.iter().all(|r| r["partition"] == partition), "{same:?}");
}

/// One `twinlog consume --json` process, its output lines collected by a thread.
struct Member {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    fn start(env: &Env, args: &[&str]) -> Member {
        use std::io::BufRead as _;
        let mut child = env.spawn(args);
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).expect("JSON line"));
            }
        });
        Member {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// (partition, offset) of every record printed.
    fn records(&self) -> Vec<(u64, u64)> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.get("offset").is_some())
            .map(|l| {
                (
                    l["partition"].as_u64().unwrap(),
                    l["offset"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The last committed offset per partition.
    fn last_commits(&self) -> std::collections::BTreeMap<u64, u64> {
        let mut out = std::collections::BTreeMap::new();
        for l in self.lines.lock().unwrap().iter() {
            for c in l
                .get("committed")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
            {
                out.insert(c[1].as_u64().unwrap(), c[2].as_u64().unwrap());
            }
        }
        out
    }

    /// Stops the process with SIGINT (Ctrl-C: it commits what it printed and leaves the
    /// group) and waits for it to exit 0 and for its output.
    fn interrupt(&mut self) {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "cannot signal the member");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the member exited with {status}");
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two processes in one group on a 4-partition topic; one is stopped (Ctrl-C); the other
/// takes its partitions over from the committed offsets: nothing is lost, and a record read
/// twice would be one past the stopped member's last commit (there are none: it commits
/// what it printed on the way out).
///
/// The stop is SIGINT, not SIGKILL: the test broker (tansu 0.6) does not expire the session
/// of a member that died without leaving, so a killed member's partitions stay assigned.
#[test]
fn two_processes_share_a_group_and_one_takes_over_when_the_other_stops() {
    let env = Env::new();
    let bus = format!("kafka://{}", broker());
    let t = unique("group");
    let g = unique("members");
    env.run(&kafka_args(&bus, &["topic", "create", &t, "-p", "4"]))
        .success();
    let publish = |from: usize, n: usize| {
        let lines: String = (from..from + n)
            .map(|i| format!("{{\"i\": {i}}}\n"))
            .collect();
        env.run_with_stdin(&kafka_args(&bus, &["publish", &t, "-"]), Some(&lines))
            .success();
    };
    let member_args = kafka_args(
        &bus,
        &[
            "consume",
            &t,
            "--group",
            &g,
            "--commit-every",
            "5",
            "--json",
        ],
    );
    let mut a = Member::start(&env, &member_args);
    let mut b = Member::start(&env, &member_args);
    // Waves of records until both members have read some (the group has split).
    let mut published = 0;
    wait_until("both members read records", || {
        publish(published, 20);
        published += 20;
        std::thread::sleep(Duration::from_millis(200));
        !a.records().is_empty() && !b.records().is_empty()
    });
    b.interrupt();
    let b_read = b.records();
    let b_commits = b.last_commits();
    let a_before_takeover = a.records().len();
    publish(published, 40);
    published += 40;
    let everything: std::collections::BTreeSet<(u64, u64)> = {
        let described = env
            .run(&kafka_args(&bus, &["topic", "describe", &t, "--json"]))
            .success()
            .json_lines();
        described[0]["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| {
                let part = p["partition"].as_u64().unwrap();
                (0..p["end_offset"].as_u64().unwrap()).map(move |o| (part, o))
            })
            .collect()
    };
    assert_eq!(everything.len(), published);
    // A takes B's partitions once the group notices B is gone (its session times out).
    wait_until("the survivor read everything", || {
        let seen: std::collections::BTreeSet<_> = a
            .records()
            .into_iter()
            .chain(b_read.iter().copied())
            .collect();
        seen == everything
    });
    a.interrupt();
    let a_read = a.records();
    let mut seen = std::collections::BTreeMap::<(u64, u64), usize>::new();
    for r in a_read.iter().chain(&b_read) {
        *seen.entry(*r).or_default() += 1;
    }
    let twice: Vec<(u64, u64)> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(r, _)| *r)
        .collect();
    assert!(
        seen.values().all(|n| *n <= 2),
        "no record is read more than twice"
    );
    // What A read again of B's records when it took B's partitions over starts at B's last
    // commit of that partition (B commits what it printed when it stops, so none).
    let b_set: std::collections::BTreeSet<_> = b_read.iter().copied().collect();
    let taken_over_twice: Vec<(u64, u64)> = a_read[a_before_takeover..]
        .iter()
        .filter(|r| b_set.contains(r))
        .copied()
        .collect();
    for (p, o) in &taken_over_twice {
        let committed = b_commits.get(p).copied().unwrap_or(0);
        assert!(
            *o >= committed,
            "{p}/{o} was read again but B had committed partition {p} up to {committed}"
        );
    }
    eprintln!(
        "{published} records; B read {} before it stopped (last commits {b_commits:?}); \
         read twice: {} ({} at the take-over, the rest when the group first split)",
        b_read.len(),
        twice.len(),
        taken_over_twice.len()
    );
}

/// `bench log --bus` measures raw librdkafka and the Kafka bus in one run and cleans up.
#[test]
fn bench_log_on_kafka_reports_both_rates_and_the_ratios() {
    let env = Env::new();
    let bus = format!("kafka://{}", broker());
    let report = env
        .run(&kafka_args(
            &bus,
            &["bench", "log", "--records", "300", "--json"],
        ))
        .success()
        .json_lines();
    for side in ["produce", "consume"] {
        let r = &report[0][side];
        let (raw, ours) = (
            r["raw_per_s"].as_f64().unwrap(),
            r["bus_per_s"].as_f64().unwrap(),
        );
        assert!(raw > 0.0 && ours > 0.0, "{report:?}");
        assert!((r["ratio"].as_f64().unwrap() - ours / raw).abs() < 1e-9);
    }
    assert_eq!(report[0]["consume"]["records"], 2 * (300 + 100));
    let left = env
        .run(&kafka_args(&bus, &["topic", "list", "--json"]))
        .success()
        .json_lines();
    assert!(
        !left[0]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"].as_str().unwrap().starts_with("twinlog-bench-")),
        "the bench topic is deleted: {left:?}"
    );
}

#[test]
fn an_unreachable_cluster_is_one_clear_error_naming_the_brokers() {
    let env = Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bus = format!("kafka://127.0.0.1:{port}");
    let out = env.run(&["topic", "list", "--bus", &bus]).failure(1);
    assert!(
        out.stderr.contains(&format!(
            "cannot reach the Kafka brokers at 127.0.0.1:{port} (check --bus or TWINLOG_BUS"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("cannot list topics"), "{}", out.stderr);
    // librdkafka's log of each failed attempt stays quiet: one error, one line.
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
