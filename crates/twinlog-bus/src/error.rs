//! [`BusError`]: every way a bus operation fails, the same for every implementation so that
//! callers match on one enum whichever bus runs underneath.

use twinlog_core::InvalidTopicName;
use twinlog_log::LogError;

/// An error from a [`crate::Bus`], a [`crate::Consumer`] or a [`crate::PartitionReader`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The topic name breaks the naming rules.
    #[error(transparent)]
    InvalidTopicName(#[from] InvalidTopicName),
    /// The consumer-group id breaks the naming rules.
    #[error(
        "invalid consumer group id {group:?}: {reason}; use 1 to 249 characters from a-z, A-Z, 0-9, '.', '_', '-'"
    )]
    InvalidGroupId {
        /// The rejected id.
        group: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No topic of that name exists.
    #[error("unknown topic {topic:?}; create it first (`twinlog topic create {topic}`)")]
    UnknownTopic {
        /// The name asked for.
        topic: String,
    },
    /// The topic exists but has no such partition.
    #[error(
        "topic {topic:?} has {partitions} partition(s) (0..{partitions}); there is no partition {partition}"
    )]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A topic of that name already exists.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// Topic names starting with `__` belong to the bus itself (e.g. `__consumer_offsets`).
    #[error(
        "topic name {topic:?} is reserved for the bus (names starting with `__`); choose another name"
    )]
    ReservedTopic {
        /// The rejected name.
        topic: String,
    },
    /// A topic specification is out of range.
    #[error("invalid specification for topic {topic:?}: {reason}")]
    InvalidTopicSpec {
        /// The topic.
        topic: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// `subscribe` was called with no topics.
    #[error("consumer group {group:?}: subscribe needs at least one topic")]
    EmptySubscription {
        /// The group.
        group: String,
    },
    /// A commit or seek named a partition this consumer does not own (never assigned, or
    /// revoked by a rebalance). Committing it would overwrite its new owner's progress.
    #[error(
        "consumer in group {group:?} does not own {topic}/{partition}; it was never assigned or has been revoked"
    )]
    NotAssigned {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
    },
    /// A stored committed-offset record could not be decoded (logged and skipped when the
    /// embedded bus opens).
    #[error("corrupt committed-offset record at offset {offset} of `__consumer_offsets`: {reason}")]
    CorruptOffsets {
        /// Its offset in the internal topic.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The batch a sent record was appended in failed; every record of it gets this error.
    #[error("{source}")]
    BatchFailed {
        /// The failure, shared by every record of the batch.
        #[source]
        source: std::sync::Arc<BusError>,
    },
    /// The consumer was closed.
    #[error("the consumer was closed")]
    Closed,
    /// The bus configuration is invalid (a bad `--bus` URL, an unknown option).
    #[error("invalid bus configuration: {reason}")]
    InvalidConfig {
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// This bus cannot do that (yet).
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked for.
        what: String,
    },
    /// The Kafka cluster (or the client talking to it) failed. `retriable` errors (a broker
    /// unreachable, a leader moving, a full local queue) may succeed when tried again later.
    #[error("Kafka: cannot {doing}: {reason}")]
    Kafka {
        /// What was being done: "send a record", "create a topic".
        doing: &'static str,
        /// librdkafka's description.
        reason: String,
        /// Whether trying again may succeed.
        retriable: bool,
        /// No broker could be reached (connection refused or lost, every broker down, a
        /// request timed out): the cluster's address or its availability is the problem.
        unreachable: bool,
    },
    /// The embedded log failed (I/O, disk full, corruption, lock held by another process…).
    #[error(transparent)]
    Log(LogError),
}

impl BusError {
    /// Whether the storage ran out of space (or refuses writes since it did): the edge
    /// answers "disk full" instead of a generic failure.
    pub fn is_storage_full(&self) -> bool {
        match self {
            BusError::Log(LogError::DiskFull { .. }) => true,
            BusError::Log(LogError::Poisoned { disk_full, .. }) => *disk_full,
            BusError::BatchFailed { source } => source.is_storage_full(),
            _ => false,
        }
    }

    /// Converts a log error, mapping the cases every bus shares (unknown topic, unknown
    /// partition, existing topic) to their own variants so that callers need not know which
    /// implementation runs.
    #[cold]
    pub fn from_log(e: LogError) -> BusError {
        match e {
            LogError::UnknownTopic { topic } => BusError::UnknownTopic { topic },
            LogError::UnknownPartition {
                topic,
                partition,
                partitions,
            } => BusError::UnknownPartition {
                topic,
                partition,
                partitions,
            },
            LogError::TopicExists { topic } => BusError::TopicExists { topic },
            LogError::InvalidTopicName(e) => BusError::InvalidTopicName(e),
            other => BusError::Log(other),
        }
    }

    #[cold]
    pub(crate) fn unknown_topic(topic: &str) -> BusError {
        BusError::UnknownTopic {
            topic: topic.to_owned(),
        }
    }
}

impl From<LogError> for BusError {
    fn from(e: LogError) -> Self {
        BusError::from_log(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_can_cross_tasks_and_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<BusError>();
    }

    #[test]
    fn log_errors_shared_by_every_bus_map_to_bus_variants() {
        let e = BusError::from(LogError::UnknownTopic {
            topic: "orders".into(),
        });
        assert!(matches!(&e, BusError::UnknownTopic { topic } if topic == "orders"));
        assert_eq!(
            e.to_string(),
            "unknown topic \"orders\"; create it first (`twinlog topic create orders`)"
        );
        let e = BusError::from(LogError::Closed);
        assert!(matches!(e, BusError::Log(LogError::Closed)));
    }
}
