//! `cargo bench -p twinlog-lang`: cycles per second of the 10-statement bench module, heap
//! allocations per steady-state cycle (counting global allocator), and compile time of a
//! generated 1,000-line module. The workloads live in `twinlog_lang::bench` so
//! `twinlog bench lang` measures exactly the same thing. The `sun` group times sunrise and
//! sunset (a fresh context per year of dates, so every date is computed) and the per-minute
//! `AT sunset` check the runtime makes on every tick.

use criterion::{Criterion, Throughput, criterion_group};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use twinlog_lang::bench::{CycleBench, bench_module_source, compile_generated, generate_module};

/// Counts allocations (and reallocations) so the bench can report allocations per cycle.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// reason: a global allocator must implement the unsafe `GlobalAlloc` trait; this one only
// counts and forwards to the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator, same contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn cycles(c: &mut Criterion) {
    let mut bench = CycleBench::new().expect("bench module compiles");
    bench.run(10_000);
    let mut group = c.benchmark_group("lang");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("cycles_x1000", |b| b.iter(|| black_box(bench.run(1_000))));
    group.finish();
}

fn compile(c: &mut Criterion) {
    let src = generate_module(1_000);
    let mut group = c.benchmark_group("lang");
    group.bench_function("compile_1000_lines", |b| {
        b.iter(|| black_box(twinlog_lang::ir::compile("generated.scc", black_box(&src)).is_ok()))
    });
    group.bench_function("compile_bench_module", |b| {
        b.iter(|| black_box(twinlog_lang::ir::compile("bench.scc", bench_module_source()).is_ok()))
    });
    group.finish();
}

/// Allocations per steady-state cycle, printed once (criterion measures time only).
fn report_allocations() {
    let mut bench = CycleBench::new().expect("bench module compiles");
    bench.run(10_000);
    const N: u64 = 1_000_000;
    let before = ALLOCS.load(Ordering::Relaxed);
    let (_, failed) = bench.run(N);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let compile_ms = compile_generated(1_000, 20)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(f64::NAN);
    println!(
        "lang: allocs_per_cycle = {} ({allocs} allocations in {N} cycles, {failed} failed); compile_1000_lines_ms = {compile_ms:.3} (best of 20)",
        allocs as f64 / N as f64
    );
}

/// Sunset of 365 local dates from cold caches, one minute tick of `AT sunset` with warm
/// caches, and a year of `next_fire_after` at the edge of polar day.
fn sun(c: &mut Criterion) {
    use jiff::civil::date;
    use jiff::tz::TimeZone;
    use twinlog_lang::time::TimeContext;
    use twinlog_lang::time::spec::{AtSpec, TimeOfDay};

    let place = |zone: &str, latitude: f64, longitude: f64| {
        TimeContext::new(TimeZone::get(zone).expect("tzdata")).with_location(latitude, longitude)
    };
    let munich = place("Europe/Berlin", 48.137, 11.575);
    let tromso = place("Europe/Oslo", 69.65, 18.96);
    let mut group = c.benchmark_group("sun");
    for (name, zone, latitude, longitude) in [
        ("munich", "Europe/Berlin", 48.137, 11.575),
        ("tromso", "Europe/Oslo", 69.65, 18.96),
    ] {
        group.bench_function(format!("sunset_365_dates_{name}"), |b| {
            b.iter(|| {
                // A fresh context: every date is computed, none comes from the cache.
                let ctx = place(zone, latitude, longitude);
                let mut d = date(2026, 1, 1);
                let mut found = 0;
                for _ in 0..365 {
                    found += usize::from(ctx.sunset(black_box(d)).is_some());
                    d = d.tomorrow().expect("in range");
                }
                black_box(found)
            })
        });
    }
    let sunset = AtSpec {
        offset: None,
        time: TimeOfDay::Sunset,
        days: vec![],
        dates: vec![],
        parts_of_year: vec![],
        years: vec![],
        ranges: vec![],
        starting: None,
        ending: None,
        span: twinlog_lang::span::Span::new(0, 0),
    };
    let midnight: jiff::Timestamp = "2026-06-01T22:00:00Z".parse().expect("timestamp");
    group.bench_function("fires_at_1440_ticks_munich", |b| {
        b.iter(|| {
            let mut fired = 0;
            for m in 0..1440 {
                let t = midnight + jiff::SignedDuration::from_mins(m);
                fired += usize::from(munich.fires_at(&sunset, black_box(t)));
            }
            black_box(fired)
        })
    });
    group.bench_function("next_fire_after_year_tromso", |b| {
        b.iter(|| {
            let mut t: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("timestamp");
            let mut fires = 0;
            while let Some(next) = tromso.next_fire_after(&sunset, t) {
                if next.as_second() > 1_798_761_600 {
                    break;
                }
                fires += 1;
                t = next;
            }
            black_box(fires)
        })
    });
    group.finish();
}

criterion_group!(benches, cycles, compile, sun);

fn main() {
    report_allocations();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
