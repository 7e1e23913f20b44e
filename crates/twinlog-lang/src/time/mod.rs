//! Time expressions: when an `AT` fires, in a configured time zone, with sunrise and sunset
//! from latitude and longitude. Pure functions of a given instant: no `now()` in here.
//!
//! [`TimeContext`] is the one entry point: a zone, an optional location, and small caches
//! (the UTC offset in force around the last instants asked about, sun times of recent days)
//! that make the per-minute question "does this `AT` fire now?" a handful of integer
//! comparisons. The rules themselves (DST gaps and folds, offsets, date specs) are documented
//! in [`schedule`].
//!
//! - [`spec`]: the `AT` line as data (built by the parser).
//! - [`schedule`]: the firing rules, [`TimeContext::fires_at`] and
//!   [`TimeContext::next_fire_after`].
//! - [`sun`]: the NOAA sun position and every sunrise and sunset, in UTC.
//! - `sun_day`: the sunrises and sunsets of a local date, cached.
//! - [`civil`]: day-number calendar arithmetic for the hot path.

pub mod civil;
pub mod schedule;
pub mod spec;
pub mod sun;
mod sun_day;

use std::cell::Cell;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use self::civil::SECONDS_PER_DAY;
use self::spec::{CivilDate, Weekday};
use self::sun_day::SunDay;
use crate::span::Span;

/// The time zone and place an `AT` is evaluated in, plus caches.
///
/// Cheap to clone (the zone is reference counted; a clone starts with empty caches). It is
/// `Send` but not `Sync`: the caches are plain [`Cell`]s because they are hit on every minute
/// tick of every `AT`; give each thread its own clone.
#[derive(Debug, Clone)]
pub struct TimeContext {
    tz: TimeZone,
    location: Option<Location>,
    /// The last few stretches of constant UTC offset looked up, round robin.
    offset_spans: [Cell<OffsetSpan>; 2],
    next_offset_span: Cell<u8>,
    /// Sun events of the last few local days looked up, round robin.
    sun_days: [Cell<SunDay>; SUN_CACHE_DAYS],
    next_sun_day: Cell<u8>,
}

/// Enough for every `AT` of a module set to share a tick's days (an offset sun time can look
/// at the day before or after) with room for `next_fire_after` searches in between.
const SUN_CACHE_DAYS: usize = 8;

/// Latitude (north positive) and longitude (east positive), in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// A stretch of time, `[start, end)` in Unix seconds, with one UTC offset, and the offset in
/// force just before it (different from `offset` unless `start` is the beginning of time):
/// enough to tell the second pass of a fold and the first minute after a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetSpan {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) offset: i64,
    pub(crate) previous: i64,
}

impl OffsetSpan {
    const EMPTY: OffsetSpan = OffsetSpan {
        start: 1,
        end: 0,
        offset: 0,
        previous: 0,
    };

    fn contains(&self, second: i64) -> bool {
        self.start <= second && second < self.end
    }
}

/// The local calendar fields of an instant, for `system.clock#year|month|day|hour|minute|…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalParts {
    pub year: i16,
    /// 1–12.
    pub month: u8,
    /// 1–31.
    pub day: u8,
    /// 0–23.
    pub hour: u8,
    /// 0–59.
    pub minute: u8,
    /// 0–59.
    pub second: u8,
    pub weekday: Weekday,
    /// The UTC offset in force, in seconds (−25200 for PDT).
    pub offset_seconds: i32,
}

impl LocalParts {
    /// The local date, e.g. to ask for that day's [`TimeContext::sunrise`].
    pub fn date(&self) -> jiff::civil::Date {
        // The fields come from a valid timestamp, so the date exists; the fallback is never
        // taken but keeps this panic-free.
        jiff::civil::Date::new(self.year, self.month as i8, self.day as i8)
            .unwrap_or(jiff::civil::Date::ZERO)
    }

    /// ISO 8601 day of the week: 1 = Monday … 7 = Sunday.
    pub fn day_of_week(&self) -> u8 {
        self.weekday.iso_number()
    }

    /// Minutes since local midnight, 0–1439.
    pub fn minute_of_day(&self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }
}

impl Weekday {
    /// ISO 8601 number: 1 = Monday … 7 = Sunday.
    pub fn iso_number(self) -> u8 {
        self as u8 + 1
    }

