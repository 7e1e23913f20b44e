//! Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01).
//!
//! The schedule is asked about every minute of every `AT`; going through `jiff`'s civil types
//! for each would dominate the cost of a tick. These are Howard Hinnant's branch-free
//! `days_from_civil` / `civil_from_days`, exact over the whole `i16` year range.

use super::spec::Weekday;

/// Seconds in a civil day (no leap seconds: Unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a (year, month 1–12, day 1–31). No validation: a day past the
/// end of its month counts on into the next month, which callers rely on never happening.
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1–12, day 1–31) of a day number.
pub fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}

/// The weekday of a day number (1970-01-01 was a Thursday).
pub fn weekday_from_days(days: i64) -> Weekday {
    match days.rem_euclid(7) {
        0 => Weekday::Thursday,
        1 => Weekday::Friday,
        2 => Weekday::Saturday,
        3 => Weekday::Sunday,
        4 => Weekday::Monday,
        5 => Weekday::Tuesday,
        _ => Weekday::Wednesday,
    }
}

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The English month names, January first: what the parser accepts, the formatter writes
/// and messages say.
pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `English name` of a month 1–12, for messages.
pub fn month_name(month: u8) -> &'static str {
    MONTH_NAMES
        .get(usize::from(month).wrapping_sub(1))
        .copied()
        .unwrap_or("(no such month)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip_and_agree_with_jiff() {
        let epoch = jiff::civil::date(1970, 1, 1);
        let mut date = jiff::civil::date(1895, 12, 25);
        let end = jiff::civil::date(2105, 3, 1);
        while date < end {
            let days =
                days_from_civil(i32::from(date.year()), date.month() as u8, date.day() as u8);
            assert_eq!(i64::from((date - epoch).get_days()), days, "{date}");
            assert_eq!(
                civil_from_days(days),
                (i32::from(date.year()), date.month() as u8, date.day() as u8)
            );
            let expected = match date.weekday() {
                jiff::civil::Weekday::Monday => Weekday::Monday,
                jiff::civil::Weekday::Tuesday => Weekday::Tuesday,
                jiff::civil::Weekday::Wednesday => Weekday::Wednesday,
                jiff::civil::Weekday::Thursday => Weekday::Thursday,
                jiff::civil::Weekday::Friday => Weekday::Friday,
                jiff::civil::Weekday::Saturday => Weekday::Saturday,
                jiff::civil::Weekday::Sunday => Weekday::Sunday,
            };
            assert_eq!(weekday_from_days(days), expected, "{date}");
            assert_eq!(
                days_in_month(i32::from(date.year()), date.month() as u8),
                date.days_in_month() as u8
            );
            date = date.tomorrow().unwrap();
        }
    }
}
