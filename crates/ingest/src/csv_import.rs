//! CSV event import (events.md §10.2): a header row names the columns; rows are read in chunks and validated in
//! parallel. Every column other than the event fields becomes a string property.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use csv::ByteRecord;
use rayon::iter::Either;
use rayon::prelude::*;
use serde_json::{Map, Value};

use model::{Event, EventBatch, Project, RejectReason, Rejection};

use crate::error::{FileError, SinkError};
use crate::validate::{self, DistinctId, Draft, Reject, Ts};
use crate::{Config, FileSummary};

/// Streams a CSV file with a header row in batches of about `chunk_rows` rows, calling `sink` per batch.
///
/// Sources are `"{file}:{line}"`, the line where the row starts (blank lines count). A rejected row keeps its bytes verbatim.
///
/// # Errors
/// [`FileError::MissingColumn`] when `distinct_id`, `event` or `timestamp` has no column, [`FileError::Io`] and
/// [`FileError::Unreadable`] when the file cannot be read, and [`FileError::Sink`] when `sink` fails.
pub fn csv_file(
    project: &Project,
    reader: impl Read,
    file: &str,
    cfg: &Config,
    chunk_rows: usize,
    sink: &mut dyn FnMut(EventBatch) -> Result<(), SinkError>,
) -> Result<FileSummary, FileError> {
    let chunk_rows = chunk_rows.max(1);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Tee {
            inner: reader,
            buf: Vec::new(),
            base: 0,
        });
    let read_err = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(source) => FileError::Io {
            file: file.to_string(),
            source,
        },
        other => FileError::Unreadable {
            file: file.to_string(),
            reason: format!("{other:?}"),
        },
    };
    let mut header = ByteRecord::new();
    if !rdr.read_byte_record(&mut header).map_err(read_err)? {
        return Err(FileError::Unreadable {
            file: file.to_string(),
            reason: "no header row".to_string(),
        });
    }
    // csv-core does not count blank lines, so line numbers are counted here from the bytes of each row.
    let mut next_line = 1 + memchr::memchr_iter(
        b'\n',
        &rdr.get_ref().buf[..rdr.position().byte() as usize],
    )
    .count() as u64;
    let plan = Plan::new(&header, file)?;
    let collided: Vec<AtomicBool> = plan
        .columns
        .iter()
        .map(|_| AtomicBool::new(false))
        .collect();
    let mut noted = vec![false; plan.columns.len()];
    let mut summary = FileSummary::default();
    let mut records: Vec<ByteRecord> = Vec::new();
    let mut spans: Vec<(u64, u64, u64)> = Vec::with_capacity(chunk_rows);
    loop {
        spans.clear();
        let mut done = false;
        while spans.len() < chunk_rows {
            let i = spans.len();
            if records.len() == i {
                records.push(ByteRecord::new());
            }
            let start = rdr.position().byte();
            if !rdr.read_byte_record(&mut records[i]).map_err(read_err)? {
                done = true;
                break;
            }
            let end = rdr.position().byte();
            let tee = rdr.get_ref();
            let span = &tee.buf[(start - tee.base) as usize..(end - tee.base) as usize];
            let blank = span
                .iter()
                .take_while(|b| matches!(b, b'\n' | b'\r'))
                .filter(|b| **b == b'\n')
                .count();
            spans.push((next_line + blank as u64, start, end));
            next_line += memchr::memchr_iter(b'\n', span).count() as u64;
        }
        if spans.is_empty() {
            break;
        }
        let (buf, base) = (&rdr.get_ref().buf, rdr.get_ref().base);
        let (events, rejections): (Vec<Event>, Vec<Rejection>) = (0..spans.len())
            .into_par_iter()
            .with_min_len(256)
            .map(|i| {
                let (line, start, end) = spans[i];
                let raw = trim_eol(&buf[(start - base) as usize..(end - base) as usize]);
                let source = || crate::ndjson::line_source(file, line);
                row(&plan, &records[i], raw, cfg, &collided)
                    .and_then(|d| validate::finish(project, cfg, d, source()))
                    .map_err(|r| r.into_rejection(raw, source(), cfg))
            })
            .partition_map(|r| match r {
                Ok(e) => Either::Left(e),
                Err(r) => Either::Right(r),
            });
        summary.rows += spans.len() as u64;
        for (c, flag) in collided.iter().enumerate() {
            if flag.load(Ordering::Relaxed) && !noted[c] {
                noted[c] = true;
                let name = &plan.columns[c].1;
                summary.notes.push(format!(
                    "{file}: column `{name}` overrides the key `{name}` inside `properties`"
                ));
            }
        }
        let last_end = spans.last().map_or(0, |s| s.2);
        sink(EventBatch::new(project.clone(), events, rejections)).map_err(FileError::Sink)?;
        rdr.get_mut().forget_before(last_end);
        if done {
            break;
        }
    }
    tracing::debug!(file, rows = summary.rows, "imported csv file");
    Ok(summary)
}

