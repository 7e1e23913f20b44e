//! What an `AT` line says, as data: the time of day, an optional offset, and date specs.
//!
//! The parser builds an [`AtSpec`]; the formatter prints it back in canonical form; the
//! schedule code in [`crate::time`] decides at which minutes it fires. Spellings that change
//! nothing but the look (`Monday` / `Mondays`, `4:30 pm` / `16:30`, `fall` / `autumn`) are
//! kept so the formatter does not rewrite a user's choice.
//!
//! Combination rule (LANGUAGE.md): specs of the same kind are alternatives (OR), specs of
//! different kinds must all hold (AND). The kinds are the fields of [`AtSpec`]: days of the
//! week, calendar dates, parts of the year (months and seasons are one kind: "IN winter IN
//! March" means either), years, FROM…THROUGH ranges, STARTING, ENDING. An empty field does
//! not restrict.

use crate::span::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtSpec {
    pub offset: Option<TimeOffset>,
    pub time: TimeOfDay,
    /// `ON Monday`, `ON Mondays`, `ON weekdays`, `ON weekends`.
    pub days: Vec<DaySpec>,
    /// `ON December 31`.
    pub dates: Vec<MonthDay>,
    /// `IN March`, `IN winter`.
    pub parts_of_year: Vec<YearPart>,
    /// `IN 2024`.
    pub years: Vec<i16>,
    /// `FROM June 1 THROUGH July 13` (inclusive, may wrap the year end).
    pub ranges: Vec<DateRange>,
    /// `STARTING May 1, 2024` (inclusive).
    pub starting: Option<CivilDate>,
    /// `ENDING September 30, 2023` (inclusive).
    pub ending: Option<CivilDate>,
    /// The whole AT line from the keyword on.
    pub span: Span,
}

/// `N minutes before` / `N hours after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOffset {
    /// How far, in minutes (hours are stored as minutes; `unit_hours` keeps the spelling).
    pub minutes: u32,
    pub unit_hours: bool,
    pub before: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOfDay {
    Midnight,
    Noon,
    Sunrise,
    Sunset,
    /// A wall-clock time; `hour` is 0–23 whatever the spelling.
    Clock {
        hour: u8,
        minute: u8,
        style: ClockStyle,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStyle {
    /// `09:00`, `20:00`.
    H24,
    /// `4:30pm`, `4:30 pm`.
    H12,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaySpec {
    /// `Monday` (plural: false) or `Mondays` (plural: true) — same meaning.
    Day { day: Weekday, plural: bool },
    /// Monday to Friday.
    Weekdays,
    /// Saturday and Sunday.
    Weekends,
}

/// A month (1–12) and day (1–31, valid for that month in a leap year).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthDay {
    pub month: u8,
    pub day: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YearPart {
    /// 1–12.
    Month(u8),
    Season(Season),
}

/// Meteorological seasons (winter = Dec–Feb north of the equator), flipped for a negative
/// latitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    Winter,
    Spring,
    Summer,
    Fall,
    /// Same as `Fall`, spelled `autumn`.
    Autumn,
}

/// One end of a `FROM … THROUGH …` range: `June 1`, or `June` for the whole month (the first
/// day when it starts a range, the last when it ends one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeEnd {
    pub month: u8,
    pub day: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: RangeEnd,
    pub through: RangeEnd,
}

/// A full date, `May 1, 2024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    pub year: i16,
    pub month: u8,
    pub day: u8,
}
