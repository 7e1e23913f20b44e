//! [`Problem`]: every error the API answers, as an RFC 9457 problem document
//! (`application/problem+json`) with a stable numeric `code` (never reused) and the `field`
//! it is about. The mapping from library errors to HTTP lives here and nowhere else.

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json, json};
use twinlog_bus::BusError;
use twinlog_runtime::{ModeError, RuntimeError};

/// An error answer (boxed: errors are the cold path, and `Result<_, Problem>` stays small).
#[derive(Debug, Clone)]
pub struct Problem(pub Box<ProblemBody>);

/// The members of a [`Problem`].
#[derive(Debug, Clone)]
pub struct ProblemBody {
    pub status: StatusCode,
    /// Stable code: 1xxx bad request, 2xxx modules, 3xxx clock, 4xxx modes, 5xxx storage.
    pub code: u32,
    /// Short, the same for every instance of the problem.
    pub title: &'static str,
    /// This occurrence, with the thing to fix.
    pub detail: String,
    /// The offending field as a JSON pointer into the request (`/2/value`), if one.
    pub field: Option<String>,
    /// More members (diagnostics, the current version…).
    pub extra: Map<String, Json>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: u32,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem(Box::new(ProblemBody {
            status,
            code,
            title,
            detail: detail.into(),
            field: None,
            extra: Map::new(),
        }))
    }

    pub fn field(mut self, field: impl Into<String>) -> Problem {
        self.0.field = Some(field.into());
        self
    }

    pub fn with(mut self, key: &str, value: Json) -> Problem {
        self.0.extra.insert(key.to_string(), value);
        self
    }

    #[cold]
    pub fn bad_json(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, 1000, "malformed JSON", detail)
    }

    #[cold]
    pub fn invalid(field: &str, detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            1001,
            "invalid request",
            detail,
        )
        .field(field)
    }

    #[cold]
    pub fn too_large(limit: usize) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            1002,
            "request body too large",
            format!("the body is larger than {limit} bytes; send fewer events per request"),
        )
    }

    #[cold]
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, 1004, "not found", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let p = *self.0;
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("https://twinlog.dev/problems/{}", p.code)),
        );
        body.insert("title".into(), json!(p.title));
        body.insert("status".into(), json!(p.status.as_u16()));
        body.insert("detail".into(), json!(p.detail));
        body.insert("code".into(), json!(p.code));
        if let Some(f) = &p.field {
            body.insert("field".into(), json!(f));
        }
        body.extend(p.extra);
        (
            p.status,
            [(CONTENT_TYPE, "application/problem+json")],
            Json::Object(body).to_string(),
        )
            .into_response()
    }
}

impl From<BusError> for Problem {
    #[cold]
    fn from(e: BusError) -> Problem {
        let detail = e.to_string();
        if e.is_storage_full() {
            return Problem::new(
                StatusCode::INSUFFICIENT_STORAGE,
                5002,
                "disk full",
                format!(
                    "{detail} (for a server: restart it); this request was not acknowledged, \
                     everything acknowledged before it is safe"
                ),
            );
        }
        let root = match &e {
            BusError::BatchFailed { source } => &**source,
            other => other,
        };
        match root {
            BusError::UnknownTopic { .. } => Problem::not_found(detail),
            BusError::TopicExists { .. } => {
                Problem::new(StatusCode::CONFLICT, 6000, "topic exists", detail)
            }
            BusError::InvalidTopicName(_)
            | BusError::InvalidTopicSpec { .. }
            | BusError::ReservedTopic { .. }
            | BusError::UnknownPartition { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                6001,
                "invalid topic request",
                detail,
            ),
            _ => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                5000,
                "storage failed",
                detail,
            ),
        }
    }
}

impl From<RuntimeError> for Problem {
    #[cold]
    fn from(e: RuntimeError) -> Problem {
        let detail = e.to_string();
        match e {
            RuntimeError::Bus(b) => b.into(),
            RuntimeError::UnknownModule(_) => {
                Problem::new(StatusCode::NOT_FOUND, 2000, "unknown module", detail)
            }
            RuntimeError::UnknownInstance { .. } => {
                Problem::new(StatusCode::NOT_FOUND, 2001, "unknown instance", detail)
                    .field("instance")
            }
            RuntimeError::UnknownVersion { latest, .. } => {
                Problem::new(StatusCode::NOT_FOUND, 2002, "unknown version", detail)
                    .field("version")
                    .with("latest", json!(latest))
            }
            RuntimeError::Compile {
                file,
                source_text,
                diagnostics,
            } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                2003,
                "module does not compile",
                detail,
            )
            .field("source")
            .with(
                "diagnostics",
                twinlog_runtime::json::diagnostics(&source_text, &diagnostics),
            )
            .with(
                "rendered",
                json!(twinlog_lang::diag::render_all(
                    &diagnostics,
                    &file,
                    &source_text
                )),
            ),
            RuntimeError::Load { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                2004,
                "module cannot run here",
                detail,
            )
            .field("source"),
            RuntimeError::ClockBackwards { now, .. } => Problem::new(
                StatusCode::CONFLICT,
                3000,
                "the clock cannot go back",
                detail,
            )
            .field("to")
            .with("now", json!(now.to_string())),
            RuntimeError::RealClock => {
                Problem::new(StatusCode::CONFLICT, 3001, "real clock", detail)
            }
            RuntimeError::AgentStopped(_)
            | RuntimeError::Recovery(_)
            | RuntimeError::MissingSource { .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                5001,
                "module agent unavailable",
                detail,
            ),
            _ => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                5003,
                "internal error",
                detail,
            ),
        }
    }
}

impl From<ModeError> for Problem {
    #[cold]
    fn from(e: ModeError) -> Problem {
        let detail = e.to_string();
        match e {
            ModeError::InvalidName(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                4001,
                "invalid mode name",
                detail,
            )
            .field("name"),
            ModeError::Exists(_) => {
                Problem::new(StatusCode::CONFLICT, 4000, "mode exists", detail).field("name")
            }
            ModeError::Unknown(_) => {
                Problem::new(StatusCode::NOT_FOUND, 4002, "unknown mode", detail).field("mode")
            }
            ModeError::BadForkPoint { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                4003,
                "bad fork point",
                detail,
            )
            .field("/at"),
            ModeError::DeleteDefault => Problem::new(
                StatusCode::CONFLICT,
                4004,
                "the default mode cannot be deleted",
                detail,
            )
            .field("name"),
            ModeError::Runtime(r) => r.into(),
            _ => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                5003,
                "internal error",
                detail,
            ),
        }
    }
}
