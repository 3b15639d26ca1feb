//! Parquet import throughput: `parquet_file` over one synthetic file of 200 000 rows in row groups of 65 536.
//!
//! Data: columns `uuid`, `distinct_id`, `event`, `timestamp` (ms), `$ai_model`, `$ai_input_tokens`,
//! `$ai_output_tokens`, written deterministically to a temporary file inside the bench (1 000 users). Reports
//! events/s.
//!
//! Run: `cargo bench -p liucun-ingest --bench parquet`

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use divan::counter::ItemsCount;
use parquet::arrow::ArrowWriter;

use liucun_ingest::{Config, parquet_file};
use model::{Project, Timestamp};

const N_ROWS: usize = 200_000;

fn main() {
    divan::main();
}

fn write_file(path: &std::path::Path) {
    let uuids: Vec<String> = (0..N_ROWS)
        .map(|i| format!("0195f0c2-{:04x}-7000-8000-{:012x}", i % 65_536, i))
        .collect();
    let users: Vec<String> = (0..N_ROWS).map(|i| format!("u-{}", i % 1000)).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("uuid", Arc::new(StringArray::from_iter_values(uuids))),
        (
            "distinct_id",
            Arc::new(StringArray::from_iter_values(users)),
        ),
        (
            "event",
            Arc::new(StringArray::from_iter_values(
                (0..N_ROWS).map(|_| "chat_message"),
            )),
        ),
        (
            "timestamp",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                (0..N_ROWS as i64).map(|i| 1_740_787_200_000 + i * 100),
            )),
        ),
        (
            "$ai_model",
            Arc::new(StringArray::from_iter_values((0..N_ROWS).map(|i| {
                if i % 3 == 0 {
                    "gpt-4o"
                } else {
                    "claude-sonnet-4"
                }
            }))),
        ),
        (
            "$ai_input_tokens",
            Arc::new(Int64Array::from_iter_values(
                (0..N_ROWS as i64).map(|i| 100 + i % 900),
            )),
        ),
        (
            "$ai_output_tokens",
            Arc::new(Int64Array::from_iter_values(
                (0..N_ROWS as i64).map(|i| 10 + i % 300),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).expect("columns of equal length");
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).expect("temp file"),
        batch.schema(),
        None,
    )
    .expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn parquet_200k_rows(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.parquet");
    write_file(&path);
    let project = Project::new("bench").expect("valid project name");
    let cfg = Config::new(Timestamp(1_740_830_400_000_000));
    bencher.counter(ItemsCount::new(N_ROWS)).bench(|| {
        let mut n = 0;
        parquet_file(
            &project,
            std::fs::File::open(&path).expect("open"),
            "bench.parquet",
            &cfg,
            &mut |b| {
                n += b.events().len();
                Ok(())
            },
        )
        .expect("import");
        assert_eq!(n, N_ROWS);
    });
}
