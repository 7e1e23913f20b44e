//! When an AT spec fires: minute matching and next-fire search, DST-correct. (lang-time)
