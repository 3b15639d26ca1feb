//! Time: time zones, the date strings of retention.md §3.2, calendar periods and window resolution (§3–§4).
//!
//! Time zone rules come from the IANA database bundled into the binary, so a report reads the same on every
//! machine whatever its system tzdata.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ZonedDateTime};
use kernels::PeriodGrid;

use crate::error::{Error, Result};
use crate::params::{Period, WeekStart};

/// Looks up an IANA time zone.
///
/// # Errors
/// [`Error::Invalid`] for an unknown name.
pub fn time_zone(name: &str) -> Result<TimeZone> {
    TimeZone::get(name).map_err(|_| {
        // A name can be as long as a request allows; the message quotes a bounded prefix.
        let shown: String = name.chars().take(64).collect();
        let more = if shown.len() < name.len() { "…" } else { "" };
        Error::invalid("timezone", format!("unknown time zone {shown:?}{more}"))
    })
}

/// Checks that an instant (UTC µs) lies in the range every date computation can represent.
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn check_instant(field: &str, us: i64) -> Result<()> {
    Timestamp::from_microsecond(us)
        .map(|_| ())
        .map_err(|e| Error::invalid(field, format!("the instant is out of range: {e}")))
}

/// Parses an RFC 3339 instant to UTC µs.
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn parse_instant(field: &str, text: &str) -> Result<i64> {
    text.parse::<Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|e| Error::invalid(field, format!("{text:?} is not an RFC 3339 instant: {e}")))
}

/// The most periods a window may hold: a longer window is refused before any table is sized by it.
pub const MAX_PERIODS: usize = 100_000;

/// Resolves a date string (§3.2, §15.3) to an instant, given the query time zone and `as_of`.
///
/// # Errors
/// [`Error::Invalid`] naming `field` when the text is none of the accepted forms, or names an instant outside
/// the years -9999..=9999; naming `as_of` when `as_of_us` itself is out of that range.
pub fn resolve_date(field: &str, text: &str, tz: &TimeZone, as_of_us: i64) -> Result<i64> {
    let bad = |why: String| Error::invalid(field, format!("{text:?}: {why}"));
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('-') {
        let form = || bad("expected -N followed by h, d, w, m or y".into());
        let mut chars = rel.chars();
        let unit = chars.next_back().ok_or_else(form)?;
        let num = chars.as_str();
        // Digits only: `i64::from_str` would also take a sign, and `--5d` is not a date in the past.
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(form());
        }
        let too_far = || bad("reaches outside the years -9999..=9999".into());
        let n: i64 = num.parse().map_err(|_| too_far())?;
        let span = match unit {
            'h' => Span::new().try_hours(-n),
            'd' => Span::new().try_days(-n),
            'w' => Span::new().try_days(n.checked_mul(-7).ok_or_else(too_far)?),
            'm' => Span::new().try_months(-n),
            'y' => Span::new().try_years(-n),
            _ => return Err(form()),
        }
        .map_err(|_| too_far())?;
        let as_of = zoned("as_of", as_of_us, tz)?;
        return as_of
            .checked_add(span)
            .map(|z| z.timestamp().as_microsecond())
            .map_err(|_| too_far());
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts.as_microsecond());
    }
    if let Ok(dt) = t.parse::<DateTime>() {
        return local(dt, tz).map_err(bad);
    }
    if let Ok(d) = t.parse::<Date>() {
        return local(d.to_datetime(jiff::civil::Time::midnight()), tz).map_err(bad);
    }
    Err(bad(
        "not a date (YYYY-MM-DD), a local time, an RFC 3339 instant or -N[hdwmy]".into(),
    ))
}

