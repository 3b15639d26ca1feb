//! Canonical JSON (RFC 8785 key order, numbers kept as their JSON text), the event digest of events.md §8 and the
//! UUIDv5 names liucun derives event ids from.
//!
//! Everything here is part of liucun's identity of an event: changing a byte changes every digest and every
//! content-derived uuid, so these functions are frozen once data exists.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use model::{Digest, Project, Timestamp, Uuid};

/// The liucun UUIDv5 namespace (events.md §2.3), fixed forever.
pub const NAMESPACE: Uuid = Uuid([
    0x6c, 0x69, 0x75, 0x63, 0x8e, 0x3a, 0x4b, 0x1f, 0x9d, 0x52, 0x07, 0xc4, 0x2b, 0x91, 0xe6, 0x5d,
]);

/// The separator between the parts of a UUIDv5 name: the byte 0x1F (␟).
const SEP: u8 = 0x1f;

/// Writes `v` as canonical JSON: object keys sorted by their UTF-16 code units (RFC 8785 §3.2.3), no whitespace,
/// strings escaped minimally, numbers as their original JSON text.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::with_capacity(128);
    write_value(&mut out, v);
    out
}

/// Writes a properties-like object as canonical JSON.
pub(crate) fn canonical_object(map: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(64 + map.len() * 24);
    write_object(&mut out, map);
    out
}

/// The SHA-256 event digest of events.md §8.
pub fn event_digest(
    uuid: &Uuid,
    distinct_id: &str,
    event: &str,
    ts: Timestamp,
    canonical_props: &str,
) -> Digest {
    let mut h = Sha256::new();
    h.update(b"lcev1");
    h.update(uuid.0);
    for part in [distinct_id, event] {
        h.update(len_prefix(part));
        h.update(part.as_bytes());
    }
    h.update(ts.0.to_be_bytes());
    h.update(len_prefix(canonical_props));
    h.update(canonical_props.as_bytes());
    Digest(h.finalize().into())
}

/// Appends the canonical content of events.md §8 without the `"lcev1"` tag and the uuid.
fn push_content(buf: &mut Vec<u8>, distinct_id: &str, event: &str, ts: Timestamp, props: &str) {
    push_str(buf, distinct_id);
    push_str(buf, event);
    buf.extend_from_slice(&ts.0.to_be_bytes());
    push_str(buf, props);
}

fn len_prefix(s: &str) -> [u8; 4] {
    u32::try_from(s.len())
        .expect("strings are bounded by the per-event size limit")
        .to_be_bytes()
}

fn push_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&len_prefix(s));
    buf.extend_from_slice(s.as_bytes());
}

/// The uuid of a file-imported event that carries none: UUIDv5(namespace, `project ␟ content`).
pub(crate) fn content_uuid(
    project: &Project,
    distinct_id: &str,
    event: &str,
    ts: Timestamp,
    props: &str,
) -> Uuid {
    let mut name = Vec::with_capacity(
        project.as_str().len() + 21 + distinct_id.len() + event.len() + props.len(),
    );
    name.extend_from_slice(project.as_str().as_bytes());
    name.push(SEP);
    push_content(&mut name, distinct_id, event, ts, props);
    v5(&name)
}

/// UUIDv5(namespace, `project ␟ part₁ ␟ part₂ …`), used for payments and Segment message ids.
pub(crate) fn named_uuid(project: &Project, parts: &[&str]) -> Uuid {
    let mut name = Vec::with_capacity(64);
    name.extend_from_slice(project.as_str().as_bytes());
    for p in parts {
        name.push(SEP);
        name.extend_from_slice(p.as_bytes());
    }
    v5(&name)
}

/// RFC 9562 UUIDv5: SHA-1 of the namespace and the name, with the version and variant bits set.
///
/// The same bytes as `uuid::Uuid::new_v5`, with a SHA-1 that uses the CPU's SHA instructions where it has them: every
/// Sensors message with a `_track_id` and every imported event without a uuid hashes one name.
fn v5(name: &[u8]) -> Uuid {
    use sha1::Digest as _;
    let digest = sha1::Sha1::new()
        .chain_update(NAMESPACE.0)
        .chain_update(name)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid(bytes)
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(n.as_str()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    if is_canonical_order(map) {
        for (i, (k, v)) in map.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, k);
            out.push(':');
            write_value(out, v);
        }
    } else {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
        for (i, (k, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, k);
            out.push(':');
            write_value(out, v);
        }
    }
    out.push('}');
}

