//! The module agent against real buses: deploy, events, state, clocks, reloads, recovery
//! after a restart and after a crash between the two appends of a batch (exactly once).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value as Json;
use std::sync::Arc;
use twinlog_bus::Bus;
use twinlog_bus::embedded::EmbeddedBus;
use twinlog_bus::memory::MemoryBus;
use twinlog_bus::types::{ProducerRecord, TopicPartition};
use twinlog_lang::time::TimeContext;
use twinlog_lang::value::Value;
use twinlog_runtime::json::{EventIn, parse_event};
use twinlog_runtime::saved::saved_state;
use twinlog_runtime::view::InstanceView;
use twinlog_runtime::{Advance, ClockKind, ModeName, Runtime, RuntimeError, RuntimeOptions};

const HALLWAY: &str = "MODULE hallway
    SUBSCRIBE motion
    PUBLISH light {off, on} = off
    PRIVATE count = 0
    TIMER idle 5 minutes
    ON motion
      AND light == off
      THEN light = on
      THEN idle = start
      THEN count = count + 1
    ON idle
      THEN light.off
      THEN log(\"idle\")
";

fn options(mode: &str) -> RuntimeOptions {
    RuntimeOptions {
        mode: ModeName::new(mode).unwrap(),
        clock: ClockKind::Test,
        time: TimeContext::new(TimeZone::UTC),
    }
}

fn ev(line: &str) -> EventIn {
    parse_event(line).unwrap()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn var<'a>(views: &'a [InstanceView], name: &str) -> &'a twinlog_runtime::view::VarView {
    views[0].vars.iter().find(|v| v.name == name).unwrap()
}

/// Every record of the mode's `out` topic, as JSON.
async fn outputs(bus: &dyn Bus, rt: &Runtime) -> Vec<Json> {
    let tp = TopicPartition::new(rt.topics().out.clone(), 0);
    let recs = bus.read(&tp, 0, 100_000).await.unwrap();
    recs.iter()
        .map(|r| serde_json::from_slice(r.record.value.as_deref().unwrap()).unwrap())
        .collect()
}

fn without_input(mut j: Json) -> Json {
    j.as_object_mut().unwrap().remove("input");
    j
}

#[tokio::test]
async fn deploy_events_state_and_timers_on_the_test_clock() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    let d = rt.deploy("hallway.scc", HALLWAY).await.unwrap();
    assert_eq!(
        (d.module.as_str(), d.version, d.unchanged),
        ("hallway", 1, false)
    );
    let again = rt.deploy("hallway.scc", HALLWAY).await.unwrap();
    assert!(again.unchanged, "the same source twice is one version");

    let acks = rt
        .send_events(vec![ev(
            r#"{"time": "2024-05-01T20:00:00Z", "variable": "motion"}"#,
        )])
        .await
        .unwrap();
    assert_eq!(acks[0].topic, "twinlog.default.inputs");
    let state = rt.state("hallway", None).await.unwrap();
    assert_eq!(var(&state, "light").value, Value::string("on"));
    assert_eq!(var(&state, "light").version, 1);
    assert_eq!(
        state[0].timers,
        vec![("idle".to_string(), t("2024-05-01T20:05:00Z"))]
    );

    let clock = rt
        .advance_clock(Advance::By(jiff::SignedDuration::from_mins(10)))
        .await
        .unwrap();
    assert_eq!(clock.now, Some(t("2024-05-01T20:10:00Z")));
    let state = rt.state("hallway", None).await.unwrap();
    assert_eq!(var(&state, "light").value, Value::string("off"));
    assert!(state[0].timers.is_empty());
    let err = rt
        .advance_clock(Advance::To(t("2024-05-01T19:00:00Z")))
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::ClockBackwards { .. }), "{err}");

    let out: Vec<Json> = outputs(&*bus, &rt)
        .await
        .into_iter()
        .map(without_input)
        .collect();
    let expected: Vec<Json> = [
        r#"{"time":"2024-05-01T20:00:00+00:00","module":"hallway","variable":"light","value":"on"}"#,
        r#"{"time":"2024-05-01T20:05:00+00:00","module":"hallway","log":"idle"}"#,
        r#"{"time":"2024-05-01T20:05:00+00:00","module":"hallway","variable":"light","value":"off"}"#,
    ]
    .iter()
    .map(|s| serde_json::from_str(s).unwrap())
    .collect();
    let publications: Vec<Json> = out
        .into_iter()
        .filter(|j| j.get("deployed").is_none())
        .collect();
    assert_eq!(publications, expected);
    rt.shutdown().await;
}

