//! `twinlog bench log | lang`: measurements on this machine, human or `--json`.

use super::{Exit, print_json};
use crate::cli::{BenchLangArgs, BenchLogArgs};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use twinlog_log::bench::{BenchConfig, BenchPhase, BenchReport};

pub fn log(data_dir: &Path, args: BenchLogArgs) -> Result<Exit> {
    // The bench works in a fresh directory inside the data dir and removes it; a data dir
    // made just for it goes too.
    let created = !data_dir.exists();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let config = BenchConfig {
        dir: data_dir.to_path_buf(),
        records: args.records,
        record_size: args.size as usize,
        partitions: args.partitions,
        fsync: args.fsync,
    };
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut phase = None;
    let report = twinlog_log::bench::run(config, |p| {
        if phase != Some(p.phase) {
            phase = Some(p.phase);
            bar.set_prefix(match p.phase {
                BenchPhase::Disk => "disk",
                BenchPhase::Append => "append",
                BenchPhase::Read => "read",
                _ => "bench",
            });
            bar.set_message(if p.phase == BenchPhase::Disk {
                "bytes"
            } else {
                "records"
            });
            bar.set_length(p.total);
        }
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    if created {
        let _ = std::fs::remove_dir(data_dir);
    }
    let report = report?;
    if args.json {
        print_json(&log_json(&report))?;
    } else {
        print_log_report(&report)?;
    }
    Ok(Exit::Success)
}

fn log_json(r: &BenchReport) -> serde_json::Value {
    serde_json::json!({
        "records": r.records,
        "record_size": r.record_size,
        "partitions": r.partitions,
        "fsync": r.fsync.to_string(),
        "append_records_per_s": r.append_records_per_s,
        "append_mb_per_s": r.append_mb_per_s,
        "append_p50_us": r.append_p50_us,
        "append_p99_us": r.append_p99_us,
        "read_records_per_s": r.read_records_per_s,
        "read_mb_per_s": r.read_mb_per_s,
        "bytes_on_disk": r.bytes_on_disk,
        "disk_mb_per_s": r.disk_mb_per_s,
        "disk_fraction": r.disk_fraction,
    })
}

fn print_log_report(r: &BenchReport) -> std::io::Result<()> {
    outln!(
        "{} records of {} bytes, {} partition{}, fsync {}",
        r.records,
        r.record_size,
        r.partitions,
        if r.partitions == 1 { "" } else { "s" },
        r.fsync
    )?;
    outln!(
        "append  {:>12.0} records/s  {:>8.1} MB/s   ack p50 {} µs, p99 {} µs",
        r.append_records_per_s,
        r.append_mb_per_s,
        r.append_p50_us,
        r.append_p99_us
    )?;
    outln!(
        "read    {:>12.0} records/s  {:>8.1} MB/s",
        r.read_records_per_s,
        r.read_mb_per_s
    )?;
    outln!(
        "disk    {:>8.1} MB/s fsync'd sequential writes; the append reached {:.0} % of it",
        r.disk_mb_per_s,
        r.disk_fraction * 100.0
    )?;
    Ok(())
}

pub fn lang(args: BenchLangArgs) -> Result<Exit> {
    use twinlog_lang::bench::{CycleBench, compile_generated};
    let cycles = args.cycles.max(1);
    let mut bench = CycleBench::new().map_err(anyhow::Error::msg)?;
    // Warm-up: the first cycles size the output buffers; steady state starts after them.
    bench.run(10_000);
    crate::alloc_count::enable();
    let allocs_before = crate::alloc_count::allocations();
    let start = std::time::Instant::now();
    let (_, failed) = bench.run(cycles);
    let elapsed = start.elapsed();
    let allocs = crate::alloc_count::allocations() - allocs_before;
    if failed > 0 {
        anyhow::bail!("{failed} of {cycles} bench cycles failed; this is a bug in twinlog-lang");
    }
    let cycles_per_s = cycles as f64 / elapsed.as_secs_f64().max(1e-9);
    let allocs_per_cycle = allocs as f64 / cycles as f64;
    // Best of 20: the figure least disturbed by other work on the machine.
    let compile = compile_generated(1000, 20).map_err(anyhow::Error::msg)?;
    let compile_ms = compile.as_secs_f64() * 1000.0;
    if args.json {
        print_json(&serde_json::json!({
            "cycles": cycles,
            "cycles_per_s": cycles_per_s,
            "ns_per_cycle": elapsed.as_nanos() as f64 / cycles as f64,
            "allocs_per_cycle": allocs_per_cycle,
            "compile_1000_lines_ms": compile_ms,
        }))?;
    } else {
        outln!(
            "cycles    {cycles_per_s:>14.0} cycles/s  ({:.1} ns per cycle, 10-statement module, one core)",
            elapsed.as_nanos() as f64 / cycles as f64
        )?;
        outln!(
            "allocs    {allocs_per_cycle:>14.3} per cycle ({allocs} in {cycles} steady-state cycles)"
        )?;
        outln!("compile   {compile_ms:>14.2} ms for a 1,000-line module (best of 20)")?;
    }
    Ok(Exit::Success)
}

// ---------------------------------------------------------------------------------------
// pipeline and replay: the module runtime on the embedded bus

/// The module both benches run: one counter per instance.
const COUNTER: &str = "MODULE counter[room]
    SUBSCRIBE tick
    PRIVATE n = 0
    ON tick
      THEN n = n + 1
";

/// A scratch data dir inside `data_dir`, removed (with a data dir made just for it) on drop.
struct Scratch {
    dir: std::path::PathBuf,
    parent: Option<std::path::PathBuf>,
}

impl Scratch {
    fn new(data_dir: &Path, name: &str) -> Result<Scratch> {
        let created = !data_dir.exists();
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let dir = data_dir.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Scratch {
            dir,
            parent: created.then(|| data_dir.to_path_buf()),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(p) = &self.parent {
            let _ = std::fs::remove_dir(p);
        }
    }
}

fn bench_event(i: u64, instances: u64) -> twinlog_runtime::json::EventIn {
    twinlog_runtime::json::EventIn {
        time: jiff::Timestamp::from_second(1_700_000_000 + (i / 1000) as i64).ok(),
        module: None,
        variable: "tick".into(),
        instance: Some(format!("room-{}", i % instances)),
        value: None,
        mode: None,
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn start_runtime(
    dir: &Path,
    fsync: twinlog_log::FsyncPolicy,
) -> Result<(
    std::sync::Arc<dyn twinlog_bus::Bus>,
    twinlog_runtime::Runtime,
)> {
    let log = twinlog_log::Log::open(
        dir,
        twinlog_log::LogOptions {
            fsync,
            ..twinlog_log::LogOptions::default()
        },
    )?;
    let bus: std::sync::Arc<dyn twinlog_bus::Bus> =
        std::sync::Arc::new(twinlog_bus::embedded::EmbeddedBus::with_log(log)?);
    let rt = twinlog_runtime::Runtime::start(
        bus.clone(),
        twinlog_runtime::RuntimeOptions {
            mode: twinlog_runtime::ModeName::default_mode(),
            clock: twinlog_runtime::ClockKind::Test,
            time: twinlog_lang::time::TimeContext::new(jiff::tz::TimeZone::UTC),
        },
    )
    .await?;
    rt.deploy("counter.scc", COUNTER).await?;
    Ok((bus, rt))
}

pub fn pipeline(data_dir: &Path, args: crate::cli::BenchPipelineArgs) -> Result<Exit> {
    let scratch = Scratch::new(data_dir, "bench-pipeline")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let (bus, runtime) = start_runtime(&scratch.dir, args.fsync).await?;
        let instances = args.instances.max(1);
        let bar = if args.json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(args.events)
        };
        // Batches in flight at once: enough to cover an fsync interval at full speed.
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = tokio::task::JoinSet::new();
        let start = std::time::Instant::now();
        let mut sent = 0u64;
        while sent < args.events {
            let n = (args.batch as u64).min(args.events - sent);
            let events: Vec<_> = (sent..sent + n)
                .map(|i| bench_event(i, instances))
                .collect();
            if let Some(rate) = args.rate {
                let due = start + std::time::Duration::from_secs_f64(sent as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            let permit = permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore open");
            let runtime = runtime.clone();
            tasks.spawn(async move {
                let t0 = std::time::Instant::now();
                let acks = runtime.send_events(events).await?;
                let last = acks.last().map_or(0, |a| a.offset);
                runtime.wait_processed(last + 1).await?;
                drop(permit);
                Ok::<u64, twinlog_runtime::RuntimeError>(t0.elapsed().as_micros() as u64)
            });
            sent += n;
            bar.set_position(sent);
        }
        let mut latencies = Vec::new();
        while let Some(r) = tasks.join_next().await {
            latencies.push(r??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        latencies.sort_unstable();
        runtime.shutdown().await;
        // The reference in the same run: the same number of records straight to a topic.
        let topic = twinlog_core::TopicName::new("bench-reference").expect("valid name");
        bus.create_topic(&topic, twinlog_bus::types::TopicSpec::new(1))
            .await?;
        let payload =
            twinlog_runtime::codec::InputRecord::Event(bench_event(0, instances)).encode();
        let t = std::time::Instant::now();
        let mut pending = Vec::new();
        let mut i = 0;
        while i < args.events {
            let n = (args.batch as u64).min(args.events - i);
            let records = (0..n)
                .map(|_| {
                    twinlog_core::Record::new(twinlog_core::Timestamp::now(), payload.clone())
                        .into()
                })
                .collect();
            pending.push(bus.send_batch(&topic, records));
            if pending.len() >= 64 {
                for p in pending.drain(..) {
                    p.await?;
                }
            }
            i += n;
        }
        for p in pending {
            p.await?;
        }
        let reference = args.events as f64 / t.elapsed().as_secs_f64();
        let events_per_s = args.events as f64 / elapsed;
        anyhow::Ok(serde_json::json!({
            "events": args.events,
            "instances": instances,
            "batch": args.batch,
            "fsync": args.fsync.to_string(),
            "rate": args.rate,
            "events_per_s": events_per_s.round(),
            "p50_us": percentile(&latencies, 0.50),
            "p99_us": percentile(&latencies, 0.99),
            "reference_bus_appends_per_s": reference.round(),
            "ratio_to_bus_appends": (events_per_s / reference * 1000.0).round() / 1000.0,
        }))
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        outln!(
            "pipeline: {} events to {} instances (fsync {}): {:.0} events/s fully processed; event-to-snapshot p50 {} µs, p99 {} µs (per batch of {})",
            report["events"],
            report["instances"],
            report["fsync"].as_str().unwrap_or(""),
            report["events_per_s"].as_f64().unwrap_or(0.0),
            report["p50_us"],
            report["p99_us"],
            report["batch"]
        )?;
        outln!(
            "reference: the same records appended to a plain topic: {:.0}/s (pipeline = {} × that)",
            report["reference_bus_appends_per_s"]
                .as_f64()
                .unwrap_or(0.0),
            report["ratio_to_bus_appends"]
        )?;
    }
    Ok(Exit::Success)
}

pub fn replay(data_dir: &Path, args: crate::cli::BenchReplayArgs) -> Result<Exit> {
    let scratch = Scratch::new(data_dir, "bench-replay")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let (bus, runtime) = start_runtime(&scratch.dir, twinlog_log::FsyncPolicy::Never).await?;
        let topics = runtime.topics().clone();
        runtime.shutdown().await;
        // Events straight onto the inputs topic (the agent is stopped): the log to replay.
        let instances = args.instances.max(1);
        let mut i = 0;
        while i < args.events {
            let n = 10_000.min(args.events - i);
            let records = (i..i + n)
                .map(|k| {
                    let input =
                        twinlog_runtime::codec::InputRecord::Event(bench_event(k, instances));
                    twinlog_core::Record::new(twinlog_core::Timestamp::now(), input.encode()).into()
                })
                .collect();
            bus.send_batch(&topics.inputs, records).await?;
            i += n;
        }
        crate::alloc_count::enable();
        let before = crate::alloc_count::live_bytes();
        let t = std::time::Instant::now();
        let r = twinlog_runtime::replay(
            bus.clone(),
            topics,
            twinlog_lang::time::TimeContext::new(jiff::tz::TimeZone::UTC),
        )
        .await?;
        let secs = t.elapsed().as_secs_f64();
        // The replay's simulator is gone again; what it held is measured by rebuilding the
        // instances alone in one simulator.
        let held = crate::alloc_count::live_bytes().wrapping_sub(before) as i64;
        let per_instance = instance_bytes(instances)?;
        anyhow::Ok(serde_json::json!({
            "events": r.events,
            "instances": r.instances,
            "replay_events_per_s": (r.events as f64 / secs).round(),
            "seconds": (secs * 1000.0).round() / 1000.0,
            "bytes_per_instance": per_instance,
            "bytes_left_after_replay": held,
        }))
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        outln!(
            "replay: {} events into {} instances at {:.0} events/s ({} s); {} bytes of heap per idle instance",
            report["events"],
            report["instances"],
            report["replay_events_per_s"].as_f64().unwrap_or(0.0),
            report["seconds"],
            report["bytes_per_instance"]
        )?;
    }
    Ok(Exit::Success)
}

/// Heap bytes per idle instance of the bench module: `instances` of them created in one
/// simulator by one event each, measured with the counting allocator.
fn instance_bytes(instances: u64) -> Result<u64> {
    use twinlog_lang::sim::{SimEvent, Simulator};
    let program = twinlog_lang::ir::compile("counter.scc", COUNTER)
        .map_err(|_| anyhow::anyhow!("the bench module does not compile"))?;
    let mut sim = Simulator::new(
        vec![program],
        twinlog_lang::time::TimeContext::new(jiff::tz::TimeZone::UTC),
    )?;
    let time = jiff::Timestamp::from_second(1_700_000_000)?;
    let keys: Vec<String> = (0..instances).map(|i| format!("room-{i}")).collect();
    let before = crate::alloc_count::live_bytes();
    for (i, k) in keys.iter().enumerate() {
        let e = SimEvent {
            time,
            module: None,
            variable: "tick".into(),
            instance: Some(k.clone()),
            value: None,
        };
        sim.push(i, &e).map_err(|e| anyhow::anyhow!("{e}"))?;
        sim.settle();
        sim.take_output();
        sim.take_changed();
    }
    let after = crate::alloc_count::live_bytes();
    drop(sim);
    Ok((after.wrapping_sub(before) as i64).max(0) as u64 / instances)
}
