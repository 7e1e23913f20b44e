//! The log commands against a Kafka cluster (`--bus kafka://HOST:PORT[,…]`): `topic create |
//! list | describe`, `publish`, `tail` and `consume` (a consumer-group member), over the [`twinlog_bus::Bus`] trait on a
//! [`KafkaBus`]. Same flags and output as on the embedded log, minus what Kafka does not
//! report (sizes and segments).
//!
//! `--kafka-option key=value` goes to librdkafka as is (SASL, TLS, timeouts); a value written
//! `env:NAME` is read from the environment variable `NAME`, so a password never has to be on
//! the command line. Option values are never printed.

use super::Exit;
use super::publish::{Output, validate};
use super::tail::{Printer, print_followed, quiet_on_broken_pipe};
use super::topic::{TopicJson, print_describe, print_list};
use crate::cli::{
    BenchLogArgs, ConsumeArgs, GlobalArgs, PublishArgs, TailArgs, TopicCreateArgs,
    TopicDescribeArgs,
};
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;
use twinlog_bus::{
    Bus, ConsumerOptions, GroupId, KafkaBus, KafkaOptions, NoopListener, OffsetReset,
    ProducerRecord, StartAt, TopicPartition, TopicSpec,
};
use twinlog_core::{Record, Timestamp, TopicName};

/// Records awaiting their broker acknowledgement at once in `publish -`.
const MAX_IN_FLIGHT: usize = 10_000;
/// Records read per fetch in `tail`.
const READ_BATCH: usize = 1024;

/// The Kafka bus `--bus` names, with the `--kafka-option`s.
pub fn connect(global: &GlobalArgs) -> Result<KafkaBus> {
    let url = global.bus.as_deref().unwrap_or_default();
    let mut options = KafkaOptions::from_url(url)?;
    for opt in &global.kafka_option {
        let (key, value) = opt.split_once('=').ok_or_else(|| {
            anyhow!("--kafka-option `{opt}`: write KEY=VALUE, e.g. security.protocol=SASL_SSL")
        })?;
        let value = match value.strip_prefix("env:") {
            Some(var) => std::env::var(var).map_err(|_| {
                anyhow!("--kafka-option {key}=env:{var}: the environment variable {var} is not set")
            })?,
            None => value.to_owned(),
        };
        options = options.option(key.trim(), value);
    }
    Ok(KafkaBus::connect(options)?)
}

/// Adds what a user needs to an error that says no broker could be reached: which brokers
/// were tried and where librdkafka's own connection log is (one-shot commands keep it quiet).
pub fn explain(global: &GlobalArgs, err: anyhow::Error) -> anyhow::Error {
    let unreachable = err.chain().any(|e| {
        matches!(
            e.downcast_ref::<twinlog_bus::BusError>(),
            Some(twinlog_bus::BusError::Kafka {
                unreachable: true,
                ..
            })
        )
    });
    if !unreachable {
        return err;
    }
    let brokers = global
        .bus
        .as_deref()
        .and_then(|u| KafkaOptions::from_url(u).ok())
        .map(|o| o.brokers)
        .unwrap_or_default();
    err.context(format!(
        "cannot reach the Kafka brokers at {brokers} (check --bus or TWINLOG_BUS, and that the \
         cluster is up; RUST_LOG=librdkafka=info,rdkafka=info shows the connection attempts)"
    ))
}

fn topic_name(name: &str) -> Result<TopicName> {
    Ok(TopicName::new(name)?)
}

pub fn topic_delete(global: &GlobalArgs, args: crate::cli::TopicDeleteArgs) -> Result<Exit> {
    super::topic::refuse_mode_topic(&args.name)?;
    let bus = connect(global)?;
    let name = topic_name(&args.name)?;
    super::runtime()?.block_on(bus.delete_topic(&name))?;
    outln!("deleted topic {} on {}", args.name, bus.options().brokers)?;
    Ok(Exit::Success)
}

