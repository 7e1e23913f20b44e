//! `twinlog-runtime`: the module agent — compiled modules running durably on the bus
//! (DESIGN.md §5). Built on the [`twinlog_bus::Bus`] trait only, so the Kafka bus and more
//! agents follow without changing it.
//!
//! - [`json`]: events, values and outputs as JSON, shared with `twinlog module test`.
//! - [`topics`]: modes and the topics each one owns.
//! - [`codec`]: the records on those topics (inputs, sources, snapshots, the agent record).
//! - `agent`: the loop that recovers a mode and processes its inputs exactly once.
//! - [`runtime`]: [`Runtime`], the handle the API and the CLI use.
//! - [`modes`]: [`modes::Modes`], every mode of one server with its runtime.
//! - [`saved`]: a module's state as the files hold it, for the CLI when no server runs.
//! - [`view`]: what the runtime shows of itself (modules, instances, clock, counters).
//! - [`error`]: [`RuntimeError`], every refusal and failure.

mod agent;
pub mod codec;
pub mod error;
pub mod json;
pub mod modes;
pub mod runtime;
pub mod saved;
pub mod topics;
pub mod view;

pub use agent::{ReplayReport, replay};
pub use error::RuntimeError;
pub use modes::{ForkPoint, ModeError, Modes};
pub use runtime::{Advance, Runtime, RuntimeOptions};
pub use topics::{DEFAULT_MODE, ModeName, ModeTopics};
pub use view::ClockKind;
