//! When an `AT` fires: minute matching and next-fire search, DST-correct.
//!
//! The rules, in the order they apply (LANGUAGE.md "AT — time expressions" plus the
//! decisions taken here):
//!
//! 1. **One fire per occurrence, at a whole minute.** A clock time gives the `AT` one
//!    candidate instant per local day; sunrise (or sunset) one per sunrise (or sunset),
//!    truncated to its minute first, so a local date gives it none, one or two (rule 8).
//!    An instant passed to [`TimeContext::fires_at`] is truncated to its minute too.
//! 2. **Offsets on a clock time are wall-clock arithmetic.** `30 minutes before midnight` is
//!    the wall time 23:30, `90 minutes after 01:00` is 02:30, whatever the DST: an offset on a
//!    clock time is just another clock time (the result wraps around the day, so
//!    `1 hour before midnight ON Monday` fires at 23:00 on Mondays). That wall time then goes
//!    through the gap and fold rules below.
//! 3. **Offsets on sunrise/sunset are elapsed time.** `30 minutes before sunset` is 30 real
//!    minutes before the instant of sunset, even across a DST change or midnight (the sun
//!    event is physical; the clock is not), and apply to each sun event.
//! 4. **Date specs apply to the local date on which the trigger fires**, i.e. the local date
//!    of the candidate instant after offsets: `2 hours after sunset ON Friday` fires on
//!    Fridays even when Thursday's sunset + 2 h lands after midnight on a Friday, and does not
//!    fire on a Friday whose own sunset + 2 h lands on Saturday. (In that rare corner a local
//!    date can get two fires or none; each fire is still one occurrence of the sun event.)
//! 5. **DST gap**: a wall time that does not exist fires at the first minute after the gap
//!    (02:30 on the US spring-forward day fires at 03:00 local), once.
//! 6. **DST fold**: a wall time that happens twice fires once, at its first occurrence
//!    (01:30 on the US fall-back day fires at 01:30 PDT, not again at 01:30 PST).
//! 7. **Date specs**: specs of the same kind are alternatives (OR), specs of different kinds
//!    must all hold (AND); the kinds are the fields of [`AtSpec`]. Weekdays are Monday to
//!    Friday, weekends Saturday and Sunday. `ON February 29` matches only in leap years.
//!    Seasons are meteorological (north: winter = December–February, spring = March–May,
//!    summer = June–August, fall/autumn = September–November), flipped south of the equator
//!    (latitude < 0: winter = June–August, …). **A season without a configured location is
//!    taken as northern** (and [`TimeContext::validate`] does not object). `FROM a THROUGH b`
//!    is inclusive, wraps the year end when `b` comes before `a` in the year, and a month
//!    without a day means its first day as `a` and its last day as `b`; a range starting on
//!    February 29 starts on March 1 in other years. `STARTING` and `ENDING` are inclusive
//!    local dates.
//! 8. **Sunrise/sunset**: every instant at which the sun's centre crosses −0.833°
//!    (refraction and the disc), rising or setting, NOAA position (see [`super::sun`]).
//!    `AT sunset` fires at every sunset, each once, at its minute (plus the offset), on the
//!    dates its date specs allow. Usually a local date has one; in polar day or night it
//!    has none and the `AT` does not fire that day; at the edge of the midnight sun the
//!    sunset drifts across local midnight and one date has two (Reykjavik, 2026-06-29:
//!    00:00 and 23:59), and both fire. At ±90° the sun rises and sets once a year. A dip
//!    below the horizon shorter than a second is not an event.
//! 9. **Validation** ([`TimeContext::validate`]): sunrise/sunset need a location; a location
//!    must be on Earth; times, months, days and dates must exist (`February 29` is allowed as
//!    a month-day, `February 29, 2023` is not); `ENDING` before `STARTING` is an error (it
//!    would never fire); offsets are at most 24 hours. An invalid spec that reaches
//!    `fires_at` anyway simply never fires there: nothing here panics.
//!
//! Cost: [`TimeContext::fires_at`] is a few integer comparisons per minute (the zone is
//! consulted only when the instant leaves the last stretch of constant UTC offset, the sun
//! once per local day, a few microseconds); [`TimeContext::next_fire_after`] walks days,
//! not minutes: it computes candidates (zone and sun work) for at most eight years after
//! the first day whose date specs hold, and before that day only checks dates. The window
//! starts at `after`, or at `STARTING` / the first `IN` year when later, so an AT far ahead
//! is found. Date specs (apart from `STARTING`, `ENDING` and years, which bound the search)
//! repeat every 400 Gregorian years, so when no date in 400 years matches (`ON February 29
//! ON Mondays` does: 2044), the AT never fires.

