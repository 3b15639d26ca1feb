//! The economics report (economics.md) compiled to ClickHouse SQL.
//!
//! SQL decides who is in which cohort and what counts (§2, §8, §9.9): each person's anchor (the first target event
//! passing the target and global filters over all history, with the person's breakdown value), one row per person
//! and local period in which they did an activity event passing the global filters, and every event of the window
//! that may bear money: a payment (its typed columns), an AI event (its `$ai_` properties), or an event named in
//! `other_costs.per_event`, with its breakdown value. The money procedures (costing with the price tables, FX,
//! cells, unattributed amounts, intervals) then run over those rows in [`report::economics::from_given`], the code
//! the embedded engine runs over its own tables, so both engines give byte-identical reports. AI events are costed
//! in liucun, not in SQL, because price tables are versioned, tiered and matched by pattern (§3): the rows of a
//! report are its money events, not all its events.

use report::economics::{Economics, Given, Plan, ai_event_names};
use report::kind::ReportKind as _;
use report::params::PropertyKind;
use report::table::PaymentRow;
use serde_json::{Map, Value};

use crate::common;
use crate::filter::{compile, value_of};
use crate::sql::{Binder, Query};
use crate::{Error, Result};

/// Refuses what the compiler does not cover yet, naming the parameter.
///
/// # Errors
/// [`Error::Unsupported`] naming `timezone` for a zone without an IANA name.
pub fn check(plan: &Plan) -> Result<()> {
    common::tz_name(&plan.tz)?;
    Ok(())
}

/// The rows of one project: `kind person ts name ai paid amount currency pay_kind tax fee value`, where kind 0 is
/// an anchor, 1 an active period and 2 an event that may bear money; strings other than `person` and `ai` in hex.
///
/// # Errors
/// [`Error::Report`] for an invalid filter, [`Error::Unsupported`].
pub fn query(plan: &Plan, project: &str) -> Result<Query> {
    check(plan)?;
    let p = &plan.params;
    let c = &p.common;
    let scan = Economics::scan(plan);
    let mut b = Binder::default();
    let head = common::head(&scan, &mut b, project);
    let loaded = common::range(&scan, &mut b);
    let target_names = common::names(&mut b, &p.target, c, project);
    let target = compile(&mut b, &p.target.properties)?;
    let global = compile(&mut b, &c.global_filters(project))?;
    let global = common::all(&global);
    let skip = b.strings(&c.non_activity_events(project));
    let tz = b.string(common::tz_name(&plan.tz)?);
    let period = common::period(p.period, plan.window.first, &mut b, &tz, "ts");
    let (first, end) = (b.int(plan.window.first), b.int(plan.window.end));
    let mut money_names = ai_event_names();
    money_names.extend(p.other_costs.per_event.keys().cloned());
    let money_names = b.strings(&money_names);
    let ai_names = b.strings(&ai_event_names());
    let breakdown = c.breakdown.as_ref();
    let value = |b: &mut Binder, kind: PropertyKind| match breakdown {
        Some(bd) if bd.kind == kind => format!("hex({})", value_of(b, kind, &bd.property)),
        _ => "''".to_string(),
    };
    let person_value = value(&mut b, PropertyKind::Person);
    let event_value = value(&mut b, PropertyKind::Event);
    let in_window = format!(
        "ts >= fromUnixTimestamp64Micro({first}, 'UTC') AND ts < fromUnixTimestamp64Micro({end}, 'UTC')"
    );
    // An AI event's `$ai_` properties as a JSON object, their values as stored.
    let ai = "concat('{', arrayStringConcat(arrayMap(kv -> concat(toJSONString(kv.1), ':', kv.2), \
              arrayFilter(kv -> startsWith(kv.1, '$ai_'), JSONExtractKeysAndValuesRaw(properties))), ','), '}')";
    Ok(b.finish(format!(
        "{head},
r AS (
    SELECT * FROM ev WHERE {loaded} AND person NOT IN excluded
)
SELECT toUInt8(0) AS kind, person AS who, toInt64(toUnixTimestamp64Micro(min(ts))) AS at, '' AS name, '' AS ai,
    toUInt8(0) AS has_payment, toInt64(0) AS amount, '' AS currency, '' AS payment_kind, toInt64(0) AS tax,
    toInt64(0) AS fee, toString(any({person_value})) AS value
FROM r WHERE ({target_names}) AND ({target}) AND ({global})
GROUP BY person
UNION ALL
SELECT toUInt8(1), person, toInt64(toUnixTimestamp64Micro(min(ts))), '', '', toUInt8(0), toInt64(0), '', '',
    toInt64(0), toInt64(0), ''
FROM r WHERE {in_window} AND event NOT IN {skip} AND ({global})
GROUP BY person, {period}
UNION ALL
SELECT toUInt8(2), person, toInt64(toUnixTimestamp64Micro(ts)), hex(event), if(event IN {ai_names}, {ai}, ''),
    toUInt8(paid), toInt64(pay_amount), hex(pay_currency), hex(pay_kind), toInt64(pay_tax), toInt64(pay_fee),
    toString({event_value})
FROM r WHERE {in_window} AND (paid OR event IN {money_names})
FORMAT TabSeparated",
        target = common::all(&target),
    )))
}

/// Reads one row of the [`query`] answer into `given`.
///
/// # Errors
/// [`Error::Answer`] for a row of another shape.
pub fn read_row(
    given: &mut Given,
    coster: &report::economics::Coster<'_>,
    line: &str,
) -> Result<()> {
    if line.is_empty() {
        return Ok(());
    }
    let bad = || {
        Error::Answer(format!(
            "an economics row {line:?} is not `kind person ts name ai paid amount currency pay_kind tax fee value`"
        ))
    };
    let f: Vec<&str> = line.split('\t').collect();
    let [
        kind,
        person,
        ts,
        name,
        ai,
        paid,
        amount,
        currency,
        pay_kind,
        tax,
        fee,
        value,
    ] = f[..]
    else {
        return Err(bad());
    };
    let ts = ts.parse::<i64>().map_err(|_| bad())?;
    let text = |hex: &str| crate::retention::unhex(hex).ok_or_else(bad);
    match kind {
        "0" => given.anchor(person, ts, Some(text(value)?)),
        "1" => given.active(person, ts),
        "2" => {
            let props: Option<Map<String, Value>> = match ai {
                "" => None,
                json => Some(serde_json::from_str(&unescape(json)).map_err(|_| bad())?),
            };
            let payment = match paid {
                "0" => None,
                "1" => Some(PaymentRow {
                    amount_minor: amount.parse().map_err(|_| bad())?,
                    currency: text(currency)?,
                    kind: text(pay_kind)?,
                    tax_minor: tax.parse().map_err(|_| bad())?,
                    fee_minor: fee.parse().map_err(|_| bad())?,
                }),
                _ => return Err(bad()),
            };
            given.money(
                coster,
                person,
                ts,
                &text(name)?,
                props.as_ref(),
                payment,
                Some(text(value)?),
            );
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// A field of ClickHouse's TabSeparated output as it was: `\\`, `\'`, `\t`, `\n`, `\r`, `\b`, `\f` and `\0`
/// undone.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn tab_separated_fields_are_unescaped() {
        assert_eq!(unescape(r#"{"a":"x\\"y"}"#), r#"{"a":"x\"y"}"#);
        assert_eq!(unescape(r"it\'s\ta\nb\\"), "it's\ta\nb\\");
        assert_eq!(unescape("plain"), "plain");
    }
}
