//! The command line: every command, flag and help text (clap derive; doc comments are the help).
//!
//! Commands are noun–verb (`twinlog topic create`), each with an `Examples:` block. Parsing
//! lives here and nowhere else; `cmd/*` runs what was parsed.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Twinlog — event-driven IoT: a durable event log, digital twins and declarative modules.
///
/// Everything runs from this one binary with nothing else installed. Data lives in
/// `./twinlog-data` unless `--data-dir` (or TWINLOG_DATA_DIR) says otherwise.
#[derive(Debug, Parser)]
#[command(
    name = "twinlog",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(after_help = "Examples:
  twinlog serve --clock test
  twinlog module deploy examples/modules/lamp1/lamp1.scc
  twinlog event send '{\"module\": \"button1\", \"variable\": \"press\"}'
  twinlog module state lamp1
  twinlog topic create sensors --partitions 4
  echo '{\"temp\": 21.5}' | twinlog publish sensors --key kitchen -
  twinlog tail sensors --from-beginning --json
  twinlog module check examples/modules/lamp1/lamp1.scc
  twinlog bench log --records 1000000")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where Twinlog keeps its data (the event log, offsets, state).
    #[arg(
        long,
        global = true,
        env = "TWINLOG_DATA_DIR",
        default_value = "twinlog-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    /// The server to talk to (e.g. http://127.0.0.1:7878); by default the one holding the
    /// data dir, found in its SERVER file.
    #[arg(long, global = true, env = "TWINLOG_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The mode (an isolated namespace of modules, state and clock) a command works in.
    #[arg(
        long,
        global = true,
        env = "TWINLOG_MODE",
        default_value = "default",
        value_name = "MODE"
    )]
    pub mode: String,
    /// Run `topic`, `publish` and `tail` against a Kafka cluster instead of the data dir:
    /// kafka://HOST:PORT[,HOST:PORT…].
    #[arg(long, global = true, env = "TWINLOG_BUS", value_name = "URL")]
    pub bus: Option<String>,
    /// A librdkafka option for --bus kafka://… (repeatable), e.g. security.protocol=SASL_SSL;
    /// write a secret as sasl.password=env:VAR to read it from the environment variable VAR.
    #[arg(long, global = true, value_name = "KEY=VALUE")]
    pub kafka_option: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the event log, the module agent and the HTTP API, in one process.
    #[command(
        after_help = "Settings come from flags, then TWINLOG_* variables, then twinlog.toml (in
the working directory, or --config), then the defaults; e.g. `clock = \"test\"`,
`http = \"127.0.0.1:7878\"`, `tz = \"Europe/Berlin\"`, `lat = 52.5`, `lon = 13.4`,
`fsync = \"5ms\"`.

While it runs, the other commands talk to it (it writes its URL to DATA_DIR/SERVER).
Ctrl-C or SIGTERM: stops taking requests, finishes the inputs in progress, exits 0.

Examples:
  twinlog serve
  twinlog serve --clock test --http 127.0.0.1:0
  twinlog serve --data-dir /var/lib/twinlog --tz Europe/Berlin --lat 52.52 --lon 13.405"
    )]
    Serve(ServeArgs),
    /// Send events to the running server: one JSON event, or JSON lines from stdin with `-`.
    #[command(subcommand)]
    Event(EventCommand),
    /// Show or advance a mode's clock (a server started with `--clock test` stands still).
    #[command(subcommand)]
    Clock(ClockCommand),
    /// Create and list modes: isolated namespaces with their own modules, state and clock.
    #[command(subcommand)]
    Mode(ModeCommand),
    /// Create, list and describe topics of the event log.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Append records to a topic: one JSON value, or JSON lines from stdin with `-`.
    #[command(after_help = "Examples:
  twinlog publish sensors '{\"temp\": 21.5}'
  twinlog publish sensors --key kitchen '{\"temp\": 21.5}'
  cat readings.jsonl | twinlog publish sensors -
  cat readings.jsonl | twinlog publish sensors --json - > acks.jsonl")]
    Publish(PublishArgs),
    /// Print the records of a topic, and follow it as it grows with `--follow`.
    #[command(after_help = "Examples:
  twinlog tail sensors --from-beginning
  twinlog tail sensors --offset 1000 --max 10 --json
  twinlog tail sensors --since 2026-11-25T08:00:00Z
  twinlog tail sensors --follow")]
    Tail(TailArgs),
    /// Read topics as a member of a consumer group (--bus kafka://… only): partitions are
    /// shared with the group's other members, progress is committed, and a member that stops
    /// hands its partitions over from the last commit.
    #[command(
        after_help = "Output: one line per record as `tail` prints it, and with --json one
{\"committed\": [[topic, partition, offset], …]} line after each commit (offset = the next to
read). Ctrl-C commits what was printed and leaves the group.

