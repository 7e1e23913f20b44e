//! [`KafkaReader`]: one partition read from an offset by a consumer without a group (it is
//! assigned the partition, never subscribes, never commits). The position is tracked here, so
//! it is exact before the first fetch arrives and after a seek (a seek re-assigns the
//! partition at the new offset, which drops whatever librdkafka had fetched ahead).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::Message as _;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Headers as _};
use twinlog_core::{Header, Record, StoredRecord, Timestamp};

use super::{FETCH_QUEUE_BACKOFF, Inner, blocking, kafka_error};
use crate::api::{BoxFuture, PartitionReader};
use crate::error::BusError;
use crate::types::{StartAt, TopicPartition};

/// A reader of one Kafka partition (made by [`crate::Bus::reader`] on a
/// [`super::KafkaBus`]).
pub struct KafkaReader {
    inner: Arc<Inner>,
    tp: TopicPartition,
    topic: Arc<str>,
    consumer: StreamConsumer,
    position: u64,
}

impl std::fmt::Debug for KafkaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaReader")
            .field("partition", &self.tp)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl KafkaReader {
    pub(super) async fn open(
        inner: Arc<Inner>,
        tp: TopicPartition,
        start: StartAt,
    ) -> Result<KafkaReader, BusError> {
        let position = {
            let tp = tp.clone();
            blocking(&inner, move |inner| {
                inner.check_partition(&tp)?;
                let (low, high) = inner.watermarks(tp.topic.as_str(), tp.partition)?;
                Ok(match start {
                    StartAt::Earliest => low,
                    StartAt::Latest => high,
                    StartAt::Offset(o) => o.max(low),
                    StartAt::Timestamp(t) => inner.offset_for_time(&tp, t)?.unwrap_or(high),
                })
            })
            .await?
        };
        let consumer: StreamConsumer = inner
            .options
            .config(&[
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("group.id", "twinlog-reader"),
                // A position below the log start (retention) reads from the start, never
                // silently from the end.
                ("auto.offset.reset", "earliest"),
                FETCH_QUEUE_BACKOFF,
            ])
            .create()
            .map_err(|e| {
                inner
                    .options
                    .scrubbed(kafka_error("create a partition reader", e))
            })?;
        let mut r = KafkaReader {
            topic: Arc::from(tp.topic.as_str()),
            inner,
            tp,
            consumer,
            position,
        };
        r.assign(position)?;
        Ok(r)
    }

    fn assign(&mut self, offset: u64) -> Result<(), BusError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &self.inner.wire(self.tp.topic.as_str()),
            self.tp.partition as i32,
            Offset::Offset(i64::try_from(offset).unwrap_or(i64::MAX)),
        )
        .map_err(|e| kafka_error("assign a partition", e))?;
        self.consumer
            .assign(&tpl)
            .map_err(|e| kafka_error("assign a partition", e))?;
        self.position = offset;
        Ok(())
    }

    /// One record if librdkafka has one fetched now (never waits).
    fn try_one(&mut self) -> Result<Option<StoredRecord>, BusError> {
        loop {
            let got = {
                let mut fut = pin!(self.consumer.recv());
                match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(Ok(m)) => Some(to_stored(&self.topic, &m)),
                    Poll::Ready(Err(e)) => return Err(kafka_error("read a partition", e)),
                    Poll::Pending => None,
                }
            };
            match got {
                // A record fetched before a seek: skip it.
                Some(r) if r.offset < self.position => continue,
                Some(r) => {
                    self.position = r.offset + 1;
                    return Ok(Some(r));
                }
                None => return Ok(None),
            }
        }
    }

    async fn wait_one(&mut self) -> Result<StoredRecord, BusError> {
        loop {
            let r = {
                match self.consumer.recv().await {
                    Ok(m) => to_stored(&self.topic, &m),
                    Err(e) => match kafka_error("read a partition", e) {
                        // librdkafka reconnects by itself: a broker going away is waited out.
                        BusError::Kafka {
                            retriable: true,
                            reason,
                            ..
                        } => {
                            tracing::warn!(partition = %self.tp, %reason, "Kafka read: retrying");
                            continue;
                        }
                        other => return Err(other),
                    },
                }
            };
            if r.offset >= self.position {
                self.position = r.offset + 1;
                return Ok(r);
            }
        }
    }

    fn fill(&mut self, out: &mut Vec<StoredRecord>, max: usize) -> Result<(), BusError> {
        while out.len() < max {
            match self.try_one()? {
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(())
    }
}

/// A fetched Kafka message as a Twinlog record (timestamps in milliseconds).
pub(crate) fn to_stored(topic: &Arc<str>, m: &BorrowedMessage<'_>) -> StoredRecord {
    let headers = m
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| Header {
                    key: h.key.to_owned(),
                    value: Bytes::copy_from_slice(h.value.unwrap_or_default()),
                })
                .collect()
        })
        .unwrap_or_default();
    let millis = m.timestamp().to_millis().unwrap_or(0);
    StoredRecord {
        topic: topic.clone(),
        partition: m.partition() as u32,
        offset: m.offset() as u64,
        record: Record {
            timestamp: Timestamp::from_millis(millis),
            key: m.key().map(Bytes::copy_from_slice),
            headers,
            value: m.payload().map(Bytes::copy_from_slice),
        },
    }
}

impl PartitionReader for KafkaReader {
    fn partition(&self) -> &TopicPartition {
        &self.tp
    }

    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<StoredRecord>, BusError>> {
        Box::pin(async move {
            let max = max.max(1);
            let mut out = Vec::new();
            self.fill(&mut out, max)?;
            if out.is_empty() {
                out.push(self.wait_one().await?);
                self.fill(&mut out, max)?;
            }
            Ok(out)
        })
    }

    fn next(&mut self) -> BoxFuture<'_, Result<StoredRecord, BusError>> {
        Box::pin(async move {
            match self.try_one()? {
                Some(r) => Ok(r),
                None => self.wait_one().await,
            }
        })
    }

    fn try_next_batch(&mut self, max: usize) -> Result<Vec<StoredRecord>, BusError> {
        let mut out = Vec::new();
        self.fill(&mut out, max)?;
        if !out.is_empty() || max == 0 {
            return Ok(out);
        }
        // "Available now" means stored on the broker: records below the high watermark
        // are fetched (briefly blocking), records above it are not waited for.
        let (_, high) = self
            .inner
            .watermarks(self.tp.topic.as_str(), self.tp.partition)?;
        let deadline = Instant::now() + self.inner.options.request_timeout;
        while out.is_empty() && self.position < high && Instant::now() < deadline {
            self.fill(&mut out, max)?;
            if out.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(out)
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn seek(&mut self, offset: u64) {
        // Re-assigning cannot fail for a partition already assigned; if it did, the next
        // read reports the broker's error.
        let _ = self.assign(offset);
    }

    fn seek_to_timestamp(&mut self, timestamp: Timestamp) -> BoxFuture<'_, Result<u64, BusError>> {
        Box::pin(async move {
            let tp = self.tp.clone();
            let offset = blocking(&self.inner, move |inner| {
                Ok(match inner.offset_for_time(&tp, timestamp)? {
                    Some(o) => o,
                    None => inner.watermarks(tp.topic.as_str(), tp.partition)?.1,
                })
            })
            .await?;
            self.assign(offset)?;
            Ok(offset)
        })
    }
}
