//! Engine-level tests: import, idempotence, quarantine, compaction, persistence across reopen, corruption.

mod fixture;

use std::io::Write;

use liucun::model::{Project, Record};
use liucun::{Engine, EngineConfig, ImportOptions, OpenMode};

use fixture::{batch, line, open, stored};

fn write_file(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

fn import(engine: &Engine, project: &str, path: &std::path::Path) -> liucun::ImportSummary {
    let options = ImportOptions {
        project: Project::new(project).unwrap(),
        format: None,
    };
    engine.import_file(path, &options, &mut |_| {}).unwrap()
}

#[test]
fn importing_a_file_twice_stores_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..50 {
        text += &line(
            i,
            &format!("u{}", i % 7),
            "chat_message",
            1 + (i % 5) as u32,
            "{}",
        );
        text.push('\n');
    }
    // A line without a uuid gets a content-derived one, and a repeated copy collapses.
    let no_uuid = r#"{"distinct_id":"u1","event":"x","timestamp":"2025-03-02T00:00:00Z"}"#;
    text += &format!("{no_uuid}\n{no_uuid}\n");
    let file = write_file(tmp.path(), "events.ndjson", &text);
    let engine = open(&tmp.path().join("data"));
    let first = import(&engine, "chat", &file);
    assert_eq!(
        (
            first.accepted,
            first.rejected,
            first.duplicates,
            first.written
        ),
        (52, 0, 1, 51)
    );
    let second = import(&engine, "chat", &file);
    assert_eq!(
        (second.accepted, second.duplicates, second.written),
        (52, 52, 0)
    );
    assert_eq!(stored(&engine).len(), 51);
    drop(engine);
    // And after a restart.
    let engine = open(&tmp.path().join("data"));
    let third = import(&engine, "chat", &file);
    assert_eq!(third.written, 0);
    assert_eq!(stored(&engine).len(), 51);
}

#[test]
fn bad_rows_are_quarantined_without_taking_good_rows_down() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(line(1, "ana", "signup", 1, "{}").as_bytes());
    bytes.extend_from_slice(b"\n{not json\n");
    bytes.extend_from_slice(
        b"{\"distinct_id\":\"ben\",\"event\":\"x\",\"timestamp\":\"1999-12-31T23:59:59Z\"}\n",
    );
    bytes.extend_from_slice(
        b"{\"distinct_id\":\"\xff\xfe\",\"event\":\"x\",\"timestamp\":\"2025-03-01T00:00:00Z\"}\n",
    );
    bytes.extend_from_slice(
        b"{\"distinct_id\":\"undefined\",\"event\":\"x\",\"timestamp\":\"2025-03-01T00:00:00Z\"}\n",
    );
    bytes.extend_from_slice(line(2, "cai", "signup", 2, "{}").as_bytes());
    bytes.push(b'\n');
    let path = tmp.path().join("mixed.ndjson");
    std::fs::write(&path, &bytes).unwrap();
    let engine = open(&tmp.path().join("data"));
    let s = import(&engine, "chat", &path);
    assert_eq!((s.accepted, s.rejected), (2, 4));
    let q = engine
        .with_store(|st| st.read_rejections(Some("chat")))
        .unwrap();
    let mut got: Vec<(String, String)> = q
        .iter()
        .map(|(_, r)| (r.source.clone(), r.reason.code().to_string()))
        .collect();
    got.sort();
    let name = path.display().to_string();
    let want: Vec<(String, String)> = vec![
        (format!("{name}:2"), "malformed_event".to_string()),
        (format!("{name}:3"), "timestamp_too_old".to_string()),
        (format!("{name}:4"), "malformed_event".to_string()),
        (format!("{name}:5"), "placeholder_distinct_id".to_string()),
    ];
    assert_eq!(got, want);
    // The invalid UTF-8 line is kept verbatim.
    let raw = &q
        .iter()
        .find(|(_, r)| r.source.ends_with(":4"))
        .unwrap()
        .1
        .raw;
    assert!(raw.contains(&0xff));
    assert_eq!(stored(&engine).len(), 2);
}

