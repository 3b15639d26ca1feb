//! Parquet event import (events.md §10.2): columns are matched by name, row groups are read one after another and
//! the rows of each record batch are validated in parallel. Every column other than the event fields becomes a
//! property with its typed value.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rayon::prelude::*;
use serde_json::{Map, Number, Value};

use model::{Event, EventBatch, Project, RejectReason, Rejection, Timestamp};

use crate::canonical::canonical_object;
use crate::error::{FileError, SinkError};
use crate::ndjson::split_results;
use crate::scan;
use crate::timestamp::format_ts;
use crate::validate::{self, DistinctId, Draft, Reject, Ts};
use crate::{Config, FileSummary};

/// Rows per record batch handed to the sink.
const BATCH_ROWS: usize = 65_536;

/// Streams a Parquet file, calling `sink` once per record batch (at most 65 536 rows, never across row groups).
///
/// `timestamp` may be a Parquet timestamp of any unit (zone-less is UTC), a date, an integer of epoch
/// milliseconds or a string in a form of events.md §3.1. `properties` may be JSON text or a struct or map. Every
/// other column becomes a property. Sources are `"{name}:rg{g}:row{r}"`, with `r` counted from 0 in its row
/// group; a rejected row keeps the JSON object of its cells as its raw bytes.
///
/// # Errors
/// [`FileError::MissingColumn`] when `distinct_id`, `event` or `timestamp` has no column, [`FileError::Unreadable`]
/// when the file is not Parquet or a column has a type liucun cannot read, and [`FileError::Sink`] when `sink`
/// fails.
pub fn parquet_file(
    project: &Project,
    file: File,
    name: &str,
    cfg: &Config,
    sink: &mut dyn FnMut(EventBatch) -> Result<(), SinkError>,
) -> Result<FileSummary, FileError> {
    let unreadable = |reason: String| FileError::Unreadable {
        file: name.to_string(),
        reason,
    };
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| unreadable(e.to_string()))?;
    let schema = meta.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let find = |col: &str| names.iter().position(|n| *n == col);
    let need = |col: &str| {
        find(col).ok_or_else(|| FileError::MissingColumn {
            file: name.to_string(),
            column: col.to_string(),
        })
    };
    let plan = Plan {
        distinct_id: need("distinct_id")?,
        event: need("event")?,
        timestamp: need("timestamp")?,
        uuid: find("uuid"),
        properties: find("properties"),
        columns: names
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                !matches!(
                    **n,
                    "uuid" | "distinct_id" | "event" | "timestamp" | "properties"
                )
            })
            .map(|(i, n)| (i, n.to_string()))
            .collect(),
    };
    for (i, field) in schema.fields().iter().enumerate() {
        if !is_supported(field.data_type()) {
            return Err(unreadable(format!(
                "column `{}` has unsupported type {}",
                field.name(),
                field.data_type()
            )));
        }
        if i == plan.timestamp && !is_timestamp_type(field.data_type()) {
            return Err(unreadable(format!(
                "column `timestamp` has type {}",
                field.data_type()
            )));
        }
    }
    let collided: Vec<AtomicBool> = plan
        .columns
        .iter()
        .map(|_| AtomicBool::new(false))
        .collect();
    let mut noted = vec![false; plan.columns.len()];
    let mut summary = FileSummary::default();
    for g in 0..meta.metadata().num_row_groups() {
        let input = file.try_clone().map_err(|source| FileError::Io {
            file: name.to_string(),
            source,
        })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(input, meta.clone())
            .with_row_groups(vec![g])
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| unreadable(e.to_string()))?;
        let mut row0 = 0usize;
        let mut reader = reader;
        let mut next = reader.next();
        while let Some(batch) = next.take() {
            let batch = batch.map_err(|e| unreadable(format!("row group {g}: {e}")))?;
            let cols = Columns::new(&batch, &plan).map_err(|e| unreadable(e.to_string()))?;
            // An indexed collect writes every result in place; splitting afterwards moves each event once. The
            // next batch is decoded meanwhile.
            let mut results: Vec<Result<Event, Rejection>> = Vec::with_capacity(batch.num_rows());
            let ((), following) = rayon::join(
                || {
                    (0..batch.num_rows())
                        .into_par_iter()
                        .with_min_len(512)
                        .map(|r| {
                            let source = || row_source(name, g, row0 + r);
                            row(&cols, &plan, r, &collided)
                                .and_then(|d| validate::finish(project, cfg, d, source()))
                                .map_err(|rej| {
                                    rej.into_rejection(cols.raw(r).as_bytes(), source(), cfg)
                                })
                        })
                        .collect_into_vec(&mut results);
                },
                || reader.next(),
            );
            next = following;
            let (events, rejections) = split_results(results);
            row0 += batch.num_rows();
            summary.rows += batch.num_rows() as u64;
            for (c, flag) in collided.iter().enumerate() {
                if flag.load(Ordering::Relaxed) && !noted[c] {
                    noted[c] = true;
                    let col = &plan.columns[c].1;
                    summary.notes.push(format!(
                        "{name}: column `{col}` overrides the key `{col}` inside `properties`"
                    ));
                }
            }
            sink(EventBatch::new(project.clone(), events, rejections)).map_err(FileError::Sink)?;
        }
    }
    tracing::debug!(file = name, rows = summary.rows, "imported parquet file");
    Ok(summary)
}

