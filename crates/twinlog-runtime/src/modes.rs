//! [`Modes`]: every mode of one server, each with its own [`Runtime`]. Modes are found again
//! on start from their topics (`twinlog.<mode>.inputs`), so a mode created once lives until
//! it is deleted.

use crate::error::RuntimeError;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::topics::{DEFAULT_MODE, ModeName, ModeTopics, mode_of_topic};
use crate::view::ClockKind;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use twinlog_bus::Bus;
use twinlog_lang::time::TimeContext;

/// Why a mode could not be created.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error(transparent)]
    InvalidName(#[from] crate::topics::InvalidModeName),
    #[error("mode `{0}` already exists")]
    Exists(String),
    #[error("no mode named `{0}`; `twinlog mode list` shows them")]
    Unknown(String),
    #[error("mode `{from}` has no input at offset {offset}; its inputs end before {end}")]
    BadForkPoint { from: String, offset: u64, end: u64 },
    #[error("the default mode cannot be deleted: it is where every command goes without --mode")]
    DeleteDefault,
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Where a fork of a mode starts: its inputs up to and including this one are copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkPoint {
    /// Everything the source mode has now.
    Now,
    /// Inputs up to and including this offset of the source mode's inputs topic.
    Offset(u64),
    /// Inputs appended at or before this time.
    Time(jiff::Timestamp),
}

/// The modes of a server.
#[derive(Debug)]
pub struct Modes {
    bus: Arc<dyn Bus>,
    clock: ClockKind,
    time: Mutex<TimeContext>,
    map: RwLock<BTreeMap<String, Runtime>>,
    /// Serialises creation, so two requests cannot start one mode twice.
    creating: tokio::sync::Mutex<()>,
}

impl Modes {
    /// Starts the default mode and every mode found on the bus.
    pub async fn open(
        bus: Arc<dyn Bus>,
        clock: ClockKind,
        time: TimeContext,
    ) -> Result<Modes, RuntimeError> {
        let modes = Modes {
            bus: bus.clone(),
            clock,
            time: Mutex::new(time),
            map: RwLock::new(BTreeMap::new()),
            creating: tokio::sync::Mutex::new(()),
        };
        let mut names = vec![DEFAULT_MODE.to_string()];
        for topic in bus.list_topics().await? {
            // A mode exists while its inputs topic does (see `Modes::delete`).
            if let Some(mode) = mode_of_topic(topic.as_str())
                && topic.as_str().ends_with(".inputs")
                && !names.iter().any(|n| n == mode)
            {
                names.push(mode.to_string());
            }
        }
        for name in names {
            let rt = modes.start(ModeName::new(&name).expect("checked")).await?;
            modes.map.write().expect("modes lock").insert(name, rt);
        }
        Ok(modes)
    }

    async fn start(&self, mode: ModeName) -> Result<Runtime, RuntimeError> {
        let time = self.time.lock().expect("time lock").clone();
        Runtime::start(
            self.bus.clone(),
            RuntimeOptions {
                mode,
                clock: self.clock,
                time,
            },
        )
        .await
    }

    /// The runtime of a mode.
    pub fn get(&self, name: &str) -> Result<Runtime, ModeError> {
        self.map
            .read()
            .expect("modes lock")
            .get(name)
            .cloned()
            .ok_or_else(|| ModeError::Unknown(name.to_string()))
    }

    /// The mode names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.map
            .read()
            .expect("modes lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Every runtime, by mode name.
    pub fn all(&self) -> Vec<Runtime> {
        self.map
            .read()
            .expect("modes lock")
            .values()
            .cloned()
            .collect()
    }

    /// Creates and starts an empty mode.
    pub async fn create(&self, name: &str) -> Result<Runtime, ModeError> {
        let mode = ModeName::new(name)?;
        let _creating = self.creating.lock().await;
        if self.get(name).is_ok() {
            return Err(ModeError::Exists(name.to_string()));
        }
        self.clear_leftovers(&ModeTopics::new(&mode)).await?;
        let rt = self.start(mode).await?;
        self.map
            .write()
            .expect("modes lock")
            .insert(name.to_string(), rt.clone());
        Ok(rt)
    }

    /// Creates mode `name` as a copy of mode `from` as of `at`: the source's inputs up to that
    /// point (with the module sources they deploy) are copied into the new mode's topics, and
    /// its agent replays them — so it starts with the same modules, state and clock, then
    /// goes its own way. (A copy; copy-on-write comes with the CQRS work.)
    pub async fn fork(&self, name: &str, from: &str, at: ForkPoint) -> Result<Runtime, ModeError> {
        use crate::codec::{InputRecord, SourceRecord};
        use twinlog_bus::types::{ProducerRecord, TopicPartition};
        let mode = ModeName::new(name)?;
        let source = self.get(from)?;
        let _creating = self.creating.lock().await;
        if self.get(name).is_ok() {
            return Err(ModeError::Exists(name.to_string()));
        }
        source.sync().await?;
        let src = source.topics().clone();
        let dst = ModeTopics::new(&mode);
        self.clear_leftovers(&dst).await?;
        let bus = &*self.bus;
        crate::agent::ensure_topics(bus, &dst)
            .await
            .map_err(RuntimeError::from)?;
        let inputs = TopicPartition::new(src.inputs.clone(), 0);
        let end = bus
            .describe_topic(&src.inputs)
            .await
            .map_err(RuntimeError::from)?
            .partitions
            .first()
            .map_or(0, |p| p.end_offset);
        let last = match at {
            ForkPoint::Now => end,
            ForkPoint::Offset(o) if o < end => o + 1,
            ForkPoint::Offset(o) => {
                return Err(ModeError::BadForkPoint {
                    from: from.to_string(),
                    offset: o,
                    end,
                });
            }
            ForkPoint::Time(t) => {
                let ts = twinlog_core::Timestamp::from_micros(t.as_microsecond().saturating_add(1));
                bus.offset_for_timestamp(&inputs, ts)
                    .await
                    .map_err(RuntimeError::from)?
                    .unwrap_or(end)
            }
        };
        let mut from_offset = 0;
        while from_offset < last {
            let chunk = bus
                .read(&inputs, from_offset, 4096)
                .await
                .map_err(RuntimeError::from)?;
            let Some(tail) = chunk.last() else { break };
            from_offset = tail.offset + 1;
            let mut copied = Vec::with_capacity(chunk.len());
            for rec in chunk.into_iter().filter(|r| r.offset < last) {
                let mut record = rec.record;
                // A deploy names its source by offset: copy the source and point at the copy.
                if let Ok(InputRecord::Deploy {
                    module,
                    version,
                    source_offset,
                }) = InputRecord::decode(record.value.as_deref().unwrap_or_default())
                {
                    let s: SourceRecord =
                        crate::agent::read_source(bus, &src, source_offset).await?;
                    let d = bus
                        .send(
                            &dst.sources,
                            ProducerRecord::to_partition(
                                twinlog_core::Record::keyed(
                                    record.timestamp,
                                    module.clone(),
                                    s.encode(),
                                ),
                                0,
                            ),
                        )
                        .await
                        .map_err(RuntimeError::from)?;
                    let input = InputRecord::Deploy {
                        module,
                        version,
                        source_offset: d.offset,
                    };
                    record.value = Some(input.encode().into());
                }
                copied.push(ProducerRecord::to_partition(record, 0));
            }
            bus.send_batch(&dst.inputs, copied)
                .await
                .map_err(RuntimeError::from)?;
        }
        let rt = self.start(mode).await?;
        rt.sync().await?;
        self.map
            .write()
            .expect("modes lock")
            .insert(name.to_string(), rt.clone());
        Ok(rt)
    }

    /// Deletes a mode: stops its agent (after the batch in progress), then deletes its
    /// topics — modules, state, clock, outputs and traces go with them. The inputs topic goes
    /// first: a mode exists while it does, so a crash part-way leaves no mode behind, only
    /// topics that the next creation of the name clears. Errors: [`ModeError::Unknown`],
    /// [`ModeError::DeleteDefault`], and the bus's.
    pub async fn delete(&self, name: &str) -> Result<(), ModeError> {
        if name == DEFAULT_MODE {
            return Err(ModeError::DeleteDefault);
        }
        let _creating = self.creating.lock().await;
        let rt = self.get(name)?;
        self.map.write().expect("modes lock").remove(name);
        rt.shutdown().await;
        let topics = rt.topics();
        self.delete_topic(&topics.inputs).await?;
        self.clear_leftovers(topics).await
    }

    /// Deletes what an interrupted [`Modes::delete`] left of a mode that no longer exists.
    async fn clear_leftovers(&self, topics: &ModeTopics) -> Result<(), ModeError> {
        for t in [&topics.state, &topics.out, &topics.trace, &topics.sources] {
            self.delete_topic(t).await?;
        }
        Ok(())
    }

    async fn delete_topic(&self, topic: &twinlog_core::TopicName) -> Result<(), ModeError> {
        match self.bus.delete_topic(topic).await {
            Ok(()) | Err(twinlog_bus::BusError::UnknownTopic { .. }) => Ok(()),
            Err(e) => Err(RuntimeError::from(e).into()),
        }
    }

    pub fn clock_kind(&self) -> ClockKind {
        self.clock
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The zone output times are shown in.
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.time.lock().expect("time lock").time_zone().clone()
    }

    /// Stops every agent (each after the batch in progress).
    pub async fn shutdown(&self) {
        for rt in self.all() {
            rt.shutdown().await;
        }
    }
}
