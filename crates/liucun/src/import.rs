//! Bulk import of files: NDJSON, CSV and Parquet events, and NDJSON persons.
//!
//! Files are read in chunks and validated by `ingest`; accepted events go to the bulk buffer, which is flushed to
//! segments every `flush_events` events and at the end. Events without a uuid get one derived from their content,
//! so importing the same file again, or re-running an interrupted import, stores each event once.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use model::{EventBatch, Project, Record, Timestamp};

use crate::{Engine, Error, Result};

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON event per line (liucun, PostHog export or Segment shape).
    Ndjson,
    /// Comma-separated with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// Guesses the format from the file extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }

    /// Reads a format name: `ndjson`, `csv` or `parquet`.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The project the events belong to.
    pub project: Project,
    /// The format, or `None` to guess from the extension.
    pub format: Option<Format>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows or lines read.
    pub read: u64,
    /// Events that passed validation.
    pub accepted: u64,
    /// Inputs rejected (and quarantined).
    pub rejected: u64,
    /// Accepted events already stored (or repeated in the input) and collapsed.
    pub duplicates: u64,
    /// Copies of a uuid with different content.
    pub conflicts: u64,
    /// Events written to new segments.
    pub written: u64,
    /// Persons-import records stored.
    pub persons: u64,
    /// Remarks such as a column overriding a key of `properties`.
    pub notes: Vec<String>,
}

impl ImportSummary {
    fn add_flush(&mut self, stats: &store::FlushStats) {
        self.duplicates += stats.duplicates;
        self.conflicts += stats.conflicts;
        self.written += stats.events_written;
        self.persons += stats.persons;
    }
}

/// NDJSON is read in blocks of this size, cut at the last newline.
const NDJSON_BLOCK_BYTES: usize = 8 << 20;
/// CSV rows per batch.
const CSV_CHUNK_ROWS: usize = 64 * 1024;

impl Engine {
    /// Imports one events file. `observe` sees every validated batch before it is buffered (for progress and for
    /// writing rejected lines); the summary counts what happened. The data is durable when this returns.
    ///
    /// # Errors
    /// [`Error::File`] when the file is refused as a whole (missing column, unreadable), IO and store errors.
    /// Rejected rows are not errors: they are counted and quarantined.
    pub fn import_file(
        &self,
        path: &Path,
        options: &ImportOptions,
        observe: &mut dyn FnMut(&EventBatch),
    ) -> Result<ImportSummary> {
        let format = match options.format.or_else(|| Format::from_path(path)) {
            Some(f) => f,
            None => {
                return Err(Error::Invalid(format!(
                    "{}: cannot tell the format from the extension; pass --format ndjson|csv|parquet",
                    path.display()
                )));
            }
        };
        let cfg = ingest::Config {
            now: now(),
            max_event_bytes: 1 << 20,
        };
        let name = path.display().to_string();
        let project = &options.project;
        let mut summary = ImportSummary::default();
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // Flushes run on a second thread while the file is read and validated, one at a time: at most two
        // buffers' worth of events are in memory.
        let mut flush_err: Option<Error> = None;
        std::thread::scope(|scope| -> Result<()> {
            let mut inflight: Option<Inflight<'_>> = None;
            let result = {
                let mut take = |batch: EventBatch,
                                summary: &mut ImportSummary|
                 -> std::result::Result<(), ingest::SinkError> {
                    summary.read += (batch.events().len() + batch.rejections().len()) as u64;
                    summary.accepted += batch.events().len() as u64;
                    summary.rejected += batch.rejections().len() as u64;
                    observe(&batch);
                    if self.buffer_bulk(batch) {
                        if let Err(e) = join_flush(&mut inflight, summary) {
                            let msg = e.to_string();
                            flush_err = Some(e);
                            return Err(msg.into());
                        }
                        inflight = Some(scope.spawn(|| self.flush()));
                    }
                    Ok(())
                };
                match format {
                    Format::Ndjson => {
                        read_ndjson(file, &name, project, &cfg, &mut |b| take(b, &mut summary))
                    }
                    Format::Csv => {
                        ingest::csv_file(project, file, &name, &cfg, CSV_CHUNK_ROWS, &mut |b| {
                            take(b, &mut summary)
                        })
                        .map(|s| s.notes)
                    }
                    Format::Parquet => ingest::parquet_file(project, file, &name, &cfg, &mut |b| {
                        take(b, &mut summary)
                    })
                    .map(|s| s.notes),
                }
            };
            let joined = join_flush(&mut inflight, &mut summary);
            match result {
                Ok(notes) => summary.notes.extend(notes),
                Err(e) => {
                    return Err(match flush_err.take() {
                        Some(inner) => inner,
                        None => e.into(),
                    });
                }
            }
            joined
        })?;
        let stats = self.flush()?;
        summary.add_flush(&stats);
        Ok(summary)
    }

