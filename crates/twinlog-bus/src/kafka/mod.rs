//! [`KafkaBus`]: the [`Bus`] on Apache Kafka (or any Kafka-protocol broker), over librdkafka.
//!
//! What it maps to:
//! - **Producer**: one idempotent librdkafka producer (`enable.idempotence`, `acks=all`), so
//!   a send resolves only after every in-sync replica has the record, and retries never
//!   duplicate or reorder. Routing is done here, not by librdkafka: an explicit partition
//!   wins, a key goes to [`twinlog_core::partition_for_key`] (murmur2, the partitioner of the
//!   Java client and of the embedded log, so one key lands in the same partition in both),
//!   no key goes round-robin. librdkafka batches what is in flight (`linger.ms`).
//! - **Records**: key, value (none = a tombstone), headers and timestamp are Kafka's own;
//!   Kafka keeps timestamps in **milliseconds**, so a Twinlog timestamp loses its
//!   sub-millisecond part on the way, and a time lookup rounds up to the next millisecond.
//! - **Topics** through the admin API; a topic without a retention limit is created with
//!   `retention.ms=-1` and `retention.bytes=-1` (Kafka's default would delete the event log
//!   after a week), a compacted one with `cleanup.policy=compact`.
//! - **Readers** ([`Bus::reader`], [`Bus::read`]) are consumers without a group, assigned one
//!   partition at an offset (module `reader`).
//! - **Namespaces**: [`KafkaOptions::namespace`] prefixes every topic and group on the wire
//!   (and hides the others), so several Twinlog deployments, or the tests, share one cluster.
//!
//! - **Consumer groups** (module `group`): Kafka's own, cooperative-sticky, with the
//!   listener run inside `poll` and commits fenced to the owner.

mod group;
mod reader;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::{Offset, TopicPartitionList};
use twinlog_core::{StoredRecord, Timestamp, TopicName, partition_for_key};

use crate::api::{BoxFuture, Bus, Consumer, DeliveryFuture, PartitionReader, RebalanceListener};
use crate::error::BusError;
use crate::types::{
    ConsumerOptions, Delivery, GroupId, PartitionInfo, ProducerRecord, StartAt, TopicDescription,
    TopicPartition, TopicSpec,
};

pub use group::KafkaConsumer;
pub use reader::KafkaReader;

/// How to reach a Kafka cluster.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KafkaOptions {
    /// `host:port[,host:port…]`, librdkafka's `bootstrap.servers`.
    pub brokers: String,
    /// Passed to librdkafka as given (`security.protocol`, `sasl.*`, `ssl.*`, …); they win
    /// over Twinlog's defaults. Values may be secrets: they are never printed.
    pub client_options: Vec<(String, String)>,
    /// Prefixed to every topic name and group id on the wire; topics without it are not
    /// listed. `None`: names are used as they are.
    pub namespace: Option<String>,
    /// How long an admin or metadata request may take before it fails.
    pub request_timeout: Duration,
    /// The replication factor of created topics (`-1`: the broker's default).
    pub replication_factor: i32,
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Client options may carry passwords: only their names are shown.
        let names: Vec<&str> = self
            .client_options
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("client_options", &names)
            .field("namespace", &self.namespace)
            .field("request_timeout", &self.request_timeout)
            .field("replication_factor", &self.replication_factor)
            .finish()
    }
}

impl KafkaOptions {
    /// Options for `brokers` (`host:port[,host:port…]`) with the defaults.
    pub fn new(brokers: impl Into<String>) -> KafkaOptions {
        KafkaOptions {
            brokers: brokers.into(),
            client_options: Vec::new(),
            namespace: None,
            request_timeout: Duration::from_secs(10),
            replication_factor: -1,
        }
    }