/// Whether iterating `map` already yields keys in UTF-16 order.
///
/// Byte order of UTF-8 equals code point order, which differs from UTF-16 order only for characters at or above
/// U+E000 (lead bytes 0xEE and up). Maps are usually sorted already (serde_json's default map is a `BTreeMap`),
/// but another crate in the build may enable `preserve_order`, so the order is checked rather than assumed.
fn is_canonical_order(map: &Map<String, Value>) -> bool {
    let mut prev: Option<&str> = None;
    for k in map.keys() {
        if k.bytes().any(|b| b >= 0xee) {
            return false;
        }
        if let Some(p) = prev
            && p >= k.as_str()
        {
            return false;
        }
        prev = Some(k);
    }
    true
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(text: &str) -> String {
        canonical_json(&serde_json::from_str(text).unwrap())
    }

    proptest! {
        #[test]
        fn v5_is_the_uuid_crate_s_v5(name in proptest::collection::vec(any::<u8>(), 0..300)) {
            let ns = uuid::Uuid::from_bytes(NAMESPACE.0);
            prop_assert_eq!(v5(&name).0, *uuid::Uuid::new_v5(&ns, &name).as_bytes());
        }
    }

    #[test]
    fn keys_sort_by_utf16_and_numbers_keep_their_text() {
        assert_eq!(
            canon(r#"{"b": 1.50, "a": [1e3, -0.0], "c": {"y": null, "x": true}}"#),
            { r#"{"a":[1e+3,-0.0],"b":1.50,"c":{"x":true,"y":null}}"# }
        );
        // serde_json writes exponents with an explicit sign; the text is otherwise kept.
        // U+1F600 sorts before U+FB01 in UTF-16 (surrogates 0xD83D…) but after it in code points.
        assert_eq!(
            canon("{\"\u{fb01}\": 1, \"\u{1f600}\": 2}"),
            "{\"\u{1f600}\":2,\"\u{fb01}\":1}"
        );
    }

    #[test]
    fn strings_escape_minimally() {
        assert_eq!(
            canon(r#"["a\"b\\c\n\u0001\u001f/é\u2028"]"#),
            "[\"a\\\"b\\\\c\\n\\u0001\\u001f/é\u{2028}\"]"
        );
    }

    #[test]
    fn digest_layout_is_stable() {
        let u = Uuid::parse("0190a6b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b").unwrap();
        let d = event_digest(&u, "u-1", "signup", Timestamp(1_700_000_000_000_000), "{}");
        let mut manual = Sha256::new();
        manual.update(b"lcev1");
        manual.update(u.0);
        manual.update([0, 0, 0, 3]);
        manual.update(b"u-1");
        manual.update([0, 0, 0, 6]);
        manual.update(b"signup");
        manual.update(1_700_000_000_000_000i64.to_be_bytes());
        manual.update([0, 0, 0, 2]);
        manual.update(b"{}");
        assert_eq!(d.0, <[u8; 32]>::from(manual.finalize()));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "-?[1-9][0-9]{0,4}\\.[0-9]{1,4}(e-?[0-9]{1,2})?"
                .prop_map(|t| serde_json::from_str(&t).unwrap()),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("\\PC{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn canonical_json_is_idempotent(v in arb_json()) {
            let once = canonical_json(&v);
            let twice = canonical_json(&serde_json::from_str(&once).unwrap());
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn canonical_json_ignores_key_order(kv in prop::collection::vec(("[a-z\u{e000}-\u{e010}\u{1f600}]{0,4}", arb_json()), 0..8)) {
            // Writing the same object with its keys in two different orders gives the same canonical text.
            let mut dedup: Vec<(String, Value)> = Vec::new();
            for (k, v) in kv {
                if !dedup.iter().any(|(d, _)| *d == k) {
                    dedup.push((k, v));
                }
            }
            let text = |entries: &[(String, Value)]| {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), serde_json::to_string(v).unwrap()))
                    .collect();
                format!("{{{}}}", parts.join(","))
            };
            let forward = text(&dedup);
            dedup.reverse();
            let backward = text(&dedup);
            prop_assert_eq!(canon(&forward), canon(&backward));
        }
    }
}
