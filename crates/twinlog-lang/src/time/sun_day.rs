//! The sunrises and sunsets of a *local* date, cached: what [`TimeContext::fires_at`] asks
//! on every minute tick of an `AT sunset`, and what `system.clock#sunrise` shows.
//!
//! A local date can have no sunrise (polar day or night), one, or two: near the edge of
//! the midnight sun the sunset drifts across local midnight a few minutes a day, so the
//! date it drifts over gets two (Reykjavik, 2026-06-29: 00:00 and 23:59, as the sunsets
//! come earlier after the solstice) or none (before the solstice, as they come later).
//! Every one is kept, in time order; the firing rule is in [`super::schedule`] (rule 8).
//!
//! The events come from [`sun::crossings`] over the UTC stretch of the local date (found
//! with the zone, so 23- and 25-hour dates are right) plus an hour each side, kept when
//! their local date is the one asked. The search gives a crossing the same second whatever
//! the window, so neighbouring dates never both claim, or both miss, an event at midnight.

use jiff::Timestamp;

use super::civil::{self, SECONDS_PER_DAY};
use super::sun::{self, SunEvent};
use super::{SUN_CACHE_DAYS, TimeContext};

/// At most this many sunrises (and as many sunsets) are kept for one local date. Sunsets
/// come about a day apart and a date lasts at most 25 hours, so two is the most a real date
/// has; a third is room for a zone that repeats a date (a day-long fold), more are dropped.
const MAX_PER_DATE: usize = 3;

/// How far outside the local date's UTC stretch to look: only a zone whose local dates do
/// not follow each other in time (a fold across midnight) puts events there.
const MARGIN_SECONDS: i64 = 3600;

/// The sunrises or the sunsets of one local date, Unix seconds in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SunTimes {
    len: u8,
    seconds: [i64; MAX_PER_DATE],
}

impl SunTimes {
    pub(crate) fn as_slice(&self) -> &[i64] {
        &self.seconds[..usize::from(self.len)]
    }

    fn push(&mut self, second: i64) {
        if let Some(slot) = self.seconds.get_mut(usize::from(self.len)) {
            *slot = second;
            self.len += 1;
        }
    }
}

/// The sun events of one local day (days since 1970-01-01 in the zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SunDay {
    day: i64,
    valid: bool,
    sunrises: SunTimes,
    sunsets: SunTimes,
}

impl SunDay {
    pub(super) const EMPTY: SunDay = SunDay {
        day: 0,
        valid: false,
        sunrises: SunTimes {
            len: 0,
            seconds: [0; MAX_PER_DATE],
        },
        sunsets: SunTimes {
            len: 0,
            seconds: [0; MAX_PER_DATE],
        },
    };

    fn get(&self, event: SunEvent) -> SunTimes {
        match event {
            SunEvent::Sunrise => self.sunrises,
            SunEvent::Sunset => self.sunsets,
        }
    }
}

impl TimeContext {
    /// The first sunrise on the local `date`: the instant (to the second) at which the
    /// sun's upper limb rises above the horizon. `None` without a location, or when the sun
    /// does not rise on that local date (polar night or day). A date with two sunrises has
    /// both in [`TimeContext::sun_events`]; this is the earlier (what `#sunrise` shows).
    pub fn sunrise(&self, date: jiff::civil::Date) -> Option<Timestamp> {
        self.sun_events(date, SunEvent::Sunrise).first().copied()
    }

    /// The first sunset on the local `date`; see [`TimeContext::sunrise`].
    pub fn sunset(&self, date: jiff::civil::Date) -> Option<Timestamp> {
        self.sun_events(date, SunEvent::Sunset).first().copied()
    }

    /// Every sunrise (or sunset) on the local `date`, in time order: none, one, or two at
    /// the edge of polar day and night. Empty without a location.
    pub fn sun_events(&self, date: jiff::civil::Date, event: SunEvent) -> Vec<Timestamp> {
        let days =
            civil::days_from_civil(i32::from(date.year()), date.month() as u8, date.day() as u8);
        self.sun_seconds(days, event)
            .as_slice()
            .iter()
            .filter_map(|&s| Timestamp::from_second(s).ok())
            .collect()
    }

    /// The sunrises or sunsets (Unix seconds) whose local date is day number `local_day`.
    pub(crate) fn sun_seconds(&self, local_day: i64, event: SunEvent) -> SunTimes {
        let Some(location) = self.location else {
            return SunTimes::default();
        };
        for slot in &self.sun_days {
            let cached = slot.get();
            if cached.valid && cached.day == local_day {
                return cached.get(event);
            }
        }
        let computed = self.compute_sun_day(local_day, location.latitude, location.longitude);
        let index = usize::from(self.next_sun_day.get()) % SUN_CACHE_DAYS;
        self.sun_days[index].set(computed);
        self.next_sun_day.set(((index + 1) % SUN_CACHE_DAYS) as u8);
        computed.get(event)
    }

    #[cold]
    fn compute_sun_day(&self, local_day: i64, latitude: f64, longitude: f64) -> SunDay {
        // The first instant of the date and of the next; a date the zone cannot place
        // (outside jiff's range) gets the widest UTC offsets instead.
        const WIDEST_OFFSET: i64 = 26 * 3600;
        let start = self
            .resolve_wall(local_day * SECONDS_PER_DAY)
            .unwrap_or(local_day * SECONDS_PER_DAY - WIDEST_OFFSET);
        let end = self
            .resolve_wall((local_day + 1) * SECONDS_PER_DAY)
            .unwrap_or((local_day + 1) * SECONDS_PER_DAY + WIDEST_OFFSET);
        let mut day = SunDay {
            day: local_day,
            valid: true,
            ..SunDay::EMPTY
        };
        sun::crossings(
            start - MARGIN_SECONDS,
            end + MARGIN_SECONDS,
            latitude,
            longitude,
            |c| {
                if self.local_day(c.second) == local_day {
                    match c.event {
                        SunEvent::Sunrise => day.sunrises.push(c.second),
                        SunEvent::Sunset => day.sunsets.push(c.second),
                    }
                }
            },
        );
        day
    }
}