#[test]
fn wal_appends_survive_reopen_and_flush_truncates_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let engine = open(&dir);
        engine
            .append(Record::Events(batch("chat", &line(1, "ana", "a", 1, "{}"))))
            .unwrap();
        engine
            .append(Record::Events(batch("chat", &line(2, "ben", "a", 1, "{}"))))
            .unwrap();
        // Dropped without a flush: the events live only in the WAL.
    }
    let engine = open(&dir);
    assert_eq!(engine.inspect().unwrap().tail_events, 2);
    engine.flush().unwrap();
    assert_eq!(stored(&engine).len(), 2);
    let i = engine.inspect().unwrap();
    assert_eq!(i.wal_checkpoint, 2);
    assert_eq!(i.tail_events, 0);
    drop(engine);
    // Reopening does not replay flushed records again.
    let engine = open(&dir);
    assert_eq!(engine.inspect().unwrap().tail_events, 0);
    assert_eq!(stored(&engine).len(), 2);
}

#[test]
fn compaction_keeps_the_same_events_and_fewer_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(&tmp.path().join("data"));
    for round in 0..4u64 {
        let mut text = String::new();
        for i in 0..20 {
            text += &line(
                round * 100 + i,
                &format!("u{i}"),
                "chat_message",
                1 + (i % 3) as u32,
                "{\"n\":1}",
            );
            text.push('\n');
        }
        engine.import_batch(batch("chat", &text)).unwrap();
        engine.flush().unwrap();
    }
    let before = stored(&engine);
    let segments_before = engine.inspect().unwrap().projects[0].segments;
    assert_eq!(segments_before, 12);
    engine.compact().unwrap();
    assert_eq!(engine.inspect().unwrap().projects[0].segments, 3);
    assert_eq!(stored(&engine), before);
}

#[test]
fn a_conflicting_copy_keeps_the_smaller_digest_whatever_the_order() {
    let a = line(9, "ana", "signup", 1, "{\"v\":1}");
    let b = line(9, "ana", "signup", 1, "{\"v\":2}");
    let mut kept = Vec::new();
    for (first, second) in [(&a, &b), (&b, &a)] {
        let tmp = tempfile::tempdir().unwrap();
        let engine = open(&tmp.path().join("data"));
        engine.import_batch(batch("chat", first)).unwrap();
        engine.flush().unwrap();
        let s = engine.import_batch(batch("chat", second)).unwrap();
        let s2 = engine.flush().unwrap();
        assert_eq!(s.conflicts + s2.conflicts, 1);
        let all = stored(&engine);
        assert_eq!(all.len(), 1);
        kept.push(all.into_values().next().unwrap().properties().to_string());
    }
    assert_eq!(kept[0], kept[1]);
}

#[test]
fn a_flipped_manifest_byte_is_named_and_a_damaged_segment_does_not_hide_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let engine = open(&dir);
        let mut text = String::new();
        for i in 0..10 {
            text += &line(i, "ana", "a", 1 + (i % 2) as u32, "{}");
            text.push('\n');
        }
        engine.import_batch(batch("chat", &text)).unwrap();
        engine.flush().unwrap();
    }
    // Damage one of the two segments.
    let seg = walk(&dir.join("segments")).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid - 40..mid + 40] {
        *b ^= 0x5a;
    }
    std::fs::write(&seg, &bytes).unwrap();
    {
        let engine = open(&dir);
        let (ok, bad) = engine.with_store(|s| s.read_events(&store::ScanFilter::default()));
        assert_eq!((ok.len(), bad.len()), (1, 1));
        assert_eq!(ok[0].1.len(), 5);
        assert!(
            bad[0]
                .1
                .to_string()
                .contains(&seg.file_name().unwrap().to_string_lossy().to_string())
        );
    }
    // A flipped manifest byte stops the open and names the file.
    let manifest = dir.join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x01;
    std::fs::write(&manifest, &bytes).unwrap();
    let err = Engine::open(&dir, OpenMode::Existing, EngineConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MANIFEST") && err.contains("checksum mismatch"),
        "{err}"
    );
}

