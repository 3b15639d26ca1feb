//! The three JSON shapes of events.md §10.1, detected per object: liucun's own, PostHog's export (the same fields
//! plus export-only ones kept as metadata) and Segment messages (ingest.md §3.3). Each becomes a [`Draft`].

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use model::{MergeSource, RejectReason};

use crate::ndjson::{Entries, raw_value};
use crate::scan;
use crate::validate::{self, DistinctId, Draft, MergeRule, Reject, Ts, UuidRule, show};

/// Reads one JSON object in whichever shape it has; `properties` is the object's `properties` field when the
/// parser left it as raw text.
pub(crate) fn draft(mut obj: Entries<'_>, properties: Option<&RawValue>) -> Result<Draft, Reject> {
    if is_segment(&obj) {
        if let Some(raw) = properties {
            obj.push(("properties".into(), raw_value(raw)?));
        }
        segment(obj.into_iter().map(|(k, v)| (k.into_owned(), v)).collect())
    } else {
        posthog_raw(obj, properties)
    }
}

/// liucun's shape and PostHog's export shape with `properties` given as raw text: the fast path of
/// [`crate::scan`] when nothing else feeds the properties, the general path otherwise.
fn posthog_raw(mut obj: Entries<'_>, properties: Option<&RawValue>) -> Result<Draft, Reject> {
    let Some(raw) = properties else {
        return posthog(obj);
    };
    let has = |key: &str| obj.iter().any(|(k, v)| k == key && !v.is_null());
    // `$set`/`$set_once` at the top level merge into the properties, and without a top-level distinct id the
    // one inside the properties is used: both need the properties as values.
    let fast = !has("$set") && !has("$set_once") && (has("distinct_id") || has("$distinct_id"));
    if fast && let Some(scanned) = scan::scan_properties(raw.get()) {
        let mut d = posthog(obj)?;
        d.properties = scanned.read;
        d.canonical = Some(scanned.canonical);
        return Ok(d);
    }
    obj.push(("properties".into(), raw_value(raw)?));
    posthog(obj)
}

/// A Segment message names its ids `userId`/`anonymousId` and has a `type`; liucun and PostHog use `distinct_id`.
fn is_segment(obj: &Entries<'_>) -> bool {
    let has = |key: &str| obj.iter().any(|(k, _)| k == key);
    !has("distinct_id")
        && !has("$distinct_id")
        && (has("type") || has("userId") || has("anonymousId"))
}

/// liucun's shape and PostHog's export shape (ingest.md §2.3 field names).
pub(crate) fn posthog(obj: Entries<'_>) -> Result<Draft, Reject> {
    let mut d = Draft::default();
    let mut top_distinct: Option<(Value, &'static str)> = None;
    let mut properties: Option<Value> = None;
    let mut set: Option<Value> = None;
    let mut set_once: Option<Value> = None;
    for (k, v) in obj {
        match &*k {
            "distinct_id" => top_distinct = Some((v, "distinct_id")),
            "$distinct_id" => {
                if top_distinct.is_none() {
                    top_distinct = Some((v, "$distinct_id"));
                }
            }
            "event" => d.event = Some(v),
            "uuid" => d.uuid = Some(v),
            "timestamp" => {
                d.timestamp = if v.is_null() {
                    Ts::Absent
                } else {
                    Ts::Value(v, "timestamp")
                }
            }
            "properties" => properties = Some(v),
            "$set" => set = Some(v),
            "$set_once" => set_once = Some(v),
            _ => {
                d.meta.insert(k.into_owned(), v);
            }
        }
    }
    d.properties = object(properties, "properties")?;
    merge_top_level(&mut d.properties, "$set", set)?;
    merge_top_level(&mut d.properties, "$set_once", set_once)?;
    d.distinct_id = match top_distinct {
        Some((v, field)) if !v.is_null() => DistinctId::Raw(v, field),
        _ => match d.properties.get("distinct_id") {
            Some(v) if !v.is_null() => DistinctId::Raw(v.clone(), "properties.distinct_id"),
            _ => DistinctId::Absent,
        },
    };
    Ok(d)
}

/// events.md §2.4.2: a top-level `$set`/`$set_once` merges into the one inside properties; the top level wins.
fn merge_top_level(
    props: &mut Map<String, Value>,
    key: &str,
    top: Option<Value>,
) -> Result<(), Reject> {
    let top = match top {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidProperties,
                format!("`{key}` must be an object, got {}", validate::kind(&other)),
            ));
        }
    };
    match props.get_mut(key) {
        Some(Value::Object(inner)) => inner.extend(top),
        _ => {
            props.insert(key.to_string(), Value::Object(top));
        }
    }
    Ok(())
}

/// An optional JSON object field; absent and `null` give an empty object.
fn object(v: Option<Value>, field: &str) -> Result<Map<String, Value>, Reject> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(Reject::new(
            RejectReason::InvalidProperties,
            format!(
                "`{field}` must be an object, got {}",
                validate::kind(&other)
            ),
        )),
    }
}

const SEGMENT_TYPES: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

