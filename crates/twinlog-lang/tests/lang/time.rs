//! Integration tests: `AT` schedules checked minute by minute over the whole of 2024 (a leap
//! year) in Los Angeles and Sydney, whose DST changes run in opposite halves of the year and
//! whose seasons are flipped, against a reference written here from the civil rules with
//! `jiff` alone; plus DST spot checks and sunrise/sunset against published tables.
//!
//! The reference differs from the library on purpose: it walks `jiff` dates, applies clock
//! offsets with `jiff` civil arithmetic, expands FROM…THROUGH ranges into day sets, looks up
//! seasons in per-hemisphere tables, and finds the end of a DST gap by stepping minutes. The
//! day counts in [`cases`] were counted independently (a calendar, not this code).

use std::collections::BTreeSet;

use jiff::civil::{Date, DateTime, Weekday as JiffWeekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};
use twinlog_lang::span::Span;
use twinlog_lang::time::TimeContext;
use twinlog_lang::time::spec::{
    AtSpec, CivilDate, ClockStyle, DateRange, DaySpec, MonthDay, RangeEnd, Season, TimeOfDay,
    TimeOffset, Weekday, YearPart,
};

// ---------------------------------------------------------------------------------------
// Building specs (the parser is tested elsewhere; here the data is what matters).

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

fn h24(hour: u8, minute: u8) -> AtSpec {
    at(TimeOfDay::Clock {
        hour,
        minute,
        style: ClockStyle::H24,
    })
}

fn h12(hour: u8, minute: u8) -> AtSpec {
    at(TimeOfDay::Clock {
        hour,
        minute,
        style: ClockStyle::H12,
    })
}

trait Build {
    fn before(self, minutes: u32) -> Self;
    fn after(self, minutes: u32) -> Self;
    fn on(self, day: DaySpec) -> Self;
    fn on_date(self, month: u8, day: u8) -> Self;
    fn in_part(self, part: YearPart) -> Self;
    fn in_year(self, year: i16) -> Self;
    fn range(self, from: (u8, Option<u8>), through: (u8, Option<u8>)) -> Self;
    fn starting(self, year: i16, month: u8, day: u8) -> Self;
    fn ending(self, year: i16, month: u8, day: u8) -> Self;
}

impl Build for AtSpec {
    fn before(mut self, minutes: u32) -> Self {
        self.offset = Some(TimeOffset {
            minutes,
            unit_hours: minutes.is_multiple_of(60),
            before: true,
        });
        self
    }
    fn after(mut self, minutes: u32) -> Self {
        self.offset = Some(TimeOffset {
            minutes,
            unit_hours: minutes.is_multiple_of(60),
            before: false,
        });
        self
    }
    fn on(mut self, day: DaySpec) -> Self {
        self.days.push(day);
        self
    }
    fn on_date(mut self, month: u8, day: u8) -> Self {
        self.dates.push(MonthDay { month, day });
        self
    }
    fn in_part(mut self, part: YearPart) -> Self {
        self.parts_of_year.push(part);
        self
    }
    fn in_year(mut self, year: i16) -> Self {
        self.years.push(year);
        self
    }
    fn range(mut self, from: (u8, Option<u8>), through: (u8, Option<u8>)) -> Self {
        self.ranges.push(DateRange {
            from: RangeEnd {
                month: from.0,
                day: from.1,
            },
            through: RangeEnd {
                month: through.0,
                day: through.1,
            },
        });
        self
    }
    fn starting(mut self, year: i16, month: u8, day: u8) -> Self {
        self.starting = Some(CivilDate { year, month, day });
        self
    }
    fn ending(mut self, year: i16, month: u8, day: u8) -> Self {
        self.ending = Some(CivilDate { year, month, day });
        self
    }
}

fn day(day: Weekday) -> DaySpec {
    DaySpec::Day { day, plural: false }
}

fn days(day: Weekday) -> DaySpec {
    DaySpec::Day { day, plural: true }
}

const fn season(s: Season) -> YearPart {
    YearPart::Season(s)
}

/// One `AT` to check, and on how many local dates of 2024 it fires (north, south), each
/// date once; `None` for an offset sun time whose fire drifts across midnight during the
/// year: where the drift crosses midnight a date can get two fires or none (rule 4 of
/// `time::schedule`), so only the reference comparison applies.
struct Case {
    text: &'static str,
    spec: AtSpec,
    fire_days: Option<(usize, usize)>,
}

fn case(text: &'static str, spec: AtSpec, fire_days: (usize, usize)) -> Case {
    Case {
        text,
        spec,
        fire_days: Some(fire_days),
    }
}

fn drifting(text: &'static str, spec: AtSpec) -> Case {
    Case {
        text,
        spec,
        fire_days: None,
    }
}

