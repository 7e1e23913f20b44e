//! `cargo run --release -p twinlog-log --example bench -- [records] [size] [partitions] [fsync] [dir]`:
//! the same measurement as `twinlog bench log`, without the CLI (for working on the log).

use std::path::PathBuf;

use twinlog_log::FsyncPolicy;
use twinlog_log::bench::{BenchConfig, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = BenchConfig {
        records: args.first().map_or(Ok(1_000_000), |s| s.parse())?,
        record_size: args.get(1).map_or(Ok(100), |s| s.parse())?,
        partitions: args.get(2).map_or(Ok(1), |s| s.parse())?,
        fsync: args.get(3).map_or(
            Ok(FsyncPolicy::Interval(std::time::Duration::from_millis(5))),
            |s| s.parse(),
        )?,
        dir: args.get(4).map_or_else(std::env::temp_dir, PathBuf::from),
    };
    let report = run(config, |_| {})?;
    println!("{report:#?}");
    Ok(())
}