/// The rule of `module test` (issue 10): a value a module refuses is an error line for that
/// event, the variable keeps its value, and the next events are processed.
#[tokio::test]
async fn a_refused_value_is_an_error_record_and_the_next_events_go_on() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    rt.deploy(
        "dimmer.scc",
        "MODULE dimmer\n  SUBSCRIBE level {0-10}\n  PUBLISH copy = 0\n  ON level\n    THEN copy = level\n",
    )
    .await
    .unwrap();
    rt.send_events(vec![
        ev(r#"{"variable": "level", "value": 3}"#),
        ev(r#"{"variable": "level", "value": 11}"#),
        ev(r#"{"variable": "level", "value": 4}"#),
    ])
    .await
    .unwrap();
    // Stats answer once the events sent are processed (read your writes).
    let stats = rt.stats().await.unwrap();
    assert_eq!(stats.counters.dead_letters, 1);
    let out: Vec<Json> = outputs(&*bus, &rt)
        .await
        .into_iter()
        .filter(|j| j.get("deployed").is_none())
        .collect();
    let shown: Vec<String> = out
        .iter()
        .map(|j| j.get("error").or(j.get("value")).unwrap().to_string())
        .collect();
    assert_eq!(
        shown,
        [
            "3",
            r#""event refused: `11` is not allowed for `level`; expected {0-10}""#,
            "4"
        ]
    );
    assert_eq!(out[1]["module"], "dimmer");
    rt.shutdown().await;
}

#[tokio::test]
async fn unrouted_events_are_dead_letters_and_bad_modules_deploy_nothing() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    rt.deploy("hallway.scc", HALLWAY).await.unwrap();
    rt.send_events(vec![ev(r#"{"variable": "nobody-listens", "value": 1}"#)])
        .await
        .unwrap();
    let stats = rt.stats().await.unwrap();
    assert_eq!(stats.counters.dead_letters, 1);
    let out = outputs(&*bus, &rt).await;
    let dead = out.iter().find(|j| j.get("dead_letter").is_some()).unwrap();
    assert_eq!(
        dead["dead_letter"],
        "no module subscribes to `nobody-listens`"
    );
    assert_eq!(dead["event"]["value"], serde_json::json!(1));

    let err = rt
        .deploy(
            "broken.scc",
            "MODULE broken\n  PUBLISH x = 0\n  ON y\n    THEN x = 1\n",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RuntimeError::Compile { .. }), "{err}");
    let err = rt
        .deploy(
            "sun.scc",
            "MODULE sun\n  PUBLISH x = 0\n  AT sunrise\n    THEN x = 1\n",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot run here"), "{err}");
    let names: Vec<String> = rt
        .modules()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["hallway"]);
    rt.shutdown().await;
}

#[tokio::test]
async fn a_new_version_keeps_the_state_of_variables_that_stay() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    rt.deploy("hallway.scc", HALLWAY).await.unwrap();
    rt.send_events(vec![ev(
        r#"{"time": "2024-05-01T20:00:00Z", "variable": "motion"}"#,
    )])
    .await
    .unwrap();
    let v2 = HALLWAY
        .replace("    PRIVATE count = 0\n", "    PRIVATE seen = 7\n")
        .replace("THEN count = count + 1", "THEN seen = seen + 1");
    let d = rt.deploy("hallway.scc", &v2).await.unwrap();
    assert_eq!(d.version, 2);
    let state = rt.state("hallway", None).await.unwrap();
    assert_eq!(state[0].source_version, 2);
    assert_eq!(var(&state, "light").value, Value::string("on"));
    assert_eq!(var(&state, "light").version, 1);
    assert_eq!(var(&state, "seen").value, Value::number(7));
    assert_eq!(
        state[0].timers.len(),
        1,
        "the running timer survives the reload"
    );
    let out = outputs(&*bus, &rt).await;
    let notes = &out
        .iter()
        .rev()
        .find(|j| j.get("deployed") == Some(&serde_json::json!(2)))
        .unwrap()["notes"];
    let notes: Vec<&str> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        [
            "`seen` is new: starts at its initial value",
            "`count` was removed: its value is dropped"
        ]
    );
    let history = rt.history("hallway").await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        rt.source("hallway", Some(1))
            .await
            .unwrap()
            .source
            .as_deref(),
        Some(HALLWAY)
    );
    assert!(matches!(
        rt.source("hallway", Some(9)).await,
        Err(RuntimeError::UnknownVersion { latest: 2, .. })
    ));
    rt.undeploy("hallway").await.unwrap();
    assert!(rt.modules().await.unwrap().is_empty());
    assert!(matches!(
        rt.state("hallway", None).await,
        Err(RuntimeError::UnknownModule(_))
    ));
    rt.shutdown().await;
}

