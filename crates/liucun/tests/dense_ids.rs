//! Report tables built from dense distinct ids (docs/formats/ids.md) give byte-identical reports to tables that
//! resolve distinct ids as text: on random events with merges arriving late, flushes, compactions and restarts
//! between batches, personless events, an `as_of` before the latest merge, derived files deleted or damaged, and a
//! read-only engine beside the writer.

mod fixture;

use std::path::Path;

use liucun::model::Timestamp;
use liucun::{Engine, EngineConfig};
use report::{Kind, Request};
use serde_json::{Value, json};

const DAY_US: i64 = 86_400_000_000;
/// 2025-05-01T00:00:00Z.
const BASE_US: i64 = 1_746_057_600_000_000;

fn rfc(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us).unwrap().to_string()
}

/// One event: (user, minute since BASE, name, personless), or a merge of user b into user a at a minute.
#[derive(Debug, Clone)]
enum Item {
    Event(u8, u32, u8, bool),
    Merge(u8, u8, u32),
}

#[derive(Debug, Clone, Copy)]
enum After {
    Flush,
    Compact,
    Reopen,
}

fn line(n: usize, item: &Item) -> String {
    let uuid = format!("00000000-0000-4000-8000-{n:012x}");
    let at = |m: u32| rfc(BASE_US + i64::from(m) * 60_000_000);
    match item {
        Item::Event(who, h, name, personless) => {
            let props = if *personless {
                json!({"$process_person_profile": false})
            } else {
                json!({})
            };
            let event = ["$pageview", "chat_message", "signup"][*name as usize];
            json!({"uuid": uuid, "distinct_id": format!("u{who}"), "event": event,
                   "timestamp": at(*h), "properties": props})
        }
        Item::Merge(a, b, h) => json!({"uuid": uuid, "distinct_id": format!("u{a}"), "event": "$identify",
                                       "timestamp": at(*h), "properties": {"$anon_distinct_id": format!("u{b}")}}),
    }
    .to_string()
}

fn config(dense_ids: bool) -> EngineConfig {
    EngineConfig {
        dense_ids,
        ..EngineConfig::default()
    }
}

/// The reports compared: each kind whose table may come from dense ids, at two `as_of`s.
fn requests() -> Vec<(Kind, Value)> {
    let mut out = Vec::new();
    for as_of in [
        BASE_US + 30 * DAY_US,
        BASE_US + 6 * DAY_US + 7 * 3_600_000_000,
        BASE_US + 9 * DAY_US - 1,
    ] {
        let common = json!({"projects": ["p"], "date_from": "2025-05-01", "date_to": "2025-05-14",
                            "as_of": rfc(as_of)});
        let with = |extra: Value| {
            let mut p = common.clone();
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            p
        };
        out.push((
            Kind::Retention,
            with(json!({"period": "day", "total_intervals": 14, "retention_type": "first_time"})),
        ));
        out.push((
            Kind::Retention,
            with(
                json!({"period": "week", "total_intervals": 2, "retention_type": "recurring",
                        "timezone": "Asia/Shanghai", "personless": "include"}),
            ),
        ));
        // Half-hour offsets and counted returns are read per event; whole-hour ones at hour grain.
        out.push((
            Kind::Retention,
            with(
                json!({"period": "day", "total_intervals": 10, "retention_type": "first_ever",
                        "timezone": "Asia/Kolkata"}),
            ),
        ));
        out.push((
            Kind::Retention,
            with(
                json!({"period": "day", "total_intervals": 10, "retention_type": "recurring",
                        "minimum_occurrences": 2, "returning": {"event": "chat_message"}}),
            ),
        ));
        out.push((
            Kind::Retention,
            with(
                json!({"period": "month", "total_intervals": 2, "retention_type": "first_time",
                        "timezone": "America/New_York", "target": {"event": "signup"}}),
            ),
        ));
        // First-ever without entity filters reads no uuids: at hour grain, from per-period sets.
        out.push((
            Kind::Retention,
            with(json!({"period": "day", "total_intervals": 7, "retention_type": "first_ever"})),
        ));
        // Per-period sets (plain retention) read per event, with cumulative columns and with brackets.
        out.push((
            Kind::Retention,
            with(
                json!({"period": "day", "total_intervals": 7, "retention_type": "first_time",
                        "timezone": "Asia/Kolkata", "cumulative": true, "returning": {"event": "chat_message"}}),
            ),
        ));
        out.push((
            Kind::Retention,
            with(
                json!({"period": "day", "retention_type": "recurring", "custom_brackets": [1, 2, 4],
                        "target": {"event": ["signup", "chat_message"]}}),
            ),
        ));
        out.push((
            Kind::Trends,
            with(
                json!({"interval": "day", "series": [{"math": "dau"}, {"math": "unique_persons"}, {"math": "total"}]}),
            ),
        ));
        out.push((
            Kind::Trends,
            with(json!({"interval": "day", "timezone": "Asia/Shanghai",
                        "series": [{"math": "dau"}, {"math": "wau"}, {"math": "mau"}, {"math": "dau_mau"},
                                   {"math": "unique_persons", "entity": {"event": "chat_message"}}]})),
        ));
        out.push((
            Kind::Trends,
            with(json!({"interval": "hour", "date_to": "2025-05-03", "series": [{"math": "unique_persons"}]})),
        ));
        // Per-period sets (distinct and rolling persons): at hour grain, and read per event.
        out.push((
            Kind::Trends,
            with(json!({"interval": "day", "series": [{"math": "dau"}, {"math": "mau"}, {"math": "dau_mau"}]})),
        ));
        out.push((
            Kind::Trends,
            with(
                json!({"interval": "day", "timezone": "Asia/Kolkata", "personless": "include",
                        "series": [{"math": "wau", "entity": {"event": ["chat_message", "signup"]}},
                                   {"math": "unique_persons"}]}),
            ),
        ));
        out.push((
            Kind::Trends,
            with(json!({"interval": "week", "series": [{"math": "unique_persons", "entity": {"event": "signup"}}]})),
        ));
        out.push((Kind::Stickiness, with(json!({"interval": "day"}))));
        out.push((
            Kind::Stickiness,
            with(
                json!({"interval": "day", "interval_count": 3, "timezone": "Asia/Kolkata",
                        "series": {"event": ["chat_message", "signup"]}, "cumulative": true}),
            ),
        ));
        out.push((
            Kind::Stickiness,
            with(json!({"interval": "week", "timezone": "Asia/Shanghai"})),
        ));
        out.push((
            Kind::Funnels,
            with(json!({"steps": [{"event": "$pageview"}, {"event": "chat_message"}]})),
        ));
    }
    out
}

