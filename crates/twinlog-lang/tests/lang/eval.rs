//! Integration tests: the cycle semantics of LANGUAGE.md "One cycle", run through the
//! simulator (`sim`) so routing, the test clock and ordering are covered too.
//!
//! Data-driven: [`check`] takes module sources, an event script and the expected output, both
//! in a compact line format:
//!
//! ```text
//! events:  [YYYY-MM-DD] HH:MM[:SS] target[@instance] [= value]
//!          target = `module.variable` or a bare global name; value = number, TRUE/FALSE,
//!          "string" or a bare word (an enum value, given as a string like the JSON input)
//! output:  MM-DD HH:MM:SS module[@instance] variable = value   (a publication)
//!          MM-DD HH:MM:SS module[@instance] variable!          (value-less publication)
//!          MM-DD HH:MM:SS module[@instance] log: text
//!          MM-DD HH:MM:SS module[@instance] error: message
//! ```
//! Times are UTC; the default date is Monday 2024-01-15.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use rust_decimal::Decimal;
use twinlog_lang::eval::{CycleOutput, Input, Instance, Limits};
use twinlog_lang::ir::{Program, compile};
use twinlog_lang::sim::{InputError, SimEvent, SimOutput, Simulator};
use twinlog_lang::time::TimeContext;
use twinlog_lang::value::Value;

fn program(src: &str) -> Program {
    match compile("test.scc", src) {
        Ok(p) => p,
        Err(d) => panic!("{}", twinlog_lang::diag::render_all(&d, "test.scc", src)),
    }
}

fn parse_value(s: &str) -> Value {
    let s = s.trim();
    if let Some(q) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Value::string(q);
    }
    match s.to_ascii_lowercase().as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    match s.parse::<Decimal>() {
        Ok(n) => Value::Number(n),
        Err(_) => Value::string(s),
    }
}

fn parse_events(script: &str) -> Vec<SimEvent> {
    let mut date = "2024-01-15".to_string();
    let mut events = Vec::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (head, value) = match line.split_once('=') {
            Some((h, v)) => (h.trim(), Some(parse_value(v))),
            None => (line, None),
        };
        let mut parts: Vec<&str> = head.split_whitespace().collect();
        if parts[0].len() == 10 {
            date = parts.remove(0).to_string();
        }
        let time = if parts[0].len() == 5 {
            format!("{}:00", parts[0])
        } else {
            parts[0].to_string()
        };
        let time: Timestamp = format!("{date}T{time}Z").parse().unwrap();
        let (target, instance) = match parts[1].split_once('@') {
            Some((t, i)) => (t, Some(i.to_string())),
            None => (parts[1], None),
        };
        let (module, variable) = match target.split_once('.') {
            Some((m, v)) => (Some(m.to_string()), v.to_string()),
            None => (None, target.to_string()),
        };
        events.push(SimEvent {
            time,
            module,
            variable,
            instance,
            value,
        });
    }
    events
}