    /// Options from a bus URL: `kafka://host:port[,host:port…]`.
    pub fn from_url(url: &str) -> Result<KafkaOptions, BusError> {
        let Some(rest) = url.strip_prefix("kafka://") else {
            return Err(BusError::InvalidConfig {
                reason: format!("`{url}` is not a Kafka URL; write kafka://HOST:PORT[,HOST:PORT…]"),
            });
        };
        let brokers = rest.trim_end_matches('/');
        let bad = brokers.is_empty()
            || brokers.split(',').any(|b| match b.rsplit_once(':') {
                Some((host, port)) => host.is_empty() || port.parse::<u16>().is_err(),
                None => true,
            });
        if bad {
            return Err(BusError::InvalidConfig {
                reason: format!(
                    "`{url}`: every broker needs a host and a port, e.g. kafka://127.0.0.1:9092,10.0.0.2:9092"
                ),
            });
        }
        Ok(KafkaOptions::new(brokers))
    }

    /// Adds a librdkafka option (`key=value`).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> KafkaOptions {
        self.client_options.push((key.into(), value.into()));
        self
    }

    /// Sets the namespace prefix.
    pub fn namespace(mut self, prefix: impl Into<String>) -> KafkaOptions {
        self.namespace = Some(prefix.into());
        self
    }

    /// librdkafka's configuration: Twinlog's defaults, then the user's options, then what
    /// the bus depends on (group ids, manual commits, offset resets: a user option must not
    /// break fencing or namespaces).
    fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        const OURS: [&str; 5] = [
            "group.id",
            "enable.auto.commit",
            "enable.auto.offset.store",
            "auto.offset.reset",
            "partition.assignment.strategy",
        ];
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults.iter().filter(|(k, _)| !OURS.contains(k)) {
            c.set(*k, *v);
        }
        for (k, v) in &self.client_options {
            c.set(k, v);
        }
        for (k, v) in defaults.iter().filter(|(k, _)| OURS.contains(k)) {
            c.set(*k, *v);
        }
        c
    }

    /// An error of this bus with the option values taken out (see [`scrub`]).
    pub(crate) fn scrubbed(&self, e: BusError) -> BusError {
        scrub(e, self)
    }
}

/// Consumers check their prefetch queue again after 10 ms when it is full, not librdkafka's
/// default 1 s: a reader a little slower than the fetcher filled the queue
/// (`queued.min.messages`) and then stood idle most of each second (consume fell to a quarter
/// of raw librdkafka's rate in `bench log`). A user's `--kafka-option` still overrides it.
const FETCH_QUEUE_BACKOFF: (&str, &str) = ("fetch.queue.backoff.ms", "10");

/// The Kafka bus. Cheap to clone (the clients are shared).
#[derive(Clone)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

struct Inner {
    options: KafkaOptions,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Metadata, watermarks and time lookups (no group).
    meta: BaseConsumer,
    /// Reads single records for time lookups (assigned one partition at a time).
    probe: Mutex<BaseConsumer>,
    /// Partition counts by logical topic name, learned from metadata.
    partitions: Mutex<HashMap<String, u32>>,
    round_robin: AtomicU32,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaBus")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl KafkaBus {
    /// Creates the clients. librdkafka connects in the background: an unreachable broker
    /// shows as an error of the first request, after [`KafkaOptions::request_timeout`].
    pub fn connect(options: KafkaOptions) -> Result<KafkaBus, BusError> {
        let scrubbed = options.clone();
        Self::create(options).map_err(|e| scrub(e, &scrubbed))
    }

    fn create(options: KafkaOptions) -> Result<KafkaBus, BusError> {
        let producer: FutureProducer = options
            .config(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("message.timeout.ms", "30000"),
                ("queue.buffering.max.messages", "1000000"),
            ])
            .create()
            .map_err(|e| kafka_error("create the producer", e))?;
        let admin: AdminClient<DefaultClientContext> = options
            .config(&[])
            .create()
            .map_err(|e| kafka_error("create the admin client", e))?;
        let meta: BaseConsumer = options
            .config(&[("enable.auto.commit", "false")])
            .create()
            .map_err(|e| kafka_error("create the metadata client", e))?;
        let probe: BaseConsumer = options
            .config(&[
                ("enable.auto.commit", "false"),
                ("group.id", "twinlog-reader"),
                // An offset below the log start (retention) reads from the start, never
                // silently from the end.
                ("auto.offset.reset", "earliest"),
            ])
            .create()
            .map_err(|e| kafka_error("create the metadata client", e))?;
        Ok(KafkaBus {
            inner: Arc::new(Inner {
                options,
                producer,
                admin,
                meta,
                probe: Mutex::new(probe),
                partitions: Mutex::default(),
                round_robin: AtomicU32::new(0),
            }),
        })
    }

    /// The options this bus was made with.
    pub fn options(&self) -> &KafkaOptions {
        &self.inner.options
    }

    /// Waits until every record sent so far is acknowledged (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        self.inner
            .producer
            .flush(timeout)
            .map_err(|e| kafka_error("flush the producer", e))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // librdkafka throws away what is still queued or in flight when the producer goes:
        // give the acknowledgements a bounded chance to arrive first.
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}