#[tokio::test]
async fn a_restart_recovers_state_clock_and_timers() {
    let dir = tempfile::tempdir().unwrap();
    let open = || -> Arc<dyn Bus> {
        Arc::new(EmbeddedBus::open(dir.path(), twinlog_log::LogOptions::default()).unwrap())
    };
    {
        let bus = open();
        let rt = Runtime::start(bus.clone(), options("default"))
            .await
            .unwrap();
        rt.deploy("hallway.scc", HALLWAY).await.unwrap();
        rt.send_events(vec![ev(
            r#"{"time": "2024-05-01T20:00:00Z", "variable": "motion"}"#,
        )])
        .await
        .unwrap();
        rt.advance_clock(Advance::By(jiff::SignedDuration::from_mins(2)))
            .await
            .unwrap();
        rt.shutdown().await;
    }
    let bus = open();
    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    assert_eq!(
        rt.clock().await.unwrap().now,
        Some(t("2024-05-01T20:02:00Z"))
    );
    let state = rt.state("hallway", None).await.unwrap();
    assert_eq!(var(&state, "light").value, Value::string("on"));
    assert_eq!(var(&state, "count").value, Value::number(1));
    // The timer started before the stop fires at its deadline after the start.
    rt.advance_clock(Advance::To(t("2024-05-01T20:06:00Z")))
        .await
        .unwrap();
    let state = rt.state("hallway", None).await.unwrap();
    assert_eq!(var(&state, "light").value, Value::string("off"));
    let out = outputs(&*bus, &rt).await;
    let idle: Vec<&Json> = out.iter().filter(|j| j.get("log").is_some()).collect();
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0]["time"], "2024-05-01T20:05:00+00:00");
    rt.shutdown().await;
}