fn render(out: &[SimOutput]) -> String {
    let t = |t: &Timestamp| t.strftime("%m-%d %H:%M:%S").to_string();
    let who = |m: &str, i: &Option<std::sync::Arc<str>>| match i {
        Some(i) => format!("{m}@{i}"),
        None => m.to_string(),
    };
    let mut s = String::new();
    for o in out {
        let line = match o {
            SimOutput::Publication {
                time,
                module,
                instance,
                variable,
                value: Some(v),
            } => {
                let v = match v {
                    Value::Str(s) => s.to_string(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                format!("{} {} {variable} = {v}", t(time), who(module, instance))
            }
            SimOutput::Publication {
                time,
                module,
                instance,
                variable,
                value: None,
            } => {
                format!("{} {} {variable}!", t(time), who(module, instance))
            }
            SimOutput::Log {
                time,
                module,
                instance,
                text,
            } => format!("{} {} log: {text}", t(time), who(module, instance)),
            SimOutput::CycleError {
                time,
                module,
                instance,
                message,
            } => {
                format!("{} {} error: {message}", t(time), who(module, instance))
            }
            SimOutput::Note {
                time,
                module,
                instance,
                text,
            } => format!("{} {} note: {text}", t(time), who(module, instance)),
            SimOutput::Refused {
                time,
                module,
                instance,
                event,
                message,
            } => {
                let m = module.as_deref().unwrap_or("-");
                format!(
                    "{} {} refused event {event}: {message}",
                    t(time),
                    who(m, instance)
                )
            }
        };
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn sim(modules: &[&str]) -> Simulator {
    let ctx = TimeContext::new(TimeZone::UTC).with_location(47.6, -122.3);
    Simulator::new(modules.iter().map(|m| program(m)).collect(), ctx).unwrap()
}

fn run(modules: &[&str], script: &str, until: Option<&str>) -> String {
    let mut s = sim(modules);
    let until = until.map(|u| u.parse::<Timestamp>().unwrap());
    match s.run(&parse_events(script), until) {
        Ok(out) => render(&out),
        Err(errs) => errs
            .iter()
            .map(|e| format!("input {}: {e}\n", e.index()))
            .collect(),
    }
}

#[track_caller]
fn check(modules: &[&str], script: &str, expect: &str) {
    check_until(modules, script, None, expect)
}

#[track_caller]
fn check_until(modules: &[&str], script: &str, until: Option<&str>, expect: &str) {
    let got = run(modules, script, until);
    let want: String = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, want, "\n--- got ---\n{got}--- want ---\n{want}");
}

const LAMP: &str = r#"
MODULE lamp1
    SUBSCRIBE mode {off, auto, on}
    SUBSCRIBE button1.press AS press
    PUBLISH state {off, on} = off
    PRIVATE count = 0
    TIMER offTimer 30 minutes
    AT midnight ON weekdays
      AND mode.auto
      THEN state = off
    ON press
      AND state == off
      THEN state = on
      THEN offTimer = start
    ON press
      THEN state.off
    ON offTimer
      THEN state.off
    WHEN state == on
      THEN count = count + 1
      THEN log("lamp on", count)
"#;

#[test]
fn on_first_match_timer_and_when_after_change() {
    check(
        &[LAMP],
        "
        21:00 button1.press = TRUE
        21:10 button1.press = TRUE
        21:20 button1.press = TRUE
        ",
        "
        01-15 21:00:00 lamp1 log: lamp on 1
        01-15 21:00:00 lamp1 state = on
        01-15 21:10:00 lamp1 state = off
        01-15 21:20:00 lamp1 log: lamp on 2
        01-15 21:20:00 lamp1 state = on
        ",
    );
}

#[test]
fn timer_expiry_runs_on_timer_and_at_fires_at_midnight_on_weekdays() {
    // The timer started at 21:20 is still running at 21:50 (start does not restart it)...
    check_until(
        &[LAMP],
        "
        20:00 mode = auto
        21:00 button1.press = TRUE
        ",
        Some("2024-01-16T00:05:00Z"),
        "
        01-15 21:00:00 lamp1 log: lamp on 1
        01-15 21:00:00 lamp1 state = on
        01-15 21:30:00 lamp1 state = off
        ",
    );
    // ...and AT midnight switches a lamp left on off (Tuesday is a weekday).
    check_until(
        &[r#"
MODULE night
    SUBSCRIBE mode {off, auto, on}
    PUBLISH state {off, on} = on
    PRIVATE x = 0
    AT midnight ON weekdays
      AND mode.auto
      THEN state = off
    AT midnight
      THEN x = 1
      THEN log("second AT never runs when the first matched")
"#],
        "23:00 mode = auto",
        Some("2024-01-16T00:05:00Z"),
        "01-16 00:00:00 night state = off",
    );
}

#[test]
fn at_first_match_falls_through_when_conditions_fail() {
    check_until(
        &[r#"
MODULE m
    SUBSCRIBE mode {off, auto}
    AT noon
      AND mode.auto
      THEN log("auto noon")
    AT noon
      THEN log("plain noon")
"#],
        "
        11:00 mode = off
        2024-01-16 11:00 mode = auto
        ",
        Some("2024-01-16T13:00:00Z"),
        "
        01-15 12:00:00 m log: plain noon
        01-16 12:00:00 m log: auto noon
        ",
    );
}

#[test]
fn publish_only_on_change_and_initial_values_are_not_published() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE level
    PUBLISH high = FALSE
    PUBLISH copy
    ON level
      THEN high = level > 10
      THEN copy = level
"#],
        "
        10:00 level = 5
        10:01 level = 5
        10:02 level = 20
        10:03 level = 20.0
        ",
        "
        01-15 10:00:00 m copy = 5
        01-15 10:02:00 m high = true
        01-15 10:02:00 m copy = 20
        ",
    );
}

#[test]
fn activate_is_a_valueless_publication_received_by_subscribers() {
    check(
        &[
            r#"
MODULE alarm
    SUBSCRIBE smoke
    PUBLISH siren
    ON smoke
      THEN activate(siren)
"#,
            r#"
MODULE pager
    SUBSCRIBE alarm.siren AS siren
    ON siren
      THEN log("page the owner")
"#,
        ],
        "10:00 smoke",
        "
        01-15 10:00:00 alarm siren!
        01-15 10:00:00 pager log: page the owner
        ",
    );
}

#[test]
fn constraint_violation_rolls_back_the_cycle_and_others_go_on() {
    check(
        &[
            r#"
MODULE dimmer
    SUBSCRIBE delta
    PUBLISH level {0-100} = 50
    PRIVATE touched = 0
    ON delta
      THEN touched = touched + 1
      THEN level = level + delta
"#,
            r#"
MODULE echo
    SUBSCRIBE delta
    PUBLISH seen
    ON delta
      THEN seen = delta
"#,
        ],
        "
        10:00 delta = 30
        10:01 delta = 30
        10:02 delta = -70
        ",
        "
        01-15 10:00:00 dimmer level = 80
        01-15 10:00:00 echo seen = 30
        01-15 10:01:00 dimmer error: `110` is not allowed for `level`; expected {0-100} (line 8: `THEN level = level + delta`)
        01-15 10:02:00 dimmer level = 10
        01-15 10:02:00 echo seen = -70
        ",
    );
}

#[test]
fn division_by_zero_is_an_error_and_unset_arithmetic_is_unset() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE d
    PRIVATE never
    PUBLISH q
    ON d
      AND d == 0
      THEN q = never + 1
    ON d
      THEN q = 10 / d
"#],
        "
        10:00 d = 0
        10:01 d = 4
        ",
        "
        01-15 10:00:00 m note: `q` left unchanged: `never + 1` has no value (line 8)
        01-15 10:01:00 m q = 2.5
        ",
    );
}

#[test]
fn unset_compares_unequal_to_everything_and_is_published_when_first_set() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE a
    SUBSCRIBE b
    PUBLISH same
    PUBLISH differ
    ON a
      THEN same = a == b
      THEN differ = a != b
"#],
        "
        10:00 a = 1
        10:01 b = 1
        10:02 a = 1
        ",
        "
        01-15 10:00:00 m same = false
        01-15 10:00:00 m differ = true
        01-15 10:02:00 m same = true
        01-15 10:02:00 m differ = false
        ",
    );
}

