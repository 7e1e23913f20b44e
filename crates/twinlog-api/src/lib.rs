//! `twinlog-api`: the HTTP API of `twinlog serve` (axum). Routes, request parsing and the
//! JSON of answers; the work is the runtime's.
//!
//! - [`problem`]: [`Problem`], every error as an RFC 9457 problem document, mapped in one place.
//! - [`dto`]: the JSON shapes of answers.
//! - this file: [`app`] (the router) and [`serve`] (a listener until shutdown).
//!
//! Every route takes `?mode=NAME` (default `default`). Writes answer once durable; reads
//! see every write acknowledged before them (the runtime waits for its agent).

pub mod dto;
pub mod problem;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bytes::Bytes;
pub use problem::Problem;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use twinlog_bus::types::{ProducerRecord, TopicSpec};
use twinlog_core::{Record, TopicName};
use twinlog_runtime::json::{EventIn, event_from_json, parse_time};
use twinlog_runtime::{Advance, DEFAULT_MODE, ForkPoint, Modes, Runtime};

/// The largest request body: 4 MiB holds tens of thousands of events or a large module;
/// more in one request would hold the answer back too long (send several).
pub const MAX_BODY: usize = 4 << 20;

/// What every handler sees.
#[derive(Debug, Clone)]
pub struct AppState {
    pub modes: Arc<Modes>,
}

type Params = Query<HashMap<String, String>>;
type Answer = Result<Response, Problem>;

/// The router, with every route under `/api/v1` plus `/healthz` and `/readyz`.
pub fn app(modes: Arc<Modes>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/events", post(post_events))
        .route("/api/v1/modules", get(list_modules).post(deploy))
        .route("/api/v1/modules/{name}", get(get_module).delete(undeploy))
        .route("/api/v1/modules/{name}/state", get(module_state))
        .route("/api/v1/modules/{name}/history", get(module_history))
        .route("/api/v1/modules/{name}/source", get(module_source))
        .route("/api/v1/modules/{name}/trace", get(module_trace))
        .route("/api/v1/clock", get(get_clock))
        .route("/api/v1/clock/advance", post(advance_clock))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/modes", get(list_modes).post(create_mode))
        .route("/api/v1/modes/{name}", delete(delete_mode))
        .route("/api/v1/topics/{name}", delete(delete_topic))
        .route("/api/v1/topics", get(list_topics).post(create_topic))
        .route("/api/v1/topics/{name}/records", post(publish))
        .fallback(|| async {
            Problem::not_found("no such route; the API lives under /api/v1 (see docs/API.md)")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(AppState { modes })
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (new connections are refused from then on).
pub async fn serve(
    listener: tokio::net::TcpListener,
    modes: Arc<Modes>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(modes))
        .with_graceful_shutdown(shutdown)
        .await
}

fn ok(status: StatusCode, body: Json) -> Answer {
    Ok((status, axum::Json(body)).into_response())
}

fn mode_param(q: &HashMap<String, String>) -> &str {
    q.get("mode").map_or(DEFAULT_MODE, String::as_str)
}

fn runtime(s: &AppState, q: &HashMap<String, String>) -> Result<Runtime, Problem> {
    s.modes.get(mode_param(q)).map_err(Problem::from)
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    b.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::too_large(MAX_BODY)
        } else {
            Problem::bad_json(r.body_text())
        }
    })
}

fn json_body(b: Result<Bytes, BytesRejection>) -> Result<Json, Problem> {
    let bytes = body(b)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_json(format!("the body is not valid JSON: {e}")))
}

/// A string member of a JSON object body.
fn string_field(obj: &Json, field: &str) -> Result<Option<String>, Problem> {
    match obj.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Problem::invalid(
            &format!("/{field}"),
            format!("`{field}` must be a string; got {other}"),
        )),
    }
}

async fn healthz() -> Answer {
    ok(StatusCode::OK, json!({"status": "alive"}))
}