    /// Imports a persons file (NDJSON, events.md §5.5). The records are durable when this returns.
    ///
    /// # Errors
    /// IO and store errors. Invalid records are counted and quarantined, not errors.
    pub fn import_persons(&self, path: &Path, project: &Project) -> Result<ImportSummary> {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let cfg = ingest::Config {
            now: now(),
            max_event_bytes: 1 << 20,
        };
        let batch = ingest::persons_ndjson(project, &bytes, &path.display().to_string(), &cfg);
        let mut summary = ImportSummary {
            read: (batch.persons.len() + batch.rejections.len()) as u64,
            accepted: batch.persons.len() as u64,
            rejected: batch.rejections.len() as u64,
            ..ImportSummary::default()
        };
        self.pending().bulk.push(Record::Persons(batch));
        let stats = self.flush()?;
        summary.add_flush(&stats);
        Ok(summary)
    }
}

/// Reads NDJSON in blocks cut at line ends and hands each validated block to `sink`. The next block is read while
/// the current one is validated.
fn read_ndjson(
    mut file: File,
    name: &str,
    project: &Project,
    cfg: &ingest::Config,
    sink: &mut dyn FnMut(EventBatch) -> std::result::Result<(), ingest::SinkError>,
) -> std::result::Result<Vec<String>, ingest::FileError> {
    let io = |e: std::io::Error| ingest::FileError::Io {
        file: name.to_string(),
        source: e,
    };
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1u64;
    let mut block = read_block(&mut file, &mut carry, NDJSON_BLOCK_BYTES).map_err(io)?;
    loop {
        let (data, eof) = block;
        if data.is_empty() && eof {
            break;
        }
        let ((batch, n_lines), next) = rayon::join(
            || {
                let batch = ingest::ndjson_chunk(project, &data, name, line, cfg);
                (batch, memchr::memchr_iter(b'\n', &data).count() as u64)
            },
            || {
                if eof {
                    Ok((Vec::new(), true))
                } else {
                    read_block(&mut file, &mut carry, NDJSON_BLOCK_BYTES)
                }
            },
        );
        line += n_lines;
        sink(batch).map_err(ingest::FileError::Sink)?;
        block = next.map_err(io)?;
    }
    Ok(Vec::new())
}

/// Reads the next block of complete lines (about `block_bytes`, more when one line is longer), starting
/// with `carry`, the bytes after the last line end of the previous block; leaves the new partial line in `carry`.
/// Returns the block and whether the file ended; the last block may end without a line end.
fn read_block(
    file: &mut File,
    carry: &mut Vec<u8>,
    block_bytes: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut buf = std::mem::take(carry);
    buf.reserve(block_bytes);
    loop {
        let start = buf.len();
        let n = Read::by_ref(file)
            .take(block_bytes as u64)
            .read_to_end(&mut buf)?;
        if n < block_bytes {
            return Ok((buf, true));
        }
        if let Some(i) = memchr::memrchr(b'\n', &buf[start..]) {
            let cut = start + i + 1;
            carry.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
            return Ok((buf, false));
        }
        // A line longer than the block: keep reading.
    }
}

fn now() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    Timestamp(micros)
}

/// A flush running on its own thread during an import.
type Inflight<'scope> = std::thread::ScopedJoinHandle<'scope, Result<store::FlushStats>>;

/// Waits for the running flush, if any, and counts what it did.
fn join_flush(inflight: &mut Option<Inflight<'_>>, summary: &mut ImportSummary) -> Result<()> {
    if let Some(h) = inflight.take() {
        let stats = h.join().map_err(|_| {
            Error::Invalid("a flush thread panicked; it committed nothing".to_string())
        })??;
        summary.add_flush(&stats);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_end_at_line_ends_and_cover_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.ndjson");
        let mut text = String::new();
        for i in 0..200 {
            // Lines of 1 to 49 bytes, some longer than the block.
            text.push_str(&"x".repeat(1 + (i * 7) % 48));
            text.push('\n');
        }
        text.push_str("last line without an end");
        for block_bytes in [1, 7, 16, 100, 1 << 20] {
            std::fs::write(&path, &text).unwrap();
            let mut file = File::open(&path).unwrap();
            let (mut carry, mut all) = (Vec::new(), Vec::new());
            loop {
                let (block, eof) = read_block(&mut file, &mut carry, block_bytes).unwrap();
                if !eof {
                    assert_eq!(block.last(), Some(&b'\n'), "block size {block_bytes}");
                }
                all.extend_from_slice(&block);
                if eof {
                    break;
                }
            }
            assert_eq!(all, text.as_bytes(), "block size {block_bytes}");
        }
    }
}
