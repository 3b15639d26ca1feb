//! Costing records cached beside a segment (docs/formats/costs.md): per row of one immutable segment, which cost key
//! and what amount one set of price tables gives its AI events. They are derived data: a report that finds them
//! reads two integer columns instead of every AI event's properties, and a missing, stale or unreadable file is
//! simply derived again.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, Int32Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use model::{CostKey, RowCosts};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file format's version; a file of another version is derived again.
const FORMAT: u32 = 1;
/// The footer key holding [`Header`].
const HEADER_KEY: &str = "liucun.costs";

/// What a costs file was derived from: a file whose header differs from the one a reader expects is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The segment's `digest_sum` in the manifest.
    pub segment_digest: String,
    /// The segment's row count.
    pub rows: u64,
    /// The digest of the costing (price tables, options and rules).
    pub pricing: String,
}

/// One cost key as the header stores it.
type KeyRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    segment_digest: String,
    rows: u64,
    pricing: String,
    /// (source, currency, model, version, reason, partial) per key.
    keys: Vec<KeyRow>,
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Int32, true),
        Field::new("nano", DataType::Int64, true),
        Field::new("nano_high", DataType::Int64, true),
    ]))
}

/// An amount as the file stores it: the low 64 bits, and the high 64 bits only when the amount does not fit an
/// `i64` (almost never, so that column is almost all nulls and costs nothing to read).
fn split(n: i128) -> (i64, Option<i64>) {
    match i64::try_from(n) {
        Ok(v) => (v, None),
        Err(_) => (n as u64 as i64, Some((n >> 64) as i64)),
    }
}

fn join(low: i64, high: Option<i64>) -> i128 {
    match high {
        None => i128::from(low),
        Some(h) => (i128::from(h) << 64) | i128::from(low as u64),
    }
}

