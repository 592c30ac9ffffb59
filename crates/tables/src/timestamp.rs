//! Event timestamps as the seed wrote them (`2026-11-24T08:16:52.695802+00:00`) and the other
//! RFC 3339 forms producers use, to microseconds since the epoch (UTC).

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no offset means UTC.
/// Digits beyond microseconds are truncated.
pub fn parse_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0i64;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, c) in tail[..n].iter().enumerate() {
            if i < 6 {
                micros = micros * 10 + i64::from(c - b'0');
            }
        }
        for _ in n..6 {
            micros *= 10;
        }
        rest = &tail[n..];
    }
    let offset_seconds = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a timestamp in microseconds (the `day` partition transform).
pub fn day_of(micros: i64) -> i32 {
    micros.div_euclid(86_400_000_000) as i32
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a timestamp in microseconds, for messages; `None` outside years
/// 0 to 9999.
pub fn format_micros(micros: i64) -> Option<String> {
    let seconds = micros.div_euclid(1_000_000);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    Some(format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"))
}

/// Howard Hinnant's civil_from_days, the inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days_from_civil.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_format() {
        // date -u -d '2026-11-24T08:16:52Z' +%s = 1795508212
        assert_eq!(parse_micros("2026-11-24T08:16:52.695802+00:00"), Some(1_795_508_212_695_802));
    }

    #[test]
    fn other_rfc3339_forms() {
        let base = 1_795_508_212_000_000;
        assert_eq!(parse_micros("2026-11-24T08:16:52Z"), Some(base));
        assert_eq!(parse_micros("2026-11-24 08:16:52"), Some(base));
        assert_eq!(parse_micros("2026-11-24T08:16:52.5Z"), Some(base + 500_000));
        assert_eq!(parse_micros("2026-11-24T08:16:52.123456789Z"), Some(base + 123_456));
        assert_eq!(parse_micros("2026-11-24T09:16:52+01:00"), Some(base));
        assert_eq!(parse_micros("2026-11-24T03:16:52-0500"), Some(base));
        assert_eq!(parse_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_micros("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(parse_micros("2024-02-29T00:00:00Z").map(day_of), Some(19_782));
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "yesterday",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T08:16:52.Z",
            "2026-11-24T08:16:52+25:00",
            "2026-11-24T08:16:52 UTC",
            "2026-11-24T08:16:52.695802+00:00x",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatting_is_the_inverse_of_parsing() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T23:59:59Z",
            "2026-11-24T08:16:52Z",
            "1969-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_micros(text).and_then(format_micros).as_deref(), Some(text));
        }
        assert_eq!(format_micros(i64::MAX), None);
        assert_eq!(format_micros(i64::MIN), None);
    }

    #[test]
    fn days_before_the_epoch_round_down() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_400_000_000), 1);
    }
}