    /// Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        matches!(self, Weekday::Saturday | Weekday::Sunday)
    }
}

/// Why an `AT` cannot be used in a [`TimeContext`]. Spans point at the `AT` line.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "`{event}` needs a location: configure the latitude and longitude of the site \
         (for `twinlog module test`: `--lat DEG --lon DEG`)"
    )]
    NoLocation { event: &'static str, span: Span },
    #[error(
        "the location {latitude}, {longitude} is not on Earth: latitude must be within \
         -90..=90 and longitude within -180..=180 degrees"
    )]
    InvalidLocation { latitude: f64, longitude: f64 },
    #[error("{hour}:{minute:02} is not a time of day: hours go 0–23 and minutes 0–59")]
    InvalidTime { hour: u8, minute: u8, span: Span },
    #[error("month {month} does not exist: months go 1 (January) to 12 (December)")]
    InvalidMonth { month: u8, span: Span },
    #[error("{} {day} is not a day of the year: {} has {} days", civil::month_name(*month), civil::month_name(*month), civil::days_in_month(2000, *month))]
    InvalidMonthDay { month: u8, day: u8, span: Span },
    #[error("{} {day}, {year} is not a date", civil::month_name(*month))]
    InvalidDate {
        year: i16,
        month: u8,
        day: u8,
        span: Span,
    },
    #[error(
        "this AT never fires: ENDING {} {}, {} is before STARTING {} {}, {}; swap the dates",
        civil::month_name(ending.month), ending.day, ending.year,
        civil::month_name(starting.month), starting.day, starting.year
    )]
    EndingBeforeStarting {
        starting: CivilDate,
        ending: CivilDate,
        span: Span,
    },
    #[error(
        "an offset of {minutes} minutes is too large: at most {max} minutes (24 hours); \
         write the time it should fire instead"
    )]
    OffsetTooLarge { minutes: u32, max: u32, span: Span },
}

impl TimeError {
    /// The `AT` line the error is about, if it is about one (not for a bad location).
    pub fn span(&self) -> Option<Span> {
        match self {
            TimeError::NoLocation { span, .. }
            | TimeError::InvalidTime { span, .. }
            | TimeError::InvalidMonth { span, .. }
            | TimeError::InvalidMonthDay { span, .. }
            | TimeError::InvalidDate { span, .. }
            | TimeError::EndingBeforeStarting { span, .. }
            | TimeError::OffsetTooLarge { span, .. } => Some(*span),
            TimeError::InvalidLocation { .. } => None,
        }
    }
}

impl TimeContext {
    /// A context in `tz` with no location (`TimeZone::UTC` for UTC).
    pub fn new(tz: TimeZone) -> Self {
        TimeContext {
            tz,
            location: None,
            offset_spans: [Cell::new(OffsetSpan::EMPTY), Cell::new(OffsetSpan::EMPTY)],
            next_offset_span: Cell::new(0),
            sun_days: std::array::from_fn(|_| Cell::new(SunDay::EMPTY)),
            next_sun_day: Cell::new(0),
        }
    }

