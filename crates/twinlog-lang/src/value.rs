//! Runtime values. (lang-core)
