//! Segment files: immutable Parquet (zstd) files holding the events of one project and one UTC day.
//!
//! The layout is documented in `docs/formats/segment.md`. Rows are sorted by `(distinct_id, timestamp, uuid)` so
//! that one user's events are adjacent and the file bytes depend only on the set of events it holds.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, FixedSizeBinaryArray, FixedSizeBinaryBuilder,
    Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use model::{
    Digest, Event, EventText, Merge, MergeSource, Payment, PaymentKind, Timestamp, TypedProps, Uuid,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};

/// The segment format version written into every file's key-value metadata.
pub const SEGMENT_VERSION: u32 = 1;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// The Arrow field metadata key naming an extension type.
const UUID_EXTENSION_KEY: &str = "ARROW:extension:name";
/// Arrow's canonical UUID extension type, which the Parquet writer maps to Parquet's UUID logical type.
const UUID_EXTENSION: &str = "arrow.uuid";

/// The Arrow schema of a segment, in column order.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        // Arrow's canonical `arrow.uuid` extension: the Parquet writer annotates the column with Parquet's UUID
        // logical type, so DuckDB, Polars, PyArrow and ClickHouse read a UUID rather than 16 bytes of binary.
        Field::new("uuid", DataType::FixedSizeBinary(16), false).with_metadata(
            std::collections::HashMap::from([(
                UUID_EXTENSION_KEY.to_string(),
                UUID_EXTENSION.to_string(),
            )]),
        ),
        Field::new("distinct_id", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
        Field::new("timestamp", ts(), false),
        Field::new("properties", DataType::Utf8, false),
        Field::new("digest", DataType::FixedSizeBinary(32), false),
        Field::new("ai_model", DataType::Utf8, true),
        Field::new("ai_provider", DataType::Utf8, true),
        Field::new("ai_input_tokens", DataType::Int64, true),
        Field::new("ai_output_tokens", DataType::Int64, true),
        Field::new("ai_cache_read_tokens", DataType::Int64, true),
        Field::new("ai_cache_write_tokens", DataType::Int64, true),
        Field::new("ai_cost_nusd", DataType::Int64, true),
        Field::new("ai_usage_invalid", DataType::Boolean, false),
        Field::new("payment_amount_minor", DataType::Int64, true),
        Field::new("payment_currency", DataType::Utf8, true),
        Field::new("payment_kind", DataType::Utf8, true),
        Field::new("payment_tax_minor", DataType::Int64, true),
        Field::new("payment_fee_minor", DataType::Int64, true),
        Field::new("payment_product", DataType::Utf8, true),
        Field::new("payment_external_id", DataType::Utf8, true),
        Field::new("personless", DataType::Boolean, false),
        Field::new("merge_kept", DataType::Utf8, true),
        Field::new("merge_from", DataType::Utf8, true),
        Field::new("merge_source", DataType::Utf8, true),
        Field::new("received_at", ts(), false),
        Field::new("source", DataType::Utf8, false),
        Field::new("meta", DataType::Utf8, false),
    ]))
});

/// What a freshly written segment contains, for the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStats {
    /// Number of events.
    pub rows: u64,
    /// File size.
    pub size_bytes: u64,
    /// Earliest event time.
    pub min_ts: Timestamp,
    /// Latest event time.
    pub max_ts: Timestamp,
    /// Sum modulo 2²⁵⁶ of the event digests.
    pub digest_sum: Digest,
    /// Number of events that carry an identity merge.
    pub merges: u64,
}

/// Sorts of at least this many keys run on the thread pool.
pub(crate) const PAR_SORT_MIN: usize = 1 << 16;

/// Sorts events into segment order: `(distinct_id, timestamp, uuid)`.
pub fn sort_for_segment(events: &mut [&Event]) {
    // Compare strings only between distinct ids: number the unique ids in one pass over the events (in the order
    // they sit in memory), sort the unique ids, then sort the events by integer keys held side by side.
    let mut unique: rustc_hash::FxHashMap<&str, u32> = rustc_hash::FxHashMap::default();
    let slots: Vec<u32> = events
        .iter()
        .map(|e| {
            let next = unique.len() as u32;
            *unique.entry(e.distinct_id()).or_insert(next)
        })
        .collect();
    let mut ids: Vec<(&str, u32)> = unique.into_iter().collect();
    ids.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut rank = vec![0u32; ids.len()];
    for (r, (_, slot)) in ids.iter().enumerate() {
        rank[*slot as usize] = r as u32;
    }
    let mut keyed: Vec<(u32, i64, u128, &Event)> = events
        .iter()
        .zip(slots)
        .map(|(e, slot)| (rank[slot as usize], e.timestamp.0, e.uuid.as_u128(), *e))
        .collect();
    if keyed.len() >= PAR_SORT_MIN {
        rayon::slice::ParallelSliceMut::par_sort_unstable_by_key(&mut keyed[..], |k| {
            (k.0, k.1, k.2)
        });
    } else {
        keyed.sort_unstable_by_key(|k| (k.0, k.1, k.2));
    }
    for (slot, k) in events.iter_mut().zip(keyed) {
        *slot = k.3;
    }
}

