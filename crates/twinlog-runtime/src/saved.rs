//! [`saved_state`]: a mode's module state as its files hold it, with no agent running —
//! what `twinlog module state` shows when no server is up. It reads the last consistent cut
//! of the `state` topic (the one the agent would recover from) and says how many inputs
//! after it wait to be processed; it replays nothing, so it needs none of the server's time
//! settings and cannot disagree with what the server will compute.

use crate::agent::{Cut, instance_view, read_cut, restore};
use crate::codec::{Snapshot, snapshot_key};
use crate::error::RuntimeError;
use crate::topics::ModeTopics;
use crate::view::InstanceView;
use twinlog_bus::{Bus, BusError};

/// The saved state of one module.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedState {
    /// The module's instances, by key, as of the last snapshot.
    pub instances: Vec<InstanceView>,
    /// The last input the snapshot reflects (`None`: no input processed yet).
    pub through: Option<u64>,
    /// Inputs on the log after it, processed when the agent next runs.
    pub pending: u64,
}

/// Reads `module`'s saved state in the mode of `topics` (only `instance`, if given).
///
/// Errors: [`RuntimeError::UnknownModule`] / [`RuntimeError::UnknownInstance`] as the server
/// answers; [`BusError::UnknownTopic`] (inside [`RuntimeError::Bus`]) if the mode was never
/// started here.
pub async fn saved_state(
    bus: &dyn Bus,
    topics: &ModeTopics,
    module: &str,
    instance: Option<&str>,
) -> Result<SavedState, RuntimeError> {
    let Cut {
        agent,
        modules,
        snapshots,
    } = read_cut(bus, topics).await?;
    let m = modules
        .iter()
        .find(|m| m.info.name == module)
        .ok_or_else(|| RuntimeError::UnknownModule(module.to_string()))?;
    let mut instances = Vec::new();
    let (single, keyed) = (snapshot_key(module, None), format!("m/{module}/"));
    let wanted = instance.map(|i| snapshot_key(module, Some(i)));
    for (key, value) in &snapshots {
        let Some(v) = value else { continue };
        let ours = match &wanted {
            Some(w) => key == w,
            None => *key == single || key.starts_with(&keyed),
        };
        if !ours {
            continue;
        }
        let snap = Snapshot::decode(v)?;
        let (inst, _) = restore(&m.program, &snap);
        instances.push(instance_view(&m.program, &inst, m.info.version));
    }
    instances.sort_by(|a, b| a.instance.cmp(&b.instance));
    if let (Some(key), true) = (instance, instances.is_empty()) {
        return Err(RuntimeError::UnknownInstance {
            module: module.to_string(),
            instance: key.to_string(),
        });
    }
    let inputs = bus.describe_topic(&topics.inputs).await?;
    let end = inputs.partitions.first().map_or(0, |p| p.end_offset);
    let next = match agent.input {
        Some(i) => i + 1,
        None => inputs.partitions.first().map_or(0, |p| p.start_offset),
    };
    Ok(SavedState {
        instances,
        through: agent.input,
        pending: end.saturating_sub(next),
    })
}

/// Whether `e` says the mode's topics do not exist (the mode never ran in this data dir).
pub fn is_unknown_mode(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::Bus(BusError::UnknownTopic { .. }))
}
