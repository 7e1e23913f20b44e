//! Measures the embedded bus end to end: pipelined `send`, `send_batch`, and one group member
//! consuming everything back, on a fresh temporary data dir.
//!
//! `cargo run --release -p twinlog-bus --example throughput -- [RECORDS] [PARTITIONS] [FSYNC]`
//! (defaults: 200000 records of 100 bytes, 1 partition, `5ms`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use twinlog_bus::{Bus, EmbeddedBus, GroupId, NoopListener, ProducerRecord, TopicSpec};
use twinlog_core::{Record, Timestamp, TopicName};
use twinlog_log::{FsyncPolicy, LogOptions};

/// How many sends may be awaiting their acknowledgement at once (a producer's in-flight
/// window); large enough to fill several group commits.
const WINDOW: usize = 16_384;

fn record(i: usize, value: &Bytes) -> ProducerRecord {
    Record {
        timestamp: Timestamp::from_micros(i as i64),
        key: Some(Bytes::from(format!("device-{}", i % 1000))),
        headers: Vec::new(),
        value: Some(value.clone()),
    }
    .into()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let records: usize = args.get(1).map_or(Ok(200_000), |s| s.parse())?;
    let partitions: u32 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let fsync: FsyncPolicy = args.get(3).map_or(
        Ok(FsyncPolicy::Interval(std::time::Duration::from_millis(5))),
        |s| s.parse(),
    )?;
    let dir = tempfile::tempdir()?;
    let bus = EmbeddedBus::open(
        dir.path(),
        LogOptions {
            fsync,
            ..LogOptions::default()
        },
    )?;
    // 100 bytes per record: ~13-byte key + 87-byte value.
    let value = Bytes::from(vec![b'x'; 87]);
    let piped = TopicName::new("piped")?;
    let batched = TopicName::new("batched")?;
    bus.create_topic(&piped, TopicSpec::new(partitions)).await?;
    bus.create_topic(&batched, TopicSpec::new(partitions))
        .await?;

    let start = Instant::now();
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    for i in 0..records {
        if in_flight.len() == WINDOW
            && let Some(f) = in_flight.pop_front()
        {
            let _: twinlog_bus::Delivery = f.await?;
        }
        in_flight.push_back(bus.send(&piped, record(i, &value)));
    }
    for f in in_flight {
        f.await?;
    }
    let piped_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    for chunk in (0..records).collect::<Vec<_>>().chunks(1000) {
        let batch = chunk.iter().map(|i| record(*i, &value)).collect();
        bus.send_batch(&batched, batch).await?;
    }
    let batched_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut consumer = bus
        .subscribe(
            &GroupId::new("bench")?,
            std::slice::from_ref(&piped),
            Arc::new(NoopListener),
        )
        .await?;
    let mut consumed = 0;
    while consumed < records {
        consumed += consumer.poll(4096).await?.len();
    }
    consumer.commit_consumed().await?;
    let consume_secs = start.elapsed().as_secs_f64();

    let rate = |secs: f64| records as f64 / secs;
    println!("records={records} size=100B partitions={partitions} fsync={fsync}");
    println!(
        "send (pipelined, window {WINDOW}): {:>12.0} records/s",
        rate(piped_secs)
    );
    println!(
        "send_batch (1000 per call, awaited): {:>9.0} records/s",
        rate(batched_secs)
    );
    println!(
        "group consume (poll 4096):     {:>12.0} records/s",
        rate(consume_secs)
    );
    Ok(())
}
