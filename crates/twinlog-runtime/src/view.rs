//! What the runtime shows of itself: plain data for the API and the CLI to render (they
//! own the wire formats; nothing here derives `Serialize`).

use crate::codec::Counters;
use jiff::Timestamp;
use twinlog_lang::value::Value;

/// Which clock drives a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    /// The machine's clock: `AT`s and timers fire on their own, each tick recorded on the log.
    Real,
    /// Stands still until advanced (`POST /api/v1/clock/advance`); its moves are on the log.
    Test,
}

impl ClockKind {
    pub fn name(self) -> &'static str {
        match self {
            ClockKind::Real => "real",
            ClockKind::Test => "test",
        }
    }
}

/// Where a mode's clock stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockView {
    pub kind: ClockKind,
    /// `None` until the first event or advance (a test clock starts there).
    pub now: Option<Timestamp>,
    /// When the next `AT` or timer is due.
    pub next_due: Option<Timestamp>,
}

/// A deployed module.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleView {
    pub name: String,
    pub version: u32,
    pub file: String,
    pub deployed_at: Timestamp,
    pub instance_key: Option<String>,
    pub instances: usize,
    /// One line: variables and triggers.
    pub summary: String,
}

/// One variable of an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct VarView {
    pub name: String,
    /// `subscribe`, `publish`, `private` or `key`.
    pub kind: &'static str,
    /// Enum values as strings.
    pub value: Value,
    pub version: u64,
    pub changed: Option<Timestamp>,
}

/// One module instance.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceView {
    pub module: String,
    pub instance: Option<String>,
    pub source_version: u32,
    pub vars: Vec<VarView>,
    /// Running timers with their deadlines.
    pub timers: Vec<(String, Timestamp)>,
}

/// Counters of a mode.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsView {
    pub counters: Counters,
    /// The last input processed.
    pub last_input: Option<u64>,
    pub modules: usize,
    pub instances: usize,
}

/// One version in a module's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceVersion {
    pub module: String,
    pub version: u32,
    pub file: String,
    /// `None` for an undeploy.
    pub source: Option<String>,
    pub time: Timestamp,
    /// Its offset in the `sources` topic.
    pub offset: u64,
}

/// Where an accepted input went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

/// The outcome of a deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployed {
    pub module: String,
    pub version: u32,
    /// The source was the same as the running version: nothing was deployed.
    pub unchanged: bool,
    /// Warnings of the compiler, rendered.
    pub warnings: Vec<String>,
}