Examples:
  twinlog consume sensors --group dashboard --bus kafka://127.0.0.1:9092
  twinlog consume sensors alarms --group archiver --commit-every 1000 --json"
    )]
    Consume(ConsumeArgs),
    /// Check, test and format modules (no server needed); deploy them and read their state.
    #[command(subcommand)]
    Module(ModuleCommand),
    /// Measure this machine: the log's append/read rates, the language's cycle rate.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    #[command(after_help = "Examples:
  twinlog topic create sensors
  twinlog topic create sensors --partitions 8 --retention-age 7d
  twinlog topic create thing-state --compacted")]
    Create(TopicCreateArgs),
    /// List the topics, with partitions and records.
    #[command(visible_alias = "ls")]
    List(JsonFlag),
    /// Show a topic's partitions: start and end offsets, size on disk.
    #[command(after_help = "Examples:
  twinlog topic describe sensors
  twinlog topic describe sensors --json")]
    Describe(TopicDescribeArgs),
    /// Delete a topic with all its records (and every group's committed offsets for it).
    #[command(
        after_help = "A topic of a mode (twinlog.<mode>.*) goes with its mode: `twinlog mode delete`.
Through a running server when one holds the data dir; on Kafka with --bus.

Examples:
  twinlog topic delete sensors
  twinlog topic delete sensors --bus kafka://localhost:9092"
    )]
    Delete(TopicDeleteArgs),
}

