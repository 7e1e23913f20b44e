//! Crash safety, tested by crashing: this test re-runs its own test binary as a child that
//! appends with `fsync = always` (several appends in flight) and prints every acknowledged
//! batch; the parent SIGKILLs it at a random moment, reopens the dir, and checks that every
//! acknowledged record is there and intact, offsets are dense, nothing past the valid end is
//! served, recovery found no damage beyond a torn tail, and appends continue. Many rounds.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use twinlog_log::{FsyncPolicy, Log, LogOptions, Record, RecoveryEvent, Timestamp, TopicConfig};

const CHILD_ENV: &str = "TWINLOG_LOG_CRASH_CHILD_DIR";
const ROUND_ENV: &str = "TWINLOG_LOG_CRASH_ROUND";
const TEST_NAME: &str = "crash::acknowledged_records_survive_sigkill";
const ROUNDS: u64 = 24;

fn value(round: u64, seq: u64, i: u64) -> String {
    format!("r{round}-s{seq}-i{i}-{}", "p".repeat((seq % 50) as usize))
}

fn options() -> LogOptions {
    // Small segments so that kills also land around segment rolls.
    LogOptions {
        fsync: FsyncPolicy::Always,
        segment_bytes: 16 * 1024,
        index_interval_bytes: 256,
        ..LogOptions::default()
    }
}

/// The child: append forever, printing "ack <base> <count> <seq>" per acknowledged batch.
fn child(dir: &str, round: u64) -> ! {
    let log = Log::open(dir, options()).expect("child opens the log");
    if log.topics().is_empty() {
        log.create_topic("t", TopicConfig::default())
            .expect("create topic");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut in_flight = std::collections::VecDeque::new();
        let mut out = std::io::stdout();
        for seq in 0u64.. {
            let count = 1 + seq % 9;
            let records: Vec<Record> = (0..count)
                .map(|i| Record::new(Timestamp::from_micros(seq as i64), value(round, seq, i)))
                .collect();
            in_flight.push_back((seq, log.append("t", 0, records)));
            if in_flight.len() >= 4 {
                let (seq, f) = in_flight.pop_front().unwrap();
                let ack = f.await.expect("append");
                writeln!(out, "ack {} {} {}", ack.base_offset, ack.count, seq).unwrap();
                out.flush().unwrap();
            }
        }
    });
    unreachable!("the child appends until it is killed")
}

/// A small deterministic generator for the kill moments (no extra dependency).
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn acknowledged_records_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let round = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
        child(&dir, round);
    }
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut torn_tails = 0;
    let exe = std::env::current_exe().unwrap();
    let mut expected: HashMap<u64, String> = HashMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    let mut total_acked = 0usize;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::create(logs.path().join(format!("child-{round}.stderr"))).unwrap(),
            )
            .spawn()
            .unwrap();
        let acks: Arc<Mutex<Vec<(u64, u64, u64)>>> = Arc::default();
        let stdout = child.stdout.take().unwrap();
        let sink = acks.clone();
        let (first_ack_tx, first_ack) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                if parts.next() != Some("ack") {
                    continue;
                }
                let nums: Vec<u64> = parts.map(|p| p.parse().unwrap()).collect();
                sink.lock().unwrap().push((nums[0], nums[1], nums[2]));
                let _ = first_ack_tx.send(());
            }
        });
        // Kill at a random moment: one round in four anywhere from start-up on, the others
        // while appends are in full flow (after the first acknowledgement), so the test does
        // not depend on how fast this machine starts a process.
        let r = next_rand(&mut rng);
        if !r.is_multiple_of(4) {
            first_ack
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| {
                    let stderr = std::fs::read_to_string(logs.path().join(format!("child-{round}.stderr")));
                    panic!("round {round}: the child acknowledged nothing ({e}); its stderr: {stderr:?}")
                });
        }
        std::thread::sleep(Duration::from_millis((r >> 8) % 40));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let acks = acks.lock().unwrap().clone();
        total_acked += acks.len();
        for (base, count, seq) in acks {
            for i in 0..count {
                expected.insert(base + i, value(round, seq, i));
            }
        }

        let log = Log::open(dir.path(), options()).unwrap();
        let mut round_torn = 0;
        for e in &log.recovery_report().events {
            assert!(
                matches!(
                    e,
                    RecoveryEvent::TruncatedTornTail { .. } | RecoveryEvent::RebuiltIndex { .. }
                ),
                "round {round}: a crash must not leave damage other than a torn tail: {e:?}"
            );
            if let RecoveryEvent::TruncatedTornTail {
                segment,
                position,
                bytes_removed,
            } = e
            {
                // A torn tail can only be the end of the one segment being written, and the
                // file now ends where the torn batch began.
                round_torn += 1;
                let last = crate::support::segments(dir.path(), "t", 0).pop();
                assert_eq!(last.as_ref(), Some(segment), "round {round}: {e:?}");
                assert!(*bytes_removed > 0, "round {round}: {e:?}");
                assert_eq!(
                    std::fs::metadata(segment).unwrap().len(),
                    *position,
                    "round {round}: {e:?}"
                );
            }
        }
        assert!(
            round_torn <= 1,
            "round {round}: one partition, one active segment, at most one torn tail: {:?}",
            log.recovery_report()
        );
        torn_tails += round_torn;
        if log.topics().is_empty() {
            continue; // killed before the topic existed
        }
        let end = log.end_offset("t", 0).unwrap();
        let mut next = 0;
        loop {
            let batch = log.read("t", 0, next, 500).unwrap();
            let Some(last) = batch.last() else { break };
            for r in &batch {
                assert_eq!(r.offset, next, "round {round}: offsets must be dense");
                let v = String::from_utf8(r.record.value.clone().unwrap().to_vec()).unwrap();
                assert!(
                    v.starts_with('r') && v.contains("-s"),
                    "round {round}: garbage served at {next}: {v:?}"
                );
                if let Some(want) = expected.get(&r.offset) {
                    assert_eq!(
                        &v, want,
                        "round {round}: acknowledged record {} changed",
                        r.offset
                    );
                }
                next += 1;
            }
            next = last.offset + 1;
        }
        assert_eq!(
            next, end,
            "round {round}: everything below the end offset is served"
        );
        let max_acked = expected.keys().max().map_or(0, |m| m + 1);
        assert!(
            end >= max_acked,
            "round {round}: end {end} lost acknowledged records below {max_acked}"
        );
        // Records past the last ack (written, not yet acknowledged) may survive: remember them
        // as they are now, so that later rounds check they stay.
        for r in log.read("t", 0, max_acked, usize::MAX).unwrap() {
            expected.insert(
                r.offset,
                String::from_utf8(r.record.value.unwrap().to_vec()).unwrap(),
            );
        }
        // Appends continue at the end.
        let ack = crate::support::block_on(log.append(
            "t",
            0,
            vec![Record::new(Timestamp::EPOCH, value(round, 999_999, 0))],
        ))
        .unwrap();
        assert_eq!(ack.base_offset, end);
        expected.insert(end, value(round, 999_999, 0));
    }
    assert!(
        total_acked > 0,
        "the children never got an append acknowledged"
    );
    eprintln!(
        "crash test: {ROUNDS} rounds, {total_acked} acknowledged appends, {torn_tails} torn tails truncated"
    );
}