/// Writes the costs of one segment's rows to `path`: a temporary file renamed over it, so readers see a whole file
/// or none. Not fsynced: a file lost or torn in a crash is derived again.
///
/// # Errors
/// IO and Parquet errors, naming the file.
pub fn write(path: &Path, source: &Source, costs: &RowCosts) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    if costs.key.len() as u64 != source.rows || costs.nano.len() != costs.key.len() {
        return Err(Error::Corruption {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!(
                "{} costs for a segment of {} rows",
                costs.key.len(),
                source.rows
            ),
        });
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let header = Header {
        format: FORMAT,
        segment_digest: source.segment_digest.clone(),
        rows: source.rows,
        pricing: source.pricing.clone(),
        keys: costs
            .keys
            .iter()
            .map(|k| {
                (
                    k.source.clone(),
                    k.currency.clone(),
                    k.model.clone(),
                    k.version.clone(),
                    k.reason.clone(),
                    k.partial,
                )
            })
            .collect(),
    };
    let header = serde_json::to_string(&header).map_err(|e| Error::Corruption {
        path: path.to_path_buf(),
        offset: 0,
        reason: e.to_string(),
    })?;
    let key: Int32Array = costs
        .key
        .iter()
        .map(|&k| (k != RowCosts::NONE).then_some(k as i32))
        .collect();
    let parts: Vec<Option<(i64, Option<i64>)>> = costs
        .key
        .iter()
        .zip(&costs.nano)
        .map(|(&k, &n)| (k != RowCosts::NONE).then(|| split(n)))
        .collect();
    let nano: Int64Array = parts.iter().map(|p| p.map(|(low, _)| low)).collect();
    let high: Int64Array = parts.iter().map(|p| p.and_then(|(_, h)| h)).collect();
    let batch = RecordBatch::try_new(
        schema(),
        vec![Arc::new(key), Arc::new(nano), Arc::new(high)],
    )
    .map_err(Error::parquet(path))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(vec![KeyValue::new(HEADER_KEY.to_string(), header)]))
        .build();
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| -> Result<()> {
        let file = File::create(&tmp).map_err(Error::io(&tmp))?;
        let mut w =
            ArrowWriter::try_new(file, schema(), Some(props)).map_err(Error::parquet(&tmp))?;
        w.write(&batch).map_err(Error::parquet(&tmp))?;
        w.close().map_err(Error::parquet(&tmp))?;
        std::fs::rename(&tmp, path).map_err(Error::io(path))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Reads the costs at `path` when they were derived from `source`: `Ok(None)` when the file is missing or stale.
///
/// # Errors
/// IO and Parquet errors and malformed files, naming the file (the caller derives the costs again).
pub fn read(path: &Path, source: &Source) -> Result<Option<RowCosts>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let corrupt = |reason: String| Error::Corruption {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(Error::parquet(path))?;
    let Some(text) = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == HEADER_KEY))
        .and_then(|k| k.value.clone())
    else {
        return Err(corrupt("no costs header".to_string()));
    };
    let header: Header = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if header.format != FORMAT
        || header.segment_digest != source.segment_digest
        || header.rows != source.rows
        || header.pricing != source.pricing
    {
        return Ok(None);
    }
    let n_keys = header.keys.len();
    let mut out = RowCosts {
        key: Vec::with_capacity(source.rows as usize),
        nano: Vec::with_capacity(source.rows as usize),
        keys: header
            .keys
            .into_iter()
            .map(
                |(source, currency, model, version, reason, partial)| CostKey {
                    source,
                    currency,
                    model,
                    version,
                    reason,
                    partial,
                },
            )
            .collect(),
    };
    let reader = builder
        .with_batch_size(256 * 1024)
        .build()
        .map_err(Error::parquet(path))?;
    for batch in reader {
        let batch = batch.map_err(Error::parquet(path))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        };
        let (Some(key), Some(nano), Some(high)) = (
            batch
                .column_by_name("key")
                .and_then(|c| c.as_any().downcast_ref::<Int32Array>()),
            column("nano"),
            column("nano_high"),
        ) else {
            return Err(corrupt(
                "columns key, nano and nano_high are missing or mistyped".into(),
            ));
        };
        let wide = high.null_count() < high.len();
        for i in 0..batch.num_rows() {
            if key.is_null(i) {
                out.key.push(RowCosts::NONE);
                out.nano.push(0);
            } else {
                let k = key.value(i);
                if k < 0 || k as usize >= n_keys || nano.is_null(i) {
                    return Err(corrupt(format!("row {} has no valid key", out.key.len())));
                }
                out.key.push(k as u32);
                let h = (wide && !high.is_null(i)).then(|| high.value(i));
                out.nano.push(join(nano.value(i), h));
            }
        }
    }
    if out.key.len() as u64 != source.rows {
        return Err(corrupt(format!(
            "{} rows for a segment of {}",
            out.key.len(),
            source.rows
        )));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(amounts: &[i128]) -> RowCosts {
        let key: Vec<u32> = (0..amounts.len())
            .map(|i| match i % 3 {
                2 => RowCosts::NONE,
                k => k as u32,
            })
            .collect();
        let key_of = |source: &str, reason: Option<&str>| CostKey {
            source: source.into(),
            currency: "USD".into(),
            model: Some("m".into()),
            version: None,
            reason: reason.map(Into::into),
            partial: reason.is_some(),
        };
        RowCosts {
            nano: amounts
                .iter()
                .zip(&key)
                .map(|(&n, &k)| if k == RowCosts::NONE { 0 } else { n })
                .collect(),
            key,
            keys: vec![key_of("table", None), key_of("unpriced", Some("no_model"))],
        }
    }

    #[test]
    fn costs_round_trip_and_stale_or_damaged_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/seg.parquet");
        let amounts = [
            0,
            12_345,
            7,
            -7,
            i128::from(i64::MAX) + 1,
            1,
            i128::from(i64::MIN) - 5,
            i128::MAX,
            2,
            i128::MIN,
            42,
        ];
        let c = costs(&amounts);
        let source = Source {
            segment_digest: "ab".into(),
            rows: c.len() as u64,
            pricing: "cd".into(),
        };
        write(&path, &source, &c).unwrap();
        assert_eq!(read(&path, &source).unwrap(), Some(c.clone()));
        // Another segment digest, row count or costing makes the file stale, not an error.
        let stale = [
            Source {
                segment_digest: "x".into(),
                ..source.clone()
            },
            Source {
                rows: 3,
                ..source.clone()
            },
            Source {
                pricing: "x".into(),
                ..source.clone()
            },
        ];
        for other in &stale {
            assert_eq!(read(&path, other).unwrap(), None);
        }
        assert_eq!(
            read(&dir.path().join("none.parquet"), &source).unwrap(),
            None
        );
        std::fs::write(&path, b"PAR1 not really").unwrap();
        assert!(read(&path, &source).is_err());
        // A write whose rows disagree with the segment is refused.
        let wrong = Source { rows: 2, ..source };
        assert!(write(&path, &wrong, &c).is_err());
    }
}
