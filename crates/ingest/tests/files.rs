//! CSV and Parquet import through the public API: small files written here and read back, whole-file refusals
//! and the column-collision note.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use expect_test::expect;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use liucun_ingest::{Config, FileError, FileSummary, csv_file, parquet_file};
use model::{EventBatch, Project, Timestamp};

const NOW: Timestamp = Timestamp(1_740_830_400_000_000);

fn project() -> Project {
    Project::new("chat-app").unwrap()
}

/// Renders every batch: events as `source distinct_id event ts props`, rejections as `source reason: detail | raw`.
fn render(batches: &[EventBatch], summary: &FileSummary) -> String {
    let mut out = String::new();
    for (i, b) in batches.iter().enumerate() {
        out.push_str(&format!("batch {i}\n"));
        for e in b.events() {
            out.push_str(&format!(
                "  {} {} {} {} {}\n",
                e.source(),
                e.distinct_id(),
                e.event(),
                e.timestamp.0,
                e.properties()
            ));
        }
        for r in b.rejections() {
            out.push_str(&format!(
                "  {} {}: {} | {}\n",
                r.source,
                r.reason,
                r.detail,
                String::from_utf8_lossy(&r.raw)
            ));
        }
    }
    out.push_str(&format!(
        "rows={} notes={:?}\n",
        summary.rows, summary.notes
    ));
    out
}

fn import_csv(data: &[u8], chunk_rows: usize) -> Result<String, FileError> {
    let mut batches = Vec::new();
    let summary = csv_file(
        &project(),
        data,
        "e.csv",
        &Config::new(NOW),
        chunk_rows,
        &mut |b| {
            batches.push(b);
            Ok(())
        },
    )?;
    Ok(render(&batches, &summary))
}

