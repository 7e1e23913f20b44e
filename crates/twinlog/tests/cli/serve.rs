//! `twinlog serve` end to end: the real server on a free port, driven by the real CLI.
//!
//! - every example gives the same publications, logs and errors through a server on the test
//!   clock as through `module test` (one semantics);
//! - the server is SIGKILLed at random moments while events stream in, restarted each time,
//!   and ends with exactly the state and outputs of one uninterrupted run over the events on
//!   its log, every acknowledged event among them;
//! - SIGTERM stops it cleanly, and a restart recovers modules, state and clock;
//! - a full disk stops acknowledgements with a clear error, and after space is freed and the
//!   server restarted every acknowledged event is applied, once.

use super::common::{Env, Run, repo_root};
use super::module_commands::{examples, s};
use serde_json::Value as Json;
use std::io::{BufRead, BufReader};
use std::process::Child;

/// A running server; SIGTERMed (and waited for) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(env: &Env, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--clock", "test", "--http", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env.spawn(&args);
        let stdout = child.stdout.take().expect("stdout piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("read the server's first line");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("the server did not say where it listens: {first:?}\n{err}")
            })
            .to_string();
        Server { child, url }
    }

    fn signal(&mut self, sig: &str) {
        let status = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
        std::mem::forget(self);
    }

    /// SIGTERM and the exit code.
    fn stop(mut self) -> i32 {
        self.signal("-TERM");
        let code = self.child.wait().expect("wait").code().unwrap_or(-1);
        std::mem::forget(self);
        code
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal("-TERM");
        let _ = self.child.wait();
    }
}

/// The records of a topic's partition 0 as JSON values (read from the files, as `tail` does
/// while the server runs).
fn topic_json(env: &Env, topic: &str) -> Vec<Json> {
    let run = env
        .run(&["tail", topic, "--from-beginning", "--json", "-n", "1000000"])
        .success();
    run.json_lines()
        .into_iter()
        .map(|r| r["value"].clone())
        .collect()
}

/// A mode's outputs without the deploy notices and the input offsets: what `module test`
/// prints for the same events.
fn module_outputs(env: &Env) -> Vec<Json> {
    topic_json(env, "twinlog.default.out")
        .into_iter()
        .filter(|j| j.get("deployed").is_none())
        .map(|mut j| {
            j.as_object_mut().unwrap().remove("input");
            j
        })
        .collect()
}

fn lines(run: &Run) -> Vec<Json> {
    run.json_lines()
}

#[test]
fn every_example_runs_the_same_through_a_server() {
    let mut failures = Vec::new();
    for e in examples() {
        let env = Env::new();
        // The server takes the zone and location; `--until` becomes a clock advance.
        let mut server_args: Vec<&str> = Vec::new();
        let mut until = None;
        let mut it = e.args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--until" => until = it.next().cloned(),
                other => {
                    server_args.push(other);
                    server_args.push(it.next().expect("a value"));
                }
            }
        }
        let server = Server::start(&env, &server_args);
        let mut deploy = vec!["module", "deploy"];
        deploy.extend(e.modules.iter().map(|p| s(p)));
        env.run(&deploy).success();
        let events = std::fs::read_to_string(&e.events).unwrap();
        let acks = env
            .run_with_stdin(&["event", "send", "-", "--json"], Some(&events))
            .success();
        assert_eq!(
            acks.stdout.lines().count(),
            events.lines().filter(|l| !l.trim().is_empty()).count(),
            "{}: one ack per event",
            e.name
        );
        if let Some(t) = &until {
            env.run(&["clock", "advance", "--to", t]).success();
        }
        // A read through the server waits until every input is processed.
        env.run(&["module", "list"]).success();
        let served = module_outputs(&env);

        let mut test: Vec<&str> = vec!["module", "test"];
        test.extend(e.modules.iter().map(|p| s(p)));
        test.extend(["--events", s(&e.events)]);
        test.extend(e.args.iter().map(String::as_str));
        let expected = lines(&env.run(&test).success());
        if served != expected {
            failures.push(format!(
                "{}:\n  module test: {expected:?}\n  server:      {served:?}",
                e.name
            ));
        }
        assert_eq!(server.stop(), 0, "{}: SIGTERM exits 0", e.name);
    }
    assert!(
        failures.is_empty(),
        "examples that differ:\n{}",
        failures.join("\n")
    );
}

