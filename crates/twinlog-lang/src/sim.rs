//! Deterministic multi-module simulation on a test clock. (lang-core)
