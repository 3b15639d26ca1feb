//! The economics kind over small tables: cohorts, ages, money per cell, payback, and totals that reconcile.

use serde_json::{Map, Value, json};

use crate::kind::{Kind, Limits, Request};
use crate::table::{EventTable, PaymentRow};

/// (person, RFC 3339 instant, event, properties, payment)
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Value,
    Option<(i64, &'a str, &'a str, i64, i64)>,
);

fn table(rows: &[Row<'_>]) -> EventTable {
    let mut t = EventTable {
        project: "p".to_string(),
        ..EventTable::default()
    };
    let mut persons: Vec<String> = Vec::new();
    for (i, (person, when, event, props, pay)) in rows.iter().enumerate() {
        let p = persons.iter().position(|x| x == person).unwrap_or_else(|| {
            persons.push(person.to_string());
            persons.len() - 1
        });
        let n = t.names.iter().position(|x| x == event).unwrap_or_else(|| {
            t.names.push(event.to_string());
            t.names.len() - 1
        });
        t.person.push(p as u32);
        t.ts.push(when.parse::<jiff::Timestamp>().unwrap().as_microsecond());
        t.uuid.push(i as u128 + 1);
        t.name.push(n as u32);
        t.properties.push(match props {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        });
        t.push_payment(pay.map(|(amount, currency, kind, tax, fee)| PaymentRow {
            amount_minor: amount,
            currency: currency.to_string(),
            kind: kind.to_string(),
            tax_minor: tax,
            fee_minor: fee,
        }));
    }
    t.n_persons = persons.len();
    t
}

fn report(rows: &[Row<'_>], extra: Value) -> Value {
    report_of(&table(rows), extra)
}

fn report_of(t: &EventTable, extra: Value) -> Value {
    let mut params = json!({
        "projects": ["p"], "period": "month", "total_intervals": 3,
        "date_from": "2025-01-01", "date_to": "2025-03-31", "as_of": "2025-06-01T00:00:00Z",
        "target": {"event": "signup"},
    });
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    let request = Request::from_json(Kind::Economics, &params).expect("valid parameters");
    request
        .plan(0, &Limits::default())
        .expect("a plan")
        .run(&[t], &Limits::default())
        .expect("a report")
        .to_json()
}

fn rows() -> Vec<Row<'static>> {
    let cost = |usd: &str| json!({"$ai_model": "m", "$ai_total_cost_usd": usd});
    vec![
        // ana: January cohort, pays 23.99 incl. 4.00 tax (fee 1.00) in January, refunded in February.
        ("ana", "2025-01-05T10:00:00Z", "signup", json!({}), None),
        (
            "ana",
            "2025-01-05T10:01:00Z",
            "$ai_generation",
            cost("0.5"),
            None,
        ),
        (
            "ana",
            "2025-01-06T10:00:00Z",
            "payment",
            json!({}),
            Some((2399, "USD", "new", 400, 100)),
        ),
        (
            "ana",
            "2025-02-06T10:00:00Z",
            "payment",
            json!({}),
            Some((2399, "USD", "refund", 400, 0)),
        ),
        (
            "ana",
            "2025-02-07T10:00:00Z",
            "$ai_generation",
            cost("0.25"),
            None,
        ),
        // ben: January cohort, free, costs 2.00 in March.
        ("ben", "2025-01-20T10:00:00Z", "signup", json!({}), None),
        (
            "ben",
            "2025-03-01T10:00:00Z",
            "$ai_generation",
            cost("2"),
            None,
        ),
        // cai: February cohort, pays 10 CNY (no rate) and 5.00 USD in March.
        ("cai", "2025-02-10T10:00:00Z", "signup", json!({}), None),
        (
            "cai",
            "2025-03-10T10:00:00Z",
            "payment",
            json!({}),
            Some((1000, "CNY", "one_time", 0, 0)),
        ),
        (
            "cai",
            "2025-03-11T10:00:00Z",
            "payment",
            json!({}),
            Some((500, "USD", "renewal", 0, 0)),
        ),
        // dee: no cohort in the window (signed up in 2024): her money is unattributed.
        ("dee", "2024-12-01T10:00:00Z", "signup", json!({}), None),
        (
            "dee",
            "2025-01-02T10:00:00Z",
            "payment",
            json!({}),
            Some((1000, "USD", "new", 0, 0)),
        ),
        (
            "dee",
            "2025-01-03T10:00:00Z",
            "$ai_generation",
            json!({"$ai_model": "mystery"}),
            None,
        ),
    ]
}

#[test]
fn cohorts_ages_and_money_per_cell() {
    let r = report(&rows(), json!({}));
    assert_eq!(r["kind"], "economics");
    let jan = &r["rows"][0];
    assert_eq!(jan["cohort_users"], 2);
    let c0 = &jan["cells"][0];
    assert_eq!(c0["gross_revenue"], "19.99");
    assert_eq!(c0["net_revenue"], "19.99");
    assert_eq!(c0["inference_cost"], "0.500000");
    assert_eq!(c0["fees"], "1.000000");
    assert_eq!(c0["gross_profit"], "18.490000");
    assert_eq!(c0["paying_users"], 1);
    assert_eq!(c0["active_users"], 2);
    assert_eq!(c0["conversion_to_date"], json!(0.5));
    let c1 = &jan["cells"][1];
    assert_eq!(c1["refunds"], "19.99");
    assert_eq!(c1["net_revenue"], "-19.99");
    assert_eq!(c1["gross_margin"], Value::Null);
    assert_eq!(c1["ever_paid_to_date"], 1);
    let c2 = &jan["cells"][2];
    assert_eq!(c2["inference_cost"], "2.000000");
    // LTV to date: (18.49 − 20.24 − 2.00) / 2 persons.
    assert_eq!(c2["ltv_to_date"]["mean"], "-1.875000");
    // February cohort: age 1 is March; the CNY payment has no rate.
    let feb = &r["rows"][1];
    assert_eq!(feb["cells"][1]["net_revenue"], "5.00");
    assert_eq!(feb["cells"][2], Value::Null);
    assert_eq!(r["unconverted"][0]["currency"], "CNY");
    assert_eq!(r["unconverted"][0]["gross_revenue"], "10.00");
    // dee's January money is unattributed; her AI event is unpriced.
    assert_eq!(r["unattributed"][0]["net_revenue"], "10.00");
    assert_eq!(r["unattributed"][0]["persons"], 1);
    assert_eq!(
        r["provenance"]["costing"]["unpriced"][0]["model"],
        "mystery"
    );
    assert!(r["notes"].as_array().unwrap().len() >= 2);
}

const MONEY_FIELDS: [&str; 8] = [
    "gross_revenue",
    "refunds",
    "net_revenue",
    "inference_cost",
    "fees",
    "fees_paid",
    "other_variable_cost",
    "gross_profit",
];

fn pico(v: &Value) -> i128 {
    let s = v.as_str().expect("a decimal string");
    super::money::parse_decimal(s).unwrap().to_pico().unwrap()
}

/// Σ cohort cells + Σ unattributed = totals, for every money field (economics.md §8).
fn assert_reconciles(r: &Value) {
    for field in MONEY_FIELDS {
        let mut sum = 0i128;
        for row in r["rows"].as_array().unwrap() {
            for c in row["cells"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| !c.is_null())
            {
                sum += pico(&c[field]);
            }
        }
        for u in r["unattributed"].as_array().unwrap() {
            sum += pico(&u[field]);
        }
        assert_eq!(sum, pico(&r["totals"][0][field]), "{field}");
    }
}

const OTHER_COSTS: &str =
    r#"{"other_costs": {"per_active_user": "0.10", "per_event": {"$ai_generation": "0.01"}}}"#;

#[test]
fn cells_and_unattributed_reconcile_with_the_totals() {
    let extra: Value = serde_json::from_str(OTHER_COSTS).unwrap();
    assert_reconciles(&report(&rows(), extra));
}

/// The cell of `row` at `age` in a report's rows, by breakdown value and cohort start prefix.
fn cell<'a>(r: &'a Value, value: Option<&str>, cohort: &str, age: usize) -> &'a Value {
    let row = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| {
            row["breakdown_value"].as_str() == value
                && row["cohort_start"].as_str().unwrap().starts_with(cohort)
        })
        .unwrap_or_else(|| panic!("no row {value:?} {cohort}"));
    &row["cells"][age]
}

