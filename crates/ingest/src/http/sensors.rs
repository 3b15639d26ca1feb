//! Sensors Data (神策) SDKs (ingest-sensors.md): the form parameters of `/sa`, `/sa.gif` and `/debug`, the payload
//! (base64, maybe gzip) with its checksum, the token of §2, and each message as a [`Draft`]: its event, its
//! properties with the `$sensors_*` keys and preset aliases, its uuid, its send time and its identity merges.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use model::{Merge, MergeSource, RejectReason, Timestamp};

use super::transport::{Hint, body_too_large, decode_text, parse_json};
use super::{
    BodyKind, CaptureBody, DecodeLimits, Item, MAX_BODY_BYTES, Patch, Reserve, WireError,
    WireRequest, check_token, parse_item, parse_items,
};
use crate::validate::{self, Clock, DistinctId, Draft, MergeRule, Reject, Ts, UuidRule};

/// Which Sensors path a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensorsPath {
    /// `/sa` and `/sa.gif`.
    Capture,
    /// `/debug`: the SDKs' debug mode (ingest-sensors.md §8).
    Debug,
}

impl SensorsPath {
    /// Every Sensors path (without a trailing slash) and its kind.
    pub const ALL: [(&'static str, SensorsPath); 3] = [
        ("/sa", SensorsPath::Capture),
        ("/sa.gif", SensorsPath::Capture),
        ("/debug", SensorsPath::Debug),
    ];

    /// The kind of a path, with or without a trailing slash.
    pub fn from_path(path: &str) -> Option<SensorsPath> {
        let p = path.strip_suffix('/').unwrap_or(path);
        SensorsPath::ALL
            .iter()
            .find(|(name, _)| *name == p)
            .map(|(_, kind)| *kind)
    }
}

/// A decoded Sensors payload and what the request's parameters say about it.
#[derive(Debug, Clone)]
pub struct SensorsPayload {
    /// The payload's JSON text.
    pub text: String,
    /// The checksum sent with the payload and the one computed, when they differ (§3.3): logged, never refused.
    pub checksum_mismatch: Option<(String, i32)>,
    /// The token of the query (§2.1.1).
    request_token: Option<RequestToken>,
    /// The query's `project` when the token came from `token`: a label kept as `sensors_project`.
    project_label: Option<String>,
}

#[derive(Debug, Clone)]
struct RequestToken {
    value: String,
    /// Whether it came from `project` (then each message's `project` must equal it too).
    from_project: bool,
}

/// ingest-sensors.md §3: reads the form parameters of the query and the body, and decodes the payload.
///
/// # Errors
/// 400 with the codes of §3 (`missing_payload`, `ambiguous_payload`, `invalid_form`, `invalid_gzip_flag`,
/// `encrypted_payload`, `invalid_base64`, `invalid_gzip`, `invalid_utf8`); 413 past the limits; whatever `reserve`
/// answers.
pub fn sensors_payload(
    req: &WireRequest<'_>,
    limits: &DecodeLimits,
    reserve: &mut Reserve<'_>,
) -> Result<SensorsPayload, WireError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(body_too_large(req.body.len()));
    }
    let query = strict_form(req.query.unwrap_or("").as_bytes())?;
    // The decoded form is at most the body's size.
    reserve(req.body.len())?;
    let form = strict_form(req.body)?;
    // A body field wins over a query field of the same name.
    let param = |name: &str| field(&form, name).or_else(|| field(&query, name));
    let data = match (param("data"), param("data_list")) {
        (Some(_), Some(_)) => {
            return Err(WireError::bad(
                "ambiguous_payload",
                "the request carries both `data` and `data_list`; send one",
            ));
        }
        (Some(d), None) | (None, Some(d)) => d,
        (None, None) => {
            return Err(WireError::bad(
                "missing_payload",
                "the request carries no `data` or `data_list` field",
            ));
        }
    };
    let gzip = match param("gzip").map(str::trim) {
        None | Some("" | "0") => false,
        Some("1") => true,
        Some("9" | "13") => {
            return Err(WireError::bad(
                "encrypted_payload",
                "the payload is encrypted (`gzip` 9 or 13); turn off the SDK's encryption",
            ));
        }
        Some(other) => {
            return Err(WireError::bad(
                "invalid_gzip_flag",
                format!("`gzip` {} is not 0 or 1", validate::show_str(other)),
            ));
        }
    };
    // §3.2.1: a form decoder (or a proxy) may have turned the base64 `+` into a space.
    let repaired: String = if data.bytes().any(|b| matches!(b, b' ' | b'\r' | b'\n')) {
        data.chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .map(|c| if c == ' ' { '+' } else { c })
            .collect()
    } else {
        data.to_string()
    };
    let sent_crc = param("crc").map(str::to_string).or_else(|| {
        param("ext").and_then(|ext| {
            ext.split(['&', ';', ','])
                .find_map(|kv| kv.trim().strip_prefix("crc="))
                .map(str::to_string)
        })
    });
    let checksum_mismatch = sent_crc.and_then(|sent| {
        let computed = java_hash(&repaired);
        (sent.trim().parse::<i32>() != Ok(computed)).then_some((sent, computed))
    });
    reserve(repaired.len())?;
    let bytes = base64_lenient(repaired.trim())?;
    drop(repaired);
    let hint = if gzip { Hint::Gzip } else { Hint::None };
    let text = decode_text(bytes, hint, limits, reserve)?;
    let request_token = match (field(&query, "token"), field(&query, "project")) {
        (Some(t), _) => Some(RequestToken {
            value: t.to_string(),
            from_project: false,
        }),
        (None, Some(p)) => Some(RequestToken {
            value: p.to_string(),
            from_project: true,
        }),
        (None, None) => None,
    };
    let project_label = match (field(&query, "token"), field(&query, "project")) {
        (Some(_), Some(p)) => Some(p.to_string()),
        _ => None,
    };
    Ok(SensorsPayload {
        text,
        checksum_mismatch,
        request_token,
        project_label,
    })
}

