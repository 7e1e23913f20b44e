//! The integration tests of twinlog-log, compiled into one binary (link time on 2 cores):
//! each module covers one promise of the log. The crash test has its own binary
//! (`tests/crash.rs`: it forks, see there).

#[path = "log/basics.rs"]
mod basics;
#[path = "log/compaction.rs"]
mod compaction;
#[path = "log/corruption.rs"]
mod corruption;
#[path = "log/delete.rs"]
mod delete;
#[path = "log/enospc.rs"]
mod enospc;
#[path = "log/fixture.rs"]
mod fixture;
#[path = "log/follower.rs"]
mod follower;
#[path = "log/format.rs"]
mod format;
#[path = "log/lock.rs"]
mod lock;
#[path = "log/retention.rs"]
mod retention;
#[path = "log/support.rs"]
mod support;
#[path = "log/sync_failure.rs"]
mod sync_failure;
