//! [`Modes`]: every mode of one server, each with its own [`Runtime`]. Modes are found again
//! on start from their topics (`twinlog.<mode>.inputs`), so a mode created once lives until
//! it is deleted.

use crate::error::RuntimeError;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::topics::{DEFAULT_MODE, ModeName};
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
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
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
            if let Some(rest) = topic.as_str().strip_prefix("twinlog.")
                && let Some(mode) = rest.strip_suffix(".inputs")
                && ModeName::new(mode).is_ok()
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
        let rt = self.start(mode).await?;
        self.map
            .write()
            .expect("modes lock")
            .insert(name.to_string(), rt.clone());
        Ok(rt)
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
