//! The runtime's records on the bus, and their encoding: versioned JSON objects (`"v": 1`),
//! readable with `twinlog tail`. The log does not interpret them; only this module does.
//!
//! - [`InputRecord`]: what the `inputs` topic holds (events, clock advances, deploys).
//! - [`SourceRecord`]: one deployed (or undeployed) source version in the `sources` topic.
//! - [`Snapshot`]: one module instance's state in the `state` topic.
//! - [`AgentRecord`]: the agent's position, clock and module set, the last record of every
//!   state batch (so a batch on the log is complete exactly when its agent record is there).
//!
//! FIXME(perf): JSON costs; a compact binary encoding (DESIGN.md §2) replaces it once the
//! pipeline benchmark shows where the time goes. The `"v"` field lets both coexist.

use crate::json::{self, value_to_tagged};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value as Json, json};
use std::borrow::Cow;
use std::str::FromStr;
use twinlog_lang::ir::Program;
use twinlog_lang::sim::ClockState;
use twinlog_lang::value::Value;

/// Format version written into every record.
pub const FORMAT_VERSION: u64 = 1;

/// A record this crate cannot read; `what` says which kind and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed {what} record: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: String,
}

fn bad(what: &'static str, reason: impl Into<String>) -> DecodeError {
    DecodeError {
        what,
        reason: reason.into(),
    }
}

/// One record of the `inputs` topic.
#[derive(Debug, Clone, PartialEq)]
pub enum InputRecord {
    /// A device or user event (`kind` `e`).
    Event(crate::json::EventIn),
    /// Move the clock (`kind` `t`): to an instant, or by a duration from where it stands.
    Clock {
        to: Option<Timestamp>,
        by: Option<SignedDuration>,
    },
    /// Switch a module to a source version (`kind` `a-scc`).
    Deploy {
        module: String,
        version: u32,
        source_offset: u64,
    },
    /// Remove a module (`kind` `a-undeploy`).
    Undeploy { module: String },
}

impl InputRecord {
    /// The record kind (also written as the `k` header, so `tail` shows it).
    pub fn kind(&self) -> &'static str {
        match self {
            InputRecord::Event(_) => "e",
            InputRecord::Clock { .. } => "t",
            InputRecord::Deploy { .. } => "a-scc",
            InputRecord::Undeploy { .. } => "a-undeploy",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("v".into(), json!(FORMAT_VERSION));
        m.insert("k".into(), json!(self.kind()));
        match self {
            InputRecord::Event(e) => {
                if let Some(t) = e.time {
                    m.insert("time".into(), json!(t.to_string()));
                }
                if let Some(x) = &e.module {
                    m.insert("module".into(), json!(x));
                }
                m.insert("variable".into(), json!(e.variable));
                if let Some(x) = &e.instance {
                    m.insert("instance".into(), json!(x));
                }
                if let Some(v) = &e.value {
                    m.insert("value".into(), value_to_tagged(v));
                }
            }
            InputRecord::Clock { to, by } => {
                if let Some(t) = to {
                    m.insert("to".into(), json!(t.to_string()));
                }
                if let Some(d) = by {
                    m.insert("by".into(), json!(d.to_string()));
                }
            }
            InputRecord::Deploy {
                module,
                version,
                source_offset,
            } => {
                m.insert("module".into(), json!(module));
                m.insert("version".into(), json!(version));
                m.insert("source_offset".into(), json!(source_offset));
            }
            InputRecord::Undeploy { module } => {
                m.insert("module".into(), json!(module));
            }
        }
        Json::Object(m).to_string().into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<InputRecord, DecodeError> {
        const W: &str = "input";
        // A borrowing struct, not a `Value` tree: inputs are decoded once per event on the
        // agent's hot path and by every replay.
        #[derive(serde::Deserialize)]
        struct Raw<'a> {
            v: Option<u64>,
            #[serde(borrow)]
            k: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            time: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            module: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            variable: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            instance: Option<Cow<'a, str>>,
            #[serde(default)]
            value: Option<Json>,
            #[serde(borrow, default)]
            to: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            by: Option<Cow<'a, str>>,
            #[serde(default)]
            version: Option<u32>,
            #[serde(default)]
            source_offset: Option<u64>,
        }
        let raw: Raw<'_> = serde_json::from_slice(bytes).map_err(|e| bad(W, e.to_string()))?;
        match raw.v {
            Some(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(bad(
                    W,
                    format!("format version {v}; this build reads {FORMAT_VERSION}"),
                ));
            }
            None => return Err(bad(W, "no format version `v`")),
        }
        let need = |v: Option<Cow<'_, str>>, field: &str| {
            v.map(Cow::into_owned)
                .ok_or_else(|| bad(W, format!("missing `{field}`")))
        };
        let kind = raw.k.ok_or_else(|| bad(W, "missing `k`"))?;
        Ok(match &*kind {
            "e" => InputRecord::Event(crate::json::EventIn {
                time: raw.time.map(|s| parse_ts(W, &s)).transpose()?,
                module: raw.module.map(Cow::into_owned),
                variable: need(raw.variable, "variable")?,
                instance: raw.instance.map(Cow::into_owned),
                value: match raw.value {
                    None | Some(Json::Null) => None,
                    Some(v) => Some(json::tagged_to_value(&v).map_err(|e| bad(W, e))?),
                },
                mode: None,
            }),
            "t" => InputRecord::Clock {
                to: raw.to.map(|s| parse_ts(W, &s)).transpose()?,
                by: raw
                    .by
                    .map(|s| SignedDuration::from_str(&s).map_err(|e| bad(W, e.to_string())))
                    .transpose()?,
            },
            "a-scc" => InputRecord::Deploy {
                module: need(raw.module, "module")?,
                version: raw.version.ok_or_else(|| bad(W, "missing `version`"))?,
                source_offset: raw
                    .source_offset
                    .ok_or_else(|| bad(W, "missing `source_offset`"))?,
            },
            "a-undeploy" => InputRecord::Undeploy {
                module: need(raw.module, "module")?,
            },
            other => return Err(bad(W, format!("unknown kind {other:?}"))),
        })
    }
}