/// Every form of the AT grammar, and the DST-sensitive wall times of both zones (LA:
/// gap 02:00–03:00 on March 10, fold 01:00–02:00 on November 3; Sydney: fold 02:00–03:00 on
/// April 7, gap 02:00–03:00 on October 6).
fn cases() -> Vec<Case> {
    use Season::*;
    use Weekday::*;
    let all = (366, 366);
    vec![
        case("AT 09:00", h24(9, 0), all),
        case("AT 4:30 pm", h12(16, 30), all),
        case("AT midnight", at(TimeOfDay::Midnight), all),
        case("AT noon", at(TimeOfDay::Noon), all),
        case(
            "AT 12:00 am IN autumn ON Wednesdays",
            h12(0, 0).in_part(season(Autumn)).on(days(Wednesday)),
            (13, 13),
        ),
        case(
            "AT 30 minutes before midnight ON Monday",
            at(TimeOfDay::Midnight).before(30).on(day(Monday)),
            (53, 53),
        ),
        case(
            "AT 2 hours after noon ON weekends",
            at(TimeOfDay::Noon).after(120).on(DaySpec::Weekends),
            (104, 104),
        ),
        case(
            "AT 90 minutes after 01:00 ON Sundays",
            h24(1, 0).after(90).on(days(Sunday)),
            (52, 52),
        ),
        case("AT 1 hour before 03:00", h24(3, 0).before(60), all),
        case("AT 02:30", h24(2, 30), all),
        case("AT 02:00", h24(2, 0), all),
        case("AT 01:30", h24(1, 30), all),
        case("AT 01:00", h24(1, 0), all),
        case("AT 03:00", h24(3, 0), all),
        case("AT 23:59", h24(23, 59), all),
        case("AT sunrise", at(TimeOfDay::Sunrise), all),
        case("AT sunset", at(TimeOfDay::Sunset), all),
        case(
            "AT 30 minutes before sunset ON weekdays",
            at(TimeOfDay::Sunset).before(30).on(DaySpec::Weekdays),
            (262, 262),
        ),
        case(
            "AT 45 minutes after sunrise IN winter",
            at(TimeOfDay::Sunrise).after(45).in_part(season(Winter)),
            (91, 92),
        ),
        case(
            "AT 3 hours after sunset ON Friday",
            at(TimeOfDay::Sunset).after(180).on(day(Friday)),
            (52, 52),
        ),
        drifting(
            "AT 6 hours after sunset ON Friday",
            at(TimeOfDay::Sunset).after(360).on(day(Friday)),
        ),
        case(
            "AT 9 hours before sunrise ON Saturdays",
            at(TimeOfDay::Sunrise).before(540).on(days(Saturday)),
            (52, 52),
        ),
        case(
            "AT sunset IN summer",
            at(TimeOfDay::Sunset).in_part(season(Summer)),
            (92, 91),
        ),
        case(
            "AT noon ON December 31",
            at(TimeOfDay::Noon).on_date(12, 31),
            (1, 1),
        ),
        case(
            "AT noon ON February 29",
            at(TimeOfDay::Noon).on_date(2, 29),
            (1, 1),
        ),
        case(
            "AT noon ON February 29 ON March 1",
            at(TimeOfDay::Noon).on_date(2, 29).on_date(3, 1),
            (2, 2),
        ),
        case(
            "AT 07:15 IN March IN summer",
            h24(7, 15)
                .in_part(YearPart::Month(3))
                .in_part(season(Summer)),
            (123, 122),
        ),
        case(
            "AT 08:00 IN spring ON weekdays",
            h24(8, 0).in_part(season(Spring)).on(DaySpec::Weekdays),
            (66, 65),
        ),
        case("AT 10:00 IN 2024", h24(10, 0).in_year(2024), all),
        case("AT 10:00 IN 2025", h24(10, 0).in_year(2025), (0, 0)),
        case(
            "AT 10:00 IN 2023 IN 2024",
            h24(10, 0).in_year(2023).in_year(2024),
            all,
        ),
        case(
            "AT 18:00 FROM June 1 THROUGH July 13",
            h24(18, 0).range((6, Some(1)), (7, Some(13))),
            (43, 43),
        ),
        case(
            "AT 18:00 FROM December 20 THROUGH January 6",
            h24(18, 0).range((12, Some(20)), (1, Some(6))),
            (18, 18),
        ),
        case(
            "AT 20:00 FROM February THROUGH February",
            h24(20, 0).range((2, None), (2, None)),
            (29, 29),
        ),
        case(
            "AT 21:00 FROM November THROUGH February 29",
            h24(21, 0).range((11, None), (2, Some(29))),
            (121, 121),
        ),
        case(
            "AT 06:00 STARTING May 1, 2024 ENDING September 30, 2024",
            h24(6, 0).starting(2024, 5, 1).ending(2024, 9, 30),
            (153, 153),
        ),
        case(
            "AT 06:00 ON Tuesdays ON Thursday ENDING March 15, 2024",
            h24(6, 0)
                .on(days(Tuesday))
                .on(day(Thursday))
                .ending(2024, 3, 15),
            (22, 22),
        ),
        case(
            "AT 23:59 STARTING December 30, 2024",
            h24(23, 59).starting(2024, 12, 30),
            (2, 2),
        ),
        case(
            "AT midnight ENDING January 1, 2024",
            at(TimeOfDay::Midnight).ending(2024, 1, 1),
            (1, 1),
        ),
        case(
            "AT 11:11 IN fall IN December ON weekends FROM October 15 THROUGH December 10",
            h24(11, 11)
                .in_part(season(Fall))
                .in_part(YearPart::Month(12))
                .on(DaySpec::Weekends)
                .range((10, Some(15)), (12, Some(10))),
            (16, 3),
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The reference.

struct Zone {
    name: &'static str,
    latitude: f64,
    longitude: f64,
}

const LOS_ANGELES: Zone = Zone {
    name: "America/Los_Angeles",
    latitude: 34.0522,
    longitude: -118.2437,
};
/// Chile moves its clocks at midnight: the gap and the fold touch the date line.
const SANTIAGO: Zone = Zone {
    name: "America/Santiago",
    latitude: -33.4489,
    longitude: -70.6693,
};
/// Midnight sun and polar night: sun events cross local midnight, some dates have two.
const TROMSO: Zone = Zone {
    name: "Europe/Oslo",
    latitude: 69.65,
    longitude: 18.96,
};
const SYDNEY: Zone = Zone {
    name: "Australia/Sydney",
    latitude: -33.8688,
    longitude: 151.2093,
};

fn context(zone: &Zone) -> TimeContext {
    let tz = TimeZone::get(zone.name).unwrap_or_else(|e| panic!("time zone {}: {e} (no /usr/share/zoneinfo? install tzdata or enable jiff's `tzdb-bundle-always`)", zone.name));
    TimeContext::new(tz).with_location(zone.latitude, zone.longitude)
}

fn signed_offset(spec: &AtSpec) -> i64 {
    spec.offset.map_or(0, |o| {
        if o.before {
            -i64::from(o.minutes)
        } else {
            i64::from(o.minutes)
        }
    })
}

/// The instant of a wall time: the earlier one in a fold, the first minute whose wall time
/// is past it in a gap.
fn reference_resolve(tz: &TimeZone, wall: DateTime) -> Timestamp {
    let ambiguous = tz.to_ambiguous_timestamp(wall);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().unwrap()
        }
        AmbiguousOffset::Gap { .. } => {
            let mut t = ambiguous.earlier().unwrap() - SignedDuration::from_hours(3);
            t = Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap();
            while tz.to_datetime(t) <= wall {
                t += SignedDuration::from_mins(1);
            }
            t
        }
    }
}

fn floor_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap()
}