/// A local wall-clock time to an instant: the first instant after a gap, the earlier of an overlap (§15.3).
fn local(dt: DateTime, tz: &TimeZone) -> std::result::Result<i64, String> {
    use jiff::tz::AmbiguousOffset;
    let at = |offset: jiff::tz::Offset| -> std::result::Result<i64, String> {
        dt.to_zoned_datetime(TimeZone::fixed(offset))
            .map(|z| z.timestamp().as_microsecond())
            .map_err(|e| e.to_string())
    };
    match tz.to_ambiguous_zoned_datetime(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => at(offset),
        // In an overlap the earlier instant is the one read with the offset before the change.
        AmbiguousOffset::Fold { before, after } => Ok(at(before)?.min(at(after)?)),
        AmbiguousOffset::Gap { before, after } => {
            // The transition lies between the two readings; find its first second with the new offset.
            let (mut lo, mut hi) = (at(after)?, at(before)?);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            while hi - lo > 1_000_000 {
                let mid = lo + (hi - lo) / 2;
                let ts = Timestamp::from_microsecond(mid).map_err(|e| e.to_string())?;
                if tz.to_offset(ts) == after {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Ok(hi - hi.rem_euclid(1_000_000))
        }
    }
}

/// The instant `us` in `tz`; out of jiff's range (years -9999..=9999) it is an error naming `field`.
fn zoned(field: &str, us: i64, tz: &TimeZone) -> Result<ZonedDateTime> {
    Ok(timestamp(field, us)?.to_zoned_datetime(tz.clone()))
}

fn timestamp(field: &str, us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|_| out_of_range(field))
}

fn out_of_range(field: &str) -> Error {
    Error::invalid(field, "reaches outside the years -9999..=9999")
}

/// The start of the period holding `us`.
///
/// # Errors
/// [`Error::Invalid`] naming `field` (the parameter `us` came from) when that start lies outside the years
/// -9999..=9999.
pub fn period_start(
    field: &str,
    us: i64,
    period: Period,
    tz: &TimeZone,
    week_start: WeekStart,
) -> Result<i64> {
    let z = zoned(field, us, tz)?;
    match period {
        Period::Hour => {
            // Hours are exact 3600 s steps: drop the minutes and seconds of the local wall clock.
            let into = i64::from(z.minute()) * 60 + i64::from(z.second());
            let start = us - into * 1_000_000 - (us.rem_euclid(1_000_000));
            timestamp(field, start).map(|_| start)
        }
        Period::Day => day_start(field, z.date(), tz),
        Period::Week => {
            let d = z.date();
            let back = match week_start {
                WeekStart::Monday => d.weekday().to_monday_zero_offset(),
                WeekStart::Sunday => d.weekday().to_sunday_zero_offset(),
            };
            let monday = Span::new()
                .try_days(-i64::from(back))
                .and_then(|span| d.checked_add(span))
                .map_err(|_| out_of_range(field))?;
            day_start(field, monday, tz)
        }
        Period::Month => day_start(field, z.date().first_of_month(), tz),
    }
}

/// The start of the period after the one starting at `start`.
///
/// # Errors
/// [`Error::Invalid`] naming `field` when that start lies outside the years -9999..=9999.
pub fn next_period(field: &str, start: i64, period: Period, tz: &TimeZone) -> Result<i64> {
    if period == Period::Hour {
        let next = start
            .checked_add(3_600_000_000)
            .ok_or_else(|| out_of_range(field))?;
        return timestamp(field, next).map(|_| next);
    }
    let d = zoned(field, start, tz)?.date();
    let next = match period {
        Period::Day => d.checked_add(Span::new().days(1)),
        Period::Week => d.checked_add(Span::new().days(7)),
        _ => d.first_of_month().checked_add(Span::new().months(1)),
    };
    day_start(field, next.map_err(|_| out_of_range(field))?, tz)
}

fn day_start(field: &str, d: Date, tz: &TimeZone) -> Result<i64> {
    // A midnight that falls in a gap starts the day at the first instant of that date.
    let us =
        local(d.to_datetime(jiff::civil::Time::midnight()), tz).map_err(|_| out_of_range(field))?;
    // An instant jiff can build from a civil time may still lie outside its timestamp range.
    timestamp(field, us).map(|_| us)
}

/// Formats an instant as RFC 3339 with the zone's local offset.
///
/// Instants outside the years -9999..=9999, which neither [`parse_instant`] nor [`resolve_window`] ever hands
/// out, are first clamped into that range, so formatting never fails.
pub fn format_local(us: i64, tz: &TimeZone) -> String {
    let z = clamped(us).to_zoned_datetime(tz.clone());
    let dt = z.datetime();
    let off = z.offset().seconds();
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        off / 3600,
        off % 3600 / 60
    )
}

/// Formats an instant as RFC 3339 in UTC with `Z`, keeping sub-second digits only when present.
///
/// Out-of-range instants are clamped as in [`format_local`].
pub fn format_utc(us: i64) -> String {
    clamped(us).to_string()
}