pub fn topic_create(global: &GlobalArgs, args: TopicCreateArgs) -> Result<Exit> {
    let bus = connect(global)?;
    let name = topic_name(&args.name)?;
    let mut spec = TopicSpec::new(args.partitions);
    if args.compacted {
        spec = spec.compacted();
    }
    if let Some(b) = args.retention_bytes {
        spec = spec.retention_bytes(b);
    }
    if let Some(a) = args.retention_age {
        spec = spec.retention_age(a);
    }
    super::runtime()?.block_on(async {
        bus.create_topic(&name, spec).await?;
        if args.json.json {
            super::print_json(&TopicJson::of_bus(&bus.describe_topic(&name).await?))?;
        } else {
            let kind = if args.compacted { ", compacted" } else { "" };
            outln!(
                "created topic {} ({} partition{}{kind}) on {}",
                args.name,
                args.partitions,
                if args.partitions == 1 { "" } else { "s" },
                bus.options().brokers
            )?;
        }
        Ok(Exit::Success)
    })
}

pub fn topic_list(global: &GlobalArgs, json: bool) -> Result<Exit> {
    let bus = connect(global)?;
    super::runtime()?.block_on(async {
        let mut topics = Vec::new();
        for name in bus.list_topics().await? {
            topics.push(TopicJson::of_bus(&bus.describe_topic(&name).await?));
        }
        if json {
            super::print_json(&topics)?;
            return Ok(Exit::Success);
        }
        print_list(&topics, "`twinlog topic create NAME --bus …`")?;
        Ok(Exit::Success)
    })
}

pub fn topic_describe(global: &GlobalArgs, args: TopicDescribeArgs) -> Result<Exit> {
    let bus = connect(global)?;
    let name = topic_name(&args.name)?;
    super::runtime()?.block_on(async {
        let t = TopicJson::of_bus(&bus.describe_topic(&name).await?);
        if args.json.json {
            super::print_json(&t)?;
            return Ok(Exit::Success);
        }
        print_describe(&t, Some(&bus.options().brokers))?;
        Ok(Exit::Success)
    })
}

fn producer_record(
    args_key: &Option<Bytes>,
    partition: Option<u32>,
    value: Bytes,
) -> ProducerRecord {
    ProducerRecord {
        record: Record {
            timestamp: Timestamp::now(),
            key: args_key.clone(),
            headers: Vec::new(),
            value: Some(value),
        },
        partition,
    }
}

pub fn publish(global: &GlobalArgs, args: PublishArgs) -> Result<Exit> {
    let bus = connect(global)?;
    let name = topic_name(&args.topic)?;
    let key = args.key.clone().map(Bytes::from);
    let key_len = key.as_ref().map_or(0, Bytes::len);
    let mut out = Output::new(args.json);
    super::runtime()?.block_on(async {
        if args.value != "-" {
            let value = validate(args.value.as_bytes(), key_len, "the value")?;
            let d = bus
                .send(&name, producer_record(&key, args.partition, value))
                .await?;
            out.ack(&args.topic, d.partition, d.offset)?;
            out.flush()?;
            return Ok(Exit::Success);
        }
        // Sends are pipelined: each line is handed to the producer at once, acks are printed
        // in input order as they come back, at most MAX_IN_FLIGHT waiting.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4096);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut line = Vec::new();
                match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if tx.blocking_send(Ok(line)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        let mut pending = VecDeque::new();
        let mut line_no = 0usize;
        let mut failure = None;
        while let Some(line) = rx.recv().await {
            line_no += 1;
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    failure = Some(anyhow::Error::from(e).context("cannot read stdin"));
                    break;
                }
            };
            if line.trim_ascii().is_empty() {
                continue;
            }
            let value = match validate(&line, key_len, &format!("line {line_no}")) {
                Ok(v) => v,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            pending.push_back((
                line_no,
                bus.send(&name, producer_record(&key, args.partition, value)),
            ));
            while pending.len() >= MAX_IN_FLIGHT && failure.is_none() {
                if let Err(e) = ack_one(&mut pending, &args.topic, &mut out).await {
                    failure = Some(e);
                }
            }
            if failure.is_some() {
                break;
            }
        }
        // Every line handed to the producer gets its answer, even after a failure: an ack
        // printed, or an error naming the line.
        let mut not_published = 0usize;
        while !pending.is_empty() {
            if let Err(e) = ack_one(&mut pending, &args.topic, &mut out).await {
                eprintln!("error: {e:#}");
                not_published += 1;
            }
        }
        out.flush()?;
        match failure {
            Some(e) if not_published == 0 => {
                Err(e.context("stopped; every line before it was published, none after it"))
            }
            Some(e) => Err(e.context(format!(
                "stopped; of the lines before it, {not_published} were not published (errors above); none after it"
            ))),
            None if not_published > 0 => {
                bail!("{not_published} line(s) were not published (errors above)")
            }
            None => Ok(Exit::Success),
        }
    })
}