fn reference_weekday(day: Weekday) -> JiffWeekday {
    match day {
        Weekday::Monday => JiffWeekday::Monday,
        Weekday::Tuesday => JiffWeekday::Tuesday,
        Weekday::Wednesday => JiffWeekday::Wednesday,
        Weekday::Thursday => JiffWeekday::Thursday,
        Weekday::Friday => JiffWeekday::Friday,
        Weekday::Saturday => JiffWeekday::Saturday,
        Weekday::Sunday => JiffWeekday::Sunday,
    }
}

fn reference_season_months(season: Season, southern: bool) -> [i8; 3] {
    match (season, southern) {
        (Season::Winter, false) | (Season::Summer, true) => [12, 1, 2],
        (Season::Spring, false) | (Season::Fall | Season::Autumn, true) => [3, 4, 5],
        (Season::Summer, false) | (Season::Winter, true) => [6, 7, 8],
        (Season::Fall | Season::Autumn, false) | (Season::Spring, true) => [9, 10, 11],
    }
}

/// The (month, day) pairs of a range, walked day by day through a leap year, wrapping.
fn reference_range_days(range: &DateRange) -> BTreeSet<(i8, i8)> {
    let year = 2000;
    let from = Date::new(
        year,
        range.from.month as i8,
        range.from.day.unwrap_or(1) as i8,
    )
    .unwrap();
    let through_month = Date::new(year, range.through.month as i8, 1).unwrap();
    let through = match range.through.day {
        Some(d) => Date::new(year, range.through.month as i8, d as i8).unwrap(),
        None => through_month.last_of_month(),
    };
    let mut set = BTreeSet::new();
    let mut d = from;
    loop {
        set.insert((d.month(), d.day()));
        if d == through {
            return set;
        }
        d = if d == d.last_of_year() {
            d.first_of_year()
        } else {
            d.tomorrow().unwrap()
        };
    }
}

