//! `verify`: compare a report as published with the same report recomputed, and name every difference.

use serde_json::Value;

/// Paths (like `rows[3].counts[2]`) where `published` and `recomputed` differ, with both values.
pub fn diff(published: &Value, recomputed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", published, recomputed, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => walk(&p, va, vb, out),
                    (Some(va), None) => {
                        out.push(format!("{p}: published {va}, missing when recomputed"))
                    }
                    // A key added after the report was published: its default says nothing new.
                    (None, Some(vb)) if is_default(vb) => {}
                    (None, Some(vb)) => out.push(format!(
                        "{p}: missing in the published report, recomputed {} (a report from an older liucun?)",
                        short(vb)
                    )),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let same = x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q,
                    _ => false,
                };
            if !same {
                out.push(format!("{path}: published {a}, recomputed {b}"));
            }
        }
        _ if a == b => {}
        _ => out.push(format!(
            "{path}: published {}, recomputed {}",
            short(a),
            short(b)
        )),
    }
}

/// Whether a value is what an absent key means: null, false, an empty list or object, `en` (the default language),
/// or a list of such values.
fn is_default(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s == "en",
        Value::Array(a) => a.iter().all(is_default),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(77).map_or(s.len(), |c| c.0)]
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_the_differing_cells() {
        let a = json!({"rows": [{"counts": [3, 1]}], "x": 1.0});
        let b = json!({"rows": [{"counts": [3, 2]}], "x": 1});
        assert_eq!(
            diff(&a, &b),
            vec!["rows[0].counts[1]: published 1, recomputed 2".to_string()]
        );
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn a_report_from_before_a_key_existed_still_verifies_when_the_key_holds_its_default() {
        let old = json!({"parameters": {"period": "day"}, "rows": [{"counts": [3]}]});
        let new = json!({"parameters": {"period": "day", "lang": "en", "exclude_partial_periods": false},
                         "rows": [{"counts": [3], "beyond_data": [false, null]}]});
        assert!(diff(&old, &new).is_empty(), "{:?}", diff(&old, &new));
        // A new key that says something is still a difference, and a key the published report has is compared.
        let flagged = json!({"parameters": {"period": "day"}, "rows": [{"counts": [3], "beyond_data": [true]}]});
        assert_eq!(diff(&old, &flagged).len(), 1);
        let zh = json!({"parameters": {"period": "day", "lang": "en"}, "rows": [{"counts": [3]}]});
        let published_zh =
            json!({"parameters": {"period": "day", "lang": "zh-CN"}, "rows": [{"counts": [3]}]});
        assert_eq!(diff(&published_zh, &zh).len(), 1);
    }
}
