//! `liucun export clickhouse`: one project's events, identity timeline and merge log into ClickHouse over HTTP, as
//! JSONEachRow batches. A project's export replaces what an earlier export of it left, so running it again is safe;
//! one cut short leaves the project incomplete until it is run again.

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
    /// Events.
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

/// Exports one project, replacing its rows; `progress` hears the events written so far. Without `events`, only
/// the identity timeline and log are written (the events were loaded from the segments by ClickHouse itself,
/// docs/clickhouse.md).
///
/// # Errors
/// [`Error::Engine`] for damaged data, [`Error::Server`] or [`Error::Http`] for ClickHouse.
pub fn project(
    engine: &Engine,
    client: &Client,
    name: &str,
    events: bool,
    mut progress: impl FnMut(u64),
) -> Result<Exported> {
    let tables: &[&str] = if events {
        &[EVENTS, IDENTITY, IDENTITY_LOG, PERSONS, PERSON_PROPERTIES]
    } else {
        &[IDENTITY, IDENTITY_LOG, PERSONS, PERSON_PROPERTIES]
    };
    for table in tables {
        let mut b = Binder::default();
        let p = b.string(name);
        client.execute(&b.finish(format!(
            "DELETE FROM `{}`.{table} WHERE project = {p}",
            client.database()
        )))?;
    }
    let mut out = Exported::default();
    let mut batch = String::new();
    let mut rows = 0usize;
    let insert = |table: &str, batch: &mut String| -> Result<()> {
        client.insert(
            &Query::text(format!("INSERT INTO {table} FORMAT JSONEachRow")),
            batch.as_bytes(),
        )?;
        batch.clear();
        Ok(())
    };
    let mut failed = None;
    let read = if !events {
        Ok(0)
    } else {
        engine.export_events(name, |e| {
            event_row(&mut batch, name, e);
            rows += 1;
            if rows == BATCH_ROWS {
                if let Err(e) = insert(EVENTS, &mut batch) {
                    failed = Some(e);
                    return Err(liucun::Error::Invalid("the export stopped".into()));
                }
                out.events += rows as u64;
                rows = 0;
                progress(out.events);
            }
            Ok(())
        })
    };
    if let Some(e) = failed {
        return Err(e);
    }
    read?;
    if rows > 0 {
        insert(EVENTS, &mut batch)?;
        out.events += rows as u64;
        progress(out.events);
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
            insert(table, &mut body)?;
        }
    }
    out.identity_changes = changes.len() as u64;
    out.merges = log.len() as u64;
    out.persons = persons.len() as u64;
    out.person_properties = properties.len() as u64;
    Ok(out)
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

/// One event as a JSONEachRow line.
fn event_row(out: &mut String, project: &str, e: &Event) {
    let t = &e.typed;
    let p = t.payment.as_deref();
    let m = e.merge.as_deref();
    let row = json!({
        "project": project,
        "uuid": e.uuid.to_string(),
        "distinct_id": e.distinct_id(),
        "event": e.event(),
        "timestamp": datetime(e.timestamp.0),
        "properties": e.properties(),
        "digest": u256_decimal(&e.digest.0),
        "personless": t.personless,
        "ai_model": t.ai_model,
        "ai_provider": t.ai_provider,
        "ai_input_tokens": t.ai_input_tokens,
        "ai_output_tokens": t.ai_output_tokens,
        "ai_cache_read_tokens": t.ai_cache_read_tokens,
        "ai_cache_write_tokens": t.ai_cache_write_tokens,
        "ai_cost_nusd": t.ai_cost_nusd,
        "ai_usage_invalid": t.ai_usage_invalid,
        "payment_amount_minor": p.map(|p| p.amount_minor),
        "payment_tax_minor": p.map(|p| p.tax_minor),
        "payment_fee_minor": p.map(|p| p.fee_minor),
        "payment_currency": p.map(|p| p.currency.as_str()),
        "payment_kind": p.map(|p| p.kind.as_str()),
        "payment_product": p.and_then(|p| p.product.as_deref()),
        "payment_external_id": p.and_then(|p| p.external_id.as_deref()),
        "merge_kept": m.map(|m| m.kept.as_str()),
        "merge_from": m.map(|m| m.merged.as_str()),
        "merge_source": m.map(|m| m.source.as_str()),
        "received_at": datetime(e.received_at.0),
        "source": e.source(),
    });
    let _ = writeln!(out, "{row}");
}

/// UTC µs as ClickHouse's `YYYY-MM-DD hh:mm:ss.ffffff`.
pub(crate) fn datetime(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S.%6f").to_string(),
        Err(_) => "1970-01-01 00:00:00.000000".to_string(),
    }
}

/// A 256-bit big-endian integer in decimal (ClickHouse reads a `UInt256` from JSON as decimal text).
pub(crate) fn u256_decimal(be: &[u8; 32]) -> String {
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
    fn datetimes_are_microsecond_utc_text() {
        assert_eq!(
            datetime(1_735_689_600_123_456),
            "2025-01-01 00:00:00.123456"
        );
    }
}