fn reference_date_ok(spec: &AtSpec, date: Date, southern: bool) -> bool {
    let kind = |specs_empty: bool, hit: bool| specs_empty || hit;
    let weekday = date.weekday();
    let weekend = matches!(weekday, JiffWeekday::Saturday | JiffWeekday::Sunday);
    kind(
        spec.days.is_empty(),
        spec.days.iter().any(|d| match *d {
            DaySpec::Day { day, .. } => reference_weekday(day) == weekday,
            DaySpec::Weekdays => !weekend,
            DaySpec::Weekends => weekend,
        }),
    ) && kind(
        spec.dates.is_empty(),
        spec.dates
            .iter()
            .any(|d| (d.month as i8, d.day as i8) == (date.month(), date.day())),
    ) && kind(
        spec.parts_of_year.is_empty(),
        spec.parts_of_year.iter().any(|p| match *p {
            YearPart::Month(m) => m as i8 == date.month(),
            YearPart::Season(s) => reference_season_months(s, southern).contains(&date.month()),
        }),
    ) && kind(spec.years.is_empty(), spec.years.contains(&date.year()))
        && kind(
            spec.ranges.is_empty(),
            spec.ranges
                .iter()
                .any(|r| reference_range_days(r).contains(&(date.month(), date.day()))),
        )
        && spec
            .starting
            .is_none_or(|s| date >= Date::new(s.year, s.month as i8, s.day as i8).unwrap())
        && spec
            .ending
            .is_none_or(|e| date <= Date::new(e.year, e.month as i8, e.day as i8).unwrap())
}

/// Every fire of `spec` in `[start, end)`, sorted.
fn reference_fires(
    ctx: &TimeContext,
    zone: &Zone,
    spec: &AtSpec,
    start: Timestamp,
    end: Timestamp,
) -> Vec<Timestamp> {
    let tz = ctx.time_zone();
    let offset = signed_offset(spec);
    let mut fires = vec![];
    let mut base_day = Date::new(2023, 12, 25).unwrap();
    while base_day <= Date::new(2025, 1, 7).unwrap() {
        let fire = match spec.time {
            TimeOfDay::Midnight | TimeOfDay::Noon | TimeOfDay::Clock { .. } => {
                let (hour, minute) = match spec.time {
                    TimeOfDay::Midnight => (0, 0),
                    TimeOfDay::Noon => (12, 0),
                    TimeOfDay::Clock { hour, minute, .. } => (hour as i8, minute as i8),
                    _ => unreachable!(),
                };
                let wall = base_day
                    .at(hour, minute, 0, 0)
                    .checked_add(offset.minutes())
                    .unwrap();
                Some(reference_resolve(tz, wall))
            }
            TimeOfDay::Sunrise => ctx
                .sunrise(base_day)
                .map(|t| floor_minute(t) + SignedDuration::from_mins(offset)),
            TimeOfDay::Sunset => ctx
                .sunset(base_day)
                .map(|t| floor_minute(t) + SignedDuration::from_mins(offset)),
        };
        if let Some(fire) = fire
            && start <= fire
            && fire < end
            && reference_date_ok(spec, tz.to_datetime(fire).date(), zone.latitude < 0.0)
        {
            fires.push(fire);
        }
        base_day = base_day.tomorrow().unwrap();
    }
    fires.sort();
    fires
}

// ---------------------------------------------------------------------------------------
// The year scan.