impl Inner {
    fn wire(&self, topic: &str) -> String {
        match &self.options.namespace {
            Some(ns) => format!("{ns}{topic}"),
            None => topic.to_owned(),
        }
    }

    fn logical<'a>(&self, wire: &'a str) -> Option<&'a str> {
        match &self.options.namespace {
            Some(ns) => wire.strip_prefix(ns.as_str()),
            None => Some(wire),
        }
    }

    /// The partition count of a topic: cached, else from the broker (blocking).
    fn partition_count(&self, topic: &str) -> Result<u32, BusError> {
        if let Some(n) = self.cached(topic) {
            return Ok(n);
        }
        let wire = self.wire(topic);
        let md = self
            .meta
            .fetch_metadata(Some(&wire), self.options.request_timeout)
            .map_err(|e| kafka_error("read topic metadata", e))?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == wire)
            .ok_or_else(|| BusError::unknown_topic(topic))?;
        if t.error().is_some() || t.partitions().is_empty() {
            return Err(BusError::unknown_topic(topic));
        }
        let n = t.partitions().len() as u32;
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.to_owned(), n);
        Ok(n)
    }

    /// Drops a topic's cached partition count (it is read again on next use).
    fn forget(&self, topic: &str) {
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }

    fn cached(&self, topic: &str) -> Option<u32> {
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .copied()
    }

    /// (low, high) watermarks of a partition (blocking).
    fn watermarks(&self, topic: &str, partition: u32) -> Result<(u64, u64), BusError> {
        let (lo, hi) = self
            .meta
            .fetch_watermarks(
                &self.wire(topic),
                partition as i32,
                self.options.request_timeout,
            )
            .map_err(|e| kafka_error("read partition offsets", e))?;
        Ok((lo.max(0) as u64, hi.max(0) as u64))
    }

    /// Checks the partition exists (blocking on a cache miss).
    fn check_partition(&self, tp: &TopicPartition) -> Result<(), BusError> {
        let n = self.partition_count(tp.topic.as_str())?;
        if tp.partition >= n {
            return Err(BusError::UnknownPartition {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                partitions: n,
            });
        }
        Ok(())
    }

    /// The first offset at or after `timestamp` (blocking); `None` past the end.
    ///
    /// Asks the broker's time index (`ListOffsets` by time, librdkafka's
    /// `offsets_for_times`) and checks the answer against the records around it; a broker
    /// whose answer does not hold (the test broker, tansu 0.6, answers the first offset
    /// whatever the time) is served by a binary search over the records' timestamps
    /// instead, exact when timestamps do not go back in time, as Twinlog's never do.
    fn offset_for_time(
        &self,
        tp: &TopicPartition,
        timestamp: Timestamp,
    ) -> Result<Option<u64>, BusError> {
        self.check_partition(tp)?;
        // Kafka keeps milliseconds: a record at X ms is at or after t iff X >= ceil(t / 1 ms).
        let ms = (timestamp.as_micros().div_euclid(1000)
            + i64::from(timestamp.as_micros().rem_euclid(1000) != 0))
        .max(0);
        let (low, high) = self.watermarks(tp.topic.as_str(), tp.partition)?;
        if low >= high {
            return Ok(None);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &self.wire(tp.topic.as_str()),
            tp.partition as i32,
            Offset::Offset(ms),
        )
        .map_err(|e| kafka_error("look up an offset by time", e))?;
        let found = self
            .meta
            .offsets_for_times(tpl, self.options.request_timeout)
            .map_err(|e| kafka_error("look up an offset by time", e))?;
        let answer = match found.elements().first().map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o >= 0 && (o as u64) < high => Some(o as u64),
            _ => None,
        };
        let at = |o: u64| self.millis_at(tp, o);
        let holds = match answer {
            Some(o) => {
                at(o)?.is_some_and(|t| t >= ms) && (o == low || at(o - 1)?.is_some_and(|t| t < ms))
            }
            None => at(high - 1)?.is_none_or(|t| t < ms),
        };
        if holds {
            return Ok(answer);
        }
        let (mut lo, mut hi) = (low, high);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match at(mid)? {
                Some(t) if t >= ms => hi = mid,
                _ => lo = mid + 1,
            }
        }
        Ok((lo < high).then_some(lo))
    }

    /// The timestamp (ms) of the first record at or after `offset` (blocking); `None` when
    /// there is none.
    fn millis_at(&self, tp: &TopicPartition, offset: u64) -> Result<Option<i64>, BusError> {
        use rdkafka::Message as _;
        let probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &self.wire(tp.topic.as_str()),
            tp.partition as i32,
            Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX)),
        )
        .map_err(|e| kafka_error("read a record", e))?;
        probe
            .assign(&tpl)
            .map_err(|e| kafka_error("read a record", e))?;
        let deadline = std::time::Instant::now() + self.options.request_timeout;
        while std::time::Instant::now() < deadline {
            match probe.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.offset() as u64 >= offset => {
                    return Ok(m.timestamp().to_millis());
                }
                Some(Ok(_)) | None => {}
                Some(Err(e)) => return Err(kafka_error("read a record", e)),
            }
        }
        // Only offsets at or past the end have no record; anything else not arriving in
        // time is an error, never a guess (a time lookup would go wrong silently).
        let (_, high) = self.watermarks(tp.topic.as_str(), tp.partition)?;
        if offset >= high {
            return Ok(None);
        }
        Err(BusError::Kafka {
            doing: "read a record",
            reason: format!(
                "{tp}@{offset} did not arrive within {:?}",
                self.options.request_timeout
            ),
            retriable: true,
            unreachable: false,
        })
    }

    fn describe(&self, name: &TopicName) -> Result<TopicDescription, BusError> {
        // Always ask the broker: the cache may predate a deletion or new partitions.
        self.forget(name.as_str());
        let n = self.partition_count(name.as_str())?;
        let mut partitions = Vec::with_capacity(n as usize);
        for p in 0..n {
            let (start_offset, end_offset) = self.watermarks(name.as_str(), p)?;
            partitions.push(PartitionInfo {
                partition: p,
                start_offset,
                end_offset,
            });
        }
        Ok(TopicDescription {
            name: name.clone(),
            spec: TopicSpec::new(n),
            partitions,
        })
    }
}

