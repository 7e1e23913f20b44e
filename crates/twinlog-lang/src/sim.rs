//! Deterministic multi-module simulation on a test clock: the engine behind
//! `twinlog module test` (the binary does the JSON I/O; this does no I/O at all).
//!
//! A [`Simulator`] holds several compiled [`Program`]s and routes what one publishes to the
//! others that subscribe:
//! - `SUBSCRIBE module.variable` receives `module`'s publications of `variable`, and its timer
//!   expiries when `variable` names a timer (they are messages to subscribers, not output);
//! - `SUBSCRIBE name` (or `SUBSCRIBE topic.name`) receives global events with that variable
//!   and no module, and publications of `PUBLISH topic.name`.
//!
//! The clock starts at the first event's time and moves forward to each event's time before
//! delivering it, firing on the way every `AT` (minute ticks) and every timer due, in order.
//! Inputs at the same instant are processed ticks first, then timer expiries, then input
//! events in input order, each with everything it causes (what its cycles published, first
//! in, first out) before the next input event: one input, one settled outcome, exactly as
//! the server processes its log one record at a time. A publication is a message stamped
//! with its cycle's time, delivered after that cycle ends.
//!
//! Cascades: only cycles caused by publications count. Every input event, tick and timer
//! expiry starts a causal chain; a message published by a cycle that handled a message of
//! depth `d` has depth `d + 1` (a tick or timer cycle counts as depth 0). A message deeper
//! than [`Simulator::cascade_limit`] is not delivered: a [`SimOutput::CycleError`] names the
//! modules that repeat in its chain, and only the messages of that chain are dropped —
//! unrelated inputs and other chains at the same instant go on. So 5,000 input events at one
//! instant, or one message to 5,000 instances, are no cascade. A chain that fans out (each
//! cycle publishing to several subscribers) is also cut once it has run
//! `cascade_limit × 1,000` publication-caused cycles, so a branching loop cannot run
//! exponentially long before reaching the depth limit.
//!
//! Instances: a message carrying an instance key reaches that instance of a module declared
//! `MODULE m[key]` (creating it on its first message); a message without a key reaches every
//! existing instance; a module without instances takes every message. Publications carry the
//! key of the instance that made them.
//!
//! Speed over long spans: a module is ticked only at the minutes one of its `AT`s fires
//! (found with `next_fire_after`), or every minute if a `WHEN` reads `system.clock`.
//!
//! Decision (LANGUAGE.md is silent): an input event `{module: M, variable: V}` is a message as
//! if published by `M` for `V` (delivered to subscribers of `M.V`); when nobody subscribes to
//! `M.V` but `M` is a loaded module with a SUBSCRIBE variable `V` (local name), it goes straight
//! to that variable — handy for testing one module alone.

use crate::eval::{CycleOutput, Input, Instance, Limits};
use crate::ir::{Program, Slot, Type, VarKind};
use crate::time::{TimeContext, TimeError};
use crate::value::Value;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// One input event (`twinlog module test --events`, one JSON line each).
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    pub time: Timestamp,
    /// `None` for a global topic variable.
    pub module: Option<String>,
    pub variable: String,
    pub instance: Option<String>,
    /// `None` for a value-less event. Enum values are given as strings.
    pub value: Option<Value>,
}

/// What the simulation produced, in processing order. Enum values are strings here.
#[derive(Debug, Clone, PartialEq)]
pub enum SimOutput {
    /// A changed PUBLISH variable (`value` is `Some`) or an `activate` (`None`).
    Publication {
        time: Timestamp,
        module: Arc<str>,
        instance: Option<Arc<str>>,
        /// The published name: the variable, or `topic.name` for `PUBLISH topic.name AS x`.
        variable: Arc<str>,
        value: Option<Value>,
    },
    Log {
        time: Timestamp,
        module: Arc<str>,
        instance: Option<Arc<str>>,
        text: String,
    },
    CycleError {
        time: Timestamp,
        module: Arc<str>,
        instance: Option<Arc<str>>,
        message: String,
    },
    /// An input event a module could not take (a value outside its constraints), or that
    /// no module takes (`module` is then the module the event names, `None` when it names
    /// none): reported, and the run goes on without it. `event` is the index the event was given to the simulator with;
    /// `message` says why (`` `dim` is not allowed for `mode`; expected {off, auto, on} ``).
    Refused {
        time: Timestamp,
        module: Option<Arc<str>>,
        instance: Option<Arc<str>>,
        event: usize,
        message: String,
    },
    /// Something a cycle did not do and why, without failing: an assignment skipped because
    /// its value was unset.
    Note {
        time: Timestamp,
        module: Arc<str>,
        instance: Option<Arc<str>>,
        text: String,
    },
}

impl SimOutput {
    /// When, in which module (`None` for a refused event that names none) and in which instance
    /// (`None` for a module without instances).
    pub fn origin(&self) -> (Timestamp, Option<&Arc<str>>, Option<&Arc<str>>) {
        match self {
            SimOutput::Publication {
                time,
                module,
                instance,
                ..
            }
            | SimOutput::Log {
                time,
                module,
                instance,
                ..
            }
            | SimOutput::CycleError {
                time,
                module,
                instance,
                ..
            }
            | SimOutput::Note {
                time,
                module,
                instance,
                ..
            } => (*time, Some(module), instance.as_ref()),
            SimOutput::Refused {
                time,
                module,
                instance,
                ..
            } => (*time, module.as_ref(), instance.as_ref()),
        }
    }
}

