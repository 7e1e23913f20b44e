//! `twinlog publish`: one JSON value, or JSON lines from stdin, appended pipelined.
//!
//! With `-`, a reader thread feeds lines to the async loop, which groups whatever is
//! available (up to [`CHUNK_LINES`]) into one batch per partition and queues the appends
//! at once; up to [`MAX_CHUNKS_IN_FLIGHT`] chunks wait for their acknowledgement together,
//! so many lines share one fsync instead of paying one round trip each. Acks are printed in
//! input order. A bad line stops the run: every line before it is published and printed,
//! nothing after it is, and the error names the line.

use super::{Exit, open_writable};
use crate::cli::PublishArgs;
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;
use tokio::task::JoinHandle;
use twinlog_core::{Record, Timestamp, partition_for_key};
use twinlog_log::{AppendAck, Log, LogOptions};

/// Lines grouped into one round of appends. Big enough to amortise the per-append cost,
/// small enough that an interactive user sees each ack at once (a chunk never waits to fill).
const CHUNK_LINES: usize = 4096;
/// Chunks awaiting acknowledgement at once: enough to keep the writer busy across an fsync
/// interval, bounded so memory stays small when stdin is faster than the disk.
const MAX_CHUNKS_IN_FLIGHT: usize = 16;

pub fn run(data_dir: &Path, args: PublishArgs) -> Result<Exit> {
    let log = open_writable(data_dir)?;
    let partitions = log.partition_count(&args.topic)?;
    if let Some(p) = args.partition {
        if p >= partitions {
            bail!(
                "topic {:?} has {partitions} partition(s) (0..{partitions}); there is no partition {p}",
                args.topic
            );
        }
    }
    let router = Router {
        partitions,
        fixed: args.partition,
        key: args.key.map(Bytes::from),
        next: (Timestamp::now().as_micros().unsigned_abs() % u64::from(partitions)) as u32,
    };
    let rt = super::runtime()?;
    if args.value == "-" {
        rt.block_on(publish_stdin(log, args.topic, router, args.json))
    } else {
        let value = validate(args.value.as_bytes(), "the value")?;
        let mut router = router;
        let partition = router.next_partition();
        let record = make_record(&router, value);
        let ack = rt.block_on(log.append(&args.topic, partition, vec![record]))?;
        print_acks(
            &args.topic,
            &[ack],
            args.json,
            &mut std::io::stdout().lock(),
        )?;
        Ok(Exit::Success)
    }
}

/// Picks partitions: the fixed one, the key's, or round-robin for keyless records.
struct Router {
    partitions: u32,
    fixed: Option<u32>,
    key: Option<Bytes>,
    next: u32,
}

impl Router {
    fn next_partition(&mut self) -> u32 {
        if let Some(p) = self.fixed {
            return p;
        }
        if let Some(k) = &self.key {
            return partition_for_key(k, self.partitions);
        }
        let p = self.next;
        self.next = (self.next + 1) % self.partitions;
        p
    }
}

fn make_record(router: &Router, value: Bytes) -> Record {
    Record {
        timestamp: Timestamp::now(),
        key: router.key.clone(),
        headers: Vec::new(),
        value: Some(value),
    }
}

/// Checks that `bytes` is one JSON value within the record size limit; returns it trimmed,
/// exactly as written (no re-serialisation: `tail` gives back what was published).
fn validate(bytes: &[u8], what: &str) -> Result<Bytes> {
    let trimmed = bytes.trim_ascii();
    serde_json::from_slice::<serde::de::IgnoredAny>(trimmed)
        .map_err(|e| anyhow!("{what} is not valid JSON: {e}"))?;
    let max = LogOptions::DEFAULT_MAX_RECORD_BYTES;
    if trimmed.len() > max {
        bail!(
            "{what} is {} bytes; the largest record accepted is {max} bytes",
            trimmed.len()
        );
    }
    Ok(Bytes::copy_from_slice(trimmed))
}

/// One round of appends, awaited by one task: resolves to (partition, offset) per line, in
/// input order. Awaiting a `JoinHandle` by reference is cancel-safe, so the main loop can
/// wait for it and for input at the same time.
type Chunk = JoinHandle<Result<Vec<(u32, u64)>>>;

enum Step {
    Input(Option<std::io::Result<(usize, String)>>),
    Acked(Result<Vec<(u32, u64)>>),
}

