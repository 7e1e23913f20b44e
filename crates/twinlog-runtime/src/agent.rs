//! The module agent of one mode: recovers from the `state` topic, then processes the
//! `inputs` topic one record at a time with the language's [`Simulator`] (the same engine as
//! `twinlog module test`: one semantics), writing outputs and snapshots back to the bus.
//!
//! **Exactly once.** The agent reads inputs in batches. For each batch it appends, in this
//! order, (1) the outputs of its inputs to `out`, each stamped with its input offset, as one
//! `send_batch`, then (2) the latest snapshot of every instance the batch changed, followed by
//! the [`AgentRecord`] (last input offset, clock, modules), as one `send_batch` to the
//! single-partition `state` topic. A `send_batch` to one partition is one log batch: it is
//! on the log whole or not at all (a torn tail is truncated on recovery), so the state topic
//! always holds a consistent cut. On start the agent restores that cut and replays inputs
//! after its offset; outputs of replayed inputs at or below the last input offset found on
//! `out` were already written and are not written again. Replay is deterministic (time comes
//! from the inputs), so what it recomputes is what was lost. Nothing acknowledged is lost
//! (inputs are acknowledged only once durable), nothing applies or publishes twice.
//!
//! **One loop.** Inputs, queries and real-clock wake-ups are one `select!` over a closed set
//! of sources: the agent never runs two things at once, and a query sees the state between
//! two inputs.
//!
//! FIXME(scale-out): one agent per mode reads the whole single-partition `inputs` topic and
//! holds every module; partitioned state topics owned through consumer-group assignment
//! (DESIGN.md §5) come with the Kafka bus. Nothing here assumes the embedded log.

use crate::codec::{
    AGENT_KEY, AgentRecord, Counters, DecodeError, DeployedModule, InputRecord, Snapshot,
    SourceRecord, snapshot_key,
};
use crate::error::RuntimeError;
use crate::json::{self, EventIn};
use crate::topics::ModeTopics;
use crate::view::{ClockKind, ClockView, InstanceView, ModuleView, StatsView, VarView};
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use twinlog_bus::types::{ProducerRecord, StartAt, TopicPartition, TopicSpec};
use twinlog_bus::{Bus, BusError};
use twinlog_core::{Record, StoredRecord};
use twinlog_lang::eval::{Instance, InstanceState};
use twinlog_lang::ir::{Program, VarKind};
use twinlog_lang::sim::{InputError, SimEvent, SimOutput, Simulator};
use twinlog_lang::time::TimeContext;

/// Inputs read and processed per batch: big enough to amortise the two appends of a batch
/// over many inputs, small enough that a batch's outputs stay a few MiB.
const MAX_BATCH: usize = 1024;

/// Records read per call while recovering.
const RECOVERY_CHUNK: usize = 4096;

/// Traces kept per mode: one record per cycle adds up, and they are for diagnosis, not the
/// truth (that is the inputs), so the oldest go once a mode's trace topic passes 256 MiB.
const TRACE_RETENTION_BYTES: u64 = 256 << 20;

/// What the [`crate::Runtime`] handle asks of the agent.
#[derive(Debug)]
pub(crate) enum Command {
    State {
        module: String,
        instance: Option<String>,
        reply: oneshot::Sender<Result<Vec<InstanceView>, RuntimeError>>,
    },
    Modules {
        reply: oneshot::Sender<Vec<ModuleView>>,
    },
    Clock {
        reply: oneshot::Sender<ClockView>,
    },
    Stats {
        reply: oneshot::Sender<StatsView>,
    },
    /// Stop after the batch in progress.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// A deployed module with its compiled program.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub info: DeployedModule,
    pub file: String,
    pub program: Program,
}