/// Why one cycle did what it did (see [`Simulator::set_tracing`]), readable without the
/// source: the input, each statement considered with the condition that did not hold (or
/// that it fired), each variable changed, and the error if the cycle failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub time: Timestamp,
    pub module: Arc<str>,
    pub instance: Option<Arc<str>>,
    /// `message press = on`, `minute tick`, `timer offTimer expired`.
    pub input: String,
    pub steps: Vec<TraceLine>,
    /// (variable, old, new), enum values as strings.
    pub changes: Vec<(Arc<str>, Value, Value)>,
    pub error: Option<String>,
}

/// One statement a cycle considered.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    /// Its trigger line as written: `ON press`, `AT midnight ON weekdays`.
    pub statement: String,
    pub line: u32,
    /// Whether its conditions held and its THEN lines ran.
    pub fired: bool,
    /// The condition that did not hold, as written (`state == off`).
    pub failed: Option<String>,
}

/// A problem with the modules given to [`Simulator::new`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("two modules are named `{name}`; module names must be unique")]
    DuplicateModule { name: String },
    #[error("module `{module}`: {source}")]
    Time {
        module: String,
        #[source]
        source: TimeError,
    },
}

/// A problem with one input event; `index` is its 0-based position in the input.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("event at {time} comes after one at {previous}; events must be in time order")]
    OutOfOrder {
        index: usize,
        time: Timestamp,
        previous: Timestamp,
    },
    #[error(
        "unknown module `{module}`: no module given is named so or subscribes to `{module}.{variable}`"
    )]
    UnknownModule {
        index: usize,
        module: String,
        variable: String,
    },
    #[error("no module subscribes to `{name}`")]
    UnknownVariable { index: usize, name: String },
}

impl InputError {
    pub fn index(&self) -> usize {
        match self {
            InputError::OutOfOrder { index, .. }
            | InputError::UnknownModule { index, .. }
            | InputError::UnknownVariable { index, .. } => *index,
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// Subscribers of a route (index into `Simulator::routes`).
    Route(usize),
    /// One module's variable directly.
    Direct(usize, Slot),
}

/// Where a message (or a cycle) sits in its causal chain at the current instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cause {
    /// Index into `Simulator::chains`: the input, tick or timer that started the chain.
    chain: u32,
    /// Publications between the chain's start and this message (0 for an input event).
    depth: u32,
    /// Index into `Simulator::links`: the cycle that published this message, if any.
    link: u32,
}

/// No link: the message was not published by a cycle.
const NO_LINK: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Msg {
    target: Target,
    instance: Option<Arc<str>>,
    /// External form (enum values as strings).
    value: Option<Value>,
    cause: Cause,
    /// The index of the input event this message is ([`NO_EVENT`] for publications).
    event: usize,
}

const NO_EVENT: usize = usize::MAX;

#[derive(Debug)]
struct SimModule {
    program: Program,
    instances: Vec<Instance>,
    by_key: HashMap<Arc<str>, usize>,
    /// Route of each PUBLISH slot (indexed by slot), and of each timer.
    publish_route: Vec<Option<usize>>,
    timer_route: Vec<Option<usize>>,
    /// The published name of each slot.
    publish_name: Vec<Arc<str>>,
    /// The next minute an AT of this module fires (strictly after the last tick handled).
    next_at: Option<Timestamp>,
    /// Per `AT`: (the instant searched from, its next fire after that or `None` for never).
    /// Only an AT whose cached fire has passed is searched again, so a rare or never-firing
    /// AT costs one search, not one per fire of its module's other ATs.
    at_next: Vec<Option<(Timestamp, Option<Timestamp>)>>,
}

/// Several modules on a test clock. See the module docs.
#[derive(Debug)]
pub struct Simulator {
    modules: Vec<SimModule>,
    /// Subscribers of each route: (module, slot).
    routes: Vec<Vec<(usize, Slot)>>,
    route_index: HashMap<String, usize>,
    time_ctx: TimeContext,
    limits: Limits,
    cascade_limit: u32,
    now: Option<Timestamp>,
    last_event: Option<Timestamp>,
    /// Ticks up to and including this minute are done.
    ticked_through: Option<Timestamp>,
    queue: VecDeque<Msg>,
    /// Per causal chain at the current instant: the publication-caused cycles it has run, or
    /// `u32::MAX` once it was cut. Cleared when the clock moves.
    chains: Vec<u32>,
    /// The publishing cycles of the current instant, as (module, parent link): walked back
    /// from a message cut by the cascade limit to name the modules in its loop.
    links: Vec<(u32, u32)>,
    output: Vec<SimOutput>,
    out: CycleOutput,
    /// Instances that ran a cycle (or were created) since [`Simulator::take_changed`]:
    /// (module, instance), each once, in first-change order.
    changed: Vec<(u32, u32)>,
    /// Per module, per instance: whether it is in `changed`.
    changed_mark: Vec<Vec<bool>>,
    /// Every running timer as (expiry, module, instance, timer), earliest first: the next
    /// timer due is found without looking at every instance (a million idle ones cost
    /// nothing per event).
    timer_queue: BTreeSet<(Timestamp, u32, u32, u16)>,
    /// Scratch: an instance's timers before its cycle (reused, so a cycle allocates nothing).
    timer_scratch: Vec<Option<Timestamp>>,
    /// Traces of the cycles run since [`Simulator::take_traces`], when tracing.
    traces: Vec<Trace>,
}

/// Where the clock of a [`Simulator`] stands: what a snapshot records so that a restored
/// simulator goes on exactly where the saved one stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockState {
    /// The current instant (`None` before the first event or advance).
    pub now: Option<Timestamp>,
    /// The time of the last input event (events before it are out of order).
    pub last_event: Option<Timestamp>,
    /// Minute ticks up to and including this minute are done.
    pub ticked_through: Option<Timestamp>,
}