async fn readyz(State(s): State<AppState>) -> Answer {
    let stopped: Vec<Json> = s
        .modes
        .all()
        .iter()
        .filter_map(|rt| {
            rt.stopped()
                .map(|why| json!({"mode": rt.mode().as_str(), "reason": why}))
        })
        .collect();
    if stopped.is_empty() {
        ok(
            StatusCode::OK,
            json!({"status": "ready", "modes": s.modes.names()}),
        )
    } else {
        Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            5001,
            "not ready",
            "a module agent stopped; see `stopped` and the server log",
        )
        .with("stopped", Json::Array(stopped)))
    }
}

async fn post_events(
    State(s): State<AppState>,
    Query(q): Params,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let json = json_body(b)?;
    let (items, single) = match json {
        Json::Array(items) => (items, false),
        other => (vec![other], true),
    };
    if items.is_empty() {
        return Err(Problem::invalid("", "the array holds no events"));
    }
    let pointer = |i: usize, field: Option<&str>| {
        let base = if single {
            String::new()
        } else {
            format!("/{i}")
        };
        match field {
            Some(f) => format!("{base}/{f}"),
            None => base,
        }
    };
    // All or nothing: every event is checked before any is appended.
    let mut by_mode: Vec<(Runtime, Vec<(usize, EventIn)>)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let event = event_from_json(item)
            .map_err(|e| Problem::invalid(&pointer(i, e.field()), e.to_string()))?;
        let mode = event
            .mode
            .clone()
            .unwrap_or_else(|| mode_param(&q).to_string());
        let rt = s
            .modes
            .get(&mode)
            .map_err(|e| Problem::from(e).field(pointer(i, Some("mode"))))?;
        match by_mode.iter_mut().find(|(r, _)| r.mode().as_str() == mode) {
            Some((_, list)) => list.push((i, event)),
            None => by_mode.push((rt, vec![(i, event)])),
        }
    }
    let total: usize = by_mode.iter().map(|(_, l)| l.len()).sum();
    let mut answers = vec![Json::Null; total];
    for (rt, list) in by_mode {
        let (idx, events): (Vec<usize>, Vec<EventIn>) = list.into_iter().unzip();
        let acks = rt.send_events(events).await?;
        for (i, a) in idx.into_iter().zip(acks) {
            answers[i] = dto::accepted(&a);
        }
    }
    ok(StatusCode::ACCEPTED, json!({"accepted": answers}))
}

async fn list_modules(State(s): State<AppState>, Query(q): Params) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    let list: Vec<Json> = rt
        .modules()
        .await?
        .iter()
        .map(|m| dto::module(m, &tz))
        .collect();
    ok(StatusCode::OK, Json::Array(list))
}

async fn deploy(
    State(s): State<AppState>,
    Query(q): Params,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let json = json_body(b)?;
    let source = string_field(&json, "source")?
        .ok_or_else(|| Problem::invalid("/source", "missing `source`: the module's text"))?;
    let file = string_field(&json, "file")?.unwrap_or_else(|| "module.scc".to_string());
    let d = rt.deploy(&file, &source).await?;
    let status = if d.unchanged {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    ok(status, dto::deployed(&d))
}

async fn get_module(
    State(s): State<AppState>,
    Query(q): Params,
    Path(name): Path<String>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    let m = rt
        .modules()
        .await?
        .into_iter()
        .find(|m| m.name == name)
        .ok_or(twinlog_runtime::RuntimeError::UnknownModule(name))?;
    ok(StatusCode::OK, dto::module(&m, &tz))
}

async fn undeploy(State(s): State<AppState>, Query(q): Params, Path(name): Path<String>) -> Answer {
    let rt = runtime(&s, &q)?;
    rt.undeploy(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn module_state(
    State(s): State<AppState>,
    Query(q): Params,
    Path(name): Path<String>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    let views = rt
        .state(&name, q.get("instance").map(String::as_str))
        .await?;
    ok(
        StatusCode::OK,
        Json::Array(views.iter().map(|v| dto::instance(v, &tz)).collect()),
    )
}

async fn module_history(
    State(s): State<AppState>,
    Query(q): Params,
    Path(name): Path<String>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    ok(StatusCode::OK, dto::history(&rt.history(&name).await?, &tz))
}

async fn module_source(
    State(s): State<AppState>,
    Query(q): Params,
    Path(name): Path<String>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    let version = match q.get("version") {
        None => None,
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            Problem::invalid(
                "version",
                format!("`version` must be a positive number; got {v:?}"),
            )
        })?),
    };
    ok(
        StatusCode::OK,
        dto::source(&rt.source(&name, version).await?, &tz),
    )
}

