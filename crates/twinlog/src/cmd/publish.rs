//! `twinlog publish`: one JSON value, or JSON lines from stdin, appended pipelined.
//!
//! With `-`, a reader thread feeds lines to the async loop, which groups whatever is
//! available (up to [`CHUNK_LINES`] lines or [`CHUNK_BYTES`]) into one batch per partition
//! and queues the appends at once; chunks wait for their acknowledgement together (up to
//! [`MAX_IN_FLIGHT_BYTES`]), so many lines share one fsync instead of paying one round trip
//! each. Acks are printed in input order.
//!
//! A bad line (invalid JSON or UTF-8, too large) stops the run: every line before it is
//! published and printed, nothing after it is, and the error names the line. If the reader
//! of stdout goes away (`publish - | head`), publishing goes on and printing stops: input is
//! never dropped because nobody reads the acks.

use super::{Exit, open_writable};
use crate::cli::PublishArgs;
use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;
use tokio::task::JoinHandle;
use twinlog_core::{Record, Timestamp, partition_for_key};
use twinlog_log::{Log, LogOptions};

/// Lines grouped into one round of appends. Big enough to amortise the per-append cost,
/// small enough that an interactive user sees each ack at once (a chunk never waits to fill).
const CHUNK_LINES: usize = 4096;
/// A chunk also closes at this many bytes, so one append stays far below the log's batch
/// limit whatever the line sizes.
const CHUNK_BYTES: usize = 8 << 20;
/// Bytes awaiting acknowledgement at once: enough to keep the writer busy across an fsync
/// interval, bounded so memory stays small when stdin is faster than the disk.
const MAX_IN_FLIGHT_BYTES: usize = 32 << 20;

pub fn run(data_dir: &Path, args: PublishArgs) -> Result<Exit> {
    let log = open_writable(data_dir)?;
    let partitions = log.partition_count(&args.topic)?;
    let mut router = Router {
        partitions,
        fixed: args.partition,
        key: args.key.map(Bytes::from),
        next: (Timestamp::now().as_micros().unsigned_abs() % u64::from(partitions)) as u32,
    };
    let rt = super::runtime()?;
    let mut out = Output::new(args.json);
    if args.value == "-" {
        return rt.block_on(publish_stdin(log, args.topic, router, out));
    }
    let value = validate(args.value.as_bytes(), router.key_len(), "the value")?;
    let partition = router.next_partition();
    let ack = rt.block_on(log.append(&args.topic, partition, vec![router.record(value)]))?;
    out.ack(&args.topic, ack.partition, ack.base_offset)?;
    out.flush()?;
    Ok(Exit::Success)
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

    fn key_len(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
    }

    fn record(&self, value: Bytes) -> Record {
        Record {
            timestamp: Timestamp::now(),
            key: self.key.clone(),
            headers: Vec::new(),
            value: Some(value),
        }
    }
}

/// Checks that `bytes` is one JSON value and that key + value fit the record size limit;
/// returns the value trimmed, exactly as written (no re-serialisation: `tail` gives back
/// what was published).
pub(super) fn validate(bytes: &[u8], key_len: usize, what: &str) -> Result<Bytes> {
    let trimmed = bytes.trim_ascii();
    // JSON text is UTF-8; skipping a string does not check that, so check it here.
    if let Err(e) = std::str::from_utf8(trimmed) {
        bail!(
            "{what} is not valid UTF-8 (at byte {})",
            e.valid_up_to() + 1
        );
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(trimmed)
        .map_err(|e| anyhow!("{what} is not valid JSON: {e}"))?;
    let max = LogOptions::DEFAULT_MAX_RECORD_BYTES;
    let size = trimmed.len() + key_len;
    if size > max {
        bail!(
            "{what} makes a record of {size} bytes (key + value); the largest record accepted is {max} bytes"
        );
    }
    Ok(Bytes::copy_from_slice(trimmed))
}

/// Acks printed on stdout, human or JSON. A closed stdout (EPIPE) silences it for good.
pub(super) struct Output {
    out: std::io::BufWriter<std::io::Stdout>,
    json: bool,
    closed: bool,
}

impl Output {
    pub(super) fn new(json: bool) -> Output {
        Output {
            out: std::io::BufWriter::new(std::io::stdout()),
            json,
            closed: false,
        }
    }

    pub(super) fn ack(&mut self, topic: &str, partition: u32, offset: u64) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let written = if self.json {
            let line =
                serde_json::json!({"topic": topic, "partition": partition, "offset": offset});
            serde_json::to_writer(&mut self.out, &line)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(self.out))
        } else {
            writeln!(self.out, "{topic}/{partition}@{offset}")
        };
        self.check(written)
    }

    pub(super) fn flush(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.out.flush();
        self.check(flushed)
    }

    fn check(&mut self, r: std::io::Result<()>) -> Result<()> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => Ok(other?),
        }
    }
}

/// What one line of a chunk became.
type LineResult = (usize, Result<(u32, u64), String>);

/// One round of appends, awaited by one task: per line, in input order, its line number and
/// (partition, offset) or why it was not written. Awaiting a `JoinHandle` by reference is
/// cancel-safe, so the main loop can wait for it and for input at the same time.
struct Chunk {
    acks: JoinHandle<Vec<LineResult>>,
    bytes: usize,
}

