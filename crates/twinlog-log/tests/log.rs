//! The integration tests of twinlog-log, compiled into one binary (in progress).
