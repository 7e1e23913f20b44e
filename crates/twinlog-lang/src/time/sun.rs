//! Sunrise and sunset from latitude and longitude: the NOAA solar calculator, in UTC.
//!
//! The sun's position is the NOAA Global Monitoring Laboratory's solar calculator (Jean
//! Meeus, *Astronomical Algorithms*, simplified): solar declination and the equation of time
//! for the Julian century. Sunrise and sunset are the instants at which the sun's centre
//! crosses 0.833° below the horizon (refraction plus the sun's radius), rising or setting.
//! It agrees with published tables to about a minute; where the sun only grazes the
//! horizon, at the edge of polar day or night, any model's small error in altitude moves
//! the event by minutes (at Tromsø the last sunset before the midnight sun is 0.03° deep).
//! The `sunrise` crate was considered and not used: version 3 pulls in `chrono` beside our
//! `jiff`, and it gives one sunrise per day from the hour-angle formula.
//!
//! Why crossings of the altitude and not the hour-angle formula: that formula gives the one
//! event nearest a day's solar noon with the declination of that noon. Near polar day and
//! night a real event half a day from noon is missed (Tromsø, 2026-05-18 00:51 local: by
//! that noon the sun no longer sets), a day can have two sunsets, and at ±90° the formula
//! divides by zero. [`crossings`] finds every crossing of the altitude function instead, so
//! it works the same at the equator, at the edge of the midnight sun and at the poles.
//!
//! How, and why it misses nothing: time is cut into cells of [`CELL_SECONDS`] on a grid
//! fixed in Unix time. The altitude's sine cannot change faster than a bound computed from
//! the latitude (`Site::max_rate`), so a point where it is far from the horizon's value
//! proves the next cells free of crossings (they are skipped); a sign change between the
//! ends of a cell brackets one crossing (the altitude has two extrema a day, half a day
//! apart, so at most one in a cell); and a cell without a sign change is halved while the
//! bound allows a dip below the horizon and back inside it, down to a second. A bracket is
//! refined by bisection to a second, then by linear interpolation, and rounded to the
//! second. Inside a cell the sun's position is interpolated between the cell's ends (see
//! `Cell`). Every step depends only on the cell, so any window gives the same instant for
//! the same crossing: a local date's events never differ with the window asked.
//!
//! Limits: a dip below the horizon shorter than a second is not reported. Within about
//! 0.1° of a pole the two daily extrema can come close together (the declination's drift
//! nearly cancels the daily circle); a wiggle across the horizon inside one cell there
//! would be reported as one crossing, not three.
//!
//! The functions here know nothing of time zones; picking the events of a *local* date is
//! [`crate::time::TimeContext`]'s job.

/// Sunrise or sunset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// The standard altitude of the sun's centre at sunrise and sunset, in degrees: 34′ of
/// atmospheric refraction plus the 16′ radius of the disc.
pub const STANDARD_ALTITUDE_DEG: f64 = -0.833;

/// The width of a search cell, in seconds. Any width well under half a day is correct (at
/// most one extremum per cell); 20 minutes keeps the cells near the horizon few.
pub const CELL_SECONDS: i64 = 20 * 60;

/// Cells are halved down to this width when looking for a dip that starts and ends inside
/// one: a dip below the horizon shorter than this is not reported.
const MIN_SPLIT_SECONDS: f64 = 1.0;

/// Julian day number of the Unix epoch, 1970-01-01T00:00Z.
const JD_UNIX_EPOCH: f64 = 2_440_587.5;

/// A sunrise or sunset at a Unix second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossing {
    pub event: SunEvent,
    pub second: i64,
}

/// The altitude of the sun's centre in degrees (no refraction) at Unix second `second`, at
/// `latitude` (degrees, north positive) and `longitude` (degrees, east positive). Sunrise
/// and sunset are where it crosses [`STANDARD_ALTITUDE_DEG`].
pub fn altitude_deg(second: f64, latitude: f64, longitude: f64) -> f64 {
    let site = Site::new(latitude, longitude);
    (site.height(second, Position::at(second)) + site.sin_standard)
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees()
}