/// Every cell of the unbroken report equals the sum of the breakdown's cells of its cohort and age: money always,
/// user counts when `users_split` (a person breakdown), else each breakdown row holds the whole cohort's counts.
fn assert_splits(whole: &Value, split: &Value, users_split: bool) {
    for w in whole["rows"].as_array().unwrap() {
        let parts: Vec<&Value> = split["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["cohort_start"] == w["cohort_start"])
            .collect();
        assert!(!parts.is_empty());
        let users: u64 = parts
            .iter()
            .map(|r| r["cohort_users"].as_u64().unwrap())
            .sum();
        if users_split {
            assert_eq!(users, w["cohort_users"].as_u64().unwrap());
        } else {
            assert!(parts.iter().all(|r| r["cohort_users"] == w["cohort_users"]));
        }
        for (k, wc) in w["cells"].as_array().unwrap().iter().enumerate() {
            if wc.is_null() {
                assert!(parts.iter().all(|r| r["cells"][k].is_null()));
                continue;
            }
            for field in MONEY_FIELDS {
                let sum: i128 = parts.iter().map(|r| pico(&r["cells"][k][field])).sum();
                assert_eq!(
                    sum,
                    pico(&wc[field]),
                    "{field} of {} age {k}",
                    w["cohort_start"]
                );
            }
            // Per acquired user: Σ over the values of each value's total = the whole total.
            let total = |r: &Value, c: &Value| match c["ltv_to_date"]["mean"] {
                Value::Null => 0,
                ref m => pico(m) * i128::from(r["cohort_users"].as_u64().unwrap()),
            };
            let ltv: i128 = parts.iter().map(|r| total(r, &r["cells"][k])).sum();
            let whole_ltv = total(w, wc);
            assert!((ltv - whole_ltv).abs() <= 4 * 1_000_000, "ltv of age {k}");
            for count in ["active_users", "paying_users", "ever_paid_to_date"] {
                let n: Vec<u64> = parts
                    .iter()
                    .map(|r| r["cells"][k][count].as_u64().unwrap())
                    .collect();
                if users_split {
                    assert_eq!(
                        n.iter().sum::<u64>(),
                        wc[count].as_u64().unwrap(),
                        "{count}"
                    );
                } else {
                    assert!(
                        n.iter().all(|&x| x == wc[count].as_u64().unwrap()),
                        "{count}"
                    );
                }
            }
        }
    }
}

fn with_plans(rows: &[Row<'_>]) -> EventTable {
    let mut t = table(rows);
    // Persons in order of first appearance: ana, ben, cai, dee.
    t.person_properties = ["pro", "free", "pro", "free"]
        .iter()
        .map(|plan| json!({"plan": plan}).as_object().unwrap().clone())
        .collect();
    t
}

#[test]
fn a_person_breakdown_splits_the_cohorts_and_adds_up_to_the_whole() {
    let extra: Value = serde_json::from_str(OTHER_COSTS).unwrap();
    let t = with_plans(&rows());
    let whole = report_of(&t, extra.clone());
    let mut params = extra.clone();
    params["breakdown"] = json!({"type": "person", "property": "plan"});
    let split = report_of(&t, params);
    assert_reconciles(&split);
    assert_splits(&whole, &split, true);
    // pro holds ana (January) and cai (February); free holds ben (dee has no cohort in the window).
    assert_eq!(
        split["breakdown_values"][0]["values"],
        json!(["pro", "free"])
    );
    let pro = split["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["breakdown_value"] == "pro")
        .map(|r| r["cohort_users"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(pro, vec![1, 1, 0]);
    // ana alone: 18.49 − 0.5·… with other costs; without them, her LTV at age 2 is 18.49 − 20.24.
    let plain = report_of(
        &t,
        json!({"breakdown": {"type": "person", "property": "plan"}}),
    );
    assert_eq!(
        cell(&plain, Some("pro"), "2025-01", 2)["ltv_to_date"]["mean"],
        "-1.750000"
    );
    assert_eq!(
        cell(&plain, Some("free"), "2025-01", 2)["ltv_to_date"]["mean"],
        "-2.000000"
    );
    // A limit of one folds free into Other.
    let folded = report_of(
        &t,
        json!({"breakdown": {"type": "person", "property": "plan", "limit": 1}}),
    );
    assert_eq!(
        folded["breakdown_values"][0]["values"],
        json!(["pro", null])
    );
    assert_splits(&whole_plain(&t), &folded, true);
}

fn whole_plain(t: &EventTable) -> Value {
    report_of(t, json!({}))
}

#[test]
fn an_event_breakdown_splits_the_money_and_keeps_the_cohort_counts() {
    let mut rows = rows();
    // ana's February generation is of another model.
    rows[4].3 = json!({"$ai_model": "n", "$ai_total_cost_usd": "0.25"});
    let extra: Value = serde_json::from_str(OTHER_COSTS).unwrap();
    let whole = report(&rows, extra.clone());
    let mut params = extra.clone();
    params["breakdown"] = json!({"property": "$ai_model"});
    params["acquisition_spend"] = json!([{"period_start": "2025-01-01", "amount": "6.00"}]);
    let split = report(&rows, params);
    assert_reconciles(&split);
    assert_splits(&whole, &split, false);
    // Events carrying money into cohort cells: 4 without a model (payments), 2 of m, 1 of n; dee's (no cohort) do not
    // rank, so "mystery" has no row.
    assert_eq!(
        split["breakdown_values"][0]["values"],
        json!(["", "m", "n"])
    );
    assert_eq!(
        cell(&split, Some("m"), "2025-01", 0)["inference_cost"],
        "0.500000"
    );
    assert_eq!(
        cell(&split, Some("n"), "2025-01", 1)["inference_cost"],
        "0.250000"
    );
    assert_eq!(
        cell(&split, Some(""), "2025-01", 1)["inference_cost"],
        "0.000000"
    );
    assert_eq!(
        cell(&split, Some(""), "2025-01", 0)["gross_revenue"],
        "19.99"
    );
    // Per-active-user costs go to the empty value: two active persons at age 0.
    assert_eq!(
        cell(&split, Some(""), "2025-01", 0)["other_variable_cost"],
        "0.200000"
    );
    // CAC does not split by an event's value.
    assert!(
        split["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["cac"].is_null())
    );
    assert!(
        split["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("event breakdown"))
    );
    let folded = report(
        &rows,
        json!({"breakdown": {"property": "$ai_model", "limit": 2}}),
    );
    assert_eq!(
        folded["breakdown_values"][0]["values"],
        json!(["", "m", null])
    );
    assert_eq!(
        cell(&folded, None, "2025-01", 1)["inference_cost"],
        "0.250000"
    );
    assert_splits(&report(&rows, json!({})), &folded, false);
}

#[test]
fn the_top_share_counts_zeros_before_negatives() {
    // n = 200: the top 1% is two persons.
    let mut acc = super::MeanAcc::new(200);
    acc.add(100);
    for _ in 0..9 {
        acc.add(-1);
    }
    acc.n += 190;
    assert_eq!(acc.top_sum(), 100);
    let mut acc = super::MeanAcc::new(150);
    acc.add(10);
    for _ in 0..149 {
        acc.add(-1);
    }
    assert_eq!(acc.top_sum(), 9);
    // n = 300: the top three are 7, 5 and a zero, not −2.
    let mut acc = super::MeanAcc::new(300);
    for v in [7, 5, -2] {
        acc.add(v);
    }
    acc.n += 297;
    assert_eq!(acc.top_sum(), 12);
    // A positive total held by one of 100 persons is a heavy tail.
    let mut acc = super::MeanAcc::new(100);
    acc.add(1_000);
    acc.add(10);
    acc.n += 98;
    assert_eq!(acc.stats().2, Some(true));
}

#[test]
fn payback_and_ltv_to_cac() {
    let mut rows = Vec::new();
    for (i, who) in ["a", "b", "c", "d"].iter().enumerate() {
        let _ = i;
        rows.push((*who, "2025-01-02T00:00:00Z", "signup", json!({}), None));
        rows.push((
            *who,
            "2025-01-03T00:00:00Z",
            "payment",
            json!({}),
            Some((100, "USD", "new", 0, 0)),
        ));
        rows.push((
            *who,
            "2025-02-03T00:00:00Z",
            "payment",
            json!({}),
            Some((100, "USD", "renewal", 0, 0)),
        ));
    }
    // CAC 1.50 per user: L₀ = 1.00, L₁ = 2.00 → payback at age 1.
    let r = report(
        &rows,
        json!({"acquisition_spend": [{"period_start": "2025-01-01", "amount": "6.00"}]}),
    );
    let jan = &r["rows"][0];
    assert_eq!(jan["cac"], "1.500000");
    assert_eq!(jan["payback_age"], 1);
    assert_eq!(jan["ltv_to_cac_age"], 2);
    assert_eq!(jan["ltv_to_cac"], json!(1.333333));
    let err = Request::from_json(
        Kind::Economics,
        &json!({"projects": ["p"], "cac_per_user": "1", "acquisition_spend": []}),
    )
    .expect_err("both");
    assert!(err.to_string().contains("cac_per_user"), "{err}");
}