/// ingest-sensors.md §2 and §3.2.5: the messages of a decoded payload and the request's token.
///
/// # Errors
/// 400 `invalid_json`, `unknown_shape` or `encrypted_payload`; 401 for a malformed or inconsistent token (a
/// missing one is the caller's to answer); 413 `too_many_items` past `limits.max_items`.
pub fn sensors_body<'a>(
    payload: &'a SensorsPayload,
    limits: &DecodeLimits,
) -> Result<CaptureBody<'a>, WireError> {
    let trimmed = payload.text.trim_matches(|c: char| c.is_ascii_whitespace());
    let raws: Vec<&RawValue> = match trimmed.as_bytes().first() {
        Some(b'{') => vec![parse_json::<&RawValue>(trimmed)?],
        Some(b'[') => parse_items(trimmed, limits.max_items, "the payload")?,
        _ => {
            let v: Value = parse_json(trimmed)?;
            return Err(WireError::bad(
                "unknown_shape",
                format!(
                    "the payload is {}, not a message or a list of messages",
                    validate::kind(&v)
                ),
            ));
        }
    };
    let items: Vec<Item<'a>> = raws
        .into_iter()
        .map(|r| Item::new(r, Patch::None))
        .collect();
    let request = payload.request_token.as_ref();
    let request_token = request.map(|t| check_token(&Value::String(t.value.clone())));
    let request_token = request_token.transpose()?;
    let inconsistent = || {
        WireError::auth(
            "inconsistent_api_key",
            "a message's `token` or `project` differs from the request's token",
        )
    };
    let mut found: Option<String> = None;
    // Each message is read on its own, so the search holds one at a time.
    for item in items.iter().filter(|i| !i.is_trivially_invalid()) {
        let Some(fields) = TokenFields::read(item.raw) else {
            continue;
        };
        if fields.is_encrypted {
            return Err(WireError::bad(
                "encrypted_payload",
                "the payload is an encrypted envelope; turn off the SDK's encryption",
            ));
        }
        let message_token = fields.token.as_ref();
        let message_project = fields.project.as_ref();
        match (&request_token, request) {
            (Some(t), Some(r)) => {
                if let Some(v) = message_token
                    && check_token(v)? != *t
                {
                    return Err(inconsistent());
                }
                if r.from_project
                    && let Some(v) = message_project
                    && v.as_str().map(str::trim) != Some(t.as_str())
                {
                    return Err(inconsistent());
                }
            }
            _ => {
                if let Some(v) = message_token.or(message_project) {
                    let t = check_token(v)?;
                    match &found {
                        Some(f) if *f != t => {
                            return Err(WireError::auth(
                                "inconsistent_api_key",
                                "the messages carry two different tokens",
                            ));
                        }
                        Some(_) => {}
                        None => found = Some(t),
                    }
                }
            }
        }
    }
    let mut meta = Map::new();
    if let Some(label) = &payload.project_label {
        meta.insert("sensors_project".to_string(), Value::String(label.clone()));
    }
    Ok(CaptureBody {
        items,
        token: request_token.or(found),
        sent_at: None,
        meta,
        shared: Vec::new(),
        batch_sent_at: None,
        kind: BodyKind::Sensors,
    })
}