/// One record of the `sources` topic (key = module name).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub module: String,
    pub version: u32,
    /// The file name it was deployed from (for diagnostics and `module source`).
    pub file: String,
    /// `None` for an undeploy.
    pub source: Option<String>,
    pub time: Timestamp,
}

impl SourceRecord {
    pub fn encode(&self) -> Vec<u8> {
        json!({
            "v": FORMAT_VERSION,
            "module": self.module,
            "version": self.version,
            "file": self.file,
            "source": self.source,
            "time": self.time.to_string(),
        })
        .to_string()
        .into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<SourceRecord, DecodeError> {
        const W: &str = "source";
        let mut m = object(W, bytes)?;
        Ok(SourceRecord {
            module: take_str(W, &mut m, "module")?,
            version: take_u64(W, &mut m, "version")? as u32,
            file: take_str(W, &mut m, "file")?,
            source: opt_str(W, &mut m, "source")?,
            time: parse_ts(W, &take_str(W, &mut m, "time")?)?,
        })
    }
}

/// One variable in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct SnapVar {
    pub name: String,
    /// Enum values as strings.
    pub value: Value,
    pub version: u64,
    /// When it last changed.
    pub changed: Option<Timestamp>,
}

/// One module instance's state after a cycle, by name so that any source version of the
/// module can be restored from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub module: String,
    pub instance: Option<String>,
    /// The source version that produced it.
    pub source_version: u32,
    /// The last input offset whose effects it holds.
    pub input: u64,
    pub vars: Vec<SnapVar>,
    /// Running timers: name and absolute deadline.
    pub timers: Vec<(String, Timestamp)>,
}

impl Snapshot {
    /// The snapshot of a live instance.
    pub fn of(
        program: &Program,
        instance: &twinlog_lang::eval::Instance,
        source_version: u32,
        input: u64,
    ) -> Snapshot {
        let state = instance.state();
        let vars = program
            .vars
            .iter()
            .enumerate()
            .map(|(slot, v)| SnapVar {
                name: v.name.to_string(),
                value: program.externalize(&state.values[slot]),
                version: state.versions[slot],
                changed: state.stamps[slot],
            })
            .collect();
        let timers = program
            .timers
            .iter()
            .zip(&state.timers)
            .filter_map(|(t, due)| due.map(|d| (t.name.to_string(), d)))
            .collect();
        Snapshot {
            module: program.name.to_string(),
            instance: state.key.as_deref().map(str::to_string),
            source_version,
            input,
            vars,
            timers,
        }
    }