/// Traces kept in one answer unless `limit` says otherwise.
const DEFAULT_TRACE_LIMIT: usize = 100;

async fn module_trace(
    State(s): State<AppState>,
    Query(q): Params,
    Path(name): Path<String>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let since = match q.get("since") {
        None => None,
        Some(t) => Some(parse_time(t).map_err(|e| Problem::invalid("since", e.to_string()))?),
    };
    let limit = match q.get("limit") {
        None => DEFAULT_TRACE_LIMIT,
        Some(n) => n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
            Problem::invalid(
                "limit",
                format!("`limit` must be a positive number; got {n:?}"),
            )
        })?,
    };
    let traces = rt
        .trace(&name, q.get("instance").map(String::as_str), since, limit)
        .await?;
    ok(StatusCode::OK, Json::Array(traces))
}

async fn get_clock(State(s): State<AppState>, Query(q): Params) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    ok(StatusCode::OK, dto::clock(&rt.clock().await?, &tz))
}

async fn advance_clock(
    State(s): State<AppState>,
    Query(q): Params,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let rt = runtime(&s, &q)?;
    let tz = s.modes.time_zone();
    let json = json_body(b)?;
    let advance = match (string_field(&json, "to")?, string_field(&json, "by")?) {
        (Some(to), None) => {
            Advance::To(parse_time(&to).map_err(|e| Problem::invalid("/to", e.to_string()))?)
        }
        (None, Some(by)) => Advance::By(by.parse::<jiff::SignedDuration>().map_err(|e| {
            Problem::invalid(
                "/by",
                format!("`by` must be a duration like 90m, 2h or 1h30m: {e}"),
            )
        })?),
        _ => {
            return Err(Problem::invalid(
                "",
                r#"give exactly one of `to` (RFC 3339) or `by` (a duration): {"to": "2024-01-01T00:00:00Z"} or {"by": "90m"}"#,
            ));
        }
    };
    ok(
        StatusCode::OK,
        dto::clock(&rt.advance_clock(advance).await?, &tz),
    )
}

async fn stats(State(s): State<AppState>, Query(q): Params) -> Answer {
    let rt = runtime(&s, &q)?;
    ok(
        StatusCode::OK,
        dto::stats(rt.mode().as_str(), &rt.stats().await?),
    )
}

async fn list_modes(State(s): State<AppState>) -> Answer {
    let tz = s.modes.time_zone();
    let mut out = Vec::new();
    for rt in s.modes.all() {
        let clock = rt.clock().await?;
        let modules = rt.modules().await?.len();
        out.push(json!({"name": rt.mode().as_str(), "modules": modules, "clock": dto::clock(&clock, &tz)}));
    }
    ok(StatusCode::OK, Json::Array(out))
}

async fn create_mode(State(s): State<AppState>, b: Result<Bytes, BytesRejection>) -> Answer {
    let json = json_body(b)?;
    let name =
        string_field(&json, "name")?.ok_or_else(|| Problem::invalid("/name", "missing `name`"))?;
    let rt = match string_field(&json, "from")? {
        None => {
            if json.get("at").is_some_and(|a| !a.is_null()) {
                return Err(Problem::invalid(
                    "/at",
                    "`at` needs `from`: the mode to fork",
                ));
            }
            s.modes.create(&name).await?
        }
        Some(from) => {
            let at = match json.get("at") {
                None | Some(Json::Null) => ForkPoint::Now,
                Some(Json::Number(n)) => ForkPoint::Offset(n.as_u64().ok_or_else(|| {
                    Problem::invalid(
                        "/at",
                        "`at` must be an input offset (0 or more) or an RFC 3339 time",
                    )
                })?),
                Some(Json::String(t)) => ForkPoint::Time(
                    parse_time(t).map_err(|e| Problem::invalid("/at", e.to_string()))?,
                ),
                Some(_) => {
                    return Err(Problem::invalid(
                        "/at",
                        "`at` must be an input offset (0 or more) or an RFC 3339 time",
                    ));
                }
            };
            s.modes.fork(&name, &from, at).await.map_err(|e| match e {
                twinlog_runtime::ModeError::Unknown(_) => Problem::from(e).field("/from"),
                other => Problem::from(other),
            })?
        }
    };
    ok(StatusCode::CREATED, json!({"name": rt.mode().as_str()}))
}