async fn ack_one(
    pending: &mut VecDeque<(usize, twinlog_bus::DeliveryFuture)>,
    topic: &str,
    out: &mut Output,
) -> Result<()> {
    let Some((line, f)) = pending.pop_front() else {
        return Ok(());
    };
    let d = f
        .await
        .with_context(|| format!("line {line} was not published"))?;
    out.ack(topic, d.partition, d.offset)
}

pub fn tail(global: &GlobalArgs, args: TailArgs) -> Result<Exit> {
    let bus = Arc::new(connect(global)?);
    let name = topic_name(&args.topic)?;
    super::runtime()?.block_on(async {
        let d = bus.describe_topic(&name).await?;
        let partitions: Vec<_> = match args.partition {
            Some(p) if (p as usize) < d.partitions.len() => vec![d.partitions[p as usize]],
            Some(p) => bail!(
                "topic {:?} has {} partition(s) (0..{}); there is no partition {p}",
                args.topic,
                d.partitions.len(),
                d.partitions.len()
            ),
            None => d.partitions.clone(),
        };
        let mut printer = Printer::new(args.json, args.max.unwrap_or(u64::MAX));
        if printer.done() {
            return Ok(Exit::Success);
        }
        let mut starts = Vec::new();
        for p in &partitions {
            let tp = TopicPartition::new(name.clone(), p.partition);
            let from = if args.from_beginning {
                p.start_offset
            } else if let Some(o) = args.offset {
                o.max(p.start_offset)
            } else if let Some(since) = args.since {
                let ts = Timestamp::from_micros(since.as_microsecond());
                bus.offset_for_timestamp(&tp, ts)
                    .await?
                    .unwrap_or(p.end_offset)
            } else if args.follow {
                p.end_offset
            } else {
                p.end_offset
                    .saturating_sub(args.max.unwrap_or(10))
                    .max(p.start_offset)
            };
            starts.push((tp, from, p.end_offset));
        }
        if !args.follow {
            for (tp, from, end) in starts {
                let mut next = from;
                while next < end && !printer.done() {
                    let batch = bus.read(&tp, next, READ_BATCH).await?;
                    let Some(last) = batch.last() else { break };
                    next = last.offset + 1;
                    for rec in batch.iter().filter(|r| r.offset < end) {
                        match printer.print(rec) {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(e) => return quiet_on_broken_pipe(Err(e)).map(|()| Exit::Success),
                        }
                    }
                }
            }
            quiet_on_broken_pipe(printer.flush())?;
            return Ok(Exit::Success);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        for (tp, from, _) in starts {
            let mut reader = bus.reader(&tp, StartAt::Offset(from)).await?;
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    let batch = reader.next_batch(READ_BATCH).await;
                    let stop = batch.is_err();
                    if tx.send(batch).await.is_err() || stop {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let followed = print_followed(rx, &mut printer).await;
        quiet_on_broken_pipe(followed.and_then(|()| printer.flush()))?;
        Ok(Exit::Success)
    })
}

pub fn consume(global: &GlobalArgs, args: ConsumeArgs) -> Result<Exit> {
    let bus = connect(global)?;
    let topics = args
        .topics
        .iter()
        .map(|t| topic_name(t))
        .collect::<Result<Vec<_>>>()?;
    let group = GroupId::new(&args.group)?;
    let reset = if args.latest {
        OffsetReset::Latest
    } else {
        OffsetReset::Earliest
    };
    super::runtime()?.block_on(async {
        let mut c = bus
            .subscribe_with(
                &group,
                &topics,
                Arc::new(NoopListener),
                ConsumerOptions::with_reset(reset),
            )
            .await?;
        let mut printer = Printer::new(args.json, args.max.unwrap_or(u64::MAX));
        let mut since_commit = 0u64;
        // What was printed, per partition: the next offset to read (what a commit records).
        let mut printed: std::collections::BTreeMap<TopicPartition, u64> = Default::default();
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let result: Result<()> = async {
            while !printer.done() {
                let batch = tokio::select! {
                    biased;
                    _ = &mut ctrl_c => break,
                    batch = c.poll(READ_BATCH) => batch?,
                };
                for rec in &batch {
                    let more = printer.print(rec)?;
                    let tp = TopicPartition::new(topic_name(&rec.topic)?, rec.partition);
                    printed.insert(tp, rec.offset + 1);
                    since_commit += 1;
                    if !more {
                        break;
                    }
                }
                printer.flush()?;
                if since_commit >= args.commit_every || printer.done() {
                    commit(&mut *c, &printed, args.json, &mut printer).await?;
                    since_commit = 0;
                }
            }
            if since_commit > 0 {
                commit(&mut *c, &printed, args.json, &mut printer).await?;
            }
            Ok(())
        }
        .await;
        let closed = c.close().await;
        quiet_on_broken_pipe(result)?;
        closed?;
        Ok(Exit::Success)
    })
}

/// Commits what this member printed (of the partitions it still owns: the others moved on
/// with their new owner), and says so with --json.
async fn commit(
    c: &mut dyn twinlog_bus::Consumer,
    printed: &std::collections::BTreeMap<TopicPartition, u64>,
    json: bool,
    printer: &mut Printer<'_>,
) -> Result<()> {
    let owned = c.assignment();
    let offsets: Vec<(TopicPartition, u64)> = printed
        .iter()
        .filter(|(tp, _)| owned.contains(tp))
        .map(|(tp, o)| (tp.clone(), *o))
        .collect();
    c.commit(offsets.clone()).await?;
    if json {
        printer.line(&serde_json::json!({
            "committed": offsets
                .iter()
                .map(|(tp, o)| (tp.topic.as_str(), tp.partition, o))
                .collect::<Vec<_>>(),
        }))?;
    }
    Ok(())
}

/// `bench log --bus kafka://…`: the Kafka bus beside raw librdkafka on the same cluster, in
/// the same run, on one fresh topic (deleted after): produce `--records` values of `--size`
/// bytes round-robin over `--partitions` with each (raw first, then the bus: same producer
/// settings, idempotent, acks=all), then consume the topic's records with each (a raw
/// group consumer, then the bus's). Reports both rates and the ratios.
pub fn bench_log(global: &GlobalArgs, args: BenchLogArgs) -> Result<Exit> {
    use rdkafka::consumer::Consumer as _;
    use std::time::Instant;
    let bus = connect(global)?;
    let n = args.records;
    let size = args.size as usize;
    let name = topic_name(&unique_bench_topic())?;
    let wire = name.to_string();
    // The user's options go to the raw clients too, so both talk to the cluster alike.
    let raw_config = |extra: &[(&str, &str)]| {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &bus.options().brokers);
        for (k, v) in extra {
            c.set(*k, *v);
        }
        for (k, v) in &bus.options().client_options {
            c.set(k, v);
        }
        c
    };
    let value = vec![b'x'; size];
    super::runtime()?.block_on(async {
        bus.create_topic(&name, TopicSpec::new(args.partitions)).await?;
        let result: Result<serde_json::Value> = async {
            // Raw produce.
            let raw: rdkafka::producer::FutureProducer = raw_config(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("queue.buffering.max.messages", "1000000"),
            ])
            .create()?;
            // Both producers are warm before they are timed (connections, leaders known).
            for _ in 0..WARM_UP {
                let rec = rdkafka::producer::FutureRecord::<(), [u8]>::to(&wire)
                    .partition(0)
                    .payload(&value);
                raw.send(rec, std::time::Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| e)?;
                bus.send(&name, producer_record(&None, Some(0), Bytes::copy_from_slice(&value)))
                    .await?;
            }
            let start = Instant::now();
            let mut pending: VecDeque<rdkafka::producer::DeliveryFuture> = VecDeque::new();
            for i in 0..n {
                let rec = rdkafka::producer::FutureRecord::<(), [u8]>::to(&wire)
                    .partition((i % u64::from(args.partitions)) as i32)
                    .payload(&value);
                let mut rec = rec;
                let f = loop {
                    match raw.send_result(rec) {
                        Ok(f) => break f,
                        // A full local queue: wait for an acknowledgement to make room.
                        Err((e, back))
                            if e.rdkafka_error_code()
                                == Some(rdkafka::error::RDKafkaErrorCode::QueueFull) =>
                        {
                            rec = back;
                            match pending.pop_front() {
                                Some(f) => {
                                    f.await?.map_err(|(e, _)| e)?;
                                }
                                None => raw.poll(std::time::Duration::from_millis(10)),
                            }
                        }
                        Err((e, _)) => return Err(e.into()),
                    }
                };
                pending.push_back(f);
                while pending.len() > 500_000 {
                    pending.pop_front().expect("non-empty").await?.map_err(|(e, _)| e)?;
                }
            }
            for f in pending {
                f.await?.map_err(|(e, _)| e)?;
            }
            let raw_produce = n as f64 / start.elapsed().as_secs_f64();
            // Bus produce.
            let start = Instant::now();
            let mut pending = VecDeque::new();
            for i in 0..n {
                let r = producer_record(
                    &None,
                    Some((i % u64::from(args.partitions)) as u32),
                    Bytes::copy_from_slice(&value),
                );
                pending.push_back(bus.send(&name, r));
                while pending.len() > 500_000 {
                    pending.pop_front().expect("non-empty").await?;
                }
            }
            for f in pending {
                f.await?;
            }
            let bus_produce = n as f64 / start.elapsed().as_secs_f64();
            let total = 2 * (n + WARM_UP);
            // Raw consume (a group of one, from the start).
            let group = format!("{wire}-raw");
            // With the bus's prefetch back-off (10 ms, not 1 s), so both consume alike.
            let consumer: rdkafka::consumer::StreamConsumer = raw_config(&[
                ("group.id", group.as_str()),
                ("auto.offset.reset", "earliest"),
                ("enable.auto.commit", "false"),
                ("fetch.queue.backoff.ms", "10"),
            ])
            .create()?;
            consumer.subscribe(&[wire.as_str()])?;
            let start = Instant::now();
            let mut got = 0u64;
            let mut bytes = 0usize;
            while got < total {
                let m = consumer.recv().await?;
                bytes += m.payload_len();
                got += 1;
            }
            let raw_consume = total as f64 / start.elapsed().as_secs_f64();
            drop(consumer);
            // Bus consume.
            let group = GroupId::new(&format!("{wire}-bus"))?;
            let mut c = bus.subscribe(&group, std::slice::from_ref(&name), Arc::new(NoopListener)).await?;
            let start = Instant::now();
            let mut got = 0u64;
            while got < total {
                for r in c.poll(READ_BATCH).await? {
                    bytes += r.record.value.as_ref().map_or(0, Bytes::len);
                    got += 1;
                }
            }
            let bus_consume = total as f64 / start.elapsed().as_secs_f64();
            c.close().await?;
            std::hint::black_box(bytes);
            Ok(serde_json::json!({
                "records": n,
                "record_size": size,
                "partitions": args.partitions,
                "brokers": bus.options().brokers,
                "produce": {"raw_per_s": raw_produce, "bus_per_s": bus_produce, "ratio": bus_produce / raw_produce},
                "consume": {"records": total, "raw_per_s": raw_consume, "bus_per_s": bus_consume, "ratio": bus_consume / raw_consume},
            }))
        }
        .await;
        // The bench topic goes whatever happened.
        let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
            raw_config(&[]).create()?;
        let _ = admin
            .delete_topics(&[wire.as_str()], &rdkafka::admin::AdminOptions::new())
            .await;
        let report = result?;
        if args.json {
            super::print_json(&report)?;
        } else {
            let p = &report["produce"];
            let c = &report["consume"];
            outln!("{} records of {} bytes, {} partition(s), on {}", n, size, args.partitions, bus.options().brokers)?;
            outln!("produce   raw librdkafka {:>12.0} records/s   Kafka bus {:>12.0} records/s   ratio {:.2}", p["raw_per_s"].as_f64().unwrap_or(0.0), p["bus_per_s"].as_f64().unwrap_or(0.0), p["ratio"].as_f64().unwrap_or(0.0))?;
            outln!("consume   raw librdkafka {:>12.0} records/s   Kafka bus {:>12.0} records/s   ratio {:.2}", c["raw_per_s"].as_f64().unwrap_or(0.0), c["bus_per_s"].as_f64().unwrap_or(0.0), c["ratio"].as_f64().unwrap_or(0.0))?;
        }
        Ok(Exit::Success)
    })
}

/// Records each producer sends (and waits for) before it is timed.
const WARM_UP: u64 = 100;

fn unique_bench_topic() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("twinlog-bench-{}-{nanos}", std::process::id())
}