use jiff::Timestamp;
use jiff::tz::AmbiguousOffset;

use super::civil::{self, SECONDS_PER_DAY};
use super::spec::{AtSpec, CivilDate, DateRange, DaySpec, Season, TimeOfDay, YearPart};
use super::sun::SunEvent;
use super::{TimeContext, TimeError};

/// The largest offset accepted, in minutes (24 hours).
pub const MAX_OFFSET_MINUTES: u32 = 24 * 60;

/// How far [`TimeContext::next_fire_after`] computes candidates, in days, from the first day
/// whose date specs hold: eight years, so that a sunrise after a polar night is found.
const SEARCH_DAYS: i64 = 8 * 366;

/// Days in 400 Gregorian years: calendar dates and weekdays repeat after this.
const GREGORIAN_CYCLE_DAYS: i64 = 146_097;

/// What a day's candidate instant is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// A wall-clock time, minutes after local midnight, offset already applied.
    Wall(i64),
    /// A sun event plus an elapsed offset in minutes (negative: before).
    Sun(SunEvent, i64),
}

impl Base {
    /// `None` for a clock time that does not exist (never fires).
    fn of(spec: &AtSpec) -> Option<Base> {
        let offset = spec.offset.map_or(0, |o| {
            let minutes = i64::from(o.minutes);
            if o.before { -minutes } else { minutes }
        });
        let wall = |minute_of_day: i64| Some(Base::Wall((minute_of_day + offset).rem_euclid(1440)));
        match spec.time {
            TimeOfDay::Midnight => wall(0),
            TimeOfDay::Noon => wall(12 * 60),
            TimeOfDay::Clock { hour, minute, .. } if hour < 24 && minute < 60 => {
                wall(i64::from(hour) * 60 + i64::from(minute))
            }
            TimeOfDay::Clock { .. } => None,
            TimeOfDay::Sunrise => Some(Base::Sun(SunEvent::Sunrise, offset)),
            TimeOfDay::Sunset => Some(Base::Sun(SunEvent::Sunset, offset)),
        }
    }

    /// The range of (fire day − base day) this base can produce.
    fn day_shift(self) -> (i64, i64) {
        match self {
            // A gap can push a late wall time past midnight.
            Base::Wall(_) => (0, 1),
            // The sun event is anywhere in its local day; the offset moves it further.
            Base::Sun(_, offset) => (offset.div_euclid(1440) - 1, offset.div_euclid(1440) + 2),
        }
    }
}