/// Writes `events` (already in segment order) to a new file at `path`. The caller must fsync it before making it
/// visible.
///
/// # Errors
/// IO and Parquet errors, naming the file.
pub fn write(path: &Path, project: &str, day: &str, events: &[&Event]) -> Result<SegmentStats> {
    debug_assert!(events.windows(2).all(|w| {
        (w[0].distinct_id(), w[0].timestamp, w[0].uuid)
            <= (w[1].distinct_id(), w[1].timestamp, w[1].uuid)
    }));
    let file = File::create(path).map_err(Error::io(path))?;
    let mut stats = SegmentStats {
        rows: events.len() as u64,
        size_bytes: 0,
        min_ts: Timestamp(i64::MAX),
        max_ts: Timestamp(i64::MIN),
        digest_sum: Digest::default(),
        merges: 0,
    };
    for e in events {
        stats.min_ts = stats.min_ts.min(e.timestamp);
        stats.max_ts = stats.max_ts.max(e.timestamp);
        stats.digest_sum.add_mod(&e.digest);
        stats.merges += u64::from(e.merge.is_some());
    }
    let kv = |k: &str, v: String| KeyValue {
        key: k.to_string(),
        value: Some(v),
    };
    let props = writer_properties(vec![
        kv("liucun.segment.version", SEGMENT_VERSION.to_string()),
        kv("liucun.project", project.to_string()),
        kv("liucun.day", day.to_string()),
        kv("liucun.digest_sum", stats.digest_sum.to_hex()),
        kv(MERGES_KEY, encode_merges(events)),
    ]);
    let mut writer =
        ArrowWriter::try_new(file, schema(), Some(props)).map_err(Error::parquet(path))?;
    for chunk in events.chunks(ROW_GROUP_ROWS) {
        let batch = to_record_batch(chunk).map_err(Error::parquet(path))?;
        writer.write(&batch).map_err(Error::parquet(path))?;
    }
    let file = writer.into_inner().map_err(Error::parquet(path))?;
    // Not fsynced here: the store fsyncs every new file of a flush together, before the manifest commit.
    stats.size_bytes = file.metadata().map_err(Error::io(path))?.len();
    Ok(stats)
}

/// The Parquet writer settings of a segment, with `metadata` as its key-value metadata: zstd level 1, row groups of
/// 256Ki rows, and dictionaries and statistics only on the columns that gain from them.
pub fn writer_properties(metadata: Vec<KeyValue>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 is valid"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Dictionaries and statistics pay off only on columns with few values or that readers prune on; on
        // unique text (properties, source, meta) they cost most of the write time for nothing.
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_key_value_metadata(Some(metadata))
        .set_column_dictionary_enabled(ColumnPath::from("distinct_id"), true)
        .set_column_dictionary_enabled(ColumnPath::from("event"), true)
        .set_column_dictionary_enabled(ColumnPath::from("ai_model"), true)
        .set_column_dictionary_enabled(ColumnPath::from("ai_provider"), true)
        .set_column_dictionary_enabled(ColumnPath::from("payment_currency"), true)
        .set_column_dictionary_enabled(ColumnPath::from("payment_kind"), true)
        .set_column_dictionary_enabled(ColumnPath::from("merge_source"), true)
        .set_column_statistics_enabled(ColumnPath::from("timestamp"), EnabledStatistics::Chunk)
        .set_column_statistics_enabled(ColumnPath::from("event"), EnabledStatistics::Chunk)
        .build()
}

