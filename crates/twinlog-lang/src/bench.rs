//! Workloads behind `twinlog bench lang` and `cargo bench -p twinlog-lang`, as plain
//! functions so the binary and criterion measure exactly the same thing.
//!
//! - [`bench_module_source`]: a 10-statement module (thermostat, light with a timer, counters).
//! - [`CycleBench`]: that module fed a fixed, repeating message stream, one instance on one
//!   core; [`run_cycles`] times it. Steady-state cycles allocate nothing (the binary and the
//!   tests count with a counting global allocator around [`CycleBench::run`]).
//! - [`generate_module`] / [`compile_generated`]: compile time of a generated module of N lines.
//!
//! Targets (issue 3, "How fast"): ≥ 5,000,000 cycles/s, 0 allocations per steady-state cycle,
//! ≤ 5 ms to compile 1,000 lines, in release builds.

use crate::eval::{CycleOutput, Input, Instance, Limits};
use crate::ir::{Program, compile};
use crate::time::TimeContext;
use crate::value::Value;
use jiff::Timestamp;
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The 10-statement module of the cycle benchmark.
pub fn bench_module_source() -> &'static str {
    r#"MODULE bench
    SUBSCRIBE temp
    SUBSCRIBE mode {off, auto, on}
    SUBSCRIBE motion
    PUBLISH heat {off, on} = off
    PUBLISH light {off, on} = off
    PUBLISH level {0-100} = 50
    PRIVATE count = 0
    PRIVATE last = 0
    TIMER offTimer 5 minutes
    ON mode.off
      THEN heat = off
    ON temp
      AND mode.auto
      AND temp < 19
      THEN heat = on
    ON temp
      AND mode.auto
      AND temp > 21
      THEN heat = off
    ON temp
      THEN last = temp
    ON motion
      AND motion
      THEN light = on
      THEN offTimer = reset
    ON motion
      THEN count++
    ON offTimer
      THEN light = off
    AT 22:00
      THEN light = off
    WHEN heat == on
      THEN level = min(100, level + 1)
    WHEN heat == off AND level > 0
      THEN level = max(0, level - 1)
"#
}

/// The benchmark module compiled (it always compiles; a failure is a bug in this crate).
pub fn bench_program() -> Result<Program, String> {
    compile("bench.scc", bench_module_source())
        .map_err(|d| crate::diag::render_all(&d, "bench.scc", bench_module_source()))
}

/// One instance of the bench module and a repeating stream of 64 messages.
#[derive(Debug)]
pub struct CycleBench {
    program: Program,
    instance: Instance,
    time_ctx: TimeContext,
    limits: Limits,
    out: CycleOutput,
    inputs: Vec<Input>,
    next: usize,
    time: Timestamp,
}

impl CycleBench {
    pub fn new() -> Result<Self, String> {
        let program = bench_program()?;
        let slot = |n: &str| {
            program
                .slot(n)
                .ok_or_else(|| format!("bench module lacks `{n}`"))
        };
        let (temp, mode, motion) = (slot("temp")?, slot("mode")?, slot("motion")?);
        let sym = |n: &str| {
            program
                .symbol(n)
                .map(Value::Enum)
                .ok_or_else(|| format!("no enum value `{n}`"))
        };
        let (auto, off) = (sym("auto")?, sym("off")?);
        let mut inputs = Vec::with_capacity(64);
        for i in 0..64u32 {
            let input = match i % 8 {
                0 if i == 32 => Input::Message {
                    slot: mode,
                    value: Some(off.clone()),
                },
                0 => Input::Message {
                    slot: mode,
                    value: Some(auto.clone()),
                },
                3 | 6 => Input::Message {
                    slot: motion,
                    value: Some(Value::Bool(i % 3 == 0)),
                },
                _ => {
                    // 15.0 … 25.5 and back: crosses both thresholds.
                    let t = 150 + (i * 7) % 106;
                    Input::Message {
                        slot: temp,
                        value: Some(Value::Number(Decimal::new(i64::from(t), 1))),
                    }
                }
            };
            inputs.push(input);
        }
        let instance = Instance::new(&program, None);
        Ok(CycleBench {
            program,
            instance,
            time_ctx: TimeContext::new(jiff::tz::TimeZone::UTC),
            limits: Limits::default(),
            out: CycleOutput::new(),
            inputs,
            next: 0,
            time: Timestamp::UNIX_EPOCH,
        })
    }

