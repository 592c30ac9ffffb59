//! Event time: microseconds since the Unix epoch, written the way the original platform's Python
//! generator wrote it (`datetime.isoformat()` of an aware UTC time:
//! `2026-11-24T08:16:52.695802+00:00`), so that both can feed the same tables.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

pub fn now_micros() -> Micros {
    // A clock before 1970 is a broken machine; treat it as the epoch rather than failing.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Length of a formatted timestamp: `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
pub const TIMESTAMP_LEN: usize = 32;

/// Formats `micros` as `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (years 0000-9999).
/// Hand-written because it runs twice per event on the hot path.
pub fn format_timestamp(micros: Micros) -> [u8; TIMESTAMP_LEN] {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);

    let mut out = *b"0000-00-00T00:00:00.000000+00:00";
    put_digits(&mut out[0..4], year.clamp(0, 9999));
    put_digits(&mut out[5..7], month);
    put_digits(&mut out[8..10], day);
    put_digits(&mut out[11..13], sod / 3600);
    put_digits(&mut out[14..16], sod % 3600 / 60);
    put_digits(&mut out[17..19], sod % 60);
    put_digits(&mut out[20..26], frac);
    out
}

/// Formats timestamps that mostly fall in the same second as the one before, as a generator's
/// do at any real rate: date and time of day are formatted once a second, then only microseconds.
#[derive(Debug, Clone)]
pub struct TimestampFormatter {
    second: i64,
    text: [u8; TIMESTAMP_LEN],
}

impl Default for TimestampFormatter {
    fn default() -> Self {
        Self { second: 0, text: format_timestamp(0) }
    }
}

impl TimestampFormatter {
    pub fn format(&mut self, micros: Micros) -> &[u8; TIMESTAMP_LEN] {
        let second = micros.div_euclid(1_000_000);
        if second == self.second {
            put_digits(&mut self.text[20..26], micros.rem_euclid(1_000_000));
        } else {
            self.second = second;
            self.text = format_timestamp(micros);
        }
        &self.text
    }
}

fn put_digits(out: &mut [u8], mut value: i64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(micros: Micros) -> String {
        String::from_utf8(format_timestamp(micros).to_vec()).unwrap()
    }

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(fmt(0), "1970-01-01T00:00:00.000000+00:00");
        // datetime(2026, 11, 24, 8, 16, 52, 695802, tzinfo=timezone.utc).timestamp()
        assert_eq!(fmt(1_795_508_212_695_802), "2026-11-24T08:16:52.695802+00:00");
        // Leap day and the last microsecond of a year.
        assert_eq!(fmt(951_782_400_000_001), "2000-02-29T00:00:00.000001+00:00");
        assert_eq!(fmt(1_798_761_599_999_999), "2026-12-31T23:59:59.999999+00:00");
    }

    #[test]
    fn the_formatter_agrees_with_format_timestamp() {
        let mut formatter = TimestampFormatter::default();
        let start = 1_795_508_212_695_802;
        for micros in (0..3_000_000).step_by(7_919).map(|d| start + d).chain([0, -1, start, 5]) {
            assert_eq!(formatter.format(micros), &format_timestamp(micros), "{micros}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_is_consecutive() {
        // Walk day by day and check the calendar never skips or repeats a date.
        let mut prev = civil_from_days(-146_097 * 2);
        for days in (-146_097 * 2 + 1)..(146_097 * 2) {
            let (y, m, d) = civil_from_days(days);
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month =
                d == 1 && ((y, m) == (prev.0, prev.1 + 1) || (m == 1 && y == prev.0 + 1));
            assert!(next_day || next_month, "{prev:?} -> {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }
}