/// `"{name}:rg{g}:row{r}"`, allocated once at its final size.
fn row_source(name: &str, g: usize, r: usize) -> String {
    let (mut gd, mut rd) = (itoa::Buffer::new(), itoa::Buffer::new());
    let (gd, rd) = (gd.format(g), rd.format(r));
    let mut s = String::with_capacity(name.len() + 7 + gd.len() + rd.len());
    s.push_str(name);
    s.push_str(":rg");
    s.push_str(gd);
    s.push_str(":row");
    s.push_str(rd);
    s
}

#[derive(Debug)]
struct Plan {
    distinct_id: usize,
    event: usize,
    timestamp: usize,
    uuid: Option<usize>,
    properties: Option<usize>,
    columns: Vec<(usize, String)>,
}

/// The arrays of one record batch, with dictionaries unpacked and the timestamp column normalised.
struct Columns<'a> {
    batch: &'a RecordBatch,
    arrays: Vec<ArrayRef>,
    /// Microseconds when the column is a temporal or integer type; `None` for text timestamps.
    ts_micros: Option<ArrayRef>,
}

impl<'a> Columns<'a> {
    fn new(batch: &'a RecordBatch, plan: &Plan) -> Result<Columns<'a>, arrow::error::ArrowError> {
        let mut arrays = Vec::with_capacity(batch.num_columns());
        for a in batch.columns() {
            arrays.push(match a.data_type() {
                DataType::Dictionary(_, value) => cast(a, value)?,
                _ => a.clone(),
            });
        }
        let ts = &arrays[plan.timestamp];
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        let ts_micros = match ts.data_type() {
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                Some(cast(ts, &micros)?)
            }
            t if t.is_integer() => {
                // Integers are epoch milliseconds (events.md §10.2).
                let ms = cast(ts, &DataType::Int64)?;
                let us = arrow::compute::kernels::numeric::mul(
                    &ms,
                    &arrow::array::Int64Array::new_scalar(1000),
                )?;
                Some(cast(&us, &micros)?)
            }
            _ => None,
        };
        Ok(Columns {
            batch,
            arrays,
            ts_micros,
        })
    }

    /// A text cell, borrowed; `None` when the cell is null or the column is not text.
    fn text(&self, col: usize, row: usize) -> Option<&str> {
        let a = self.arrays[col].as_ref();
        if a.is_null(row) {
            return None;
        }
        match a.data_type() {
            DataType::Utf8 => Some(a.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => Some(a.as_string::<i64>().value(row)),
            DataType::Utf8View => Some(a.as_string_view().value(row)),
            _ => None,
        }
    }

    fn cell(&self, col: usize, row: usize) -> Option<Value> {
        cell_value(self.arrays[col].as_ref(), row)
    }

    /// The row as a JSON object, standing in for raw bytes when the row is rejected.
    fn raw(&self, row: usize) -> String {
        let mut obj = Map::new();
        for (i, f) in self.batch.schema_ref().fields().iter().enumerate() {
            if let Some(v) = self.cell(i, row) {
                obj.insert(f.name().clone(), v);
            }
        }
        canonical_object(&obj)
    }
}

fn row(
    cols: &Columns<'_>,
    plan: &Plan,
    r: usize,
    collided: &[AtomicBool],
) -> Result<Draft, Reject> {
    let mut d = Draft::default();
    if let Some(v) = cols.cell(plan.distinct_id, r) {
        d.distinct_id = DistinctId::Raw(v, "distinct_id");
    }
    d.event = cols.cell(plan.event, r);
    d.uuid = plan.uuid.and_then(|c| cols.cell(c, r));
    d.timestamp = match &cols.ts_micros {
        Some(a) if a.is_null(r) => Ts::Absent,
        Some(a) => Ts::Micros(Timestamp(
            a.as_primitive::<TimestampMicrosecondType>().value(r),
        )),
        None => cols
            .cell(plan.timestamp, r)
            .map_or(Ts::Absent, |v| Ts::Value(v, "timestamp")),
    };
    if let Some(c) = plan.properties {
        if plan.columns.is_empty()
            && let Some(scanned) = cols.text(c, r).and_then(scan::scan_properties)
        {
            d.properties = scanned.read;
            d.canonical = Some(scanned.canonical);
            return Ok(d);
        }
        d.properties = match cols.cell(c, r) {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(Value::String(s)) => validate::properties_text(&s)?,
            Some(other) => {
                return Err(Reject::new(
                    RejectReason::InvalidProperties,
                    format!(
                        "`properties` must be an object, got {}",
                        validate::kind(&other)
                    ),
                ));
            }
        };
    }
    for (c, (i, name)) in plan.columns.iter().enumerate() {
        if let Some(v) = cols.cell(*i, r)
            && d.properties.insert(name.clone(), v).is_some()
        {
            collided[c].store(true, Ordering::Relaxed);
        }
    }
    Ok(d)
}

fn is_timestamp_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _)
            | DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    ) || t.is_integer()
        || matches!(t, DataType::Dictionary(_, v) if is_timestamp_type(v))
}