fn clamped(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A resolved window: periods F..=L.
///
/// Every instant in it (period starts and `end`) lies within the years -9999..=9999, and it holds at most
/// [`MAX_PERIODS`] periods.
#[derive(Debug, Clone)]
pub struct Window {
    /// Period boundaries for the kernel.
    pub grid: PeriodGrid,
    /// Start of F.
    pub first: i64,
    /// Start of L.
    pub last: i64,
    /// End of L (exclusive).
    pub end: i64,
}

/// Resolves the window (§4) from the parameters already parsed.
///
/// # Errors
/// [`Error::Invalid`] when `date_from` is after `date_to`, when the window would hold more than [`MAX_PERIODS`]
/// periods, or when one of its periods would start outside the years -9999..=9999 (naming `date_to` for the
/// last period and for stepping back `total_intervals` periods, `date_from` for the first).
pub fn resolve_window(
    period: Period,
    tz: &TimeZone,
    week_start: WeekStart,
    total_intervals: u32,
    date_from: Option<i64>,
    date_to: i64,
) -> Result<Window> {
    if let Some(from) = date_from
        && from > date_to
    {
        return Err(Error::invalid("date_from", "is later than date_to"));
    }
    if usize::try_from(total_intervals).is_ok_and(|n| n > MAX_PERIODS) {
        return Err(Error::invalid(
            "total_intervals",
            format!("the window has more than {MAX_PERIODS} periods"),
        ));
    }
    let last = period_start("date_to", date_to, period, tz, week_start)?;
    let end = next_period("date_to", last, period, tz)?;
    let first = match date_from {
        Some(from) => period_start("date_from", from, period, tz, week_start)?,
        None => {
            let mut f = last;
            for _ in 1..total_intervals {
                // Step back: the period holding the instant just before f.
                let before = f.checked_sub(1).ok_or_else(|| out_of_range("date_to"))?;
                f = period_start("date_to", before, period, tz, week_start)?;
            }
            f
        }
    };
    let mut starts = vec![first];
    let mut next = first;
    while next < last {
        next = next_period("date_from", next, period, tz)?;
        starts.push(next);
        if starts.len() > MAX_PERIODS {
            return Err(Error::invalid(
                "date_from",
                format!("the window has more than {MAX_PERIODS} periods"),
            ));
        }
    }
    Ok(Window {
        grid: PeriodGrid::new(starts, end),
        first,
        last,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn example_a_weeks_in_shanghai() {
        let tz = time_zone("Asia/Shanghai").unwrap();
        let to = resolve_date("date_to", "2025-03-19", &tz, 0).unwrap();
        let w = resolve_window(Period::Week, &tz, WeekStart::Monday, 4, None, to).unwrap();
        assert_eq!(format_local(w.first, &tz), "2025-02-24T00:00:00+08:00");
        assert_eq!(format_local(w.last, &tz), "2025-03-17T00:00:00+08:00");
        assert_eq!(w.grid.len(), 4);
        let from = resolve_date("date_from", "2025-02-12", &tz, 0).unwrap();
        let w = resolve_window(Period::Week, &tz, WeekStart::Monday, 4, Some(from), to).unwrap();
        assert_eq!(w.grid.len(), 6);
        // 2025-03-02T17:30Z is Monday 01:30 in Shanghai: the 03-03 week.
        let p = period_start(
            "t",
            us("2025-03-02T17:30:00Z"),
            Period::Week,
            &tz,
            WeekStart::Monday,
        )
        .unwrap();
        assert_eq!(format_local(p, &tz), "2025-03-03T00:00:00+08:00");
        let utc = time_zone("UTC").unwrap();
        let p = period_start(
            "t",
            us("2025-03-02T17:30:00Z"),
            Period::Week,
            &utc,
            WeekStart::Monday,
        )
        .unwrap();
        assert_eq!(format_local(p, &utc), "2025-02-24T00:00:00+00:00");
    }

    #[test]
    fn dst_days_last_23_and_25_hours_and_hours_repeat() {
        let tz = time_zone("America/New_York").unwrap();
        let d = resolve_date("date_to", "2025-03-09", &tz, 0).unwrap();
        assert_eq!(
            next_period("t", d, Period::Day, &tz).unwrap() - d,
            23 * 3_600_000_000
        );
        let d = resolve_date("date_to", "2025-11-02", &tz, 0).unwrap();
        assert_eq!(
            next_period("t", d, Period::Day, &tz).unwrap() - d,
            25 * 3_600_000_000
        );
        // The repeated 01:00 hour on 2025-11-02 makes two hour periods.
        let a = period_start(
            "t",
            us("2025-11-02T05:30:00Z"),
            Period::Hour,
            &tz,
            WeekStart::Monday,
        )
        .unwrap();
        let b = period_start(
            "t",
            us("2025-11-02T06:30:00Z"),
            Period::Hour,
            &tz,
            WeekStart::Monday,
        )
        .unwrap();
        assert_eq!(b - a, 3_600_000_000);
    }

    #[test]
    fn a_local_time_in_a_gap_reads_as_the_first_instant_after_it() {
        let tz = time_zone("America/New_York").unwrap();
        let got = resolve_date("date_from", "2025-03-09T02:30:00", &tz, 0).unwrap();
        assert_eq!(format_utc(got), "2025-03-09T07:00:00Z");
        let got = resolve_date("date_from", "2025-11-02T01:30:00", &tz, 0).unwrap();
        assert_eq!(format_utc(got), "2025-11-02T05:30:00Z");
        // Santiago skips midnight: the day starts at 01:00 local.
        let tz = time_zone("America/Santiago").unwrap();
        let got = resolve_date("date_from", "2024-09-08", &tz, 0).unwrap();
        assert_eq!(format_local(got, &tz), "2024-09-08T01:00:00-03:00");
    }

    #[test]
    fn relative_dates_clamp_months() {
        let tz = time_zone("UTC").unwrap();
        let as_of = us("2025-03-31T12:00:00Z");
        let got = resolve_date("date_from", "-1m", &tz, as_of).unwrap();
        assert_eq!(format_utc(got), "2025-02-28T12:00:00Z");
        assert!(resolve_date("date_from", "-3q", &tz, as_of).is_err());
        assert!(resolve_date("date_from", "yesterday", &tz, as_of).is_err());
    }

    #[test]
    fn sunday_weeks_move_sunday_events() {
        let tz = time_zone("UTC").unwrap();
        let sunday = us("2025-03-16T10:00:00Z");
        let mon = period_start("t", sunday, Period::Week, &tz, WeekStart::Monday).unwrap();
        let sun = period_start("t", sunday, Period::Week, &tz, WeekStart::Sunday).unwrap();
        assert_eq!(format_utc(mon), "2025-03-10T00:00:00Z");
        assert_eq!(format_utc(sun), "2025-03-16T00:00:00Z");
    }

    const PERIODS: [Period; 4] = [Period::Hour, Period::Day, Period::Week, Period::Month];
    const ZONES: [&str; 4] = ["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"];

    /// Date strings that once panicked, sit on jiff's limits, or are malformed in ways a parser can trip on.
    const HOSTILE_DATES: &[&str] = &[
        "-99999999d",
        "-7304485d",
        "-7304484d",
        "-3652425d",
        "-99999999m",
        "-239977m",
        "-239976m",
        "-19999y",
        "-19998y",
        "-1043498w",
        "-1043497w",
        "-175307617h",
        "-175307616h",
        "-9223372036854775807d",
        "-9223372036854775807w",
        "-99999999999999999999y",
        "-0d",
        "-1h",
        "-d",
        "-",
        "--5d",
        "-+5d",
        "- 5d",
        "-5é",
        "-é",
        "-5",
        "9999-12-30",
        "9999-12-31",
        "9999-12-31T23:59:59",
        "9999-12-30T22:00:00Z",
        "9999-12-31T23:59:59Z",
        "-009999-01-01",
        "-009999-01-02",
        "-009999-01-01T00:00:00Z",
        "-009999-01-02T01:59:59Z",
        "0000-01-01",
        "2025-02-30",
        "2025-03-09T02:30:00",
        "2025-11-02T01:30:00",
        "",
        " ",
        "\u{0}",
        "2025-01-01\u{0}",
    ];

    const HOSTILE_AS_OF: &[&str] = &[
        "9999-12-31T23:59:59Z",
        "9999-12-30T22:00:00Z",
        "9999-12-30T21:59:59.999999Z",
        "-009999-01-01T00:00:00Z",
        "-009999-01-02T01:59:59Z",
        "-009999-01-02T02:00:00Z",
        "2025-03-31T12:00:00Z",
        "2025-03-31",
        "",
        "-1d",
    ];

    /// The window as `retention::plan` resolves it, down to the strings a report prints.
    fn resolve(
        period: Period,
        zone: &str,
        as_of: Option<&str>,
        date_from: Option<&str>,
        date_to: Option<&str>,
    ) -> Result<String> {
        let tz = time_zone(zone)?;
        let as_of = match as_of {
            Some(t) => parse_instant("as_of", t)?,
            None => us("2025-06-15T12:00:00Z"),
        };
        let printed_as_of = format_utc(as_of);
        let date_to = match date_to {
            Some(t) => resolve_date("date_to", t, &tz, as_of)?,
            None => as_of,
        };
        let date_from = match date_from {
            Some(t) => Some(resolve_date("date_from", t, &tz, as_of)?),
            None => None,
        };
        let w = resolve_window(period, &tz, WeekStart::Sunday, 11, date_from, date_to)?;
        Ok(format!(
            "{printed_as_of} {} {} {} {}",
            format_local(w.first, &tz),
            format_local(w.last, &tz),
            format_local(w.end, &tz),
            w.grid.len()
        ))
    }

    #[track_caller]
    fn assert_ok_or_names(got: Result<String>, fields: &[&str], case: &str) {
        if let Err(Error::Invalid { field, message }) = got {
            assert!(
                fields.contains(&field.as_str()),
                "{case}: error names `{field}` ({message}), expected one of {fields:?}"
            );
        }
    }

    #[test]
    fn issue_11_hostile_dates_are_refused_naming_the_field() {
        for zone in ZONES {
            for period in PERIODS {
                for &text in HOSTILE_DATES {
                    let case = format!("{zone} {period:?} date_from={text:?}");
                    let got = resolve(period, zone, None, Some(text), None);
                    assert_ok_or_names(got, &["date_from"], &case);
                    let case = format!("{zone} {period:?} date_to={text:?}");
                    let got = resolve(period, zone, None, None, Some(text));
                    assert_ok_or_names(got, &["date_to"], &case);
                }
                for &text in HOSTILE_AS_OF {
                    // `date_to` defaults to `as_of`, so a window past the range names either.
                    let case = format!("{zone} {period:?} as_of={text:?}");
                    let got = resolve(period, zone, Some(text), None, None);
                    assert_ok_or_names(got, &["as_of", "date_to"], &case);
                    for &date in HOSTILE_DATES {
                        let case = format!("{zone} {period:?} as_of={text:?} date_from={date:?}");
                        let got = resolve(period, zone, Some(text), Some(date), None);
                        assert_ok_or_names(got, &["as_of", "date_from", "date_to"], &case);
                    }
                }
            }
        }
    }

    #[test]
    fn issue_11_the_reported_inputs_are_errors() {
        let utc = time_zone("UTC").unwrap();
        let as_of = us("2025-06-15T12:00:00Z");
        for text in ["-99999999d", "-7304485d", "-99999999m"] {
            let err = resolve_date("date_from", text, &utc, as_of).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("parameter `date_from`: {text:?}: reaches outside the years -9999..=9999")
            );
        }
        let err = resolve(Period::Month, "UTC", None, None, Some("9999-12-30")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter `date_to`: reaches outside the years -9999..=9999"
        );
        // The last representable day still makes a daily window in UTC.
        let got = resolve(
            Period::Day,
            "UTC",
            None,
            Some("9999-12-20"),
            Some("9999-12-29"),
        );
        assert_eq!(
            got.unwrap(),
            "2025-06-15T12:00:00Z 9999-12-20T00:00:00+00:00 9999-12-29T00:00:00+00:00 \
             9999-12-30T00:00:00+00:00 10"
        );
        let err = resolve_date("date_from", "-5é", &utc, as_of).unwrap_err();
        assert!(err.to_string().contains("expected -N"), "{err}");
        assert!(resolve_date("date_from", "--5d", &utc, as_of).is_err());
    }

    #[test]
    fn the_window_is_bounded_in_periods() {
        let utc = time_zone("UTC").unwrap();
        let to = us("2025-06-15T12:00:00Z");
        let from = resolve_date("date_from", "-4166d", &utc, to).unwrap();
        let ok = resolve_window(Period::Hour, &utc, WeekStart::Monday, 1, Some(from), to);
        assert_eq!(ok.unwrap().grid.len(), 4166 * 24 + 1);
        let from = resolve_date("date_from", "-4167d", &utc, to).unwrap();
        let err = resolve_window(Period::Hour, &utc, WeekStart::Monday, 1, Some(from), to);
        assert_eq!(
            err.unwrap_err().to_string(),
            "parameter `date_from`: the window has more than 100000 periods"
        );
        let err = resolve_window(Period::Day, &utc, WeekStart::Monday, 100_001, None, to);
        assert!(err.unwrap_err().to_string().contains("total_intervals"));
    }

    #[test]
    fn formatting_clamps_instants_out_of_range() {
        let utc = time_zone("UTC").unwrap();
        assert_eq!(format_utc(i64::MAX), Timestamp::MAX.to_string());
        assert_eq!(format_utc(i64::MIN), Timestamp::MIN.to_string());
        assert_eq!(format_local(i64::MIN, &utc), "-9999-01-02T01:59:59+00:00");
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        fn period() -> impl Strategy<Value = Period> {
            prop::sample::select(PERIODS.to_vec())
        }

        fn zone() -> impl Strategy<Value = TimeZone> {
            prop::sample::select(ZONES.to_vec()).prop_map(|z| time_zone(z).unwrap())
        }

        /// Any i64, biased towards the edges of jiff's range and the recent past.
        fn instant() -> impl Strategy<Value = i64> {
            let min = Timestamp::MIN.as_microsecond();
            let max = Timestamp::MAX.as_microsecond();
            let day = 86_400_000_000i64;
            prop_oneof![
                any::<i64>(),
                (min - 40 * day)..(min + 40 * day),
                (max - 40 * day)..(max + 40 * day),
                0i64..2_000_000_000_000_000,
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn periods_of_any_instant_never_panic(
                us in instant(),
                period in period(),
                tz in zone(),
                sunday in any::<bool>(),
            ) {
                let week_start = if sunday { WeekStart::Sunday } else { WeekStart::Monday };
                let _ = format_local(us, &tz);
                let _ = format_utc(us);
                let _ = next_period("t", us, period, &tz);
                if let Ok(start) = period_start("t", us, period, &tz, week_start) {
                    prop_assert!(start <= us);
                    if let Ok(next) = next_period("t", start, period, &tz) {
                        prop_assert!(next > us);
                    }
                }
            }

            #[test]
            fn relative_dates_never_panic(
                as_of in instant(),
                n in prop_oneof![any::<u64>(), 0u64..300_000_000],
                unit in prop::sample::select(vec!['h', 'd', 'w', 'm', 'y']),
                period in period(),
                tz in zone(),
            ) {
                let text = format!("-{n}{unit}");
                match resolve_date("date_from", &text, &tz, as_of) {
                    Ok(from) => {
                        prop_assert!(Timestamp::from_microsecond(from).is_ok());
                        // The window from there may be refused, but only with an error.
                        if let Err(Error::Invalid { field, .. }) = resolve_window(
                            period, &tz, WeekStart::Monday, 1, Some(from), as_of,
                        ) {
                            prop_assert!(field == "date_from" || field == "date_to", "{field}");
                        }
                    }
                    Err(Error::Invalid { field, .. } | Error::TooLarge { field, .. }) => {
                        prop_assert!(field == "date_from" || field == "as_of", "{field}");
                    }
                    Err(Error::TimedOut) => prop_assert!(false, "no deadline was set"),
                }
            }

            #[test]
            fn windows_of_any_instants_never_panic(
                to in instant(),
                back in 0i64..40 * 86_400_000_000,
                total in 1u32..60,
                period in period(),
                tz in zone(),
            ) {
                let from = to.saturating_sub(back);
                let _ = resolve_window(period, &tz, WeekStart::Monday, total, None, to);
                if let Ok(w) = resolve_window(period, &tz, WeekStart::Monday, total, Some(from), to) {
                    prop_assert!(Timestamp::from_microsecond(w.end).is_ok());
                    prop_assert!(w.first <= from && w.end > to);
                }
            }
        }
    }
}