enum Step {
    Input(Option<std::io::Result<(usize, Vec<u8>)>>),
    Acked(Result<Vec<LineResult>, tokio::task::JoinError>),
}

async fn publish_stdin(
    log: Log,
    topic: String,
    mut router: Router,
    mut out: Output,
) -> Result<Exit> {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<std::io::Result<(usize, Vec<u8>)>>(CHUNK_LINES * 2);
    // Blocking reads stay off the runtime thread. Lines are bytes: invalid UTF-8 is reported
    // by the JSON check, with its line number, like any other bad line.
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        for line_no in 1.. {
            let mut line = Vec::new();
            let read = stdin.read_until(b'\n', &mut line);
            let stop = !matches!(read, Ok(n) if n > 0);
            let item = match read {
                Ok(0) => break,
                Ok(_) => Ok((line_no, line)),
                Err(e) => Err(e),
            };
            if tx.blocking_send(item).is_err() || stop {
                break;
            }
        }
    });

    let mut in_flight: VecDeque<Chunk> = VecDeque::new();
    let mut in_flight_bytes = 0usize;
    let mut published: u64 = 0;
    let mut failure: Option<anyhow::Error> = None;
    let mut input_open = true;
    let mut pending: Vec<(usize, Bytes)> = Vec::with_capacity(CHUNK_LINES);
    let mut pending_bytes = 0usize;

    while input_open || !in_flight.is_empty() {
        let want_input = input_open && in_flight_bytes < MAX_IN_FLIGHT_BYTES;
        let step = match in_flight.front_mut() {
            None => Step::Input(rx.recv().await),
            Some(front) if want_input => tokio::select! {
                biased;
                acked = &mut front.acks => Step::Acked(acked),
                line = rx.recv() => Step::Input(line),
            },
            Some(front) => Step::Acked((&mut front.acks).await),
        };
        let mut next = match step {
            Step::Acked(done) => {
                let chunk = in_flight.pop_front().expect("the chunk just awaited");
                in_flight_bytes -= chunk.bytes;
                for (line_no, result) in done.map_err(|e| anyhow!("append task failed: {e}"))? {
                    match result {
                        Ok((partition, offset)) => {
                            published += 1;
                            out.ack(&topic, partition, offset)?;
                        }
                        Err(e) => {
                            // Chunks queued after it may still be written; wait for them and
                            // report them too, but read no more input.
                            failure.get_or_insert_with(|| {
                                anyhow!("stdin line {line_no} was not published: {e}")
                            });
                            input_open = false;
                        }
                    }
                }
                out.flush()?;
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
                    if !line.trim_ascii().is_empty() {
                        match validate(&line, router.key_len(), &format!("stdin line {line_no}")) {
                            Ok(v) => {
                                pending_bytes += v.len();
                                pending.push((line_no, v));
                            }
                            Err(e) => {
                                failure = Some(e);
                                input_open = false;
                                break;
                            }
                        }
                    }
                }
            }
            if pending.len() >= CHUNK_LINES || pending_bytes >= CHUNK_BYTES {
                break;
            }
            next = match rx.try_recv() {
                Ok(item) => Some(item),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
            };
        }
        if !pending.is_empty() {
            in_flight_bytes += pending_bytes;
            in_flight.push_back(Chunk {
                acks: dispatch(&log, &topic, &mut router, &mut pending),
                bytes: pending_bytes,
            });
            pending_bytes = 0;
        }
    }
    out.flush()?;
    match failure {
        None => Ok(Exit::Success),
        Some(e) => Err(anyhow!(
            "{e:#}; stopped there: {published} record{} published and acknowledged above",
            if published == 1 { " was" } else { "s were" }
        )),
    }
}

/// Groups the pending lines into one batch per partition, queues the appends at once (so
/// offsets follow input order) and returns the task that awaits every one of their acks.
fn dispatch(
    log: &Log,
    topic: &str,
    router: &mut Router,
    pending: &mut Vec<(usize, Bytes)>,
) -> JoinHandle<Vec<LineResult>> {
    let mut batches: Vec<(u32, Vec<Record>)> = Vec::new();
    // Per line: its number, its batch, its index in that batch.
    let mut lines = Vec::with_capacity(pending.len());
    for (line_no, value) in pending.drain(..) {
        let p = router.next_partition();
        let idx = match batches.iter().position(|(bp, _)| *bp == p) {
            Some(i) => i,
            None => {
                batches.push((p, Vec::new()));
                batches.len() - 1
            }
        };
        let batch = &mut batches[idx].1;
        lines.push((line_no, idx, batch.len() as u64));
        batch.push(router.record(value));
    }
    let appends: Vec<_> = batches
        .into_iter()
        .map(|(p, records)| log.append(topic, p, records))
        .collect();
    tokio::spawn(async move {
        let mut acks = Vec::with_capacity(appends.len());
        for append in appends {
            acks.push(append.await.map_err(|e| e.to_string()));
        }
        lines
            .into_iter()
            .map(|(line_no, b, i)| {
                let r = match &acks[b] {
                    Ok(ack) => Ok((ack.partition, ack.base_offset + i)),
                    Err(e) => Err(e.clone()),
                };
                (line_no, r)
            })
            .collect()
    })
}