fn to_record_batch(
    events: &[&Event],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    // One pass over the events filling every column: events are large and scattered, so one visit each is what
    // keeps this cheap.
    let n = events.len();
    // Buffer sizes come from the lengths each event holds inline, without a visit to its text.
    let mut bytes = [0usize; 5];
    for e in events {
        for (total, len) in bytes.iter_mut().zip(e.text.lens()) {
            *total += len;
        }
    }
    let text = |i: usize| StringBuilder::with_capacity(n, bytes[i]);
    let small = || StringBuilder::with_capacity(n, n * 4);
    let (mut uuid, mut digest) = (
        FixedSizeBinaryBuilder::with_capacity(n, 16),
        FixedSizeBinaryBuilder::with_capacity(n, 32),
    );
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut received = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut usage_invalid, mut personless) = (
        BooleanBuilder::with_capacity(n),
        BooleanBuilder::with_capacity(n),
    );
    let [
        mut distinct_id,
        mut event,
        mut properties,
        mut source,
        mut meta,
    ] = std::array::from_fn(text);
    let (mut ai_model, mut ai_provider) = (small(), small());
    let mut ints: [Int64Builder; 9] = std::array::from_fn(|_| Int64Builder::with_capacity(n));
    let (mut p_currency, mut p_kind, mut p_product, mut p_ext) =
        (small(), small(), small(), small());
    let (mut m_kept, mut m_from, mut m_source) = (small(), small(), small());
    for e in events {
        uuid.append_value(e.uuid.0)?;
        digest.append_value(e.digest.0)?;
        ts.append_value(e.timestamp.0);
        received.append_value(e.received_at.0);
        usage_invalid.append_value(e.typed.ai_usage_invalid);
        personless.append_value(e.typed.personless);
        distinct_id.append_value(e.distinct_id());
        event.append_value(e.event());
        properties.append_value(e.properties());
        source.append_value(e.source());
        meta.append_value(e.meta());
        ai_model.append_option(e.typed.ai_model.as_deref());
        ai_provider.append_option(e.typed.ai_provider.as_deref());
        let t = &e.typed;
        let pay = t.payment.as_ref();
        for (b, v) in ints.iter_mut().zip([
            t.ai_input_tokens,
            t.ai_output_tokens,
            t.ai_cache_read_tokens,
            t.ai_cache_write_tokens,
            t.ai_cost_nusd,
            pay.map(|p| p.amount_minor),
            pay.map(|p| p.tax_minor),
            pay.map(|p| p.fee_minor),
            None,
        ]) {
            b.append_option(v);
        }
        p_currency.append_option(pay.map(|p| p.currency.as_str()));
        p_kind.append_option(pay.map(|p| p.kind.as_str()));
        p_product.append_option(pay.and_then(|p| p.product.as_deref()));
        p_ext.append_option(pay.and_then(|p| p.external_id.as_deref()));
        let merge = e.merge.as_ref();
        m_kept.append_option(merge.map(|m| m.kept.as_str()));
        m_from.append_option(merge.map(|m| m.merged.as_str()));
        m_source.append_option(merge.map(|m| m.source.as_str()));
    }
    let [
        mut input,
        mut output,
        mut cache_read,
        mut cache_write,
        mut cost,
        mut amount,
        mut tax,
        mut fee,
        _,
    ] = ints;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(uuid.finish()),
        Arc::new(distinct_id.finish()),
        Arc::new(event.finish()),
        Arc::new(ts.finish()),
        Arc::new(properties.finish()),
        Arc::new(digest.finish()),
        Arc::new(ai_model.finish()),
        Arc::new(ai_provider.finish()),
        Arc::new(input.finish()),
        Arc::new(output.finish()),
        Arc::new(cache_read.finish()),
        Arc::new(cache_write.finish()),
        Arc::new(cost.finish()),
        Arc::new(usage_invalid.finish()),
        Arc::new(amount.finish()),
        Arc::new(p_currency.finish()),
        Arc::new(p_kind.finish()),
        Arc::new(tax.finish()),
        Arc::new(fee.finish()),
        Arc::new(p_product.finish()),
        Arc::new(p_ext.finish()),
        Arc::new(personless.finish()),
        Arc::new(m_kept.finish()),
        Arc::new(m_from.finish()),
        Arc::new(m_source.finish()),
        Arc::new(received.finish()),
        Arc::new(source.finish()),
        Arc::new(meta.finish()),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// Reads every event of a segment back, in file order.
///
/// # Errors
/// IO and Parquet errors; [`Error::Corruption`] when a column has the wrong type or an impossible value.
pub fn read(path: &Path) -> Result<Vec<Event>> {
    let mut out = Vec::new();
    visit_in_batches(path, 64 * 1024, |e| out.push(e))?;
    Ok(out)
}

/// Visits every event of a segment in file order, decoding a few thousand at a time: memory follows the caller's
/// use of the events, not the segment's size.
///
/// # Errors
/// As [`read`]; events before the error have been visited.
pub fn for_each(path: &Path, visit: impl FnMut(Event)) -> Result<()> {
    visit_in_batches(path, 8 * 1024, visit)
}

fn visit_in_batches(path: &Path, batch_rows: usize, mut visit: impl FnMut(Event)) -> Result<()> {
    let file = File::open(path).map_err(Error::io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(Error::parquet(path))?
        .with_batch_size(batch_rows)
        .build()
        .map_err(Error::parquet(path))?;
    let mut decoded = Vec::new();
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        decode_batch(path, &batch, &mut decoded)?;
        decoded.drain(..).for_each(&mut visit);
    }
    Ok(())
}