/// Every sunrise and sunset in the cells that start in `[start, end)` (Unix seconds; the
/// cells are [`CELL_SECONDS`] wide on a grid from the epoch, so a crossing up to one cell
/// past `end` may be reported), in time order, passed to `found`.
///
/// The same crossing always gets the same second, whatever the window; a dip below the
/// horizon shorter than a second may be missed.
pub fn crossings(
    start: i64,
    end: i64,
    latitude: f64,
    longitude: f64,
    mut found: impl FnMut(Crossing),
) {
    let site = Site::new(latitude, longitude);
    let mut a = start.div_euclid(CELL_SECONDS) * CELL_SECONDS;
    let mut position_a = Position::at(a as f64);
    let mut height_a = site.height(a as f64, position_a);
    while a < end {
        // Far from the horizon, the next cells cannot hold a crossing: skip them whole, so
        // the grid stays the same whatever the window.
        let free = height_a.abs() / site.max_rate / CELL_SECONDS as f64;
        if free >= 1.0 {
            let cells = free.min(1e6).floor() as i64;
            a += cells * CELL_SECONDS;
            position_a = Position::at(a as f64);
            height_a = site.height(a as f64, position_a);
            continue;
        }
        let b = a + CELL_SECONDS;
        let position_b = Position::at(b as f64);
        let height_b = site.height(b as f64, position_b);
        let cell = Cell {
            site: &site,
            start: a as f64,
            position_start: position_a,
            position_end: position_b,
        };
        cell.search(a as f64, height_a, b as f64, height_b, &mut found);
        a = b;
        position_a = position_b;
        height_a = height_b;
    }
}

/// A place, with what the search needs precomputed.
struct Site {
    sin_lat: f64,
    cos_lat: f64,
    longitude: f64,
    sin_standard: f64,
    /// A bound on |d/dt sin(altitude)| per second: the hour angle turns once a day (its
    /// rate varies by under 0.1 % with the equation of time), weighted by cos(latitude), and
    /// the declination moves at most 0.41° a day. With a 5 % margin.
    max_rate: f64,
}

impl Site {
    fn new(latitude: f64, longitude: f64) -> Site {
        let lat = latitude.to_radians();
        let hour_angle_rate = std::f64::consts::TAU / 86_400.0 * 1.001;
        let declination_rate = 0.41_f64.to_radians() / 86_400.0;
        Site {
            sin_lat: lat.sin(),
            cos_lat: lat.cos(),
            longitude,
            sin_standard: STANDARD_ALTITUDE_DEG.to_radians().sin(),
            max_rate: 1.05 * (lat.cos().abs() * hour_angle_rate + declination_rate),
        }
    }

    /// sin(altitude) − sin(standard altitude) at Unix second `second`, the sun being at
    /// `position`: positive while the sun is up.
    fn height(&self, second: f64, position: Position) -> f64 {
        // True solar time in minutes, then the hour angle (0 at solar noon).
        let minutes =
            second.rem_euclid(86_400.0) / 60.0 + position.equation_of_time + 4.0 * self.longitude;
        let hour_angle = (minutes / 4.0 - 180.0).to_radians();
        self.sin_lat * position.sin_declination
            + self.cos_lat * position.cos_declination * hour_angle.cos()
            - self.sin_standard
    }
}

/// What the sun's position contributes to the altitude at an instant.
#[derive(Debug, Clone, Copy)]
struct Position {
    sin_declination: f64,
    cos_declination: f64,
    /// Minutes.
    equation_of_time: f64,
}

impl Position {
    /// The NOAA position at Unix second `second`.
    fn at(second: f64) -> Position {
        let jd = JD_UNIX_EPOCH + second / 86_400.0;
        let (sin_declination, equation_of_time) = sun_position((jd - 2_451_545.0) / 36_525.0);
        Position {
            sin_declination,
            cos_declination: (1.0 - sin_declination * sin_declination).sqrt(),
            equation_of_time,
        }
    }
}

/// One search cell. Inside it the sun's position is interpolated linearly between the
/// cell's ends, where it is computed exactly: over 20 minutes that is off by 10⁻⁷° in
/// declination and 10⁻⁴ s in the equation of time, and it makes a step of the search one
/// cosine instead of a dozen transcendental functions. The interpolation nodes are on the
/// grid, so a cell's crossings do not depend on the window either.
struct Cell<'a> {
    site: &'a Site,
    start: f64,
    position_start: Position,
    position_end: Position,
}