pub(crate) struct Agent {
    bus: Arc<dyn Bus>,
    topics: ModeTopics,
    time_ctx: TimeContext,
    clock_kind: ClockKind,
    sim: Simulator,
    /// Sorted by name.
    modules: Vec<Loaded>,
    /// The last input processed.
    last_input: Option<u64>,
    /// The next input offset to process.
    next: u64,
    /// The last input whose outputs are on `out` (found on recovery).
    out_through: Option<u64>,
    /// The same for `trace`.
    trace_through: Option<u64>,
    counters: Counters,
    /// Instances of undeployed modules whose snapshots must be deleted with the next batch.
    tombstones: Vec<String>,
    /// A module just deployed: its instances are snapshotted under the new version with the
    /// batch (the other modules' instances are unchanged by a deploy).
    resnapshot: Option<String>,
    /// A real-clock tick was sent and not yet processed.
    tick_pending: bool,
    /// Whether cycles are traced (not in a dry replay).
    tracing: bool,
    processed: watch::Sender<u64>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("topics", &self.topics)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

fn tp(topic: &twinlog_core::TopicName) -> TopicPartition {
    TopicPartition::new(topic.clone(), 0)
}

fn jiff_ts(t: twinlog_core::Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_micros()).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Creates the mode's topics that do not exist yet.
pub(crate) async fn ensure_topics(bus: &dyn Bus, topics: &ModeTopics) -> Result<(), BusError> {
    let specs = [
        (&topics.inputs, TopicSpec::new(1)),
        (&topics.sources, TopicSpec::new(1)),
        (&topics.state, TopicSpec::new(1).compacted()),
        (&topics.out, TopicSpec::new(1)),
        (
            &topics.trace,
            TopicSpec::new(1).retention_bytes(TRACE_RETENTION_BYTES),
        ),
    ];
    for (name, spec) in specs {
        match bus.create_topic(name, spec).await {
            Ok(()) | Err(BusError::TopicExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Every record of a single-partition topic from its start (what recovery and the audit
/// trail read).
pub(crate) async fn read_all(
    bus: &dyn Bus,
    topic: &twinlog_core::TopicName,
) -> Result<Vec<StoredRecord>, BusError> {
    let partition = tp(topic);
    let desc = bus.describe_topic(topic).await?;
    let end = desc.partitions.first().map_or(0, |p| p.end_offset);
    let mut from = desc.partitions.first().map_or(0, |p| p.start_offset);
    let mut out = Vec::new();
    while from < end {
        let chunk = bus.read(&partition, from, RECOVERY_CHUNK).await?;
        let Some(last) = chunk.last() else { break };
        from = last.offset + 1;
        out.extend(chunk);
    }
    Ok(out)
}

/// What the `state` topic holds: the agent record, the modules it names (compiled from
/// their sources), and the latest value of every other key (snapshots, tombstones as `None`).
pub(crate) struct Cut {
    pub agent: AgentRecord,
    pub modules: Vec<Loaded>,
    pub snapshots: HashMap<String, Option<Bytes>>,
}

/// Reads the last consistent cut of a mode from its `state` topic.
pub(crate) async fn read_cut(bus: &dyn Bus, topics: &ModeTopics) -> Result<Cut, RuntimeError> {
    // The compacted state topic: the latest record per key wins (the whole topic is at
    // most one snapshot per instance plus what compaction has not reached yet).
    let mut latest: HashMap<String, Option<Bytes>> = HashMap::new();
    for rec in read_all(bus, &topics.state).await? {
        let Some(key) = rec.record.key.as_deref() else {
            continue;
        };
        latest.insert(
            String::from_utf8_lossy(key).into_owned(),
            rec.record.value.clone(),
        );
    }
    let agent = match latest.remove(AGENT_KEY).flatten() {
        Some(v) => AgentRecord::decode(&v)?,
        None => AgentRecord::default(),
    };
    let mut modules = Vec::new();
    for m in &agent.modules {
        let src = read_source(bus, topics, m.source_offset).await?;
        let text = src.source.unwrap_or_default();
        let program = twinlog_lang::ir::compile(&src.file, &text).map_err(|d| {
                RuntimeError::Recovery(format!(
                    "module `{}` version {} no longer compiles ({} diagnostics); this build's language differs from the one that deployed it",
                    m.name,
                    m.version,
                    d.len()
                ))
            })?;
        modules.push(Loaded {
            info: m.clone(),
            file: src.file,
            program,
        });
    }
    Ok(Cut {
        agent,
        modules,
        snapshots: latest,
    })
}

/// Reads one source version.
pub(crate) async fn read_source(
    bus: &dyn Bus,
    topics: &ModeTopics,
    offset: u64,
) -> Result<SourceRecord, RuntimeError> {
    let recs = bus.read(&tp(&topics.sources), offset, 1).await?;
    let rec = recs
        .into_iter()
        .find(|r| r.offset == offset)
        .ok_or(RuntimeError::MissingSource { offset })?;
    Ok(SourceRecord::decode(
        rec.record.value.as_deref().unwrap_or_default(),
    )?)
}

impl Agent {
    /// Restores the agent from the mode's `state` topic (or starts fresh).
    pub(crate) async fn recover(
        bus: Arc<dyn Bus>,
        topics: ModeTopics,
        time_ctx: TimeContext,
        clock_kind: ClockKind,
        processed: watch::Sender<u64>,
    ) -> Result<Agent, RuntimeError> {
        ensure_topics(&*bus, &topics).await?;
        let Cut {
            agent,
            modules,
            snapshots: latest,
        } = read_cut(&*bus, &topics).await?;
        let sim = Simulator::new(
            modules.iter().map(|m| m.program.clone()).collect(),
            time_ctx.clone(),
        )
        .map_err(|e| RuntimeError::Recovery(e.to_string()))?;
        let inputs_start = bus
            .describe_topic(&topics.inputs)
            .await?
            .partitions
            .first()
            .map_or(0, |p| p.start_offset);
        let out_through = last_input_on(&*bus, &topics.out).await?;
        let trace_through = last_input_on(&*bus, &topics.trace).await?;
        let next = agent.input.map_or(inputs_start, |i| i + 1);
        let mut me = Agent {
            bus,
            topics,
            time_ctx,
            clock_kind,
            sim,
            modules,
            last_input: agent.input,
            next,
            out_through,
            trace_through,
            counters: agent.counters,
            tombstones: Vec::new(),
            resnapshot: None,
            tick_pending: false,
            tracing: true,
            processed,
        };
        me.sim.set_tracing(true);
        for (key, value) in latest {
            let (Some(v), true) = (value, key.starts_with("m/")) else {
                continue;
            };
            let snap = Snapshot::decode(&v)?;
            if let Some(m) = me.modules.iter().find(|m| m.info.name == snap.module) {
                let (inst, _) = restore(&m.program, &snap);
                me.sim.restore_instance(&snap.module, inst);
            }
        }
        me.sim.restore_clock(agent.clock);
        me.sim.take_changed();
        me.processed.send_replace(me.next);
        tracing::info!(
            mode = %me.topics.inputs,
            next = me.next,
            modules = me.modules.len(),
            "module agent recovered"
        );
        Ok(me)
    }

    /// A fresh agent that writes nothing (for [`replay`]).
    fn dry(bus: Arc<dyn Bus>, topics: ModeTopics, time_ctx: TimeContext) -> Agent {
        let sim = Simulator::new(Vec::new(), time_ctx.clone()).expect("no modules, no conflict");
        Agent {
            bus,
            topics,
            time_ctx,
            clock_kind: ClockKind::Test,
            sim,
            modules: Vec::new(),
            last_input: None,
            next: 0,
            out_through: None,
            trace_through: None,
            counters: Counters::default(),
            tombstones: Vec::new(),
            resnapshot: None,
            tick_pending: false,
            tracing: false,
            processed: watch::channel(0).0,
        }
    }

    /// Processes inputs until told to stop (or the bus fails).
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Command>) -> Result<(), RuntimeError> {
        let mut reader = self
            .bus
            .reader(&tp(&self.topics.inputs), StartAt::Offset(self.next))
            .await?;
        if self.clock_kind == ClockKind::Real {
            // Catch up on what came due while the server was down, before newer inputs.
            self.send_tick().await?;
        }
        loop {
            let wake = match self.clock_kind {
                ClockKind::Real if !self.tick_pending => self.sim.next_due().map(|due| {
                    let wait = due.duration_since(Timestamp::now());
                    std::time::Duration::try_from(wait).unwrap_or_default()
                }),
                _ => None,
            };
            tokio::select! {
                biased;
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown { done }) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(cmd) => self.answer(cmd),
                },
                batch = reader.next_batch(MAX_BATCH) => self.process(batch?).await?,
                () = tokio::time::sleep(wake.unwrap_or_default()), if wake.is_some() => {
                    self.send_tick().await?;
                }
            }
        }
        Ok(())
    }

    async fn send_tick(&mut self) -> Result<(), RuntimeError> {
        let input = InputRecord::Clock {
            to: Some(Timestamp::now()),
            by: None,
        };
        self.tick_pending = true;
        send_input(&*self.bus, &self.topics, &input).await?;
        Ok(())
    }

    fn answer(&mut self, cmd: Command) {
        match cmd {
            Command::State {
                module,
                instance,
                reply,
            } => {
                let _ = reply.send(self.state(&module, instance.as_deref()));
            }
            Command::Modules { reply } => {
                let views = self
                    .modules
                    .iter()
                    .map(|m| ModuleView {
                        name: m.info.name.clone(),
                        version: m.info.version,
                        file: m.file.clone(),
                        deployed_at: m.info.deployed_at,
                        instance_key: m.program.instance_key.as_deref().map(str::to_string),
                        instances: self.sim.instances(&m.info.name).map_or(0, <[_]>::len),
                        summary: m.program.summary(),
                    })
                    .collect();
                let _ = reply.send(views);
            }
            Command::Clock { reply } => {
                let _ = reply.send(ClockView {
                    kind: self.clock_kind,
                    now: self.sim.now(),
                    next_due: self.sim.next_due(),
                });
            }
            Command::Stats { reply } => {
                let _ = reply.send(StatsView {
                    counters: self.counters,
                    last_input: self.last_input,
                    modules: self.modules.len(),
                    instances: self
                        .modules
                        .iter()
                        .map(|m| self.sim.instances(&m.info.name).map_or(0, <[_]>::len))
                        .sum(),
                });
            }
            Command::Shutdown { .. } => {}
        }
    }

    fn state(
        &self,
        module: &str,
        instance: Option<&str>,
    ) -> Result<Vec<InstanceView>, RuntimeError> {
        let m = self
            .modules
            .iter()
            .find(|m| m.info.name == module)
            .ok_or_else(|| RuntimeError::UnknownModule(module.to_string()))?;
        let instances = self.sim.instances(module).unwrap_or_default();
        let mut views: Vec<InstanceView> = instances
            .iter()
            .filter(|i| instance.is_none() || i.key().map(|k| &**k) == instance)
            .map(|i| instance_view(&m.program, i, m.info.version))
            .collect();
        // By key, so the answer does not depend on the order instances were restored in.
        views.sort_by(|a, b| a.instance.cmp(&b.instance));
        if let (Some(key), true) = (instance, views.is_empty()) {
            return Err(RuntimeError::UnknownInstance {
                module: module.to_string(),
                instance: key.to_string(),
            });
        }
        Ok(views)
    }

    /// Processes one batch of inputs and makes its outcome durable (see the module docs).
    async fn process(&mut self, batch: Vec<StoredRecord>) -> Result<(), RuntimeError> {
        let mut outs: Vec<ProducerRecord> = Vec::new();
        let mut traces: Vec<ProducerRecord> = Vec::new();
        let mut snaps: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut snap_index: HashMap<String, usize> = HashMap::new();
        let mut stamp = twinlog_core::Timestamp::now();
        let mut any = false;
        for rec in batch {
            if rec.offset < self.next {
                continue;
            }
            any = true;
            stamp = rec.record.timestamp;
            let produced = self.apply(&rec).await?;
            if self.out_through.is_none_or(|t| rec.offset > t) {
                for (key, value) in produced {
                    outs.push(ProducerRecord::to_partition(
                        Record::keyed(stamp, key, value.to_string())
                            .with_header("in", rec.offset.to_string()),
                        0,
                    ));
                }
            }
            let tz = self.time_ctx.time_zone().clone();
            for tr in self.sim.take_traces() {
                if self.trace_through.is_none_or(|t| rec.offset > t) {
                    let version = self
                        .modules
                        .iter()
                        .find(|m| *m.info.name == *tr.module)
                        .map_or(0, |m| m.info.version);
                    traces.push(ProducerRecord::to_partition(
                        Record::keyed(
                            stamp,
                            tr.module.to_string(),
                            encode_trace(&tr, version, rec.offset, &tz),
                        )
                        .with_header("in", rec.offset.to_string()),
                        0,
                    ));
                }
            }
            let mut put = |key: String, value: Option<Vec<u8>>| match snap_index.get(&key) {
                Some(&i) => snaps[i].1 = value,
                None => {
                    snap_index.insert(key.clone(), snaps.len());
                    snaps.push((key, value));
                }
            };
            for key in self.tombstones.drain(..) {
                put(key, None);
            }
            // A linear scan: a mode has few modules, and this runs per changed instance.
            let modules = &self.modules;
            let version_of = |name: &str| {
                modules
                    .iter()
                    .find(|m| *m.info.name == *name)
                    .map_or(0, |m| m.info.version)
            };
            for (program, inst) in self.sim.take_changed() {
                let version = version_of(&program.name);
                let snap = Snapshot::of(program, inst, version, rec.offset);
                put(snap.key(), Some(snap.encode()));
            }
            if let Some(module) = self.resnapshot.take()
                && let Some(m) = self.modules.iter().find(|m| m.info.name == module)
            {
                for inst in self.sim.instances(&module).unwrap_or_default() {
                    let snap = Snapshot::of(&m.program, inst, m.info.version, rec.offset);
                    put(snap.key(), Some(snap.encode()));
                }
            }
            self.counters.inputs += 1;
            self.last_input = Some(rec.offset);
            self.next = rec.offset + 1;
        }
        if !any {
            return Ok(());
        }
        let agent = AgentRecord {
            input: self.last_input,
            clock: self.sim.clock_state(),
            modules: self.modules.iter().map(|m| m.info.clone()).collect(),
            counters: self.counters,
        };
        snaps.push((AGENT_KEY.to_string(), Some(agent.encode())));
        if !outs.is_empty() {
            self.bus.send_batch(&self.topics.out, outs).await?;
            self.out_through = self.last_input;
        }
        if !traces.is_empty() {
            self.bus.send_batch(&self.topics.trace, traces).await?;
            self.trace_through = self.last_input;
        }
        let records: Vec<ProducerRecord> = snaps
            .into_iter()
            .map(|(k, v)| {
                let record = match v {
                    Some(v) => Record::keyed(stamp, k, v),
                    None => Record::tombstone(stamp, k),
                };
                ProducerRecord::to_partition(record, 0)
            })
            .collect();
        self.bus.send_batch(&self.topics.state, records).await?;
        self.processed.send_replace(self.next);
        Ok(())
    }

    /// Applies one input to the simulator; returns the output records it made, as
    /// (key, JSON), in order.
    async fn apply(&mut self, rec: &StoredRecord) -> Result<Vec<(String, Json)>, RuntimeError> {
        let received = jiff_ts(rec.record.timestamp);
        let tz = self.time_ctx.time_zone().clone();
        let input = match InputRecord::decode(rec.record.value.as_deref().unwrap_or_default()) {
            Ok(i) => i,
            Err(e) => {
                self.counters.malformed += 1;
                tracing::warn!(offset = rec.offset, "skipping an input: {e}");
                return Ok(vec![(
                    "~malformed".to_string(),
                    json!({"time": json::rfc3339(received, &tz), "error": e.to_string(), "input": rec.offset}),
                )]);
            }
        };
        let mut produced = Vec::new();
        match input {
            InputRecord::Event(e) => {
                self.counters.events += 1;
                let mut time = e.time.unwrap_or(self.sim.now().unwrap_or(received));
                if let Some(now) = self.sim.now()
                    && time < now
                {
                    self.counters.late += 1;
                    time = now;
                }
                let event = SimEvent {
                    time,
                    module: e.module.clone(),
                    variable: e.variable.clone(),
                    instance: e.instance.clone(),
                    value: e.value.clone(),
                };
                match self.sim.push(rec.offset as usize, &event) {
                    Ok(()) => self.sim.settle(),
                    Err(err) => {
                        // Unrouted (no module takes it): kept and counted, never lost. A value
                        // a subscriber refuses is a `Refused` output instead (take_outputs).
                        self.sim.settle();
                        produced.extend(self.take_outputs(rec.offset));
                        self.counters.dead_letters += 1;
                        produced.push((
                            "~dead-letter".to_string(),
                            dead_letter(&e, time, &err, rec.offset, &tz),
                        ));
                        return Ok(produced);
                    }
                }
            }
            InputRecord::Clock { to, by } => {
                self.tick_pending = false;
                let from = self.sim.now().unwrap_or(received);
                let target = match (to, by) {
                    (Some(t), _) => Some(t),
                    (None, Some(d)) => from.checked_add(d).ok(),
                    (None, None) => None,
                };
                if let Some(t) = target {
                    self.sim.run_until(t);
                }
            }
            InputRecord::Deploy {
                module,
                version,
                source_offset,
            } => {
                let now = self.sim.now().unwrap_or(received);
                match self.deploy(&module, version, source_offset, now).await {
                    Ok(notes) => produced.push((
                        module.clone(),
                        json!({"time": json::rfc3339(now, &tz), "module": module, "deployed": version, "notes": notes, "input": rec.offset}),
                    )),
                    Err(e) => produced.push((
                        module.clone(),
                        json!({"time": json::rfc3339(now, &tz), "module": module, "error": format!("version {version} was not deployed: {e}"), "input": rec.offset}),
                    )),
                }
            }
            InputRecord::Undeploy { module } => {
                let now = self.sim.now().unwrap_or(received);
                if self.modules.iter().any(|m| m.info.name == module) {
                    for inst in self.sim.instances(&module).unwrap_or_default() {
                        self.tombstones
                            .push(snapshot_key(&module, inst.key().map(|k| &**k)));
                    }
                    let mut modules = self.modules.clone();
                    modules.retain(|m| m.info.name != module);
                    self.rebuild(modules)?;
                    produced.push((
                        module.clone(),
                        json!({"time": json::rfc3339(now, &tz), "module": module, "undeployed": true, "input": rec.offset}),
                    ));
                }
            }
        }
        produced.extend(self.take_outputs(rec.offset));
        Ok(produced)
    }

    fn take_outputs(&mut self, input: u64) -> Vec<(String, Json)> {
        let tz = self.time_ctx.time_zone().clone();
        self.sim
            .take_output()
            .into_iter()
            .map(|o| {
                match &o {
                    SimOutput::Publication { .. } => self.counters.publications += 1,
                    SimOutput::CycleError { .. } => self.counters.cycle_errors += 1,
                    // Kept on the out topic with its input offset: nothing is lost.
                    SimOutput::Refused { .. } => self.counters.dead_letters += 1,
                    SimOutput::Log { .. } | SimOutput::Note { .. } => {}
                }
                let key = o
                    .origin()
                    .1
                    .map_or_else(|| "~dead-letter".to_string(), |m| m.to_string());
                let mut j = json::output_json(&o, &tz);
                if let Json::Object(m) = &mut j {
                    m.insert("input".into(), json!(input));
                }
                (key, j)
            })
            .collect()
    }

    /// Loads a new source version of a module between two inputs; returns what changed in
    /// its variables (for the output record).
    async fn deploy(
        &mut self,
        module: &str,
        version: u32,
        source_offset: u64,
        now: Timestamp,
    ) -> Result<Vec<String>, RuntimeError> {
        let src = read_source(&*self.bus, &self.topics, source_offset).await?;
        let text = src.source.clone().unwrap_or_default();
        let program = twinlog_lang::ir::compile(&src.file, &text).map_err(|d| {
            RuntimeError::Recovery(format!(
                "the source does not compile ({} diagnostics)",
                d.len()
            ))
        })?;
        if *program.name != *module {
            return Err(RuntimeError::Recovery(format!(
                "the source declares MODULE {}, not {module}",
                program.name
            )));
        }
        let mut modules = self.modules.clone();
        let loaded = Loaded {
            info: DeployedModule {
                name: module.to_string(),
                version,
                source_offset,
                deployed_at: now,
            },
            file: src.file,
            program,
        };
        match modules.iter_mut().find(|m| m.info.name == module) {
            Some(m) => *m = loaded,
            None => modules.push(loaded),
        }
        modules.sort_by(|a, b| a.info.name.cmp(&b.info.name));
        let notes = self.rebuild(modules)?;
        Ok(notes
            .into_iter()
            .filter(|(m, _)| m == module)
            .map(|(_, n)| n)
            .collect())
    }

    /// Replaces the simulator by one with `modules`, keeping every instance's state (by
    /// variable name) and the clock. Returns (module, note) for each variable that was added,
    /// dropped or reset.
    fn rebuild(&mut self, modules: Vec<Loaded>) -> Result<Vec<(String, String)>, RuntimeError> {
        let mut saved = Vec::new();
        for m in &self.modules {
            for inst in self.sim.instances(&m.info.name).unwrap_or_default() {
                saved.push(Snapshot::of(&m.program, inst, m.info.version, 0));
            }
        }
        let clock = self.sim.clock_state();
        let mut sim = Simulator::new(
            modules.iter().map(|m| m.program.clone()).collect(),
            self.time_ctx.clone(),
        )
        .map_err(|e| RuntimeError::Recovery(e.to_string()))?;
        sim.set_tracing(self.tracing);
        let mut notes = Vec::new();
        for snap in saved {
            let Some(m) = modules.iter().find(|m| m.info.name == snap.module) else {
                continue;
            };
            let (inst, n) = restore(&m.program, &snap);
            for n in n {
                let note = (snap.module.clone(), n);
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
            sim.restore_instance(&snap.module, inst);
        }
        sim.restore_clock(clock);
        // Restoring marked every instance changed; none is (a deployed module's instances
        // are snapshotted through `resnapshot`).
        sim.take_changed();
        self.sim = sim;
        self.modules = modules;
        Ok(notes)
    }
}

/// What [`replay`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub inputs: u64,
    pub events: u64,
    pub outputs: u64,
    pub instances: usize,
}

/// Rebuilds a mode's module state from its whole `inputs` topic in a fresh simulator,
/// writing nothing: the same code path as the agent's, so it makes the same decisions
/// (what-if runs and `twinlog bench replay` use it).
pub async fn replay(
    bus: Arc<dyn Bus>,
    topics: ModeTopics,
    time_ctx: TimeContext,
) -> Result<ReplayReport, RuntimeError> {
    let mut agent = Agent::dry(bus.clone(), topics.clone(), time_ctx);
    let partition = tp(&topics.inputs);
    let end = bus
        .describe_topic(&topics.inputs)
        .await?
        .partitions
        .first()
        .map_or(0, |p| p.end_offset);
    let (mut from, mut outputs) = (0, 0u64);
    while from < end {
        let chunk = bus.read(&partition, from, RECOVERY_CHUNK).await?;
        let Some(last) = chunk.last() else { break };
        from = last.offset + 1;
        for rec in &chunk {
            outputs += agent.apply(rec).await?.len() as u64;
            agent.counters.inputs += 1;
            agent.sim.take_changed();
        }
    }
    let instances = agent
        .modules
        .iter()
        .map(|m| agent.sim.instances(&m.info.name).map_or(0, <[_]>::len))
        .sum();
    Ok(ReplayReport {
        inputs: agent.counters.inputs,
        events: agent.counters.events,
        outputs,
        instances,
    })
}

/// The input offset in the `in` header of a topic's last record, if any.
async fn last_input_on(
    bus: &dyn Bus,
    topic: &twinlog_core::TopicName,
) -> Result<Option<u64>, BusError> {
    let desc = bus.describe_topic(topic).await?;
    match desc.partitions.first() {
        Some(p) if p.end_offset > p.start_offset => {
            let last = bus.read(&tp(topic), p.end_offset - 1, 1).await?;
            Ok(last.first().and_then(input_header))
        }
        _ => Ok(None),
    }
}

/// A cycle's trace as the `trace` topic holds it (JSON, see `docs/API.md`), written by
/// hand: one is made per cycle, so it must cost little next to the cycle.
fn encode_trace(
    tr: &twinlog_lang::sim::Trace,
    version: u32,
    input: u64,
    tz: &jiff::tz::TimeZone,
) -> Vec<u8> {
    use std::io::Write;
    fn s(out: &mut Vec<u8>, text: &str) {
        serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
    }
    fn v(out: &mut Vec<u8>, value: &twinlog_lang::value::Value, tz: &jiff::tz::TimeZone) {
        serde_json::to_writer(&mut *out, &json::value_to_json(value, tz))
            .expect("writing to a Vec cannot fail");
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"time\":");
    s(&mut out, &json::rfc3339(tr.time, tz));
    out.extend_from_slice(b",\"module\":");
    s(&mut out, &tr.module);
    out.extend_from_slice(b",\"instance\":");
    match &tr.instance {
        Some(i) => s(&mut out, i),
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(out, ",\"version\":{version},\"input\":");
    s(&mut out, &tr.input);
    out.extend_from_slice(b",\"statements\":[");
    for (n, st) in tr.steps.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"statement\":");
        s(&mut out, &st.statement);
        let _ = write!(
            out,
            ",\"line\":{},\"fired\":{},\"failed\":",
            st.line, st.fired
        );
        match &st.failed {
            Some(f) => s(&mut out, f),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"changes\":[");
    for (n, (name, old, new)) in tr.changes.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"variable\":");
        s(&mut out, name);
        out.extend_from_slice(b",\"old\":");
        v(&mut out, old, tz);
        out.extend_from_slice(b",\"new\":");
        v(&mut out, new, tz);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"error\":");
    match &tr.error {
        Some(e) => s(&mut out, e),
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(out, ",\"offset\":{input}}}");
    out
}

/// The offset of the input an `out` record came from (its `in` header).
fn input_header(rec: &StoredRecord) -> Option<u64> {
    rec.record
        .headers
        .iter()
        .find(|h| h.key == "in")
        .and_then(|h| std::str::from_utf8(&h.value).ok()?.parse().ok())
}

/// Appends one input record; resolves once it is durable.
pub(crate) async fn send_input(
    bus: &dyn Bus,
    topics: &ModeTopics,
    input: &InputRecord,
) -> Result<twinlog_bus::types::Delivery, BusError> {
    let record =
        Record::new(twinlog_core::Timestamp::now(), input.encode()).with_header("k", input.kind());
    bus.send(&topics.inputs, ProducerRecord::to_partition(record, 0))
        .await
}

/// An instance of `program` from a snapshot, by variable and timer name (so any version of
/// the module can take it): variables that still exist keep value and version, new ones
/// start at their initial value, values that no longer fit are reset; timers that still
/// exist keep their deadline. Returns notes on what did not carry over.
pub(crate) fn restore(program: &Program, snap: &Snapshot) -> (Instance, Vec<String>) {
    let mut notes = Vec::new();
    let key: Option<Arc<str>> = snap.instance.as_deref().map(Arc::from);
    let fresh = Instance::new(program, key.clone());
    let mut state = fresh.state();
    for (slot, var) in program.vars.iter().enumerate() {
        match snap.vars.iter().find(|v| *v.name == *var.name) {
            Some(v) => match program.coerce_input(slot as u16, &v.value) {
                Ok(value) => {
                    state.values[slot] = value;
                    state.versions[slot] = v.version;
                    state.stamps[slot] = v.changed;
                }
                Err(violation) => notes.push(format!(
                    "`{}` reset to its initial value: the saved value no longer fits ({violation})",
                    var.name
                )),
            },
            None if var.kind != VarKind::Key => {
                notes.push(format!(
                    "`{}` is new: starts at its initial value",
                    var.name
                ));
            }
            None => {}
        }
    }
    for v in &snap.vars {
        if program.slot(&v.name).is_none() {
            notes.push(format!("`{}` was removed: its value is dropped", v.name));
        }
    }
    for (i, t) in program.timers.iter().enumerate() {
        state.timers[i] = snap
            .timers
            .iter()
            .find(|(n, _)| *n == *t.name)
            .map(|(_, d)| *d);
    }
    for (name, _) in &snap.timers {
        if program.timer(name).is_none() {
            notes.push(format!("timer `{name}` was removed: it will not fire"));
        }
    }
    let inst = Instance::from_state(program, InstanceState { key, ..state })
        .expect("a state built from the program fits it");
    (inst, notes)
}

pub(crate) fn instance_view(program: &Program, inst: &Instance, version: u32) -> InstanceView {
    let state = inst.state();
    InstanceView {
        module: program.name.to_string(),
        instance: inst.key().map(|k| k.to_string()),
        source_version: version,
        vars: program
            .vars
            .iter()
            .enumerate()
            .map(|(slot, v)| VarView {
                name: v.name.to_string(),
                kind: match v.kind {
                    VarKind::Subscribe => "subscribe",
                    VarKind::Publish => "publish",
                    VarKind::Private => "private",
                    VarKind::Key => "key",
                },
                value: program.externalize(&state.values[slot]),
                version: state.versions[slot],
                changed: state.stamps[slot],
            })
            .collect(),
        timers: program
            .timers
            .iter()
            .zip(&state.timers)
            .filter_map(|(t, d)| d.map(|d| (t.name.to_string(), d)))
            .collect(),
    }
}

fn dead_letter(
    e: &EventIn,
    time: Timestamp,
    err: &InputError,
    input: u64,
    tz: &jiff::tz::TimeZone,
) -> Json {
    let mut event = serde_json::Map::new();
    if let Some(m) = &e.module {
        event.insert("module".into(), json!(m));
    }
    event.insert("variable".into(), json!(e.variable));
    if let Some(i) = &e.instance {
        event.insert("instance".into(), json!(i));
    }
    if let Some(v) = &e.value {
        event.insert("value".into(), json::value_to_json(v, tz));
    }
    json!({
        "time": json::rfc3339(time, tz),
        "dead_letter": err.to_string(),
        "event": event,
        "input": input,
    })
}

impl From<DecodeError> for RuntimeError {
    fn from(e: DecodeError) -> Self {
        RuntimeError::Decode(e)
    }
}