/// Reads only the `uuid` and `digest` columns, for deduplication.
///
/// # Errors
/// IO, Parquet and type errors, naming the file.
pub fn read_keys(path: &Path) -> Result<Vec<(Uuid, Digest)>> {
    let reader = projected(path, &["uuid", "digest"], None)?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        let uuids = column::<FixedSizeBinaryArray>(path, &batch, "uuid")?;
        let digests = column::<FixedSizeBinaryArray>(path, &batch, "digest")?;
        for i in 0..batch.num_rows() {
            out.push((
                Uuid(fixed(path, uuids.value(i))?),
                Digest(fixed(path, digests.value(i))?),
            ));
        }
    }
    Ok(out)
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::Corruption {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    }
}

fn column<'a, T: 'static>(path: &Path, batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            corrupt(
                path,
                format!("column {name} is missing or has the wrong type"),
            )
        })
}

fn fixed<const N: usize>(path: &Path, bytes: &[u8]) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| corrupt(path, format!("expected {N} bytes, found {}", bytes.len())))
}

fn decode_batch(path: &Path, batch: &RecordBatch, out: &mut Vec<Event>) -> Result<()> {
    let uuid = column::<FixedSizeBinaryArray>(path, batch, "uuid")?;
    let digest = column::<FixedSizeBinaryArray>(path, batch, "digest")?;
    let s = |name: &str| column::<StringArray>(path, batch, name);
    let i = |name: &str| column::<Int64Array>(path, batch, name);
    let b = |name: &str| column::<BooleanArray>(path, batch, name);
    let t = |name: &str| column::<TimestampMicrosecondArray>(path, batch, name);
    let (distinct_id, event, properties, source, meta) = (
        s("distinct_id")?,
        s("event")?,
        s("properties")?,
        s("source")?,
        s("meta")?,
    );
    let (timestamp, received_at) = (t("timestamp")?, t("received_at")?);
    let (ai_model, ai_provider) = (s("ai_model")?, s("ai_provider")?);
    let (ai_in, ai_out, ai_cr, ai_cw, ai_cost) = (
        i("ai_input_tokens")?,
        i("ai_output_tokens")?,
        i("ai_cache_read_tokens")?,
        i("ai_cache_write_tokens")?,
        i("ai_cost_nusd")?,
    );
    let (ai_usage_invalid, personless) = (b("ai_usage_invalid")?, b("personless")?);
    let (p_amount, p_currency, p_kind, p_tax, p_fee, p_product, p_ext) = (
        i("payment_amount_minor")?,
        s("payment_currency")?,
        s("payment_kind")?,
        i("payment_tax_minor")?,
        i("payment_fee_minor")?,
        s("payment_product")?,
        s("payment_external_id")?,
    );
    let (m_kept, m_from, m_source) = (s("merge_kept")?, s("merge_from")?, s("merge_source")?);
    let opt_s = |a: &StringArray, r: usize| (!a.is_null(r)).then(|| a.value(r).to_string());
    let opt_i = |a: &Int64Array, r: usize| (!a.is_null(r)).then(|| a.value(r));
    for r in 0..batch.num_rows() {
        let payment = if p_amount.is_null(r) {
            None
        } else {
            let kind = PaymentKind::parse(p_kind.value(r)).ok_or_else(|| {
                corrupt(
                    path,
                    format!("row {r}: unknown payment kind {:?}", p_kind.value(r)),
                )
            })?;
            Some(Box::new(Payment {
                amount_minor: p_amount.value(r),
                currency: p_currency.value(r).to_string(),
                kind,
                tax_minor: p_tax.value(r),
                fee_minor: p_fee.value(r),
                product: opt_s(p_product, r),
                external_id: opt_s(p_ext, r),
            }))
        };
        let merge = if m_kept.is_null(r) {
            None
        } else {
            let source = MergeSource::parse(m_source.value(r)).ok_or_else(|| {
                corrupt(
                    path,
                    format!("row {r}: unknown merge source {:?}", m_source.value(r)),
                )
            })?;
            Some(Box::new(Merge {
                kept: m_kept.value(r).to_string(),
                merged: m_from.value(r).to_string(),
                source,
            }))
        };
        out.push(Event {
            uuid: Uuid(fixed(path, uuid.value(r))?),
            timestamp: Timestamp(timestamp.value(r)),
            digest: Digest(fixed(path, digest.value(r))?),
            typed: TypedProps {
                ai_model: opt_s(ai_model, r),
                ai_provider: opt_s(ai_provider, r),
                ai_input_tokens: opt_i(ai_in, r),
                ai_output_tokens: opt_i(ai_out, r),
                ai_cache_read_tokens: opt_i(ai_cr, r),
                ai_cache_write_tokens: opt_i(ai_cw, r),
                ai_cost_nusd: opt_i(ai_cost, r),
                ai_usage_invalid: ai_usage_invalid.value(r),
                payment,
                personless: personless.value(r),
            },
            merge,
            received_at: Timestamp(received_at.value(r)),
            text: EventText::new(
                distinct_id.value(r),
                event.value(r),
                properties.value(r),
                source.value(r),
                meta.value(r),
            ),
        });
    }
    Ok(())
}

