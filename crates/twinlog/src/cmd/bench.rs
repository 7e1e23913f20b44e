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
