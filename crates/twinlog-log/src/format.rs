//! The on-disk byte layout of a record batch (format version 1), its encoding, decoding and
//! checksum. This is the versioned contract documented in `docs/LOG_FORMAT.md`.