/// An identity merge as stored in a segment row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRow {
    /// The event that asked for the merge.
    pub uuid: Uuid,
    /// Its time; merges apply in `(timestamp, uuid)` order.
    pub timestamp: Timestamp,
    /// What was asked.
    pub merge: Merge,
}

/// Reads the rows of a segment that carry an identity merge (only the columns needed).
///
/// # Errors
/// IO, Parquet and type errors, naming the file.
pub fn read_merges(path: &Path) -> Result<Vec<MergeRow>> {
    let file = File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(path))?;
    let kv = builder.metadata().file_metadata().key_value_metadata();
    match kv
        .and_then(|kv| kv.iter().find(|k| k.key == MERGES_KEY))
        .and_then(|k| k.value.as_deref())
    {
        Some(text) => decode_merges(path, text),
        None => read_merge_columns(path),
    }
}

/// Opens a segment for reading only `columns` (and, when given, only the rows `filter` keeps).
fn projected(
    path: &Path,
    columns: &[&str],
    filter: Option<parquet::arrow::arrow_reader::RowFilter>,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let file = File::open(path).map_err(Error::io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(path))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let builder = match filter {
        Some(f) => builder.with_row_filter(f),
        None => builder,
    };
    builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(Error::parquet(path))
}

/// Key-value metadata key holding a segment's merge rows, so the identity map is built without scanning rows.
const MERGES_KEY: &str = "liucun.merges";

/// Merge rows as a JSON array of `[uuid hex, timestamp µs, source, kept, merged]`.
fn encode_merges(events: &[&Event]) -> String {
    let rows: Vec<serde_json::Value> = events
        .iter()
        .filter_map(|e| {
            let m = e.merge.as_ref()?;
            Some(serde_json::json!([
                format!("{:032x}", e.uuid.as_u128()),
                e.timestamp.0,
                m.source.as_str(),
                m.kept,
                m.merged
            ]))
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

fn decode_merges(path: &Path, text: &str) -> Result<Vec<MergeRow>> {
    type Row = (String, i64, String, String, String);
    let rows: Vec<Row> = serde_json::from_str(text).map_err(|e| {
        corrupt(
            path,
            format!("merge rows in the footer cannot be read: {e}"),
        )
    })?;
    rows.into_iter()
        .enumerate()
        .map(|(n, (uuid, ts, source, kept, merged))| {
            let bad = || corrupt(path, format!("merge row {n} in the footer cannot be read"));
            let uuid = u128::from_str_radix(&uuid, 16).map_err(|_| bad())?;
            let source = MergeSource::parse(&source).ok_or_else(bad)?;
            Ok(MergeRow {
                uuid: Uuid(uuid.to_be_bytes()),
                timestamp: Timestamp(ts),
                merge: Merge {
                    kept,
                    merged,
                    source,
                },
            })
        })
        .collect()
}

/// Reads merge rows from the columns (segments written without the footer key).
fn read_merge_columns(path: &Path) -> Result<Vec<MergeRow>> {
    use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};

    // Few rows carry a merge: decide on the (mostly null) merge_kept column first, so the other columns are
    // decoded only for those rows.
    let file = File::open(path).map_err(Error::io(path))?;
    let schema = ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(path))?;
    let kept_only = ProjectionMask::columns(schema.parquet_schema(), ["merge_kept"]);
    let has_merge = ArrowPredicateFn::new(kept_only, |batch: RecordBatch| {
        let col = batch.column(0);
        Ok(BooleanArray::from_iter(
            (0..batch.num_rows()).map(|i| Some(col.is_valid(i))),
        ))
    });
    let reader = projected(
        path,
        &[
            "uuid",
            "timestamp",
            "merge_kept",
            "merge_from",
            "merge_source",
        ],
        Some(RowFilter::new(vec![Box::new(has_merge)])),
    )?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        let uuid = column::<FixedSizeBinaryArray>(path, &batch, "uuid")?;
        let ts = column::<TimestampMicrosecondArray>(path, &batch, "timestamp")?;
        let kept = column::<StringArray>(path, &batch, "merge_kept")?;
        let from = column::<StringArray>(path, &batch, "merge_from")?;
        let source = column::<StringArray>(path, &batch, "merge_source")?;
        for r in 0..batch.num_rows() {
            if kept.is_null(r) {
                continue;
            }
            let src = MergeSource::parse(source.value(r)).ok_or_else(|| {
                corrupt(
                    path,
                    format!("row {r}: unknown merge source {:?}", source.value(r)),
                )
            })?;
            out.push(MergeRow {
                uuid: Uuid(fixed(path, uuid.value(r))?),
                timestamp: Timestamp(ts.value(r)),
                merge: Merge {
                    kept: kept.value(r).to_string(),
                    merged: from.value(r).to_string(),
                    source: src,
                },
            });
        }
    }
    Ok(out)
}