fn reports(engine: &Engine) -> Vec<String> {
    requests()
        .into_iter()
        .map(|(kind, params)| {
            let request = Request::from_json(kind, &params).unwrap();
            engine
                .report(request, Timestamp(0))
                .unwrap()
                .to_json()
                .to_string()
        })
        .collect()
}

/// The first report that differs, with the first differing field of its JSON.
fn same(got: &[String], want: &[String]) -> Result<(), proptest::test_runner::TestCaseError> {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            let at = g.bytes().zip(w.bytes()).take_while(|(a, b)| a == b).count();
            let around = |s: &str| {
                s.get(at.saturating_sub(200)..(at + 200).min(s.len()))
                    .unwrap_or("")
                    .to_string()
            };
            return Err(proptest::test_runner::TestCaseError::fail(format!(
                "report {k} ({:?}) differs:\n got …{}…\nwant …{}…",
                requests()[k].0,
                around(g),
                around(w)
            )));
        }
    }
    proptest::prop_assert_eq!(got.len(), want.len());
    Ok(())
}

fn build(dir: &Path, batches: &[(Vec<Item>, After)]) {
    let mut engine = fixture::open_with(dir, config(true));
    let mut n = 0;
    for (items, after) in batches {
        let text: String = items
            .iter()
            .map(|item| {
                n += 1;
                line(n, item) + "\n"
            })
            .collect();
        if !text.is_empty() {
            engine.import_batch(fixture::batch("p", &text)).unwrap();
        }
        match after {
            After::Flush => {
                engine.flush().unwrap();
            }
            After::Compact => {
                engine.compact().unwrap();
            }
            After::Reopen => {
                engine.flush().unwrap();
                drop(engine);
                engine = fixture::open_with(dir, config(true));
            }
        }
        // Reports between batches derive ids that later batches must extend, not contradict.
        reports(&engine);
    }
}

fn item() -> impl proptest::strategy::Strategy<Value = Item> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (0u8..12, 0u32..24 * 16 * 60, 0u8..3, proptest::bool::weighted(0.15))
            .prop_map(|(w, h, n, p)| Item::Event(w, h, n, p)),
        1 => (0u8..12, 0u8..12, 0u32..24 * 16 * 60).prop_map(|(a, b, h)| Item::Merge(a, b, h)),
    ]
}

fn after() -> impl proptest::strategy::Strategy<Value = After> {
    use proptest::prelude::*;
    prop_oneof![
        Just(After::Flush),
        Just(After::Compact),
        Just(After::Reopen)
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    #[test]
    fn dense_and_text_ids_give_identical_reports(
        batches in proptest::collection::vec((proptest::collection::vec(item(), 0..40), after()), 1..5),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        build(dir, &batches);
        let text = reports(&fixture::open_with(dir, config(false)));
        // Derived on first use (or kept from the reports between batches), then read back.
        let dense = reports(&fixture::open_with(dir, config(true)));
        same(&dense, &text)?;
        // Retention read the segments at hour grain (a merge is an `$identify` event, so any item makes a segment).
        let any_event = batches.iter().any(|b| !b.0.is_empty());
        proptest::prop_assert_eq!(!fixture::derived_files(dir, ".hours").is_empty(), any_event);
        same(&reports(&fixture::open_with(dir, config(true))), &text)?;
        // A read-only engine beside the writer reads the kept files, or resolves text when one is missing.
        {
            let writer = fixture::open_with(dir, config(true));
            let reader = Engine::open_read_only(dir, config(true)).unwrap();
            same(&reports(&reader), &text)?;
            drop(writer);
        }
        // Damaged or missing derived files are derived again.
        for path in fixture::derived_files(dir, ".runs").iter().step_by(2) {
            let mut bytes = std::fs::read(path).unwrap();
            let last = bytes.len() / 2;
            bytes[last] ^= 0x55;
            std::fs::write(path, &bytes).unwrap();
        }
        for path in fixture::derived_files(dir, "persons") {
            std::fs::remove_file(path).unwrap();
        }
        same(&reports(&fixture::open_with(dir, config(true))), &text)?;
        // A damaged dictionary starts a new epoch: every runs file is stale, and derived again.
        for path in fixture::derived_files(dir, "/ids") {
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len().saturating_sub(3)]).unwrap();
        }
        same(&reports(&fixture::open_with(dir, config(true))), &text)?;
        // Runs of replaced segments are gone with them.
        fixture::open_with(dir, config(true)).compact().unwrap();
        for path in fixture::derived_files(dir, ".runs") {
            let segment = path.to_string_lossy().replace("/derived/ids/", "/").replace(".runs", "");
            proptest::prop_assert!(Path::new(&segment).exists(), "{}", segment);
        }
    }
}
