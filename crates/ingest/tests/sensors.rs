//! The Sensors Data requests recorded from the real SDKs (`tests/fixtures/sensors/`, ingest-sensors.md §12): each
//! is decoded and validated as the server does, and every message must give exactly the `expect` of its
//! description: event, distinct id, time, uuid kind, added properties, fold operations, merges and quarantine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use liucun_ingest::http::{self, CaptureContext, DecodeLimits, WireError, WireRequest};
use model::{Event, MergeSource, Project, Timestamp};

/// The receive time of every replayed request: 2026-12-05T09:00:00Z, after every capture.
const NOW_MS: i64 = 1_796_461_200_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sensors")
}

/// A recorded request: its target (path and query), headers and body.
struct Recorded {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_http(path: &Path) -> Recorded {
    let bytes = std::fs::read(path).unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a blank line after the headers");
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap();
    let target = request_line.split(' ').nth(1).unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Recorded {
        target,
        headers,
        body: bytes[split + 4..].to_vec(),
    }
}

fn capture(
    rec: &Recorded,
    project: &Project,
) -> Result<(http::CaptureBatch, Option<String>), WireError> {
    let query = rec.target.split_once('?').map(|(_, q)| q);
    let header = |name: &str| {
        rec.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let req = WireRequest {
        query,
        content_type: header("content-type"),
        content_encoding: header("content-encoding"),
        body: &rec.body,
    };
    let limits = DecodeLimits::default();
    let payload = http::sensors_payload(&req, &limits, &mut |_| Ok(()))?;
    assert_eq!(payload.checksum_mismatch, None, "{}", rec.target);
    let body = http::sensors_body(&payload, &limits)?;
    let token = body.token.clone();
    let ctx = CaptureContext {
        now: Timestamp(NOW_MS * 1000),
        query_sent_at: None,
        source: "http /sa test".to_string(),
    };
    Ok((http::capture_batch(project, body, &ctx), token))
}

#[test]
fn every_recorded_request_stores_its_expectation() {
    let project = Project::new("p").unwrap();
    let mut n_files = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        n_files += 1;
        let desc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let name = desc["name"].as_str().unwrap().to_string();
        let rec = read_http(&path.with_extension("http"));
        let (batch, token) = capture(&rec, &project).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(token.as_deref(), desc["token"].as_str(), "{name}: token");
        let (again, _) = capture(&rec, &project).unwrap();
        let messages = desc["messages"].as_array().unwrap();
        let expects = desc["expect"].as_array().unwrap();
        let mut events = batch.batch.events().iter();
        let mut events_again = again.batch.events().iter();
        for (i, (msg, want)) in messages.iter().zip(expects).enumerate() {
            let at = format!("{name} message {i}");
            if let Some(reason) = want.get("quarantine").and_then(Value::as_str) {
                let q = batch.quarantined.iter().find(|q| q.index == i);
                assert_eq!(q.map(|q| q.reason.code()), Some(reason), "{at}");
                continue;
            }
            let e = events.next().unwrap_or_else(|| panic!("{at}: not stored"));
            let e2 = events_again.next().unwrap();
            check_event(&at, e, e2, msg, want);
        }
        assert!(events.next().is_none(), "{name}: more events than expected");
    }
    assert_eq!(n_files, 46, "the fixtures are all there");
}

fn check_event(at: &str, e: &Event, again: &Event, msg: &Value, want: &Value) {
    assert_eq!(e.event(), want["event"].as_str().unwrap(), "{at}: event");
    assert_eq!(
        e.distinct_id(),
        want["distinct_id"].as_str().unwrap(),
        "{at}: distinct_id"
    );
    let time = want["time"].as_i64().unwrap();
    let stored_ms = match want["sent_at"].as_i64() {
        Some(sent) => NOW_MS + (time - sent),
        None => time,
    };
    assert_eq!(e.timestamp.0, stored_ms * 1000, "{at}: time");
    let uuid_kind = want["uuid"].as_str().unwrap();
    let version = e.uuid.0[6] >> 4;
    if uuid_kind.starts_with("v5") {
        assert_eq!(
            (version, e.uuid),
            (5, again.uuid),
            "{at}: a v5 from _track_id"
        );
    } else {
        assert_eq!(version, 7, "{at}: a v7 at receipt");
        assert_ne!(e.uuid, again.uuid, "{at}: v7 differ");
    }

    let props: Map<String, Value> = serde_json::from_str(e.properties()).unwrap();
    for (k, v) in want["added_properties"].as_object().unwrap() {
        let v = match v.as_str() {
            Some("<the identities object>") => &msg["identities"],
            Some("<the lib object>") => &msg["lib"],
            _ => v,
        };
        assert_eq!(props.get(k), Some(v), "{at}: added property {k}");
    }
    match want["person_ops"].as_object() {
        Some(ops) => {
            for (k, v) in ops {
                assert_eq!(props.get(k), Some(v), "{at}: person op {k}");
            }
        }
        None => {
            for op in [
                "$set",
                "$set_once",
                "$increment",
                "$append",
                "$unset",
                "$unset_all",
            ] {
                assert!(!props.contains_key(op), "{at}: unexpected {op}");
            }
        }
    }

    let want_pairs: BTreeSet<(String, String)> = want["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // An unbind is recorded, never applied (§5.4): it is no merge the fixtures list.
    let is_unbind = e
        .merge
        .as_ref()
        .is_some_and(|m| m.source == MergeSource::SensorsUnbind);
    let note = want["note"].as_str().unwrap_or("");
    assert_eq!(
        is_unbind,
        note.contains("unbind_not_applied"),
        "{at}: unbind recorded for the identity log"
    );
    let got_pairs: BTreeSet<(String, String)> = e
        .merge
        .iter()
        .filter(|m| m.source != MergeSource::SensorsUnbind)
        .flat_map(|m| {
            m.merged
                .split(MergeSource::ID_SEPARATOR)
                .filter(|id| *id != m.kept)
                .map(|id| (m.kept.clone(), id.to_string()))
        })
        .collect();
    assert_eq!(got_pairs, want_pairs, "{at}: merges");
    let identified: Vec<&str> = want["identified"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let got_identified: Vec<&str> = e
        .merge
        .iter()
        .filter(|m| m.source.identifies_kept())
        .map(|m| m.kept.as_str())
        .collect();
    assert_eq!(got_identified, identified, "{at}: identified");
}
