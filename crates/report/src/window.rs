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
    TimeZone::get(name)
        .map_err(|_| Error::invalid("timezone", format!("unknown time zone {name:?}")))
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

/// Resolves a date string (§3.2, §15.3) to an instant, given the query time zone and `as_of`.
///
/// # Errors
/// [`Error::Invalid`] naming `field` when the text is none of the accepted forms.
pub fn resolve_date(field: &str, text: &str, tz: &TimeZone, as_of_us: i64) -> Result<i64> {
    let bad = |why: String| Error::invalid(field, format!("{text:?}: {why}"));
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('-') {
        let (num, unit) = rel.split_at(rel.len().saturating_sub(1));
        let n: i64 = num
            .parse()
            .map_err(|_| bad("expected -N followed by h, d, w, m or y".into()))?;
        let as_of = zoned(as_of_us, tz);
        let span = match unit {
            "h" => Span::new().hours(-n),
            "d" => Span::new().days(-n),
            "w" => Span::new().days(-7 * n),
            "m" => Span::new().months(-n),
            "y" => Span::new().years(-n),
            _ => return Err(bad("expected -N followed by h, d, w, m or y".into())),
        };
        return as_of
            .checked_add(span)
            .map(|z| z.timestamp().as_microsecond())
            .map_err(|e| bad(e.to_string()));
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

fn zoned(us: i64, tz: &TimeZone) -> ZonedDateTime {
    Timestamp::from_microsecond(us)
        .expect("instants in range")
        .to_zoned_datetime(tz.clone())
}

/// The start of the period holding `us`.
pub fn period_start(us: i64, period: Period, tz: &TimeZone, week_start: WeekStart) -> i64 {
    let z = zoned(us, tz);
    match period {
        Period::Hour => {
            // Hours are exact 3600 s steps: drop the minutes and seconds of the local wall clock.
            let into = i64::from(z.minute()) * 60 + i64::from(z.second());
            us - into * 1_000_000 - (us.rem_euclid(1_000_000))
        }
        Period::Day => day_start(z.date(), tz),
        Period::Week => {
            let d = z.date();
            let back = match week_start {
                WeekStart::Monday => d.weekday().to_monday_zero_offset(),
                WeekStart::Sunday => d.weekday().to_sunday_zero_offset(),
            };
            day_start(
                d.checked_add(Span::new().days(-i64::from(back)))
                    .expect("date in range"),
                tz,
            )
        }
        Period::Month => day_start(z.date().first_of_month(), tz),
    }
}

/// The start of the period after the one starting at `start`.
pub fn next_period(start: i64, period: Period, tz: &TimeZone) -> i64 {
    if period == Period::Hour {
        return start + 3_600_000_000;
    }
    let d = zoned(start, tz).date();
    let next = match period {
        Period::Day => d.checked_add(Span::new().days(1)),
        Period::Week => d.checked_add(Span::new().days(7)),
        _ => d.first_of_month().checked_add(Span::new().months(1)),
    };
    day_start(next.expect("date in range"), tz)
}

fn day_start(d: Date, tz: &TimeZone) -> i64 {
    // A midnight that falls in a gap starts the day at the first instant of that date.
    local(d.to_datetime(jiff::civil::Time::midnight()), tz).expect("dates in range")
}

/// Formats an instant as RFC 3339 with the zone's local offset.
pub fn format_local(us: i64, tz: &TimeZone) -> String {
    let z = zoned(us, tz);
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
pub fn format_utc(us: i64) -> String {
    Timestamp::from_microsecond(us)
        .expect("instants in range")
        .to_string()
}

/// A resolved window: periods F..=L.
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
/// [`Error::Invalid`] when `date_from` is after `date_to`, or the window is absurdly long.
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
    let last = period_start(date_to, period, tz, week_start);
    let first = match date_from {
        Some(from) => period_start(from, period, tz, week_start),
        None => {
            let mut f = last;
            for _ in 1..total_intervals {
                // Step back: the period holding the instant just before f.
                f = period_start(f - 1, period, tz, week_start);
            }
            f
        }
    };
    let mut starts = vec![first];
    while *starts.last().expect("non-empty") < last {
        let next = next_period(*starts.last().expect("non-empty"), period, tz);
        starts.push(next);
        if starts.len() > 100_000 {
            return Err(Error::invalid(
                "date_from",
                "the window has more than 100000 periods",
            ));
        }
    }
    let end = next_period(last, period, tz);
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
            us("2025-03-02T17:30:00Z"),
            Period::Week,
            &tz,
            WeekStart::Monday,
        );
        assert_eq!(format_local(p, &tz), "2025-03-03T00:00:00+08:00");
        let utc = time_zone("UTC").unwrap();
        let p = period_start(
            us("2025-03-02T17:30:00Z"),
            Period::Week,
            &utc,
            WeekStart::Monday,
        );
        assert_eq!(format_local(p, &utc), "2025-02-24T00:00:00+00:00");
    }

    #[test]
    fn dst_days_last_23_and_25_hours_and_hours_repeat() {
        let tz = time_zone("America/New_York").unwrap();
        let d = resolve_date("date_to", "2025-03-09", &tz, 0).unwrap();
        assert_eq!(next_period(d, Period::Day, &tz) - d, 23 * 3_600_000_000);
        let d = resolve_date("date_to", "2025-11-02", &tz, 0).unwrap();
        assert_eq!(next_period(d, Period::Day, &tz) - d, 25 * 3_600_000_000);
        // The repeated 01:00 hour on 2025-11-02 makes two hour periods.
        let a = period_start(
            us("2025-11-02T05:30:00Z"),
            Period::Hour,
            &tz,
            WeekStart::Monday,
        );
        let b = period_start(
            us("2025-11-02T06:30:00Z"),
            Period::Hour,
            &tz,
            WeekStart::Monday,
        );
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
        let mon = period_start(sunday, Period::Week, &tz, WeekStart::Monday);
        let sun = period_start(sunday, Period::Week, &tz, WeekStart::Sunday);
        assert_eq!(format_utc(mon), "2025-03-10T00:00:00Z");
        assert_eq!(format_utc(sun), "2025-03-16T00:00:00Z");
    }
}