const MINUTE: SignedDuration = SignedDuration::from_secs(60);

fn floor_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap_or(t)
}

impl Simulator {
    /// Default cascade limit: cycles at one instant before a loop is declared.
    pub const DEFAULT_CASCADE_LIMIT: u32 = 1_000;

    /// Loads compiled modules. `time_ctx` gives the zone and location of every `AT`.
    pub fn new(programs: Vec<Program>, time_ctx: TimeContext) -> Result<Self, LoadError> {
        let mut seen = std::collections::HashSet::new();
        for p in &programs {
            if !seen.insert(p.name.clone()) {
                return Err(LoadError::DuplicateModule {
                    name: p.name.to_string(),
                });
            }
            for at in &p.ats {
                time_ctx
                    .validate(&at.spec)
                    .map_err(|source| LoadError::Time {
                        module: p.name.to_string(),
                        source,
                    })?;
            }
        }
        let mut sim = Simulator {
            modules: Vec::new(),
            routes: Vec::new(),
            route_index: HashMap::new(),
            time_ctx,
            limits: Limits::default(),
            cascade_limit: Self::DEFAULT_CASCADE_LIMIT,
            now: None,
            last_event: None,
            ticked_through: None,
            queue: VecDeque::new(),
            chains: Vec::new(),
            links: Vec::new(),
            output: Vec::new(),
            out: CycleOutput::new(),
            changed: Vec::new(),
            changed_mark: Vec::new(),
            timer_queue: BTreeSet::new(),
            timer_scratch: Vec::new(),
            traces: Vec::new(),
        };
        // Subscriptions first, so publications can find their routes.
        for (m, p) in programs.iter().enumerate() {
            for (slot, v) in p.vars.iter().enumerate() {
                if v.kind == VarKind::Subscribe
                    && let Some(src) = &v.source
                {
                    let r = sim.route(src);
                    sim.routes[r].push((m, slot as Slot));
                }
            }
        }
        for p in programs {
            let publish_name: Vec<Arc<str>> = p
                .vars
                .iter()
                .map(|v| {
                    v.source
                        .clone()
                        .filter(|_| v.kind == VarKind::Publish)
                        .unwrap_or_else(|| v.name.clone())
                })
                .collect();
            let publish_route = p
                .vars
                .iter()
                .zip(&publish_name)
                .map(|(v, name)| {
                    if v.kind != VarKind::Publish {
                        return None;
                    }
                    let key = if v.source.is_some() {
                        name.to_string()
                    } else {
                        format!("{}.{}", p.name, name)
                    };
                    sim.route_index.get(&key).copied()
                })
                .collect();
            let timer_route = p
                .timers
                .iter()
                .map(|t| {
                    sim.route_index
                        .get(&format!("{}.{}", p.name, t.name))
                        .copied()
                })
                .collect();
            let instances = if p.instance_key.is_none() {
                vec![Instance::new(&p, None)]
            } else {
                Vec::new()
            };
            let ats = p.ats.len();
            sim.modules.push(SimModule {
                program: p,
                instances,
                by_key: HashMap::new(),
                publish_route,
                timer_route,
                publish_name,
                next_at: None,
                at_next: vec![None; ats],
            });
            sim.changed_mark.push(Vec::new());
        }
        Ok(sim)
    }

    /// Replaces the run-time limits and the cascade limit.
    pub fn with_limits(mut self, limits: Limits, cascade_limit: u32) -> Self {
        self.limits = limits;
        self.cascade_limit = cascade_limit.max(1);
        self
    }

    pub fn cascade_limit(&self) -> u32 {
        self.cascade_limit
    }

    fn route(&mut self, key: &str) -> usize {
        if let Some(r) = self.route_index.get(key) {
            return *r;
        }
        self.routes.push(Vec::new());
        self.route_index
            .insert(key.to_string(), self.routes.len() - 1);
        self.routes.len() - 1
    }

    /// The program of a loaded module.
    pub fn program(&self, module: &str) -> Option<&Program> {
        self.modules
            .iter()
            .find(|m| &*m.program.name == module)
            .map(|m| &m.program)
    }

