//! Time as the log sees it: [`Timestamp`], UTC microseconds since the Unix epoch, and the
//! [`Clock`] trait through which every component asks for "now", so tests and replays can
//! drive time themselves ([`TestClock`]) instead of reading the wall clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: microseconds since 1970-01-01T00:00:00Z (negative before it).
///
/// Microseconds because that is what the log stores per record (DESIGN.md §2); an `i64` of
/// them spans ±292,000 years. `Display` prints RFC 3339 with microseconds, always in UTC
/// (`2026-11-25T13:27:39.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The smallest representable time.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The largest representable time.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The wall-clock time now. Components should prefer an injected [`Clock`].
    pub fn now() -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }

    /// A timestamp from microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    /// A timestamp from milliseconds since the epoch (saturating).
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis.saturating_mul(1000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch, rounded towards negative infinity.
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Converts a [`SystemTime`], saturating outside the representable range.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(
                i64::try_from(e.duration().as_micros())
                    .map(|m| -m)
                    .unwrap_or(i64::MIN),
            ),
        }
    }

    /// Converts to a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_micros(self.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_micros(self.0.unsigned_abs())
        }
    }

    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// `self - d`, saturating.
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(micros))
    }

    /// How long after `earlier` this is; zero if it is not after it.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with microseconds, e.g. `1970-01-01T00:00:00.000000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The source of "now". Injected everywhere time matters (timestamps of appended records,
/// retention by age, time triggers) so that tests and replays control it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock ([`SystemTime::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct TestClock {
    micros: Arc<AtomicI64>,
}

impl TestClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> TestClock {
        TestClock {
            micros: Arc::new(AtomicI64::new(start.as_micros())),
        }
    }

    /// Moves the clock to `t` (it may go backwards: tests decide).
    pub fn set(&self, t: Timestamp) {
        self.micros.store(t.as_micros(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_rfc3339_utc_with_micros() {
        assert_eq!(Timestamp::EPOCH.to_string(), "1970-01-01T00:00:00.000000Z");
        // 2026-11-25T13:27:39.123456Z, computed independently: 20782 days after the epoch (`date -u -d 2026-11-25 +%s` / 86400).
        let t = Timestamp::from_micros(
            (20_782 * 86_400 + 13 * 3600 + 27 * 60 + 39) * 1_000_000 + 123_456,
        );
        assert_eq!(t.to_string(), "2026-11-25T13:27:39.123456Z");
        assert_eq!(
            Timestamp::from_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        // A leap day.
        let t = Timestamp::from_micros(951_782_400 * 1_000_000);
        assert_eq!(t.to_string(), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn system_time_round_trips() {
        for micros in [0, 1, -1, 1_764_000_000_123_456, -86_400_000_001] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
        }
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(1)),
            Timestamp::MAX
        );
        assert_eq!(
            Timestamp::MIN.saturating_sub(Duration::from_secs(1)),
            Timestamp::MIN
        );
        let t = Timestamp::from_micros(5_000_000);
        assert_eq!(
            t.saturating_sub(Duration::from_secs(2)).as_micros(),
            3_000_000
        );
        assert_eq!(t.duration_since(Timestamp::EPOCH), Duration::from_secs(5));
        assert_eq!(Timestamp::EPOCH.duration_since(t), Duration::ZERO);
        assert_eq!(Timestamp::from_micros(-1).as_millis(), -1);
    }

    #[test]
    fn test_clock_moves_only_when_told_and_clones_share_time() {
        let clock = TestClock::new(Timestamp::from_micros(10));
        let other = clock.clone();
        assert_eq!(clock.now().as_micros(), 10);
        clock.advance(Duration::from_micros(5));
        assert_eq!(other.now().as_micros(), 15);
        other.set(Timestamp::from_micros(3));
        assert_eq!(clock.now().as_micros(), 3);
    }
}
