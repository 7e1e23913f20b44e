//! Time expressions: when an `AT` fires, in a configured time zone, with sunrise and sunset
//! from latitude and longitude. Pure functions of a given instant: no `now()` in here.

pub mod schedule;
pub mod spec;
pub mod sun;