/// A Segment message (ingest.md §3.3).
pub(crate) fn segment(mut obj: Map<String, Value>) -> Result<Draft, Reject> {
    let ty = match obj.remove("type") {
        Some(Value::String(s)) if SEGMENT_TYPES.contains(&s.as_str()) => s,
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidSegmentType,
                format!(
                    "`type` {} is not one of track, identify, page, screen, group, alias",
                    show(&other)
                ),
            ));
        }
        None => {
            return Err(Reject::new(
                RejectReason::InvalidSegmentType,
                "`type` is missing".to_string(),
            ));
        }
    };
    let user = obj.remove("userId").filter(|v| !v.is_null());
    let anon = obj.remove("anonymousId").filter(|v| !v.is_null());
    let user_id = user
        .as_ref()
        .map(|v| validate::distinct_id(Some(v), "userId"));
    let anon_id = anon
        .as_ref()
        .map(|v| validate::distinct_id(Some(v), "anonymousId"));
    let has_user = matches!(&user_id, Some(Ok(_)));
    let (distinct_id, both) = match (user_id, anon_id) {
        (Some(Ok(u)), Some(Ok(a))) => (u, Some(a)),
        (Some(Ok(u)), _) => (u, None),
        (Some(Err(_)), Some(Ok(a))) | (None, Some(Ok(a))) => (a, None),
        (Some(Err(e)), _) => return Err(e),
        (None, Some(Err(e))) => return Err(e),
        (None, None) => {
            return Err(Reject::new(
                RejectReason::MissingDistinctId,
                "`userId` and `anonymousId` are both missing".to_string(),
            ));
        }
    };

    let mut d = Draft::default();
    let mut props = object(obj.remove("properties"), "properties")?;
    let traits = obj.remove("traits").filter(|v| !v.is_null());
    let name = obj.remove("name").filter(|v| !v.is_null());
    let event = obj.remove("event");
    match ty.as_str() {
        "track" => d.event = event,
        "page" => {
            d.event = Some(Value::String("$pageview".to_string()));
            if let Some(url) = props.get("url").cloned() {
                props.insert("$current_url".to_string(), url);
            }
            if let Some(n) = name {
                props.insert("name".to_string(), n);
            }
            if let Some(c) = obj.remove("category").filter(|v| !v.is_null()) {
                props.insert("category".to_string(), c);
            }
        }
        "screen" => {
            d.event = Some(Value::String("$screen".to_string()));
            if let Some(n) = name {
                props.insert("$screen_name".to_string(), n);
            }
        }
        "identify" => {
            d.event = Some(Value::String("$identify".to_string()));
            if traits.is_some() {
                props.insert("$set".to_string(), Value::Object(object(traits, "traits")?));
            }
            if let Some(a) = &both {
                props.insert("$anon_distinct_id".to_string(), Value::String(a.clone()));
            }
        }
        "group" => {
            d.event = Some(Value::String("$groupidentify".to_string()));
            props.insert(
                "$group_type".to_string(),
                Value::String("segment_group".to_string()),
            );
            if let Some(g) = obj.remove("groupId") {
                props.insert("$group_key".to_string(), g);
            }
            props.insert(
                "$group_set".to_string(),
                Value::Object(object(traits, "traits")?),
            );
        }
        _ => {
            d.event = Some(Value::String("$create_alias".to_string()));
        }
    }
    // Any message with a userId identifies that user, and with an anonymousId too it merges it (§5.2).
    let mut merge = if has_user {
        let anon = both.map(Value::String);
        validate::merge_with(&distinct_id, anon.as_ref(), MergeSource::SegmentIds)
    } else {
        None
    };
    if ty == "alias" {
        let previous = obj.remove("previousId");
        if let Some(p) = &previous {
            props.insert("alias".to_string(), p.clone());
        }
        merge = validate::merge_with(&distinct_id, previous.as_ref(), MergeSource::SegmentAlias)
            .or(merge);
    }
    if let Some(id) = obj.remove("messageId").filter(|v| !v.is_null()) {
        let text = match &id {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.as_str().to_string(),
            other => validate::canonical_text(other),
        };
        props.insert("$segment_message_id".to_string(), id);
        if !text.is_empty() {
            d.uuid_rule = UuidRule::SegmentMessage(text);
        }
    }
    if let Some(ctx) = obj.remove("context") {
        if let Some(lib) = ctx.get("library") {
            if let Some(n) = lib.get("name").filter(|v| !v.is_null()) {
                props.insert("$lib".to_string(), n.clone());
            }
            if let Some(v) = lib.get("version").filter(|v| !v.is_null()) {
                props.insert("$lib_version".to_string(), v.clone());
            }
        }
        props.insert("$segment_context".to_string(), ctx);
    }
    if let Some(i) = obj.remove("integrations") {
        props.insert("$segment_integrations".to_string(), i);
    }
    let ts = obj.remove("timestamp").filter(|v| !v.is_null());
    let original = obj.remove("originalTimestamp").filter(|v| !v.is_null());
    d.timestamp = match (ts, original) {
        (Some(v), _) => Ts::Value(v, "timestamp"),
        (None, Some(v)) => Ts::Value(v, "originalTimestamp"),
        (None, None) => Ts::Absent,
    };
    if let Some(s) = obj.remove("sentAt") {
        d.meta.insert("sent_at".to_string(), s);
    }
    d.uuid = obj.remove("uuid");
    d.meta.extend(obj);
    d.distinct_id = DistinctId::Checked(distinct_id);
    d.properties = props;
    d.merge = MergeRule::Fixed(merge);
    Ok(d)
}