impl TimeContext {
    /// Errors that make `spec` unusable in this context; see rule 9 in this module's docs.
    /// Reports the first problem found.
    pub fn validate(&self, spec: &AtSpec) -> Result<(), TimeError> {
        let span = spec.span;
        match spec.time {
            TimeOfDay::Sunrise | TimeOfDay::Sunset if self.location().is_none() => {
                let event = if spec.time == TimeOfDay::Sunrise {
                    "sunrise"
                } else {
                    "sunset"
                };
                return Err(TimeError::NoLocation { event, span });
            }
            TimeOfDay::Clock { hour, minute, .. } if hour > 23 || minute > 59 => {
                return Err(TimeError::InvalidTime { hour, minute, span });
            }
            _ => {}
        }
        if let Some(location) = self.location()
            && !((-90.0..=90.0).contains(&location.latitude)
                && (-180.0..=180.0).contains(&location.longitude))
        {
            return Err(TimeError::InvalidLocation {
                latitude: location.latitude,
                longitude: location.longitude,
            });
        }
        if let Some(offset) = spec.offset
            && offset.minutes > MAX_OFFSET_MINUTES
        {
            return Err(TimeError::OffsetTooLarge {
                minutes: offset.minutes,
                max: MAX_OFFSET_MINUTES,
                span,
            });
        }
        let month_day = |month: u8, day: Option<u8>| {
            if !(1..=12).contains(&month) {
                return Err(TimeError::InvalidMonth { month, span });
            }
            match day {
                // Leap year: February 29 is a valid month-day.
                Some(day) if day == 0 || day > civil::days_in_month(2000, month) => {
                    Err(TimeError::InvalidMonthDay { month, day, span })
                }
                _ => Ok(()),
            }
        };
        for date in &spec.dates {
            month_day(date.month, Some(date.day))?;
        }
        for part in &spec.parts_of_year {
            if let YearPart::Month(month) = *part {
                month_day(month, None)?;
            }
        }
        for range in &spec.ranges {
            month_day(range.from.month, range.from.day)?;
            month_day(range.through.month, range.through.day)?;
        }
        let full_date = |date: CivilDate| {
            let valid = (1..=12).contains(&date.month)
                && date.day >= 1
                && date.day <= civil::days_in_month(i32::from(date.year), date.month);
            if valid {
                Ok(())
            } else {
                Err(TimeError::InvalidDate {
                    year: date.year,
                    month: date.month,
                    day: date.day,
                    span,
                })
            }
        };
        if let Some(starting) = spec.starting {
            full_date(starting)?;
        }
        if let Some(ending) = spec.ending {
            full_date(ending)?;
        }
        if let (Some(starting), Some(ending)) = (spec.starting, spec.ending)
            && ending < starting
        {
            return Err(TimeError::EndingBeforeStarting {
                starting,
                ending,
                span,
            });
        }
        Ok(())
    }

    /// Does `spec` fire at the minute starting at `minute` (truncated to its minute)?
    ///
    /// Called for every `AT` on every minute tick, so it is cheap: see the module docs.
    pub fn fires_at(&self, spec: &AtSpec, minute: Timestamp) -> bool {
        let Some(base) = Base::of(spec) else {
            return false;
        };
        let second = minute.as_second().div_euclid(60) * 60;
        let span = self.offset_span(second);
        let local = second + span.offset;
        let day = local.div_euclid(SECONDS_PER_DAY);
        let hit = match base {
            Base::Wall(wall) => {
                let minute_of_day = local.rem_euclid(SECONDS_PER_DAY) / 60;
                if minute_of_day == wall {
                    // In a fold, the wall times in [start, start + (previous − offset)) are
                    // being lived a second time.
                    let second_pass = span.previous > span.offset
                        && second < span.start.saturating_add(span.previous - span.offset);
                    !second_pass
                } else if span.previous < span.offset && second == ceil_to_minute(span.start) {
                    // The first minute after a gap: fire for a wall time the gap swallowed
                    // (today's, or yesterday's if the gap straddles midnight).
                    let gap = span.start + span.previous..span.start + span.offset;
                    [day, day - 1]
                        .iter()
                        .any(|d| gap.contains(&(d * SECONDS_PER_DAY + wall * 60)))
                } else {
                    false
                }
            }
            Base::Sun(event, offset) => {
                // Fires if a sun event lies in the minute `offset` minutes earlier: look it up
                // among the events of that minute's local date. A local midnight inside the
                // minute (an offset that is not whole minutes, as in old LMT zones) splits
                // it between two dates; then both are looked at.
                let base_second = second - offset * 60;
                let in_base_minute = |day: i64| {
                    self.sun_seconds(day, event)
                        .as_slice()
                        .iter()
                        .any(|s| s.div_euclid(60) * 60 == base_second)
                };
                let base_span = self.offset_span(base_second);
                let first_day = (base_second + base_span.offset).div_euclid(SECONDS_PER_DAY);
                let whole_minute =
                    base_span.offset % 60 == 0 && base_span.contains(base_second + 59);
                in_base_minute(first_day)
                    || (!whole_minute && {
                        let last_day = self.local_day(base_second + 59);
                        last_day != first_day && in_base_minute(last_day)
                    })
            }
        };
        hit && self.date_matches(spec, day)
    }

