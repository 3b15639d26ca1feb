//! Custom brackets (retention.md §14): columns that cover several periods, their labels, cumulative mode and
//! incomplete cells.

mod fixture;

use liucun::model::Timestamp;
use liucun::report::params::{RetentionParams, RetentionType};

fn report(cumulative: bool) -> liucun::report::RetentionReport {
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
    let params = RetentionParams {
        projects: vec!["chat".into()],
        retention_type: RetentionType::FirstTime,
        date_from: Some("2025-03-01".into()),
        date_to: Some("2025-03-10".into()),
        total_intervals: 10,
        custom_brackets: Some(vec![1, 3]),
        cumulative,
        as_of: Some("2025-03-11T00:00:00Z".into()),
        ..RetentionParams::default()
    };
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
