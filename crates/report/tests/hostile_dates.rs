//! Issue 11: no date parameter may panic a retention plan. Each hostile value of `date_from`, `date_to` or
//! `as_of` gives a plan or an error naming a date parameter, for every period.

use liucun_report::{Error, RetentionParams, retention};
use serde_json::json;

const HOSTILE: &[&str] = &[
    "-99999999d",
    "-7304485d",
    "-99999999m",
    "-99999999y",
    "-9999999999999999999999h",
    "-5é",
    "9999-12-30",
    "9999-12-31T23:59:59Z",
    "-009999-01-01T00:00:00Z",
    "-009999-01-02",
];

#[test]
fn issue_11_hostile_dates_plan_or_refuse() {
    let mut planned_or_refused = 0;
    for period in ["hour", "day", "week", "month"] {
        for zone in ["UTC", "Pacific/Chatham", "America/New_York"] {
            for field in ["date_from", "date_to", "as_of"] {
                for &text in HOSTILE {
                    let params = json!({
                        "projects": ["demo"],
                        "period": period,
                        "timezone": zone,
                        "total_intervals": 1000,
                        field: text,
                    });
                    let case = format!("{period} {zone} {field}={text:?}");
                    let Ok(params) = RetentionParams::from_json(&params) else {
                        continue;
                    };
                    planned_or_refused += 1;
                    if let Err(Error::Invalid { field: named, .. }) =
                        retention::plan(params, 1_750_000_000_000_000)
                    {
                        assert!(
                            ["date_from", "date_to", "as_of"].contains(&named.as_str()),
                            "{case}: names {named}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(planned_or_refused, 4 * 3 * 3 * HOSTILE.len());
}

#[test]
fn issue_11_the_reported_values_name_their_field() {
    for (field, text) in [
        ("date_from", "-99999999d"),
        ("date_from", "-7304485d"),
        ("date_from", "-99999999m"),
        ("date_to", "9999-12-30"),
    ] {
        let params = json!({"projects": ["demo"], "period": "month", field: text});
        let params = RetentionParams::from_json(&params).expect("parameters parse");
        let err = retention::plan(params, 1_750_000_000_000_000).expect_err(text);
        assert!(
            matches!(&err, Error::Invalid { field: f, .. } if f == field),
            "{text}: {err}"
        );
    }
}
