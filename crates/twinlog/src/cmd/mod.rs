//! Runs a parsed command. One module per command family:
//!
//! - [`topic`]: `topic create | list | describe`.
//! - [`publish`]: `publish`, one value or pipelined JSON lines from stdin.
//! - [`tail`]: `tail`, reading and following partitions.
//! - [`kafka`]: `topic`, `publish` and `tail` against a Kafka cluster (`--bus kafka://…`).
//! - [`module`]: `module check | test | fmt`.
//! - [`bench`]: `bench log | lang | pipeline | replay`.
//! - [`serve`]: `serve`, the server.
//! - [`client`]: finding and calling a running server.
//! - [`remote`]: the commands that go through it (`module deploy …`, `event send`, `clock`, `mode`).

/// `println!` that returns the I/O error instead of panicking, so `twinlog … | head` ends
/// quietly (main treats a broken pipe as the reader's choice, not a failure).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod bench;
mod client;
mod kafka;
mod module;
mod publish;
mod remote;
mod serve;
mod tail;
mod topic;

use crate::cli::{
    BenchCommand, Cli, ClockCommand, Command, EventCommand, ModeCommand, ModuleCommand,
    TopicCommand,
};
use anyhow::{Context, Result};
use std::path::Path;
use twinlog_log::{Log, LogOptions};

/// How a command that ran to its end went: the exit code without an error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// The checked thing failed (diagnostics or a diff were already printed).
    Failure,
}

/// Whether an error is stdout closing under us (`twinlog … | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub fn run(cli: Cli) -> Result<Exit> {
    let global = &cli.global;
    let data_dir = cli.global.data_dir.as_path();
    if global.bus.is_some() {
        return on_bus(global, cli.command);
    }
    match cli.command {
        Command::Serve(args) => serve::run(global, args),
        Command::Event(EventCommand::Send(args)) => remote::event_send(global, args),
        Command::Clock(ClockCommand::Show(args)) => remote::clock_show(global, args.json),
        Command::Clock(ClockCommand::Advance(args)) => remote::clock_advance(global, args),
        Command::Mode(ModeCommand::Create(args)) => remote::mode_create(global, args),
        Command::Mode(ModeCommand::List(args)) => remote::mode_list(global, args.json),
        Command::Mode(ModeCommand::Delete(args)) => remote::mode_delete(global, args),
        Command::Module(ModuleCommand::Deploy(args)) => remote::deploy(global, args),
        Command::Module(ModuleCommand::List(args)) => remote::list(global, args.json),
        Command::Module(ModuleCommand::History(args)) => remote::history(global, args),
        Command::Module(ModuleCommand::Source(args)) => remote::source(global, args),
        Command::Module(ModuleCommand::Undeploy(args)) => remote::undeploy(global, args),
        Command::Module(ModuleCommand::State(args)) => remote::state(global, args),
        Command::Module(ModuleCommand::Trace(args)) => remote::trace(global, args),
        // Writers go through a server that holds the data dir; readers read the files.
        Command::Topic(TopicCommand::Create(args)) => match client::Client::find(global)? {
            Some(c) => remote::topic_create(&c, args),
            None => topic::create(data_dir, args),
        },
        Command::Topic(TopicCommand::Delete(args)) => match client::Client::find(global)? {
            Some(c) => remote::topic_delete(&c, args),
            None => topic::delete(data_dir, args),
        },
        Command::Topic(TopicCommand::List(args)) => topic::list(data_dir, args.json),
        Command::Topic(TopicCommand::Describe(args)) => topic::describe(data_dir, args),
        Command::Publish(args) => match client::Client::find(global)? {
            Some(c) => remote::publish(&c, args),
            None => publish::run(data_dir, args),
        },
        Command::Tail(args) => tail::run(data_dir, args),
        Command::Consume(_) => anyhow::bail!(
            "consume reads as a member of a consumer group shared between processes, which \
             needs a Kafka cluster: add --bus kafka://HOST:PORT (or set TWINLOG_BUS); to read \
             the data dir use `twinlog tail`"
        ),
        Command::Module(ModuleCommand::Check(args)) => module::check(args),
        Command::Module(ModuleCommand::Test(args)) => module::test(args),
        Command::Module(ModuleCommand::Fmt(args)) => module::fmt(args),
        Command::Bench(BenchCommand::Log(args)) => bench::log(data_dir, args),
        Command::Bench(BenchCommand::Lang(args)) => bench::lang(args),
        Command::Bench(BenchCommand::Pipeline(args)) => bench::pipeline(data_dir, args),
        Command::Bench(BenchCommand::Replay(args)) => bench::replay(data_dir, args),
    }
}

/// A command with `--bus` (or `TWINLOG_BUS`): the log commands run against that bus.
fn on_bus(global: &crate::cli::GlobalArgs, command: Command) -> Result<Exit> {
    on_bus_inner(global, command).map_err(|e| kafka::explain(global, e))
}

fn on_bus_inner(global: &crate::cli::GlobalArgs, command: Command) -> Result<Exit> {
    match command {
        Command::Topic(TopicCommand::Create(args)) => kafka::topic_create(global, args),
        Command::Topic(TopicCommand::List(args)) => kafka::topic_list(global, args.json),
        Command::Topic(TopicCommand::Delete(args)) => kafka::topic_delete(global, args),
        Command::Topic(TopicCommand::Describe(args)) => kafka::topic_describe(global, args),
        Command::Publish(args) => kafka::publish(global, args),
        Command::Tail(args) => kafka::tail(global, args),
        Command::Consume(args) => kafka::consume(global, args),
        Command::Bench(BenchCommand::Log(args)) => kafka::bench_log(global, args),
        // Commands that never touch the log run as they are.
        Command::Module(ModuleCommand::Check(args)) => module::check(args),
        Command::Module(ModuleCommand::Test(args)) => module::test(args),
        Command::Module(ModuleCommand::Fmt(args)) => module::fmt(args),
        Command::Bench(BenchCommand::Lang(args)) => bench::lang(args),
        _ => anyhow::bail!(
            "--bus (TWINLOG_BUS) works with `topic`, `publish`, `tail`, `consume` and `bench log` for now; the server, \
             modules and benchmarks run on the embedded log in --data-dir (unset TWINLOG_BUS or \
             drop --bus)"
        ),
    }
}

/// Opens the data dir for writing (takes its lock; creates it if needed).
fn open_writable(data_dir: &Path) -> Result<Log> {
    // The log's errors name the data dir already.
    Ok(Log::open(data_dir, LogOptions::default())?)
}

/// Opens an existing data dir for reading; works while another process writes to it.
fn open_read_only(data_dir: &Path) -> Result<Log> {
    if !data_dir.exists() {
        anyhow::bail!(
            "no data dir at {}; create a topic first (`twinlog topic create NAME`) or pass --data-dir",
            data_dir.display()
        );
    }
    if !data_dir.is_dir() {
        anyhow::bail!("data dir {} is not a directory", data_dir.display());
    }
    Ok(Log::open_read_only(data_dir)?)
}

/// A current-thread runtime: the CLI's async work is I/O waiting, not computation.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints one JSON value as a line on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// 1536 → "1.5 KiB".
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(super::human_bytes(12), "12 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(3 << 30), "3.0 GiB");
    }
}
