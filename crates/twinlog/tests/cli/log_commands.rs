//! `topic`, `publish` and `tail` against a real data dir.

use super::common::Env;
use serde_json::json;

#[test]
fn create_list_describe_topics() {
    let env = Env::new();
    let out = env
        .run(&["topic", "create", "sensors", "--partitions", "3"])
        .success();
    assert_eq!(out.stdout, "created topic sensors (3 partitions)\n");
    env.run(&[
        "topic",
        "create",
        "state",
        "--compacted",
        "--retention-bytes",
        "1GiB",
    ])
    .success();

    let list = env.run(&["topic", "list", "--json"]).success().json_lines();
    let topics = list[0].as_array().expect("an array of topics");
    let names: Vec<_> = topics.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sensors", "state"]);
    assert_eq!(topics[1]["compacted"], json!(true));
    assert_eq!(topics[1]["retention_bytes"], json!(1u64 << 30));

    let d = env
        .run(&["topic", "describe", "sensors", "--json"])
        .success()
        .json_lines();
    let parts = d[0]["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["partition"], json!(i));
        assert_eq!(p["start_offset"], json!(0));
        assert_eq!(p["end_offset"], json!(0));
    }
    let human = env.run(&["topic", "describe", "sensors"]).success();
    assert!(human.stdout.contains("PARTITION"), "{}", human.stdout);
}

#[test]
fn topic_errors_name_the_problem() {
    let env = Env::new();
    let bad = env.run(&["topic", "create", "bad/name"]).failure(1);
    assert!(
        bad.stderr.contains("bad/name") && bad.stderr.contains('/'),
        "{}",
        bad.stderr
    );
    env.run(&["topic", "create", "t"]).success();
    let dup = env.run(&["topic", "create", "t"]).failure(1);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    let unknown = env.run(&["topic", "describe", "nope"]).failure(1);
    assert!(
        unknown.stderr.contains("unknown topic \"nope\""),
        "{}",
        unknown.stderr
    );
    let usage = env
        .run(&["topic", "create", "t2", "--partitions", "0"])
        .failure(2);
    assert!(usage.stderr.contains("--partitions"), "{}", usage.stderr);
    let unknown = env.run(&["tail", "x"]).failure(1);
    assert!(
        unknown.stderr.contains("unknown topic \"x\""),
        "{}",
        unknown.stderr
    );
    let no_dir = Env::new().run(&["tail", "x"]).failure(1);
    assert!(no_dir.stderr.contains("no data dir"), "{}", no_dir.stderr);
}

#[test]
fn publish_then_tail_round_trips_json_values() {
    let env = Env::new();
    env.run(&["topic", "create", "sensors"]).success();
    let one = env
        .run(&[
            "publish",
            "sensors",
            "--key",
            "kitchen",
            r#"{"temp": 21.5}"#,
        ])
        .success();
    assert_eq!(one.stdout, "sensors/0@0\n");

    let lines = "{\"n\": 1}\n\n[1, 2, 3]\n\"text\"\nnull\n";
    let acks = env
        .run_with_stdin(&["publish", "sensors", "--json", "-"], Some(lines))
        .success()
        .json_lines();
    assert_eq!(
        acks,
        (1..=4)
            .map(|o| json!({"topic": "sensors", "partition": 0, "offset": o}))
            .collect::<Vec<_>>()
    );

    let records = env
        .run(&["tail", "sensors", "--from-beginning", "--json"])
        .success()
        .json_lines();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0]["key"], json!("kitchen"));
    assert_eq!(records[0]["value"], json!({"temp": 21.5}));
    assert_eq!(records[1]["key"], json!(null));
    assert_eq!(records[1]["value"], json!({"n": 1}));
    assert_eq!(records[2]["value"], json!([1, 2, 3]));
    assert_eq!(records[3]["value"], json!("text"));
    assert_eq!(records[4]["value"], json!(null));
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["offset"], json!(i));
        assert_eq!(r["topic"], json!("sensors"));
        let ts = r["timestamp"].as_str().unwrap();
        assert!(
            ts.parse::<jiff::Timestamp>().is_ok(),
            "RFC 3339 timestamp: {ts}"
        );
    }

    let some = env
        .run(&["tail", "sensors", "--offset", "3", "--max", "1", "--json"])
        .success()
        .json_lines();
    assert_eq!(some.len(), 1);
    assert_eq!(some[0]["offset"], json!(3));

    let human = env
        .run(&["tail", "sensors", "--from-beginning", "--max", "1"])
        .success();
    assert!(human.stdout.starts_with("sensors/0@0 "), "{}", human.stdout);
    assert!(
        human
            .stdout
            .trim_end()
            .ends_with(r#"kitchen {"temp": 21.5}"#),
        "{}",
        human.stdout
    );
}