/// Scans every minute of local 2024 in `zone` with `fires_at`, compares with the reference,
/// with `next_fire_after`, and with the independent day counts; returns the fires per case.
fn scan_year(zone: &Zone) -> Vec<Vec<Timestamp>> {
    let ctx = context(zone);
    let tz = ctx.time_zone().clone();
    let start = Date::new(2024, 1, 1)
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp();
    let end = Date::new(2025, 1, 1)
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp();
    let cases = cases();
    for case in &cases {
        assert_eq!(ctx.validate(&case.spec), Ok(()), "{}", case.text);
    }
    let expected: Vec<Vec<Timestamp>> = cases
        .iter()
        .map(|c| reference_fires(&ctx, zone, &c.spec, start, end))
        .collect();

    let mut found: Vec<Vec<Timestamp>> = vec![vec![]; cases.len()];
    let mut minute = start;
    let mut minutes = 0_u32;
    while minute < end {
        for (case, found) in cases.iter().zip(found.iter_mut()) {
            if ctx.fires_at(&case.spec, minute) {
                found.push(minute);
            }
        }
        minute += SignedDuration::from_mins(1);
        minutes += 1;
    }
    assert_eq!(
        minutes,
        366 * 24 * 60,
        "2024 has 366 days of 1440 minutes, DST or not"
    );

    let southern = zone.latitude < 0.0;
    for ((case, expected), found) in cases.iter().zip(&expected).zip(&found) {
        let show = |v: &[Timestamp]| {
            v.iter()
                .map(|t| t.to_zoned_datetime(tz.clone()).to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        };
        if found != expected {
            let missing: Vec<Timestamp> = expected
                .iter()
                .filter(|t| !found.contains(t))
                .copied()
                .collect();
            let extra: Vec<Timestamp> = found
                .iter()
                .filter(|t| !expected.contains(t))
                .copied()
                .collect();
            panic!(
                "{} in {}: fires_at disagrees with the reference\nmissing:\n  {}\nextra:\n  {}",
                case.text,
                zone.name,
                show(&missing),
                show(&extra)
            );
        }

        // Each fire is on its own local date, and there are as many as the calendar says.
        if let Some((north, south)) = case.fire_days {
            let dates: BTreeSet<Date> = found.iter().map(|t| tz.to_datetime(*t).date()).collect();
            assert_eq!(
                dates.len(),
                found.len(),
                "{} in {}: two fires on one date:\n  {}",
                case.text,
                zone.name,
                show(found)
            );
            let want = if southern { south } else { north };
            assert_eq!(
                found.len(),
                want,
                "{} in {}: fire count",
                case.text,
                zone.name
            );
        }

        // next_fire_after walks the same fires.
        let mut chained = vec![];
        let mut cursor = start - SignedDuration::from_secs(1);
        while let Some(next) = ctx.next_fire_after(&case.spec, cursor) {
            if next >= end {
                break;
            }
            assert!(next > cursor);
            chained.push(next);
            cursor = next;
        }
        assert_eq!(
            &chained, found,
            "{} in {}: next_fire_after disagrees with the scan",
            case.text, zone.name
        );
    }
    found
}

fn fires_of<'a>(fires: &'a [Vec<Timestamp>], text: &str) -> &'a [Timestamp] {
    let index = cases().iter().position(|c| c.text == text).unwrap();
    &fires[index]
}

fn on_local_date(tz: &TimeZone, fires: &[Timestamp], date: Date) -> Vec<String> {
    fires
        .iter()
        .filter(|t| tz.to_datetime(**t).date() == date)
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%H:%M %Z")
                .to_string()
        })
        .collect()
}

#[test]
fn every_minute_of_2024_in_los_angeles() {
    let fires = scan_year(&LOS_ANGELES);
    let tz = TimeZone::get(LOS_ANGELES.name).unwrap();
    let spring_forward = Date::new(2024, 3, 10).unwrap();
    let fall_back = Date::new(2024, 11, 3).unwrap();
    // The gap 02:00–03:00: wall times inside it fire at 03:00 PDT, once.
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:30"), spring_forward),
        ["03:00 PDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:00"), spring_forward),
        ["03:00 PDT"]
    );
    assert_eq!(
        on_local_date(
            &tz,
            fires_of(&fires, "AT 1 hour before 03:00"),
            spring_forward
        ),
        ["03:00 PDT"]
    );
    assert_eq!(
        on_local_date(
            &tz,
            fires_of(&fires, "AT 90 minutes after 01:00 ON Sundays"),
            spring_forward
        ),
        ["03:00 PDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 03:00"), spring_forward),
        ["03:00 PDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 01:30"), spring_forward),
        ["01:30 PST"]
    );
    // The fold 01:00–02:00: the first pass only.
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 01:30"), fall_back),
        ["01:30 PDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 01:00"), fall_back),
        ["01:00 PDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:00"), fall_back),
        ["02:00 PST"]
    );
    // Date specs apply to the date the fire lands on: Thursday 2024-06-20's sunset (20:08)
    // + 6 h is Friday 02:08, and Friday's own lands on Saturday.
    let friday = Date::new(2024, 6, 21).unwrap();
    let late = on_local_date(
        &tz,
        fires_of(&fires, "AT 6 hours after sunset ON Friday"),
        friday,
    );
    assert_eq!(late.len(), 1);
    assert!(late[0].starts_with("02:0"), "{late:?}");
    // Seasons north: winter includes January, not July.
    let winter = fires_of(&fires, "AT 45 minutes after sunrise IN winter");
    assert!(!on_local_date(&tz, winter, Date::new(2024, 1, 15).unwrap()).is_empty());
    assert!(on_local_date(&tz, winter, Date::new(2024, 7, 15).unwrap()).is_empty());
}