#[test]
fn a_flipped_wal_byte_before_the_tail_is_reported_with_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    {
        let engine = open(&dir);
        for i in 0..3 {
            engine
                .append(Record::Events(batch("chat", &line(i, "ana", "a", 1, "{}"))))
                .unwrap();
        }
    }
    let wal_file = walk(&dir.join("wal")).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&wal_file).unwrap();
    bytes[40] ^= 0x10;
    std::fs::write(&wal_file, &bytes).unwrap();
    let err = Engine::open(&dir, OpenMode::Existing, EngineConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&wal_file.file_name().unwrap().to_string_lossy().to_string()),
        "{err}"
    );
    assert!(err.contains("offset"), "{err}");
}

#[test]
fn a_second_process_cannot_open_a_locked_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let _engine = open(&dir);
    let err = Engine::open(&dir, OpenMode::Existing, EngineConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("locked"), "{err}");
}

#[test]
fn issue_17_a_read_only_engine_sees_the_committed_snapshot_beside_the_writer_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let writer = open(&dir);
    writer
        .import_batch(batch("chat", &line(1, "ana", "a", 1, "{}")))
        .unwrap();
    writer.flush().unwrap();
    writer
        .append(Record::Events(batch("chat", &line(2, "ben", "a", 2, "{}"))))
        .unwrap();
    let files_before = walk(&dir);

    let reader = Engine::open_read_only(&dir, EngineConfig::default()).unwrap();
    assert!(reader.is_read_only());
    // The committed segments, not the writer's unflushed WAL tail.
    assert_eq!(stored(&reader).len(), 1);
    let i = reader.inspect().unwrap();
    assert!(i.read_only);
    assert_eq!((i.tail_events, i.projects[0].events), (0, 1));
    // Writes are refused, and nothing in the directory changed.
    for err in [
        reader.compact().unwrap_err(),
        reader
            .append(Record::Events(batch("chat", &line(3, "cy", "a", 3, "{}"))))
            .unwrap_err(),
        reader
            .purge_quarantine(None, liucun::model::Timestamp(i64::MAX))
            .unwrap_err(),
    ] {
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    assert_eq!(walk(&dir), files_before);

    // Once the writer flushes, a reload shows the new snapshot.
    writer.flush().unwrap();
    assert_eq!(stored(&reader).len(), 1);
    reader.reload().unwrap();
    assert_eq!(stored(&reader).len(), 2);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

#[test]
fn replaying_the_quarantine_stores_what_passes_today_once() {
    use liucun::model::{EventBatch, RejectReason, Rejection, Timestamp};
    let tmp = tempfile::tempdir().unwrap();
    let engine = open(&tmp.path().join("data"));
    let project = Project::new("chat").unwrap();
    let received_at = Timestamp(1_740_000_000_000_000);
    // Inputs an earlier rule set refused: one that passes today's rules (an HTTP item without a uuid, and an
    // NDJSON line), and one that still fails.
    let rejection = |raw: &str, source: &str, reason| Rejection {
        reason,
        detail: "refused by an earlier rule".to_string(),
        raw: raw.as_bytes().to_vec(),
        source: source.to_string(),
        received_at,
    };
    let rejections = vec![
        rejection(
            r#"{"event":"chat_message","distinct_id":"u1","properties":{"n":1}}"#,
            "http /batch/ req-1 #0",
            RejectReason::InvalidProperties,
        ),
        rejection(
            r#"{"uuid":"0195f0c2-0000-7000-8000-000000000001","distinct_id":"u2","event":"x","timestamp":"2025-02-19T00:00:00Z"}"#,
            "events.ndjson:7",
            RejectReason::InvalidTimestamp,
        ),
        rejection(
            r#"{"event":"chat_message"}"#,
            "http /batch/ req-1 #1",
            RejectReason::MissingDistinctId,
        ),
        rejection(
            "u3,x,2025-01-01",
            "events.csv:3",
            RejectReason::InvalidTimestamp,
        ),
    ];
    engine
        .append(Record::Events(EventBatch::new(
            project.clone(),
            Vec::new(),
            rejections,
        )))
        .unwrap();
    let dry = engine.replay_quarantine("chat", None, true).unwrap();
    assert_eq!((dry.examined, dry.replayed, dry.not_replayable), (4, 2, 1));
    assert_eq!(dry.still_rejected.get("missing_distinct_id"), Some(&1));
    engine.flush().unwrap();
    assert_eq!(stored(&engine).len(), 0, "a dry run stores nothing");
    for _ in 0..2 {
        let s = engine.replay_quarantine("chat", None, false).unwrap();
        assert_eq!(s.replayed, 2);
    }
    engine.flush().unwrap();
    let events = stored(&engine);
    assert_eq!(events.len(), 2, "replaying twice stores each event once");
    let http = events.values().find(|e| e.distinct_id() == "u1").unwrap();
    assert_eq!(
        http.timestamp, received_at,
        "no timestamp: the receive time, as at capture"
    );
    let only = engine
        .replay_quarantine("chat", Some(RejectReason::InvalidTimestamp), true)
        .unwrap();
    assert_eq!(only.examined, 2);
}

#[test]
fn purging_the_quarantine_deletes_only_what_was_received_before() {
    use liucun::model::{EventBatch, RejectReason, Rejection, Timestamp};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = open(&dir);
    let day = 86_400_000_000i64;
    let at = |d: i64, source: &str| Rejection {
        reason: RejectReason::MissingDistinctId,
        detail: "`distinct_id` is missing".to_string(),
        raw: br#"{"event":"e"}"#.to_vec(),
        source: source.to_string(),
        received_at: Timestamp(1_740_000_000_000_000 + d * day),
    };
    for (project, days) in [("a", [0, 1, 2]), ("b", [0, 5, 9])] {
        let rejections = days
            .iter()
            .map(|d| at(*d, &format!("f.ndjson:{d}")))
            .collect();
        let batch = EventBatch::new(Project::new(project).unwrap(), Vec::new(), rejections);
        engine.append(Record::Events(batch)).unwrap();
        engine.flush().unwrap();
    }
    let cut = Timestamp(1_740_000_000_000_000 + 2 * day);
    assert_eq!(engine.purge_quarantine(Some("a"), cut).unwrap(), 2);
    assert_eq!(engine.purge_quarantine(Some("a"), cut).unwrap(), 0);
    let left = |p: &str| engine.quarantine(p, None, 100).unwrap().0;
    assert_eq!(left("a").len(), 1);
    assert_eq!(left("b").len(), 3, "another project is untouched");
    assert_eq!(engine.purge_quarantine(None, cut).unwrap(), 1);
    drop(engine);
    let engine = open(&dir);
    assert_eq!(
        engine.quarantine("b", None, 100).unwrap().0.len(),
        2,
        "the purge is durable"
    );
}

#[test]
fn issue_18_a_quarantine_page_reads_only_the_files_it_shows() {
    use liucun::model::{EventBatch, RejectReason, Rejection, Timestamp};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = open(&dir);
    let rejection = |reason: RejectReason, i: usize| Rejection {
        reason,
        detail: "test".to_string(),
        raw: format!(r#"{{"n":{i}}}"#).into_bytes(),
        source: format!("f.ndjson:{i}"),
        received_at: Timestamp(1_740_000_000_000_000),
    };
    // Three side files: two of missing distinct ids, then one of bad timestamps.
    for (file, reason) in [
        RejectReason::MissingDistinctId,
        RejectReason::MissingDistinctId,
        RejectReason::InvalidTimestamp,
    ]
    .into_iter()
    .enumerate()
    {
        let rejections = (0..3).map(|i| rejection(reason, file * 3 + i)).collect();
        let batch = EventBatch::new(Project::new("a").unwrap(), Vec::new(), rejections);
        engine.append(Record::Events(batch)).unwrap();
        engine.flush().unwrap();
    }
    let mut files: Vec<_> = std::fs::read_dir(dir.join("quarantine/a"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    // Damage the last two files: a page that does not reach them still answers, with counts from the manifest.
    std::fs::write(&files[1], b"damaged").unwrap();
    std::fs::write(&files[2], b"damaged").unwrap();
    let (page, total, by_reason) = engine.quarantine("a", None, 2).unwrap();
    let sources: Vec<&str> = page.iter().map(|r| r.source.as_str()).collect();
    assert_eq!(sources, ["f.ndjson:0", "f.ndjson:1"]);
    assert_eq!(total, 9);
    assert_eq!(
        by_reason.into_iter().collect::<Vec<_>>(),
        [("invalid_timestamp", 3), ("missing_distinct_id", 6)]
    );
    // A page that needs a damaged file reads it, and says so.
    assert!(engine.quarantine("a", None, 4).is_err());
    assert!(
        engine
            .quarantine("a", Some(RejectReason::InvalidTimestamp), 1)
            .is_err()
    );
}

#[test]
fn an_import_flushed_many_times_while_reading_counts_and_stores_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..3000 {
        // Every tenth line repeats the one before it: duplicates across flush boundaries too.
        let n = if i % 10 == 9 { i - 1 } else { i };
        text += &line(
            n,
            &format!("u{}", n % 40),
            "chat_message",
            1 + (n % 9) as u32,
            "{}",
        );
        text.push('\n');
    }
    let file = write_file(tmp.path(), "events.ndjson", &text);
    let small = Engine::open(
        &tmp.path().join("small"),
        OpenMode::CreateIfMissing,
        EngineConfig {
            flush_events: 97,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let one = open(&tmp.path().join("one"));
    let a = import(&small, "chat", &file);
    let b = import(&one, "chat", &file);
    assert_eq!(
        (a.read, a.accepted, a.duplicates, a.written),
        (b.read, b.accepted, b.duplicates, b.written)
    );
    assert_eq!((a.accepted, a.written), (3000, 2700));
    assert_eq!(stored(&small).len(), 2700);
}

#[test]
fn a_full_tail_refuses_appends_until_a_flush_and_never_flushes_inline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let config = EngineConfig {
        flush_events: 5,
        tail_limit: Some(10),
        ..EngineConfig::default()
    };
    let batch_of = |first: u64| {
        let text: Vec<String> = (first..first + 4)
            .map(|i| line(i, "u1", "chat_message", 3, "{}"))
            .collect();
        Record::Events(batch("chat", &text.join("\n")))
    };
    let engine = fixture::open_with(&dir, config.clone());
    // 4, 8, 12 events: past flush_events, yet nothing is flushed by the appends themselves.
    for first in [0, 4, 8] {
        engine.append(batch_of(first)).unwrap();
    }
    assert_eq!((engine.tail_events(), engine.waiting_events()), (12, 12));
    assert!(stored(&engine).is_empty());
    match engine.append(batch_of(12)) {
        Err(liucun::Error::Overloaded { waiting, limit }) => assert_eq!((waiting, limit), (12, 10)),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    assert_eq!(engine.tail_events(), 12);
    // The refused batch was not logged: a reopen replays the twelve acknowledged events only.
    drop(engine);
    let engine = fixture::open_with(&dir, config);
    assert_eq!(engine.tail_events(), 12);
    engine.flush().unwrap();
    assert_eq!(engine.waiting_events(), 0);
    engine.append(batch_of(12)).unwrap();
    engine.flush().unwrap();
    assert_eq!(stored(&engine).len(), 16);
}

#[test]
fn a_large_day_is_written_as_several_sorted_segments_in_parallel() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open_with(
        &tmp.path().join("data"),
        EngineConfig {
            split_rows: 100,
            ..EngineConfig::default()
        },
    );
    let text: Vec<String> = (0..1000u64)
        .map(|i| line(i, &format!("u{}", (i * 7919) % 97), "chat_message", 3, "{}"))
        .collect();
    engine
        .import_batch(batch("chat", &text.join("\n")))
        .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let stats = pool.install(|| engine.flush()).unwrap();
    assert_eq!((stats.events_written, stats.segments_written), (1000, 3));
    // Each piece is a run of the day's segment order: sorted within, and every event stored once.
    let (ok, bad) = engine.with_store(|s| s.read_events(&store::ScanFilter::default()));
    assert!(bad.is_empty());
    assert_eq!(ok.len(), 3);
    let mut pieces = Vec::new();
    for (_, events) in &ok {
        let keys: Vec<_> = events
            .iter()
            .map(|e| (e.distinct_id().to_string(), e.timestamp, e.uuid))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        pieces.push(keys);
    }
    pieces.sort();
    assert!(pieces.windows(2).all(|w| w[0].last() < w[1].first()));
    assert_eq!(stored(&engine).len(), 1000);
}

/// Puts a file where `project`'s segment directory belongs, so that flushes fail until it is removed; returns it.
fn block_segments(dir: &std::path::Path, project: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("segments")).unwrap();
    let blocker = dir.join("segments").join(project);
    std::fs::write(&blocker, b"in the way").unwrap();
    blocker
}

/// A fresh data directory whose engine holds four appended `chat` events in its tail.
fn engine_with_tail() -> (tempfile::TempDir, std::path::PathBuf, Engine) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = fixture::open_with(&dir, EngineConfig::default());
    engine
        .append(Record::Events(batch("chat", &lines(0, "u1"))))
        .unwrap();
    (tmp, dir, engine)
}

/// Four `chat_message` lines of `user`, uuids `first..first + 4`.
fn lines(first: u64, user: &str) -> String {
    (first..first + 4)
        .map(|i| line(i, user, "chat_message", 3, "{}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_failed_flush_hands_back_what_it_took_and_the_next_one_writes_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let engine = fixture::open_with(&dir, EngineConfig::default());
    // The tail (through the WAL, with one rejected line) and the bulk buffer, for the same project.
    let tail = format!("{}\n{{not json", lines(0, "u1"));
    engine.append(Record::Events(batch("chat", &tail))).unwrap();
    engine
        .import_batch(batch("chat", &lines(100, "u2")))
        .unwrap();
    let blocker = block_segments(&dir, "chat");
    assert!(engine.flush().is_err());
    assert_eq!((engine.tail_events(), engine.waiting_events()), (4, 4));
    assert!(stored(&engine).is_empty());
    // Later appends queue behind what was handed back; the next flush writes everything, once.
    engine
        .append(Record::Events(batch("chat", &lines(4, "u1"))))
        .unwrap();
    assert_eq!(engine.tail_events(), 8);
    std::fs::remove_file(&blocker).unwrap();
    let stats = engine.flush().unwrap();
    assert_eq!((stats.events_written, stats.quarantined), (12, 1));
    assert_eq!(stored(&engine).len(), 12);
    assert_eq!(engine.waiting_events(), 0);
    // The WAL was truncated past both appends: a reopen replays nothing.
    drop(engine);
    let engine = fixture::open_with(&dir, EngineConfig::default());
    assert_eq!(engine.tail_events(), 0);
    assert_eq!(stored(&engine).len(), 12);
}

#[test]
fn a_flush_failing_again_and_again_leaves_the_tail_to_the_wal_but_keeps_the_bulk_buffer() {
    let (_tmp, dir, engine) = engine_with_tail();
    engine
        .import_batch(batch("chat", &lines(100, "u2")))
        .unwrap();
    let blocker = block_segments(&dir, "chat");
    let mut tails = Vec::new();
    for _ in 0..5 {
        assert!(engine.flush().is_err());
        tails.push(engine.tail_events());
    }
    // Handed back three times, then left in the WAL.
    assert_eq!(tails, [4, 4, 4, 0, 0]);
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(engine.flush().unwrap().events_written, 4);
    // The tail's records come back from the WAL at the next open.
    drop(engine);
    let engine = fixture::open_with(&dir, EngineConfig::default());
    assert_eq!(engine.tail_events(), 4);
    engine.flush().unwrap();
    assert_eq!(stored(&engine).len(), 8);
}

#[test]
fn a_retry_after_a_failed_manifest_commit_writes_new_files() {
    // The rename of a manifest can reach the disk before a later step of its commit fails; the files that manifest
    // names must survive the retry, so the retry takes new file ids.
    let (_tmp, dir, engine) = engine_with_tail();
    let before = engine.with_store(|s| s.manifest().next_file_id);
    // A directory where the manifest's temporary file goes makes the commit fail after the segment is written.
    let blocker = dir.join("MANIFEST.tmp");
    std::fs::create_dir(&blocker).unwrap();
    assert!(engine.flush().is_err());
    std::fs::remove_dir(&blocker).unwrap();
    engine.flush().unwrap();
    let ids: Vec<u64> = engine.with_store(|s| s.manifest().segments.iter().map(|e| e.id).collect());
    assert_eq!(ids.len(), 1);
    assert!(ids[0] > before + 1, "the retry reused file id {}", ids[0]);
    assert_eq!(stored(&engine).len(), 4);
}
