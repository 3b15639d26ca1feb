//! Costing records cached beside segments: an economics report gives the same bytes whether it derives each
//! segment's costs from the AI events' properties or reads them back, and the cache follows the segments and the
//! price tables (stale, corrupt, compacted and surplus files are derived again or deleted).

mod fixture;

use std::path::{Path, PathBuf};

use liucun::model::Timestamp;
use report::{Kind, Request};
use serde_json::{Value, json};

const PRICES: &str = r#"schema_version = 1
[[model]]
id = "test/chat"
provider = "test"
aliases = ["chat-1"]
currency = "USD"
source = "test"
checked = 2025-01-01
  [[model.price]]
  effective_from = 2025-01-01
  uncached_input = "3"
  cache_read = "0.3"
  output = "15"
"#;

fn import(engine: &liucun::Engine) {
    let mut rows = Vec::new();
    for i in 0..400u32 {
        let who = format!("u{}", i % 37);
        let day = 1 + i % 20;
        let ts = format!("2025-03-{day:02}T{:02}:00:00Z", i % 24);
        let (event, props) = match i % 8 {
            0 => ("signup", json!({})),
            1 => (
                "payment",
                json!({"amount": format!("{}.50", 5 + i % 7), "currency": "USD", "kind": "new"}),
            ),
            // Priced from the table, some with cache reads.
            2 | 3 => (
                "$ai_generation",
                json!({"$ai_model": "chat-1", "$ai_input_tokens": 100 + i, "$ai_output_tokens": 40 + i % 13,
                       "$ai_cache_read_input_tokens": i % 3 * 10}),
            ),
            // Unknown to every table.
            4 => (
                "$ai_generation",
                json!({"$ai_model": format!("mystery-{}", i % 3), "$ai_input_tokens": 10, "$ai_output_tokens": 5}),
            ),
            // A supplied cost and custom prices.
            5 => (
                "$ai_generation",
                json!({"$ai_model": "chat-1", "$ai_total_cost_usd": "0.0125", "$ai_input_tokens": 1}),
            ),
            6 => (
                "$ai_embedding",
                json!({"$ai_model": "emb", "$ai_input_tokens": 500, "$ai_input_token_price": "0.0000001",
                       "$ai_output_token_price": "0"}),
            ),
            _ => ("chat_message", json!({"n": i})),
        };
        rows.push((who, event, ts, props));
    }
    // Two flushes, so each day has two segments for compaction to merge.
    for half in rows.chunks(200).enumerate() {
        let mut text = String::new();
        for (n, (who, event, ts, props)) in half.1.iter().enumerate() {
            let uuid = format!("00000000-0000-4000-8000-{:012x}", half.0 * 1000 + n + 1);
            text += &json!({"uuid": uuid, "distinct_id": who, "event": event, "timestamp": ts,
                            "properties": props})
            .to_string();
            text.push('\n');
        }
        engine.import_batch(fixture::batch("p", &text)).unwrap();
        engine.flush().unwrap();
    }
}

fn economics(dir: &Path, prices: &str) -> String {
    // A fresh engine each time, so no table comes from the in-memory cache.
    let engine = fixture::open(dir);
    let params = json!({"projects": ["p"], "period": "week", "total_intervals": 4,
                        "date_from": "2025-03-01", "date_to": "2025-03-21",
                        "as_of": "2025-04-01T00:00:00Z", "prices": [prices]});
    let request = Request::from_json(Kind::Economics, &params).expect("params");
    engine
        .report(request, Timestamp(1_750_000_000_000_000))
        .expect("report")
        .to_json()
        .to_string()
}

fn cached(dir: &Path) -> Vec<PathBuf> {
    fixture::derived_files(dir, ".parquet")
}

/// The cached costings as the store lists them: (digest, files, bytes), most recently used first.
fn costings(dir: &Path) -> Vec<(String, u64, u64)> {
    fixture::open(dir).inspect().unwrap().costings
}

#[test]
fn cached_costs_give_the_same_report_and_follow_segments_and_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    import(&fixture::open(dir));
    let segments = fixture::open(dir).with_store(|s| s.manifest().segments.len());
    assert!(segments >= 20, "{segments} segments");

    // Derived from the properties, then read back: the same bytes.
    let derived = economics(dir, PRICES);
    let report: Value = serde_json::from_str(&derived).unwrap();
    let costing = &report["provenance"]["costing"];
    assert!(
        costing["by_source"]["table"].as_u64().unwrap() > 0,
        "{costing}"
    );
    assert!(
        costing["by_source"]["provided"].as_u64().unwrap() > 0,
        "{costing}"
    );
    assert!(
        costing["by_source"]["custom"].as_u64().unwrap() > 0,
        "{costing}"
    );
    assert_eq!(
        costing["unpriced"].as_array().unwrap().len(),
        3,
        "{costing}"
    );
    let files = cached(dir);
    assert_eq!(files.len(), segments, "{files:?}");
    let shown = costings(dir);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].1, segments as u64);
    assert!(shown[0].2 > 0);
    assert_eq!(economics(dir, PRICES), derived);

    // A corrupt file and a file of another segment's rows are derived again, and the report does not change.
    std::fs::write(&files[0], b"not parquet").unwrap();
    std::fs::copy(&files[2], &files[1]).unwrap();
    assert_eq!(economics(dir, PRICES), derived);
    for f in &files[..2] {
        assert!(std::fs::metadata(f).unwrap().len() > 100);
    }
    assert_eq!(economics(dir, PRICES), derived);

    // Other price tables cost differently, under their own digest; only the four most recent costings stay.
    let dearer = PRICES.replace("output = \"15\"", "output = \"30\"");
    assert_ne!(economics(dir, &dearer), derived);
    assert_eq!(costings(dir).len(), 2);
    for n in 0..4 {
        economics(dir, &format!("{dearer}\n# {n}\n"));
    }
    assert_eq!(costings(dir).len(), 4);
    assert_eq!(economics(dir, PRICES), derived);

    // Compaction replaces the segments: their costs go at the next open, and the report is unchanged.
    fixture::open(dir).compact().unwrap();
    let after = fixture::open(dir).with_store(|s| s.manifest().segments.len());
    assert!(after < segments, "{after} of {segments}");
    assert_eq!(economics(dir, PRICES), derived);
    // The costing just used holds one file per segment left: the replaced segments' files are gone.
    let used = &costings(dir)[0];
    assert_eq!(used.1, after as u64, "{used:?}");
    let files = cached(dir)
        .iter()
        .filter(|p| p.to_string_lossy().contains(&used.0))
        .count();
    assert_eq!(files, after);
}