    /// The first minute strictly after `after` at which `spec` fires, or `None` if it never
    /// does again (`ENDING` in the past, `IN 2020`, `ON February 30`, no sunrise for eight
    /// years, sunrise without a location).
    pub fn next_fire_after(&self, spec: &AtSpec, after: Timestamp) -> Option<Timestamp> {
        let base = Base::of(spec)?;
        if matches!(base, Base::Sun(..)) && self.location().is_none() {
            return None;
        }
        let after_second = after.as_second();
        let (shift_lo, shift_hi) = base.day_shift();
        // Candidates grow with their base day (and a day's sun events come in time order),
        // so the first candidate that is a fire after `after` is the answer. Start early
        // enough for the largest shift.
        let mut first = self.local_day(after_second) - shift_hi - 1;
        let day_of =
            |date: CivilDate| civil::days_from_civil(i32::from(date.year), date.month, date.day);
        if let Some(starting) = spec.starting {
            first = first.max(day_of(starting) - shift_hi);
        }
        if let Some(&min) = spec.years.iter().min() {
            first = first.max(civil::days_from_civil(i32::from(min), 1, 1) - shift_hi);
        }
        // Until a date matches, only dates are checked, over a whole Gregorian cycle; from
        // the first matching date on, candidates for eight years.
        let mut last = first + GREGORIAN_CYCLE_DAYS + SEARCH_DAYS;
        if let Some(ending) = spec.ending {
            last = last.min(day_of(ending) - shift_lo);
        }
        if let Some(&max) = spec.years.iter().max() {
            last = last.min(civil::days_from_civil(i32::from(max), 12, 31) - shift_lo);
        }
        let mut matched = false;
        for base_day in first.. {
            if base_day > last {
                break;
            }
            // Cheap filter before any zone or sun work: can a fire from this base day land on
            // a matching date at all?
            if !(base_day + shift_lo..=base_day + shift_hi).any(|d| self.date_matches(spec, d)) {
                continue;
            }
            if !matched {
                matched = true;
                last = last.min(base_day + SEARCH_DAYS);
            }
            // A wall time gives a day one candidate, a sun event as many as the day has
            // sunrises (or sunsets), in time order.
            let found = match base {
                Base::Wall(wall) => self
                    .resolve_wall(base_day * SECONDS_PER_DAY + wall * 60)
                    .filter(|&c| self.fires_on(spec, c, after_second)),
                Base::Sun(event, offset) => self
                    .sun_seconds(base_day, event)
                    .as_slice()
                    .iter()
                    .map(|s| s.div_euclid(60) * 60 + offset * 60)
                    .find(|&c| self.fires_on(spec, c, after_second)),
            };
            if let Some(candidate) = found {
                return Timestamp::from_second(candidate).ok();
            }
        }
        None
    }

    /// Is the candidate instant `candidate` (Unix second) a fire after `after_second`: later,
    /// and on a local date the date specs allow?
    fn fires_on(&self, spec: &AtSpec, candidate: i64, after_second: i64) -> bool {
        candidate > after_second && self.date_matches(spec, self.local_day(candidate))
    }