    /// The current value of a variable of a module instance (`None` if unknown), with enum
    /// values as strings.
    pub fn value(&self, module: &str, instance: Option<&str>, variable: &str) -> Option<Value> {
        let m = self.modules.iter().find(|m| &*m.program.name == module)?;
        let slot = m.program.slot(variable)?;
        let inst = match instance {
            Some(k) => &m.instances[*m.by_key.get(k)?],
            None => m.instances.first()?,
        };
        Some(m.program.externalize(inst.value(slot)))
    }

    /// Runs a whole input and moves the clock on to `until` if given. Events out of time
    /// order are the only errors that stop a run before it starts (all are returned, each with
    /// its index); an event that no module takes, or whose value a module refuses, becomes a
    /// [`SimOutput::Refused`] at its place and the run goes on.
    pub fn run(
        &mut self,
        events: &[SimEvent],
        until: Option<Timestamp>,
    ) -> Result<Vec<SimOutput>, Vec<InputError>> {
        let mut errors = Vec::new();
        let mut previous = self.last_event;
        for (i, e) in events.iter().enumerate() {
            if let Some(p) = previous
                && e.time < p
            {
                errors.push(InputError::OutOfOrder {
                    index: i,
                    time: e.time,
                    previous: p,
                });
            } else {
                previous = Some(e.time);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for (i, e) in events.iter().enumerate() {
            match self.validate(i, e) {
                Ok(target) => self.deliver_event(i, e, target),
                Err(err) => {
                    self.last_event = Some(e.time);
                    self.advance(e.time);
                    self.settle();
                    self.output.push(SimOutput::Refused {
                        time: e.time,
                        module: e.module.as_deref().map(Arc::from),
                        instance: e.instance.as_deref().map(Arc::from),
                        event: i,
                        message: err.to_string(),
                    });
                }
            }
            self.settle();
        }
        match until {
            Some(t) => self.run_until(t),
            None => self.settle(),
        }
        Ok(self.take_output())
    }

    /// Validates and queues one event (processing everything due before it); [`Simulator::settle`]
    /// then processes it and what it causes.
    pub fn push(&mut self, index: usize, event: &SimEvent) -> Result<(), InputError> {
        if let Some(p) = self.last_event
            && event.time < p
        {
            return Err(InputError::OutOfOrder {
                index,
                time: event.time,
                previous: p,
            });
        }
        let target = self.validate(index, event)?;
        self.deliver_event(index, event, target);
        Ok(())
    }

    fn validate(&self, index: usize, e: &SimEvent) -> Result<Target, InputError> {
        let key = match &e.module {
            Some(m) => format!("{m}.{}", e.variable),
            None => e.variable.clone(),
        };
        let target = match self.route_index.get(&key) {
            Some(&r) => Target::Route(r),
            None => match &e.module {
                Some(m) => {
                    let Some(mi) = self.modules.iter().position(|x| &*x.program.name == m) else {
                        return Err(InputError::UnknownModule {
                            index,
                            module: m.clone(),
                            variable: e.variable.clone(),
                        });
                    };
                    let p = &self.modules[mi].program;
                    match p
                        .vars
                        .iter()
                        .position(|v| v.kind == VarKind::Subscribe && *v.name == *e.variable)
                    {
                        Some(slot) => Target::Direct(mi, slot as Slot),
                        None => return Err(InputError::UnknownVariable { index, name: key }),
                    }
                }
                None => return Err(InputError::UnknownVariable { index, name: key }),
            },
        };
        Ok(target)
    }

    fn deliver_event(&mut self, index: usize, e: &SimEvent, target: Target) {
        self.last_event = Some(e.time);
        self.advance(e.time);
        let cause = self.new_chain();
        self.queue.push_back(Msg {
            target,
            instance: e.instance.as_deref().map(Arc::from),
            value: e.value.clone(),
            cause,
            event: index,
        });
    }

    /// Moves the clock to `t`, processing everything due up to and including `t`, and the
    /// messages queued at `t`.
    pub fn run_until(&mut self, t: Timestamp) {
        if self.now.is_some_and(|n| t < n) {
            self.settle();
            return;
        }
        self.advance(t);
        self.settle();
    }

    /// Processes the messages queued at the current instant (and their cascades).
    pub fn settle(&mut self) {
        self.drain();
    }

    /// Takes the output produced so far.
    pub fn take_output(&mut self) -> Vec<SimOutput> {
        std::mem::take(&mut self.output)
    }

    /// The current time of the test clock.
    pub fn now(&self) -> Option<Timestamp> {
        self.now
    }

    /// Where the clock stands (for a snapshot). Call between inputs, after [`Simulator::settle`].
    pub fn clock_state(&self) -> ClockState {
        ClockState {
            now: self.now,
            last_event: self.last_event,
            ticked_through: self.ticked_through,
        }
    }

    /// Puts the clock where a snapshot left it (before any input is given): ticks already done
    /// are not repeated, and every module's next `AT` is searched from there.
    pub fn restore_clock(&mut self, clock: ClockState) {
        self.now = clock.now;
        self.last_event = clock.last_event;
        self.ticked_through = clock.ticked_through;
        self.chains.clear();
        self.links.clear();
        if let Some(after) = clock.ticked_through.or(clock.now) {
            for m in 0..self.modules.len() {
                let next = self.next_at_after(m, after);
                self.modules[m].next_at = next;
            }
        }
    }

    /// The loaded programs, in load order.
    pub fn programs(&self) -> impl Iterator<Item = &Program> + '_ {
        self.modules.iter().map(|m| &m.program)
    }

    /// The instances of a loaded module (a module without instances has exactly one).
    pub fn instances(&self, module: &str) -> Option<&[Instance]> {
        self.modules
            .iter()
            .find(|m| &*m.program.name == module)
            .map(|m| &m.instances[..])
    }

    /// Replaces (or, for a keyed module, adds) an instance of a loaded module, e.g. one
    /// restored from a snapshot. Returns `false` if no module is named so, or if the
    /// instance's key does not fit the module (a key for a module without instances, or none
    /// for one with). Call before giving inputs, or between them.
    pub fn restore_instance(&mut self, module: &str, instance: Instance) -> bool {
        let Some(m) = self.modules.iter().position(|x| &*x.program.name == module) else {
            return false;
        };
        let keyed = self.modules[m].program.instance_key.is_some();
        let i = match (keyed, instance.key().cloned()) {
            (false, None) => 0,
            (true, Some(key)) => self.instance_for(m, &key),
            _ => return false,
        };
        self.timer_scratch.clear();
        let old = self.modules[m].instances[i].timers().to_vec();
        self.timer_scratch.extend_from_slice(&old);
        self.modules[m].instances[i] = instance;
        self.reindex_timers(m, i);
        true
    }

    /// The instances that ran a cycle or were created since the last call, each once, with
    /// their program: what a durable runtime snapshots after an input.
    pub fn take_changed(&mut self) -> Vec<(&Program, &Instance)> {
        let changed = std::mem::take(&mut self.changed);
        for &(m, i) in &changed {
            self.changed_mark[m as usize][i as usize] = false;
        }
        changed
            .into_iter()
            .map(|(m, i)| {
                let module = &self.modules[m as usize];
                (&module.program, &module.instances[i as usize])
            })
            .collect()
    }

    /// Turns per-cycle traces on or off (off by default: `module test` and benchmarks pay
    /// nothing for them).
    pub fn set_tracing(&mut self, on: bool) {
        self.out.trace.enabled = on;
    }

    /// The traces of the cycles run since the last call, in processing order.
    pub fn take_traces(&mut self) -> Vec<Trace> {
        std::mem::take(&mut self.traces)
    }

    /// The next instant something is due (an `AT` tick or a timer), if any: when a real clock
    /// must next wake the simulator.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.next_instant()
    }

