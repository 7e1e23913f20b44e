//! JSON at the edge of the module world: input events, module values and outputs, written
//! once for `twinlog module test`, the server's API and the runtime's records, so the three
//! speak exactly the same objects (`{"module": "wall", "variable": "press", "value": 1}`).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};
use std::str::FromStr;
use std::sync::Arc;
use twinlog_lang::sim::SimOutput;
use twinlog_lang::value::Value;

/// One input event as a person or a device writes it. Without `time` it happens "now" on
/// the clock of the mode it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct EventIn {
    pub time: Option<Timestamp>,
    /// `None` for a global topic variable.
    pub module: Option<String>,
    pub variable: String,
    pub instance: Option<String>,
    /// `None` for a value-less event. Enum values are strings.
    pub value: Option<Value>,
    /// The mode it goes to (`None`: the one the caller chose).
    pub mode: Option<String>,
}

/// Why a JSON event was refused; `field` names the offending field.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("not valid JSON: {0}")]
    Syntax(String),
    #[error("expected a JSON object like {{\"module\": …, \"variable\": …}}")]
    NotAnObject,
    #[error("missing `{field}`")]
    Missing { field: &'static str },
    #[error("`{field}` must be {expected}; got {got}")]
    Type {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("`time` must be RFC 3339 with an offset, like 2023-01-20T21:00:00-08:00: {reason}")]
    Time { reason: String },
    #[error("`{field}`: {reason}")]
    Value { field: &'static str, reason: String },
    #[error(
        "unknown field `{field}`; an event has time, module, variable, instance, value and mode"
    )]
    UnknownField { field: String },
}

impl EventError {
    /// The field the error is about, if one.
    pub fn field(&self) -> Option<&str> {
        match self {
            EventError::Missing { field }
            | EventError::Type { field, .. }
            | EventError::Value { field, .. } => Some(field),
            EventError::Time { .. } => Some("time"),
            EventError::UnknownField { field } => Some(field),
            EventError::Syntax(_) | EventError::NotAnObject => None,
        }
    }
}

/// Parses one event line.
pub fn parse_event(line: &str) -> Result<EventIn, EventError> {
    let json: Json = serde_json::from_str(line).map_err(|e| EventError::Syntax(e.to_string()))?;
    event_from_json(json)
}

/// An event from a parsed JSON object.
pub fn event_from_json(json: Json) -> Result<EventIn, EventError> {
    let Json::Object(mut obj) = json else {
        return Err(EventError::NotAnObject);
    };
    let time = match obj.remove("time") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(parse_time(&s)?),
        Some(other) => {
            return Err(EventError::Type {
                field: "time",
                expected: "a string (RFC 3339)",
                got: other.to_string(),
            });
        }
    };
    let module = optional_string(&mut obj, "module")?;
    let instance = optional_string(&mut obj, "instance")?;
    let mode = optional_string(&mut obj, "mode")?;
    let variable =
        optional_string(&mut obj, "variable")?.ok_or(EventError::Missing { field: "variable" })?;
    let value = match obj.remove("value") {
        None | Some(Json::Null) => None,
        Some(v) => Some(value_from_json(&v).map_err(|reason| EventError::Value {
            field: "value",
            reason,
        })?),
    };
    if let Some(extra) = obj.keys().next() {
        return Err(EventError::UnknownField {
            field: extra.clone(),
        });
    }
    Ok(EventIn {
        time,
        module,
        variable,
        instance,
        value,
        mode,
    })
}

/// An RFC 3339 instant (with an offset).
pub fn parse_time(s: &str) -> Result<Timestamp, EventError> {
    Timestamp::from_str(s).map_err(|e| EventError::Time {
        reason: e.to_string(),
    })
}

fn optional_string(
    obj: &mut Map<String, Json>,
    field: &'static str,
) -> Result<Option<String>, EventError> {
    match obj.remove(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(other) => Err(EventError::Type {
            field,
            expected: "a string",
            got: other.to_string(),
        }),
    }
}

/// JSON → a module value: numbers exactly (scale kept), strings (also enum values), booleans,
/// lists and objects.
pub fn value_from_json(json: &Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Unset,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            Value::Number(parse_decimal(&n.to_string()).ok_or_else(|| {
                format!("the number {n} does not fit an exact decimal (28 digits)")
            })?)
        }
        Json::String(s) => Value::Str(Arc::from(s.as_str())),
        Json::Array(items) => Value::List(
            items
                .iter()
                .map(value_from_json)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        Json::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((Arc::from(k.as_str()), value_from_json(v)?)))
                .collect::<Result<Vec<_>, String>>()?
                .into(),
        ),
    })
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .ok()
}

/// A module value → JSON (times in `tz`'s offset; enum values must be externalized first).
pub fn value_to_json(v: &Value, tz: &TimeZone) -> Json {
    match v {
        Value::Unset => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(d) => number_json(d),
        Value::Str(s) => Json::String(s.to_string()),
        // Outputs carry enum values as strings; a raw symbol has no name here.
        Value::Enum(sym) => Json::String(format!("#{}", sym.0)),
        Value::Time(t) => Json::String(rfc3339(*t, tz)),
        Value::List(items) => Json::Array(items.iter().map(|i| value_to_json(i, tz)).collect()),
        Value::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v, tz)))
                .collect(),
        ),
    }
}

fn number_json(d: &Decimal) -> Json {
    serde_json::from_str(&d.to_string()).unwrap_or_else(|_| Json::String(d.to_string()))
}