    /// Runs `n` cycles; returns how many publications they made (so the work is not
    /// optimised away) and the number of cycles that failed (always 0 for this module).
    pub fn run(&mut self, n: u64) -> (u64, u64) {
        let mut published = 0;
        let mut failed = 0;
        for _ in 0..n {
            let input = &self.inputs[self.next];
            self.next += 1;
            if self.next == self.inputs.len() {
                self.next = 0;
            }
            // The clock moves on by a second every 64 messages, like a real stream.
            if self.next == 0 {
                self.time = self
                    .time
                    .checked_add(jiff::SignedDuration::from_secs(1))
                    .unwrap_or(self.time);
            }
            match self.instance.run_cycle(
                &self.program,
                &self.time_ctx,
                self.time,
                input,
                &self.limits,
                &mut self.out,
            ) {
                Ok(()) => published += self.out.publications.len() as u64,
                Err(_) => failed += 1,
            }
        }
        (black_box(published), failed)
    }
}

/// Times `n` steady-state cycles of the bench module (after a warm-up of 10,000).
pub fn run_cycles(n: u64) -> Result<Duration, String> {
    let mut bench = CycleBench::new()?;
    bench.run(10_000);
    let start = Instant::now();
    let (_, failed) = bench.run(n);
    let elapsed = start.elapsed();
    if failed > 0 {
        return Err(format!("{failed} bench cycles failed"));
    }
    Ok(elapsed)
}

/// Cycles per second over `n` cycles.
pub fn cycles_per_second(n: u64) -> Result<f64, String> {
    let d = run_cycles(n)?;
    Ok(n as f64 / d.as_secs_f64().max(1e-9))
}

/// A valid module of about `lines` lines: declarations and ON / WHEN statements with
/// conditions, arithmetic, enum values, timers and logs.
pub fn generate_module(lines: usize) -> String {
    let mut s = String::with_capacity(lines * 40);
    s.push_str("MODULE generated\n    SUBSCRIBE mode {off, auto, on}\n    TIMER t 10 minutes\n");
    let mut n = 3;
    let mut i = 0;
    while n < lines {
        let _ = write!(
            s,
            "    SUBSCRIBE in{i}\n    PRIVATE v{i} {{0-100000}} = 0\n    PUBLISH s{i} {{off, on}} = off\n    ON in{i}\n      AND mode.auto\n      AND in{i} > 5\n      THEN v{i} = v{i} + in{i} * 2 - 1\n      THEN s{i} = on\n      THEN t = start\n    WHEN v{i} > 1000 AND s{i} == on\n      THEN v{i} = 0\n      THEN log(\"reset\", v{i})\n"
        );
        n += 12;
        i += 1;
    }
    s
}

/// Time to compile (parse, check, lower) a generated module of `lines` lines; the best of
/// `runs` runs (the least disturbed by other work on the machine).
pub fn compile_generated(lines: usize, runs: u32) -> Result<Duration, String> {
    let src = generate_module(lines);
    let mut best = Duration::MAX;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let p = compile("generated.scc", &src);
        let elapsed = start.elapsed();
        if let Err(d) = p {
            return Err(crate::diag::render_all(&d, "generated.scc", &src));
        }
        best = best.min(elapsed);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_module_has_ten_statements_and_runs_without_errors() {
        let p = bench_program().unwrap();
        let (on, at, when) = p.trigger_counts();
        assert_eq!(on + at + when, 10);
        let mut b = CycleBench::new().unwrap();
        let (published, failed) = b.run(640);
        assert_eq!(failed, 0);
        assert!(published > 0);
    }

    #[test]
    fn generated_module_compiles_at_the_requested_size() {
        let src = generate_module(1000);
        let lines = src.lines().count();
        assert!((1000..1012).contains(&lines), "{lines}");
        assert!(compile_generated(1000, 1).is_ok());
    }
}