/// An error without the option values (librdkafka quotes a bad option's value, and it may be
/// a password).
#[cold]
fn scrub(e: BusError, options: &KafkaOptions) -> BusError {
    match e {
        BusError::Kafka {
            doing,
            mut reason,
            retriable,
            unreachable,
        } => {
            // Values of secret-looking options always; others when long enough not to hide
            // ordinary words and numbers of the message.
            for (k, v) in &options.client_options {
                let secret = ["password", "secret", "token", "key", "jaas", "credential"]
                    .iter()
                    .any(|s| k.contains(s));
                if !v.is_empty() && (secret || v.len() >= 6) {
                    reason = reason.replace(v.as_str(), "***");
                }
            }
            BusError::Kafka {
                doing,
                reason,
                retriable,
                unreachable,
            }
        }
        other => other,
    }
}

/// A librdkafka error as a [`BusError`], with what was being done.
#[cold]
pub(crate) fn kafka_error(doing: &'static str, e: KafkaError) -> BusError {
    let code = e.rdkafka_error_code();
    let unreachable = code.is_some_and(|c| {
        matches!(
            c,
            RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
        )
    });
    BusError::Kafka {
        doing,
        reason: e.to_string(),
        retriable: unreachable
            || code.is_some_and(|c| {
                matches!(
                    c,
                    RDKafkaErrorCode::QueueFull
                        | RDKafkaErrorCode::NotLeaderForPartition
                        | RDKafkaErrorCode::LeaderNotAvailable
                )
            }),
        unreachable,
    }
}

