//! The language's integration tests, compiled into one binary (fewer links on 2 cores).

mod check; // names, types, constraints: diagnostics snapshots
mod eval; // cycle semantics, instances, timers, property: never panics
mod syntax; // lexer, parser, formatter: diagnostics snapshots, parse ∘ format ∘ parse
mod time; // AT schedules minute by minute over a year, DST, seasons, sun
