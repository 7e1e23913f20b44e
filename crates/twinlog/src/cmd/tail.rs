//! `twinlog tail`: print a topic's records from a chosen start, and follow it as it grows.
//!
//! The data dir is opened read-only, so `tail` works while another process writes. Without
//! `--follow`, partitions are printed one after the other up to the end they had when the
//! command started; with `--follow`, one follower per partition waits for new records and
//! records are printed as they arrive.

use super::{Exit, open_read_only};
use crate::cli::TailArgs;
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::value::RawValue;
use std::io::Write;
use std::path::Path;
use twinlog_core::StoredRecord;
use twinlog_log::Log;

/// Records fetched per read: large enough to amortise the index lookup, small enough to
/// print the first lines at once.
const READ_BATCH: usize = 1024;
/// Without a start flag and without --follow, print the last this many records per partition.
const DEFAULT_LAST: u64 = 10;

pub fn run(data_dir: &Path, args: TailArgs) -> Result<Exit> {
    let log = open_read_only(data_dir)?;
    let count = log.partition_count(&args.topic)?;
    // An unknown --partition is refused by the log itself, naming the partitions there are.
    let partitions: Vec<u32> = match args.partition {
        Some(p) => vec![p],
        None => (0..count).collect(),
    };
    let mut starts = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        starts.push((p, start_offset(&log, &args, p)?));
    }
    let mut printer = Printer::new(args.json, args.max.unwrap_or(u64::MAX));
    if printer.remaining == 0 {
        return Ok(Exit::Success);
    }
    if args.follow {
        let followed = super::runtime()?.block_on(follow(&log, &args.topic, starts, &mut printer));
        quiet_on_broken_pipe(followed)?;
    } else {
        for (p, from) in starts {
            let end = log.end_offset(&args.topic, p)?;
            let mut next = from;
            while next < end && printer.remaining > 0 {
                let batch = log.read(&args.topic, p, next, READ_BATCH)?;
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
    }
    quiet_on_broken_pipe(printer.out.flush().map_err(Into::into))?;
    Ok(Exit::Success)
}

/// `tail … | head` closes stdout early: that is the reader's choice, not an error.
pub(super) fn quiet_on_broken_pipe(r: Result<()>) -> Result<()> {
    match r {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn start_offset(log: &Log, args: &TailArgs, partition: u32) -> Result<u64> {
    let start = log.start_offset(&args.topic, partition)?;
    let end = log.end_offset(&args.topic, partition)?;
    Ok(if args.from_beginning {
        start
    } else if let Some(o) = args.offset {
        o.max(start)
    } else if let Some(since) = args.since {
        let ts = twinlog_core::Timestamp::from_micros(since.as_microsecond());
        log.offset_for_timestamp(&args.topic, partition, ts)?
            .unwrap_or(end)
    } else if args.follow {
        end
    } else {
        // `tail -n 3` prints the last 3, like tail(1); without -n the last 10.
        end.saturating_sub(args.max.unwrap_or(DEFAULT_LAST))
            .max(start)
    })
}

async fn follow(
    log: &Log,
    topic: &str,
    starts: Vec<(u32, u64)>,
    printer: &mut Printer<'_>,
) -> Result<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for (p, from) in starts {
        let mut follower = log.subscribe(topic, p, from)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let batch = follower.next_batch(READ_BATCH).await;
                let stop = batch.is_err();
                if tx.send(batch).await.is_err() || stop {
                    break;
                }
            }
        });
    }
    drop(tx);
    print_followed(rx, printer).await
}

/// Prints the batches the per-partition followers send until they stop, `--max` is
/// reached or Ctrl-C (the log's followers here, the Kafka bus's readers in `cmd::kafka`).
pub(super) async fn print_followed<E>(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<StoredRecord>, E>>,
    printer: &mut Printer<'_>,
) -> Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    // One Ctrl-C future for the whole loop, polled first: a signal is never lost to a race
    // with a ready batch.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            biased;
            _ = &mut ctrl_c => return Ok(()),
            batch = rx.recv() => {
                let Some(batch) = batch else { return Ok(()) };
                for rec in &batch.context("cannot follow the topic")? {
                    if !printer.print(rec)? {
                        return Ok(());
                    }
                }
                printer.out.flush()?;
            }
        }
    }
}

/// Prints records on stdout, human or JSON, up to `--max`.
pub(super) struct Printer<'a> {
    out: std::io::BufWriter<std::io::StdoutLock<'a>>,
    json: bool,
    remaining: u64,
}

/// The JSON shape of a record: `value` is the published JSON itself, not a string of it.
#[derive(Serialize)]
struct RecordJson<'a> {
    topic: &'a str,
    partition: u32,
    offset: u64,
    timestamp: String,
    key: Option<String>,
    value: Option<Box<RawValue>>,
}

impl Printer<'static> {
    pub(super) fn new(json: bool, remaining: u64) -> Printer<'static> {
        Printer {
            out: std::io::BufWriter::new(std::io::stdout().lock()),
            json,
            remaining,
        }
    }
}

impl Printer<'_> {
    /// Whether `--max` records were printed.
    pub(super) fn done(&self) -> bool {
        self.remaining == 0
    }

    pub(super) fn flush(&mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }

    /// A JSON line that is not a record (`consume`'s commits).
    pub(super) fn line(&mut self, value: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        writeln!(self.out)?;
        Ok(self.out.flush()?)
    }

    /// Prints one record; false once `--max` records were printed.
    pub(super) fn print(&mut self, rec: &StoredRecord) -> Result<bool> {
        if self.remaining == 0 {
            return Ok(false);
        }
        self.remaining -= 1;
        let key = rec
            .record
            .key
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).into_owned());
        let value = rec.record.value.as_ref().map(|v| json_value(v));
        if self.json {
            let line = RecordJson {
                topic: &rec.topic,
                partition: rec.partition,
                offset: rec.offset,
                timestamp: rec.record.timestamp.to_string(),
                key,
                value,
            };
            serde_json::to_writer(&mut self.out, &line)?;
            writeln!(self.out)?;
        } else {
            writeln!(
                self.out,
                "{}/{}@{} {} {} {}",
                rec.topic,
                rec.partition,
                rec.offset,
                rec.record.timestamp,
                key.as_deref().unwrap_or("-"),
                value.as_deref().map_or("null", RawValue::get)
            )?;
        }
        Ok(self.remaining > 0)
    }
}

/// The stored bytes as JSON: as they are when they hold JSON (what `publish` writes), else a
/// JSON string of their lossy UTF-8 text (records written by other producers).
fn json_value(bytes: &[u8]) -> Box<RawValue> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| RawValue::from_string(s.to_owned()).ok())
        .unwrap_or_else(|| {
            let text =
                serde_json::to_string(&String::from_utf8_lossy(bytes)).expect("strings serialise");
            RawValue::from_string(text).expect("a JSON string is valid JSON")
        })
}
