//! Looking up stored events (`Engine::events`): the newest `limit` matches in (timestamp, uuid) order across many
//! days and segments, `truncated` exactly when more matched, each filter, compared with a naive reading of every
//! event.

mod fixture;

use liucun::EventQuery;
use proptest::prelude::*;
use serde_json::json;

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn the_page_is_the_newest_matches_of_a_naive_reading(
        rows in prop::collection::vec((0u8..4, 0u8..3, 1u32..20, 0u32..86_400), 0..300),
        limit in 1usize..40,
        by_user in prop::option::of(0u8..4),
        by_name in prop::option::of(0u8..3),
        flush_every in 1usize..200,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let engine = fixture::open(&tmp.path().join("data"));
        let names = ["chat", "signup", "pay"];
        let mut all = Vec::new();
        for (chunk_no, chunk) in rows.chunks(flush_every).enumerate() {
            let mut text = String::new();
            for (i, (user, name, day, second)) in chunk.iter().enumerate() {
                let n = chunk_no * flush_every + i;
                let uuid = format!("00000000-0000-4000-8000-{:012x}", n + 1);
                let ts = format!("2025-03-{day:02}T{:02}:{:02}:{:02}Z", second / 3600, second / 60 % 60, second % 60);
                text += &json!({"uuid": uuid, "distinct_id": format!("u{user}"), "event": names[*name as usize],
                                "timestamp": ts}).to_string();
                text.push('\n');
                all.push((ts, uuid, format!("u{user}"), names[*name as usize].to_string()));
            }
            if !text.is_empty() {
                engine.import_batch(fixture::batch("p", &text)).unwrap();
                engine.flush().unwrap();
            }
        }
        let query = EventQuery {
            distinct_id: by_user.map(|u| format!("u{u}")),
            event: by_name.map(|n| names[n as usize].to_string()),
            limit,
            ..EventQuery::default()
        };
        let page = engine.events("p", &query).unwrap();
        let mut want: Vec<(String, String)> = all
            .iter()
            .filter(|(_, _, who, name)| {
                query.distinct_id.as_ref().is_none_or(|d| d == who)
                    && query.event.as_ref().is_none_or(|n| n == name)
            })
            .map(|(ts, uuid, _, _)| (ts.clone(), uuid.clone()))
            .collect();
        want.sort();
        let truncated = want.len() > limit;
        let want: Vec<String> = want.split_off(want.len().saturating_sub(limit)).into_iter().map(|(_, u)| u).collect();
        let got: Vec<String> = page.events.iter().map(|e| e.uuid.to_string()).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(page.truncated, truncated);
    }
}