    /// Brings `timer_queue` up to date for instance `i` of module `m`, whose timers were
    /// `timer_scratch` before.
    fn reindex_timers(&mut self, m: usize, i: usize) {
        let now = self.modules[m].instances[i].timers();
        for (k, (old, new)) in self.timer_scratch.iter().zip(now).enumerate() {
            if old == new {
                continue;
            }
            if let Some(t) = old {
                self.timer_queue.remove(&(*t, m as u32, i as u32, k as u16));
            }
            if let Some(t) = new {
                self.timer_queue.insert((*t, m as u32, i as u32, k as u16));
            }
        }
    }

    fn mark_changed(&mut self, m: usize, i: usize) {
        let marks = &mut self.changed_mark[m];
        if marks.len() <= i {
            marks.resize(i + 1, false);
        }
        if !marks[i] {
            marks[i] = true;
            self.changed.push((m as u32, i as u32));
        }
    }

    /// Drains the current instant, then processes every instant up to `t`: ticks and timers
    /// at `t` itself too (its messages come after them).
    fn advance(&mut self, t: Timestamp) {
        let Some(now) = self.now else {
            // The clock starts here; ticks at this very minute still count.
            self.start_clock(t);
            self.instant(t);
            return;
        };
        if t <= now {
            // Same instant: the new message queues behind what is already waiting.
            return;
        }
        self.drain();
        loop {
            let next = self.next_instant();
            match next {
                Some(n) if n <= t => {
                    self.set_now(n);
                    self.instant(n);
                    if n < t {
                        self.drain();
                    }
                }
                _ => break,
            }
        }
        if self.now != Some(t) {
            self.set_now(t);
            self.instant(t);
        }
    }

    fn start_clock(&mut self, t: Timestamp) {
        self.now = Some(t);
        self.chains.clear();
        self.links.clear();
        // A tick at the start minute fires only if the clock starts on the minute.
        let before = t.checked_sub(SignedDuration::from_secs(1)).unwrap_or(t);
        self.ticked_through = Some(floor_minute(before));
        for m in 0..self.modules.len() {
            let next = self.next_at_after(m, before);
            self.modules[m].next_at = next;
        }
    }

    fn set_now(&mut self, t: Timestamp) {
        if self.now != Some(t) {
            self.now = Some(t);
            self.chains.clear();
            self.links.clear();
        }
    }

    fn next_at_after(&mut self, m: usize, after: Timestamp) -> Option<Timestamp> {
        let module = &mut self.modules[m];
        if module.program.when_uses_clock {
            return floor_minute(after).checked_add(MINUTE).ok();
        }
        let mut next: Option<Timestamp> = None;
        for (a, cached) in module.program.ats.iter().zip(module.at_next.iter_mut()) {
            let fresh =
                cached.is_some_and(|(from, fire)| from <= after && fire.is_none_or(|f| f > after));
            if !fresh {
                *cached = Some((after, self.time_ctx.next_fire_after(&a.spec, after)));
            }
            if let Some((_, Some(f))) = *cached {
                next = Some(next.map_or(f, |n| n.min(f)));
            }
        }
        next
    }

