//! Criterion benchmarks of append and read (in progress).
fn main() {}