/// Issue 10: `WHEN n > 0 AND other + 1 > 0` with `other` never received used to fail every
/// cycle, rolling back the ON of the same cycle (after three `go` messages `n` was 1).
#[test]
fn unset_in_a_condition_is_false_and_the_cycle_goes_on() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE go
    SUBSCRIBE other
    PUBLISH n = 0
    PUBLISH hits = 0
    PUBLISH above = 0
    ON go
      THEN n = n + 1
    WHEN n > 0
      AND other + 1 > 0
      THEN hits = hits + 1
    WHEN n > 0
      AND other > -1
      THEN above = above + 1
"#],
        "
        10:00 go
        10:01 go
        10:02 go
        10:03 other = 5
        ",
        "
        01-15 10:00:00 m n = 1
        01-15 10:01:00 m n = 2
        01-15 10:02:00 m n = 3
        01-15 10:03:00 m hits = 1
        01-15 10:03:00 m above = 1
        ",
    );
}

#[test]
fn unset_flows_through_arithmetic_and_functions_and_assignments_say_they_were_skipped() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE go
    SUBSCRIBE x
    PRIVATE counter
    PUBLISH y = 1
    PUBLISH z = 1
    PUBLISH differs = false
    ON go
      THEN y = round(abs(-x * 2) / 3, 1)
      THEN z = x
      THEN counter++
      THEN differs = x + 1 != 3
      THEN log("x is", x, "and x + 1 is", x + 1)
"#],
        "
        10:00 go
        10:01 x = 4
        10:02 go
        ",
        "
        01-15 10:00:00 m log: x is unset and x + 1 is unset
        01-15 10:00:00 m note: `y` left unchanged: `round(abs(-x * 2) / 3, 1)` has no value (line 10)
        01-15 10:00:00 m note: `z` left unchanged: `x` has no value (line 11)
        01-15 10:00:00 m note: `counter` left unchanged: it has no value to count from (line 12)
        01-15 10:00:00 m differs = true
        01-15 10:02:00 m log: x is 4 and x + 1 is 5
        01-15 10:02:00 m note: `counter` left unchanged: it has no value to count from (line 12)
        01-15 10:02:00 m y = 2.7
        01-15 10:02:00 m z = 4
        ",
    );
}

/// Issue 10: rust_decimal drops the places of a zero operand; the language does not.
#[test]
fn decimal_places_never_depend_on_a_zero() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE d
    PUBLISH total = 0.00
    PUBLISH product = 0
    PUBLISH level {0.00, 0.50, 1.00} = 0
    ON d
      THEN total = total + d
      THEN product = d * 0.50
      THEN level = 1
"#],
        "
        10:00 d = 1
        10:01 d = -1
        10:02 d = 0
        10:03 d = 2
        ",
        "
        01-15 10:00:00 m total = 1.00
        01-15 10:00:00 m product = 0.50
        01-15 10:00:00 m level = 1.00
        01-15 10:01:00 m total = 0.00
        01-15 10:01:00 m product = -0.50
        01-15 10:02:00 m product = 0.00
        01-15 10:03:00 m total = 2.00
        01-15 10:03:00 m product = 1.00
        ",
    );
}

#[test]
fn a_number_constraint_writes_its_places_on_messages_and_initial_values() {
    let mut s = sim(&[r#"
MODULE m
    SUBSCRIBE level {0.00, 0.50, 1.00}
    PRIVATE start {0.0-10.0} = 3
    PUBLISH echo
    ON level
      THEN echo = level
"#]);
    let out = s.run(&parse_events("10:00 level = 1"), None).unwrap();
    assert_eq!(render(&out), "01-15 10:00:00 m echo = 1.00\n");
    assert_eq!(
        s.value("m", None, "start"),
        Some(Value::Number(Decimal::new(30, 1)))
    );
    assert_eq!(
        s.value("m", None, "start")
            .unwrap()
            .as_number()
            .unwrap()
            .to_string(),
        "3.0"
    );
}

/// Issue 10: the forms Sodacan's grammar and documents use. `SUBSCRIBE m[key].v`, initial
/// values without `=`, and `{false, true}` as a boolean (`== true`, `= false`, `.true`, a
/// bare `AND door`).
#[test]
fn sodacan_forms_instance_subscription_initial_without_equals_and_boolean_lists() {
    let hall = r#"
MODULE hall[room]
    SUBSCRIBE sensor[room].motion AS motion
    SUBSCRIBE door {false, true}
    PUBLIC count 0
    PUBLIC price 0.00
    PUBLIC owner "John"
    PUBLISH open {true, false} = false
    ON motion
      AND door == true
      THEN count = count + 1
    ON motion
      AND door.false
      THEN price = price + 0.50
    ON door
      AND door
      THEN open.true
    ON door
      AND NOT door
      THEN open = false
      THEN log(owner, count, price)
"#;
    // `door` is unset until its first message: `door.false` does not hold at 10:00, and the
    // `hall` instance, created at 10:03, has not heard of the door yet.
    check(
        &[hall],
        "
        10:00 sensor.motion@kitchen
        10:01 door = true
        10:02 sensor.motion@kitchen
        10:03 sensor.motion@hall
        10:04 door = false
        10:05 sensor.motion@kitchen
        ",
        "
        01-15 10:01:00 hall@kitchen open = true
        01-15 10:02:00 hall@kitchen count = 1
        01-15 10:04:00 hall@kitchen log: John 1 0.00
        01-15 10:04:00 hall@kitchen open = false
        01-15 10:04:00 hall@hall log: John 0 0.00
        01-15 10:05:00 hall@kitchen price = 0.50
        ",
    );
    // The same module written the long way compiles to the same program.
    let long = hall
        .replace("sensor[room].motion", "sensor.motion[room]")
        .replace("PUBLIC count 0", "PUBLIC count = 0")
        .replace("PUBLIC price 0.00", "PUBLIC price = 0.00")
        .replace("PUBLIC owner \"John\"", "PUBLIC owner = \"John\"");
    let (a, b) = (program(hall), program(&long));
    assert_eq!(a.vars.len(), b.vars.len());
    for (x, y) in a.vars.iter().zip(&b.vars) {
        assert_eq!(
            (&x.name, &x.source, x.ty, &x.initial),
            (&y.name, &y.source, y.ty, &y.initial)
        );
    }
    let door = a.vars.iter().find(|v| &*v.name == "door").unwrap();
    assert_eq!(door.ty, twinlog_lang::ir::Type::Bool);
    assert!(door.constraint.is_none());
    // Messages of the time it was an enum (the names as strings) still arrive.
    let slot = a.slot("door").unwrap();
    assert_eq!(
        a.coerce_input(slot, &Value::string("TRUE")),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        a.coerce_input(slot, &Value::string("false")),
        Ok(Value::Bool(false))
    );
    assert!(a.coerce_input(slot, &Value::string("open")).is_err());
}

#[test]
fn step_and_functions() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE x
    PUBLISH n = 0
    PUBLISH r
    ON x
      THEN n++
      THEN n++
      THEN n--
      THEN r = round(max(abs(x), 1, min(2, 3)) / 3, 2)
"#],
        "
        10:00 x = -2.5
        10:01 x = 0
        ",
        "
        01-15 10:00:00 m n = 1
        01-15 10:00:00 m r = 0.83
        01-15 10:01:00 m n = 2
        01-15 10:01:00 m r = 0.67
        ",
    );
}