async fn list_topics(State(s): State<AppState>) -> Answer {
    let bus = s.modes.bus();
    let mut out = Vec::new();
    for t in bus.list_topics().await.map_err(Problem::from)? {
        let d = bus.describe_topic(&t).await.map_err(Problem::from)?;
        out.push(json!({"name": t.as_str(), "partitions": d.partitions.len(), "compacted": d.spec.compacted}));
    }
    ok(StatusCode::OK, Json::Array(out))
}

async fn delete_mode(State(s): State<AppState>, Path(name): Path<String>) -> Answer {
    s.modes.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_topic(State(s): State<AppState>, Path(name): Path<String>) -> Answer {
    let name = TopicName::new(&name).map_err(|e| Problem::invalid("name", e.to_string()))?;
    if let Some(mode) = twinlog_runtime::topics::mode_of_topic(name.as_str()) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            6002,
            "topic belongs to a mode",
            format!(
                "topic `{name}` belongs to mode `{mode}`; delete the mode instead (`twinlog mode delete {mode}`)"
            ),
        )
        .field("name"));
    }
    s.modes
        .bus()
        .delete_topic(&name)
        .await
        .map_err(Problem::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn create_topic(State(s): State<AppState>, b: Result<Bytes, BytesRejection>) -> Answer {
    let json = json_body(b)?;
    let name =
        string_field(&json, "name")?.ok_or_else(|| Problem::invalid("/name", "missing `name`"))?;
    let name = TopicName::new(&name).map_err(|e| Problem::invalid("/name", e.to_string()))?;
    let partitions = match json.get("partitions") {
        None | Some(Json::Null) => 1,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=u32::MAX as u64).contains(n))
            .ok_or_else(|| {
                Problem::invalid("/partitions", "`partitions` must be a number from 1")
            })? as u32,
    };
    let mut spec = TopicSpec::new(partitions);
    if json.get("compacted").and_then(Json::as_bool) == Some(true) {
        spec = spec.compacted();
    }
    s.modes
        .bus()
        .create_topic(&name, spec)
        .await
        .map_err(Problem::from)?;
    ok(
        StatusCode::CREATED,
        json!({"name": name.as_str(), "partitions": partitions}),
    )
}

/// Appends records to a topic: a JSON array of `{"key"?, "value", "partition"?}`, the value
/// as text; answers each record's partition and offset, in order, once all are durable.
async fn publish(
    State(s): State<AppState>,
    Path(name): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Answer {
    let topic = TopicName::new(&name).map_err(|e| Problem::invalid("topic", e.to_string()))?;
    let Json::Array(items) = json_body(b)? else {
        return Err(Problem::invalid(
            "",
            r#"expected a JSON array of records like [{"key": "k", "value": "text"}]"#,
        ));
    };
    let now = twinlog_core::Timestamp::now();
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let value = string_field(item, "value")
            .map_err(|p| p.field(format!("/{i}/value")))?
            .ok_or_else(|| Problem::invalid(&format!("/{i}/value"), "missing `value` (text)"))?;
        let key = string_field(item, "key").map_err(|p| p.field(format!("/{i}/key")))?;
        let record = match key {
            Some(k) => Record::keyed(now, k, value),
            None => Record::new(now, value),
        };
        let partition = match item.get("partition") {
            None | Some(Json::Null) => None,
            Some(p) => Some(p.as_u64().map(|p| p as u32).ok_or_else(|| {
                Problem::invalid(&format!("/{i}/partition"), "`partition` must be a number")
            })?),
        };
        records.push(ProducerRecord { record, partition });
    }
    let acks = s
        .modes
        .bus()
        .send_batch(&topic, records)
        .await
        .map_err(Problem::from)?;
    let acks: Vec<Json> = acks
        .iter()
        .map(|d| json!({"partition": d.partition, "offset": d.offset}))
        .collect();
    ok(StatusCode::ACCEPTED, json!({"acks": acks}))
}