    /// The next instant with a tick or a timer, after the current one's ticks.
    fn next_instant(&self) -> Option<Timestamp> {
        let tick = self
            .modules
            .iter()
            .filter(|m| !m.instances.is_empty())
            .filter_map(|m| m.next_at)
            .filter(|t| self.ticked_through.is_none_or(|d| *t > d))
            .min();
        let timer = self.timer_queue.first().map(|e| e.0);
        match (tick, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ticks (if `t` is a minute not yet ticked) and timer expiries at `t`.
    fn instant(&mut self, t: Timestamp) {
        let tick = t.as_second().rem_euclid(60) == 0
            && t.subsec_nanosecond() == 0
            && self.ticked_through.is_none_or(|d| t > d);
        if tick {
            self.ticked_through = Some(t);
        }
        for m in 0..self.modules.len() {
            if self.modules[m].next_at.is_some_and(|n| n <= t) {
                if tick {
                    for i in 0..self.modules[m].instances.len() {
                        let cause = self.new_chain();
                        self.cycle(m, i, t, &Input::Tick, cause);
                    }
                }
                // Always move on, so a stale tick time can never hold the clock back.
                let next = self.next_at_after(m, t);
                self.modules[m].next_at = next;
            }
        }
        // Timers due at or before `t`, earliest first (module, instance, timer order on ties).
        while let Some(&(due, m, i, timer)) = self.timer_queue.first() {
            if due > t {
                break;
            }
            let (m, i) = (m as usize, i as usize);
            let cause = self.new_chain();
            if let Some(r) = self.modules[m].timer_route[timer as usize] {
                let key = self.modules[m].instances[i].key().cloned();
                self.queue.push_back(Msg {
                    target: Target::Route(r),
                    instance: key,
                    value: None,
                    cause,
                    event: NO_EVENT,
                });
            }
            self.cycle(m, i, t, &Input::Timer(timer), cause);
        }
    }

    /// Starts a causal chain at the current instant (an input event, a tick, a timer).
    fn new_chain(&mut self) -> Cause {
        self.chains.push(0);
        Cause {
            chain: (self.chains.len() - 1) as u32,
            depth: 0,
            link: NO_LINK,
        }
    }

    /// Delivers queued messages until none is left, within the cascade limit.
    fn drain(&mut self) {
        let Some(now) = self.now else { return };
        'messages: while let Some(msg) = self.queue.pop_front() {
            let chain = msg.cause.chain as usize;
            if self.chains[chain] == u32::MAX {
                continue;
            }
            let subscribers: Vec<(usize, Slot)> = match msg.target {
                Target::Route(r) => self.routes[r].clone(),
                Target::Direct(m, s) => vec![(m, s)],
            };
            for (m, slot) in subscribers {
                let value = match &msg.value {
                    None => None,
                    Some(v) => match self.modules[m].program.coerce_input(slot, v) {
                        Ok(v) => Some(v),
                        Err(violation) => {
                            let module = self.modules[m].program.name.clone();
                            // The variable keeps its value; other subscribers still get it.
                            self.output.push(if msg.event == NO_EVENT {
                                SimOutput::CycleError {
                                    time: now,
                                    module,
                                    instance: msg.instance.clone(),
                                    message: format!("message rejected: {violation}"),
                                }
                            } else {
                                SimOutput::Refused {
                                    time: now,
                                    module: Some(module),
                                    instance: msg.instance.clone(),
                                    event: msg.event,
                                    message: violation.to_string(),
                                }
                            });
                            continue;
                        }
                    },
                };
                let targets: Vec<usize> = if self.modules[m].program.instance_key.is_some() {
                    match &msg.instance {
                        Some(k) => vec![self.instance_for(m, k)],
                        None => (0..self.modules[m].instances.len()).collect(),
                    }
                } else {
                    vec![0]
                };
                for i in targets {
                    if msg.cause.depth > 0 {
                        let fan_out = self.cascade_limit.saturating_mul(1_000);
                        if msg.cause.depth > self.cascade_limit || self.chains[chain] >= fan_out {
                            self.cascade_overflow(now, m, &msg);
                            continue 'messages;
                        }
                        self.chains[chain] += 1;
                    }
                    self.cycle(
                        m,
                        i,
                        now,
                        &Input::Message {
                            slot,
                            value: value.clone(),
                        },
                        msg.cause,
                    );
                }
            }
        }
    }

    /// Cuts the causal chain of `msg`: reports the modules that repeat in it (those that
    /// publish in the loop, and the receiver) and drops the chain's queued messages only.
    #[cold]
    fn cascade_overflow(&mut self, now: Timestamp, m: usize, msg: &Msg) {
        let mut counts = vec![0u32; self.modules.len()];
        counts[m] += 1;
        let mut link = msg.cause.link;
        while link != NO_LINK {
            let (module, parent) = self.links[link as usize];
            counts[module as usize] += 1;
            link = parent;
        }
        let repeating = counts.iter().any(|c| *c > 1);
        let mut names: Vec<&str> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| if repeating { **c > 1 } else { **c > 0 })
            .map(|(i, _)| &*self.modules[i].program.name)
            .collect();
        names.sort_unstable();
        let message = if msg.cause.depth > self.cascade_limit {
            format!(
                "cascade limit reached: a chain of more than {} cycles caused by publications at one instant; modules in the loop: {}",
                self.cascade_limit,
                names.join(", ")
            )
        } else {
            format!(
                "cascade limit reached: one input caused more than {} cycles at one instant; modules in the loop: {}",
                self.cascade_limit.saturating_mul(1_000),
                names.join(", ")
            )
        };
        self.output.push(SimOutput::CycleError {
            time: now,
            module: self.modules[m].program.name.clone(),
            instance: msg.instance.clone(),
            message,
        });
        let chain = msg.cause.chain;
        self.chains[chain as usize] = u32::MAX;
        self.queue.retain(|q| q.cause.chain != chain);
    }

