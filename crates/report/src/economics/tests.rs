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
        t.payments
            .push(pay.map(|(amount, currency, kind, tax, fee)| PaymentRow {
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
    let t = table(rows);
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
        .run(&[&t], &Limits::default())
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

#[test]
fn cells_and_unattributed_reconcile_with_the_totals() {
    let r = report(
        &rows(),
        json!({"other_costs": {"per_active_user": "0.10", "per_event": {"$ai_generation": "0.01"}}}),
    );
    let pico = |v: &Value| -> i128 {
        let s = v.as_str().unwrap();
        let d = super::money::parse_decimal(s).unwrap();
        d.to_pico().unwrap()
    };
    for field in [
        "gross_revenue",
        "refunds",
        "net_revenue",
        "inference_cost",
        "fees",
        "fees_paid",
        "other_variable_cost",
        "gross_profit",
    ] {
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