#[test]
fn instances_get_separate_state_and_keyless_messages_reach_all() {
    let room = r#"
MODULE lamp[room]
    SUBSCRIBE motion
    SUBSCRIBE allOff
    PUBLISH state {off, on} = off
    ON motion
      THEN state = on
      THEN log(room, "on")
    ON allOff
      THEN state.off
"#;
    check(
        &[room],
        "
        10:00 motion@kitchen = TRUE
        10:01 motion@hall = TRUE
        10:02 motion@kitchen = TRUE
        10:03 allOff
        ",
        "
        01-15 10:00:00 lamp@kitchen log: kitchen on
        01-15 10:00:00 lamp@kitchen state = on
        01-15 10:01:00 lamp@hall log: hall on
        01-15 10:01:00 lamp@hall state = on
        01-15 10:02:00 lamp@kitchen log: kitchen on
        01-15 10:03:00 lamp@kitchen state = off
        01-15 10:03:00 lamp@hall state = off
        ",
    );
}

#[test]
fn module_without_instances_takes_any_instance_key_and_keys_travel_with_publications() {
    check(
        &[
            r#"
MODULE sensor[room]
    SUBSCRIBE raw
    PUBLISH temp
    ON raw
      THEN temp = raw
"#,
            r#"
MODULE house
    SUBSCRIBE sensor.temp AS temp
    ON temp
      THEN log("temp", temp)
"#,
        ],
        "10:00 raw@attic = 31",
        "
        01-15 10:00:00 sensor@attic temp = 31
        01-15 10:00:00 house log: temp 31
        ",
    );
}

#[test]
fn timers_start_reset_cancel() {
    let m = r#"
MODULE motion
    SUBSCRIBE move
    SUBSCRIBE stop
    PUBLISH light {off, on} = off
    TIMER offTimer 10 minutes
    ON move
      THEN light = on
      THEN offTimer = reset
    ON stop
      THEN offTimer = cancel
    ON offTimer
      THEN light = off
"#;
    check_until(
        &[m],
        "
        10:00 move
        10:05 move
        11:00 move
        11:01 stop
        ",
        Some("2024-01-15T12:00:00Z"),
        "
        01-15 10:00:00 motion light = on
        01-15 10:15:00 motion light = off
        01-15 11:00:00 motion light = on
        ",
    );
}

#[test]
fn cascades_cross_modules_and_loops_are_cut() {
    let ping = r#"
MODULE ping
    SUBSCRIBE pong.n AS n
    SUBSCRIBE start
    PUBLISH m = 0
    ON start
      THEN m = 1
    ON n
      THEN m = n + 1
"#;
    let pong = r#"
MODULE pong
    SUBSCRIBE ping.m AS m
    PUBLISH n = 0
    ON m
      THEN n = m + 1
"#;
    let mut s = sim(&[ping, pong]);
    let out = s.run(&parse_events("10:00 start"), None).unwrap();
    let errors: Vec<&SimOutput> = out
        .iter()
        .filter(|o| matches!(o, SimOutput::CycleError { .. }))
        .collect();
    assert_eq!(errors.len(), 1, "{}", render(&out));
    let SimOutput::CycleError { message, .. } = errors[0] else {
        unreachable!()
    };
    assert_eq!(
        message,
        "cascade limit reached: a chain of more than 1000 cycles caused by publications at one instant; modules in the loop: ping, pong"
    );
    // The start cycle, then 1,000 cycles caused by publications, each publishing once.
    let pubs = out
        .iter()
        .filter(|o| matches!(o, SimOutput::Publication { .. }))
        .count();
    assert_eq!(pubs, 1001);
    // The next instant starts afresh.
    let out = s.run(&parse_events("10:01 start"), None).unwrap();
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, SimOutput::CycleError { .. }))
            .count(),
        1
    );
}

