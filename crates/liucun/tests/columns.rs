//! The second-priority column modes of retention.md §14: custom brackets (columns that cover several periods, their
//! labels, cumulative mode and incomplete cells) and 24-hour windows.

mod fixture;

use liucun::model::Timestamp;
use report::params::{RetentionParams, RetentionType, TimeWindowMode};

fn report(cumulative: bool) -> report::RetentionReport {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    let mut text = String::new();
    // ana starts on day 1 and returns on day 3; ben starts on day 1 and returns on days 2 and 6.
    for (n, (who, day)) in [("ana", 1), ("ana", 3), ("ben", 1), ("ben", 2), ("ben", 6)]
        .iter()
        .enumerate()
    {
        text += &fixture::line(n as u64, who, "chat_message", *day, "{}");
        text.push('\n');
    }
    engine.import_batch(fixture::batch("chat", &text)).unwrap();
    engine.flush().unwrap();
    let params = RetentionParams::from_json(&serde_json::json!({
        "projects": ["chat"], "retention_type": "first_time", "date_from": "2025-03-01",
        "date_to": "2025-03-10", "total_intervals": 10, "custom_brackets": [1, 3],
        "cumulative": cumulative, "as_of": "2025-03-11T00:00:00Z",
    }))
    .unwrap();
    engine.retention(params, Timestamp(0)).unwrap()
}

#[test]
fn brackets_count_a_person_when_any_period_qualifies() {
    let r = report(false);
    assert_eq!(r.columns, vec!["Day 0", "Day 1", "Day 2-4"]);
    assert_eq!(r.rows[0].counts, vec![Some(2), Some(1), Some(1)]);
    // Row 8 (03-09): Day 1 is 03-10, inside the window; Day 2-4 starts after it.
    assert_eq!(r.rows[8].counts, vec![Some(0), Some(0), None]);
    // Row 7 (03-08): Day 2-4 reaches past the window, so it can still change.
    assert_eq!(
        r.rows[7].incomplete,
        vec![Some(false), Some(false), Some(true)]
    );
    assert_eq!(
        r.rows[6].incomplete,
        vec![Some(false), Some(false), Some(true)]
    );
    assert_eq!(
        r.rows[5].incomplete,
        vec![Some(false), Some(false), Some(false)]
    );
}

#[test]
fn cumulative_brackets_count_every_earlier_bracket() {
    let r = report(true);
    // ana qualifies in Day 2-4, so she counts in Day 1 too; ben only in Day 1.
    assert_eq!(r.rows[0].counts, vec![Some(2), Some(2), Some(1)]);
}

fn windows_report(mode: TimeWindowMode, retention_type: RetentionType) -> report::RetentionReport {
    let tmp = tempfile::tempdir().unwrap();
    let engine = fixture::open(&tmp.path().join("data"));
    // The spec's example: an anchor at 05-01 22:00 and a return at 05-02 09:00, then one at 05-03 23:00.
    let events = [
        ("ana", "2025-05-01T22:00:00Z"),
        ("ana", "2025-05-02T09:00:00Z"),
        ("ana", "2025-05-03T23:00:00Z"),
        ("ben", "2025-05-02T01:00:00Z"),
    ];
    let mut text = String::new();
    for (n, (who, ts)) in events.iter().enumerate() {
        text += &format!(
            r#"{{"uuid":"00000000-0000-4000-8000-{n:012x}","distinct_id":"{who}","event":"chat_message","timestamp":"{ts}"}}"#
        );
        text.push('\n');
    }
    engine.import_batch(fixture::batch("chat", &text)).unwrap();
    engine.flush().unwrap();
    let mut params = RetentionParams::from_json(&serde_json::json!({
        "projects": ["chat"], "date_from": "2025-05-01", "date_to": "2025-05-04",
        "total_intervals": 4, "as_of": "2025-05-10T00:00:00Z",
    }))
    .unwrap();
    params.retention_type = retention_type;
    params.time_window_mode = mode;
    engine.retention(params, Timestamp(0)).unwrap()
}

#[test]
fn windows_of_24_hours_count_from_the_anchor() {
    for ty in [RetentionType::Recurring, RetentionType::FirstTime] {
        let r = windows_report(TimeWindowMode::Hours24, ty);
        // ana: row 0, the 09:00 return is offset 0, the 05-03 23:00 return is offset 2 (49 h later).
        assert_eq!(
            r.rows[0].counts,
            vec![Some(1), Some(0), Some(1), Some(0)],
            "{ty:?}"
        );
        // ben: row 1, no return.
        assert_eq!(
            r.rows[1].counts,
            vec![Some(1), Some(0), Some(0), None],
            "{ty:?}"
        );
    }
    // Calendar mode counts the 09:00 return in column 1.
    let r = windows_report(TimeWindowMode::Calendar, RetentionType::FirstTime);
    assert_eq!(r.rows[0].counts, vec![Some(1), Some(1), Some(1), Some(0)]);
}

#[test]
fn windows_of_24_hours_refuse_cumulative_mode() {
    let mut p = RetentionParams::default();
    p.common.projects = vec!["chat".into()];
    p.time_window_mode = TimeWindowMode::Hours24;
    p.cumulative = true;
    assert!(p.validate().unwrap_err().to_string().contains("cumulative"));
}