impl Cell<'_> {
    fn height(&self, second: f64) -> f64 {
        let f = (second - self.start) / CELL_SECONDS as f64;
        let lerp = |a: f64, b: f64| a + (b - a) * f;
        let (p, q) = (self.position_start, self.position_end);
        let position = Position {
            sin_declination: lerp(p.sin_declination, q.sin_declination),
            cos_declination: lerp(p.cos_declination, q.cos_declination),
            equation_of_time: lerp(p.equation_of_time, q.equation_of_time),
        };
        self.site.height(second, position)
    }

    /// The crossings in `[a, b]` (part of the cell), given the heights at its ends.
    fn search(
        &self,
        a: f64,
        height_a: f64,
        b: f64,
        height_b: f64,
        found: &mut impl FnMut(Crossing),
    ) {
        if (height_a >= 0.0) != (height_b >= 0.0) {
            found(self.refine(a, height_a, b, height_b));
        } else if height_a.abs() + height_b.abs() <= self.site.max_rate * (b - a)
            && b - a > MIN_SPLIT_SECONDS
        {
            // The height could reach zero and come back in between: look closer.
            let m = 0.5 * (a + b);
            let height_m = self.height(m);
            self.search(a, height_a, m, height_m, found);
            self.search(m, height_m, b, height_b, found);
        }
    }

    /// The one crossing between `a` and `b`, whose heights have opposite signs.
    fn refine(&self, mut a: f64, mut height_a: f64, mut b: f64, mut height_b: f64) -> Crossing {
        let event = if height_b >= 0.0 {
            SunEvent::Sunrise
        } else {
            SunEvent::Sunset
        };
        while b - a > 1.0 {
            let m = 0.5 * (a + b);
            let height_m = self.height(m);
            if (height_m >= 0.0) == (height_a >= 0.0) {
                (a, height_a) = (m, height_m);
            } else {
                (b, height_b) = (m, height_m);
            }
        }
        // Over a second the height is a straight line to far better than a millisecond.
        let root = a + (b - a) * height_a / (height_a - height_b);
        Crossing {
            event,
            second: root.round() as i64,
        }
    }
}

