//! Event property filters (retention.md §5.2, §15.5–6) as ClickHouse expressions over the `properties` JSON text.
//!
//! - A property is absent when the key is missing or its value is JSON `null`.
//! - Its numeric value: a JSON number, or a string that, trimmed, holds only digits, `.`, `+`, `-`, `e`, `E` and
//!   reads as a finite number.
//! - Its string form: a string as it is, `true`/`false`, an array or object as its stored (canonical, compact) text,
//!   a number as its shortest round-trip text.
//!
//! Where ClickHouse and liucun's own engine can still differ (docs/clickhouse.md): `regex` runs on RE2 rather than
//! Rust's `regex` (the same syntax for common patterns), `contains` lowercases with ClickHouse's Unicode tables, and
//! the string form of a number of 10¹⁵ or more, or below 10⁻⁴, is written with an exponent.

use report::params::{Filter, Operator, PropertyKind};
use serde_json::Value;

use crate::sql::Binder;
use crate::{Error, Result};

/// One filter as a boolean SQL expression.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// The expression.
    pub sql: String,
}

/// Compiles event and person filters (a person filter reads `ev.person_properties`, which the head gives when the
/// scan loads person properties).
///
/// # Errors
/// [`Error::Report`] for a filter liucun refuses too (naming `properties`).
pub(crate) fn compile(b: &mut Binder, filters: &[Filter]) -> Result<Vec<Compiled>> {
    filters.iter().map(|f| one(b, f)).collect()
}

/// The column of `ev` holding an event's properties or its person's (at `as_of`), as JSON text.
pub(crate) fn column(kind: PropertyKind) -> &'static str {
    match kind {
        PropertyKind::Event => "properties",
        PropertyKind::Person => "person_properties",
    }
}

/// The string form of an event or person property (§5.2), `''` when it is absent or null: a breakdown's value
/// (§10.1).
pub(crate) fn value_of(b: &mut Binder, kind: PropertyKind, key: &str) -> String {
    let key = b.string(key);
    let e = Exprs::new(column(kind), &key);
    format!("ifNull({}, '')", e.form)
}

/// The numeric value of an event property (§5.2) as a `Nullable(Float64)`: `NULL` when it has none.
pub(crate) fn numeric_of(b: &mut Binder, key: &str) -> String {
    let key = b.string(key);
    let e = Exprs::new(column(PropertyKind::Event), &key);
    format!("CAST({} AS Nullable(Float64))", e.numeric)
}

/// The expressions one property's filters are built from.
struct Exprs {
    present: String,
    numeric: String,
    plain: String,
    form: String,
}

impl Exprs {
    fn new(column: &str, key: &str) -> Exprs {
        let ty = format!("JSONType({column}, {key})");
        let raw = format!("JSONExtractRaw({column}, {key})");
        let text = format!("JSONExtractString({column}, {key})");
        let present = format!("(JSONHas({column}, {key}) AND {ty} != 'Null')");
        // Unicode's White_Space, as Rust's `trim`; then Rust's `f64` grammar without `inf` and `NaN`.
        let trimmed = format!(
            "replaceRegexpAll({text}, '^[\\\\t\\\\n\\\\x0B\\\\f\\\\r\\\\x{{85}}\\\\p{{Z}}]+|[\\\\t\\\\n\\\\x0B\\\\f\\\\r\\\\x{{85}}\\\\p{{Z}}]+$', '')"
        );
        let numeric = format!(
            "multiIf({ty} IN ('Int64', 'UInt64', 'Double'), toFloat64OrNull({raw}), \
             {ty} = 'String' AND match({trimmed}, '^[+-]?([0-9]+\\\\.?[0-9]*|\\\\.[0-9]+)([eE][+-]?[0-9]+)?$'), \
             toFloat64OrNull({trimmed}), NULL)"
        );
        let numeric = format!("if(isFinite(ifNull({numeric}, nan)), {numeric}, NULL)");
        // The string form of anything but a number (a number is never equal to a non-numeric value's text).
        let plain = format!(
            "multiIf({ty} = 'String', {text}, {ty} = 'Bool', if(JSONExtractBool({column}, {key}), 'true', 'false'), \
             {ty} IN ('Array', 'Object'), {raw}, NULL)"
        );
        let number_text = format!(
            "if(match({raw}, '^-?[0-9]+$') AND (isNotNull(toInt64OrNull({raw})) OR isNotNull(toUInt64OrNull({raw}))), \
             {raw}, if(toFloat64({raw}) = trunc(toFloat64({raw})) AND abs(toFloat64({raw})) < 1e15, \
             toString(toInt64(toFloat64({raw}))), toString(toFloat64({raw}))))"
        );
        let form = format!("if({ty} IN ('Int64', 'UInt64', 'Double'), {number_text}, {plain})");
        Exprs {
            present,
            numeric,
            plain,
            form,
        }
    }
}

fn one(b: &mut Binder, f: &Filter) -> Result<Compiled> {
    report::filter::compile(f).map_err(|message| {
        Error::Report(report::Error::Invalid {
            field: "properties".into(),
            message,
        })
    })?;
    let key = b.string(&f.key);
    let Exprs {
        present,
        numeric,
        plain,
        form,
    } = Exprs::new(column(f.kind), &key);
    let values: Vec<&Value> = match &f.value {
        Some(Value::Array(v)) => v.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    };
    let mut equal = || -> String {
        let parts: Vec<String> = values
            .iter()
            .map(|v| match report::filter::numeric(v) {
                Some(x) => format!("ifNull({numeric} = {}, 0)", b.float(x)),
                None => match report::filter::string_form(v) {
                    Some(s) => format!("ifNull({plain} = {}, 0)", b.string(&s)),
                    None => "0".into(),
                },
            })
            .collect();
        if parts.is_empty() {
            "0".into()
        } else {
            parts.join(" OR ")
        }
    };
    let sql = match f.operator {
        Operator::IsSet => present,
        Operator::IsNotSet => format!("NOT {present}"),
        Operator::Eq => format!("({})", equal()),
        Operator::Neq => format!("NOT ({})", equal()),
        Operator::Contains | Operator::NotContains => {
            let parts: Vec<String> = values
                .iter()
                .filter_map(|v| report::filter::string_form(v))
                .map(|s| {
                    format!(
                        "ifNull(position(lowerUTF8({form}), lowerUTF8({})) > 0, 0)",
                        b.string(&s)
                    )
                })
                .collect();
            let any = if parts.is_empty() {
                "0".into()
            } else {
                parts.join(" OR ")
            };
            if f.operator == Operator::Contains {
                format!("({any})")
            } else {
                format!("NOT ({any})")
            }
        }
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
            let x = values
                .first()
                .and_then(|v| report::filter::numeric(v))
                .unwrap_or(f64::NAN);
            let op = match f.operator {
                Operator::Gt => ">",
                Operator::Gte => ">=",
                Operator::Lt => "<",
                _ => "<=",
            };
            format!("ifNull({numeric} {op} {}, 0)", b.float(x))
        }
        Operator::Regex => {
            // The pattern is the value's string form, as liucun's engine reads it; RE2's `.` matches a newline
            // unless told not to, Rust's does not.
            let pattern = values
                .first()
                .and_then(|v| report::filter::string_form(v))
                .unwrap_or_default();
            format!(
                "ifNull(match({form}, {}), 0)",
                b.string(&format!("(?-s){pattern}"))
            )
        }
    };
    Ok(Compiled { sql })
}