#[test]
fn every_minute_of_2024_in_sydney() {
    let fires = scan_year(&SYDNEY);
    let tz = TimeZone::get(SYDNEY.name).unwrap();
    let fall_back = Date::new(2024, 4, 7).unwrap();
    let spring_forward = Date::new(2024, 10, 6).unwrap();
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:30"), fall_back),
        ["02:30 AEDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:00"), fall_back),
        ["02:00 AEDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 03:00"), fall_back),
        ["03:00 AEST"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:30"), spring_forward),
        ["03:00 AEDT"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 02:00"), spring_forward),
        ["03:00 AEDT"]
    );
    assert_eq!(
        on_local_date(
            &tz,
            fires_of(&fires, "AT 90 minutes after 01:00 ON Sundays"),
            spring_forward
        ),
        ["03:00 AEDT"]
    );
    // Seasons south: winter is June–August.
    let winter = fires_of(&fires, "AT 45 minutes after sunrise IN winter");
    assert!(on_local_date(&tz, winter, Date::new(2024, 1, 15).unwrap()).is_empty());
    assert!(!on_local_date(&tz, winter, Date::new(2024, 7, 15).unwrap()).is_empty());
    let summer = fires_of(&fires, "AT sunset IN summer");
    assert!(!on_local_date(&tz, summer, Date::new(2024, 12, 25).unwrap()).is_empty());
}

#[test]
fn every_minute_of_2024_in_santiago() {
    let fires = scan_year(&SANTIAGO);
    let tz = TimeZone::get(SANTIAGO.name).unwrap();
    // 2024-04-07 00:00 -03 became 2024-04-06 23:00 -04: the hour before midnight of April 6
    // is lived twice, the first pass fires.
    let fall_back = Date::new(2024, 4, 6).unwrap();
    assert_eq!(
        on_local_date(
            &tz,
            fires_of(&fires, "AT 30 minutes before midnight ON Monday"),
            fall_back
        ),
        Vec::<String>::new(),
        "April 6 is a Saturday"
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 23:59"), fall_back),
        ["23:59 -03"]
    );
    assert_eq!(
        on_local_date(
            &tz,
            fires_of(&fires, "AT midnight"),
            fall_back.tomorrow().unwrap()
        ),
        ["00:00 -04"]
    );
    // 2024-09-08 00:00 -04 became 01:00 -03: midnight does not exist that day.
    let spring_forward = Date::new(2024, 9, 8).unwrap();
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT midnight"), spring_forward),
        ["01:00 -03"]
    );
    assert_eq!(
        on_local_date(&tz, fires_of(&fires, "AT 01:00"), spring_forward),
        ["01:00 -03"]
    );
}

