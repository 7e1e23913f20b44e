//! Integration tests: time.
