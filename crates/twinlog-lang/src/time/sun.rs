//! Sunrise and sunset from latitude and longitude: the NOAA solar calculator, in UTC.
//!
//! This is the algorithm of the NOAA Global Monitoring Laboratory's solar calculator (Jean
//! Meeus, *Astronomical Algorithms*, simplified): solar declination and the equation of time
//! for the Julian century, the hour angle at which the sun's centre is 0.833° below the
//! horizon (refraction plus the sun's radius), evaluated twice so that the declination is the
//! one at the event itself. It agrees with published tables to about a minute at latitudes
//! below ±65°. The `sunrise` crate was considered and not used: version 3 pulls in `chrono`
//! beside our `jiff`, and its "sunrise equation" is the coarser of the two approximations.
//!
//! The functions here know nothing of time zones: they return the event nearest the solar
//! noon of a UTC calendar day, as seconds since the Unix epoch. Picking the event of a *local*
//! date is [`crate::time::TimeContext`]'s job.

/// Sunrise or sunset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// The standard altitude of the sun's centre at sunrise and sunset, in degrees: 34′ of
/// atmospheric refraction plus the 16′ radius of the disc.
pub const STANDARD_ALTITUDE_DEG: f64 = -0.833;

/// Julian day number of the Unix epoch, 1970-01-01T00:00Z.
const JD_UNIX_EPOCH: f64 = 2_440_587.5;

/// The event on the UTC calendar day `utc_day` (days since 1970-01-01) at `latitude` (degrees,
/// north positive) and `longitude` (degrees, east positive), as seconds since the Unix epoch.
///
/// `None` when the sun does not cross the standard altitude that day (polar day or night).
/// The result may fall on the UTC day before or after `utc_day` for longitudes far from 0°.
pub fn event_utc(event: SunEvent, utc_day: i64, latitude: f64, longitude: f64) -> Option<i64> {
    let jd_midnight = JD_UNIX_EPOCH + utc_day as f64;
    // First pass at local solar noon, second at the first estimate of the event: the
    // declination moves up to 0.4° a day, worth a couple of minutes near the equinoxes.
    let noon_guess = 720.0 - 4.0 * longitude;
    let first = minutes_after_midnight(
        event,
        jd_midnight + noon_guess / 1440.0,
        latitude,
        longitude,
    )?;
    let second = minutes_after_midnight(event, jd_midnight + first / 1440.0, latitude, longitude)?;
    let seconds = (second * 60.0).round();
    if !seconds.is_finite() {
        return None;
    }
    Some(utc_day * 86_400 + seconds as i64)
}

/// Minutes after 00:00 UTC of the day of `jd_midnight` at which `event` happens, with the
/// sun's position taken at Julian day `jd`.
fn minutes_after_midnight(event: SunEvent, jd: f64, latitude: f64, longitude: f64) -> Option<f64> {
    let t = (jd - 2_451_545.0) / 36_525.0;
    let (declination, equation_of_time) = sun_position(t);
    let lat = latitude.to_radians();
    let cos_hour_angle = (STANDARD_ALTITUDE_DEG.to_radians().sin() - lat.sin() * declination.sin())
        / (lat.cos() * declination.cos());
    if !(-1.0..=1.0).contains(&cos_hour_angle) {
        return None;
    }
    let hour_angle = cos_hour_angle.acos().to_degrees();
    let hour_angle = match event {
        SunEvent::Sunrise => hour_angle,
        SunEvent::Sunset => -hour_angle,
    };
    Some(720.0 - 4.0 * (longitude + hour_angle) - equation_of_time)
}

