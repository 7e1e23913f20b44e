//! [`RuntimeError`]: everything the runtime can refuse or fail at, with the thing to fix.

use crate::codec::DecodeError;
use twinlog_bus::BusError;
use twinlog_lang::diag::Diagnostic;

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Decode(DecodeError),
    #[error("no module named `{0}` is deployed")]
    UnknownModule(String),
    #[error("module `{module}` has no instance `{instance}`")]
    UnknownInstance { module: String, instance: String },
    #[error("module `{module}` has no version {version}; it has versions 1 to {latest}")]
    UnknownVersion {
        module: String,
        version: u32,
        latest: u32,
    },
    /// The source does not compile: nothing was deployed.
    #[error("{file} does not compile ({} errors); nothing was deployed", diagnostics.iter().filter(|d| d.is_error()).count())]
    Compile {
        file: String,
        source_text: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// The module compiles but cannot run here (e.g. `sunrise` without `--lat/--lon`).
    #[error("module `{module}` cannot run here: {reason}")]
    Load { module: String, reason: String },
    #[error("the clock cannot go back: it stands at {now}, asked for {to}")]
    ClockBackwards {
        now: jiff::Timestamp,
        to: jiff::Timestamp,
    },
    #[error(
        "this mode runs on the real clock, which cannot be advanced; start the server with `--clock test`"
    )]
    RealClock,
    #[error("the sources topic has no record at offset {offset}")]
    MissingSource { offset: u64 },
    #[error("cannot recover the module agent: {0}")]
    Recovery(String),
    #[error("the module agent stopped: {0}")]
    AgentStopped(String),
}