    /// The same context at `latitude` (degrees, north positive) and `longitude` (degrees, east
    /// positive). Out-of-range values are reported by [`TimeContext::validate`].
    pub fn with_location(mut self, latitude: f64, longitude: f64) -> Self {
        self.location = Some(Location {
            latitude,
            longitude,
        });
        for slot in &self.sun_days {
            slot.set(SunDay::EMPTY);
        }
        self
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// Seasons are flipped south of the equator; without a location they are northern.
    pub fn is_southern_hemisphere(&self) -> bool {
        self.location.is_some_and(|l| l.latitude < 0.0)
    }

    /// The local calendar fields of `t` in this context's zone. Cheap: no allocation, and the
    /// zone is only consulted when `t` leaves the stretch of constant offset last seen.
    pub fn local_parts(&self, t: Timestamp) -> LocalParts {
        let second = t.as_second();
        let span = self.offset_span(second);
        let local = second + span.offset;
        let days = local.div_euclid(SECONDS_PER_DAY);
        let of_day = local.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil::civil_from_days(days);
        LocalParts {
            year: year as i16,
            month,
            day,
            hour: (of_day / 3600) as u8,
            minute: (of_day / 60 % 60) as u8,
            second: (of_day % 60) as u8,
            weekday: civil::weekday_from_days(days),
            offset_seconds: span.offset as i32,
        }
    }

    /// The local day number (days since 1970-01-01 in this zone) of a Unix second.
    pub(crate) fn local_day(&self, second: i64) -> i64 {
        (second + self.offset_span(second).offset).div_euclid(SECONDS_PER_DAY)
    }

    /// The stretch of constant UTC offset around Unix second `second`.
    pub(crate) fn offset_span(&self, second: i64) -> OffsetSpan {
        for slot in &self.offset_spans {
            let span = slot.get();
            if span.contains(second) {
                return span;
            }
        }
        let span = self.compute_offset_span(second);
        let index = usize::from(self.next_offset_span.get()) % self.offset_spans.len();
        self.offset_spans[index].set(span);
        self.next_offset_span
            .set(((index + 1) % self.offset_spans.len()) as u8);
        span
    }

    #[cold]
    fn compute_offset_span(&self, second: i64) -> OffsetSpan {
        /// Transitions that change only the abbreviation or the DST flag are walked over; this
        /// bounds the walk (the span found is then shorter than it could be, never wrong).
        const MAX_WALK: usize = 16;
        let at = |s: i64| {
            Timestamp::from_second(s).unwrap_or(if s < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            })
        };
        let offset_at = |s: i64| i64::from(self.tz.to_offset(at(s)).seconds());
        let offset = offset_at(second);

        let mut start = i64::MIN;
        let mut previous = offset;
        // `preceding` is strictly before its argument; a transition exactly at `second`
        // belongs to this span.
        for transition in self
            .tz
            .preceding(at(second.saturating_add(1)))
            .take(MAX_WALK)
        {
            let t = transition.timestamp().as_second();
            start = t;
            let before = offset_at(t - 1);
            if before != offset {
                previous = before;
                break;
            }
        }

        let mut end = i64::MAX;
        for transition in self.tz.following(at(second)).take(MAX_WALK) {
            end = transition.timestamp().as_second();
            if i64::from(transition.offset().seconds()) != offset {
                break;
            }
        }
        OffsetSpan {
            start,
            end,
            offset,
            previous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_parts_follow_the_zone_across_dst() {
        let ctx = TimeContext::new(TimeZone::get("America/Los_Angeles").unwrap());
        let t: Timestamp = "2024-03-10T09:59:00Z".parse().unwrap();
        let p = ctx.local_parts(t);
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute),
            (2024, 3, 10, 1, 59)
        );
        assert_eq!(p.offset_seconds, -8 * 3600);
        assert_eq!(p.weekday, Weekday::Sunday);
        assert_eq!(p.day_of_week(), 7);
        let p = ctx.local_parts(t + jiff::SignedDuration::from_mins(1));
        assert_eq!((p.hour, p.minute, p.offset_seconds), (3, 0, -7 * 3600));
        assert_eq!(p.date(), jiff::civil::date(2024, 3, 10));
        assert_eq!(p.minute_of_day(), 180);
    }

    #[test]
    fn offset_spans_know_the_previous_offset() {
        let ctx = TimeContext::new(TimeZone::get("Australia/Sydney").unwrap());
        // DST ended 2024-04-07 03:00 AEDT = 2024-04-06T16:00Z.
        let t: Timestamp = "2024-04-06T16:30:00Z".parse().unwrap();
        let span = ctx.offset_span(t.as_second());
        assert_eq!(
            span.start,
            "2024-04-06T16:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_second()
        );
        assert_eq!((span.offset, span.previous), (10 * 3600, 11 * 3600));
        // DST began again 2024-10-06 02:00 AEST = 2024-10-05T16:00Z.
        assert_eq!(
            span.end,
            "2024-10-05T16:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_second()
        );
    }

    #[test]
    fn utc_has_one_span_for_all_time() {
        let ctx = TimeContext::new(TimeZone::UTC);
        let span = ctx.offset_span(0);
        assert_eq!(
            (span.start, span.end, span.offset, span.previous),
            (i64::MIN, i64::MAX, 0, 0)
        );
    }
}
