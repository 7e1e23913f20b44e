//! The language's integration tests, compiled into one binary (fewer links on 2 cores).
//! The modules live in `tests/lang/`; `#[path]` is needed because a test crate root
//! resolves `mod x;` next to itself (`tests/x.rs`), not in `tests/lang/`.

#[path = "lang/check.rs"]
mod check; // names, types, constraints: diagnostics snapshots
#[path = "lang/eval.rs"]
mod eval; // cycle semantics, instances, timers, property: never panics
#[path = "lang/sun.rs"]
mod sun; // sun events at the edge of polar day and night, at the poles, two on one date
#[path = "lang/syntax.rs"]
mod syntax; // lexer, parser, formatter: diagnostics snapshots, parse ∘ format ∘ parse
#[path = "lang/time.rs"]
mod time; // AT schedules minute by minute over a year, DST, seasons, sun
