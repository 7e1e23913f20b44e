//! Criterion benchmarks of the log's hot paths (kept short: 2 cores are shared):
//! - `append/100B x 1000`: one append of 1000 × 100-byte records, fsync `never`, so the
//!   figure is the CPU path (encode, queue, write) rather than this machine's disk;
//! - `read/100B x 10000`: reading 10,000 × 100-byte records from the page cache;
//! - `encode/100B x 1000`: batch encoding alone.
//!
//! Disk-bound figures come from `twinlog bench log` / `examples/bench.rs`.

use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use twinlog_log::format::encode_batch;
use twinlog_log::{FsyncPolicy, Log, LogOptions, Record, Timestamp, TopicConfig};

fn records(n: usize) -> Vec<Record> {
    let payload = Bytes::from(vec![b'a'; 100]);
    (0..n)
        .map(|_| Record::new(Timestamp::from_micros(1), payload.clone()))
        .collect()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(
        dir.path(),
        LogOptions {
            fsync: FsyncPolicy::Never,
            ..LogOptions::default()
        },
    )
    .unwrap();
    log.create_topic("bench", TopicConfig::default()).unwrap();

    let mut g = c.benchmark_group("log");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));

    g.throughput(Throughput::Elements(1000));
    g.bench_function("encode/100B x 1000", |b| {
        b.iter_batched(
            || records(1000),
            |r| encode_batch(&r),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("append/100B x 1000", |b| {
        b.iter_batched(
            || records(1000),
            |r| rt.block_on(log.append("bench", 0, r)).unwrap(),
            BatchSize::SmallInput,
        )
    });

    // Make sure there is enough to read, then read 10,000 records from a fixed place.
    rt.block_on(async {
        for _ in 0..20 {
            log.append("bench", 0, records(1000)).await.unwrap();
        }
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("read/100B x 10000", |b| {
        b.iter(|| {
            let mut from = 1000;
            let mut n = 0;
            while n < 10_000 {
                let batch = log.read("bench", 0, from, 10_000 - n).unwrap();
                n += batch.len();
                from = batch.last().unwrap().offset + 1;
            }
            n
        })
    });
    g.finish();
}

criterion_group!(log_benches, benches);
criterion_main!(log_benches);