#[derive(Debug, Args)]
pub struct TopicDeleteArgs {
    /// The topic to delete.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TopicCreateArgs {
    /// Topic name: letters, digits, `.`, `_` and `-`, at most 249 characters.
    pub name: String,
    /// Number of partitions; records with the same key always go to the same partition.
    #[arg(long, short = 'p', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub partitions: u32,
    /// Keep only the latest record per key (state topics); a null value deletes the key.
    #[arg(long)]
    pub compacted: bool,
    /// Delete the oldest segments once a partition is larger than this (e.g. 1073741824, 512MiB, 1GB).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub retention_bytes: Option<u64>,
    /// Delete segments whose newest record is older than this (e.g. 7d, 12h, 30m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retention_age: Option<std::time::Duration>,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct TopicDescribeArgs {
    /// The topic to describe.
    pub name: String,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The topic to append to.
    pub topic: String,
    /// The record's key; it picks the partition, so records with one key stay in order.
    #[arg(long, short = 'k')]
    pub key: Option<String>,
    /// Append to this partition instead of the key's.
    #[arg(long)]
    pub partition: Option<u32>,
    /// The value as JSON, or `-` to read one JSON value per line from stdin.
    pub value: String,
    /// Print one JSON object per acknowledged record: topic, partition, offset.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("start").args(["from_beginning", "offset", "since"])))]
pub struct TailArgs {
    /// The topic to read.
    pub topic: String,
    /// Start at the oldest record still kept (the default prints only new records with
    /// --follow, or the last 10 without it).
    #[arg(long)]
    pub from_beginning: bool,
    /// Start at this offset (in every partition read).
    #[arg(long, value_name = "N")]
    pub offset: Option<u64>,
    /// Start at the first record at or after this time (RFC 3339, e.g. 2026-11-25T08:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<jiff::Timestamp>,
    /// Read only this partition.
    #[arg(long)]
    pub partition: Option<u32>,
    /// Keep waiting for new records (Ctrl-C to stop).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Stop after this many records.
    #[arg(long, short = 'n', value_name = "N")]
    pub max: Option<u64>,
    /// One JSON object per line: topic, partition, offset, timestamp, key, value.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topics to read.
    #[arg(required = true)]
    pub topics: Vec<String>,
    /// The consumer group (shared by every member that should split the partitions).
    #[arg(long, short = 'g')]
    pub group: String,
    /// Commit after this many records (and on Ctrl-C).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub commit_every: u64,
    /// Without a committed offset, start at the end instead of the oldest record.
    #[arg(long)]
    pub latest: bool,
    /// Stop after this many records (committing them first).
    #[arg(long, short = 'n', value_name = "N")]
    pub max: Option<u64>,
    /// JSON lines: records as `tail --json` prints them, and commits.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// Compile modules and report every error; a one-line summary per module when all is well.
    #[command(after_help = "Exit status: 0 when every module compiles, 1 otherwise.

Examples:
  twinlog module check lamp1.scc
  twinlog module check examples/modules/*/*.scc")]
    Check(ModuleCheckArgs),
    /// Run modules together on a test clock against an events file; no server, no data dir.
    #[command(
        after_help = "Events file: one JSON object per line, in time order, e.g.
  {\"time\": \"2023-01-20T21:00:00-08:00\", \"module\": \"control\", \"variable\": \"mode\", \"value\": \"auto\"}
`module` absent for a global topic variable; optional \"instance\": \"kitchen\"; `value` absent
or null for a value-less event.

Output (stdout): one JSON object per line, in processing order: publications
{\"time\", \"module\", \"variable\", \"value\"}, log records {\"time\", \"module\", \"log\"}, cycle
errors {\"time\", \"module\", \"error\"}, notes {\"time\", \"module\", \"note\"} (an
assignment skipped because its value was unset); each with \"instance\" after \"module\" when
the module has instances. Times are RFC 3339 in the --tz zone. An event whose value a module
refuses, or that no module takes, is an error line naming the event's line (\"event on line
4 refused: …\"); the variable keeps its value and the run goes on.

Exit status: 0 when the run completes (and matches --expect), 1 on a mismatch with --expect,
modules that do not compile, or an events file that cannot be read (not JSON, out of time
order).

Examples:
  twinlog module test lamp1.scc --events lamp1.events.jsonl
  twinlog module test button.scc lamp.scc --events events.jsonl --expect expected.jsonl
  twinlog module test morning.scc --events e.jsonl --tz Europe/Berlin --lat 52.5 --lon 13.4
  twinlog module test lamp1.scc --events e.jsonl --until 2024-03-01T00:00:00Z"
    )]
    Test(ModuleTestArgs),
    /// Rewrite modules in the canonical layout; with --check, only report.
    #[command(
        after_help = "Exit status with --check: 0 when every file is already formatted, 1 otherwise.

Examples:
  twinlog module fmt lamp1.scc
  twinlog module fmt --check examples/modules/*/*.scc"
    )]
    Fmt(ModuleFmtArgs),
    /// Compile modules and deploy them to the running server as their next versions.
    #[command(
        after_help = "Nothing is deployed if any file has an error (diagnostics as in `module check`).
A module whose source did not change keeps its version.