fn errors(out: &[SimOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            SimOutput::CycleError { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn logs(out: &[SimOutput]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            SimOutput::Log { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn many_inputs_at_one_instant_are_no_cascade() {
    let counter = r#"
MODULE counter
    SUBSCRIBE go
    PRIVATE c = 0
    ON go
      THEN c = c + 1
      THEN log(c)
"#;
    let inst = r#"
MODULE inst[room]
    SUBSCRIBE hello
    SUBSCRIBE poke
    ON poke
      THEN log("poke", room)
"#;
    // A limit of 10: 25 inputs at one instant and a keyless message to 25 instances are
    // independent cycles, none caused by a publication.
    let mut s = sim(&[counter, inst]).with_limits(Limits::default(), 10);
    let mut script = String::new();
    for i in 0..25 {
        script.push_str(&format!("10:00 go\n10:00 hello@r{i}\n"));
    }
    script.push_str("10:00 poke\n");
    let out = s.run(&parse_events(&script), None).unwrap();
    assert_eq!(errors(&out), Vec::<String>::new());
    let logs = logs(&out);
    assert_eq!(logs.iter().filter(|l| l.starts_with("poke")).count(), 25);
    assert_eq!(logs.iter().filter(|l| !l.starts_with("poke")).count(), 25);
    assert_eq!(s.value("counter", None, "c"), Some(Value::number(25)));
}

#[test]
fn a_cut_loop_drops_only_its_own_chain() {
    let ping = r#"
MODULE ping
    SUBSCRIBE pong.n AS n
    SUBSCRIBE start
    PUBLISH m = 0
    ON start
      THEN m = 1
    ON n
      THEN m = n + 1
"#;
    let pong = r#"
MODULE pong
    SUBSCRIBE ping.m AS m
    PUBLISH n = 0
    ON m
      THEN n = m + 1
"#;
    // A finite chain of 16 publications, interleaved with the endless ping-pong.
    let relay = r#"
MODULE relay
    SUBSCRIBE hello
    SUBSCRIBE echo.e AS back
    PUBLISH k = 0
    ON hello
      THEN k = 1
    ON back
      AND back < 8
      THEN k = back + 1
    ON back
      THEN log("relay done", back)
"#;
    let echo =
        "MODULE echo\n    SUBSCRIBE relay.k AS k\n    PUBLISH e = 0\n    ON k\n      THEN e = k\n";
    let mut s = sim(&[ping, pong, relay, echo]).with_limits(Limits::default(), 20);
    let out = s
        .run(&parse_events("10:00 start\n10:00 hello"), None)
        .unwrap();
    assert_eq!(
        errors(&out),
        [
            "cascade limit reached: a chain of more than 20 cycles caused by publications at one instant; modules in the loop: ping, pong"
        ]
    );
    assert_eq!(logs(&out), ["relay done 8"]);
    assert_eq!(s.value("echo", None, "e"), Some(Value::number(8)));
}

#[test]
fn a_branching_loop_is_cut_by_its_total_cycles() {
    let a = r#"
MODULE a
    SUBSCRIBE start
    SUBSCRIBE b.x AS fromB
    SUBSCRIBE c.x AS fromC
    PUBLISH x = 0
    ON start
      THEN x = 1
    ON fromB
      THEN x = x + 1
    ON fromC
      THEN x = x + 1
"#;
    let b = "MODULE b\n    SUBSCRIBE a.x AS y\n    PUBLISH x = 0\n    ON y\n      THEN x = y\n";
    let c = "MODULE c\n    SUBSCRIBE a.x AS y\n    PUBLISH x = 0\n    ON y\n      THEN x = y + 1\n";
    // Each cycle of `a` causes two more of it two steps later: the chain doubles every two
    // steps, so the cut comes from the total (40 × 1,000 cycles) before the depth (40).
    let mut s = sim(&[a, b, c]).with_limits(Limits::default(), 40);
    let out = s.run(&parse_events("10:00 start"), None).unwrap();
    let errors = errors(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("cascade limit reached: one input caused more than 40000 cycles at one instant; modules in the loop: a, "),
        "{}",
        errors[0]
    );
    // The next input starts a new chain.
    let out = s.run(&parse_events("10:01 start"), None).unwrap();
    assert_eq!(self::errors(&out).len(), 1);
}

#[test]
fn same_time_order_is_ticks_then_timers_then_messages() {
    check_until(
        &[r#"
MODULE m
    SUBSCRIBE go
    TIMER t 1 minutes
    AT 10:01
      THEN log("tick")
    ON go
      THEN t = start
      THEN log("message")
    ON t
      THEN log("timer")
"#],
        "
        10:00 go
        10:01 go
        ",
        Some("2024-01-15T10:03:00Z"),
        "
        01-15 10:00:00 m log: message
        01-15 10:01:00 m log: tick
        01-15 10:01:00 m log: timer
        01-15 10:01:00 m log: message
        01-15 10:02:00 m log: timer
        ",
    );
}

#[test]
fn only_events_out_of_time_order_stop_a_run() {
    let mut s = sim(&[LAMP]);
    let errs = s
        .run(
            &parse_events(
                "
                10:00 mode = auto
                09:00 mode = on
                10:03 mode = dim
                08:00 mode = off
                ",
            ),
            None,
        )
        .unwrap_err();
    let got: Vec<String> = errs.iter().map(|e| format!("{}: {e}", e.index())).collect();
    assert_eq!(
        got,
        [
            "1: event at 2024-01-15T09:00:00Z comes after one at 2024-01-15T10:00:00Z; events must be in time order",
            "3: event at 2024-01-15T08:00:00Z comes after one at 2024-01-15T10:03:00Z; events must be in time order",
        ]
    );
    assert!(matches!(errs[0], InputError::OutOfOrder { index: 1, .. }));
}

/// Issue 10: a value a subscriber refuses used to stop the whole run before any output.
#[test]
fn a_refused_or_unrouted_event_is_reported_at_its_place_and_the_run_goes_on() {
    check(
        &[LAMP],
        "
        10:00 mode = auto
        10:01 button1.press
        10:02 nobody.here = 1
        10:03 lamp1.nothing = 1
        10:04 mode = dim
        10:05 button1.press
        ",
        "
        01-15 10:01:00 lamp1 log: lamp on 1
        01-15 10:01:00 lamp1 state = on
        01-15 10:02:00 nobody refused event 2: unknown module `nobody`: no module given is named so or subscribes to `nobody.here`
        01-15 10:03:00 lamp1 refused event 3: no module subscribes to `lamp1.nothing`
        01-15 10:04:00 lamp1 refused event 4: `dim` is not allowed for `mode`; expected {off, auto, on}
        01-15 10:05:00 lamp1 state = off
        ",
    );
    // The refused value left the old one in place.
    let mut s = sim(&[LAMP]);
    s.run(&parse_events("10:00 mode = auto\n10:04 mode = dim"), None)
        .unwrap();
    assert_eq!(s.value("lamp1", None, "mode"), Some(Value::string("auto")));
}

/// One subscriber refusing a value does not keep it from the others.
#[test]
fn a_value_one_subscriber_refuses_still_reaches_the_others() {
    check(
        &[
            r#"
MODULE strict
    SUBSCRIBE level {0-10}
    PUBLISH seen = 0
    ON level
      THEN seen = level
"#,
            r#"
MODULE loose
    SUBSCRIBE level
    PUBLISH seen = 0
    ON level
      THEN seen = level
"#,
        ],
        "
        10:00 level = 20
        ",
        "
        01-15 10:00:00 strict refused event 0: `20` is not allowed for `level`; expected {0-10}
        01-15 10:00:00 loose seen = 20
        ",
    );
}

#[test]
fn direct_delivery_to_a_modules_own_subscription() {
    check(
        &[LAMP],
        "21:00 lamp1.press = TRUE",
        "
        01-15 21:00:00 lamp1 log: lamp on 1
        01-15 21:00:00 lamp1 state = on
        ",
    );
}

#[test]
fn when_reading_the_clock_runs_on_ticks() {
    check_until(
        &[r#"
MODULE clock
    SUBSCRIBE ping
    PUBLISH evening = FALSE
    WHEN system.clock#hour >= 18
      THEN evening = TRUE
"#],
        "17:58 ping",
        Some("2024-01-15T18:02:00Z"),
        "01-15 18:00:00 clock evening = true",
    );
}

#[test]
fn attributes_version_and_modified() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE x
    PUBLISH v = 0
    PUBLISH changed
    ON x
      THEN v = v + 1
      THEN changed = v#modified
    WHEN v#version > 1
      THEN log("version", v#version)
"#],
        "
        10:00 x = 1
        10:01 x = 1
        10:02 x = 1
        ",
        "
        01-15 10:00:00 m v = 1
        01-15 10:00:00 m changed = true
        01-15 10:01:00 m v = 2
        01-15 10:02:00 m log: version 2
        01-15 10:02:00 m v = 3
        ",
    );
}

#[test]
fn a_year_of_ticks_fires_each_at_on_its_days_only() {
    let mut s = sim(&[r#"
MODULE daily
    SUBSCRIBE go
    PRIVATE n = 0
    AT noon ON weekdays
      THEN n++
      THEN log("weekday", n)
"#]);
    let out = s
        .run(
            &parse_events("2024-01-01 00:00 go"),
            Some("2025-01-01T00:00:00Z".parse().unwrap()),
        )
        .unwrap();
    // 2024 starts on a Monday and has 366 days: 52 weeks and Monday + Tuesday.
    assert_eq!(out.len(), 262);
    let SimOutput::Log { time, text, .. } = &out[261] else {
        panic!("{out:?}")
    };
    assert_eq!(text, "weekday 262");
    assert_eq!(time.to_string(), "2024-12-31T12:00:00Z");
}

#[test]
fn ats_far_ahead_fire() {
    let far = r#"
MODULE far
    SUBSCRIBE go
    AT noon IN 2034 ON January 1
      THEN log("new year 2034")
    AT noon ON February 29 ON Mondays
      THEN log("leap monday")
"#;
    let mut s = sim(&[far]);
    let out = s
        .run(
            &parse_events("2024-01-01 00:00 go"),
            Some("2061-01-01T00:00:00Z".parse().unwrap()),
        )
        .unwrap();
    let fired: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            SimOutput::Log { time, text, .. } => Some(format!("{time} {text}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        fired,
        [
            "2034-01-01T12:00:00Z new year 2034",
            "2044-02-29T12:00:00Z leap monday",
        ]
    );
}

#[test]
fn bare_words_of_a_string_constraint_are_strings() {
    let words = r#"
MODULE words
    SUBSCRIBE m {"a b", c}
    PUBLISH f {"a b", c} = c
    ON m
      AND m == c
      THEN f = "a b"
    ON m
      AND c == m
      THEN f = c
    ON m
      THEN f = c
      THEN log(m)
"#;
    check(
        &[words],
        r#"
        10:00 m = c
        10:01 m = "a b"
        "#,
        "
        01-15 10:00:00 words f = a b
        01-15 10:01:00 words log: a b
        01-15 10:01:00 words f = c
        ",
    );
    assert_eq!(program(words).vars[1].initial, Value::string("c"));
}

#[test]
fn every_instance_ticks_and_timer_expiries_reach_subscribers() {
    check_until(
        &[
            r#"
MODULE lamp[room]
    SUBSCRIBE motion
    TIMER idle 2 minutes
    AT 10:05
      THEN log(room, "tick")
    ON motion
      THEN idle = start
"#,
            r#"
MODULE watcher
    SUBSCRIBE lamp.idle AS idle
    ON idle
      THEN log("idle")
"#,
        ],
        "
        10:00 motion@kitchen
        10:01 motion@hall
        ",
        Some("2024-01-15T10:06:00Z"),
        "
        01-15 10:02:00 watcher log: idle
        01-15 10:03:00 watcher log: idle
        01-15 10:05:00 lamp@kitchen log: kitchen tick
        01-15 10:05:00 lamp@hall log: hall tick
        ",
    );
}

#[test]
fn an_instance_created_late_still_ticks() {
    check_until(
        &[
            r#"
MODULE other
    SUBSCRIBE go
"#,
            r#"
MODULE lamp[room]
    SUBSCRIBE motion
    AT 10:05
      THEN log(room, "tick")
"#,
        ],
        "
        08:00 go
        2024-01-16 09:00:30 motion@attic
        ",
        Some("2024-01-16T10:06:00Z"),
        "01-16 10:05:00 lamp@attic log: attic tick",
    );
}

// ---------------------------------------------------------------------------------------
// Steady state: no allocation is asserted in the bench (counting allocator); here, that
// the buffers are reused and the instance is driven directly.

#[test]
fn instance_api_runs_cycles_directly() {
    let p = program(LAMP);
    let ctx = TimeContext::new(TimeZone::UTC);
    let mut inst = Instance::new(&p, None);
    let mut out = CycleOutput::new();
    let press = p.slot("press").unwrap();
    let state = p.slot("state").unwrap();
    let t: Timestamp = "2024-01-15T21:00:00Z".parse().unwrap();
    inst.run_cycle(
        &p,
        &ctx,
        t,
        &Input::Message {
            slot: press,
            value: Some(Value::Bool(true)),
        },
        &Limits::default(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.publications.len(), 1);
    assert_eq!(p.display_value(inst.value(state)), "on");
    assert_eq!(inst.version(state), 1);
    assert_eq!(out.logs().collect::<Vec<_>>(), ["lamp on 1"]);
    assert!(inst.next_timer().is_some());
}

/// Counts heap allocations per thread, so the zero-allocation test is not disturbed by
/// other tests running in parallel in this binary.
mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    // reason: a global allocator must implement the unsafe `GlobalAlloc` trait; this one only
    // counts and forwards to the system allocator.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: forwarded unchanged to the system allocator, same contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: `ptr` came from this allocator with `layout`, as the caller guarantees.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations made by this thread so far.
    pub fn count() -> u64 {
        COUNT.with(|c| c.get())
    }
}

#[test]
fn steady_state_cycles_allocate_nothing() {
    let mut bench = twinlog_lang::bench::CycleBench::new().unwrap();
    bench.run(1_000);
    let before = alloc_count::count();
    let (published, failed) = bench.run(20_000);
    let allocs = alloc_count::count() - before;
    assert_eq!(failed, 0);
    assert!(published > 1_000, "the stream changes things: {published}");
    assert_eq!(allocs, 0, "allocations in 20,000 steady-state cycles");
}

#[test]
fn state_round_trips_with_running_timers() {
    let p = program(LAMP);
    let ctx = TimeContext::new(TimeZone::UTC);
    let mut inst = Instance::new(&p, None);
    let mut out = CycleOutput::new();
    let t: Timestamp = "2024-01-15T21:00:00Z".parse().unwrap();
    let press = p.slot("press").unwrap();
    let msg = Input::Message {
        slot: press,
        value: Some(Value::Bool(true)),
    };
    inst.run_cycle(&p, &ctx, t, &msg, &Limits::default(), &mut out)
        .unwrap();
    let restored = Instance::from_state(&p, inst.state()).unwrap();
    assert_eq!(restored.state(), inst.state());
    assert_eq!(
        restored.next_timer(),
        Some(("2024-01-15T21:30:00Z".parse().unwrap(), 0))
    );
    let other = program("MODULE x\n  PRIVATE a = 1\n");
    let err = Instance::from_state(&other, inst.state()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "saved state of `x` has 4 variables and 1 timers; the module has 1 and 0"
    );
}

#[test]
fn operation_limit_is_a_cycle_error() {
    let p = program(
        r#"
MODULE m
    SUBSCRIBE x
    PUBLISH y
    ON x
      THEN y = x + x + x + x + x
"#,
    );
    let ctx = TimeContext::new(TimeZone::UTC);
    let mut inst = Instance::new(&p, None);
    let mut out = CycleOutput::new();
    let limits = Limits {
        max_ops_per_cycle: 5,
        ..Limits::default()
    };
    let err = inst
        .run_cycle(
            &p,
            &ctx,
            Timestamp::UNIX_EPOCH,
            &Input::Message {
                slot: 0,
                value: Some(Value::number(1)),
            },
            &limits,
            &mut out,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string().split(" (").next().unwrap(),
        "more than 5 operations in one cycle"
    );
    assert!(out.publications.is_empty());
    assert_eq!(inst.value(1), &Value::Unset, "rolled back");
    assert_eq!(inst.value(0), &Value::number(1), "the message value stays");
}

// ---------------------------------------------------------------------------------------
// Property: the evaluator never panics on any checked module and any event sequence.

fn expr_strategy() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("n".to_string()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("-2.5".to_string()),
        Just("a#version".to_string()),
        Just("system.clock#minute".to_string()),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")]
            )
                .prop_map(|(l, r, op)| format!("({l} {op} {r})")),
            inner.clone().prop_map(|e| format!("abs({e})")),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| format!("max({l}, {r})")),
            (inner.clone(), inner).prop_map(|(l, r)| format!("round({l}, {r})")),
        ]
    })
}

fn cond_strategy() -> impl Strategy<Value = String> {
    (
        expr_strategy(),
        expr_strategy(),
        prop_oneof![Just("=="), Just("!="), Just("<"), Just(">=")],
    )
        .prop_map(|(l, r, op)| format!("{l} {op} {r}"))
}

fn module_strategy() -> impl Strategy<Value = String> {
    let action = prop_oneof![
        expr_strategy().prop_map(|e| format!("n = {e}")),
        expr_strategy().prop_map(|e| format!("lvl = {e}")),
        Just("n++".to_string()),
        Just("lvl--".to_string()),
        Just("st = on".to_string()),
        Just("st.off".to_string()),
        Just("t = start".to_string()),
        Just("t = reset".to_string()),
        Just("t = cancel".to_string()),
        Just("activate(st)".to_string()),
        expr_strategy().prop_map(|e| format!("log(\"x\", {e}, st)")),
    ];
    let stmt = (
        prop_oneof![
            Just("ON a".to_string()),
            Just("ON b".to_string()),
            Just("ON t".to_string()),
            Just("AT 10:05".to_string()),
            cond_strategy().prop_map(|c| format!("WHEN {c}")),
        ],
        proptest::collection::vec(cond_strategy(), 0..2),
        proptest::collection::vec(action, 1..4),
    )
        .prop_map(|(trigger, conds, actions)| {
            let mut s = format!("  {trigger}\n");
            for c in conds {
                s.push_str(&format!("    AND {c}\n"));
            }
            for a in actions {
                s.push_str(&format!("    THEN {a}\n"));
            }
            s
        });
    (proptest::collection::vec(stmt, 1..6), any::<bool>()).prop_map(|(stmts, keyed)| {
        let header = if keyed { "MODULE p[room]" } else { "MODULE p" };
        let mut s = format!(
            "{header}\n  SUBSCRIBE a\n  SUBSCRIBE b {{0-10}}\n  PUBLISH n = 0\n  PUBLISH lvl {{0-5}} = 2\n  PUBLISH st {{off, on}}\n  TIMER t 90 seconds\n"
        );
        for st in stmts {
            s.push_str(&st);
        }
        s
    })
}

type GenEvent = (u32, bool, Option<i64>, Option<&'static str>);

fn events_strategy() -> impl Strategy<Value = Vec<GenEvent>> {
    let key = proptest::option::of(prop_oneof![Just("kitchen"), Just("hall")]);
    proptest::collection::vec(
        (
            0u32..600,
            any::<bool>(),
            proptest::option::of(-20i64..20),
            key,
        ),
        0..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn evaluator_never_panics(src in module_strategy(), events in events_strategy()) {
        let program = compile("p.scc", &src);
        let program = match program {
            Ok(p) => p,
            // Generated modules are meant to check; if one does not, the checker said why.
            Err(d) => { prop_assert!(!d.is_empty()); return Ok(()); }
        };
        let mut s = Simulator::new(vec![program], TimeContext::new(TimeZone::UTC)).unwrap();
        let base: Timestamp = "2024-01-15T10:00:00Z".parse().unwrap();
        let mut evs: Vec<SimEvent> = events
            .into_iter()
            .map(|(secs, which, v, key)| SimEvent {
                time: base + jiff::SignedDuration::from_secs(i64::from(secs)),
                module: None,
                variable: if which { "a" } else { "b" }.to_string(),
                instance: key.map(String::from),
                value: v.map(|v| Value::number(v.clamp(if which { -20 } else { 0 }, 10))),
            })
            .collect();
        evs.sort_by_key(|e| e.time);
        let out = s.run(&evs, Some(base + jiff::SignedDuration::from_secs(900)));
        prop_assert!(out.is_ok(), "{:?}", out.err());
    }
}

/// Guards the property above against becoming vacuous: most generated modules must check.
#[test]
fn generated_modules_mostly_check() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = module_strategy();
    let mut ok = 0;
    for _ in 0..100 {
        let src = strategy.new_tree(&mut runner).unwrap().current();
        if compile("p.scc", &src).is_ok() {
            ok += 1;
        }
    }
    assert!(ok >= 80, "only {ok} of 100 generated modules compiled");
}

#[test]
fn round_takes_places_written_with_decimals_and_rejects_fractions() {
    check(
        &[r#"
MODULE m
    SUBSCRIBE x
    PUBLISH r
    ON x
      AND x > 0
      THEN r = round(2.345, 1.0000000000)
    ON x
      THEN r = round(2.345, 0.5)
"#],
        "
        10:00 x = 1
        10:01 x = 0
        ",
        "
        01-15 10:00:00 m r = 2.3
        01-15 10:01:00 m error: `round` needs a whole number of places from 0 to 28, got 0.5 (line 9: `round(2.345, 0.5)`)
        ",
    );
}
