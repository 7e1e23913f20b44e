//! Modes and the topics each one owns. A mode is an isolated namespace: its inputs, module
//! sources, snapshots and outputs live in topics named after it, so nothing leaks between
//! modes and a Kafka cluster sees ordinary topics.

use std::fmt;
use twinlog_core::TopicName;

/// The mode every command uses unless told otherwise.
pub const DEFAULT_MODE: &str = "default";

/// A validated mode name: 1 to 64 characters from `a-z 0-9 _ -`, starting with a letter or
/// digit (it becomes part of topic names, which Kafka limits to 249 characters).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModeName(String);

/// Why a mode name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "mode name {name:?} is not valid: use 1 to 64 characters from a-z, 0-9, '_' and '-', starting with a letter or digit"
)]
pub struct InvalidModeName {
    pub name: String,
}

impl ModeName {
    pub fn new(name: &str) -> Result<ModeName, InvalidModeName> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(ModeName(name.to_string()))
        } else {
            Err(InvalidModeName {
                name: name.to_string(),
            })
        }
    }

    pub fn default_mode() -> ModeName {
        ModeName(DEFAULT_MODE.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The topics of one mode.
///
/// - `inputs` (1 partition): everything the agent processes, in order: events, clock
///   advances, deploys. Acknowledged inputs are the truth; all else follows from them.
/// - `sources` (1 partition, key = module): every deployed source version, the audit trail.
/// - `state` (compacted, key = `m/<module>` or `m/<module>/<instance>`, and `agent`): the
///   latest snapshot of every instance, and the agent's position, clock and module set.
/// - `out` (key = module): publications, logs, errors and dead letters, each with the offset
///   of the input that caused it.
/// - `trace` (key = module, size-bounded): why each cycle did what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeTopics {
    pub inputs: TopicName,
    pub sources: TopicName,
    pub state: TopicName,
    pub out: TopicName,
    pub trace: TopicName,
}

impl ModeTopics {
    pub fn new(mode: &ModeName) -> ModeTopics {
        let t = |kind: &str| {
            TopicName::new(&format!("twinlog.{mode}.{kind}"))
                .expect("a valid mode name makes valid topic names")
        };
        ModeTopics {
            inputs: t("inputs"),
            sources: t("sources"),
            state: t("state"),
            out: t("out"),
            trace: t("trace"),
        }
    }
}

/// The mode a topic belongs to, if it is one of a mode's (`twinlog.<mode>.<kind>`): such
/// topics are created and deleted with their mode, not one by one.
pub fn mode_of_topic(name: &str) -> Option<&str> {
    let (mode, kind) = name.strip_prefix("twinlog.")?.rsplit_once('.')?;
    let kinds = ["inputs", "sources", "state", "out", "trace"];
    (kinds.contains(&kind) && ModeName::new(mode).is_ok()).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_and_their_topics() {
        let m = ModeName::new("what-if_2").unwrap();
        assert_eq!(
            ModeTopics::new(&m).state.as_str(),
            "twinlog.what-if_2.state"
        );
        for bad in ["", "Upper", "-x", "a.b", &"x".repeat(65)] {
            assert!(ModeName::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(mode_of_topic("twinlog.what-if_2.state"), Some("what-if_2"));
        assert_eq!(mode_of_topic("twinlog.default.inputs"), Some("default"));
        for other in [
            "twinlog.default.mine",
            "twinlog.x",
            "sensors",
            "twinlog.A.out",
        ] {
            assert_eq!(mode_of_topic(other), None, "{other}");
        }
    }
}