/// What the token search of [`sensors_body`] needs from a message: its non-null `token` and `project`, and whether
/// it is an encrypted envelope (both `ekey` and `payloads`).
struct TokenFields {
    token: Option<Value>,
    project: Option<Value>,
    is_encrypted: bool,
}

/// Only the fields the search needs, borrowed from the message's text; the rest is skipped without building values.
#[derive(serde::Deserialize)]
struct BorrowedTokenFields<'a> {
    #[serde(borrow, default)]
    token: Option<&'a RawValue>,
    #[serde(borrow, default)]
    project: Option<&'a RawValue>,
    #[serde(default)]
    ekey: Present,
    #[serde(default)]
    payloads: Present,
}

/// Whether a key is there at all, even with `null`, as `Map::contains_key` tells.
#[derive(Default)]
struct Present(bool);

impl<'de> serde::Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Present, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Present(true))
    }
}

impl TokenFields {
    /// The fields of a message that is a JSON object, else `None`.
    ///
    /// Parsing the whole message into a [`Value`] here, and again when it becomes an event, made `/sa` markedly
    /// slower than `/batch` (bench/capture_sensors.sh), so the fields are read from a borrowed view first. A
    /// message that view refuses (a repeated key, where the last one counts, or anything not an object) is parsed
    /// in full, so both paths agree.
    fn read(raw: &str) -> Option<TokenFields> {
        // A key can only be spelled with these letters or with `\u` escapes: a message holding neither has none of
        // the fields, and most messages are read no further than this.
        if !["token", "project", "ekey", "\\u"]
            .iter()
            .any(|needle| memchr::memmem::find(raw.as_bytes(), needle.as_bytes()).is_some())
        {
            return Some(TokenFields {
                token: None,
                project: None,
                is_encrypted: false,
            });
        }
        let value = |v: Option<&RawValue>| {
            v.and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
                .filter(|v| !v.is_null())
        };
        if let Ok(f) = serde_json::from_str::<BorrowedTokenFields<'_>>(raw) {
            return Some(TokenFields {
                token: value(f.token),
                project: value(f.project),
                is_encrypted: f.ekey.0 && f.payloads.0,
            });
        }
        let Ok(Value::Object(obj)) = parse_item(raw) else {
            return None;
        };
        Some(TokenFields {
            token: obj.get("token").filter(|v| !v.is_null()).cloned(),
            project: obj.get("project").filter(|v| !v.is_null()).cloned(),
            is_encrypted: obj.contains_key("ekey") && obj.contains_key("payloads"),
        })
    }
}

