//! Validation throughput of one events file without storing anything: the ingest stage of `liucun import` alone,
//! to tell how much of an import's time goes to validation and how much to writing segments.
//!
//! Run: `cargo run --release -p liucun-ingest --example validate_file -- FILE.parquet|FILE.ndjson`

use std::io::Write;
use std::time::Instant;

use liucun_ingest::{Config, ndjson_chunk, parquet_file};
use model::{Project, Timestamp};

/// NDJSON is validated in blocks of about this many bytes, cut at line ends, as `liucun import` does.
const BLOCK_BYTES: usize = 8 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: validate_file FILE.parquet|FILE.ndjson")?;
    let project = Project::new("bench")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let cfg = Config::new(Timestamp(now.as_micros() as i64));
    let started = Instant::now();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    if path.ends_with(".parquet") {
        let file = std::fs::File::open(&path)?;
        parquet_file(&project, file, &path, &cfg, &mut |b| {
            accepted += b.events().len() as u64;
            rejected += b.rejections().len() as u64;
            Ok(())
        })?;
    } else {
        let data = std::fs::read(&path)?;
        let (mut start, mut line) = (0usize, 1u64);
        while start < data.len() {
            let end = (start + BLOCK_BYTES).min(data.len());
            let cut = match memchr::memrchr(b'\n', &data[start..end]) {
                Some(i) if end < data.len() => start + i + 1,
                _ => end,
            };
            let block = &data[start..cut];
            let b = ndjson_chunk(&project, block, &path, line, &cfg);
            line += memchr::memchr_iter(b'\n', block).count() as u64;
            accepted += b.events().len() as u64;
            rejected += b.rejections().len() as u64;
            start = cut;
        }
    }
    let s = started.elapsed().as_secs_f64();
    writeln!(
        std::io::stdout(),
        "{path}: {accepted} accepted, {rejected} rejected in {s:.2} s = {:.0} events/s",
        (accepted + rejected) as f64 / s
    )?;
    Ok(())
}
