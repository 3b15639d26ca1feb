//! `liucun export clickhouse`: one project's events (RowBinary batches, segment by segment, resumable), identity
//! timeline, merge log, persons and person properties (JSONEachRow, replaced whole) into ClickHouse over HTTP.
//! Running it again is safe: it resumes an export cut short and sends only the segments ClickHouse lacks.

use std::fmt::Write as _;

use liucun::Engine;
use liucun::export::IdentityTimeline;
use model::{Event, PersonRecord};
use serde_json::{Value, json};

use crate::http::Client;
use crate::schema::{EVENTS, IDENTITY, IDENTITY_LOG, PERSON_PROPERTIES, PERSONS, ddl};
use crate::sql::{Binder, Query};
use crate::{Error, Result};

/// Rows per insert.
pub const BATCH_ROWS: usize = 50_000;

/// What one project's export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Events already in ClickHouse from an earlier export, kept.
    pub events_kept: u64,
    /// Events written.
    pub events: u64,
    /// Identity changes.
    pub identity_changes: u64,
    /// Merge requests.
    pub merges: u64,
    /// Persons import records.
    pub persons: u64,
    /// Person properties changes written.
    pub person_properties: u64,
}

/// Creates the database and tables when missing.
///
/// # Errors
/// [`Error::Server`] or [`Error::Http`].
pub fn create_tables(client: &Client) -> Result<()> {
    for stmt in ddl(client.database()) {
        client.execute(&Query::text(stmt))?;
    }
    Ok(())
}