    /// The instant of a local wall time (seconds since the local epoch) under the gap and
    /// fold rules. Also gives [`super::sun_day`] the first instant of a local date.
    pub(super) fn resolve_wall(&self, local: i64) -> Option<i64> {
        let (year, month, day) = civil::civil_from_days(local.div_euclid(SECONDS_PER_DAY));
        let of_day = local.rem_euclid(SECONDS_PER_DAY);
        let datetime = jiff::civil::DateTime::new(
            i16::try_from(year).ok()?,
            month as i8,
            day as i8,
            (of_day / 3600) as i8,
            (of_day / 60 % 60) as i8,
            0,
            0,
        )
        .ok()?;
        match self.time_zone().to_ambiguous_timestamp(datetime).offset() {
            AmbiguousOffset::Unambiguous { offset } => Some(local - i64::from(offset.seconds())),
            // The first occurrence is the one under the offset in force before the fold.
            AmbiguousOffset::Fold { before, .. } => Some(local - i64::from(before.seconds())),
            AmbiguousOffset::Gap { after, .. } => {
                // Read with the later offset, the wall time is an instant before the
                // transition; the next transition is the end of the gap.
                let probe = Timestamp::from_second(local - i64::from(after.seconds())).ok()?;
                let transition = self.time_zone().following(probe).next()?;
                Some(ceil_to_minute(transition.timestamp().as_second()))
            }
        }
    }

    /// Do the date specs of `spec` hold on local day number `day`?
    fn date_matches(&self, spec: &AtSpec, day: i64) -> bool {
        let (year, month, day_of_month) = civil::civil_from_days(day);
        let any_or_empty = |empty: bool, hit: &dyn Fn() -> bool| empty || hit();
        let date = (year, month, day_of_month);
        let as_tuple = |d: CivilDate| (i32::from(d.year), d.month, d.day);
        any_or_empty(spec.days.is_empty(), &|| {
            let weekday = civil::weekday_from_days(day);
            spec.days.iter().any(|d| match *d {
                DaySpec::Day { day, .. } => day == weekday,
                DaySpec::Weekdays => !weekday.is_weekend(),
                DaySpec::Weekends => weekday.is_weekend(),
            })
        }) && any_or_empty(spec.dates.is_empty(), &|| {
            spec.dates
                .iter()
                .any(|d| d.month == month && d.day == day_of_month)
        }) && any_or_empty(spec.parts_of_year.is_empty(), &|| {
            spec.parts_of_year.iter().any(|p| match *p {
                YearPart::Month(m) => m == month,
                YearPart::Season(season) => {
                    season_contains(season, month, self.is_southern_hemisphere())
                }
            })
        }) && any_or_empty(spec.years.is_empty(), &|| {
            spec.years.iter().any(|&y| i32::from(y) == year)
        }) && any_or_empty(spec.ranges.is_empty(), &|| {
            spec.ranges
                .iter()
                .any(|r| range_contains(r, month, day_of_month))
        }) && spec.starting.is_none_or(|s| date >= as_tuple(s))
            && spec.ending.is_none_or(|e| date <= as_tuple(e))
    }
}

/// Is `month` (1–12) in the meteorological `season` of the given hemisphere?
pub fn season_contains(season: Season, month: u8, southern: bool) -> bool {
    // South of the equator the seasons are six months apart from the north's.
    let northern_month = if southern {
        (month + 5) % 12 + 1
    } else {
        month
    };
    match season {
        Season::Winter => matches!(northern_month, 12 | 1 | 2),
        Season::Spring => matches!(northern_month, 3..=5),
        Season::Summer => matches!(northern_month, 6..=8),
        Season::Fall | Season::Autumn => matches!(northern_month, 9..=11),
    }
}

/// Is (month, day) inside the inclusive, possibly year-wrapping `range`?
pub fn range_contains(range: &DateRange, month: u8, day: u8) -> bool {
    // Month-days as comparable keys; a missing day is the first (from) or last (through) of
    // its month, and 31 is "last" for every month.
    let key = |m: u8, d: u8| u16::from(m) * 32 + u16::from(d);
    let from = key(range.from.month, range.from.day.unwrap_or(1));
    let through = key(range.through.month, range.through.day.unwrap_or(31));
    let today = key(month, day);
    if from <= through {
        from <= today && today <= through
    } else {
        today >= from || today <= through
    }
}

