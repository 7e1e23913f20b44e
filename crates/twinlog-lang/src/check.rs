//! The checker: names, types, enums, constraints. (lang-core)
