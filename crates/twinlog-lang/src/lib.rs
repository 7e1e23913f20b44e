//! `twinlog-lang`: the module language of Twinlog (see `docs/LANGUAGE.md`).
//!
//! A pipeline with a source map, every stage keeping [`span::Span`]s:
//!
//! - [`span`]: byte spans and the line/column map for diagnostics.
//! - [`diag`]: diagnostics, their rendering and "did you mean" suggestions.
//! - [`lexer`]: tokens with spans.
//! - [`parser`]: text to [`ast::Module`] plus every diagnostic; never fails outright.
//! - [`ast`]: the syntax tree the parser builds and the formatter prints.
//! - [`fmt`]: the canonical layout (`twinlog module fmt`).
//! - [`check`]: names, types, enum values, constraints.
//! - [`ir`]: the compiled form: slots and interned names, no hashing on the hot path.
//! - [`value`]: runtime values.
//! - [`eval`]: one cycle per input (message, tick, timer expiry).
//! - [`time`]: `AT` time expressions, sunrise/sunset, DST-correct schedules.
//! - [`sim`]: several modules together on a test clock (`twinlog module test`).
//! - [`bench`](mod@bench): the workloads behind `twinlog bench lang`.
//!
//! The crate does no I/O and never reads the system clock: time comes from the caller.

pub mod ast;
pub mod bench;
pub mod check;
pub mod diag;
pub mod eval;
pub mod fmt;
pub mod ir;
pub mod lexer;
pub mod parser;
pub mod sim;
pub mod span;
pub mod time;
pub mod value;