/// Which column holds what.
#[derive(Debug)]
struct Plan {
    n_fields: usize,
    uuid: Option<usize>,
    distinct_id: usize,
    event: usize,
    timestamp: usize,
    properties: Option<usize>,
    /// Every other column, with its name: each becomes a property.
    columns: Vec<(usize, String)>,
}

impl Plan {
    fn new(header: &ByteRecord, file: &str) -> Result<Plan, FileError> {
        let mut names = Vec::with_capacity(header.len());
        for (i, field) in header.iter().enumerate() {
            let field = if i == 0 {
                field.strip_prefix(b"\xef\xbb\xbf").unwrap_or(field)
            } else {
                field
            };
            let name = std::str::from_utf8(field).map_err(|_| FileError::Unreadable {
                file: file.to_string(),
                reason: format!("header column {} is not valid UTF-8", i + 1),
            })?;
            names.push(name.to_string());
        }
        let find = |col: &str| names.iter().position(|n| n == col);
        let need = |col: &str| {
            find(col).ok_or_else(|| FileError::MissingColumn {
                file: file.to_string(),
                column: col.to_string(),
            })
        };
        let (distinct_id, event, timestamp) =
            (need("distinct_id")?, need("event")?, need("timestamp")?);
        let (uuid, properties) = (find("uuid"), find("properties"));
        let columns = names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                !matches!(
                    n.as_str(),
                    "uuid" | "distinct_id" | "event" | "timestamp" | "properties"
                )
            })
            .map(|(i, n)| (i, n.clone()))
            .collect();
        Ok(Plan {
            n_fields: names.len(),
            uuid,
            distinct_id,
            event,
            timestamp,
            properties,
            columns,
        })
    }
}

/// One row as a draft event.
fn row(
    plan: &Plan,
    rec: &ByteRecord,
    raw: &[u8],
    cfg: &Config,
    collided: &[AtomicBool],
) -> Result<Draft, Reject> {
    if raw.len() > cfg.max_event_bytes {
        return Err(validate::too_large(raw.len(), cfg));
    }
    if rec.len() != plan.n_fields {
        return Err(Reject::new(
            RejectReason::MalformedEvent,
            format!(
                "row has {} fields, the header has {}",
                rec.len(),
                plan.n_fields
            ),
        ));
    }
    let cell = |i: usize, name: &str| -> Result<Option<&str>, Reject> {
        let bytes = &rec[i];
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes).map(Some).map_err(|e| {
            Reject::new(
                RejectReason::MalformedEvent,
                format!(
                    "column `{name}` is not valid UTF-8 (at byte {})",
                    e.valid_up_to()
                ),
            )
        })
    };
    let text = |s: &str| Value::String(s.to_string());
    let mut d = Draft::default();
    if let Some(s) = cell(plan.distinct_id, "distinct_id")? {
        d.distinct_id = DistinctId::Raw(text(s), "distinct_id");
    }
    d.event = cell(plan.event, "event")?.map(text);
    if let Some(i) = plan.uuid {
        d.uuid = cell(i, "uuid")?.map(text);
    }
    if let Some(s) = cell(plan.timestamp, "timestamp")? {
        let is_epoch = s.bytes().all(|b| b.is_ascii_digit());
        let v = if is_epoch {
            s.parse().map(Value::Number).unwrap_or_else(|_| text(s))
        } else {
            text(s)
        };
        d.timestamp = Ts::Value(v, "timestamp");
    }
    if let Some(i) = plan.properties
        && let Some(s) = cell(i, "properties")?
    {
        d.properties = validate::properties_text(s)?;
    }
    add_columns(&mut d.properties, plan, collided, |i, name| {
        cell(i, name).map(|c| c.map(text))
    })?;
    Ok(d)
}

/// Adds the extra columns as properties, recording columns that override a key inside `properties`.
fn add_columns(
    props: &mut Map<String, Value>,
    plan: &Plan,
    collided: &[AtomicBool],
    mut value: impl FnMut(usize, &str) -> Result<Option<Value>, Reject>,
) -> Result<(), Reject> {
    for (c, (i, name)) in plan.columns.iter().enumerate() {
        if let Some(v) = value(*i, name)?
            && props.insert(name.clone(), v).is_some()
        {
            collided[c].store(true, Ordering::Relaxed);
        }
    }
    Ok(())
}

fn trim_eol(mut raw: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = raw {
        raw = rest;
    }
    while let [b'\n' | b'\r', rest @ ..] = raw {
        raw = rest;
    }
    raw
}

/// Keeps a copy of every byte the CSV parser reads, so rejected rows can be quarantined verbatim.
#[derive(Debug)]
struct Tee<R> {
    inner: R,
    /// Bytes read so far, starting at offset `base` of the file.
    buf: Vec<u8>,
    base: u64,
}

impl<R> Tee<R> {
    /// Drops the bytes before file offset `offset`.
    fn forget_before(&mut self, offset: u64) {
        let n = (offset - self.base) as usize;
        self.buf.drain(..n);
        self.base = offset;
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.buf.extend_from_slice(&out[..n]);
        Ok(n)
    }
}