/// The sine of the sun's declination and the equation of time (minutes) at `t` Julian
/// centuries after J2000.0.
///
/// The NOAA formulas, with multiple angles from one `sin_cos` each (sin 2m = 2 sin m cos m,
/// sin 3m = sin m (3 − 4 sin² m), tan(ε/2) = sin ε / (1 + cos ε)): this runs once per
/// search step far from the horizon, so five calls instead of twelve matter.
fn sun_position(t: f64) -> (f64, f64) {
    let mean_longitude = (280.466_46 + t * (36_000.769_83 + t * 0.000_303_2)).rem_euclid(360.0);
    let mean_anomaly = 357.529_11 + t * (35_999.050_29 - 0.000_153_7 * t);
    let eccentricity = 0.016_708_634 - t * (0.000_042_037 + 0.000_000_126_7 * t);
    let (sin_m, cos_m) = mean_anomaly.to_radians().sin_cos();
    let sin_2m = 2.0 * sin_m * cos_m;
    let sin_3m = sin_m * (3.0 - 4.0 * sin_m * sin_m);
    let centre = sin_m * (1.914_602 - t * (0.004_817 + 0.000_014 * t))
        + sin_2m * (0.019_993 - 0.000_101 * t)
        + sin_3m * 0.000_289;
    let true_longitude = mean_longitude + centre;
    let (sin_omega, cos_omega) = (125.04 - 1_934.136 * t).to_radians().sin_cos();
    let apparent_longitude = (true_longitude - 0.005_69 - 0.004_78 * sin_omega).to_radians();
    let mean_obliquity_seconds = 21.448 - t * (46.815 + t * (0.000_59 - t * 0.001_813));
    let mean_obliquity = 23.0 + (26.0 + mean_obliquity_seconds / 60.0) / 60.0;
    let (sin_obliquity, cos_obliquity) = (mean_obliquity + 0.002_56 * cos_omega)
        .to_radians()
        .sin_cos();
    let sin_declination = sin_obliquity * apparent_longitude.sin();

    let y = (sin_obliquity / (1.0 + cos_obliquity)).powi(2);
    let (sin_2l0, cos_2l0) = (2.0 * mean_longitude.to_radians()).sin_cos();
    let sin_4l0 = 2.0 * sin_2l0 * cos_2l0;
    let equation_of_time = y * sin_2l0 - 2.0 * eccentricity * sin_m
        + 4.0 * eccentricity * y * sin_m * cos_2l0
        - 0.5 * y * y * sin_4l0
        - 1.25 * eccentricity * eccentricity * sin_2m;
    (sin_declination, equation_of_time.to_degrees() * 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_day(y: i16, m: i8, d: i8) -> i64 {
        crate::time::civil::days_from_civil(i32::from(y), m as u8, d as u8)
    }

    fn all(start: i64, end: i64, latitude: f64, longitude: f64) -> Vec<Crossing> {
        let mut out = vec![];
        crossings(start, end, latitude, longitude, |c| out.push(c));
        out.retain(|c| (start..end).contains(&c.second));
        out
    }

    /// The event on a UTC day by the hour-angle formula this module used before, evaluated
    /// twice (at solar noon, then at the first estimate): the reference for mid-latitudes.
    fn hour_angle_event(event: SunEvent, utc_day: i64, latitude: f64, longitude: f64) -> i64 {
        let jd_midnight = JD_UNIX_EPOCH + utc_day as f64;
        let minutes = |jd: f64| {
            let (sin_declination, equation_of_time) = sun_position((jd - 2_451_545.0) / 36_525.0);
            let declination = sin_declination.asin();
            let lat = latitude.to_radians();
            let cos_hour_angle = (STANDARD_ALTITUDE_DEG.to_radians().sin()
                - lat.sin() * declination.sin())
                / (lat.cos() * declination.cos());
            let hour_angle = cos_hour_angle.acos().to_degrees();
            let hour_angle = match event {
                SunEvent::Sunrise => hour_angle,
                SunEvent::Sunset => -hour_angle,
            };
            720.0 - 4.0 * (longitude + hour_angle) - equation_of_time
        };
        let first = minutes(jd_midnight + (720.0 - 4.0 * longitude) / 1440.0);
        let second = minutes(jd_midnight + first / 1440.0);
        utc_day * 86_400 + (second * 60.0).round() as i64
    }

    /// Crossings by brute force: the height every 10 seconds, a sign change bisected.
    fn scanned(start: i64, end: i64, latitude: f64, longitude: f64) -> Vec<Crossing> {
        let site = Site::new(latitude, longitude);
        let height = |t: f64| site.height(t, Position::at(t));
        let mut out = vec![];
        let mut t = start as f64;
        while t < end as f64 {
            let (mut a, mut b) = (t, t + 10.0);
            let (height_a, height_b) = (height(a), height(b));
            if (height_a >= 0.0) != (height_b >= 0.0) {
                for _ in 0..30 {
                    let m = 0.5 * (a + b);
                    if (height(m) >= 0.0) == (height_a >= 0.0) {
                        a = m;
                    } else {
                        b = m;
                    }
                }
                let event = if height_b >= 0.0 {
                    SunEvent::Sunrise
                } else {
                    SunEvent::Sunset
                };
                let second = a.round() as i64;
                out.push(Crossing { event, second });
            }
            t += 10.0;
        }
        out
    }

    #[test]
    fn greenwich_equinox_is_near_six_and_eighteen_utc() {
        // At 0° longitude around the March equinox the day is ~12h10m long (refraction and
        // the disc) and the equation of time is about −7.5 minutes: published tables give
        // rise 06:03 and set 18:13 UTC at the Royal Observatory on 2024-03-20.
        let day = utc_day(2024, 3, 20) * 86_400;
        let found = all(day, day + 86_400, 51.4769, 0.0);
        let minutes = |c: &Crossing| (c.second - day) as f64 / 60.0;
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].event, SunEvent::Sunrise);
        assert_eq!(found[1].event, SunEvent::Sunset);
        assert!((minutes(&found[0]) - (6.0 * 60.0 + 3.0)).abs() <= 2.0);
        assert!((minutes(&found[1]) - (18.0 * 60.0 + 13.0)).abs() <= 2.0);
    }

    #[test]
    fn polar_night_and_midnight_sun_have_no_events() {
        let tromso = (69.6496, 18.9560);
        for (y, m, d, events) in [(2024, 12, 21, 0), (2024, 6, 21, 0), (2024, 3, 20, 2)] {
            let day = utc_day(y, m, d) * 86_400;
            let found = all(day, day + 86_400, tromso.0, tromso.1);
            assert_eq!(found.len(), events, "{y}-{m}-{d}: {found:?}");
        }
    }

    #[test]
    fn mid_latitudes_agree_with_the_hour_angle_formula() {
        // Every day of 2024–2026, where the hour-angle formula is good: the crossing is its
        // fixed point, which two evaluations reach to within a second (the two differ by
        // rounding only, so a fired minute changes only for an event within a second of a
        // whole minute).
        for (latitude, longitude) in [
            (48.137, 11.575),
            (34.0522, -118.2437),
            (-33.8688, 151.2093),
            (0.0, -78.5),
            (60.17, 24.94),
        ] {
            for day in utc_day(2024, 1, 1)..utc_day(2027, 1, 1) {
                let noon = day * 86_400 + 43_200 - (longitude * 240.0) as i64;
                let found = all(noon - 43_200, noon + 43_200, latitude, longitude);
                assert_eq!(found.len(), 2, "{latitude}° day {day}: {found:?}");
                for c in found {
                    let reference = hour_angle_event(c.event, day, latitude, longitude);
                    assert!(
                        (c.second - reference).abs() <= 1,
                        "{latitude}° day {day} {:?}: {} vs {reference}",
                        c.event,
                        c.second
                    );
                }
            }
        }
    }

    #[test]
    fn every_crossing_a_fine_scan_finds_is_found_and_no_other() {
        // The spring and summer edges of the midnight sun at Tromsø and Longyearbyen, and at
        // 69.68°N, where on 2026-07-26 the sun dips for 7½ minutes, inside one cell.
        for (latitude, longitude, from, to) in [
            (69.65, 18.96, (2026, 5, 10), (2026, 5, 25)),
            (69.65, 18.96, (2026, 7, 18), (2026, 8, 2)),
            (69.68, 18.94, (2026, 7, 24), (2026, 7, 28)),
            (78.22, 15.65, (2026, 4, 12), (2026, 4, 24)),
            (-77.85, 166.67, (2026, 2, 15), (2026, 2, 25)),
        ] {
            let start = utc_day(from.0, from.1, from.2) * 86_400;
            let end = utc_day(to.0, to.1, to.2) * 86_400;
            let found = all(start, end, latitude, longitude);
            let reference = scanned(start, end, latitude, longitude);
            assert!(!reference.is_empty());
            assert_eq!(found.len(), reference.len(), "{latitude}°: {found:?}");
            for (f, r) in found.iter().zip(&reference) {
                assert_eq!(f.event, r.event);
                assert!((f.second - r.second).abs() <= 1, "{f:?} vs {r:?}");
            }
        }
        let day = utc_day(2026, 7, 25) * 86_400;
        let short = all(day + 43_200, day + 3 * 43_200, 69.68, 18.94);
        assert_eq!(short.len(), 2, "{short:?}");
        assert!(short[1].second - short[0].second < 10 * 60, "{short:?}");
    }

    #[test]
    fn a_crossing_gets_the_same_second_from_any_window() {
        let (latitude, longitude) = (69.65, 18.96);
        let start = utc_day(2026, 5, 1) * 86_400;
        let end = utc_day(2026, 6, 1) * 86_400;
        let whole = all(start, end, latitude, longitude);
        // Windows of 30 hours at odd starts, overlapping.
        let mut pieces = vec![];
        let mut from = start;
        while from < end {
            let to = (from + 30 * 3600).min(end);
            pieces.extend(all(from, to, latitude, longitude));
            from += 23 * 3600 + 17 * 60 + 13;
        }
        pieces.sort_by_key(|c| c.second);
        pieces.dedup();
        assert_eq!(pieces, whole);
    }

    #[test]
    fn the_poles_see_the_sun_rise_and_set_once_a_year() {
        let year = (utc_day(2026, 1, 1) * 86_400, utc_day(2027, 1, 1) * 86_400);
        for (latitude, first) in [(90.0, SunEvent::Sunrise), (-90.0, SunEvent::Sunset)] {
            let found = all(year.0, year.1, latitude, 0.0);
            assert_eq!(found.len(), 2, "{latitude}°: {found:?}");
            assert_eq!(found[0].event, first);
            // At a pole the altitude is the declination: the longitude does not matter.
            assert_eq!(all(year.0, year.1, latitude, 120.0), found);
            assert!((altitude_deg(found[0].second as f64, latitude, 0.0) - -0.833).abs() < 1e-3);
        }
    }
}