    fn instance_for(&mut self, m: usize, key: &str) -> usize {
        let module = &mut self.modules[m];
        if let Some(&i) = module.by_key.get(key) {
            return i;
        }
        let key: Arc<str> = Arc::from(key);
        module
            .instances
            .push(Instance::new(&module.program, Some(key.clone())));
        module.by_key.insert(key, module.instances.len() - 1);
        let created = module.instances.len() - 1;
        self.mark_changed(m, created);
        let module = &mut self.modules[m];
        // The first instance of a module with ATs: its next tick may be stale (nothing
        // ticked it while it had no instance), so schedule it from now: this instant's
        // ticks came before its messages.
        if module.instances.len() == 1 {
            let after = self
                .now
                .or(self.ticked_through)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let next = self.next_at_after(m, after);
            self.modules[m].next_at = next;
        }
        self.modules[m].instances.len() - 1
    }

    /// Runs one cycle; `cause` is the position in its causal chain of the input it handles.
    fn cycle(&mut self, m: usize, i: usize, t: Timestamp, input: &Input, cause: Cause) {
        self.mark_changed(m, i);
        let has_timers = !self.modules[m].program.timers.is_empty();
        if has_timers {
            self.timer_scratch.clear();
            self.timer_scratch
                .extend_from_slice(self.modules[m].instances[i].timers());
        }
        let module = &mut self.modules[m];
        let result = module.instances[i].run_cycle(
            &module.program,
            &self.time_ctx,
            t,
            input,
            &self.limits,
            &mut self.out,
        );
        if has_timers {
            self.reindex_timers(m, i);
        }
        if self.out.trace.enabled {
            let trace = self.trace_of(m, i, t, input, result.as_ref().err());
            self.traces.push(trace);
        }
        let module = &mut self.modules[m];
        let name = module.program.name.clone();
        let key = module.instances[i].key().cloned();
        for text in self.out.logs() {
            self.output.push(SimOutput::Log {
                time: t,
                module: name.clone(),
                instance: key.clone(),
                text: text.to_string(),
            });
        }
        for text in &self.out.notes {
            self.output.push(SimOutput::Note {
                time: t,
                module: name.clone(),
                instance: key.clone(),
                text: text.clone(),
            });
        }
        if let Err(e) = result {
            self.output.push(SimOutput::CycleError {
                time: t,
                module: name,
                instance: key,
                message: e.to_string(),
            });
            return;
        }
        let mut link = NO_LINK;
        for p in &self.out.publications {
            let value = p.value.as_ref().map(|v| module.program.externalize(v));
            self.output.push(SimOutput::Publication {
                time: t,
                module: name.clone(),
                instance: key.clone(),
                variable: module.publish_name[p.slot as usize].clone(),
                value: value.clone(),
            });
            if let Some(r) = module.publish_route[p.slot as usize] {
                if link == NO_LINK {
                    self.links.push((m as u32, cause.link));
                    link = (self.links.len() - 1) as u32;
                }
                self.queue.push_back(Msg {
                    target: Target::Route(r),
                    instance: key.clone(),
                    value,
                    cause: Cause {
                        chain: cause.chain,
                        depth: cause.depth.saturating_add(1),
                        link,
                    },
                    event: NO_EVENT,
                });
            }
        }
    }
}

impl Simulator {
    #[cold]
    fn trace_of(
        &self,
        m: usize,
        i: usize,
        t: Timestamp,
        input: &Input,
        error: Option<&crate::eval::CycleError>,
    ) -> Trace {
        use crate::eval::StmtRef;
        let module = &self.modules[m];
        let p = &module.program;
        let input = match input {
            Input::Message { slot, value } => {
                let name = &p.var(*slot).name;
                match value {
                    Some(v) => format!("message {name} = {}", p.display_value(v)),
                    None => format!("message {name}"),
                }
            }
            Input::Tick => "minute tick".to_string(),
            Input::Timer(k) => format!("timer {} expired", p.timers[*k as usize].name),
        };
        let steps = self
            .out
            .trace
            .steps
            .iter()
            .map(|s| {
                let span = match s.stmt {
                    StmtRef::On(k) => p.ons[k as usize].span,
                    StmtRef::At(k) => p.ats[k as usize].span,
                    StmtRef::When(k) => p.whens[k as usize].span,
                };
                TraceLine {
                    statement: p.line_text(span).to_string(),
                    // Counted, not through a `LineIndex`: a trace is made per cycle.
                    line: 1 + p.source[..(span.start as usize).min(p.source.len())]
                        .bytes()
                        .filter(|b| *b == b'\n')
                        .count() as u32,
                    fired: s.failed.is_none() && error.is_none(),
                    failed: s.failed.map(|c| p.node_text(c).to_string()),
                }
            })
            .collect();
        let changes = self
            .out
            .trace
            .changes
            .iter()
            .map(|(slot, old, new)| {
                (
                    p.var(*slot).name.clone(),
                    p.externalize(old),
                    p.externalize(new),
                )
            })
            .collect();
        Trace {
            time: t,
            module: p.name.clone(),
            instance: module.instances[i].key().cloned(),
            input,
            steps,
            changes,
            error: error.map(|e| e.to_string()),
        }
    }
}