/// Java's `String.hashCode` of an ASCII or BMP text, as the SDKs compute their checksum (§3.3).
fn java_hash(text: &str) -> i32 {
    text.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The first non-empty value of `name`.
fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// A form (`a=1&b=2`, `+` as space, percent escapes) read strictly: a bad escape or text that is not UTF-8 is 400
/// `invalid_form`, where a lenient reader would quietly change the payload.
fn strict_form(bytes: &[u8]) -> Result<Vec<(String, String)>, WireError> {
    let mut out = Vec::new();
    for part in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(at) => (&part[..at], &part[at + 1..]),
            None => (part, &b""[..]),
        };
        out.push((percent_decode(name)?, percent_decode(value)?));
    }
    Ok(out)
}

fn percent_decode(bytes: &[u8]) -> Result<String, WireError> {
    let bad = |what: &str| WireError::bad("invalid_form", format!("the form {what}"));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad("has a malformed percent escape"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad("is not UTF-8 once decoded"))
}

/// Standard base64 with or without its padding (§3.2.2).
fn base64_lenient(text: &str) -> Result<Vec<u8>, WireError> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(text).map_err(|e| {
        WireError::bad(
            "invalid_base64",
            format!("the payload is not valid base64: {e}"),
        )
    })
}

/// Types that map to events (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Track,
    Signup,
    Bind,
    Unbind,
    ProfileSet,
    ProfileSetOnce,
    ProfileIncrement,
    ProfileAppend,
    ProfileUnset,
    ProfileDelete,
}

impl Kind {
    fn parse(ty: &str) -> Option<Kind> {
        Some(match ty {
            "track" => Kind::Track,
            "track_signup" => Kind::Signup,
            "track_id_bind" => Kind::Bind,
            "track_id_unbind" => Kind::Unbind,
            "profile_set" => Kind::ProfileSet,
            "profile_set_once" => Kind::ProfileSetOnce,
            "profile_increment" => Kind::ProfileIncrement,
            "profile_append" => Kind::ProfileAppend,
            "profile_unset" => Kind::ProfileUnset,
            "profile_delete" => Kind::ProfileDelete,
            _ => return None,
        })
    }

    fn is_profile(self) -> bool {
        !matches!(self, Kind::Track | Kind::Signup | Kind::Bind | Kind::Unbind)
    }
}

/// Item and multi-entity types, which liucun does not store (§4.2).
const ITEM_TYPES: [&str; 4] = ["item_set", "item_delete", "detail_set", "detail_delete"];

/// Device identity keys: their value is the distinct id the SDKs use for the device (§5.3).
const DEVICE_KEYS: [&str; 10] = [
    "$identity_anonymous_id",
    "$identity_cookie_id",
    "$identity_mp_id",
    "$identity_android_uuid",
    "$identity_android_id",
    "$identity_ios_uuid",
    "$identity_idfv",
    "$identity_idfa",
    "$identity_mac_uuid",
    "$identity_mac_serial_id",
];

const LOGIN_KEY: &str = "$identity_login_id";