async fn publish_stdin(log: Log, topic: String, mut router: Router, json: bool) -> Result<Exit> {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<std::io::Result<(usize, String)>>(CHUNK_LINES * 2);
    // Blocking reads stay off the runtime thread.
    std::thread::spawn(move || {
        let stdin = std::io::stdin().lock();
        for (i, line) in stdin.lines().enumerate() {
            let stop = line.is_err();
            if tx.blocking_send(line.map(|l| (i + 1, l))).is_err() || stop {
                break;
            }
        }
    });

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut in_flight: VecDeque<Chunk> = VecDeque::new();
    let mut published: u64 = 0;
    let mut failure: Option<anyhow::Error> = None;
    let mut input_open = true;
    let mut pending: Vec<Bytes> = Vec::with_capacity(CHUNK_LINES);

    while input_open || !in_flight.is_empty() {
        let want_input = input_open && in_flight.len() < MAX_CHUNKS_IN_FLIGHT;
        let step = match in_flight.front_mut() {
            None => Step::Input(rx.recv().await),
            Some(front) if want_input => tokio::select! {
                biased;
                acked = front => Step::Acked(flatten(acked)),
                line = rx.recv() => Step::Input(line),
            },
            Some(front) => Step::Acked(flatten(front.await)),
        };
        let mut next = match step {
            Step::Acked(done) => {
                in_flight.pop_front();
                match done {
                    Ok(acks) => published += print_chunk(&topic, acks, json, &mut out)?,
                    Err(e) => {
                        // Chunks queued after it may still be written; wait for them and
                        // report them too, but read no more input.
                        failure.get_or_insert(e);
                        input_open = false;
                    }
                }
                continue;
            }
            Step::Input(first) => first,
        };
        // Take in whatever input is ready now, up to one chunk.
        loop {
            match next {
                None => {
                    input_open = false;
                    break;
                }
                Some(Err(e)) => {
                    failure = Some(anyhow!(e).context("cannot read stdin"));
                    input_open = false;
                    break;
                }
                Some(Ok((line_no, line))) => {
                    if !line.trim().is_empty() {
                        match validate(line.as_bytes(), &format!("stdin line {line_no}")) {
                            Ok(v) => pending.push(v),
                            Err(e) => {
                                failure = Some(e);
                                input_open = false;
                                break;
                            }
                        }
                    }
                }
            }
            if pending.len() >= CHUNK_LINES {
                break;
            }
            next = match rx.try_recv() {
                Ok(item) => Some(item),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
            };
        }
        if !pending.is_empty() {
            in_flight.push_back(dispatch(&log, &topic, &mut router, &mut pending));
        }
    }
    out.flush()?;
    match failure {
        None => Ok(Exit::Success),
        Some(e) => Err(e.context(format!(
            "stopped after publishing {published} record{} (every line before the failing one)",
            if published == 1 { "" } else { "s" }
        ))),
    }
}

fn flatten(
    joined: Result<Result<Vec<(u32, u64)>>, tokio::task::JoinError>,
) -> Result<Vec<(u32, u64)>> {
    joined.context("append task failed")?
}

/// Groups the pending lines into one batch per partition, queues the appends at once (so
/// offsets follow input order) and returns the task that awaits their acks.
fn dispatch(log: &Log, topic: &str, router: &mut Router, pending: &mut Vec<Bytes>) -> Chunk {
    let mut batches: Vec<(u32, Vec<Record>)> = Vec::new();
    let mut lines = Vec::with_capacity(pending.len());
    for value in pending.drain(..) {
        let p = router.next_partition();
        let idx = match batches.iter().position(|(bp, _)| *bp == p) {
            Some(i) => i,
            None => {
                batches.push((p, Vec::new()));
                batches.len() - 1
            }
        };
        let batch = &mut batches[idx].1;
        lines.push((idx, batch.len() as u64));
        batch.push(make_record(router, value));
    }
    let appends: Vec<_> = batches
        .into_iter()
        .map(|(p, records)| log.append(topic, p, records))
        .collect();
    tokio::spawn(async move {
        let mut acks: Vec<AppendAck> = Vec::with_capacity(appends.len());
        for append in appends {
            acks.push(append.await?);
        }
        Ok(lines
            .iter()
            .map(|&(b, i)| (acks[b].partition, acks[b].base_offset + i))
            .collect())
    })
}

fn print_chunk(
    topic: &str,
    acks: Vec<(u32, u64)>,
    json: bool,
    out: &mut impl Write,
) -> Result<u64> {
    for &(partition, offset) in &acks {
        print_one(topic, partition, offset, json, out)?;
    }
    out.flush()?;
    Ok(acks.len() as u64)
}

fn print_acks(topic: &str, acks: &[AppendAck], json: bool, out: &mut impl Write) -> Result<()> {
    for ack in acks {
        for i in 0..u64::from(ack.count) {
            print_one(topic, ack.partition, ack.base_offset + i, json, out)?;
        }
    }
    Ok(())
}

fn print_one(
    topic: &str,
    partition: u32,
    offset: u64,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    if json {
        serde_json::to_writer(
            &mut *out,
            &serde_json::json!({"topic": topic, "partition": partition, "offset": offset}),
        )?;
        writeln!(out)?;
    } else {
        writeln!(out, "{topic}/{partition}@{offset}")?;
    }
    Ok(())
}