/// Whether a value could be given to a variable of this type at all (for front ends that
/// want to check input types early).
pub fn type_accepts(ty: Type, value: &Value) -> bool {
    matches!(
        (ty, value),
        (Type::Any, _)
            | (_, Value::Unset)
            | (Type::Bool, Value::Bool(_))
            | (Type::Number, Value::Number(_))
            | (Type::String | Type::Enum(_), Value::Str(_))
            | (Type::Time, Value::Time(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::compile;
    use jiff::tz::TimeZone;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn routes_topics_and_module_variables() {
        let a = compile("a.scc", "MODULE a\n  SUBSCRIBE x\n  PUBLISH topic.level AS level\n  PUBLISH out\n  ON x\n    THEN level = x\n    THEN out = x\n").unwrap();
        let b = compile("b.scc", "MODULE b\n  SUBSCRIBE topic.level AS l\n  SUBSCRIBE a.out AS o\n  PRIVATE sum = 0\n  ON l\n    THEN sum = sum + l\n  ON o\n    THEN sum = sum + o * 10\n").unwrap();
        let mut sim = Simulator::new(vec![a, b], TimeContext::new(TimeZone::UTC)).unwrap();
        let ev = SimEvent {
            time: t("2024-01-01T00:00:00Z"),
            module: None,
            variable: "x".into(),
            instance: None,
            value: Some(Value::number(2)),
        };
        let out = sim.run(std::slice::from_ref(&ev), None).unwrap();
        let names: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                SimOutput::Publication { variable, .. } => Some(&**variable),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["topic.level", "out"]);
        assert_eq!(sim.value("b", None, "sum"), Some(Value::number(22)));
        assert_eq!(sim.now(), Some(ev.time));
    }

    #[test]
    fn duplicate_modules_and_floor_minute() {
        let a = compile("a.scc", "MODULE a\n  SUBSCRIBE x\n").unwrap();
        let err = Simulator::new(vec![a.clone(), a], TimeContext::new(TimeZone::UTC)).unwrap_err();
        assert_eq!(err, LoadError::DuplicateModule { name: "a".into() });
        assert_eq!(
            floor_minute(t("2024-01-01T10:00:59Z")),
            t("2024-01-01T10:00:00Z")
        );
        assert_eq!(
            floor_minute(t("1969-12-31T23:59:30Z")),
            t("1969-12-31T23:59:00Z")
        );
    }

    #[test]
    fn traces_say_which_statement_fired_and_why_others_did_not() {
        let lamp = compile(
            "lamp.scc",
            "MODULE lamp\n  SUBSCRIBE press\n  PUBLISH state {off, on} = off\n  ON press\n    AND state == on\n    THEN state = off\n  ON press\n    THEN state = on\n",
        )
        .unwrap();
        let mut sim = Simulator::new(vec![lamp], TimeContext::new(TimeZone::UTC)).unwrap();
        sim.set_tracing(true);
        let ev = SimEvent {
            time: t("2024-01-01T00:00:00Z"),
            module: None,
            variable: "press".into(),
            instance: None,
            value: None,
        };
        sim.run(std::slice::from_ref(&ev), None).unwrap();
        let traces = sim.take_traces();
        assert_eq!(traces.len(), 1);
        let tr = &traces[0];
        assert_eq!(tr.input, "message press");
        assert_eq!(
            tr.steps,
            vec![
                TraceLine {
                    statement: "ON press".into(),
                    line: 4,
                    fired: false,
                    failed: Some("state == on".into()),
                },
                TraceLine {
                    statement: "ON press".into(),
                    line: 7,
                    fired: true,
                    failed: None,
                },
            ]
        );
        assert_eq!(
            tr.changes,
            vec![(
                Arc::from("state"),
                Value::string("off"),
                Value::string("on")
            )]
        );
        assert_eq!(tr.error, None);
    }

    #[test]
    fn sunrise_without_a_location_is_a_load_error() {
        let a = compile(
            "a.scc",
            "MODULE a\n  PUBLISH x = 0\n  AT sunrise\n    THEN x = 1\n",
        )
        .unwrap();
        let err = Simulator::new(vec![a], TimeContext::new(TimeZone::UTC)).unwrap_err();
        assert!(
            matches!(err, LoadError::Time { ref module, .. } if module == "a"),
            "{err}"
        );
    }
}
