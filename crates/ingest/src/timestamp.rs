//! Timestamp forms of events.md §3.1 (RFC 3339 and its relatives, dates, epoch numbers) and the range checks of
//! §3.3.

use serde_json::Value;

use model::{Day, MICROS_PER_DAY, Timestamp};

use crate::decimal::Decimal;
use crate::validate::Reject;
use model::RejectReason;

/// 2000-01-01T00:00:00Z: anything earlier is `timestamp_too_old`.
pub(crate) const MIN_TS: Timestamp = Timestamp(946_684_800_000_000);

/// How far past the import start an event may lie.
pub(crate) const FUTURE_SLACK_MICROS: i64 = 23 * 3_600_000_000;

/// Reads a JSON timestamp value: a string in one of the §3.1 forms or an epoch number.
pub(crate) fn from_value(v: &Value, field: &str) -> Result<Timestamp, Reject> {
    let parsed = match v {
        Value::String(s) => parse_text(s),
        Value::Number(n) => parse_epoch(n.as_str()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        Reject::new(
            RejectReason::InvalidTimestamp,
            format!("`{field}` {} is not a timestamp", crate::validate::show(v)),
        )
    })
}

/// Checks §3.3 against the import start `now`.
pub(crate) fn check_range(ts: Timestamp, now: Timestamp, field: &str) -> Result<Timestamp, Reject> {
    if ts < MIN_TS {
        return Err(Reject::new(
            RejectReason::TimestampTooOld,
            format!("`{field}` {} is before 2000-01-01T00:00:00Z", format_ts(ts)),
        ));
    }
    if ts.0 > now.0.saturating_add(FUTURE_SLACK_MICROS) {
        return Err(Reject::new(
            RejectReason::TimestampInFuture,
            format!(
                "`{field}` {} is more than 23 h after the import start {}",
                format_ts(ts),
                format_ts(now)
            ),
        ));
    }
    Ok(ts)
}

/// Epoch time by magnitude: seconds below 10¹¹, milliseconds below 10¹⁴, else microseconds.
pub(crate) fn parse_epoch(text: &str) -> Option<Timestamp> {
    let d = Decimal::parse(text)?;
    let unit = if d.abs_below_pow10(11) {
        6
    } else if d.abs_below_pow10(14) {
        3
    } else {
        0
    };
    d.to_scaled_truncated(unit).ok().map(Timestamp)
}

/// Parses the text forms: `YYYY-MM-DD`, and `YYYY-MM-DD[T ]HH:MM:SS[.f]` with an optional `Z`, `±HH:MM`,
/// `±HHMM` or `±HH`. No offset means UTC. Digits below the microsecond are truncated.
pub(crate) fn parse_text(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = num(&b[0..4])? as i32;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > 31 {
        return None;
    }
    let d = Day::from_ymd(year, month, day);
    if d.ymd() != (year, month, day) {
        return None;
    }
    let mut micros = i64::from(d.0) * MICROS_PER_DAY;
    if b.len() == 10 {
        return Some(Timestamp(micros));
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    micros += (i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec)) * 1_000_000;
    let mut i = 19;
    if i < b.len() && (b[i] == b'.' || b[i] == b',') {
        i += 1;
        let start = i;
        let mut frac = 0i64;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                frac = frac * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            frac *= 10;
        }
        micros += frac;
    }
    let rest = &b[i..];
    let offset_s: i64 = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (oh, om) = match tail {
                [h1, h2] => (num(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (num(&[*h1, *h2])?, num(&[*m1, *m2])?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh) * 3600 + i64::from(om) * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    Some(Timestamp(micros - offset_s * 1_000_000))
}

/// RFC 3339 text in UTC with microseconds, for details and metadata.
///
/// Any `i64` is formatted: the time of day is taken modulo a day rather than from [`Day::start`], which overflows
/// on the first day of the range.
pub(crate) fn format_ts(ts: Timestamp) -> String {
    let (y, mo, d) = ts.day().ymd();
    let in_day = ts.0.rem_euclid(MICROS_PER_DAY);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}Z")
    }
}

fn num(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(s: &str) -> String {
        parse_text(s).map_or_else(|| "invalid".to_string(), format_ts)
    }

    #[test]
    fn accepted_text_forms() {
        let cases = [
            ("2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z"),
            ("2025-03-01T18:00:00+08:00", "2025-03-01T10:00:00Z"),
            ("2025-03-01T18:00:00+0800", "2025-03-01T10:00:00Z"),
            ("2025-03-01T18:00:00+08", "2025-03-01T10:00:00Z"),
            ("2025-03-01T05:30:00-04:30", "2025-03-01T10:00:00Z"),
            ("2025-03-01T10:00:00", "2025-03-01T10:00:00Z"),
            ("2025-03-01 10:00:00.25", "2025-03-01T10:00:00.250000Z"),
            (
                "2025-03-01T10:00:00.123456789Z",
                "2025-03-01T10:00:00.123456Z",
            ),
            ("2025-03-01", "2025-03-01T00:00:00Z"),
            ("2024-02-29", "2024-02-29T00:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(rfc(input), want, "{input}");
        }
        for bad in [
            "2023-02-29",
            "2025-13-01",
            "2025-03-01T25:00:00Z",
            "2025-03-01T10:00Z",
            "yesterday",
            "2025-03-01T10:00:00+8",
            "2025-03-01T10:00:00.Z",
        ] {
            assert_eq!(rfc(bad), "invalid", "{bad}");
        }
    }

    #[test]
    fn epoch_numbers_by_magnitude() {
        let want = "2023-11-14T22:13:20Z";
        assert_eq!(format_ts(parse_epoch("1700000000").unwrap()), want);
        assert_eq!(format_ts(parse_epoch("1700000000000").unwrap()), want);
        assert_eq!(format_ts(parse_epoch("1700000000000000").unwrap()), want);
        assert_eq!(
            format_ts(parse_epoch("1700000000.5").unwrap()),
            "2023-11-14T22:13:20.500000Z"
        );
        assert_eq!(format_ts(parse_epoch("1.7e9").unwrap()), want);
    }

    #[test]
    fn extreme_times_are_rejected_not_overflowed() {
        // An epoch number in microseconds close to i64::MIN once overflowed while its rejection was worded.
        let ts = parse_epoch("-9223372036854775404").unwrap();
        let now = Timestamp(1_750_000_000_000_000);
        let err = check_range(ts, now, "timestamp").unwrap_err();
        assert_eq!(err.reason, RejectReason::TimestampTooOld);
        for us in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            let text = format_ts(Timestamp(us));
            assert!(text.ends_with('Z'), "{us}: {text}");
        }
        assert_eq!(format_ts(Timestamp(-1)), "1969-12-31T23:59:59.999999Z");
    }
}
