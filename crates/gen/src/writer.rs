//! Files on disk: one per app, NDJSON or Parquet by extension, written chunk by chunk with apps in parallel.
//!
//! Each app's file is produced by a single thread from that app's own stream, so the bytes do not depend on the
//! number of threads or on scheduling; rayon only decides which app runs where.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use arrow::array::{ArrayRef, RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::app::{AppStream, EventRef, PreparedApp, Sink};
use crate::{Error, GEN_VERSION, GenConfig, json};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// zstd level for Parquet pages.
///
/// Level 1 is zstd's fastest regular level. Negative ("fast") levels saved little CPU here and made files 45%
/// larger, because most bytes are random ids that no level compresses.
const ZSTD_LEVEL: i32 = 1;

/// Events generated between two progress reports; also the Arrow batch size.
const CHUNK_EVENTS: usize = 1 << 16;

/// An output file format, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.ndjson` or `.jsonl`: one liucun-shaped JSON object per line, plus a `.meta.json` sidecar.
    Ndjson,
    /// `.parquet`: zstd-compressed, with the provenance in the file's key-value metadata.
    Parquet,
}

/// One file written by [`write_files`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenFile {
    /// Where it was written.
    pub path: PathBuf,
    /// The app's project name.
    pub project: String,
    /// Its format.
    pub format: Format,
    /// Events in the file.
    pub n_events: u64,
    /// Users with at least one event in the file.
    pub n_users: u64,
    /// Events per event name, in a fixed order.
    pub n_by_event: Vec<(&'static str, u64)>,
}

impl Format {
    /// The format a path's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// The path each app's file goes to, in app order.
///
/// `{app}` in `out` is replaced by the project name. Without it, a single app writes to `out` itself and several
/// apps get `.<project>` inserted before the extension: `events.parquet` → `events.lanting.parquet`.
pub fn output_paths(cfg: &GenConfig, out: &Path) -> Vec<PathBuf> {
    let text = out.to_string_lossy();
    cfg.apps
        .iter()
        .map(|app| {
            if text.contains("{app}") {
                PathBuf::from(text.replace("{app}", &app.project))
            } else if cfg.apps.len() == 1 {
                out.to_path_buf()
            } else {
                let stem = out
                    .file_stem()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default();
                let name = match out.extension() {
                    Some(ext) => format!("{stem}.{}.{}", app.project, ext.to_string_lossy()),
                    None => format!("{stem}.{}", app.project),
                };
                out.with_file_name(name)
            }
        })
        .collect()
}

/// Writes one file per app (see [`output_paths`]), in the format the extension names.
///
/// Files are written in chunks, apps in parallel on rayon's pool, and memory stays bounded whatever
/// `cfg.events` is. `progress` is called on the calling thread with the running total of events written, after
/// every chunk of about 65 000 events. Missing parent directories are created.
///
/// # Errors
/// An invalid config, an extension that names no format, or an IO or Parquet failure (the file involved is
/// removed).
pub fn write_files(
    cfg: &GenConfig,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<Vec<GenFile>, Error> {
    cfg.validate()?;
    let paths = output_paths(cfg, out);
    let mut jobs = Vec::with_capacity(paths.len());
    for (app, path) in PreparedApp::all(cfg).into_iter().zip(paths) {
        let format = Format::from_path(&path).ok_or_else(|| Error::UnknownFormat(path.clone()))?;
        jobs.push((app, path, format));
    }
    let (tx, rx) = mpsc::channel::<u64>();
    let results = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            jobs.into_par_iter()
                .map(|(app, path, format)| {
                    let result = write_one(cfg, app, &path, format, &tx);
                    if result.is_err() {
                        // Best effort: a half-written file is worse than none, and the error is what matters.
                        let _ = fs::remove_file(&path);
                    }
                    result
                })
                .collect::<Vec<_>>()
        });
        let mut total = 0;
        for n in rx {
            total += n;
            progress(total);
        }
        match worker.join() {
            Ok(results) => results,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    results.into_iter().collect()
}

fn write_one(
    cfg: &GenConfig,
    app: PreparedApp,
    path: &Path,
    format: Format,
    tx: &mpsc::Sender<u64>,
) -> Result<GenFile, Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let mut stream = AppStream::new(app);
    match format {
        Format::Parquet => write_parquet(cfg, &mut stream, path, tx)?,
        Format::Ndjson => write_ndjson(cfg, &mut stream, path, tx)?,
    }
    Ok(GenFile {
        path: path.to_path_buf(),
        project: stream.app.profile.project.clone(),
        format,
        n_events: stream.n_events(),
        n_users: stream.n_users(),
        n_by_event: stream.counts().collect(),
    })
}

