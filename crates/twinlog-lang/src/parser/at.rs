//! The `AT` line: `AT [offset] time [date specs…]` to an [`AtSpec`].
//!
//! Times: `midnight`, `noon`, `sunrise`, `sunset`, `h:mm am|pm` (space optional), `HH:MM`.
//! Offsets: `N minute(s)|hour(s) before|after` (at most 24 hours). Date specs, in any order
//! and repeatable: `ON` days or dates (comma-separated lists, or repeated `ON`), `IN` months,
//! seasons or years, `FROM … THROUGH …`, `STARTING date`, `ENDING date`.
//!
//! The words of this line (`midnight`, `Monday`, `December`, `winter`, `pm`, `minutes`) are
//! matched here, case-insensitively, and are ordinary names everywhere else. Dates are
//! checked against the calendar (`February 30` is an error; `February 29` is fine without a
//! year and checked when a year is given). Abbreviations get a precise fix (`Fri` →
//! `Friday` or `Fridays`), misspellings a "did you mean".

use super::{PResult, Parser, is_name, time_unit};
use crate::ast::TimeUnit;
use crate::diag::{Diagnostic, Fix, suggest};
use crate::lexer::{Keyword, Token, TokenKind};
use crate::span::Span;
use crate::time::spec::{
    AtSpec, CivilDate, ClockStyle, DateRange, DaySpec, MonthDay, RangeEnd, Season, TimeOfDay,
    TimeOffset, Weekday, YearPart,
};

/// The longest offset: a day. Longer ones would move a trigger onto another date than the
/// one its date specs name, which nobody means.
const MAX_OFFSET_MINUTES: u64 = 24 * 60;

pub(crate) const WEEKDAYS: [(&str, Weekday); 7] = [
    ("Monday", Weekday::Monday),
    ("Tuesday", Weekday::Tuesday),
    ("Wednesday", Weekday::Wednesday),
    ("Thursday", Weekday::Thursday),
    ("Friday", Weekday::Friday),
    ("Saturday", Weekday::Saturday),
    ("Sunday", Weekday::Sunday),
];

use crate::time::civil::MONTH_NAMES as MONTHS;

const DAY_ABBREVIATIONS: [(&str, usize); 10] = [
    ("mon", 0),
    ("tue", 1),
    ("tues", 1),
    ("wed", 2),
    ("thu", 3),
    ("thur", 3),
    ("thurs", 3),
    ("fri", 4),
    ("sat", 5),
    ("sun", 6),
];

const MONTH_ABBREVIATIONS: [(&str, usize); 12] = [
    ("jan", 0),
    ("feb", 1),
    ("mar", 2),
    ("apr", 3),
    ("jun", 5),
    ("jul", 6),
    ("aug", 7),
    ("sep", 8),
    ("sept", 8),
    ("oct", 9),
    ("nov", 10),
    ("dec", 11),
];

const TIME_WORDS: [&str; 4] = ["midnight", "noon", "sunrise", "sunset"];

fn day_word(w: &str) -> Option<DaySpec> {
    if w.eq_ignore_ascii_case("weekdays") {
        return Some(DaySpec::Weekdays);
    }
    if w.eq_ignore_ascii_case("weekends") {
        return Some(DaySpec::Weekends);
    }
    for (name, day) in WEEKDAYS {
        if w.eq_ignore_ascii_case(name) {
            return Some(DaySpec::Day { day, plural: false });
        }
        if w.len() == name.len() + 1
            && w.get(..name.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(name))
            && w.ends_with(['s', 'S'])
        {
            return Some(DaySpec::Day { day, plural: true });
        }
    }
    None
}

fn month_word(w: &str) -> Option<u8> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(w))
        .map(|i| i as u8 + 1)
}