/// A module value → JSON that keeps its type (times and objects tagged), for snapshots:
/// [`tagged_to_value`] gives back the same value.
pub fn value_to_tagged(v: &Value) -> Json {
    match v {
        Value::Time(t) => serde_json::json!({"$time": t.to_string()}),
        Value::List(items) => Json::Array(items.iter().map(value_to_tagged).collect()),
        Value::Object(fields) => {
            let map: Map<String, Json> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_tagged(v)))
                .collect();
            serde_json::json!({ "$obj": map })
        }
        other => value_to_json(other, &TimeZone::UTC),
    }
}

/// The inverse of [`value_to_tagged`].
pub fn tagged_to_value(json: &Json) -> Result<Value, String> {
    match json {
        Json::Object(m) if m.len() == 1 && m.contains_key("$time") => match &m["$time"] {
            Json::String(s) => Timestamp::from_str(s)
                .map(Value::Time)
                .map_err(|e| format!("bad time {s:?}: {e}")),
            other => Err(format!("bad time {other}")),
        },
        Json::Object(m) if m.len() == 1 && m.contains_key("$obj") => match &m["$obj"] {
            Json::Object(fields) => Ok(Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| Ok((Arc::from(k.as_str()), tagged_to_value(v)?)))
                    .collect::<Result<Vec<_>, String>>()?
                    .into(),
            )),
            other => Err(format!("bad object {other}")),
        },
        Json::Array(items) => Ok(Value::List(
            items
                .iter()
                .map(tagged_to_value)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        )),
        Json::Object(_) => Err("an untagged object".to_string()),
        other => value_from_json(other),
    }
}

/// RFC 3339 with the zone's offset at that instant: `2023-01-20T21:00:00-08:00`.
pub fn rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    t.display_with_offset(tz.to_offset(t)).to_string()
}

/// One output line of `module test` (and of a server's output topic): time, module,
/// instance, and the variable with its value, the log text, the error, or a note.
pub fn output_json(o: &SimOutput, tz: &TimeZone) -> Json {
    let mut m = Map::new();
    let (time, module, instance) = o.origin();
    m.insert("time".into(), Json::String(rfc3339(time, tz)));
    if let Some(module) = module {
        m.insert("module".into(), Json::String(module.to_string()));
    }
    if let Some(i) = instance {
        m.insert("instance".into(), Json::String(i.to_string()));
    }
    match o {
        SimOutput::Publication {
            variable, value, ..
        } => {
            m.insert("variable".into(), Json::String(variable.to_string()));
            m.insert(
                "value".into(),
                value.as_ref().map_or(Json::Null, |v| value_to_json(v, tz)),
            );
        }
        SimOutput::Log { text, .. } => {
            m.insert("log".into(), Json::String(text.clone()));
        }
        SimOutput::CycleError { message, .. } => {
            m.insert("error".into(), Json::String(message.clone()));
        }
        SimOutput::Refused { message, .. } => {
            m.insert(
                "error".into(),
                Json::String(format!("event refused: {message}")),
            );
        }
        SimOutput::Note { text, .. } => {
            m.insert("note".into(), Json::String(text.clone()));
        }
    }
    Json::Object(m)
}

/// Compiler diagnostics with 1-based line and column, as `module check --json` and the
/// API's problem documents show them.
pub fn diagnostics(source: &str, diags: &[twinlog_lang::diag::Diagnostic]) -> Json {
    let index = twinlog_lang::span::LineIndex::new(source);
    Json::Array(
        diags
            .iter()
            .map(|d| {
                let at = index.line_col(source, d.span.start);
                serde_json::json!({
                    "severity": if d.is_error() { "error" } else { "warning" },
                    "message": d.message,
                    "line": at.line,
                    "column": at.col,
                    "label": d.label,
                    "help": d.help,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_with_every_field_and_name_the_bad_one() {
        let e = parse_event(r#"{"module":"wall","variable":"press","value":0.50,"instance":"k","time":"2024-01-01T10:00:00+01:00","mode":"test"}"#).unwrap();
        assert_eq!(e.module.as_deref(), Some("wall"));
        assert_eq!(e.value, Some(Value::Number(Decimal::new(50, 2))));
        assert_eq!(e.time, Some("2024-01-01T09:00:00Z".parse().unwrap()));
        assert_eq!(e.mode.as_deref(), Some("test"));
        let err = parse_event(r#"{"variable": 3}"#).unwrap_err();
        assert_eq!(err.field(), Some("variable"));
        let err = parse_event(r#"{"variable": "x", "colour": 1}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown field `colour`; an event has time, module, variable, instance, value and mode"
        );
        assert_eq!(
            parse_event(r#"{"module": "m"}"#).unwrap_err(),
            EventError::Missing { field: "variable" }
        );
        assert!(matches!(parse_event("[1]"), Err(EventError::NotAnObject)));
    }

    #[test]
    fn tagged_values_round_trip() {
        let t: Timestamp = "2024-03-31T01:30:00Z".parse().unwrap();
        let v = Value::List(
            vec![
                Value::Time(t),
                Value::Number(Decimal::new(150, 2)),
                Value::Object(vec![(Arc::from("a"), Value::Bool(true))].into()),
                Value::Str(Arc::from("on")),
                Value::Unset,
            ]
            .into(),
        );
        let json = value_to_tagged(&v);
        assert_eq!(tagged_to_value(&json).unwrap(), v);
        assert_eq!(
            json.to_string(),
            r#"[{"$time":"2024-03-31T01:30:00Z"},1.50,{"$obj":{"a":true}},"on",null]"#
        );
    }
}
