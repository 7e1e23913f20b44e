//! The API's JSON: runtime views turned into response bodies. The runtime derives no
//! `Serialize`; the wire shape is decided here (and documented in `docs/API.md`).

use jiff::tz::TimeZone;
use serde_json::{Value as Json, json};
use twinlog_runtime::json::{rfc3339, value_to_json};
use twinlog_runtime::view::{
    Accepted, ClockView, Deployed, InstanceView, ModuleView, SourceVersion, StatsView,
};

pub fn accepted(a: &Accepted) -> Json {
    json!({"topic": a.topic, "partition": a.partition, "offset": a.offset})
}

pub fn module(m: &ModuleView, tz: &TimeZone) -> Json {
    json!({
        "name": m.name,
        "version": m.version,
        "file": m.file,
        "deployedAt": rfc3339(m.deployed_at, tz),
        "instanceKey": m.instance_key,
        "instances": m.instances,
        "summary": m.summary,
    })
}

pub fn instance(i: &InstanceView, tz: &TimeZone) -> Json {
    let vars: Vec<Json> = i
        .vars
        .iter()
        .map(|v| {
            json!({
                "name": v.name,
                "kind": v.kind,
                "value": value_to_json(&v.value, tz),
                "version": v.version,
                "changed": v.changed.map(|t| rfc3339(t, tz)),
            })
        })
        .collect();
    let timers: Vec<Json> = i
        .timers
        .iter()
        .map(|(n, d)| json!({"name": n, "deadline": rfc3339(*d, tz)}))
        .collect();
    json!({
        "module": i.module,
        "instance": i.instance,
        "sourceVersion": i.source_version,
        "variables": vars,
        "timers": timers,
    })
}

pub fn clock(c: &ClockView, tz: &TimeZone) -> Json {
    json!({
        "clock": c.kind.name(),
        "now": c.now.map(|t| rfc3339(t, tz)),
        "nextDue": c.next_due.map(|t| rfc3339(t, tz)),
    })
}

pub fn stats(mode: &str, s: &StatsView) -> Json {
    let c = &s.counters;
    json!({
        "mode": mode,
        "inputs": c.inputs,
        "events": c.events,
        "deadLetters": c.dead_letters,
        "lateEvents": c.late,
        "cycleErrors": c.cycle_errors,
        "publications": c.publications,
        "malformedInputs": c.malformed,
        "lastInput": s.last_input,
        "modules": s.modules,
        "instances": s.instances,
    })
}

pub fn deployed(d: &Deployed) -> Json {
    json!({
        "module": d.module,
        "version": d.version,
        "unchanged": d.unchanged,
        "warnings": d.warnings,
    })
}

/// A module's history: every version with its time, offset and a unified diff against the
/// version before it.
pub fn history(versions: &[SourceVersion], tz: &TimeZone) -> Json {
    let mut previous: Option<&str> = None;
    let items: Vec<Json> = versions
        .iter()
        .map(|v| {
            let text = v.source.as_deref().unwrap_or("");
            let diff = similar::TextDiff::from_lines(previous.unwrap_or(""), text)
                .unified_diff()
                .context_radius(2)
                .header(
                    &format!("version {}", v.version.saturating_sub(1)),
                    &format!("version {}", v.version),
                )
                .to_string();
            previous = v.source.as_deref().or(previous);
            json!({
                "version": v.version,
                "time": rfc3339(v.time, tz),
                "offset": v.offset,
                "file": v.file,
                "undeployed": v.source.is_none(),
                "diff": diff,
            })
        })
        .collect();
    Json::Array(items)
}

pub fn source(v: &SourceVersion, tz: &TimeZone) -> Json {
    json!({
        "module": v.module,
        "version": v.version,
        "file": v.file,
        "time": rfc3339(v.time, tz),
        "offset": v.offset,
        "source": v.source,
    })
}
