//! The bus's integration tests, in one binary: the conformance suite
//! ([`twinlog_bus::conformance`]) against the memory bus and the embedded bus (on a fresh
//! temporary data dir per test; "reopen" drops the bus and opens the dir again).

use tempfile::TempDir;
use twinlog_bus::conformance::Harness;
use twinlog_bus::{EmbeddedBus, MemoryBus};
use twinlog_log::LogOptions;

/// The memory bus: reopening keeps the same instance (it has no durability).
struct MemoryHarness;

impl Harness for MemoryHarness {
    type Bus = MemoryBus;

    fn open(&self) -> MemoryBus {
        MemoryBus::new()
    }

    fn reopen(&self, bus: MemoryBus) -> MemoryBus {
        bus
    }
}

/// The embedded bus on a temporary data dir with the default (`fsync = always`) options.
struct EmbeddedHarness {
    dir: TempDir,
}

impl EmbeddedHarness {
    fn new() -> EmbeddedHarness {
        EmbeddedHarness {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Harness for EmbeddedHarness {
    type Bus = EmbeddedBus;

    fn open(&self) -> EmbeddedBus {
        EmbeddedBus::open(self.dir.path(), LogOptions::default()).expect("open embedded bus")
    }

    fn reopen(&self, bus: EmbeddedBus) -> EmbeddedBus {
        drop(bus);
        self.open()
    }
}

mod memory {
    twinlog_bus::conformance_tests!(super::MemoryHarness);
}

mod embedded {
    twinlog_bus::conformance_tests!(super::EmbeddedHarness::new());
}