/// The error of a send: the cases every bus shares get their own variants.
#[cold]
fn send_error(topic: &str, partition: u32, e: KafkaError) -> BusError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            BusError::unknown_topic(topic)
        }
        Some(RDKafkaErrorCode::UnknownPartition) => BusError::UnknownPartition {
            topic: topic.to_owned(),
            partition,
            partitions: 0,
        },
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => BusError::Kafka {
            doing: "send a record",
            reason: format!(
                "the record is larger than the broker accepts ({e}); raise `message.max.bytes` or send less"
            ),
            retriable: false,
            unreachable: false,
        },
        _ => kafka_error("send a record", e),
    }
}

/// The Kafka timestamp of a record: milliseconds, rounded down.
fn kafka_millis(t: Timestamp) -> i64 {
    t.as_micros().div_euclid(1000)
}

/// Runs a blocking librdkafka call off the async threads.
async fn blocking<T: Send + 'static>(
    inner: &Arc<Inner>,
    f: impl FnOnce(&Inner) -> Result<T, BusError> + Send + 'static,
) -> Result<T, BusError> {
    let inner = inner.clone();
    tokio::task::spawn_blocking(move || f(&inner))
        .await
        .map_err(|_| BusError::Closed)?
}

impl Bus for KafkaBus {
    fn create_topic(
        &self,
        name: &TopicName,
        spec: TopicSpec,
    ) -> BoxFuture<'_, Result<(), BusError>> {
        let name = name.clone();
        Box::pin(async move {
            if name.as_str().starts_with("__") {
                return Err(BusError::ReservedTopic {
                    topic: name.to_string(),
                });
            }
            if spec.partitions == 0 || spec.partitions > i32::MAX as u32 {
                return Err(BusError::InvalidTopicSpec {
                    topic: name.to_string(),
                    reason: format!(
                        "{} partitions; a topic needs 1 to {}",
                        spec.partitions,
                        i32::MAX
                    ),
                });
            }
            let inner = &self.inner;
            let wire = inner.wire(name.as_str());
            let retention_ms = spec
                .retention_age
                .map_or("-1".to_string(), |d| d.as_millis().to_string());
            let retention_bytes = spec
                .retention_bytes
                .map_or("-1".to_string(), |b| b.to_string());
            let mut topic = NewTopic::new(
                &wire,
                spec.partitions as i32,
                TopicReplication::Fixed(inner.options.replication_factor),
            )
            .set("retention.ms", &retention_ms)
            .set("retention.bytes", &retention_bytes);
            if spec.compacted {
                topic = topic.set("cleanup.policy", "compact");
            }
            let opts = AdminOptions::new().operation_timeout(Some(inner.options.request_timeout));
            let results = inner
                .admin
                .create_topics([&topic], &opts)
                .await
                .map_err(|e| kafka_error("create a topic", e))?;
            for r in results {
                match r {
                    Ok(_) => {}
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                        return Err(BusError::TopicExists {
                            topic: name.to_string(),
                        });
                    }
                    Err((_, code)) => {
                        return Err(BusError::Kafka {
                            doing: "create a topic",
                            reason: code.to_string(),
                            retriable: false,
                            unreachable: false,
                        });
                    }
                }
            }
            inner
                .partitions
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.to_string(), spec.partitions);
            Ok(())
        })
    }

    fn delete_topic(&self, name: &TopicName) -> BoxFuture<'_, Result<(), BusError>> {
        let name = name.clone();
        Box::pin(async move {
            if name.as_str().starts_with("__") {
                return Err(BusError::ReservedTopic {
                    topic: name.to_string(),
                });
            }
            let inner = &self.inner;
            let wire = inner.wire(name.as_str());
            let opts = AdminOptions::new().operation_timeout(Some(inner.options.request_timeout));
            let results = inner
                .admin
                .delete_topics(&[&wire], &opts)
                .await
                .map_err(|e| kafka_error("delete a topic", e))?;
            inner.forget(name.as_str());
            for r in results {
                match r {
                    Ok(_) => {}
                    Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                        return Err(BusError::unknown_topic(name.as_str()));
                    }
                    Err((_, code)) => {
                        return Err(BusError::Kafka {
                            doing: "delete a topic",
                            reason: code.to_string(),
                            retriable: false,
                            unreachable: false,
                        });
                    }
                }
            }
            Ok(())
        })
    }

    fn list_topics(&self) -> BoxFuture<'_, Result<Vec<TopicName>, BusError>> {
        Box::pin(blocking(&self.inner, |inner| {
            let md = inner
                .meta
                .fetch_metadata(None, inner.options.request_timeout)
                .map_err(|e| kafka_error("list topics", e))?;
            let mut names: Vec<TopicName> = md
                .topics()
                .iter()
                .filter_map(|t| inner.logical(t.name()))
                .filter(|n| !n.starts_with("__"))
                .filter_map(|n| TopicName::new(n).ok())
                .collect();
            names.sort();
            Ok(names)
        }))
    }

    fn describe_topic(
        &self,
        name: &TopicName,
    ) -> BoxFuture<'_, Result<TopicDescription, BusError>> {
        let name = name.clone();
        Box::pin(async move {
            let mut d = blocking(&self.inner, move |inner| inner.describe(&name)).await?;
            // The spec lives in the topic's configuration; a broker that does not answer
            // DescribeConfigs leaves the defaults.
            let inner = &self.inner;
            let wire = inner.wire(d.name.as_str());
            let opts = AdminOptions::new().request_timeout(Some(inner.options.request_timeout));
            if let Ok(results) = inner
                .admin
                .describe_configs([&ResourceSpecifier::Topic(&wire)], &opts)
                .await
                && let Some(Ok(config)) = results.into_iter().next()
            {
                let value = |k: &str| config.get(k).and_then(|e| e.value.clone());
                d.spec.compacted = value("cleanup.policy").is_some_and(|v| v.contains("compact"));
                d.spec.retention_age = value("retention.ms")
                    .and_then(|v| v.parse::<i64>().ok())
                    .filter(|&ms| ms >= 0)
                    .map(|ms| Duration::from_millis(ms as u64));
                d.spec.retention_bytes = value("retention.bytes")
                    .and_then(|v| v.parse::<i64>().ok())
                    .filter(|&b| b >= 0)
                    .map(|b| b as u64);
            }
            Ok(d)
        })
    }

    fn send(&self, topic: &TopicName, record: ProducerRecord) -> DeliveryFuture {
        let inner = &self.inner;
        let name = topic.as_str();
        if name.starts_with("__") {
            return DeliveryFuture::ready(Err(BusError::ReservedTopic {
                topic: name.to_owned(),
            }));
        }
        let mut n = match inner.partition_count(name) {
            Ok(n) => n,
            Err(e) => return DeliveryFuture::ready(Err(e)),
        };
        let ProducerRecord { record, partition } = record;
        if partition.is_some_and(|p| p >= n) {
            // Partitions may have been added since the count was cached: ask again once.
            inner.forget(name);
            n = match inner.partition_count(name) {
                Ok(n) => n,
                Err(e) => return DeliveryFuture::ready(Err(e)),
            };
        }
        let partition = match (partition, &record.key) {
            (Some(p), _) if p >= n => {
                return DeliveryFuture::ready(Err(BusError::UnknownPartition {
                    topic: name.to_owned(),
                    partition: p,
                    partitions: n,
                }));
            }
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, n),
            (None, None) => inner.round_robin.fetch_add(1, Ordering::Relaxed) % n,
        };
        let wire = inner.wire(name);
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for h in &record.headers {
            headers = headers.insert(KHeader {
                key: &h.key,
                value: Some(h.value.as_ref()),
            });
        }
        let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&wire)
            .partition(partition as i32)
            .timestamp(kafka_millis(record.timestamp))
            .headers(headers);
        if let Some(k) = &record.key {
            fr = fr.key(k.as_ref());
        }
        if let Some(v) = &record.value {
            fr = fr.payload(v.as_ref());
        }
        // A full local queue drains as acknowledgements arrive: wait for room rather than
        // fail (bounded by the message timeout).
        let mut waited = Duration::ZERO;
        let delivery = loop {
            match inner.producer.send_result(fr) {
                Ok(d) => break d,
                Err((e, back))
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull)
                        && waited < Duration::from_secs(30) =>
                {
                    inner.producer.poll(Duration::from_millis(10));
                    waited += Duration::from_millis(10);
                    fr = back;
                }
                Err((e, _)) => return DeliveryFuture::ready(Err(send_error(name, partition, e))),
            }
        };
        let topic = name.to_owned();
        DeliveryFuture::from_future(Box::pin(async move {
            match delivery.await {
                Ok(Ok(d)) => match (u32::try_from(d.partition), u64::try_from(d.offset)) {
                    (Ok(partition), Ok(offset)) => Ok(Delivery { partition, offset }),
                    // `acks=0` (a user option) acknowledges without an offset.
                    _ => Err(BusError::Kafka {
                        doing: "send a record",
                        reason: format!(
                            "the broker acknowledged without a partition and offset ({}/{}); \
                             is acks=0 set? Twinlog needs acks=all",
                            d.partition, d.offset
                        ),
                        retriable: false,
                        unreachable: false,
                    }),
                },
                Ok(Err((e, _))) => Err(send_error(&topic, partition, e)),
                Err(_) => Err(BusError::Closed),
            }
        }))
    }

    fn subscribe_with(
        &self,
        group: &GroupId,
        topics: &[TopicName],
        listener: Arc<dyn RebalanceListener>,
        options: ConsumerOptions,
    ) -> BoxFuture<'_, Result<Box<dyn Consumer>, BusError>> {
        let group = group.clone();
        let topics = topics.to_vec();
        Box::pin(async move {
            let c =
                KafkaConsumer::join(self.inner.clone(), group, topics, listener, options).await?;
            Ok(Box::new(c) as Box<dyn Consumer>)
        })
    }

    fn committed(
        &self,
        group: &GroupId,
        partition: &TopicPartition,
    ) -> BoxFuture<'_, Result<Option<u64>, BusError>> {
        let group = group.clone();
        let tp = partition.clone();
        Box::pin(blocking(&self.inner, move |inner| {
            group::committed(inner, &group, &tp)
        }))
    }

    fn reader(
        &self,
        partition: &TopicPartition,
        start: StartAt,
    ) -> BoxFuture<'_, Result<Box<dyn PartitionReader>, BusError>> {
        let tp = partition.clone();
        Box::pin(async move {
            let r = KafkaReader::open(self.inner.clone(), tp, start).await?;
            Ok(Box::new(r) as Box<dyn PartitionReader>)
        })
    }

    fn read(
        &self,
        partition: &TopicPartition,
        from: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>> {
        let tp = partition.clone();
        Box::pin(async move {
            let (low, high) = {
                let tp = tp.clone();
                blocking(&self.inner, move |inner| {
                    inner.check_partition(&tp)?;
                    inner.watermarks(tp.topic.as_str(), tp.partition)
                })
                .await?
            };
            let from = from.max(low);
            if from >= high || max == 0 {
                return Ok(Vec::new());
            }
            let mut r = KafkaReader::open(self.inner.clone(), tp, StartAt::Offset(from)).await?;
            let mut out = Vec::with_capacity(max.min((high - from) as usize));
            // Offsets below the high watermark may hold no record a reader gets (transaction
            // markers, aborted records): a read waits for records only so long, never forever.
            let timeout = self.inner.options.request_timeout;
            while out.len() < max && r.position() < high {
                match tokio::time::timeout(timeout, r.next_batch(max - out.len())).await {
                    Ok(batch) => out.extend(batch?),
                    Err(_) => break,
                }
            }
            out.retain(|rec| rec.offset < high);
            out.truncate(max);
            Ok(out)
        })
    }

    fn offset_for_timestamp(
        &self,
        partition: &TopicPartition,
        timestamp: Timestamp,
    ) -> BoxFuture<'_, Result<Option<u64>, BusError>> {
        let tp = partition.clone();
        Box::pin(blocking(&self.inner, move |inner| {
            inner.offset_for_time(&tp, timestamp)
        }))
    }
}
