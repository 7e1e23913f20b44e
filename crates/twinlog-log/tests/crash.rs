//! The SIGKILL crash test, in a test binary of its own: it spawns child processes, and a child
//! holds copies of its parent's open files until it execs — among them the data-dir lock of
//! whatever other test runs at that moment in the same process, which then sometimes failed
//! to reopen its log with `Locked`. Alone in its binary it shares a process with no other test.

#[path = "log/crash.rs"]
mod crash;
#[allow(dead_code)] // the crash test uses only part of the shared helpers
#[path = "log/support.rs"]
mod support;