#[test]
fn csv_rows_in_chunks_with_a_collision_note() {
    let data = b"distinct_id,event,timestamp,plan,properties\n\
u-1,signup,2025-03-01T10:00:00Z,pro,\"{\"\"plan\"\":\"\"free\"\",\"\"n\"\":1}\"\n\
u-2,chat,1740823200000,,\n\
\n\
guest,chat,2025-03-01,x,\r\n\
u-\xff,chat,2025-03-01,x,\n\
u-4,chat,2025-03-01,pro,\"{\"\"plan\"\":1}\"";
    expect![[r#"
        batch 0
          e.csv:2 u-1 signup 1740823200000000 {"n":1,"plan":"pro"}
          e.csv:3 u-2 chat 1740823200000000 {}
        batch 1
          e.csv:5 placeholder_distinct_id: `distinct_id` "guest" is a placeholder id | guest,chat,2025-03-01,x,
          e.csv:6 malformed_event: column `distinct_id` is not valid UTF-8 (at byte 2) | u-�,chat,2025-03-01,x,
          e.csv:7 u-4 chat 1740787200000000 {"plan":"pro"}
        rows=5 notes=["e.csv: column `plan` overrides the key `plan` inside `properties`"]
    "#]]
    .assert_eq(&import_csv(data, 2).unwrap().replace("batch 2\n", ""));
}

#[test]
fn csv_without_a_required_column_is_refused() {
    let err = import_csv(b"distinct_id,event,ts\nu-1,e,2025-03-01\n", 10).unwrap_err();
    expect!["e.csv: missing column `timestamp`"].assert_eq(&err.to_string());
    assert!(matches!(err, FileError::MissingColumn { column, .. } if column == "timestamp"));
}

#[test]
fn csv_import_is_idempotent() {
    let data = b"distinct_id,event,timestamp,plan\nu-1,a,2025-03-01,pro\nu-2,a,2025-03-01,free\n";
    let ids = || {
        let mut out = Vec::new();
        csv_file(
            &project(),
            &data[..],
            "e.csv",
            &Config::new(NOW),
            1,
            &mut |b| {
                out.extend(b.events().iter().map(|e| (e.uuid, e.digest)));
                Ok(())
            },
        )
        .unwrap();
        out
    };
    let first = ids();
    assert_eq!(first.len(), 2);
    assert_eq!(first, ids());
}

fn write_parquet(path: &std::path::Path, batches: &[RecordBatch], rows_per_group: usize) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batches[0].schema(),
        Some(props),
    )
    .unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn import_parquet(path: &std::path::Path) -> Result<String, FileError> {
    let mut batches = Vec::new();
    let summary = parquet_file(
        &project(),
        std::fs::File::open(path).unwrap(),
        "e.parquet",
        &Config::new(NOW),
        &mut |b| {
            batches.push(b);
            Ok(())
        },
    )?;
    Ok(render(&batches, &summary))
}

#[test]
fn parquet_rows_by_row_group_with_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let ms = 1_740_823_200_000i64;
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "distinct_id",
            Arc::new(StringArray::from(vec![
                Some("u-1"),
                Some("u-2"),
                Some("null"),
                None,
            ])),
        ),
        (
            "event",
            Arc::new(StringArray::from(vec!["chat", "chat", "chat", "chat"])),
        ),
        (
            "timestamp",
            Arc::new(TimestampMillisecondArray::from(vec![
                ms,
                ms + 1,
                ms + 2,
                ms + 3,
            ])),
        ),
        (
            "$ai_input_tokens",
            Arc::new(Int64Array::from(vec![Some(120), None, Some(5), Some(6)])),
        ),
        (
            "properties",
            Arc::new(StringArray::from(vec![
                Some(r#"{"$ai_input_tokens":1,"k":"v"}"#),
                None,
                None,
                None,
            ])),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    write_parquet(&path, &[batch], 3);
    expect![[r#"
        batch 0
          e.parquet:rg0:row0 u-1 chat 1740823200000000 {"$ai_input_tokens":120,"k":"v"}
          e.parquet:rg0:row1 u-2 chat 1740823200001000 {}
          e.parquet:rg0:row2 placeholder_distinct_id: `distinct_id` "null" is a placeholder id | {"$ai_input_tokens":5,"distinct_id":"null","event":"chat","timestamp":"2025-03-01T10:00:00.002000Z"}
        batch 1
          e.parquet:rg1:row0 missing_distinct_id: `distinct_id` is missing | {"$ai_input_tokens":6,"event":"chat","timestamp":"2025-03-01T10:00:00.003000Z"}
        rows=4 notes=["e.parquet: column `$ai_input_tokens` overrides the key `$ai_input_tokens` inside `properties`"]
    "#]]
    .assert_eq(&import_parquet(&path).unwrap());
}

#[test]
fn parquet_integer_and_text_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let batch = RecordBatch::try_from_iter(vec![
        (
            "distinct_id",
            Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef,
        ),
        ("event", Arc::new(StringArray::from(vec!["a", "b"]))),
        (
            "timestamp",
            Arc::new(Int64Array::from(vec![1_740_823_200_000, 1_740_823_200_500])),
        ),
    ])
    .unwrap();
    write_parquet(&path, &[batch], 100);
    expect![[r#"
        batch 0
          e.parquet:rg0:row0 7 a 1740823200000000 {}
          e.parquet:rg0:row1 8 b 1740823200500000 {}
        rows=2 notes=[]
    "#]]
    .assert_eq(&import_parquet(&path).unwrap());
    let text = RecordBatch::try_from_iter(vec![
        (
            "distinct_id",
            Arc::new(StringArray::from(vec!["u-1"])) as ArrayRef,
        ),
        ("event", Arc::new(StringArray::from(vec!["a"]))),
        (
            "timestamp",
            Arc::new(StringArray::from(vec!["2025-03-01T18:00:00+08:00"])),
        ),
    ])
    .unwrap();
    write_parquet(&path, &[text], 100);
    assert!(
        import_parquet(&path)
            .unwrap()
            .contains("u-1 a 1740823200000000")
    );
}

#[test]
fn parquet_without_a_required_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.parquet");
    let batch = RecordBatch::try_from_iter(vec![
        (
            "distinct_id",
            Arc::new(StringArray::from(vec!["u-1"])) as ArrayRef,
        ),
        (
            "timestamp",
            Arc::new(Int64Array::from(vec![1_740_823_200_000])),
        ),
    ])
    .unwrap();
    write_parquet(&path, &[batch], 100);
    let err = import_parquet(&path).unwrap_err();
    expect!["e.parquet: missing column `event`"].assert_eq(&err.to_string());
    std::fs::write(&path, b"not parquet").unwrap();
    assert!(matches!(
        import_parquet(&path),
        Err(FileError::Unreadable { .. })
    ));
}