    /// Its key in the `state` topic.
    pub fn key(&self) -> String {
        snapshot_key(&self.module, self.instance.as_deref())
    }

    /// Written by hand, not through a `Value` tree: one snapshot per changed instance per
    /// batch is the agent's largest encoding cost. The same JSON as the other records.
    pub fn encode(&self) -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::with_capacity(96 + self.vars.len() * 64);
        out.extend_from_slice(b"{\"v\":1,\"module\":");
        write_str(&mut out, &self.module);
        out.extend_from_slice(b",\"instance\":");
        match &self.instance {
            Some(i) => write_str(&mut out, i),
            None => out.extend_from_slice(b"null"),
        }
        let _ = write!(
            out,
            ",\"source_version\":{},\"input\":{},\"vars\":[",
            self.source_version, self.input
        );
        for (n, v) in self.vars.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            write_str(&mut out, &v.name);
            out.extend_from_slice(b",\"value\":");
            write_tagged(&mut out, &v.value);
            let _ = write!(out, ",\"version\":{},\"changed\":", v.version);
            match v.changed {
                Some(t) => {
                    let _ = write!(out, "\"{t}\"");
                }
                None => out.extend_from_slice(b"null"),
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"timers\":[");
        for (n, (name, deadline)) in self.timers.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            write_str(&mut out, name);
            let _ = write!(out, ",\"deadline\":\"{deadline}\"}}");
        }
        out.extend_from_slice(b"]}");
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        const W: &str = "snapshot";
        let mut m = object(W, bytes)?;
        let vars = match m.remove("vars") {
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|item| {
                    let Json::Object(mut v) = item else {
                        return Err(bad(W, "a variable is not an object"));
                    };
                    Ok(SnapVar {
                        name: take_str(W, &mut v, "name")?,
                        value: json::tagged_to_value(v.get("value").unwrap_or(&Json::Null))
                            .map_err(|e| bad(W, e))?,
                        version: take_u64(W, &mut v, "version")?,
                        changed: opt_str(W, &mut v, "changed")?
                            .map(|s| parse_ts(W, &s))
                            .transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(bad(W, "missing `vars`")),
        };
        let timers = match m.remove("timers") {
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|item| {
                    let Json::Object(mut t) = item else {
                        return Err(bad(W, "a timer is not an object"));
                    };
                    Ok((
                        take_str(W, &mut t, "name")?,
                        parse_ts(W, &take_str(W, &mut t, "deadline")?)?,
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        Ok(Snapshot {
            module: take_str(W, &mut m, "module")?,
            instance: opt_str(W, &mut m, "instance")?,
            source_version: take_u64(W, &mut m, "source_version")? as u32,
            input: take_u64(W, &mut m, "input")?,
            vars,
            timers,
        })
    }
}

/// The key of an instance's snapshot: `m/<module>` or `m/<module>/<instance>`.
pub fn snapshot_key(module: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("m/{module}/{i}"),
        None => format!("m/{module}"),
    }
}

/// The key of the [`AgentRecord`].
pub const AGENT_KEY: &str = "agent";

/// A deployed module, as the agent record lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedModule {
    pub name: String,
    pub version: u32,
    pub source_offset: u64,
    pub deployed_at: Timestamp,
}

/// Counters kept with the agent's position (so they survive restarts and replays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Inputs processed.
    pub inputs: u64,
    /// Events processed.
    pub events: u64,
    /// Events nobody subscribes to (or whose value every subscriber refuses): dead letters.
    pub dead_letters: u64,
    /// Events stamped before the clock's now, processed at now.
    pub late: u64,
    /// Cycles that failed (runtime errors).
    pub cycle_errors: u64,
    /// Publications made.
    pub publications: u64,
    /// Input records that could not be read.
    pub malformed: u64,
}

/// Where the agent stands: the last input it processed, its clock and its modules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentRecord {
    /// The last input offset processed (`None`: none yet).
    pub input: Option<u64>,
    pub clock: ClockState,
    pub modules: Vec<DeployedModule>,
    pub counters: Counters,
}

impl AgentRecord {
    pub fn encode(&self) -> Vec<u8> {
        let ts = |t: Option<Timestamp>| t.map(|t| t.to_string());
        let modules: Vec<Json> = self
            .modules
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "version": m.version,
                    "source_offset": m.source_offset,
                    "deployed_at": m.deployed_at.to_string(),
                })
            })
            .collect();
        let c = &self.counters;
        json!({
            "v": FORMAT_VERSION,
            "input": self.input,
            "clock": {
                "now": ts(self.clock.now),
                "last_event": ts(self.clock.last_event),
                "ticked_through": ts(self.clock.ticked_through),
            },
            "modules": modules,
            "counters": {
                "inputs": c.inputs, "events": c.events, "dead_letters": c.dead_letters,
                "late": c.late, "cycle_errors": c.cycle_errors, "publications": c.publications,
                "malformed": c.malformed,
            },
        })
        .to_string()
        .into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<AgentRecord, DecodeError> {
        const W: &str = "agent";
        let mut m = object(W, bytes)?;
        let input = match m.remove("input") {
            None | Some(Json::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| bad(W, "`input` is not an offset"))?,
            ),
        };
        let mut clock = match m.remove("clock") {
            Some(Json::Object(c)) => c,
            _ => return Err(bad(W, "missing `clock`")),
        };
        let mut ts = |k: &'static str| -> Result<Option<Timestamp>, DecodeError> {
            opt_str(W, &mut clock, k)?
                .map(|s| parse_ts(W, &s))
                .transpose()
        };
        let clock = ClockState {
            now: ts("now")?,
            last_event: ts("last_event")?,
            ticked_through: ts("ticked_through")?,
        };
        let modules = match m.remove("modules") {
            Some(Json::Array(items)) => items
                .into_iter()
                .map(|item| {
                    let Json::Object(mut d) = item else {
                        return Err(bad(W, "a module is not an object"));
                    };
                    Ok(DeployedModule {
                        name: take_str(W, &mut d, "name")?,
                        version: take_u64(W, &mut d, "version")? as u32,
                        source_offset: take_u64(W, &mut d, "source_offset")?,
                        deployed_at: parse_ts(W, &take_str(W, &mut d, "deployed_at")?)?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let counters = match m.remove("counters") {
            Some(Json::Object(c)) => {
                let n = |k: &str| c.get(k).and_then(Json::as_u64).unwrap_or(0);
                Counters {
                    inputs: n("inputs"),
                    events: n("events"),
                    dead_letters: n("dead_letters"),
                    late: n("late"),
                    cycle_errors: n("cycle_errors"),
                    publications: n("publications"),
                    malformed: n("malformed"),
                }
            }
            _ => Counters::default(),
        };
        Ok(AgentRecord {
            input,
            clock,
            modules,
            counters,
        })
    }
}

/// A JSON string, escaped.
fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// [`json::value_to_tagged`] written straight into `out`.
fn write_tagged(out: &mut Vec<u8>, v: &Value) {
    use std::io::Write;
    match v {
        Value::Unset => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // A decimal prints as a JSON number with its scale (`0.50`), never in exponent form.
        Value::Number(d) => {
            let _ = write!(out, "{d}");
        }
        Value::Str(s) => write_str(out, s),
        Value::Enum(sym) => write_str(out, &format!("#{}", sym.0)),
        Value::Time(t) => {
            let _ = write!(out, "{{\"$time\":\"{t}\"}}");
        }
        Value::List(items) => {
            out.push(b'[');
            for (n, i) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_tagged(out, i);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.extend_from_slice(b"{\"$obj\":{");
            for (n, (k, v)) in fields.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_tagged(out, v);
            }
            out.extend_from_slice(b"}}");
        }
    }
}

fn object(what: &'static str, bytes: &[u8]) -> Result<Map<String, Json>, DecodeError> {
    match serde_json::from_slice(bytes) {
        Ok(Json::Object(m)) => {
            match m.get("v").and_then(Json::as_u64) {
                Some(FORMAT_VERSION) => {}
                Some(v) => {
                    return Err(bad(
                        what,
                        format!("format version {v}; this build reads {FORMAT_VERSION}"),
                    ));
                }
                None => return Err(bad(what, "no format version `v`")),
            }
            Ok(m)
        }
        Ok(_) => Err(bad(what, "not a JSON object")),
        Err(e) => Err(bad(what, e.to_string())),
    }
}

fn take_str(
    what: &'static str,
    m: &mut Map<String, Json>,
    key: &str,
) -> Result<String, DecodeError> {
    opt_str(what, m, key)?.ok_or_else(|| bad(what, format!("missing `{key}`")))
}

fn opt_str(
    what: &'static str,
    m: &mut Map<String, Json>,
    key: &str,
) -> Result<Option<String>, DecodeError> {
    match m.remove(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad(what, format!("`{key}` is not a string: {other}"))),
    }
}

fn take_u64(what: &'static str, m: &mut Map<String, Json>, key: &str) -> Result<u64, DecodeError> {
    m.remove(key)
        .and_then(|v| v.as_u64())
        .ok_or_else(|| bad(what, format!("missing or bad `{key}`")))
}

fn parse_ts(what: &'static str, s: &str) -> Result<Timestamp, DecodeError> {
    Timestamp::from_str(s).map_err(|e| bad(what, format!("bad time {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::EventIn;
    use rust_decimal::Decimal;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn inputs_round_trip() {
        let inputs = [
            InputRecord::Event(EventIn {
                time: Some(t("2024-01-01T00:00:00Z")),
                module: Some("wall".into()),
                variable: "press".into(),
                instance: Some("kitchen".into()),
                value: Some(Value::Number(Decimal::new(5, 1))),
                mode: None,
            }),
            InputRecord::Event(EventIn {
                time: None,
                module: None,
                variable: "x".into(),
                instance: None,
                value: None,
                mode: None,
            }),
            InputRecord::Clock {
                to: None,
                by: Some(SignedDuration::from_mins(90)),
            },
            InputRecord::Clock {
                to: Some(t("2024-01-02T00:00:00Z")),
                by: None,
            },
            InputRecord::Deploy {
                module: "lamp".into(),
                version: 3,
                source_offset: 17,
            },
            InputRecord::Undeploy {
                module: "lamp".into(),
            },
        ];
        for i in inputs {
            assert_eq!(InputRecord::decode(&i.encode()).unwrap(), i);
        }
        let err = InputRecord::decode(br#"{"v":2,"k":"e"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed input record: format version 2; this build reads 1"
        );
        assert!(InputRecord::decode(b"{").is_err());
    }

    #[test]
    fn snapshots_and_agent_records_round_trip() {
        let s = Snapshot {
            module: "lamp".into(),
            instance: Some("kitchen".into()),
            source_version: 2,
            input: 41,
            vars: vec![SnapVar {
                name: "state".into(),
                value: Value::string("on"),
                version: 3,
                changed: Some(t("2024-01-01T00:00:00Z")),
            }],
            timers: vec![("off".into(), t("2024-01-01T00:05:00Z"))],
        };
        assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
        assert_eq!(s.key(), "m/lamp/kitchen");
        // The hand-written encoder agrees with the tagged JSON for every kind of value.
        let odd = Value::List(
            vec![
                Value::Time(t("2024-01-01T00:00:00Z")),
                Value::Number(Decimal::new(-150, 2)),
                Value::Object(vec![(std::sync::Arc::from("a \"q\""), Value::Bool(false))].into()),
                Value::Unset,
            ]
            .into(),
        );
        let mut bytes = Vec::new();
        write_tagged(&mut bytes, &odd);
        let parsed: Json = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, json::value_to_tagged(&odd));
        assert_eq!(json::tagged_to_value(&parsed).unwrap(), odd);
        let a = AgentRecord {
            input: Some(41),
            clock: ClockState {
                now: Some(t("2024-01-01T00:00:00Z")),
                last_event: None,
                ticked_through: Some(t("2024-01-01T00:00:00Z")),
            },
            modules: vec![DeployedModule {
                name: "lamp".into(),
                version: 2,
                source_offset: 5,
                deployed_at: t("2023-12-31T00:00:00Z"),
            }],
            counters: Counters {
                inputs: 42,
                dead_letters: 1,
                ..Counters::default()
            },
        };
        assert_eq!(AgentRecord::decode(&a.encode()).unwrap(), a);
        let src = SourceRecord {
            module: "lamp".into(),
            version: 1,
            file: "lamp.scc".into(),
            source: Some("MODULE lamp\n".into()),
            time: t("2024-01-01T00:00:00Z"),
        };
        assert_eq!(SourceRecord::decode(&src.encode()).unwrap(), src);
    }
}