#[test]
fn keys_pick_stable_partitions() {
    let env = Env::new();
    env.run(&["topic", "create", "t", "--partitions", "4"])
        .success();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let a = env
            .run(&["publish", "t", "--key", "device-7", "--json", "1"])
            .success()
            .json_lines();
        seen.push(a[0]["partition"].clone());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    let p = seen[0].as_u64().unwrap().to_string();
    let tail = env
        .run(&["tail", "t", "--partition", &p, "--from-beginning", "--json"])
        .success()
        .json_lines();
    assert_eq!(tail.len(), 3);
    assert!(tail.iter().all(|r| r["key"] == json!("device-7")));
}

#[test]
fn invalid_json_line_stops_with_its_line_number_and_keeps_earlier_lines() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let input = "1\n2\n{oops\n4\n";
    let out = env
        .run_with_stdin(&["publish", "t", "-"], Some(input))
        .failure(1);
    assert!(out.stderr.contains("stdin line 3"), "{}", out.stderr);
    assert!(out.stderr.contains("not valid JSON"), "{}", out.stderr);
    assert!(
        out.stderr.contains("2 records were published"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "t/0@0\nt/0@1\n");
    let records = env
        .run(&["tail", "t", "--from-beginning", "--json"])
        .success()
        .json_lines();
    let values: Vec<_> = records.iter().map(|r| r["value"].clone()).collect();
    assert_eq!(values, [json!(1), json!(2)]);
}

#[test]
fn oversized_and_invalid_values_are_refused() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let bad = env.run(&["publish", "t", "{nope"]).failure(1);
    assert!(
        bad.stderr.contains("the value is not valid JSON"),
        "{}",
        bad.stderr
    );
    let big = format!("\"{}\"", "x".repeat(1024 * 1024 + 1));
    let out = env
        .run_with_stdin(&["publish", "t", "-"], Some(&big))
        .failure(1);
    assert!(
        out.stderr.contains("stdin line 1") && out.stderr.contains("largest record"),
        "{}",
        out.stderr
    );
    let missing = env.run(&["publish", "nope", "1"]).failure(1);
    assert!(
        missing.stderr.contains("unknown topic"),
        "{}",
        missing.stderr
    );
}

#[test]
fn many_lines_are_acked_in_input_order_with_dense_offsets() {
    let env = Env::new();
    env.run(&["topic", "create", "t", "--partitions", "2"])
        .success();
    let input: String = (0..20_000).map(|i| format!("{{\"i\": {i}}}\n")).collect();
    let acks = env
        .run_with_stdin(&["publish", "t", "--json", "-"], Some(&input))
        .success()
        .json_lines();
    assert_eq!(acks.len(), 20_000);
    // Keyless records alternate partitions; each partition's offsets are dense and in order.
    let mut next = [0u64; 2];
    for a in &acks {
        let p = a["partition"].as_u64().unwrap() as usize;
        assert_eq!(a["offset"].as_u64().unwrap(), next[p]);
        next[p] += 1;
    }
    assert_eq!(next[0] + next[1], 20_000);
    assert_eq!(next[0], 10_000);
}

#[test]
fn tail_since_starts_at_a_time() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    env.run(&["publish", "t", "1"]).success();
    let records = env
        .run(&["tail", "t", "--from-beginning", "--json"])
        .success()
        .json_lines();
    let first_ts: jiff::Timestamp = records[0]["timestamp"].as_str().unwrap().parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    env.run(&["publish", "t", "2"]).success();
    let since = (first_ts + jiff::SignedDuration::from_micros(1)).to_string();
    let later = env
        .run(&["tail", "t", "--since", &since, "--json"])
        .success()
        .json_lines();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["value"], json!(2));
}

#[test]
fn tail_follow_sees_records_published_later() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let mut child = env.spawn(&[
        "tail",
        "t",
        "--follow",
        "--from-beginning",
        "--max",
        "2",
        "--json",
    ]);
    // Read on a thread so a missing line fails the test instead of hanging it.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    env.run(&["publish", "t", "\"a\""]).success();
    env.run(&["publish", "t", "\"b\""]).success();
    let wait = std::time::Duration::from_secs(30);
    let first: serde_json::Value =
        serde_json::from_str(&rx.recv_timeout(wait).expect("first record")).unwrap();
    let second: serde_json::Value =
        serde_json::from_str(&rx.recv_timeout(wait).expect("second record")).unwrap();
    assert_eq!(
        (first["value"].clone(), second["value"].clone()),
        (json!("a"), json!("b"))
    );
    assert!(
        child.wait().unwrap().success(),
        "tail exits after --max records"
    );
}