Examples:
  twinlog module deploy examples/modules/lamp1/lamp1.scc
  twinlog module deploy examples/modules/button-lamp/*.scc --mode what-if"
    )]
    Deploy(ModuleDeployArgs),
    /// List the modules deployed on the running server.
    #[command(
        visible_alias = "ls",
        after_help = "Examples:
  twinlog module list
  twinlog module list --mode what-if --json"
    )]
    List(JsonFlag),
    /// Every version of a module: time, offset and a diff against the one before (the audit trail).
    #[command(after_help = "Examples:
  twinlog module history lamp1
  twinlog module history lamp1 --json")]
    History(ModuleNameArgs),
    /// Print a module's source, the running version or `--version V`.
    #[command(
        disable_version_flag = true,
        after_help = "Examples:
  twinlog module source lamp1
  twinlog module source lamp1 --version 1 > lamp1.v1.scc"
    )]
    Source(ModuleSourceArgs),
    /// Remove a module from the running server (its history stays).
    #[command(after_help = "Examples:
  twinlog module undeploy lamp1")]
    Undeploy(ModuleNameArgs),
    /// Show a module's variables with their values and versions, per instance.
    #[command(
        after_help = "With no server running, shows the state as of the mode's last snapshot, read
from the data dir, and says on stderr how many later inputs the server will apply when it
starts (times shown in TWINLOG_TZ or the machine's zone).

Examples:
  twinlog module state lamp1
  twinlog module state lamp --instance kitchen --json"
    )]
    State(ModuleStateArgs),
    /// Why a module did what it did: each cycle's input, the statements considered (which
    /// fired, which condition did not hold), the variables changed, errors. Newest last.
    #[command(after_help = "Examples:
  twinlog module trace lamp1
  twinlog module trace lamp --instance kitchen --since 2024-01-01T00:00:00Z --limit 20
  twinlog module trace lamp1 --json")]
    Trace(ModuleTraceArgs),
}

#[derive(Debug, Args)]
pub struct ModuleTraceArgs {
    /// The module's name.
    pub name: String,
    /// Only this instance.
    #[arg(long, value_name = "KEY")]
    pub instance: Option<String>,
    /// Only cycles at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,
    /// At most this many cycles (the newest).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// One JSON object per cycle.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModuleDeployArgs {
    /// Module source files (`.scc`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// One JSON object per module.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModuleNameArgs {
    /// The module's name (as in its MODULE line).
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModuleSourceArgs {
    /// The module's name.
    pub name: String,
    /// Which version (see `module history`); the running one by default.
    #[arg(long, value_name = "V")]
    pub version: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ModuleStateArgs {
    /// The module's name.
    pub name: String,
    /// Only this instance (for `MODULE m[key]`).
    #[arg(long, value_name = "KEY")]
    pub instance: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Send one event, or JSON lines from stdin with `-`; each is acknowledged once durable.
    #[command(
        after_help = "An event is the object of a `module test --events` line; `time` is optional
(the clock's now), `mode` overrides --mode:
  {\"module\": \"button1\", \"variable\": \"press\"}
  {\"variable\": \"mode\", \"value\": \"auto\", \"time\": \"2024-01-01T08:00:00Z\"}

Prints where each event went (topic/partition@offset, or JSON with --json), in input order.

Examples:
  twinlog event send '{\"module\": \"button1\", \"variable\": \"press\"}'
  cat events.jsonl | twinlog event send -"
    )]
    Send(EventSendArgs),
}

#[derive(Debug, Args)]
pub struct EventSendArgs {
    /// The event as JSON, or `-` for JSON lines from stdin.
    pub event: String,
    /// One JSON object per acknowledged event.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Where the clock stands and when something is next due.
    #[command(after_help = "Examples:
  twinlog clock show
  twinlog clock show --mode what-if --json")]
    Show(JsonFlag),
    /// Move a test clock forward, firing every AT and timer due on the way, in order.
    #[command(after_help = "Examples:
  twinlog clock advance --by 90m
  twinlog clock advance --to 2024-01-02T00:00:00-08:00")]
    Advance(ClockAdvanceArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("how").args(["to", "by"]).required(true)))]
pub struct ClockAdvanceArgs {
    /// To this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub to: Option<String>,
    /// By this long (e.g. 90m, 2h, 1h30m, 3d).
    #[arg(long, value_name = "DURATION")]
    pub by: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModeCommand {
    /// Create a mode: empty, or a copy of another as of an input offset or a time (what-if).
    #[command(
        after_help = "A fork replays the source mode's inputs up to that point into the new mode,
which then has the same modules, state and clock, and goes its own way.

Examples:
  twinlog mode create what-if
  twinlog mode create what-if --from default
  twinlog mode create yesterday --from default --at 2024-05-01T00:00:00Z
  twinlog module deploy lamp1.scc --mode what-if"
    )]
    Create(ModeCreateArgs),
    /// List the modes with their modules and clocks.
    #[command(
        visible_alias = "ls",
        after_help = "Examples:
  twinlog mode list"
    )]
    List(JsonFlag),
    /// Delete a mode: its modules, state, clock, inputs, outputs and traces.
    #[command(
        after_help = "The default mode cannot be deleted. Needs a running server.

Examples:
  twinlog mode delete what-if"
    )]
    Delete(ModeDeleteArgs),
}

#[derive(Debug, Args)]
pub struct ModeDeleteArgs {
    /// The mode to delete.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ModeCreateArgs {
    /// Its name: a-z, 0-9, `_` and `-`.
    pub name: String,
    /// Fork this mode instead of starting empty.
    #[arg(long, value_name = "MODE")]
    pub from: Option<String>,
    /// With --from: copy its inputs up to this input offset or time (RFC 3339) [default: all].
    #[arg(long, value_name = "OFFSET|RFC3339", requires = "from")]
    pub at: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the HTTP API listens [default: 127.0.0.1:7878]; port 0 picks a free one.
    #[arg(long, env = "TWINLOG_HTTP", value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// `real` (the machine's clock) or `test` (stands still until advanced) [default: real].
    #[arg(long, env = "TWINLOG_CLOCK", value_name = "real|test", value_parser = parse_clock)]
    pub clock: Option<twinlog_runtime::ClockKind>,
    /// Time zone of AT triggers and shown times (IANA name) [default: the machine's].
    #[arg(long, env = "TWINLOG_TZ", value_name = "ZONE")]
    pub tz: Option<String>,
    /// Latitude in degrees (north positive), for sunrise/sunset and seasons.
    #[arg(long, env = "TWINLOG_LAT", value_name = "DEG", allow_negative_numbers = true, value_parser = parse_latitude)]
    pub lat: Option<f64>,
    /// Longitude in degrees (east positive), for sunrise/sunset.
    #[arg(long, env = "TWINLOG_LON", value_name = "DEG", allow_negative_numbers = true, value_parser = parse_longitude)]
    pub lon: Option<f64>,
    /// When writes are acknowledged: `always` (after an fsync), an interval like `5ms`, or `never` [default: always].
    #[arg(long, env = "TWINLOG_FSYNC", value_parser = parse_fsync)]
    pub fsync: Option<twinlog_log::FsyncPolicy>,
    /// A settings file [default: ./twinlog.toml if it exists].
    #[arg(long, env = "TWINLOG_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `real` or `test`.
pub fn parse_clock(s: &str) -> Result<twinlog_runtime::ClockKind, String> {
    match s {
        "real" => Ok(twinlog_runtime::ClockKind::Real),
        "test" => Ok(twinlog_runtime::ClockKind::Test),
        _ => Err(format!("`--clock` must be `real` or `test`; got `{s}`")),
    }
}

#[derive(Debug, Args)]
pub struct ModuleCheckArgs {
    /// Module source files (`.scc`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// One JSON object per module instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModuleTestArgs {
    /// Module source files (`.scc`), run together.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The input events, JSON lines.
    #[arg(long, value_name = "EVENTS.jsonl")]
    pub events: PathBuf,
    /// After the last event, keep the clock running to this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<jiff::Timestamp>,
    /// Time zone for AT triggers and output times (IANA name, e.g. Europe/Berlin).
    #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_tz)]
    pub tz: jiff::tz::TimeZone,
    /// Latitude in degrees (north positive), for sunrise/sunset and seasons.
    #[arg(long, value_name = "DEG", allow_negative_numbers = true, requires = "lon", value_parser = parse_latitude)]
    pub lat: Option<f64>,
    /// Longitude in degrees (east positive), for sunrise/sunset.
    #[arg(long, value_name = "DEG", allow_negative_numbers = true, requires = "lat", value_parser = parse_longitude)]
    pub lon: Option<f64>,
    /// Compare the output with this file (JSON lines); print a diff and exit 1 on a mismatch.
    #[arg(long, value_name = "EXPECTED.jsonl")]
    pub expect: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ModuleFmtArgs {
    /// Module source files (`.scc`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Change nothing; list the files that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Append records to a fresh log, read them back, and compare with this disk's fsync'd write rate.
    #[command(
        after_help = "Runs in a fresh directory under --data-dir and removes it afterwards.

Examples:
  twinlog bench log
  twinlog bench log --records 5000000 --size 100 --fsync 5ms
  twinlog bench log --fsync always --json"
    )]
    Log(BenchLogArgs),
    /// Cycles per second of a 10-statement module, allocations per cycle, compile time.
    #[command(after_help = "Examples:
  twinlog bench lang
  twinlog bench lang --json")]
    Lang(BenchLangArgs),
    /// Feed events through the bus to N instances of a module; events fully processed
    /// (snapshot durable) per second and event-to-snapshot latency.
    #[command(after_help = "Examples:
  twinlog bench pipeline
  twinlog bench pipeline --instances 10000 --events 1000000 --fsync 5ms --json
  twinlog bench pipeline --rate 10000 --events 100000")]
    Pipeline(BenchPipelineArgs),
    /// Rebuild module state from the log (a replay that writes nothing): events per second
    /// and heap bytes per module instance.
    #[command(after_help = "Examples:
  twinlog bench replay
  twinlog bench replay --instances 1000000 --events 2000000 --json")]
    Replay(BenchReplayArgs),
}

#[derive(Debug, Args)]
pub struct BenchPipelineArgs {
    /// Module instances the events are spread over (`MODULE counter[room]`).
    #[arg(long, default_value_t = 10_000)]
    pub instances: u64,
    /// Events to send.
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Events per request to the runtime.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Offer events at this rate (events/s) instead of as fast as possible.
    #[arg(long)]
    pub rate: Option<u64>,
    /// When appends are acknowledged: `always`, an interval like `5ms`, or `never`.
    #[arg(long, default_value = "5ms", value_parser = parse_fsync)]
    pub fsync: twinlog_log::FsyncPolicy,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchReplayArgs {
    /// Module instances the events are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub instances: u64,
    /// Events on the log to replay.
    #[arg(long, default_value_t = 500_000)]
    pub events: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchLogArgs {
    /// How many records to append.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub records: u64,
    /// Value size of each record in bytes (at most 1 MiB, the largest record).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub size: u64,
    /// Partitions of the benchmark topic (records spread round-robin).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub partitions: u32,
    /// When appends are acknowledged: `always` (after an fsync), an interval like `5ms`, or `never`.
    #[arg(long, default_value = "5ms", value_parser = parse_fsync)]
    pub fsync: twinlog_log::FsyncPolicy,
    /// One JSON object with every figure.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchLangArgs {
    /// How many cycles to run.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: u64,
    /// One JSON object with every figure.
    #[arg(long)]
    pub json: bool,
}

/// An fsync policy: `always`, `never` or an interval.
pub fn parse_fsync(s: &str) -> Result<twinlog_log::FsyncPolicy, String> {
    s.parse()
        .map_err(|e: twinlog_log::ParseFsyncPolicyError| e.to_string())
}

/// An IANA time zone known to this machine's time zone database.
fn parse_tz(s: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(s).map_err(|e| {
        format!("unknown time zone `{s}` ({e}); use an IANA name like Europe/Berlin or UTC")
    })
}

fn parse_degrees(s: &str, limit: f64, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected {what} in degrees like 52.52; got `{s}`"))?;
    if !(-limit..=limit).contains(&v) {
        return Err(format!(
            "{what} must be within -{limit} and {limit} degrees; got {v}"
        ));
    }
    Ok(v)
}

fn parse_latitude(s: &str) -> Result<f64, String> {
    parse_degrees(s, 90.0, "a latitude")
}

fn parse_longitude(s: &str) -> Result<f64, String> {
    parse_degrees(s, 180.0, "a longitude")
}

/// `1024`, `512KiB`, `64MiB`, `1GiB`, `1GB`, `10MB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("expected a byte count like `1073741824`, `512MiB` or `1GB`; got `{s}`")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// `500ms`, `30s`, `15m`, `12h`, `7d`, `2w`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a duration like `30m`, `12h` or `7d`; got `{s}`"))?;
    let secs = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => {
            return Err(format!(
                "`{s}` needs a unit: ms, s, m, h, d or w (e.g. `{n}d`)"
            ));
        }
        other => {
            return Err(format!(
                "unknown duration unit `{other}`; use ms, s, m, h, d or w"
            ));
        }
    };
    n.checked_mul(secs)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("42"), Ok(42));
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert_eq!(
            parse_duration("7d"),
            Ok(std::time::Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert!(parse_duration("5").unwrap_err().contains("needs a unit"));
    }
}