/// Reads the distinct ids of a segment (for counting users in `inspect`).
///
/// # Errors
/// IO, Parquet and type errors, naming the file.
pub fn read_distinct_ids(path: &Path) -> Result<Vec<String>> {
    let reader = projected(path, &["distinct_id"], None)?;
    let mut out: Vec<String> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        let ids = column::<StringArray>(path, &batch, "distinct_id")?;
        for r in 0..batch.num_rows() {
            // Rows are sorted by distinct id, so a user's rows are adjacent.
            if out.last().is_none_or(|l| l != ids.value(r)) {
                out.push(ids.value(r).to_string());
            }
        }
    }
    Ok(out)
}

/// Calls `f` with each run of rows sharing one distinct id, in row order (rows are sorted by distinct id, so each
/// id of the segment makes one run).
///
/// # Errors
/// IO, Parquet and type errors, naming the file.
pub fn for_each_distinct_run(path: &Path, mut f: impl FnMut(&str, u32)) -> Result<()> {
    let reader = projected(path, &["distinct_id"], None)?;
    let mut last: Option<(String, u32)> = None;
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        let ids = column::<StringArray>(path, &batch, "distinct_id")?;
        for r in 0..batch.num_rows() {
            let id = ids.value(r);
            match &mut last {
                Some((l, n)) if l == id => *n += 1,
                _ => {
                    if let Some((l, n)) = last.take() {
                        f(&l, n);
                    }
                    last = Some((id.to_string(), 1));
                }
            }
        }
    }
    if let Some((l, n)) = last {
        f(&l, n);
    }
    Ok(())
}

/// Which optional columns a scan reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanWant<'a> {
    /// Read `properties`.
    pub properties: bool,
    /// With `properties`: keep them only for events with these names (sorted); the others get an empty text.
    /// `None` keeps every event's.
    pub property_events: Option<&'a [String]>,
    /// Read `uuid` (otherwise `ScanChunk::uuid` is empty).
    pub uuid: bool,
    /// Read the payment columns (otherwise `ScanChunk::payments` is empty).
    pub payments: bool,
    /// Leave out `distinct_id` (`ScanChunk::distinct_ids` and `distinct_key` stay empty), for a reader that knows
    /// each row's person from the segment's dense-id runs.
    pub skip_distinct_ids: bool,
}

/// The payment of a `payment` event as stored (events.md §7): minor units of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPayment {
    /// Gross amount including tax.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `new`, `renewal`, `one_time`, `usage`, `refund` or `chargeback`.
    pub kind: String,
    /// Tax contained in the amount.
    pub tax_minor: i64,
    /// Processor or store fee.
    pub fee_minor: i64,
}

/// The dictionary of a text column, borrowed from the decoded Parquet page without copying its strings.
#[derive(Debug, Clone)]
pub struct TextDict(StringArray);

impl Default for TextDict {
    fn default() -> Self {
        TextDict(StringArray::from(Vec::<&str>::new()))
    }
}