#[test]
fn second_writer_is_refused_with_the_holder() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    // A long-running writer: publish from a stdin we keep open.
    let mut writer = env.spawn(&["publish", "t", "-"]);
    {
        use std::io::{BufRead, BufReader, Write};
        let stdin = writer.stdin.as_mut().unwrap();
        writeln!(stdin, "1").unwrap();
        stdin.flush().unwrap();
        // Once its first ack is printed, it holds the lock.
        let mut line = String::new();
        BufReader::new(writer.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "t/0@0\n");
    }
    let second = env.run(&["publish", "t", "2"]).failure(1);
    assert!(
        second.stderr.contains("in use by another writer"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("pid {}", writer.id())),
        "{}",
        second.stderr
    );
    // Read-only commands work meanwhile.
    let records = env
        .run(&["tail", "t", "--from-beginning", "--json"])
        .success()
        .json_lines();
    assert_eq!(records.len(), 1);
    drop(writer.stdin.take());
    assert!(writer.wait().unwrap().success());
}

#[test]
fn a_data_dir_that_is_a_file_is_refused() {
    let env = Env::new();
    std::fs::write(env.data_dir(), "not a directory").unwrap();
    let out = env.run(&["topic", "create", "t"]).failure(1);
    assert!(out.stderr.contains("is not a directory"), "{}", out.stderr);
    assert!(
        out.stderr.contains(env.data_dir().to_str().unwrap()),
        "{}",
        out.stderr
    );
    let out = env.run(&["topic", "list"]).failure(1);
    assert!(out.stderr.contains("is not a directory"), "{}", out.stderr);
}

#[test]
fn bench_log_reports_json_figures_and_cleans_up() {
    let env = Env::new();
    let out = env
        .run(&[
            "bench",
            "log",
            "--records",
            "20000",
            "--size",
            "50",
            "--fsync",
            "never",
            "--json",
        ])
        .success()
        .json_lines();
    let report = &out[0];
    for key in [
        "append_records_per_s",
        "read_records_per_s",
        "append_p99_us",
        "disk_fraction",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|v| v > 0.0),
            "{key} missing or zero: {report}"
        );
    }
    assert_eq!(report["records"], json!(20000));
    assert!(
        !env.data_dir().exists(),
        "the data dir made for the bench is removed"
    );
    let bad = env.run(&["bench", "log", "--fsync", "5"]).failure(2);
    assert!(
        bad.stderr.contains("--fsync") && bad.stderr.contains("`always`"),
        "{}",
        bad.stderr
    );
    let none = env.run(&["bench", "log", "--records", "0"]).failure(2);
    assert!(none.stderr.contains("--records"), "{}", none.stderr);
}

#[test]
fn tail_n_prints_the_last_n_of_each_partition() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let input: String = (0..20).map(|i| format!("{i}\n")).collect();
    env.run_with_stdin(&["publish", "t", "-"], Some(&input))
        .success();
    let last = env
        .run(&["tail", "t", "-n", "3", "--json"])
        .success()
        .json_lines();
    let values: Vec<_> = last.iter().map(|r| r["value"].clone()).collect();
    assert_eq!(values, [json!(17), json!(18), json!(19)]);
    let default = env.run(&["tail", "t", "--json"]).success().json_lines();
    assert_eq!(default.len(), 10);
    assert_eq!(default[0]["value"], json!(10));
    let none = env.run(&["tail", "t", "--follow", "--max", "0"]).success();
    assert_eq!(none.stdout, "");
}

#[test]
fn publish_keeps_publishing_when_its_output_is_closed() {
    use std::io::Write;
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let mut child = env.spawn(&["publish", "t", "-"]);
    // Nobody reads the acks: like `publish - | head -1`, the pipe closes early.
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..50_000 {
        writeln!(stdin, "{i}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = env
        .run(&["topic", "describe", "t", "--json"])
        .success()
        .json_lines();
    assert_eq!(
        d[0]["partitions"][0]["end_offset"],
        json!(50_000),
        "every line was published"
    );
}

#[test]
fn bad_bytes_and_big_records_name_their_line() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let mut input = b"1\n".to_vec();
    input.extend_from_slice(b"\"\xff\"\n");
    let out = env.run_with_bytes(&["publish", "t", "-"], &input);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("stdin line 2"), "{}", out.stderr);
    assert!(
        out.stderr.contains("1 record was published"),
        "{}",
        out.stderr
    );

    // The key counts towards the record size.
    let value = format!("\"{}\"", "x".repeat(1024 * 1024 - 2));
    let out = env
        .run_with_stdin(&["publish", "t", "--key", "k", "-"], Some(&value))
        .failure(1);
    assert!(
        out.stderr.contains("stdin line 1") && out.stderr.contains("key + value"),
        "{}",
        out.stderr
    );
}

#[test]
fn large_lines_are_split_into_chunks_the_log_accepts() {
    let env = Env::new();
    env.run(&["topic", "create", "t"]).success();
    let line = format!("\"{}\"\n", "y".repeat(600 * 1024));
    let input = line.repeat(30); // ~18 MiB in one go: more than one chunk
    let acks = env
        .run_with_stdin(&["publish", "t", "--json", "-"], Some(&input))
        .success()
        .json_lines();
    assert_eq!(acks.len(), 30);
    assert_eq!(acks[29]["offset"], json!(29));
}