/// Exports one project; `progress` hears the events written so far and the events to write. The events table is
/// brought up to date segment by segment: a segment whose events are all there already is kept, one that is partly
/// there (an export cut short) or no longer in the data directory (replaced by a compaction) has its rows deleted,
/// and every segment not fully there is written. So running it again resumes an export cut short, sends only new
/// segments, and never leaves an event twice. The identity timeline, merge log, persons and person properties are
/// replaced whole. Without `events`, the events table is left as it is (the events were loaded from the segments
/// by ClickHouse itself, docs/clickhouse.md).
///
/// # Errors
/// [`Error::Engine`] for damaged data, [`Error::Server`] or [`Error::Http`] for ClickHouse.
pub fn project(
    engine: &Engine,
    client: &Client,
    name: &str,
    events: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<Exported> {
    for table in [IDENTITY, IDENTITY_LOG, PERSONS, PERSON_PROPERTIES] {
        let mut b = Binder::default();
        let p = b.string(name);
        client.execute(&b.finish(format!(
            "DELETE FROM `{}`.{table} WHERE project = {p}",
            client.database()
        )))?;
    }
    let mut out = Exported::default();
    let insert = |table: &str, body: &[u8]| -> Result<()> {
        client.insert(
            &Query::text(format!("INSERT INTO {table} FORMAT JSONEachRow")),
            body,
        )
    };
    if events {
        events_of(engine, client, name, &mut out, &mut progress)?;
    }
    let timeline = engine.identity_timeline(name)?;
    let (changes, log) = identity_rows(name, &timeline);
    let persons = person_rows(name, &engine.person_imports(name)?);
    let properties: Vec<Value> = engine
        .person_properties_timeline(name)?
        .into_iter()
        .map(|c| {
            json!({"project": name, "person": c.person, "valid_from": c.valid_from,
                   "properties": c.properties})
        })
        .collect();
    for (table, rows) in [
        (IDENTITY, &changes),
        (IDENTITY_LOG, &log),
        (PERSONS, &persons),
        (PERSON_PROPERTIES, &properties),
    ] {
        for chunk in rows.chunks(BATCH_ROWS) {
            let mut body = String::new();
            for r in chunk {
                body.push_str(&r.to_string());
                body.push('\n');
            }
            insert(table, body.as_bytes())?;
        }
    }
    out.identity_changes = changes.len() as u64;
    out.merges = log.len() as u64;
    out.persons = persons.len() as u64;
    out.person_properties = properties.len() as u64;
    Ok(out)
}

/// Brings the project's events up to date segment by segment (see [`project`]).
fn events_of(
    engine: &Engine,
    client: &Client,
    name: &str,
    out: &mut Exported,
    progress: &mut impl FnMut(u64, u64),
) -> Result<()> {
    let segments = engine.event_segments(name)?;
    // What ClickHouse holds, per segment.
    let mut b = Binder::default();
    let p = b.string(name);
    let answer = client.query(&b.finish(format!(
        "SELECT hex(segment), count() FROM {EVENTS} WHERE project = {p} GROUP BY segment FORMAT TabSeparated"
    )))?;
    let mut held: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for line in answer.lines().filter(|l| !l.is_empty()) {
        let parsed = line
            .split_once('\t')
            .and_then(|(seg, n)| Some((crate::retention::unhex(seg)?, n.parse::<u64>().ok()?)));
        let Some((seg, n)) = parsed else {
            return Err(Error::Answer(format!(
                "a row {line:?} is not `segment events`"
            )));
        };
        held.insert(seg, n);
    }
    let whole = |(file, rows): &&(String, u64)| held.get(file) == Some(rows);
    let missing: Vec<&(String, u64)> = segments.iter().filter(|s| !whole(s)).collect();
    let kept: Vec<&(String, u64)> = segments.iter().filter(whole).collect();
    out.events_kept = kept.iter().map(|(_, rows)| rows).sum();
    let kept: Vec<&str> = kept.iter().map(|(file, _)| file.as_str()).collect();
    if held.len() != kept.len() {
        // Rows of segments cut short or replaced, and rows an earlier version wrote without a segment.
        let mut b = Binder::default();
        let p = b.string(name);
        let keep = b.strings(&kept);
        client.execute(&b.finish(format!(
            "DELETE FROM `{}`.{EVENTS} WHERE project = {p} AND segment NOT IN {keep}",
            client.database()
        )))?;
    }
    let total: u64 = missing.iter().map(|(_, rows)| rows).sum();
    progress(0, total);
    let statement = Query::text(format!(
        "INSERT INTO {EVENTS} ({EVENT_COLUMNS}) FORMAT RowBinary"
    ));
    let mut batch: Vec<u8> = Vec::new();
    let mut rows = 0usize;
    for (file, _) in missing {
        let mut failed = None;
        let read = engine.export_segment(name, file, |e| {
            event_row(&mut batch, name, file, e);
            rows += 1;
            if rows == BATCH_ROWS {
                if let Err(e) = client.insert(&statement, &batch) {
                    failed = Some(e);
                    return Err(liucun::Error::Invalid("the export stopped".into()));
                }
                batch.clear();
                out.events += rows as u64;
                rows = 0;
                progress(out.events, total);
            }
            Ok(())
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read?;
    }
    if rows > 0 {
        client.insert(&statement, &batch)?;
        out.events += rows as u64;
        progress(out.events, total);
    }
    Ok(())
}

/// The identity table's and the log's rows.
fn identity_rows(project: &str, t: &IdentityTimeline) -> (Vec<Value>, Vec<Value>) {
    let changes = t
        .changes
        .iter()
        .map(|c| {
            json!({"project": project, "distinct_id": c.distinct_id, "valid_from": c.valid_from,
                   "person": c.person, "in_merge": c.in_merge})
        })
        .collect();
    let log = t
        .log
        .iter()
        .enumerate()
        .map(|(seq, (at, m))| {
            json!({"project": project, "seq": seq, "valid_from": at, "kept": m.kept, "merged": m.merged,
                   "source": m.source, "applied": m.applied, "reason": m.reason.unwrap_or(""),
                   "entry": hex(&m.digest_entry())})
        })
        .collect();
    (changes, log)
}

/// The persons table's rows, in import order.
fn person_rows(project: &str, records: &[PersonRecord]) -> Vec<Value> {
    records
        .iter()
        .enumerate()
        .map(|(seq, r)| {
            json!({"project": project, "seq": seq, "distinct_ids": r.distinct_ids,
                   "created_at": r.created_at.map(|t| t.0), "updated_at": r.updated_at.0,
                   "properties": r.properties, "source": r.source})
        })
        .collect()
}

/// The events table's columns in the order [`event_row`] writes them. The first is a `Bool`, whose byte (0 or 1) is
/// never whitespace: a server that reads the rows after the statement's text skips whitespace before them.
const EVENT_COLUMNS: &str = "personless, project, segment, uuid, distinct_id, event, timestamp, properties, digest, \
    ai_model, ai_provider, ai_input_tokens, ai_output_tokens, ai_cache_read_tokens, ai_cache_write_tokens, \
    ai_cost_nusd, ai_usage_invalid, payment_amount_minor, payment_tax_minor, payment_fee_minor, payment_currency, \
    payment_kind, payment_product, payment_external_id, merge_kept, merge_from, merge_source, received_at, source";

/// One event as a RowBinary row of [`EVENT_COLUMNS`], from the segment `segment`.
fn event_row(out: &mut Vec<u8>, project: &str, segment: &str, e: &Event) {
    let t = &e.typed;
    let p = t.payment.as_deref();
    let m = e.merge.as_deref();
    out.push(u8::from(t.personless));
    string(out, project);
    string(out, segment);
    // A UUID is two little-endian 64-bit halves, the high half first.
    let u = u128::from_be_bytes(e.uuid.0);
    out.extend_from_slice(&((u >> 64) as u64).to_le_bytes());
    out.extend_from_slice(&(u as u64).to_le_bytes());
    string(out, e.distinct_id());
    string(out, e.event());
    out.extend_from_slice(&e.timestamp.0.to_le_bytes());
    string(out, e.properties());
    // A UInt256 is 32 little-endian bytes; the digest is big-endian.
    out.extend(e.digest.0.iter().rev());
    nullable_string(out, t.ai_model.as_deref());
    nullable_string(out, t.ai_provider.as_deref());
    for v in [
        t.ai_input_tokens,
        t.ai_output_tokens,
        t.ai_cache_read_tokens,
        t.ai_cache_write_tokens,
        t.ai_cost_nusd,
    ] {
        nullable_i64(out, v);
    }
    out.push(u8::from(t.ai_usage_invalid));
    nullable_i64(out, p.map(|p| p.amount_minor));
    nullable_i64(out, p.map(|p| p.tax_minor));
    nullable_i64(out, p.map(|p| p.fee_minor));
    nullable_string(out, p.map(|p| p.currency.as_str()));
    nullable_string(out, p.map(|p| p.kind.as_str()));
    nullable_string(out, p.and_then(|p| p.product.as_deref()));
    nullable_string(out, p.and_then(|p| p.external_id.as_deref()));
    nullable_string(out, m.map(|m| m.kept.as_str()));
    nullable_string(out, m.map(|m| m.merged.as_str()));
    nullable_string(out, m.map(|m| m.source.as_str()));
    out.extend_from_slice(&e.received_at.0.to_le_bytes());
    string(out, e.source());
}

/// A RowBinary `String`: its length as a LEB128 varint, then its bytes.
fn string(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

/// A RowBinary `Nullable(String)`: 1 for null, else 0 and the string.
fn nullable_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(1),
        Some(s) => {
            out.push(0);
            string(out, s);
        }
    }
}

/// A RowBinary `Nullable(Int64)`.
fn nullable_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.push(1),
        Some(v) => {
            out.push(0);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// A 256-bit big-endian integer in decimal, as ClickHouse prints a `UInt256`.
#[cfg(test)]
fn u256_decimal(be: &[u8; 32]) -> String {
    const TEN19: u128 = 10_000_000_000_000_000_000;
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&be[i * 8..i * 8 + 8]);
        *limb = u64::from_be_bytes(b);
    }
    let mut parts = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem = 0u128;
        for limb in &mut limbs {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / TEN19) as u64;
            rem = cur % TEN19;
        }
        parts.push(rem as u64);
    }
    let Some((last, rest)) = parts.split_last() else {
        return "0".into();
    };
    let mut s = last.to_string();
    for p in rest.iter().rev() {
        let _ = write!(s, "{p:019}");
    }
    s
}

