//! End-to-end tests: they drive the real `twinlog` binary, one integration-test binary for
//! all of them (fewer links on 2 cores).

mod common;
mod help;
mod kafka;
mod log_commands;
mod module_commands;
mod serve;
mod tidy;