fn ceil_to_minute(second: i64) -> i64 {
    second.div_euclid(60) * 60 + if second.rem_euclid(60) == 0 { 0 } else { 60 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Span;
    use crate::time::spec::{ClockStyle, MonthDay, RangeEnd, TimeOffset};

    fn at(time: TimeOfDay) -> AtSpec {
        AtSpec {
            offset: None,
            time,
            days: vec![],
            dates: vec![],
            parts_of_year: vec![],
            years: vec![],
            ranges: vec![],
            starting: None,
            ending: None,
            span: Span::new(0, 0),
        }
    }

    fn clock(hour: u8, minute: u8) -> TimeOfDay {
        TimeOfDay::Clock {
            hour,
            minute,
            style: ClockStyle::H24,
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn la() -> TimeContext {
        TimeContext::new(jiff::tz::TimeZone::get("America/Los_Angeles").unwrap())
    }

    #[test]
    fn seasons_flip_south_of_the_equator() {
        assert!(season_contains(Season::Winter, 1, false));
        assert!(season_contains(Season::Winter, 7, true));
        assert!(season_contains(Season::Summer, 12, true));
        assert!(season_contains(Season::Autumn, 4, true));
        assert!(season_contains(Season::Spring, 10, true));
        assert!(!season_contains(Season::Winter, 3, false));
    }

    #[test]
    fn ranges_are_inclusive_and_wrap() {
        let r = |fm, fd, tm, td| DateRange {
            from: RangeEnd { month: fm, day: fd },
            through: RangeEnd { month: tm, day: td },
        };
        let holidays = r(12, Some(20), 1, Some(6));
        assert!(range_contains(&holidays, 12, 20));
        assert!(range_contains(&holidays, 1, 6));
        assert!(!range_contains(&holidays, 1, 7));
        assert!(!range_contains(&holidays, 12, 19));
        let summer = r(6, None, 8, None);
        assert!(range_contains(&summer, 6, 1) && range_contains(&summer, 8, 31));
        assert!(!range_contains(&summer, 9, 1) && !range_contains(&summer, 5, 31));
    }

    #[test]
    fn offsets_on_clock_times_are_wall_times_that_wrap() {
        let mut spec = at(TimeOfDay::Midnight);
        spec.offset = Some(TimeOffset {
            minutes: 30,
            unit_hours: false,
            before: true,
        });
        spec.days = vec![DaySpec::Day {
            day: super::super::spec::Weekday::Monday,
            plural: false,
        }];
        let ctx = la();
        // Monday 2024-01-08 23:30 PST, not Sunday 23:30.
        assert!(ctx.fires_at(&spec, ts("2024-01-09T07:30:00Z")));
        assert!(!ctx.fires_at(&spec, ts("2024-01-08T07:30:00Z")));
        assert_eq!(
            ctx.next_fire_after(&spec, ts("2024-01-01T00:00:00Z")),
            Some(ts("2024-01-02T07:30:00Z"))
        );
    }

    #[test]
    fn gap_and_fold() {
        let ctx = la();
        let spec = at(clock(2, 30));
        assert!(ctx.fires_at(&spec, ts("2024-03-10T10:00:00Z")), "03:00 PDT");
        assert_eq!(
            ctx.next_fire_after(&spec, ts("2024-03-09T11:00:00Z")),
            Some(ts("2024-03-10T10:00:00Z"))
        );
        let spec = at(clock(1, 30));
        assert!(ctx.fires_at(&spec, ts("2024-11-03T08:30:00Z")), "01:30 PDT");
        assert!(
            !ctx.fires_at(&spec, ts("2024-11-03T09:30:00Z")),
            "01:30 PST"
        );
        assert_eq!(
            ctx.next_fire_after(&spec, ts("2024-11-03T08:30:00Z")),
            Some(ts("2024-11-04T09:30:00Z"))
        );
    }

    #[test]
    fn never_firing_specs_end_the_search() {
        let ctx = la();
        let mut spec = at(TimeOfDay::Noon);
        spec.ending = Some(CivilDate {
            year: 2023,
            month: 9,
            day: 30,
        });
        assert_eq!(ctx.next_fire_after(&spec, ts("2024-01-01T00:00:00Z")), None);
        let mut spec = at(TimeOfDay::Noon);
        spec.dates = vec![MonthDay { month: 2, day: 29 }];
        assert_eq!(
            ctx.next_fire_after(&spec, ts("2024-03-01T00:00:00Z")),
            Some(ts("2028-02-29T20:00:00Z"))
        );
        spec.years = vec![2025, 2026];
        assert_eq!(ctx.next_fire_after(&spec, ts("2024-03-01T00:00:00Z")), None);
        assert_eq!(
            ctx.next_fire_after(&at(TimeOfDay::Sunrise), ts("2024-03-01T00:00:00Z")),
            None
        );
        // Far ahead: the window starts at the first year, and dates are searched past the
        // eight-year candidate window.
        let mut spec = at(TimeOfDay::Noon);
        spec.years = vec![2034];
        spec.dates = vec![MonthDay { month: 1, day: 1 }];
        assert_eq!(
            ctx.next_fire_after(&spec, ts("2024-01-01T00:00:00Z")),
            Some(ts("2034-01-01T20:00:00Z"))
        );
        let mut spec = at(TimeOfDay::Noon);
        spec.dates = vec![MonthDay { month: 2, day: 29 }];
        spec.days = vec![DaySpec::Day {
            day: crate::time::spec::Weekday::Monday,
            plural: true,
        }];
        assert_eq!(
            ctx.next_fire_after(&spec, ts("2024-01-01T00:00:00Z")),
            Some(ts("2044-02-29T20:00:00Z"))
        );
        // No February 30 (on a Monday or not): the date search ends after one Gregorian cycle.
        spec.dates = vec![MonthDay { month: 2, day: 30 }];
        assert_eq!(ctx.next_fire_after(&spec, ts("2024-01-01T00:00:00Z")), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let ctx = TimeContext::new(jiff::tz::TimeZone::UTC);
        let mut sunset = at(TimeOfDay::Sunset);
        sunset.span = Span::new(3, 20);
        assert_eq!(
            ctx.validate(&sunset).unwrap_err().span(),
            Some(Span::new(3, 20))
        );
        assert!(matches!(
            ctx.validate(&at(TimeOfDay::Sunset)),
            Err(TimeError::NoLocation {
                event: "sunset",
                ..
            })
        ));
        let located = ctx.clone().with_location(47.6, -122.3);
        assert_eq!(located.validate(&at(TimeOfDay::Sunset)), Ok(()));
        let mut spec = at(TimeOfDay::Noon);
        spec.dates = vec![MonthDay { month: 2, day: 29 }];
        assert_eq!(ctx.validate(&spec), Ok(()));
        spec.dates = vec![MonthDay { month: 2, day: 30 }];
        let err = ctx.validate(&spec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "February 30 is not a day of the year: February has 29 days"
        );
        let mut spec = at(TimeOfDay::Noon);
        spec.starting = Some(CivilDate {
            year: 2024,
            month: 5,
            day: 1,
        });
        spec.ending = Some(CivilDate {
            year: 2023,
            month: 9,
            day: 30,
        });
        assert!(matches!(
            ctx.validate(&spec),
            Err(TimeError::EndingBeforeStarting { .. })
        ));
        spec.ending = Some(CivilDate {
            year: 2023,
            month: 2,
            day: 29,
        });
        assert!(matches!(
            ctx.validate(&spec),
            Err(TimeError::InvalidDate { day: 29, .. })
        ));
        assert!(matches!(
            ctx.validate(&at(clock(24, 0))),
            Err(TimeError::InvalidTime { hour: 24, .. })
        ));
        let off_earth = TimeContext::new(jiff::tz::TimeZone::UTC).with_location(91.0, 0.0);
        assert!(matches!(
            off_earth.validate(&at(TimeOfDay::Noon)),
            Err(TimeError::InvalidLocation { .. })
        ));
    }
}