/// A preset property's PostHog-named copy (§7): `(copy, the `$lib` values it applies to, or every library when
/// empty)`, or `None` for any other key.
///
/// A `match` rather than a table searched per message: each property key costs one comparison, where looking up
/// every preset in each message's map was a tenth of `/sa`'s time (bench/capture_sensors.sh).
fn alias(key: &str) -> Option<(&'static str, &'static [&'static str])> {
    const WEB: &[&str] = &["js"];
    const ANY: &[&str] = &[];
    Some(match key {
        "$url" => ("$current_url", WEB),
        "$url_path" => ("$pathname", WEB),
        "$referrer_host" => ("$referring_domain", WEB),
        "$title" => ("title", WEB),
        "$utm_source" => ("utm_source", ANY),
        "$utm_medium" => ("utm_medium", ANY),
        "$utm_campaign" => ("utm_campaign", ANY),
        "$utm_content" => ("utm_content", ANY),
        "$utm_term" => ("utm_term", ANY),
        "$manufacturer" => ("$device_manufacturer", ANY),
        "$model" => ("$device_model", ANY),
        "$os" => ("$os_name", &["Android", "iOS", "MiniProgram"]),
        "$carrier" => ("$network_carrier", ANY),
        "$wifi" => ("$network_wifi", ANY),
        "$app_id" => ("$app_namespace", ANY),
        "$user_agent" => ("$raw_user_agent", ANY),
        "$element_content" => ("$el_text", ANY),
        _ => return None,
    })
}

/// One Sensors message as a draft (§4–§7); `now` is the receive time, for the skew correction of §6.
pub(super) fn draft(mut obj: Map<String, Value>, now: Timestamp) -> Result<Draft, Reject> {
    let ty = match obj.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidSensorsType,
                format!("`type` must be a string, got {}", validate::kind(other)),
            ));
        }
        None => {
            return Err(Reject::new(
                RejectReason::InvalidSensorsType,
                "`type` is missing".to_string(),
            ));
        }
    };
    if ITEM_TYPES.contains(&ty.as_str())
        || (obj.contains_key("version") && obj.contains_key("schema"))
    {
        return Err(Reject::new(
            RejectReason::UnsupportedEventType,
            format!(
                "`type` {} (items and multi-entity messages) is not supported",
                validate::show_str(&ty)
            ),
        ));
    }
    let Some(kind) = Kind::parse(&ty) else {
        return Err(Reject::new(
            RejectReason::InvalidSensorsType,
            format!(
                "`type` {} is not a Sensors message type",
                validate::show_str(&ty)
            ),
        ));
    };
    // §4.3: the first valid of `distinct_id`, `login_id` and `anonymous_id`, else the reason for `distinct_id`.
    let distinct_id = match validate::distinct_id(obj.get("distinct_id"), "distinct_id") {
        Ok(id) => id,
        Err(first) => ["login_id", "anonymous_id"]
            .into_iter()
            .find_map(|f| validate::distinct_id(obj.get(f), f).ok())
            .ok_or(first)?,
    };
    let mut props = match obj.remove("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidProperties,
                format!(
                    "`properties` must be an object, got {}",
                    validate::kind(&other)
                ),
            ));
        }
    };
    let is_login_id = props.get("$is_login_id") == Some(&Value::Bool(true));
    // §7 reads the message's own properties, whatever the type: a profile message's presets become aliases too.
    let lib_name = props
        .get("$lib")
        .or_else(|| obj.get("lib").and_then(|l| l.get("$lib")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let aliases = aliases(&props, &lib_name);
    let event = if kind.is_profile() {
        props = profile_properties(kind, props)?;
        let name = if kind == Kind::ProfileSetOnce {
            "$set_once"
        } else {
            "$set"
        };
        Value::String(name.to_string())
    } else {
        obj.get("event").cloned().unwrap_or(Value::Null)
    };

    let uuid_rule = match obj.get("_track_id").filter(|v| !v.is_null()) {
        Some(track_id) => {
            let parts = [
                Some(&Value::String(ty.clone())),
                obj.get("event"),
                obj.get("distinct_id"),
                obj.get("time"),
                Some(track_id),
            ];
            let mut named = vec!["sensors".to_string()];
            named.extend(parts.iter().map(|v| wire_text(*v)));
            UuidRule::Named(named)
        }
        // Absent: the capture's rule (a v7 at receipt, or the replay name).
        None => UuidRule::Content,
    };
    let merge = merges(kind, &obj, &distinct_id, is_login_id);

    let mut meta = Map::new();
    if let Some(Value::Object(lib)) = obj.get("lib") {
        for (key, name) in [("$lib", "lib"), ("$lib_version", "lib_version")] {
            let Some(v) = lib.get(key).filter(|v| !v.is_null()) else {
                continue;
            };
            if v.is_string() {
                meta.insert(name.to_string(), v.clone());
            }
            if !props.contains_key(key) {
                props.insert(key.to_string(), v.clone());
            }
        }
    }
    props.insert("$sensors_type".to_string(), Value::String(ty));
    // Every reader of these fields is above: they move into the properties rather than being copied.
    for (field, key) in [
        ("_track_id", "$sensors_track_id"),
        ("login_id", "$sensors_login_id"),
        ("anonymous_id", "$sensors_anonymous_id"),
        ("original_id", "$sensors_original_id"),
        ("identities", "$sensors_identities"),
        ("lib", "$sensors_lib"),
    ] {
        if let Some(v) = obj.remove(field).filter(|v| !v.is_null()) {
            props.insert(key.to_string(), v);
        }
    }
    for (k, v) in aliases {
        props.entry(k).or_insert(v);
    }

    let time_free = obj.get("time_free") == Some(&Value::Bool(true));
    let sent_at = obj
        .get("_flush_time")
        .filter(|_| !time_free)
        .and_then(Value::as_i64)
        .and_then(|ms| ms.checked_mul(1000))
        .map(Timestamp);
    if let Some(v) = obj.remove("time_free").filter(|v| !v.is_null()) {
        meta.insert("time_free".to_string(), v);
    }
    Ok(Draft {
        distinct_id: DistinctId::Checked(distinct_id),
        event: Some(event),
        uuid: None,
        timestamp: match obj.remove("time").filter(|v| !v.is_null()) {
            Some(v) => Ts::Value(v, "time"),
            None => Ts::Absent,
        },
        properties: props,
        canonical: None,
        meta,
        uuid_rule,
        merge: MergeRule::Fixed(merge),
        clock: Some(Clock {
            now,
            sent_at,
            offset: None,
        }),
    })
}

/// §4.2: the stored properties of a `profile_*` message: its payload under the fold operation, and `$is_login_id`
/// beside it.
fn profile_properties(
    kind: Kind,
    mut payload: Map<String, Value>,
) -> Result<Map<String, Value>, Reject> {
    let is_login_id = payload.remove("$is_login_id");
    let invalid = |detail: String| Reject::new(RejectReason::InvalidProperties, detail);
    let (op, value) = match kind {
        Kind::ProfileSetOnce => ("$set_once", Value::Object(payload)),
        Kind::ProfileIncrement => {
            if let Some((k, v)) = payload.iter().find(|(_, v)| !v.is_number()) {
                return Err(invalid(format!(
                    "`{k}` of a profile_increment must be a number, got {}",
                    validate::kind(v)
                )));
            }
            ("$increment", Value::Object(payload))
        }
        Kind::ProfileAppend => {
            let is_strings =
                |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if let Some((k, v)) = payload.iter().find(|(_, v)| !is_strings(v)) {
                return Err(invalid(format!(
                    "`{k}` of a profile_append must be a list of strings, got {}",
                    validate::kind(v)
                )));
            }
            ("$append", Value::Object(payload))
        }
        Kind::ProfileUnset => (
            "$unset",
            // The map is ordered, so the keys come sorted.
            Value::Array(payload.keys().cloned().map(Value::String).collect()),
        ),
        Kind::ProfileDelete => ("$unset_all", Value::Bool(true)),
        _ => ("$set", Value::Object(payload)),
    };
    let mut out = Map::new();
    if let Some(v) = is_login_id {
        out.insert("$is_login_id".to_string(), v);
    }
    out.insert(op.to_string(), value);
    Ok(out)
}

/// §7: a PostHog-named copy of each preset property the message lacks.
fn aliases(props: &Map<String, Value>, lib: &str) -> Vec<(String, Value)> {
    props
        .iter()
        .filter(|(k, _)| k.starts_with('$'))
        .filter_map(|(k, v)| {
            let (to, libs) = alias(k)?;
            (!props.contains_key(to) && (libs.is_empty() || libs.contains(&lib)))
                .then(|| (to.to_string(), v.clone()))
        })
        .collect()
}

/// A wire value as a uuid name part (§4.5): a string as it is, a number as its JSON text, absent as empty.
fn wire_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.as_str().to_string(),
        Some(other) => validate::canonical_text(other),
    }
}