/// A crash after a batch's outputs were appended but before its snapshots: the state topic
/// holds the cut before that batch. Put it back to such a cut and restart: the inputs after
/// it are replayed, the state ends the same and no output is written twice.
#[tokio::test]
async fn a_crash_between_outputs_and_snapshots_replays_without_duplicates() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    rt.deploy("hallway.scc", HALLWAY).await.unwrap();
    let state_tp = TopicPartition::new(rt.topics().state.clone(), 0);
    let mut cut = Vec::new();
    for minute in ["20:00", "20:10", "20:20"] {
        rt.send_events(vec![ev(&format!(
            r#"{{"time": "2024-05-01T{minute}:00Z", "variable": "motion"}}"#
        ))])
        .await
        .unwrap();
        rt.sync().await.unwrap();
        if cut.is_empty() {
            // After the first motion: the cut holds every key the later ones write.
            cut = bus.read(&state_tp, 0, 100_000).await.unwrap();
        }
    }
    let before = rt.state("hallway", None).await.unwrap();
    let out_before = outputs(&*bus, &rt).await;
    let topics = rt.topics().clone();
    rt.shutdown().await;
    // With no agent running, the saved state is what the agent answered.
    let saved = saved_state(&*bus, &topics, "hallway", None).await.unwrap();
    assert_eq!((saved.instances, saved.pending), (before.clone(), 0));
    // The lost snapshots: the state as of the cut wins again.
    let records: Vec<ProducerRecord> = cut
        .into_iter()
        .map(|r| ProducerRecord::to_partition(r.record, 0))
        .collect();
    bus.send_batch(&state_tp.topic, records).await.unwrap();
    let saved = saved_state(&*bus, &topics, "hallway", None).await.unwrap();
    assert_eq!(saved.pending, 2, "the two later motions wait for the agent");
    assert_eq!(var(&saved.instances, "count").value, Value::number(1));
    assert!(matches!(
        saved_state(&*bus, &topics, "nobody", None).await,
        Err(RuntimeError::UnknownModule(_))
    ));

    let rt = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    let after = rt.state("hallway", None).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(var(&after, "count").value, Value::number(3));
    assert_eq!(outputs(&*bus, &rt).await, out_before, "no output twice");
    rt.shutdown().await;
}

#[tokio::test]
async fn modes_are_isolated() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let a = Runtime::start(bus.clone(), options("default"))
        .await
        .unwrap();
    let b = Runtime::start(bus.clone(), options("what-if"))
        .await
        .unwrap();
    a.deploy("hallway.scc", HALLWAY).await.unwrap();
    b.deploy("hallway.scc", HALLWAY).await.unwrap();
    b.send_events(vec![ev(
        r#"{"time": "2024-05-01T20:00:00Z", "variable": "motion"}"#,
    )])
    .await
    .unwrap();
    assert_eq!(
        var(&a.state("hallway", None).await.unwrap(), "light").value,
        Value::string("off")
    );
    assert_eq!(
        var(&b.state("hallway", None).await.unwrap(), "light").value,
        Value::string("on")
    );
    a.shutdown().await;
    b.shutdown().await;
}

