//! The compiled form the evaluator runs: slots and interned names. (lang-core)
