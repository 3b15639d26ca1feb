//! What a report read, computed in ClickHouse the way the embedded engine computes it (retention.md §13.6), so a
//! ClickHouse report carries the same `lc1` fingerprint as the embedded one over the same data.
//!
//! - The days read: from the scan's first instant's UTC day (the project's first day for all-history scans) to the
//!   day of its last instant; their events, and the sum modulo 2²⁵⁶ of their digests (`sumWithOverflow` over
//!   `UInt256`).
//! - The identity digest: SHA-256 over `lcid1` and the log's entries up to `as_of`, in application order.
//! - The project's first and last event at or before `as_of`.

use model::Timestamp;
use report::table::{DataProvenance, Scan};
use serde_json::Value;

use crate::export::u256_from_decimal;
use crate::http::Client;
use crate::schema::{EVENTS, IDENTITY_LOG};
use crate::sql::{Binder, Query};
use crate::{Error, Result};

/// The queries, for `--explain`: the project's event span, then the days read (which need the span's first day
/// for all-history scans) and the identity digest.
pub fn span_query(project: &str, as_of: i64) -> Query {
    let mut b = Binder::default();
    let p = b.string(project);
    let a = b.int(as_of);
    b.finish(format!(
        "SELECT toString(count()) AS events, toString(min(toDate(timestamp, 'UTC'))) AS first_day,
    toString(countIf(timestamp <= fromUnixTimestamp64Micro({a}, 'UTC'))) AS until_as_of,
    toString(minIf(toUnixTimestamp64Micro(timestamp), timestamp <= fromUnixTimestamp64Micro({a}, 'UTC'))) AS first_event,
    toString(maxIf(toUnixTimestamp64Micro(timestamp), timestamp <= fromUnixTimestamp64Micro({a}, 'UTC'))) AS last_event
FROM {EVENTS} WHERE project = {p}
FORMAT JSONEachRow"
    ))
}

/// The days read, their digest sum, and which of `names` occur in them.
pub fn days_query(project: &str, from_day: &str, to_day: &str, names: &[String]) -> Query {
    let mut b = Binder::default();
    let p = b.string(project);
    let (f, t) = (b.string(from_day), b.string(to_day));
    let n = b.strings(names);
    b.finish(format!(
        "SELECT toString(count()) AS events, toString(sumWithOverflow(digest)) AS digest_sum,
    arraySort(groupUniqArrayIf(event, event IN {n})) AS names
FROM {EVENTS}
WHERE project = {p} AND toDate(timestamp, 'UTC') >= toDate({f}) AND toDate(timestamp, 'UTC') <= toDate({t})
FORMAT JSONEachRow"
    ))
}

/// The identity digest at `as_of`.
pub fn identity_query(project: &str, as_of: i64) -> Query {
    let mut b = Binder::default();
    let p = b.string(project);
    let a = b.int(as_of);
    b.finish(format!(
        "SELECT lower(hex(SHA256(concat('{prefix}', arrayStringConcat(
    arrayMap(x -> unhex(x.2), arraySort(x -> x.1, groupArray((seq, entry))))))))) AS digest
FROM {IDENTITY_LOG} WHERE project = {p} AND valid_from <= {a}
FORMAT JSONEachRow",
        prefix = std::str::from_utf8(liucun::identity::DIGEST_PREFIX).unwrap_or("lcid1"),
    ))
}

/// Computes what was read for a scan of `project`, and which of `names` occur in the days read.
///
/// # Errors
/// [`Error::Server`], [`Error::Http`], or [`Error::Answer`] for an answer of another shape.
pub fn data(
    client: &Client,
    project: &str,
    scan: &Scan,
    names: &[String],
) -> Result<(DataProvenance, Vec<String>)> {
    let span = one_row(&client.query(&span_query(project, scan.as_of))?)?;
    let events = number(&span, "events")?;
    let until_as_of = number(&span, "until_as_of")?;
    let first_day = (events > 0).then(|| text(&span, "first_day")).transpose()?;
    let (first_event, last_event) = if until_as_of > 0 {
        (
            Some(number(&span, "first_event")?),
            Some(number(&span, "last_event")?),
        )
    } else {
        (None, None)
    };
    let to_day = Timestamp(scan.to - 1).day().to_string();
    let from_day = match (scan.from, first_day) {
        (Some(t), _) => Timestamp(t).day().to_string(),
        (None, Some(d)) => d,
        (None, None) => Timestamp(scan.to).day().to_string(),
    };
    let mut data = DataProvenance {
        first_event,
        last_event,
        read_until: scan.to,
        ..DataProvenance::default()
    };
    let mut present = Vec::new();
    if from_day <= to_day {
        let days = one_row(&client.query(&days_query(project, &from_day, &to_day, names))?)?;
        data.events_in_scope = u64::try_from(number(&days, "events")?)
            .map_err(|_| Error::Answer(format!("a negative event count: {days}")))?;
        data.digest_sum = u256_from_decimal(&text(&days, "digest_sum")?)?;
        present = days
            .get("names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        data.days = Some((from_day, to_day));
    }
    let id = one_row(&client.query(&identity_query(project, scan.as_of))?)?;
    let hex = text(&id, "digest")?;
    data.identity_digest = parse_hex32(&hex).ok_or_else(|| {
        Error::Answer(format!(
            "the identity digest {hex:?} is not 32 bytes of hex"
        ))
    })?;
    Ok((data, present))
}

fn one_row(answer: &str) -> Result<Value> {
    let line = answer.lines().next().unwrap_or_default();
    serde_json::from_str(line)
        .map_err(|e| Error::Answer(format!("expected one JSON row, got {answer:?}: {e}")))
}

fn text(row: &Value, field: &str) -> Result<String> {
    row.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Answer(format!("the answer has no text `{field}`: {row}")))
}

fn number(row: &Value, field: &str) -> Result<i64> {
    text(row, field)?
        .parse::<i64>()
        .map_err(|_| Error::Answer(format!("`{field}` is not an integer: {row}")))
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}