const BLINK: &str = "MODULE blink
    SUBSCRIBE go
    TIMER soon 1 seconds
    ON go
      THEN soon = start
    ON soon
      THEN log(\"fired\")
";

/// Waits (bounded) until the mode's outputs hold a log line `text`; returns their count.
async fn wait_for_log(bus: &dyn Bus, rt: &Runtime, text: &str) -> usize {
    for _ in 0..200 {
        let n = outputs(bus, rt)
            .await
            .iter()
            .filter(|j| j.get("log").and_then(Json::as_str) == Some(text))
            .count();
        if n > 0 {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no `{text}` log within 10 s");
}

#[tokio::test]
async fn the_real_clock_fires_timers_and_catches_up_after_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let open = || -> Arc<dyn Bus> {
        Arc::new(EmbeddedBus::open(dir.path(), twinlog_log::LogOptions::default()).unwrap())
    };
    let real = || RuntimeOptions {
        clock: ClockKind::Real,
        ..options("default")
    };
    {
        let bus = open();
        let rt = Runtime::start(bus.clone(), real()).await.unwrap();
        rt.deploy("blink.scc", BLINK).await.unwrap();
        assert!(matches!(
            rt.advance_clock(Advance::By(jiff::SignedDuration::from_mins(1)))
                .await,
            Err(RuntimeError::RealClock)
        ));
        rt.send_events(vec![ev(r#"{"variable": "go"}"#)])
            .await
            .unwrap();
        assert_eq!(wait_for_log(&*bus, &rt, "fired").await, 1);
        // Stop with a timer running; it comes due while the server is down.
        rt.send_events(vec![ev(r#"{"variable": "go"}"#)])
            .await
            .unwrap();
        rt.sync().await.unwrap();
        assert_eq!(rt.state("blink", None).await.unwrap()[0].timers.len(), 1);
        rt.shutdown().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let bus = open();
    let rt = Runtime::start(bus.clone(), real()).await.unwrap();
    rt.sync().await.unwrap();
    // The catch-up tick is the first input after the start: the timer fired at once.
    let mut fired = 0;
    for _ in 0..100 {
        fired = outputs(&*bus, &rt)
            .await
            .iter()
            .filter(|j| j.get("log").and_then(Json::as_str) == Some("fired"))
            .count();
        if fired == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        fired, 2,
        "the timer that came due during the downtime fired on catch-up"
    );
    // Every tick is a record on the log, so a replay makes the same decisions.
    let inputs = bus.read(&rt.inputs_partition(), 0, 1000).await.unwrap();
    let ticks = inputs
        .iter()
        .filter(|r| {
            r.record
                .headers
                .iter()
                .any(|h| h.key == "k" && &h.value[..] == b"t")
        })
        .count();
    assert!(
        ticks >= 3,
        "start ticks, the timer's tick and the catch-up: {ticks}"
    );
    rt.shutdown().await;
}

#[tokio::test]
async fn a_fork_starts_with_the_source_state_as_of_its_point_then_goes_its_own_way() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let modes = twinlog_runtime::Modes::open(
        bus.clone(),
        ClockKind::Test,
        TimeContext::new(TimeZone::UTC),
    )
    .await
    .unwrap();
    let main = modes.get("default").unwrap();
    main.deploy("hallway.scc", HALLWAY).await.unwrap();
    let acks = main
        .send_events(vec![ev(
            r#"{"time": "2024-05-01T20:00:00Z", "variable": "motion"}"#,
        )])
        .await
        .unwrap();
    main.advance_clock(Advance::By(jiff::SignedDuration::from_mins(10)))
        .await
        .unwrap();
    main.send_events(vec![ev(r#"{"variable": "motion"}"#)])
        .await
        .unwrap();
    // As of the first motion: light on, timer running, clock at 20:00.
    let fork = modes
        .fork(
            "what-if",
            "default",
            twinlog_runtime::ForkPoint::Offset(acks[0].offset),
        )
        .await
        .unwrap();
    let state = fork.state("hallway", None).await.unwrap();
    assert_eq!(var(&state, "light").value, Value::string("on"));
    assert_eq!(var(&state, "count").value, Value::number(1));
    assert_eq!(
        fork.clock().await.unwrap().now,
        Some(t("2024-05-01T20:00:00Z"))
    );
    // The fork goes its own way; the source is untouched.
    fork.advance_clock(Advance::By(jiff::SignedDuration::from_mins(1)))
        .await
        .unwrap();
    assert_eq!(
        var(&main.state("hallway", None).await.unwrap(), "count").value,
        Value::number(2)
    );
    assert_eq!(fork.history("hallway").await.unwrap().len(), 1);
    // Everything, now.
    let now = modes
        .fork("copy", "default", twinlog_runtime::ForkPoint::Now)
        .await
        .unwrap();
    assert_eq!(
        now.state("hallway", None).await.unwrap(),
        main.state("hallway", None).await.unwrap()
    );
    assert!(matches!(
        modes
            .fork("bad", "default", twinlog_runtime::ForkPoint::Offset(10_000))
            .await,
        Err(twinlog_runtime::ModeError::BadForkPoint { .. })
    ));
    assert!(matches!(
        modes
            .fork("x", "nope", twinlog_runtime::ForkPoint::Now)
            .await,
        Err(twinlog_runtime::ModeError::Unknown(_))
    ));
    modes.shutdown().await;
}