impl TextDict {
    /// The value with key `k`.
    pub fn get(&self, k: usize) -> &str {
        self.0.value(k)
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `other` is the very same dictionary (the same decoded buffers), as for two batches of one row group.
    pub fn is_same(&self, other: &TextDict) -> bool {
        self.0.len() == other.0.len()
            && self.0.offsets().inner().inner().as_ptr()
                == other.0.offsets().inner().inner().as_ptr()
            && self.0.values().as_ptr() == other.0.values().as_ptr()
    }
}

/// A chunk of scanned events. Text columns come dictionary-encoded, so a caller maps each distinct value once.
#[derive(Debug, Clone, Default)]
pub struct ScanChunk {
    /// Event uuids as big-endian integers.
    pub uuid: Vec<u128>,
    /// Event times, UTC µs.
    pub ts: Vec<i64>,
    /// Distinct values of `distinct_id` in this chunk (shared with other chunks of the same row group).
    pub distinct_ids: TextDict,
    /// Per event, an index into `distinct_ids`.
    pub distinct_key: Vec<u32>,
    /// Distinct event names in this chunk.
    pub names: Vec<String>,
    /// Per event, an index into `names`.
    pub name_key: Vec<u32>,
    /// `$process_person_profile: false`.
    pub personless: Vec<bool>,
    /// Properties JSON per event, when asked for.
    pub properties: Vec<String>,
    /// The payments among the events, when asked for: (index of the event in the chunk, its payment), in event
    /// order. Payments are few, so they are kept apart rather than as one entry per event.
    pub payments: Vec<(u32, ScanPayment)>,
    /// Per row, how many events it stands for; empty when each row is one event. Only rows built from a segment's
    /// activity by hour weigh more (docs/formats/ids.md).
    pub weight: Vec<u32>,
}

/// Reads the columns reports need, with text columns kept dictionary-encoded.
///
/// # Errors
/// IO, Parquet and type errors, naming the file.
pub fn scan(path: &Path, want: ScanWant<'_>) -> Result<Vec<ScanChunk>> {
    use arrow::array::DictionaryArray;
    use arrow::datatypes::Int32Type;
    use parquet::arrow::arrow_reader::ArrowReaderOptions;

    let dict = |f: &Field| -> Field {
        if f.name() == "distinct_id" || f.name() == "event" {
            Field::new(
                f.name(),
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            )
        } else {
            f.clone()
        }
    };
    let hinted = Arc::new(Schema::new(
        schema()
            .fields()
            .iter()
            .map(|f| dict(f))
            .collect::<Vec<_>>(),
    ));
    let file = File::open(path).map_err(Error::io(path))?;
    let options = ArrowReaderOptions::new().with_schema(hinted);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
        .map_err(Error::parquet(path))?;
    let mut cols = vec!["event", "timestamp", "personless"];
    if !want.skip_distinct_ids {
        cols.push("distinct_id");
    }
    if want.uuid {
        cols.push("uuid");
    }
    if want.properties {
        cols.push("properties");
    }
    if want.payments {
        cols.extend([
            "payment_amount_minor",
            "payment_currency",
            "payment_kind",
            "payment_tax_minor",
            "payment_fee_minor",
        ]);
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), cols);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(128 * 1024)
        .build()
        .map_err(Error::parquet(path))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        let ts = column::<TimestampMicrosecondArray>(path, &batch, "timestamp")?;
        let personless = column::<BooleanArray>(path, &batch, "personless")?;
        let ev = column::<DictionaryArray<Int32Type>>(path, &batch, "event")?;
        let text =
            |d: &DictionaryArray<Int32Type>, name: &str| -> Result<(StringArray, Vec<u32>)> {
                let values = d
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| corrupt(path, format!("column {name} is not text")))?
                    .clone();
                let keys = d.keys().values().iter().map(|&k| k as u32).collect();
                Ok((values, keys))
            };
        let (distinct_values, distinct_key) = if want.skip_distinct_ids {
            (StringArray::from(Vec::<&str>::new()), Vec::new())
        } else {
            let did = column::<DictionaryArray<Int32Type>>(path, &batch, "distinct_id")?;
            text(did, "distinct_id")?
        };
        let (name_values, name_key) = text(ev, "event")?;
        let distinct_ids = TextDict(distinct_values);
        let names: Vec<String> = (0..name_values.len())
            .map(|i| name_values.value(i).to_string())
            .collect();
        let mut chunk = ScanChunk {
            uuid: Vec::with_capacity(batch.num_rows()),
            ts: ts.values().to_vec(),
            distinct_ids,
            distinct_key,
            names,
            name_key,
            personless: (0..batch.num_rows()).map(|i| personless.value(i)).collect(),
            properties: Vec::new(),
            payments: Vec::new(),
            weight: Vec::new(),
        };
        if want.payments {
            let amount = column::<Int64Array>(path, &batch, "payment_amount_minor")?;
            let currency = column::<StringArray>(path, &batch, "payment_currency")?;
            let kind = column::<StringArray>(path, &batch, "payment_kind")?;
            let tax = column::<Int64Array>(path, &batch, "payment_tax_minor")?;
            let fee = column::<Int64Array>(path, &batch, "payment_fee_minor")?;
            chunk.payments = (0..batch.num_rows())
                .filter(|&i| !amount.is_null(i) && !currency.is_null(i))
                .map(|i| {
                    (
                        i as u32,
                        ScanPayment {
                            amount_minor: amount.value(i),
                            currency: currency.value(i).to_string(),
                            kind: if kind.is_null(i) {
                                "one_time".to_string()
                            } else {
                                kind.value(i).to_string()
                            },
                            tax_minor: if tax.is_null(i) { 0 } else { tax.value(i) },
                            fee_minor: if fee.is_null(i) { 0 } else { fee.value(i) },
                        },
                    )
                })
                .collect();
        }
        if want.uuid {
            let raw = column::<FixedSizeBinaryArray>(path, &batch, "uuid")?.value_data();
            if raw.len() != batch.num_rows() * 16 {
                return Err(corrupt(path, "uuid column has the wrong width".into()));
            }
            chunk.uuid.extend(
                raw.chunks_exact(16)
                    .map(|c| u128::from_be_bytes(c.try_into().expect("16 bytes"))),
            );
        }
        if want.properties {
            let props = column::<StringArray>(path, &batch, "properties")?;
            let kept: Vec<bool> = chunk
                .names
                .iter()
                .map(|n| {
                    want.property_events
                        .is_none_or(|e| e.binary_search(n).is_ok())
                })
                .collect();
            chunk.properties = (0..batch.num_rows())
                .map(|i| match kept[chunk.name_key[i] as usize] {
                    true => props.value(i).to_string(),
                    false => String::new(),
                })
                .collect();
        }
        out.push(chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use model::{Digest, Event, Merge, MergeSource, Timestamp, TypedProps, Uuid};

    use super::*;

    fn event(n: u8, merge: Option<Merge>) -> Event {
        Event {
            uuid: Uuid([n; 16]),
            timestamp: Timestamp(1_740_000_000_000_000 + i64::from(n)),
            digest: Digest([n; 32]),
            typed: TypedProps::default(),
            merge: merge.map(Box::new),
            received_at: Timestamp(0),
            text: EventText::new(&format!("user\n\u{1f}{n}"), "$identify", "{}", "t:1", "{}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn segment_order_is_distinct_id_then_time_then_uuid(
            rows in proptest::collection::vec((0u8..6, 0i64..4, proptest::prelude::any::<u8>()), 0..200)
        ) {
            // Few ids, times and uuids, so that ties on each key are common; ids share prefixes and differ in
            // length.
            let ids = ["u", "u1", "u10", "u2", "anon-0123456789abcdef0", "anon-0123456789abcdef1"];
            let events: Vec<Event> = rows
                .iter()
                .map(|&(id, ts, u)| {
                    let mut e = event(u, None);
                    e.text = EventText::new(ids[id as usize], e.event(), e.properties(), e.source(), e.meta());
                    e.timestamp = Timestamp(ts);
                    e
                })
                .collect();
            let mut sorted: Vec<&Event> = events.iter().collect();
            sort_for_segment(&mut sorted);
            let mut expected: Vec<&Event> = events.iter().collect();
            expected.sort_by(|a, b| {
                (a.distinct_id(), a.timestamp, a.uuid).cmp(&(b.distinct_id(), b.timestamp, b.uuid))
            });
            let key = |e: &&Event| (e.distinct_id().to_string(), e.timestamp, e.uuid);
            proptest::prop_assert_eq!(
                sorted.iter().map(key).collect::<Vec<_>>(),
                expected.iter().map(key).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn footer_merges_match_the_merge_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.parquet");
        let m = |k: &str, a: &str| {
            Some(Merge {
                kept: k.into(),
                merged: a.into(),
                source: MergeSource::Identify,
            })
        };
        let events = [
            event(1, m("u\"1", "a\n1")),
            event(2, None),
            event(3, m("u3", "a3")),
        ];
        let refs: Vec<&Event> = events.iter().collect();
        let stats = write(&path, "p", "2025-02-19", &refs).unwrap();
        assert_eq!(stats.merges, 2);
        let footer = read_merges(&path).unwrap();
        assert_eq!(footer, read_merge_columns(&path).unwrap());
        assert_eq!(footer.len(), 2);
        assert_eq!(footer[0].merge.merged, "a\n1");
        assert_eq!(read(&path).unwrap(), events.to_vec());
    }

    #[test]
    fn issue_17_the_uuid_column_is_a_parquet_uuid_and_segments_without_it_still_read() {
        use parquet::basic::LogicalType;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let tmp = tempfile::tempdir().unwrap();
        let events: Vec<Event> = (1..=3).map(|n| event(n, None)).collect();
        let refs: Vec<&Event> = events.iter().collect();
        let path = tmp.path().join("new.parquet");
        write(&path, "chat", "2025-02-19", &refs).unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let column = reader.metadata().file_metadata().schema_descr().column(0);
        assert_eq!(column.name(), "uuid");
        assert_eq!(column.logical_type_ref(), Some(&LogicalType::Uuid));
        assert_eq!(read(&path).unwrap(), events);

        // A segment written before the annotation: the same column as plain 16-byte binary.
        let old = tmp.path().join("old.parquet");
        let plain = Arc::new(Schema::new(
            schema()
                .fields()
                .iter()
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_metadata(std::collections::HashMap::new())
                })
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            plain.clone(),
            to_record_batch(&refs).unwrap().columns().to_vec(),
        )
        .unwrap();
        let mut writer = ArrowWriter::try_new(File::create(&old).unwrap(), plain, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(File::open(&old).unwrap()).unwrap();
        let column = reader.metadata().file_metadata().schema_descr().column(0);
        assert_eq!(column.logical_type_ref(), None);
        assert_eq!(read(&old).unwrap(), events);
        let keys = read_keys(&old).unwrap();
        assert_eq!(keys.len(), 3);
        let want = ScanWant {
            uuid: true,
            ..ScanWant::default()
        };
        let chunks = scan(&old, want).unwrap();
        assert_eq!(chunks.iter().map(|c| c.uuid.len()).sum::<usize>(), 3);
    }
}