/// The Parquet schema every generated file has.
pub fn parquet_schema() -> Schema {
    Schema::new(vec![
        Field::new("uuid", DataType::Utf8, false),
        Field::new("distinct_id", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("properties", DataType::Utf8, false),
    ])
}

fn write_parquet(
    cfg: &GenConfig,
    stream: &mut AppStream,
    path: &Path,
    tx: &mpsc::Sender<u64>,
) -> Result<(), Error> {
    let schema = Arc::new(parquet_schema());
    let metadata = provenance(cfg, stream)
        .into_iter()
        .map(|(key, value)| KeyValue::new(key.to_string(), value))
        .collect();
    // Dictionaries pay off only for the repetitive columns; uuids and properties are nearly all distinct, and
    // their min/max statistics would only cost time.
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_dictionary_enabled(false)
        .set_key_value_metadata(Some(metadata));
    for column in ["distinct_id", "event"] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(column), true);
    }
    for column in ["uuid", "properties"] {
        props =
            props.set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::None);
    }
    let file = File::create(path).map_err(Error::io(path))?;
    let mut writer = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 20, file),
        schema.clone(),
        Some(props.build()),
    )
    .map_err(Error::parquet(path))?;
    let mut sink = ArrowSink::new();
    loop {
        let n = stream.fill(CHUNK_EVENTS, &mut sink);
        if n == 0 {
            break;
        }
        writer
            .write(&sink.finish(&schema))
            .map_err(Error::parquet(path))?;
        let _ = tx.send(n as u64);
    }
    let file = writer.into_inner().map_err(Error::parquet(path))?;
    let file = file.into_inner().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(Error::io(path))
}

fn write_ndjson(
    cfg: &GenConfig,
    stream: &mut AppStream,
    path: &Path,
    tx: &mpsc::Sender<u64>,
) -> Result<(), Error> {
    let mut file = File::create(path).map_err(Error::io(path))?;
    let mut sink = NdjsonSink {
        text: String::with_capacity(CHUNK_EVENTS * 400),
    };
    loop {
        sink.text.clear();
        let n = stream.fill(CHUNK_EVENTS, &mut sink);
        if n == 0 {
            break;
        }
        file.write_all(sink.text.as_bytes())
            .map_err(Error::io(path))?;
        let _ = tx.send(n as u64);
    }
    file.sync_all().map_err(Error::io(path))?;

    let meta_path = sidecar_path(path);
    let mut meta = String::from("{");
    for (i, (key, value)) in provenance(cfg, stream).into_iter().enumerate() {
        if i > 0 {
            meta.push(',');
        }
        json::push_str(&mut meta, key);
        meta.push(':');
        json::push_str(&mut meta, &value);
    }
    meta.push_str(",\"liucun.users\":");
    json::push_u64(&mut meta, stream.n_users());
    meta.push_str(",\"liucun.events_by_name\":{");
    for (i, (name, n)) in stream.counts().enumerate() {
        if i > 0 {
            meta.push(',');
        }
        json::push_str(&mut meta, name);
        meta.push(':');
        json::push_u64(&mut meta, n);
    }
    meta.push_str("}}\n");
    fs::write(&meta_path, meta).map_err(Error::io(&meta_path))
}

/// `events.ndjson` → `events.ndjson.meta.json`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".meta.json");
    path.with_file_name(name)
}

/// What a generated file says about itself: Parquet key-value metadata, or the NDJSON sidecar's string fields.
fn provenance(cfg: &GenConfig, stream: &AppStream) -> Vec<(&'static str, String)> {
    vec![
        ("liucun.synthetic", "true".to_string()),
        ("liucun.generator", format!("liucun-gen {GEN_VERSION}")),
        ("liucun.seed", cfg.seed.to_string()),
        ("liucun.project", stream.app.profile.project.clone()),
        ("liucun.events", stream.app.quota.to_string()),
        ("liucun.start_day", cfg.start_day.to_string()),
        ("liucun.days", cfg.days.to_string()),
    ]
}

struct ArrowSink {
    uuid: StringBuilder,
    distinct_id: StringBuilder,
    event: StringBuilder,
    timestamp: TimestampMicrosecondBuilder,
    properties: StringBuilder,
    scratch: String,
}

impl ArrowSink {
    fn new() -> ArrowSink {
        let builder = |bytes_per_row: usize| {
            StringBuilder::with_capacity(CHUNK_EVENTS, CHUNK_EVENTS * bytes_per_row)
        };
        ArrowSink {
            uuid: builder(36),
            distinct_id: builder(24),
            event: builder(16),
            timestamp: TimestampMicrosecondBuilder::with_capacity(CHUNK_EVENTS),
            properties: builder(256),
            scratch: String::with_capacity(64),
        }
    }

    /// The batch so far; the sink starts over with fresh, full-size buffers (the builders' own `finish` would
    /// leave them empty, and regrowing them by doubling costs a tenth of the write time).
    fn finish(&mut self, schema: &Arc<Schema>) -> RecordBatch {
        let mut done = std::mem::replace(self, ArrowSink::new());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(done.uuid.finish()),
            Arc::new(done.distinct_id.finish()),
            Arc::new(done.event.finish()),
            Arc::new(done.timestamp.finish().with_timezone("UTC")),
            Arc::new(done.properties.finish()),
        ];
        RecordBatch::try_new(schema.clone(), columns).expect("the builders match the schema")
    }
}

impl Sink for ArrowSink {
    fn push(&mut self, event: &EventRef<'_>) {
        self.scratch.clear();
        json::push_uuid(&mut self.scratch, event.uuid);
        self.uuid.append_value(&self.scratch);
        self.distinct_id.append_value(event.distinct_id);
        self.event.append_value(event.event);
        self.timestamp.append_value(event.timestamp_us);
        self.properties.append_value(event.properties_json);
    }
}

struct NdjsonSink {
    text: String,
}

impl Sink for NdjsonSink {
    fn push(&mut self, event: &EventRef<'_>) {
        event.push_ndjson(&mut self.text);
    }
}
