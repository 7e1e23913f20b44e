//! [`Runtime`]: the handle to one mode's module agent. It writes inputs to the bus (an
//! input is acknowledged once durable, before the agent has processed it) and asks the agent
//! for state. Reads are read-your-writes: a query first waits until the agent has processed
//! every input that was on the log when the query came in.

use crate::agent::{Agent, Command, read_all, send_input};
use crate::codec::{InputRecord, SourceRecord};
use crate::error::RuntimeError;
use crate::json::EventIn;
use crate::topics::{ModeName, ModeTopics};
use crate::view::{
    Accepted, ClockKind, ClockView, Deployed, InstanceView, ModuleView, SourceVersion, StatsView,
};
use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use twinlog_bus::Bus;
use twinlog_bus::types::{ProducerRecord, TopicPartition};
use twinlog_core::Record;
use twinlog_lang::diag::render_all;
use twinlog_lang::time::TimeContext;

/// How to run a mode.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub mode: ModeName,
    pub clock: ClockKind,
    /// Zone and location of every `AT` (and the offset output times are shown in).
    pub time: TimeContext,
}

/// How far to move a test clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    To(Timestamp),
    By(SignedDuration),
}

/// The handle to a running mode (cheap to clone).
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bus: Arc<dyn Bus>,
    mode: ModeName,
    topics: ModeTopics,
    clock: ClockKind,
    /// `TimeContext` is not `Sync` (per-thread caches): each use takes a clone.
    time: Mutex<TimeContext>,
    tx: mpsc::Sender<Command>,
    /// The next input offset the agent will process.
    processed: watch::Receiver<u64>,
    /// Why the agent stopped, if it did.
    stopped: Arc<Mutex<Option<String>>>,
    /// Deploys and undeploys of this process, one at a time (versions are numbered here).
    admin: tokio::sync::Mutex<()>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Runtime {
    /// Recovers the mode from the bus (creating its topics on first start) and starts its
    /// agent on the current Tokio runtime. Returns once the state is restored.
    pub async fn start(
        bus: Arc<dyn Bus>,
        options: RuntimeOptions,
    ) -> Result<Runtime, RuntimeError> {
        let topics = ModeTopics::new(&options.mode);
        let (processed_tx, processed) = watch::channel(0);
        let agent = Agent::recover(
            bus.clone(),
            topics.clone(),
            options.time.clone(),
            options.clock,
            processed_tx,
        )
        .await?;
        let (tx, rx) = mpsc::channel(64);
        let stopped = Arc::new(Mutex::new(None));
        let stopped_by_task = stopped.clone();
        let mode = options.mode.clone();
        let task = tokio::spawn(async move {
            let result = agent.run(rx).await;
            let reason = match result {
                Ok(()) => "it was shut down".to_string(),
                Err(e) => {
                    tracing::error!(mode = %mode, "module agent failed: {e}");
                    e.to_string()
                }
            };
            *stopped_by_task.lock().expect("stopped lock") = Some(reason);
        });
        Ok(Runtime {
            inner: Arc::new(Inner {
                bus,
                mode: options.mode,
                topics,
                clock: options.clock,
                time: Mutex::new(options.time),
                tx,
                processed,
                stopped,
                admin: tokio::sync::Mutex::new(()),
                task: Mutex::new(Some(task)),
            }),
        })
    }

    pub fn mode(&self) -> &ModeName {
        &self.inner.mode
    }

    pub fn topics(&self) -> &ModeTopics {
        &self.inner.topics
    }

    pub fn clock_kind(&self) -> ClockKind {
        self.inner.clock
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }

    /// Why the agent stopped, or `None` while it runs.
    pub fn stopped(&self) -> Option<String> {
        self.inner.stopped.lock().expect("stopped lock").clone()
    }

    fn time(&self) -> TimeContext {
        self.inner.time.lock().expect("time lock").clone()
    }

    /// Appends events to the mode's inputs; each is acknowledged once durable. On the real
    /// clock an event without a time gets the machine's now here (so a replay sees the same).
    pub async fn send_events(&self, events: Vec<EventIn>) -> Result<Vec<Accepted>, RuntimeError> {
        let now = twinlog_core::Timestamp::now();
        let records: Vec<ProducerRecord> = events
            .into_iter()
            .map(|mut e| {
                if self.inner.clock == ClockKind::Real && e.time.is_none() {
                    e.time = Some(Timestamp::now());
                }
                e.mode = None;
                let input = InputRecord::Event(e);
                let record = Record::new(now, input.encode()).with_header("k", input.kind());
                ProducerRecord::to_partition(record, 0)
            })
            .collect();
        let deliveries = self
            .inner
            .bus
            .send_batch(&self.inner.topics.inputs, records)
            .await?;
        Ok(deliveries
            .into_iter()
            .map(|d| Accepted {
                topic: self.inner.topics.inputs.to_string(),
                partition: d.partition,
                offset: d.offset,
            })
            .collect())
    }

    /// Waits until the agent has processed every input on the log now.
    pub async fn sync(&self) -> Result<(), RuntimeError> {
        let desc = self
            .inner
            .bus
            .describe_topic(&self.inner.topics.inputs)
            .await?;
        let end = desc.partitions.first().map_or(0, |p| p.end_offset);
        self.wait_processed(end).await
    }

    /// Waits until the agent has processed every input before offset `end`.
    pub async fn wait_processed(&self, end: u64) -> Result<(), RuntimeError> {
        let mut rx = self.inner.processed.clone();
        if rx.wait_for(|next| *next >= end).await.is_err() {
            return Err(RuntimeError::AgentStopped(
                self.stopped().unwrap_or_else(|| "unknown reason".into()),
            ));
        }
        Ok(())
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, RuntimeError> {
        self.sync().await?;
        let (reply, rx) = oneshot::channel();
        let stopped = || {
            RuntimeError::AgentStopped(self.stopped().unwrap_or_else(|| "unknown reason".into()))
        };
        self.inner
            .tx
            .send(make(reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())
    }

    /// The state of a module's instances (one, with `instance`).
    pub async fn state(
        &self,
        module: &str,
        instance: Option<&str>,
    ) -> Result<Vec<InstanceView>, RuntimeError> {
        self.ask(|reply| Command::State {
            module: module.to_string(),
            instance: instance.map(str::to_string),
            reply,
        })
        .await?
    }

    pub async fn modules(&self) -> Result<Vec<ModuleView>, RuntimeError> {
        self.ask(|reply| Command::Modules { reply }).await
    }

    pub async fn clock(&self) -> Result<ClockView, RuntimeError> {
        self.ask(|reply| Command::Clock { reply }).await
    }

    pub async fn stats(&self) -> Result<StatsView, RuntimeError> {
        self.ask(|reply| Command::Stats { reply }).await
    }

    /// Moves the test clock, firing everything due on the way; returns where it stands.
    pub async fn advance_clock(&self, advance: Advance) -> Result<ClockView, RuntimeError> {
        if self.inner.clock == ClockKind::Real {
            return Err(RuntimeError::RealClock);
        }
        let current = self.clock().await?;
        let input = match advance {
            Advance::To(to) => {
                if let Some(now) = current.now
                    && to < now
                {
                    return Err(RuntimeError::ClockBackwards { now, to });
                }
                InputRecord::Clock {
                    to: Some(to),
                    by: None,
                }
            }
            Advance::By(d) => {
                if d.is_negative() {
                    let now = current.now.unwrap_or_else(Timestamp::now);
                    return Err(RuntimeError::ClockBackwards {
                        now,
                        to: now.checked_add(d).unwrap_or(now),
                    });
                }
                // A clock that never started starts at the machine's now.
                match current.now {
                    Some(_) => InputRecord::Clock {
                        to: None,
                        by: Some(d),
                    },
                    None => InputRecord::Clock {
                        to: Timestamp::now().checked_add(d).ok(),
                        by: None,
                    },
                }
            }
        };
        let d = send_input(&*self.inner.bus, &self.inner.topics, &input).await?;
        self.wait_processed(d.offset + 1).await?;
        self.clock().await
    }

    /// Compiles a module and, if it compiles and can run here, deploys it as its next
    /// version: the source goes to the `sources` topic, an `a-scc` record to the inputs, and
    /// the agent switches to it between two inputs. Returns once the switch is done.
    pub async fn deploy(&self, file: &str, source: &str) -> Result<Deployed, RuntimeError> {
        let limits = twinlog_lang::ir::CompileLimits::default();
        let (program, diags) = twinlog_lang::ir::compile_full(file, source, &limits);
        let Some(program) = program else {
            return Err(RuntimeError::Compile {
                file: file.to_string(),
                source_text: source.to_string(),
                diagnostics: diags,
            });
        };
        let warnings: Vec<String> = diags
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| render_all(std::slice::from_ref(d), file, source))
            .collect();
        let time = self.time();
        for at in &program.ats {
            time.validate(&at.spec).map_err(|e| RuntimeError::Load {
                module: program.name.to_string(),
                reason: e.to_string(),
            })?;
        }
        let module = program.name.to_string();
        let _admin = self.inner.admin.lock().await;
        let history = self.history_of(&module).await?;
        if let Some(last) = history.last()
            && last.source.as_deref() == Some(source)
            && self.modules().await?.iter().any(|m| m.name == module)
        {
            return Ok(Deployed {
                module,
                version: last.version,
                unchanged: true,
                warnings,
            });
        }
        let version = history.last().map_or(1, |v| v.version + 1);
        let record = SourceRecord {
            module: module.clone(),
            version,
            file: file.to_string(),
            source: Some(source.to_string()),
            time: Timestamp::now(),
        };
        let source_offset = self.append_source(&record).await?;
        let d = send_input(
            &*self.inner.bus,
            &self.inner.topics,
            &InputRecord::Deploy {
                module: module.clone(),
                version,
                source_offset,
            },
        )
        .await?;
        self.wait_processed(d.offset + 1).await?;
        Ok(Deployed {
            module,
            version,
            unchanged: false,
            warnings,
        })
    }

    /// Removes a module (its state goes; its history stays).
    pub async fn undeploy(&self, module: &str) -> Result<(), RuntimeError> {
        let _admin = self.inner.admin.lock().await;
        if !self.modules().await?.iter().any(|m| m.name == module) {
            return Err(RuntimeError::UnknownModule(module.to_string()));
        }
        let history = self.history_of(module).await?;
        let record = SourceRecord {
            module: module.to_string(),
            version: history.last().map_or(1, |v| v.version + 1),
            file: String::new(),
            source: None,
            time: Timestamp::now(),
        };
        self.append_source(&record).await?;
        let d = send_input(
            &*self.inner.bus,
            &self.inner.topics,
            &InputRecord::Undeploy {
                module: module.to_string(),
            },
        )
        .await?;
        self.wait_processed(d.offset + 1).await
    }

    async fn append_source(&self, record: &SourceRecord) -> Result<u64, RuntimeError> {
        let rec = Record::keyed(
            twinlog_core::Timestamp::now(),
            record.module.clone(),
            record.encode(),
        );
        let d = self
            .inner
            .bus
            .send(
                &self.inner.topics.sources,
                ProducerRecord::to_partition(rec, 0),
            )
            .await?;
        Ok(d.offset)
    }

    async fn history_of(&self, module: &str) -> Result<Vec<SourceVersion>, RuntimeError> {
        let mut out = Vec::new();
        for rec in read_all(&*self.inner.bus, &self.inner.topics.sources).await? {
            if rec.record.key.as_deref() != Some(module.as_bytes()) {
                continue;
            }
            let s = SourceRecord::decode(rec.record.value.as_deref().unwrap_or_default())?;
            out.push(SourceVersion {
                module: s.module,
                version: s.version,
                file: s.file,
                source: s.source,
                time: s.time,
                offset: rec.offset,
            });
        }
        Ok(out)
    }

    /// Every version of a module, oldest first (undeploys have no source): the audit trail.
    pub async fn history(&self, module: &str) -> Result<Vec<SourceVersion>, RuntimeError> {
        let h = self.history_of(module).await?;
        if h.is_empty() {
            return Err(RuntimeError::UnknownModule(module.to_string()));
        }
        Ok(h)
    }

    /// One version's source (the latest deployed one without `version`).
    pub async fn source(
        &self,
        module: &str,
        version: Option<u32>,
    ) -> Result<SourceVersion, RuntimeError> {
        let h = self.history(module).await?;
        let latest = h.last().map_or(0, |v| v.version);
        let found = match version {
            Some(v) => h.into_iter().find(|s| s.version == v),
            None => h.into_iter().rev().find(|s| s.source.is_some()),
        };
        found.ok_or(RuntimeError::UnknownVersion {
            module: module.to_string(),
            version: version.unwrap_or(0),
            latest,
        })
    }

    /// The newest `limit` cycle traces of a module (one instance with `instance`, none
    /// before `since`), oldest first, as the `trace` topic holds them (see `docs/API.md`).
    pub async fn trace(
        &self,
        module: &str,
        instance: Option<&str>,
        since: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>, RuntimeError> {
        self.sync().await?;
        let mut out = std::collections::VecDeque::new();
        for rec in read_all(&*self.inner.bus, &self.inner.topics.trace).await? {
            if rec.record.key.as_deref() != Some(module.as_bytes()) {
                continue;
            }
            let Ok(json) = serde_json::from_slice::<serde_json::Value>(
                rec.record.value.as_deref().unwrap_or_default(),
            ) else {
                continue;
            };
            if let Some(i) = instance
                && json["instance"].as_str() != Some(i)
            {
                continue;
            }
            if let Some(since) = since
                && json["time"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .is_some_and(|t| t < since)
            {
                continue;
            }
            out.push_back(json);
            if out.len() > limit {
                out.pop_front();
            }
        }
        if out.is_empty() && !self.modules().await?.iter().any(|m| m.name == module) {
            return Err(RuntimeError::UnknownModule(module.to_string()));
        }
        Ok(out.into())
    }

    /// The partition of the mode's inputs (for tests and tools).
    pub fn inputs_partition(&self) -> TopicPartition {
        TopicPartition::new(self.inner.topics.inputs.clone(), 0)
    }

    /// Stops the agent after the batch in progress and waits for it.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.inner.tx.send(Command::Shutdown { done }).await.is_ok() {
            let _ = rx.await;
        }
        let task = self.inner.task.lock().expect("task lock").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