fn is_supported(t: &DataType) -> bool {
    match t {
        DataType::Null
        | DataType::Boolean
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _)
        | DataType::Decimal128(_, _) => true,
        t if t.is_integer() => true,
        DataType::List(f) | DataType::LargeList(f) => is_supported(f.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| is_supported(f.data_type())),
        DataType::Map(f, _) => is_supported(f.data_type()),
        DataType::Dictionary(_, v) => is_supported(v),
        _ => false,
    }
}

/// One cell as a JSON value; a null cell is absent.
fn cell_value(a: &dyn Array, i: usize) -> Option<Value> {
    if a.is_null(i) {
        return None;
    }
    let num = |n: Number| Some(Value::Number(n));
    match a.data_type() {
        DataType::Null => None,
        DataType::Boolean => Some(Value::Bool(a.as_boolean().value(i))),
        DataType::Int8 => num(a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => num(a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => num(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => num(a.as_primitive::<Int64Type>().value(i).into()),
        DataType::UInt8 => num(a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => num(a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => num(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => num(a.as_primitive::<UInt64Type>().value(i).into()),
        DataType::Float32 => {
            Number::from_f64(f64::from(a.as_primitive::<Float32Type>().value(i))).map(Value::Number)
        }
        DataType::Float64 => {
            Number::from_f64(a.as_primitive::<Float64Type>().value(i)).map(Value::Number)
        }
        DataType::Utf8 => Some(Value::String(a.as_string::<i32>().value(i).to_string())),
        DataType::LargeUtf8 => Some(Value::String(a.as_string::<i64>().value(i).to_string())),
        DataType::Utf8View => Some(Value::String(a.as_string_view().value(i).to_string())),
        DataType::Binary => Some(Value::String(
            String::from_utf8_lossy(a.as_binary::<i32>().value(i)).into_owned(),
        )),
        DataType::LargeBinary => Some(Value::String(
            String::from_utf8_lossy(a.as_binary::<i64>().value(i)).into_owned(),
        )),
        DataType::Decimal128(_, _) => {
            let d = a.as_primitive::<arrow::datatypes::Decimal128Type>();
            d.value_as_string(i).parse().ok().map(Value::Number)
        }
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => {
            let micros = cast(
                &a.slice(i, 1),
                &DataType::Timestamp(TimeUnit::Microsecond, None),
            )
            .ok()?;
            let us = micros.as_primitive::<TimestampMicrosecondType>().value(0);
            let text = format_ts(Timestamp(us));
            Some(Value::String(
                if matches!(a.data_type(), DataType::Date32) {
                    text[..10].to_string()
                } else {
                    text
                },
            ))
        }
        DataType::List(_) => list(a.as_list::<i32>().value(i).as_ref()),
        DataType::LargeList(_) => list(a.as_list::<i64>().value(i).as_ref()),
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let mut obj = Map::new();
            for (f, col) in fields.iter().zip(s.columns()) {
                if let Some(v) = cell_value(col.as_ref(), i) {
                    obj.insert(f.name().clone(), v);
                }
            }
            Some(Value::Object(obj))
        }
        DataType::Map(_, _) => {
            let entries = a.as_map().value(i);
            let mut obj = Map::new();
            for j in 0..entries.len() {
                let key = match cell_value(entries.column(0).as_ref(), j) {
                    Some(Value::String(s)) => s,
                    Some(other) => crate::canonical::canonical_json(&other),
                    None => continue,
                };
                obj.insert(
                    key,
                    cell_value(entries.column(1).as_ref(), j).unwrap_or(Value::Null),
                );
            }
            Some(Value::Object(obj))
        }
        DataType::Dictionary(_, value) => {
            let values = cast(&a.slice(i, 1), value).ok()?;
            cell_value(values.as_ref(), 0)
        }
        _ => None,
    }
}

fn list(items: &dyn Array) -> Option<Value> {
    Some(Value::Array(
        (0..items.len())
            .map(|j| cell_value(items, j).unwrap_or(Value::Null))
            .collect(),
    ))
}
