//! The API over the in-memory bus, request by request: status codes, problem documents
//! naming the field, and the round trip deploy → events → state → clock.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use jiff::tz::TimeZone;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use tower::ServiceExt;
use twinlog_bus::Bus;
use twinlog_bus::memory::MemoryBus;
use twinlog_lang::time::TimeContext;
use twinlog_runtime::{ClockKind, Modes};

async fn app() -> axum::Router {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let modes = Modes::open(bus, ClockKind::Test, TimeContext::new(TimeZone::UTC))
        .await
        .unwrap();
    twinlog_api::app(Arc::new(modes))
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Json>,
) -> (StatusCode, String, Json) {
    let req = Request::builder().method(method).uri(uri);
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    raw(app, req).await
}

async fn raw(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, Json) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Json::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, ctype, json)
}

const LAMP: &str = "MODULE lamp\n    SUBSCRIBE press\n    PUBLISH state {off, on} = off\n    ON press\n      AND state == off\n      THEN state = on\n    ON press\n      THEN state = off\n";

#[tokio::test]
async fn deploy_send_and_read_state() {
    let app = app().await;
    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/modules",
        Some(json!({"file": "lamp.scc", "source": LAMP})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/events",
        Some(json!([
            {"time": "2024-01-01T10:00:00Z", "variable": "press"},
            {"variable": "press"},
            {"module": "lamp", "variable": "press"}
        ])),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    let offsets: Vec<u64> = body["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets.len(), 3);
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(body["accepted"][0]["topic"], "twinlog.default.inputs");

    let (st, _, body) = call(&app, "GET", "/api/v1/modules/lamp/state", None).await;
    assert_eq!(st, StatusCode::OK);
    let state = body[0]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "state")
        .unwrap()
        .clone();
    assert_eq!(state["value"], "on", "three presses: on, off, on");
    assert_eq!(state["version"], 3);

    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/clock/advance",
        Some(json!({"by": "90m"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["now"], "2024-01-01T11:30:00+00:00");
    let (_, _, body) = call(&app, "GET", "/api/v1/clock", None).await;
    assert_eq!(body["clock"], "test");
    let (_, _, body) = call(&app, "GET", "/api/v1/stats", None).await;
    assert_eq!(body["events"], 3);
    assert_eq!(body["deadLetters"], 0);
    let (st, _, body) = call(&app, "GET", "/api/v1/modules/lamp/trace?limit=2", None).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let traces = body.as_array().unwrap();
    assert_eq!(traces.len(), 2, "the newest two of three cycles");
    assert_eq!(traces[1]["input"], "message press");
    assert_eq!(traces[1]["statements"][0]["failed"], json!(null));
    assert_eq!(traces[1]["statements"][0]["statement"], "ON press");
    assert_eq!(
        traces[1]["changes"][0],
        json!({"variable": "state", "old": "off", "new": "on"})
    );
    assert_eq!(traces[0]["statements"][0]["failed"], "state == off");
    let (st, _, body) = call(&app, "GET", "/api/v1/modules/lamp/trace?limit=0", None).await;
    assert_eq!(
        (st, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("limit"))
    );
    let (_, _, body) = call(&app, "GET", "/api/v1/modules/lamp/history", None).await;
    assert!(
        body[0]["diff"].as_str().unwrap().contains("+MODULE lamp"),
        "{body}"
    );
}

#[tokio::test]
async fn errors_are_problem_documents_naming_the_field() {
    let app = app().await;
    let (st, ctype, body) = call(
        &app,
        "POST",
        "/api/v1/events",
        Some(json!([{"variable": "x"}, {"variable": 5}])),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ctype, "application/problem+json");
    assert_eq!(body["field"], "/1/variable");
    assert_eq!(body["status"], 422);
    assert_eq!(body["code"], 1001);

    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/events",
        Some(json!({"variable": "x", "mode": "nope"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(body["field"], "/mode");

    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/events")
        .body(Body::from("{not json"))
        .unwrap();
    let (st, _, body) = raw(&app, req).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));

    let big = vec![b' '; twinlog_api::MAX_BODY + 1];
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/events")
        .body(Body::from(big))
        .unwrap();
    let (st, ctype, _) = raw(&app, req).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(ctype, "application/problem+json");

    let (st, _, body) = call(&app, "POST", "/api/v1/modules", Some(json!({"file": "bad.scc", "source": "MODULE bad\n  PUBLISH x = 0\n  ON nope\n    THEN x = 1\n"}))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], 2003);
    assert_eq!(body["diagnostics"][0]["line"], 3);
    assert!(
        body["rendered"].as_str().unwrap().contains("bad.scc:3"),
        "{body}"
    );

    let (st, _, body) = call(&app, "GET", "/api/v1/modules/ghost/state", None).await;
    assert_eq!(
        (st, body["code"].clone()),
        (StatusCode::NOT_FOUND, json!(2000))
    );
    let (st, _, _) = call(&app, "GET", "/api/v1/nothing-here", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/clock/advance",
        Some(json!({"by": "soon"})),
    )
    .await;
    assert_eq!(
        (st, body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("/by"))
    );
}

#[tokio::test]
async fn modes_health_and_topics() {
    let app = app().await;
    let (st, _, body) = call(&app, "GET", "/readyz", None).await;
    assert_eq!(
        (st, body["status"].clone()),
        (StatusCode::OK, json!("ready"))
    );
    let (st, _, _) = call(
        &app,
        "POST",
        "/api/v1/modes",
        Some(json!({"name": "what-if"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/modes",
        Some(json!({"name": "what-if"})),
    )
    .await;
    assert_eq!(
        (st, body["code"].clone()),
        (StatusCode::CONFLICT, json!(4000))
    );
    let (st, _, _) = call(
        &app,
        "POST",
        "/api/v1/modules?mode=what-if",
        Some(json!({"source": LAMP})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, _, body) = call(&app, "GET", "/api/v1/modules", None).await;
    assert_eq!(body, json!([]), "the default mode has no module");
    let (_, _, body) = call(&app, "GET", "/api/v1/modes", None).await;
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "what-if"]);

    let (st, _, _) = call(
        &app,
        "POST",
        "/api/v1/topics",
        Some(json!({"name": "sensors", "partitions": 2})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, body) = call(
        &app,
        "POST",
        "/api/v1/topics/sensors/records",
        Some(json!([{"key": "k", "value": "{\"t\":1}"}, {"value": "2", "partition": 1}])),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["acks"][1], json!({"partition": 1, "offset": 0}));
    let (st, _, _) = call(
        &app,
        "POST",
        "/api/v1/topics",
        Some(json!({"name": "sensors"})),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
}