#[test]
fn a_day_the_zone_skipped_fires_at_the_first_minute_after_it() {
    // Samoa jumped from 2011-12-29 24:00 (-10) to 2011-12-31 00:00 (+14): all of December 30
    // is one gap. Its 09:00 fires at 00:00 on the 31st, and the 31st's own 09:00 still fires.
    let tz = TimeZone::get("Pacific/Apia").unwrap();
    let ctx = TimeContext::new(tz.clone());
    let spec = h24(9, 0);
    let after_gap = Date::new(2011, 12, 31)
        .unwrap()
        .at(0, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp();
    let nine = Date::new(2011, 12, 31)
        .unwrap()
        .at(9, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp();
    let noon_29 = Date::new(2011, 12, 29)
        .unwrap()
        .at(12, 0, 0, 0)
        .to_zoned_datetime(tz.clone())
        .unwrap()
        .timestamp();
    assert_eq!(
        after_gap.as_second() - noon_29.as_second(),
        12 * 3600,
        "the zone data knows the skipped day"
    );
    assert!(ctx.fires_at(&spec, after_gap));
    assert!(ctx.fires_at(&spec, nine));
    assert_eq!(ctx.next_fire_after(&spec, noon_29), Some(after_gap));
    assert_eq!(ctx.next_fire_after(&spec, after_gap), Some(nine));
    let mut minute = noon_29;
    let mut count = 0;
    while minute < nine {
        count += usize::from(ctx.fires_at(&spec, minute));
        minute += SignedDuration::from_mins(1);
    }
    assert_eq!(count, 1);
}

// ---------------------------------------------------------------------------------------
// Sunrise and sunset against published tables (timeanddate.com / USNO, rounded to the
// minute); the algorithm is allowed two minutes.

#[track_caller]
fn check_sun(
    zone: &str,
    latitude: f64,
    longitude: f64,
    date: (i16, i8, i8),
    rise: &str,
    set: &str,
) {
    let tz = TimeZone::get(zone).unwrap();
    let ctx = TimeContext::new(tz.clone()).with_location(latitude, longitude);
    let date = Date::new(date.0, date.1, date.2).unwrap();
    for (got, want, what) in [
        (ctx.sunrise(date), rise, "sunrise"),
        (ctx.sunset(date), set, "sunset"),
    ] {
        let got = got.unwrap_or_else(|| panic!("{zone} {date}: no {what}"));
        let want = date
            .at(want[..2].parse().unwrap(), want[3..].parse().unwrap(), 0, 0)
            .to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp();
        let error = got.duration_since(want).as_secs().abs();
        assert!(
            error <= 120,
            "{zone} {date} {what}: got {}, published {want}",
            got.to_zoned_datetime(tz.clone())
        );
    }
}

#[test]
fn sun_times_match_published_tables() {
    check_sun(
        "Europe/London",
        51.5074,
        -0.1278,
        (2024, 6, 20),
        "04:43",
        "21:21",
    );
    check_sun(
        "Europe/London",
        51.5074,
        -0.1278,
        (2024, 12, 21),
        "08:04",
        "15:53",
    );
    check_sun(
        "America/New_York",
        40.7128,
        -74.0060,
        (2024, 12, 21),
        "07:16",
        "16:32",
    );
    check_sun(
        "America/Los_Angeles",
        34.0522,
        -118.2437,
        (2024, 6, 20),
        "05:42",
        "20:08",
    );
    check_sun(
        "Australia/Sydney",
        -33.8688,
        151.2093,
        (2024, 12, 21),
        "05:41",
        "20:05",
    );
    check_sun(
        "Australia/Sydney",
        -33.8688,
        151.2093,
        (2024, 6, 21),
        "07:00",
        "16:54",
    );
}

#[test]
fn polar_night_and_midnight_sun_skip_the_day() {
    let tz = TimeZone::get("Europe/Oslo").unwrap();
    let tromso = TimeContext::new(tz.clone()).with_location(69.6496, 18.9560);
    let solstice = Date::new(2024, 12, 21).unwrap();
    assert_eq!(tromso.sunrise(solstice), None);
    assert_eq!(tromso.sunset(solstice), None);
    let midsummer = Date::new(2024, 6, 21).unwrap();
    assert_eq!(tromso.sunrise(midsummer), None);
    assert_eq!(tromso.sunset(midsummer), None);

    // An AT sunrise skips the polar night: the last sunrise before it is late November, the
    // first after it mid-January (published: 2024-11-27 and 2025-01-15 at Tromsø).
    let spec = at(TimeOfDay::Sunrise);
    let after = solstice.to_zoned_datetime(tz.clone()).unwrap().timestamp();
    let next = tromso.next_fire_after(&spec, after).unwrap();
    let next_date = tz.to_datetime(next).date();
    assert!(
        (Date::new(2025, 1, 13).unwrap()..=Date::new(2025, 1, 17).unwrap()).contains(&next_date),
        "{next_date}"
    );
    let mut minute = solstice.to_zoned_datetime(tz.clone()).unwrap().timestamp();
    for _ in 0..24 * 60 {
        assert!(!tromso.fires_at(&spec, minute));
        minute += SignedDuration::from_mins(1);
    }
}

#[test]
fn without_a_location_sun_times_are_unusable() {
    let ctx = TimeContext::new(TimeZone::UTC);
    let spec = at(TimeOfDay::Sunrise).before(30);
    let err = ctx.validate(&spec).unwrap_err();
    assert!(err.to_string().contains("needs a location"), "{err}");
    assert_eq!(ctx.sunrise(Date::new(2024, 6, 1).unwrap()), None);
    assert_eq!(ctx.next_fire_after(&spec, Timestamp::UNIX_EPOCH), None);
    // A season without a location is northern.
    let spec = at(TimeOfDay::Noon).in_part(season(Season::Winter));
    assert_eq!(ctx.validate(&spec), Ok(()));
    assert!(ctx.fires_at(&spec, "2024-01-15T12:00:00Z".parse().unwrap()));
    assert!(!ctx.fires_at(&spec, "2024-07-15T12:00:00Z".parse().unwrap()));
}

// ---------------------------------------------------------------------------------------
// Random specs: `next_fire_after` and `fires_at` describe the same fires.

mod random {
    use proptest::prelude::*;

    use super::*;

    fn time_of_day() -> impl Strategy<Value = TimeOfDay> {
        prop_oneof![
            Just(TimeOfDay::Midnight),
            Just(TimeOfDay::Noon),
            Just(TimeOfDay::Sunrise),
            Just(TimeOfDay::Sunset),
            (0u8..24, 0u8..60, any::<bool>()).prop_map(|(hour, minute, h12)| TimeOfDay::Clock {
                hour,
                minute,
                style: if h12 {
                    ClockStyle::H12
                } else {
                    ClockStyle::H24
                },
            }),
        ]
    }

    fn weekday() -> impl Strategy<Value = Weekday> {
        prop_oneof![
            Just(Weekday::Monday),
            Just(Weekday::Tuesday),
            Just(Weekday::Wednesday),
            Just(Weekday::Thursday),
            Just(Weekday::Friday),
            Just(Weekday::Saturday),
            Just(Weekday::Sunday),
        ]
    }

    fn day_spec() -> impl Strategy<Value = DaySpec> {
        prop_oneof![
            (weekday(), any::<bool>()).prop_map(|(day, plural)| DaySpec::Day { day, plural }),
            Just(DaySpec::Weekdays),
            Just(DaySpec::Weekends),
        ]
    }

    /// A valid (month, day) of a leap year.
    fn month_day() -> impl Strategy<Value = (u8, u8)> {
        (1u8..=12).prop_flat_map(|m| {
            let last = Date::new(2000, m as i8, 1).unwrap().days_in_month() as u8;
            (Just(m), 1..=last)
        })
    }

    fn season_part() -> impl Strategy<Value = YearPart> {
        prop_oneof![
            (1u8..=12).prop_map(YearPart::Month),
            prop_oneof![
                Just(Season::Winter),
                Just(Season::Spring),
                Just(Season::Summer),
                Just(Season::Fall),
                Just(Season::Autumn),
            ]
            .prop_map(YearPart::Season),
        ]
    }

    fn range_end() -> impl Strategy<Value = RangeEnd> {
        (month_day(), any::<bool>()).prop_map(|((month, day), whole)| RangeEnd {
            month,
            day: (!whole).then_some(day),
        })
    }

    fn civil_date() -> impl Strategy<Value = CivilDate> {
        (2023i16..=2027, 1u8..=12, 1u8..=28).prop_map(|(year, month, day)| CivilDate {
            year,
            month,
            day,
        })
    }

    fn spec() -> impl Strategy<Value = AtSpec> {
        (
            time_of_day(),
            proptest::option::of((0u32..=24 * 60, any::<bool>())),
            proptest::collection::vec(day_spec(), 0..3),
            proptest::collection::vec(month_day(), 0..2),
            proptest::collection::vec(season_part(), 0..3),
            proptest::collection::vec(2024i16..=2027, 0..2),
            proptest::collection::vec((range_end(), range_end()), 0..2),
            proptest::option::of(civil_date()),
            proptest::option::of(civil_date()),
        )
            .prop_map(
                |(time, offset, days, dates, parts, years, ranges, starting, ending)| {
                    let mut spec = at(time);
                    spec.offset = offset.map(|(minutes, before)| TimeOffset {
                        minutes,
                        unit_hours: false,
                        before,
                    });
                    spec.days = days;
                    spec.dates = dates
                        .into_iter()
                        .map(|(month, day)| MonthDay { month, day })
                        .collect();
                    spec.parts_of_year = parts;
                    spec.years = years;
                    spec.ranges = ranges
                        .into_iter()
                        .map(|(from, through)| DateRange { from, through })
                        .collect();
                    spec.starting = starting;
                    spec.ending = ending;
                    spec
                },
            )
            .prop_filter(
                "ENDING before STARTING is rejected by validate",
                |s| !matches!((s.starting, s.ending), (Some(a), Some(b)) if b < a),
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// The next fire is a fire, and no minute of the two days before it (or up to it)
        /// fires.
        #[test]
        fn next_fire_after_is_the_first_minute_that_fires(
            spec in spec(),
            zone in 0usize..4,
            start in 1_704_067_200i64..1_798_761_600, // 2024-01-01 .. 2027-01-01
        ) {
            let zone = [&LOS_ANGELES, &SYDNEY, &SANTIAGO, &TROMSO][zone];
            let ctx = context(zone);
            prop_assert_eq!(ctx.validate(&spec), Ok(()));
            let after = Timestamp::from_second(start).unwrap();
            let next = ctx.next_fire_after(&spec, after);
            if let Some(next) = next {
                prop_assert!(next > after);
                prop_assert_eq!(next.as_second() % 60, 0);
                prop_assert!(ctx.fires_at(&spec, next), "next_fire_after gave {} which does not fire", next);
            }
            let horizon = after + SignedDuration::from_hours(48);
            let mut minute = floor_minute(after) + SignedDuration::from_mins(1);
            while minute < horizon && next.is_none_or(|n| minute < n) {
                prop_assert!(!ctx.fires_at(&spec, minute), "{} fires before next_fire_after's {:?}", minute, next);
                minute += SignedDuration::from_mins(1);
            }
        }
    }
}
