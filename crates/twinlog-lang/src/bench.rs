//! Workloads for 'twinlog bench lang' and 'cargo bench'. (lang-core)