/// A valid distinct id from a wire value, else `None`.
fn valid_id(v: Option<&Value>) -> Option<String> {
    validate::distinct_id(v, "").ok()
}

/// §5: the merges and identification a message asks for, as one merge of its kept id with every id that joins it.
///
/// The SDKs send one kept id per message (a logged-in message's `distinct_id` is its `login_id`); a pair naming
/// another kept id is left out.
fn merges(
    kind: Kind,
    obj: &Map<String, Value>,
    distinct_id: &str,
    is_login_id: bool,
) -> Option<Merge> {
    let login = valid_id(obj.get("login_id"));
    let anonymous = valid_id(obj.get("anonymous_id"));
    let original = valid_id(obj.get("original_id"));
    let identities = obj.get("identities").and_then(Value::as_object);
    let login_identity = identities.and_then(|i| valid_id(i.get(LOGIN_KEY)));
    let wire_ids = [Some(distinct_id), anonymous.as_deref(), original.as_deref()];
    // §5.3: the distinct id an identity names.
    let identity_id = |key: &str, value: String| {
        if key == LOGIN_KEY
            || DEVICE_KEYS.contains(&key)
            || wire_ids.contains(&Some(value.as_str()))
        {
            value
        } else {
            format!("{key}+{value}")
        }
    };

    // §5.4: an unbind has no identity effect. It is kept as a request that the identity log records as not applied.
    if kind == Kind::Unbind {
        let ids: Vec<String> = identities
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some(identity_id(key, valid_id(Some(value))?)))
            .filter(|id| !id.contains(MergeSource::ID_SEPARATOR))
            .collect();
        let merged = if ids.is_empty() {
            distinct_id.to_string()
        } else {
            ids.join(&MergeSource::ID_SEPARATOR.to_string())
        };
        return Some(Merge {
            kept: distinct_id.to_string(),
            merged,
            source: MergeSource::SensorsUnbind,
        });
    }

    // §5.1: ids this message marks as identified.
    let mut identified: Vec<String> = Vec::new();
    identified.extend(login.clone());
    if is_login_id {
        identified.push(distinct_id.to_string());
    }
    identified.extend(login_identity.clone());
    if kind == Kind::Signup {
        identified.push(distinct_id.to_string());
    }

    // §5.2: (kept, merged) pairs.
    let mut pairs: Vec<(String, String)> = Vec::new();
    if kind == Kind::Signup
        && let Some(o) = &original
    {
        pairs.push((distinct_id.to_string(), o.clone()));
    }
    if let (Some(l), Some(a)) = (&login, &anonymous) {
        pairs.push((l.clone(), a.clone()));
    }
    if kind == Kind::Bind {
        let kept = login_identity
            .clone()
            .unwrap_or_else(|| distinct_id.to_string());
        for (key, value) in identities.into_iter().flatten() {
            if key == LOGIN_KEY {
                continue;
            }
            let Some(v) = valid_id(Some(value)) else {
                continue;
            };
            pairs.push((kept.clone(), identity_id(key, v)));
        }
        if distinct_id != kept {
            pairs.push((kept.clone(), distinct_id.to_string()));
        }
    }

    let kept = pairs
        .first()
        .map(|(k, _)| k.clone())
        .or_else(|| identified.first().cloned())?;
    let mut merged: Vec<String> = Vec::new();
    for (k, m) in pairs {
        // An id holding the separator cannot be listed; the SDKs never make one.
        if k == kept && m != kept && !merged.contains(&m) && !m.contains(MergeSource::ID_SEPARATOR)
        {
            merged.push(m);
        }
    }
    let source = if identified.contains(&kept) {
        MergeSource::SensorsIds
    } else if merged.is_empty() {
        return None;
    } else {
        MergeSource::SensorsBind
    };
    let merged = if merged.is_empty() {
        kept.clone()
    } else {
        merged.join(&MergeSource::ID_SEPARATOR.to_string())
    };
    Some(Merge {
        kept,
        merged,
        source,
    })
}