fn season_word(w: &str) -> Option<Season> {
    [
        ("winter", Season::Winter),
        ("spring", Season::Spring),
        ("summer", Season::Summer),
        ("fall", Season::Fall),
        ("autumn", Season::Autumn),
    ]
    .into_iter()
    .find(|(name, _)| w.eq_ignore_ascii_case(name))
    .map(|(_, s)| s)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in a month; without a year February has 29 (the date exists in some year).
pub(crate) fn days_in_month(month: u8, year: Option<i32>) -> u8 {
    match month {
        2 => {
            if year.is_none_or(is_leap) {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// What kind of word an error position may hold, for the diagnostic.
#[derive(Clone, Copy)]
struct Want {
    days: bool,
    months: bool,
    seasons: bool,
}

impl Parser<'_> {
    fn word_is(&self, t: Token, pred: impl Fn(&str) -> bool) -> bool {
        t.kind == TokenKind::Ident && pred(self.text(t))
    }

    fn peek_word(&self) -> Option<&str> {
        self.peek()
            .filter(|t| is_name(t.kind))
            .map(|t| self.text(t))
    }

    /// An unknown word where a day, month or season belongs.
    #[cold]
    fn bad_date_word(&mut self, want: Want, what: &str) -> super::Fail {
        let Some(t) = self.peek().filter(|t| is_name(t.kind)) else {
            return self.expected(what);
        };
        let w = self.text(t);
        let lower = w.to_ascii_lowercase();
        if want.days
            && let Some(&(_, i)) = DAY_ABBREVIATIONS.iter().find(|(a, _)| *a == lower)
        {
            let full = WEEKDAYS[i].0;
            let d = Diagnostic::error(
                t.span,
                format!("`{w}` is not a day; write `{full}` or `{full}s`"),
            )
            .with_label("abbreviated day")
            .with_help(format!(
                "days are written in full: `ON {full}`, `ON {full}s`, `ON weekdays`"
            ));
            return self.push(d);
        }
        if want.months
            && let Some(&(_, i)) = MONTH_ABBREVIATIONS.iter().find(|(a, _)| *a == lower)
        {
            let full = MONTHS[i];
            let d = Diagnostic::error(t.span, format!("`{w}` is not a month; write `{full}`"))
                .with_label("abbreviated month")
                .with_help("months are written in full, e.g. `December 31`");
            return self.push(d);
        }
        let mut candidates: Vec<String> = Vec::new();
        if want.days {
            candidates.extend(WEEKDAYS.iter().map(|(n, _)| n.to_ascii_lowercase()));
            candidates.extend(
                WEEKDAYS
                    .iter()
                    .map(|(n, _)| format!("{}s", n.to_ascii_lowercase())),
            );
            candidates.extend(["weekdays".into(), "weekends".into()]);
        }
        if want.months {
            candidates.extend(MONTHS.iter().map(|m| m.to_ascii_lowercase()));
        }
        if want.seasons {
            candidates.extend(["winter", "spring", "summer", "fall", "autumn"].map(String::from));
        }
        let mut d = Diagnostic::error(t.span, format!("expected {what}, found `{w}`"))
            .with_label(format!("expected {what}"));
        if let Some(s) = suggest(&lower, candidates.iter().map(String::as_str)) {
            let shown = if want.seasons && season_word(s).is_some() || s.starts_with("week") {
                s.to_string()
            } else {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            };
            d = d
                .with_help(format!("did you mean `{shown}`?"))
                .with_fix(Fix::replace(t.span, shown));
        }
        self.push(d)
    }

    /// After `AT`.
    pub(super) fn at_spec(&mut self, at: Span) -> PResult<AtSpec> {
        let offset = self.at_offset()?;
        let time = self.at_time()?;
        let mut spec = AtSpec {
            offset,
            time,
            days: Vec::new(),
            dates: Vec::new(),
            parts_of_year: Vec::new(),
            years: Vec::new(),
            ranges: Vec::new(),
            starting: None,
            ending: None,
            span: at,
        };
        while let Some(t) = self.peek() {
            match t.kind {
                TokenKind::Keyword(Keyword::On) => {
                    self.bump();
                    self.on_list(&mut spec)?;
                }
                TokenKind::Keyword(Keyword::In) => {
                    self.bump();
                    self.in_list(&mut spec)?;
                }
                TokenKind::Keyword(Keyword::From) => {
                    self.bump();
                    let from = self.range_end()?;
                    if self.eat(TokenKind::Keyword(Keyword::Through)).is_none() {
                        let w = self.peek_word().map(str::to_ascii_lowercase);
                        if matches!(w.as_deref(), Some("to" | "until" | "till" | "thru"))
                            || self.peek_kind() == Some(TokenKind::Minus)
                        {
                            let s = self.here();
                            let d = Diagnostic::error(s, "a FROM range ends with `THROUGH`")
                                .with_label("expected `THROUGH`")
                                .with_help(
                                    "write `FROM June 1 THROUGH July 13` (both days included)",
                                );
                            return Err(self.push(d));
                        }
                        return Err(self.expected_help(
                            "`THROUGH`",
                            "write `FROM June 1 THROUGH July 13` (both days included)",
                        ));
                    }
                    let through = self.range_end()?;
                    spec.ranges.push(DateRange { from, through });
                }
                TokenKind::Keyword(kw @ (Keyword::Starting | Keyword::Ending)) => {
                    self.bump();
                    let date = self.civil_date()?;
                    let slot = if kw == Keyword::Starting {
                        &mut spec.starting
                    } else {
                        &mut spec.ending
                    };
                    if slot.is_some() {
                        let d = Diagnostic::error(t.span, format!("`{}` given twice", kw.as_str()))
                            .with_label("second one")
                            .with_help("an AT line has at most one STARTING and one ENDING date");
                        return Err(self.push(d));
                    }
                    *slot = Some(date);
                }
                _ => return Err(self.bad_spec_start(t)),
            }
        }
        if let (Some(s), Some(e)) = (spec.starting, spec.ending)
            && e < s
        {
            let d = Diagnostic::error(
                at.to(self.prev_span()),
                "this AT line ends before it starts",
            )
            .with_label("ENDING is before STARTING")
            .with_help("swap the two dates");
            return Err(self.push(d));
        }
        spec.span = at.to(self.prev_span());
        Ok(spec)
    }

    #[cold]
    fn bad_spec_start(&mut self, t: Token) -> super::Fail {
        let what = "`ON`, `IN`, `FROM`, `STARTING`, `ENDING` or end of line";
        if t.kind == TokenKind::Keyword(Keyword::And) || t.kind == TokenKind::Comma {
            return self.expected_help(what, "list several days or months with commas after one `ON` or `IN`: `ON Saturday, Sunday`");
        }
        if let Some(w) = self.peek_word() {
            let help = if day_word(w).is_some() {
                Some(format!("write `ON {w}`"))
            } else if month_word(w).is_some() || season_word(w).is_some() {
                Some(format!("write `IN {w}`"))
            } else {
                let upper = w.to_ascii_uppercase();
                if let Some(s) = suggest(&upper, ["ON", "IN", "FROM", "STARTING", "ENDING"]) {
                    return self.expected_instead(what, format!("did you mean `{s}`?"), s);
                }
                None
            };
            if let Some(h) = help {
                return self.expected_help(what, h);
            }
        }
        self.expected(what)
    }

    /// `N minutes before` / `N hours after`, or nothing.
    fn at_offset(&mut self) -> PResult<Option<TimeOffset>> {
        let (Some(TokenKind::Number), Some(k)) = (self.peek_kind(), self.peek_nth_kind(1)) else {
            return Ok(None);
        };
        if !is_name(k) {
            return Ok(None);
        }
        let unit_tok = self.toks[self.pos + 1];
        let word = self.text(unit_tok);
        let Some(unit) = time_unit(word) else {
            if matches!(word.to_ascii_lowercase().as_str(), "am" | "pm") {
                let n = self.peek().map(|t| self.text(t)).unwrap_or("");
                let d = Diagnostic::error(
                    self.here().to(unit_tok.span),
                    format!("`{n} {word}` needs minutes"),
                )
                .with_label("expected a time such as `4:00 pm`")
                .with_help(format!("write `{n}:00 {}`", word.to_ascii_lowercase()));
                return Err(self.push(d));
            }
            return Ok(None);
        };
        let n = self.bump();
        let amount = self.whole(n, "an offset", MAX_OFFSET_MINUTES)?;
        self.bump();
        let unit_hours = match unit {
            TimeUnit::Minutes => false,
            TimeUnit::Hours => true,
            TimeUnit::Seconds | TimeUnit::Days => {
                let d = Diagnostic::error(unit_tok.span, "an AT offset is in minutes or hours")
                    .with_label("expected `minutes` or `hours`")
                    .with_help("write e.g. `AT 30 minutes before sunset`");
                return Err(self.push(d));
            }
        };
        let minutes = if unit_hours { amount * 60 } else { amount };
        if minutes > MAX_OFFSET_MINUTES {
            let d = Diagnostic::error(n.span.to(unit_tok.span), "an AT offset is at most 24 hours")
                .with_label("too far")
                .with_help("pick the time closest to when it should fire, e.g. `AT 2 hours before midnight`");
            return Err(self.push(d));
        }
        let before = match self.peek_kind() {
            Some(TokenKind::Keyword(Keyword::Before)) => true,
            Some(TokenKind::Keyword(Keyword::After)) => false,
            _ => {
                return Err(self.expected_help(
                    "`before` or `after`",
                    "write e.g. `AT 30 minutes before sunset`",
                ));
            }
        };
        self.bump();
        Ok(Some(TimeOffset {
            minutes: minutes as u32,
            unit_hours,
            before,
        }))
    }

    fn at_time(&mut self) -> PResult<TimeOfDay> {
        let what = "a time: `midnight`, `noon`, `sunrise`, `sunset`, `4:30 pm` or `16:30`";
        let Some(t) = self.peek() else {
            return Err(self.expected(what));
        };
        match t.kind {
            TokenKind::Time => {
                self.bump();
                self.clock(t)
            }
            TokenKind::Number => {
                let help = format!("write `{}:00`", self.text(t));
                Err(self.expected_help(what, help))
            }
            k if is_name(k) => {
                let word = self.text(t);
                let found = [
                    ("midnight", TimeOfDay::Midnight),
                    ("noon", TimeOfDay::Noon),
                    ("sunrise", TimeOfDay::Sunrise),
                    ("sunset", TimeOfDay::Sunset),
                ]
                .into_iter()
                .find(|(name, _)| word.eq_ignore_ascii_case(name));
                let time = match found {
                    Some((_, time)) => time,
                    None => {
                        let w = word.to_ascii_lowercase();
                        // Edit distance misses sound-alike spellings (`midnite`); a
                        // shared four-letter start catches them.
                        let close = suggest(&w, TIME_WORDS).or_else(|| {
                            let start = w.get(..4)?;
                            TIME_WORDS.iter().copied().find(|t| t.starts_with(start))
                        });
                        return Err(match close {
                            Some(s) => {
                                self.expected_instead(what, format!("did you mean `{s}`?"), s)
                            }
                            None => self.expected(what),
                        });
                    }
                };
                self.bump();
                Ok(time)
            }
            _ => Err(self.expected(what)),
        }
    }

    /// `4:30` (+ `am`/`pm`) or `16:30`.
    fn clock(&mut self, t: Token) -> PResult<TimeOfDay> {
        let text = self.text(t);
        let (h, m) = text.split_once(':').unwrap_or((text, ""));
        let meridiem = match self.peek() {
            Some(p) if self.word_is(p, |w| w.eq_ignore_ascii_case("am")) => Some((false, p)),
            Some(p) if self.word_is(p, |w| w.eq_ignore_ascii_case("pm")) => Some((true, p)),
            _ => None,
        };
        if meridiem.is_some() {
            self.bump();
        }
        let span = meridiem.map_or(t.span, |(_, p)| t.span.to(p.span));
        let shown = self.src.get(span.range()).unwrap_or(text).to_string();
        if h.len() > 2 || m.len() != 2 {
            let d = Diagnostic::error(span, format!("`{shown}` is not a time"))
                .with_label("expected one or two digits, `:`, then two digits")
                .with_help("write e.g. `09:05`, `9:05 am` or `21:30`");
            return Err(self.push(d));
        }
        let hour: u8 = h.parse().unwrap_or(99);
        let minute: u8 = m.parse().unwrap_or(99);
        if minute > 59 {
            let d = Diagnostic::error(span, format!("`{shown}` is not a time"))
                .with_label("minutes go from 00 to 59");
            return Err(self.push(d));
        }
        match meridiem {
            Some((pm, _)) => {
                if hour == 0 || hour > 12 {
                    let word = if pm { "pm" } else { "am" };
                    let h12 = if hour == 0 { 12 } else { hour % 12 };
                    let alt_word = if hour >= 12 { "pm" } else { "am" };
                    let d = Diagnostic::error(
                        span,
                        format!("`{shown}` mixes a 24-hour time with `{word}`"),
                    )
                    .with_label("with am/pm, hours go from 1 to 12")
                    .with_help(format!(
                        "write `{hour:02}:{minute:02}` or `{h12}:{minute:02} {alt_word}`"
                    ));
                    return Err(self.push(d));
                }
                let hour = hour % 12 + if pm { 12 } else { 0 };
                Ok(TimeOfDay::Clock {
                    hour,
                    minute,
                    style: ClockStyle::H12,
                })
            }
            None => {
                if hour > 23 {
                    let mut d = Diagnostic::error(span, format!("`{shown}` is not a time"))
                        .with_label("hours go from 00 to 23");
                    if hour == 24 && minute == 0 {
                        d = d.with_help("write `midnight` or `00:00`");
                    }
                    return Err(self.push(d));
                }
                Ok(TimeOfDay::Clock {
                    hour,
                    minute,
                    style: ClockStyle::H24,
                })
            }
        }
    }

    /// After `ON`: days and dates, separated by commas (or just spaces).
    fn on_list(&mut self, spec: &mut AtSpec) -> PResult<()> {
        let want = Want {
            days: true,
            months: true,
            seasons: false,
        };
        let what = "a day (`Monday`, `Mondays`, `weekdays`, `weekends`) or a date (`December 31`)";
        loop {
            let Some(w) = self.peek_word() else {
                return Err(self.expected(what));
            };
            if let Some(day) = day_word(w) {
                self.bump();
                spec.days.push(day);
            } else if let Some(month) = month_word(w) {
                let m = self.bump();
                let day = self.day_of_month(month, m, None)?;
                spec.dates.push(MonthDay { month, day });
            } else {
                return Err(self.bad_date_word(want, what));
            }
            if self.eat(TokenKind::Comma).is_some() {
                continue;
            }
            match self.peek_word() {
                Some(w) if day_word(w).is_some() || month_word(w).is_some() => {}
                _ => return Ok(()),
            }
        }
    }

    /// After `IN`: months, seasons and years.
    fn in_list(&mut self, spec: &mut AtSpec) -> PResult<()> {
        let want = Want {
            days: false,
            months: true,
            seasons: true,
        };
        let what = "a month (`March`), a season (`winter`) or a year (`2024`)";
        loop {
            let Some(t) = self.peek() else {
                return Err(self.expected(what));
            };
            if t.kind == TokenKind::Number {
                self.bump();
                let y = self.whole(t, "a year", 9999)?;
                if y == 0 {
                    let d = Diagnostic::error(t.span, "`0` is not a year")
                        .with_label("years start at 1");
                    return Err(self.push(d));
                }
                spec.years.push(y as i16);
            } else if let Some(w) = self.peek_word() {
                if let Some(m) = month_word(w) {
                    self.bump();
                    spec.parts_of_year.push(YearPart::Month(m));
                } else if let Some(s) = season_word(w) {
                    self.bump();
                    spec.parts_of_year.push(YearPart::Season(s));
                } else {
                    return Err(self.bad_date_word(want, what));
                }
            } else {
                return Err(self.expected(what));
            }
            if self.eat(TokenKind::Comma).is_some() {
                continue;
            }
            match self.peek() {
                Some(t) if t.kind == TokenKind::Number => {}
                Some(_)
                    if self
                        .peek_word()
                        .is_some_and(|w| month_word(w).is_some() || season_word(w).is_some()) => {}
                _ => return Ok(()),
            }
        }
    }

    fn month(&mut self, what: &str) -> PResult<(u8, Token)> {
        let want = Want {
            days: false,
            months: true,
            seasons: false,
        };
        match self.peek_word().and_then(month_word) {
            Some(m) => Ok((m, self.bump())),
            None => Err(self.bad_date_word(want, what)),
        }
    }

    /// The day number after a month, checked against that month (and year, if known).
    fn day_of_month(&mut self, month: u8, month_tok: Token, year: Option<i32>) -> PResult<u8> {
        let name = MONTHS[usize::from(month - 1)];
        let Some(n) = self.eat(TokenKind::Number) else {
            return Err(self.expected_help(
                &format!("the day of the month after `{name}`"),
                format!("write e.g. `{name} 1`"),
            ));
        };
        let day = self.whole(n, "a day of the month", 99)?;
        self.check_day(month, day, year, month_tok.span.to(n.span))?;
        Ok(day as u8)
    }

    fn check_day(&mut self, month: u8, day: u64, year: Option<i32>, span: Span) -> PResult<()> {
        let max = days_in_month(month, year);
        if day == 0 || day > u64::from(max) {
            let name = MONTHS[usize::from(month - 1)];
            let shown = self.src.get(span.range()).unwrap_or("");
            let in_year = match year {
                Some(y) if month == 2 => format!(" in {y}"),
                _ => String::new(),
            };
            let d = Diagnostic::error(span, format!("`{shown}` is not a date"))
                .with_label(format!("{name} has {max} days{in_year}"))
                .with_help(format!("days of {name} go from 1 to {max}"));
            return Err(self.push(d));
        }
        Ok(())
    }

    /// `June 1` or `June` (the whole month).
    fn range_end(&mut self) -> PResult<RangeEnd> {
        let (month, m) = self.month("a month, optionally with a day (`June 1`, `June`)")?;
        if self.peek_kind() != Some(TokenKind::Number) {
            return Ok(RangeEnd { month, day: None });
        }
        let day = self.day_of_month(month, m, None)?;
        Ok(RangeEnd {
            month,
            day: Some(day),
        })
    }

    /// `May 1, 2024` (the comma is optional).
    fn civil_date(&mut self) -> PResult<CivilDate> {
        let (month, m) = self.month("a date such as `May 1, 2024`")?;
        let Some(dn) = self.eat(TokenKind::Number) else {
            return Err(self.expected_help(
                "the day of the month",
                "write a full date such as `May 1, 2024`",
            ));
        };
        let day = self.whole(dn, "a day of the month", 99)?;
        self.eat(TokenKind::Comma);
        let Some(yn) = self.eat(TokenKind::Number) else {
            return Err(self.expected_help("a year", "write a full date such as `May 1, 2024`"));
        };
        let year = self.whole(yn, "a year", 9999)?;
        if year == 0 {
            let d = Diagnostic::error(yn.span, "`0` is not a year").with_label("years start at 1");
            return Err(self.push(d));
        }
        self.check_day(month, day, Some(year as i32), m.span.to(yn.span))?;
        Ok(CivilDate {
            year: year as i16,
            month,
            day: day as u8,
        })
    }
}
