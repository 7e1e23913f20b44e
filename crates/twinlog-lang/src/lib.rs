//! `twinlog-lang`: the module language of Twinlog (see `docs/LANGUAGE.md`).
//!
//! A pipeline with a source map, every stage keeping [`span::Span`]s:
//!
//! - [`span`]: byte spans and the line/column map for diagnostics.
//! - [`diag`]: diagnostics, their rendering and "did you mean" suggestions.
//! - [`ast`]: the syntax tree the parser builds and the formatter prints.
//! - [`time`]: `AT` time expressions, sunrise/sunset, DST-correct schedules.
//!
//! The crate does no I/O and never reads the system clock: time comes from the caller.

pub mod ast;
pub mod diag;
pub mod span;
pub mod time;