/// The sun's declination (radians) and the equation of time (minutes) at `t` Julian
/// centuries after J2000.0.
fn sun_position(t: f64) -> (f64, f64) {
    let mean_longitude = (280.466_46 + t * (36_000.769_83 + t * 0.000_303_2)).rem_euclid(360.0);
    let mean_anomaly = 357.529_11 + t * (35_999.050_29 - 0.000_153_7 * t);
    let eccentricity = 0.016_708_634 - t * (0.000_042_037 + 0.000_000_126_7 * t);
    let m = mean_anomaly.to_radians();
    let centre = m.sin() * (1.914_602 - t * (0.004_817 + 0.000_014 * t))
        + (2.0 * m).sin() * (0.019_993 - 0.000_101 * t)
        + (3.0 * m).sin() * 0.000_289;
    let true_longitude = mean_longitude + centre;
    let omega = (125.04 - 1_934.136 * t).to_radians();
    let apparent_longitude = (true_longitude - 0.005_69 - 0.004_78 * omega.sin()).to_radians();
    let mean_obliquity_seconds = 21.448 - t * (46.815 + t * (0.000_59 - t * 0.001_813));
    let mean_obliquity = 23.0 + (26.0 + mean_obliquity_seconds / 60.0) / 60.0;
    let obliquity = (mean_obliquity + 0.002_56 * omega.cos()).to_radians();
    let declination = (obliquity.sin() * apparent_longitude.sin()).asin();

    let y = (obliquity / 2.0).tan().powi(2);
    let l0 = mean_longitude.to_radians();
    let equation_of_time = y * (2.0 * l0).sin() - 2.0 * eccentricity * m.sin()
        + 4.0 * eccentricity * y * m.sin() * (2.0 * l0).cos()
        - 0.5 * y * y * (4.0 * l0).sin()
        - 1.25 * eccentricity * eccentricity * (2.0 * m).sin();
    (declination, equation_of_time.to_degrees() * 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_day(y: i16, m: i8, d: i8) -> i64 {
        crate::time::civil::days_from_civil(i32::from(y), m as u8, d as u8)
    }

    /// Minutes after 00:00 UTC of `day` (may be negative or past 1440).
    fn minutes(day: i64, seconds: i64) -> f64 {
        (seconds - day * 86_400) as f64 / 60.0
    }

    #[test]
    fn greenwich_equinox_is_near_six_and_eighteen_utc() {
        // At 0° longitude around the March equinox the day is ~12h10m long (refraction and
        // the disc) and the equation of time is about −7.5 minutes: published tables give
        // rise 06:03 and set 18:13 UTC at the Royal Observatory on 2024-03-20.
        let day = utc_day(2024, 3, 20);
        let rise = event_utc(SunEvent::Sunrise, day, 51.4769, 0.0).unwrap();
        let set = event_utc(SunEvent::Sunset, day, 51.4769, 0.0).unwrap();
        assert!(
            (minutes(day, rise) - (6.0 * 60.0 + 3.0)).abs() <= 2.0,
            "{rise}"
        );
        assert!(
            (minutes(day, set) - (18.0 * 60.0 + 13.0)).abs() <= 2.0,
            "{set}"
        );
    }

    #[test]
    fn polar_night_and_midnight_sun_have_no_events() {
        let tromso = (69.6496, 18.9560);
        for event in [SunEvent::Sunrise, SunEvent::Sunset] {
            assert_eq!(
                event_utc(event, utc_day(2024, 12, 21), tromso.0, tromso.1),
                None
            );
            assert_eq!(
                event_utc(event, utc_day(2024, 6, 21), tromso.0, tromso.1),
                None
            );
            assert!(event_utc(event, utc_day(2024, 3, 20), tromso.0, tromso.1).is_some());
        }
    }

    #[test]
    fn western_longitudes_give_events_late_in_the_utc_day() {
        // Honolulu: sunset around 19:00 HST is after 05:00 UTC of the next day.
        let day = utc_day(2024, 6, 21);
        let set = event_utc(SunEvent::Sunset, day, 21.3069, -157.8583).unwrap();
        assert!(minutes(day, set) > 24.0 * 60.0, "{set}");
    }
}
