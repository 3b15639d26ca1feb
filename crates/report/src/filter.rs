//! Property filters (retention.md §5.2, §15.5–6): string forms, numeric comparison and every operator.

use serde_json::{Map, Value};

use crate::params::{Filter, Operator, PropertyKind};

/// A filter with its regex compiled once.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Event or person property.
    pub kind: PropertyKind,
    key: String,
    op: Operator,
    values: Vec<Value>,
    regex: Option<regex::Regex>,
}

/// Checks a filter's value against its operator.
///
/// # Errors
/// A message naming what is wrong.
pub fn check(f: &Filter) -> Result<(), String> {
    compile(f).map(|_| ())
}

/// Compiles a filter.
///
/// # Errors
/// A message for a missing value, a list where a single value is needed, or an invalid regex.
pub fn compile(f: &Filter) -> Result<Compiled, String> {
    let values: Vec<Value> = match &f.value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(v) => vec![v.clone()],
    };
    let is_list = matches!(f.value, Some(Value::Array(_)));
    let mut regex = None;
    match f.operator {
        Operator::IsSet | Operator::IsNotSet => {}
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte | Operator::Regex
            if is_list =>
        {
            return Err(format!(
                "operator {:?} takes a single value, not a list",
                f.operator
            ));
        }
        _ if values.is_empty() => return Err(format!("filter on `{}` needs a value", f.key)),
        Operator::Regex => {
            let pattern = string_form(&values[0]).unwrap_or_default();
            regex = Some(
                regex::Regex::new(&pattern)
                    .map_err(|e| format!("invalid regex {pattern:?}: {e}"))?,
            );
        }
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte
            if numeric(&values[0]).is_none() =>
        {
            return Err(format!("operator {:?} needs a numeric value", f.operator));
        }
        _ => {}
    }
    Ok(Compiled {
        kind: f.kind,
        key: f.key.clone(),
        op: f.operator,
        values,
        regex,
    })
}

impl Compiled {
    /// Whether the property map matches.
    pub fn matches(&self, props: &Map<String, Value>) -> bool {
        let v = props.get(&self.key).filter(|v| !v.is_null());
        match self.op {
            Operator::IsSet => v.is_some(),
            Operator::IsNotSet => v.is_none(),
            Operator::Eq => v.is_some_and(|v| self.values.iter().any(|want| equal(v, want))),
            Operator::Neq => !v.is_some_and(|v| self.values.iter().any(|want| equal(v, want))),
            Operator::Contains => v.is_some_and(|v| self.contains(v)),
            Operator::NotContains => !v.is_some_and(|v| self.contains(v)),
            Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
                let (Some(a), Some(b)) =
                    (v.and_then(numeric), self.values.first().and_then(numeric))
                else {
                    return false;
                };
                match self.op {
                    Operator::Gt => a > b,
                    Operator::Gte => a >= b,
                    Operator::Lt => a < b,
                    _ => a <= b,
                }
            }
            Operator::Regex => v
                .and_then(string_form)
                .is_some_and(|s| self.regex.as_ref().is_some_and(|r| r.is_match(&s))),
        }
    }

    fn contains(&self, v: &Value) -> bool {
        let Some(hay) = string_form(v) else {
            return false;
        };
        let hay = hay.to_lowercase();
        self.values
            .iter()
            .filter_map(string_form)
            .any(|needle| hay.contains(&needle.to_lowercase()))
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (numeric(a), numeric(b)) {
        return x == y;
    }
    string_form(a) == string_form(b)
}

/// The string form of a value (§5.2); `None` for null.
pub fn string_form(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number_text(n)),
        other => Some(other.to_string()),
    }
}

/// The shortest round-trip text of a number's value (§15.6): `3.0` → `3`, `2.50` → `2.5`.
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.to_string().parse::<f64>() {
        Ok(f) if f.is_finite() => {
            if f == f.trunc() && f.abs() < 1e15 {
                format!("{}", f as i64)
            } else {
                format!("{f}")
            }
        }
        _ => n.to_string(),
    }
}

/// The numeric value of a JSON number or a string holding a finite decimal; arrays and objects never are.
pub fn numeric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::String(s) => {
            let t = s.trim();
            let ok = !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
            if ok {
                t.parse::<f64>().ok().filter(|f| f.is_finite())
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(op: Operator, value: Option<Value>) -> Compiled {
        compile(&Filter {
            kind: PropertyKind::Event,
            key: "k".into(),
            operator: op,
            value,
        })
        .unwrap()
    }

    fn props(v: Value) -> Map<String, Value> {
        match json!({ "k": v }) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn operators_follow_the_table() {
        let empty = Map::new();
        assert!(f(Operator::Eq, Some(json!(3))).matches(&props(json!("3.0"))));
        assert!(f(Operator::Eq, Some(json!(["x", "pro"]))).matches(&props(json!("pro"))));
        assert!(!f(Operator::Eq, Some(json!("Pro"))).matches(&props(json!("pro"))));
        assert!(f(Operator::Neq, Some(json!("x"))).matches(&empty));
        assert!(f(Operator::Contains, Some(json!("PR"))).matches(&props(json!("pro"))));
        assert!(f(Operator::NotContains, Some(json!("x"))).matches(&empty));
        assert!(f(Operator::Gt, Some(json!(2))).matches(&props(json!("2.5"))));
        assert!(!f(Operator::Gt, Some(json!(2))).matches(&props(json!("abc"))));
        assert!(!f(Operator::Lte, Some(json!(2))).matches(&props(json!([1]))));
        assert!(f(Operator::IsSet, None).matches(&props(json!(false))));
        assert!(!f(Operator::IsSet, None).matches(&props(Value::Null)));
        assert!(f(Operator::IsNotSet, None).matches(&props(Value::Null)));
        assert!(f(Operator::Regex, Some(json!("(?i)^GPT"))).matches(&props(json!("gpt-4o"))));
        assert!(f(Operator::Eq, Some(json!("[1,2]"))).matches(&props(json!([1, 2]))));
        assert!(f(Operator::Eq, Some(json!("true"))).matches(&props(json!(true))));
    }

    #[test]
    fn invalid_filters_are_refused() {
        let bad = |op, value| {
            compile(&Filter {
                kind: PropertyKind::Event,
                key: "k".into(),
                operator: op,
                value,
            })
        };
        assert!(bad(Operator::Regex, Some(json!("("))).is_err());
        assert!(bad(Operator::Gt, Some(json!([1, 2]))).is_err());
        assert!(bad(Operator::Eq, None).is_err());
        assert!(bad(Operator::Gt, Some(json!("abc"))).is_err());
    }
}
