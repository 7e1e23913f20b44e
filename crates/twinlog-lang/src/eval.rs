//! The evaluator: one cycle per input. (lang-core)