const COUNTER: &str = "MODULE counter
    SUBSCRIBE tick
    PUBLISH last = 0
    PRIVATE n = 0
    TIMER quiet 1 minutes
    ON tick
      THEN n = n + 1
      THEN last = tick
      THEN quiet = start
    ON quiet
      THEN log(\"quiet\")
";

/// Tiny deterministic generator (xorshift), so a failing run can be repeated from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_at_random_moments_loses_nothing_and_repeats_nothing() {
    let env = Env::new();
    let module = env.dir.path().join("counter.scc");
    std::fs::write(&module, COUNTER).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let total: u64 = 24_000;
    const ROUNDS: u32 = 12;
    let event = |i: u64| {
        let t = jiff::Timestamp::from_second(1_700_000_000 + i as i64).unwrap();
        format!(r#"{{"time": "{t}", "variable": "tick", "value": {i}}}"#)
    };
    let mut acked: Vec<u64> = Vec::new();
    let mut next = 0u64;
    let mut cut_short = 0;
    {
        let server = Server::start(&env, &[]);
        env.run(&["module", "deploy", s(&module)]).success();
        drop(server);
    }
    for round in 0..ROUNDS {
        let server = Server::start(&env, &[]);
        let last = round == ROUNDS - 1;
        let remaining = total - next;
        let count = if last {
            remaining
        } else {
            remaining.min(1000 + rng.below(3000))
        };
        // Send the next events in a background CLI run; kill the server part-way (the
        // last round sends all that is left, then is killed while the agent catches up).
        let input: String = (next..next + count).map(|i| event(i) + "\n").collect();
        let data_dir = env.data_dir();
        let sender = std::thread::spawn(move || send_tolerating_a_dead_server(&data_dir, &input));
        let run = if last {
            let run = sender.join().unwrap();
            assert_eq!(run.code, 0, "{}", run.stderr);
            server.kill();
            run
        } else {
            std::thread::sleep(std::time::Duration::from_millis(rng.below(60)));
            server.kill();
            sender.join().unwrap()
        };
        let sent = run.stdout.lines().count() as u64;
        if sent < count {
            cut_short += 1;
        }
        acked.extend(next..next + sent);
        next += sent;
    }
    let rounds = ROUNDS;
    // The final, uninterrupted run: finish the timers and read everything.
    let server = Server::start(&env, &[]);
    env.run(&["clock", "advance", "--by", "5m"]).success();
    let n = counter_n(&env);
    let served = module_outputs(&env);
    drop(server);

    // The events on the log are the truth: every acknowledged one is among them...
    let inputs: Vec<Json> = topic_json(&env, "twinlog.default.inputs");
    let logged: Vec<u64> = inputs
        .iter()
        .filter(|j| j["k"] == "e")
        .map(|j| j["value"].as_u64().unwrap())
        .collect();
    for a in &acked {
        assert!(
            logged.contains(a),
            "seed {seed}: acknowledged event {a} is not on the log"
        );
    }
    // ...and one uninterrupted `module test` over them gives the same outputs and state.
    // An event that reached the log but whose ack did not reach the sender was sent again,
    // so the log can hold an earlier time after a later one: the server processes such a
    // late event at the clock's now, and so does the reference.
    let mut at = 0u64;
    let events: String = logged
        .iter()
        .map(|&i| {
            at = at.max(i);
            let t = jiff::Timestamp::from_second(1_700_000_000 + at as i64).unwrap();
            format!(r#"{{"time": "{t}", "variable": "tick", "value": {i}}}"#) + "\n"
        })
        .collect();
    let events_file = env.dir.path().join("events.jsonl");
    std::fs::write(&events_file, events).unwrap();
    let last_time = jiff::Timestamp::from_second(
        1_700_000_000 + logged.iter().max().copied().unwrap_or(0) as i64,
    )
    .unwrap();
    let until = (last_time + jiff::SignedDuration::from_mins(5)).to_string();
    let expected = lines(
        &env.run(&[
            "module",
            "test",
            s(&module),
            "--events",
            s(&events_file),
            "--until",
            &until,
        ])
        .success(),
    );
    assert_eq!(
        served.len(),
        expected.len(),
        "seed {seed}, {rounds} rounds: outputs"
    );
    assert_eq!(served, expected, "seed {seed}, {rounds} rounds");
    assert_eq!(
        n,
        logged.len() as u64,
        "seed {seed}: each logged event applied once"
    );
    eprintln!(
        "seed {seed}: {rounds} kills, {cut_short} of them while events were being sent; {} acked, {} logged, {} outputs",
        acked.len(),
        logged.len(),
        served.len()
    );
    assert_eq!(
        acked.len() as u64,
        total,
        "seed {seed}: the last round sends the rest"
    );
}

/// `event send -` with `input`; the sender stops reading stdin when the server dies, which
/// is not the test's failure.
fn send_tolerating_a_dead_server(data_dir: &std::path::Path, input: &str) -> Run {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = super::common::twinlog()
        .arg("--data-dir")
        .arg(data_dir)
        .args(["event", "send", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn twinlog");
    let mut stdin = child.stdin.take().expect("stdin piped");
    // Written from its own thread: the acks fill stdout while the input still flows.
    let input = input.to_string();
    let writer = std::thread::spawn(move || match stdin.write_all(input.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("write stdin: {e}"),
    });
    let out = child.wait_with_output().expect("wait for twinlog");
    writer.join().expect("stdin writer");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8"),
        stderr: String::from_utf8(out.stderr).expect("utf-8"),
    }
}

#[test]
fn a_restart_after_sigterm_recovers_modules_state_and_clock() {
    let env = Env::new();
    let lamp = repo_root().join("examples/modules/lamp1/lamp1.scc");
    let server = Server::start(&env, &["--tz", "America/Los_Angeles"]);
    assert!(server.url.starts_with("http://127.0.0.1:"));
    env.run(&["module", "deploy", s(&lamp)]).success();
    let events =
        std::fs::read_to_string(repo_root().join("examples/modules/lamp1/events.jsonl")).unwrap();
    env.run_with_stdin(&["event", "send", "-"], Some(&events))
        .success();
    let before = env
        .run(&["module", "state", "lamp1", "--json"])
        .success()
        .stdout;
    let clock = env.run(&["clock", "show", "--json"]).success().stdout;
    // The CLI's writers go through the server that holds the data dir.
    env.run(&["topic", "create", "sensors"]).success();
    env.run(&["publish", "sensors", "{\"t\": 1}"]).success();
    assert_eq!(server.stop(), 0);
    assert!(
        !env.data_dir().join("SERVER").exists(),
        "a clean stop removes the SERVER file"
    );
    let no_server = env.run(&["module", "list"]).failure(1);
    assert!(
        no_server.stderr.contains("no server is running"),
        "{}",
        no_server.stderr
    );
    // `module state` reads the files instead: the server's last answer.
    let mut cmd = super::common::twinlog();
    cmd.env("TWINLOG_TZ", "America/Los_Angeles")
        .arg("--data-dir")
        .arg(env.data_dir())
        .args(["module", "state", "lamp1", "--json"]);
    let saved = super::common::run_cmd(cmd, None).success();
    assert_eq!(saved.stdout, before);
    assert!(
        saved.stderr.contains(
            "no server is running: the state as of the last snapshot (input 3); every input on the log is applied"
        ),
        "{}",
        saved.stderr
    );
    let unknown = env.run(&["module", "state", "lamp2"]).failure(1);
    assert!(
        unknown
            .stderr
            .contains("no module named `lamp2` is deployed"),
        "{}",
        unknown.stderr
    );

    let _server = Server::start(&env, &["--tz", "America/Los_Angeles"]);
    assert_eq!(
        env.run(&["module", "state", "lamp1", "--json"])
            .success()
            .stdout,
        before
    );
    assert_eq!(
        env.run(&["clock", "show", "--json"]).success().stdout,
        clock
    );
    let history = env.run(&["module", "history", "lamp1"]).success();
    assert!(
        history.stdout.starts_with("version 1 at "),
        "{}",
        history.stdout
    );
    let bad = env.run(&["event", "send", "{\"variable\": 3}"]).failure(1);
    assert!(
        bad.stderr.contains("`variable` must be a string"),
        "{}",
        bad.stderr
    );
}

#[test]
fn the_readme_walk_through_runs() {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(repo_root().join("examples/quickstart.sh"))
        .env("TWINLOG", env!("CARGO_BIN_EXE_twinlog"))
        .env_remove("TWINLOG_DATA_DIR");
    let run = super::common::run_cmd(cmd, None).success();
    // Midnight on a Friday in auto mode turns lamp1 off, before its timer would.
    assert!(
        run.stdout.contains(
            "state            = off          (publish v2, changed 2023-01-20T00:00:00-08:00)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(r#""module":"hallway","log":"no motion for 5 minutes""#),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("deployed lamp1 version 1"),
        "{}",
        run.stdout
    );
}

/// A small tmpfs mounted over a directory, unmounted when dropped: a disk that fills up for
/// real (ENOSPC from the kernel). Mounting needs root, as the test machines run.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let disk = SmallDisk(dir.to_owned());
        disk.mount_with(&format!("size={size}"));
        disk
    }

    /// Gives the disk more room, keeping what is on it.
    fn grow(&self, size: &str) {
        self.mount_with(&format!("remount,size={size}"));
    }

    fn mount_with(&self, options: &str) {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&self.0)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -o {options} of a tmpfs at {} failed (the test needs root): {}",
            self.0.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn counter_n(env: &Env) -> u64 {
    let state = env.run(&["module", "state", "counter", "--json"]).success();
    let state: Json = serde_json::from_str(&state.stdout).unwrap();
    state[0]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "n")
        .unwrap()["value"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_full_disk_stops_acknowledgements_and_loses_nothing() {
    let env = Env::new();
    // Declared first, so dropped last: the server stops before the disk goes.
    let disk = SmallDisk::mount(&env.data_dir(), "2m");
    let module = env.dir.path().join("counter.scc");
    std::fs::write(&module, COUNTER).unwrap();
    let server = Server::start(&env, &[]);
    env.run(&["module", "deploy", s(&module)]).success();
    let total = 100_000;
    let input: String = (0..total)
        .map(|i| format!(r#"{{"variable": "tick", "value": {i}}}"#) + "\n")
        .collect();
    let full = env
        .run_with_stdin(&["event", "send", "-"], Some(&input))
        .failure(1);
    assert!(
        full.stderr.contains("disk full while writing ")
            && full.stderr.contains("this request was not acknowledged")
            && full.stderr.contains("(HTTP 507)"),
        "{}",
        full.stderr
    );
    let acked = full.stdout.lines().count();
    assert!(acked > 0 && acked < total, "{acked} acknowledged");
    // The server stays up, refuses writes and says why; reads say the agent stopped.
    let more = env
        .run(&["event", "send", r#"{"variable": "tick", "value": -1}"#])
        .failure(1);
    assert!(more.stderr.contains("disk full"), "{}", more.stderr);
    let state = env.run(&["module", "state", "counter"]).failure(1);
    assert!(
        state.stderr.contains("module agent stopped: disk full"),
        "{}",
        state.stderr
    );
    drop(server);

    disk.grow("64m");
    let _server = Server::start(&env, &[]);
    let n = counter_n(&env);
    let logged: Vec<i64> = topic_json(&env, "twinlog.default.inputs")
        .iter()
        .filter(|j| j["k"] == "e")
        .map(|j| j["value"].as_i64().unwrap())
        .collect();
    for a in 0..acked as i64 {
        assert!(
            logged.contains(&a),
            "acknowledged event {a} is not on the log"
        );
    }
    assert_eq!(n, logged.len() as u64, "each logged event applied once");
    env.run(&["event", "send", r#"{"variable": "tick", "value": 0}"#])
        .success();
    assert_eq!(counter_n(&env), n + 1, "the server takes events again");
}

fn mode_names(env: &Env) -> Vec<String> {
    let run = env.run(&["mode", "list", "--json"]).success();
    let modes: Json = serde_json::from_str(&run.stdout).unwrap();
    modes
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

fn topic_names(env: &Env) -> Vec<String> {
    let run = env.run(&["topic", "list", "--json"]).success();
    run.json_lines()
        .iter()
        .flat_map(|j| match j {
            Json::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn modes_and_topics_are_deleted_with_everything_in_them() {
    let env = Env::new();
    let lamp = repo_root().join("examples/modules/lamp1/lamp1.scc");
    let server = Server::start(&env, &[]);
    env.run(&["mode", "create", "what-if"]).success();
    env.run(&["module", "deploy", s(&lamp), "--mode", "what-if"])
        .success();
    env.run(&[
        "event",
        "send",
        "--mode",
        "what-if",
        r#"{"variable": "mode", "value": "on"}"#,
    ])
    .success();
    assert_eq!(mode_names(&env), ["default", "what-if"]);
    assert!(topic_names(&env).contains(&"twinlog.what-if.state".to_string()));

    let refused = env.run(&["mode", "delete", "default"]).failure(1);
    assert!(
        refused
            .stderr
            .contains("the default mode cannot be deleted"),
        "{}",
        refused.stderr
    );
    let one_topic = env
        .run(&["topic", "delete", "twinlog.what-if.inputs"])
        .failure(1);
    assert!(
        one_topic
            .stderr
            .contains("belongs to mode `what-if`; delete the mode instead"),
        "{}",
        one_topic.stderr
    );
    let deleted = env.run(&["mode", "delete", "what-if"]).success();
    assert_eq!(deleted.stdout.trim(), "deleted mode what-if");
    assert_eq!(mode_names(&env), ["default"]);
    assert!(
        !topic_names(&env)
            .iter()
            .any(|t| t.starts_with("twinlog.what-if.")),
        "{:?}",
        topic_names(&env)
    );
    let gone = env.run(&["module", "list", "--mode", "what-if"]).failure(1);
    assert!(
        gone.stderr.contains("no mode named `what-if`"),
        "{}",
        gone.stderr
    );
    let again = env.run(&["mode", "delete", "what-if"]).failure(1);
    assert!(
        again.stderr.contains("no mode named `what-if`"),
        "{}",
        again.stderr
    );

    // A user topic, deleted through the server, and created again empty.
    env.run(&["topic", "create", "sensors"]).success();
    env.run(&["publish", "sensors", "{\"t\": 1}"]).success();
    env.run(&["topic", "delete", "sensors"]).success();
    assert!(!topic_names(&env).contains(&"sensors".to_string()));
    env.run(&["topic", "create", "sensors"]).success();
    let tail = env
        .run(&["tail", "sensors", "--from-beginning", "--json"])
        .success();
    assert_eq!(tail.stdout, "", "the new topic is empty");

    // The deleted mode stays deleted after a restart; a new one of the name starts empty.
    drop(server);
    env.run(&["topic", "delete", "sensors"]).success();
    let _server = Server::start(&env, &[]);
    assert_eq!(mode_names(&env), ["default"]);
    env.run(&["mode", "create", "what-if"]).success();
    let modules = env
        .run(&["module", "list", "--mode", "what-if", "--json"])
        .success();
    assert_eq!(modules.stdout.trim(), "[]");
}