/// Decimal text of a 256-bit integer (as ClickHouse prints a `UInt256`) back to big-endian bytes.
///
/// # Errors
/// [`Error::Answer`] for text that is not such a number.
pub(crate) fn u256_from_decimal(text: &str) -> Result<[u8; 32]> {
    let bad = || Error::Answer(format!("{text:?} is not a 256-bit unsigned number"));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let mut limbs = [0u64; 4];
    for d in text.bytes() {
        let mut carry = u128::from(d - b'0');
        for limb in limbs.iter_mut().rev() {
            let cur = u128::from(*limb) * 10 + carry;
            *limb = cur as u64;
            carry = cur >> 64;
        }
        if carry != 0 {
            return Err(bad());
        }
    }
    let mut out = [0u8; 32];
    for (i, limb) in limbs.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u256_round_trips_through_decimal() {
        let mut max = [0xffu8; 32];
        assert_eq!(
            u256_decimal(&max),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        );
        assert_eq!(u256_from_decimal(&u256_decimal(&max)).ok(), Some(max));
        max[0] = 0;
        max[31] = 7;
        assert_eq!(u256_from_decimal(&u256_decimal(&max)).ok(), Some(max));
        assert_eq!(u256_decimal(&[0; 32]), "0");
        assert_eq!(
            u256_from_decimal("10000000000000000000")
                .ok()
                .map(|b| b[23]),
            Some(0)
        );
        assert!(
            u256_from_decimal(
                "115792089237316195423570985008687907853269984665640564039457584007913129639936"
            )
            .is_err()
        );
        assert!(u256_from_decimal("12a").is_err());
    }

    #[test]
    fn row_binary_strings_carry_a_varint_length() {
        let mut out = Vec::new();
        string(&mut out, "ab");
        assert_eq!(out, b"\x02ab");
        out.clear();
        string(&mut out, &"x".repeat(300));
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(out.len(), 302);
        out.clear();
        nullable_string(&mut out, None);
        nullable_i64(&mut out, Some(-2));
        assert_eq!(out, [1, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }
}
