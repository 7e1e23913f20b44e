//! `twinlog`: the one binary. Parses the command line, runs the command, reports errors.
//!
//! - [`cli`]: every command and flag (clap derive).
//! - [`cmd`]: one module per command family; each returns an [`cmd::Exit`] or an error.
//! - [`alloc_count`]: the counting global allocator behind `bench lang`'s allocations figure.
//!
//! Exit codes mean something: 0 ok, 1 the checked thing failed (a module does not compile,
//! a test does not match, an error while running), 2 usage (clap).

mod alloc_count;
mod cli;
mod cmd;

#[global_allocator]
static ALLOCATOR: alloc_count::CountingAllocator = alloc_count::CountingAllocator;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The server says what it does; a one-shot command speaks only when something is wrong.
    // librdkafka logs every failed connection attempt; a one-shot command reports the
    // failure that persists as its error instead (`RUST_LOG=librdkafka=info,rdkafka=info` shows them).
    init_tracing(if matches!(cli.command, cli::Command::Serve(_)) {
        "info"
    } else {
        "warn,librdkafka=off,rdkafka=off"
    });
    match cmd::run(cli) {
        Ok(cmd::Exit::Success) => ExitCode::SUCCESS,
        Ok(cmd::Exit::Failure) => ExitCode::from(1),
        Err(err) if cmd::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line: "open data dir: locked by …".
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr so stdout stays clean for data (`--json`, `module test`).
/// `RUST_LOG=twinlog_log=debug` turns on more.
fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
