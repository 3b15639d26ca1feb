//! Pre-encoded capture batches in two wire formats, so one set of events can be sent both ways and compared.
//!
//! The same events become either a posthog-python `/batch/` body (plain JSON) or a Sensors Data `/sa` body as the
//! mobile SDKs send it (ingest-sensors.md §3: a form with `data_list` = base64 of the gzipped JSON array of
//! messages, and `gzip=1`). Encoding happens before any request is timed, so the client's gzip does not compete
//! with the server for the clock.

use std::io::Write;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Which SDK family's wire the batches use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /batch/` with a JSON body, as posthog-python sends it.
    PostHog,
    /// `POST /sa?project=TOKEN` with `data_list` (gzip, base64) and `gzip=1`, as the Sensors mobile SDKs send it.
    Sensors,
}

/// How many properties each event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropsSize {
    /// Five properties, as `liucun-load`'s default events.
    Small,
    /// The preset properties of the Sensors Android SDK, a few custom ones and a 400-character text: about 1 KB.
    Large,
}

/// One request, ready to send.
#[derive(Debug, Clone)]
pub struct EncodedBatch {
    /// Path and query.
    pub path: String,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// Events in it.
    pub n_events: usize,
}

/// `n_batches` batches of `batch` events each, encoded for `wire`.
///
/// The events depend only on `seed`, the batch index and `props`, never on `wire`, so two calls that differ only
/// in the wire describe the same events. Every event is distinct (its uuid, or its `_track_id`, from which liucun
/// derives the uuid).
pub fn encode_batches(
    wire: Wire,
    props: PropsSize,
    n_batches: usize,
    batch: usize,
    token: &str,
    seed: u64,
) -> Vec<EncodedBatch> {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    (0..n_batches)
        .map(|b| {
            let events: Vec<SourceEvent> = (0..batch)
                .map(|i| SourceEvent::new(seed, (b * batch + i) as u64, now_ms, props))
                .collect();
            match wire {
                Wire::PostHog => posthog(&events, token, now_ms),
                Wire::Sensors => sensors(&events, token, now_ms),
            }
        })
        .collect()
}

/// An event before it is given a wire shape.
struct SourceEvent {
    n: u64,
    event: &'static str,
    distinct_id: String,
    time_ms: i64,
    properties: Map<String, Value>,
}

impl SourceEvent {
    fn new(seed: u64, n: u64, now_ms: i64, props: PropsSize) -> SourceEvent {
        let who =
            (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n.wrapping_mul(2_654_435_761)) % 10_000;
        let mut properties = Map::new();
        properties.insert("$ai_model".into(), json!("gpt-4o-mini"));
        properties.insert("$ai_input_tokens".into(), json!(100 + n % 900));
        properties.insert("$ai_output_tokens".into(), json!(20 + n % 400));
        properties.insert("conversation".into(), json!(n % 97));
        if props == PropsSize::Large {
            let preset = json!({
                "$os": "Android", "$os_version": "14", "$manufacturer": "Google", "$model": "Pixel 8",
                "$brand": "GOOGLE", "$app_version": "1.4.2", "$screen_width": 1080, "$screen_height": 2400,
                "$timezone_offset": -480, "$app_id": "com.example.chat", "$app_name": "ExampleChat",
                "$wifi": true, "$network_type": "WIFI", "$carrier": "中国移动", "$is_first_day": false,
                "model_tier": "pro", "channel": "wechat", "prompt_chars": 400 + n % 1000,
            });
            properties.extend(preset.as_object().expect("an object literal").clone());
            let text: String = "用户提问 how do I export my chat history? "
                .chars()
                .cycle()
                .take(400)
                .collect();
            properties.insert("prompt_preview".into(), json!(text));
        }
        SourceEvent {
            n,
            event: if n.is_multiple_of(5) {
                "$ai_generation"
            } else {
                "chat_message"
            },
            distinct_id: format!("load-user-{who}"),
            time_ms: now_ms - (n % 1000) as i64,
            properties,
        }
    }
}

fn posthog(events: &[SourceEvent], token: &str, now_ms: i64) -> EncodedBatch {
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut properties = e.properties.clone();
            properties.insert("$lib".into(), json!("liucun-load"));
            json!({
                "event": e.event,
                "distinct_id": e.distinct_id,
                "uuid": format!("0190a1b2-c3d4-7{:03x}-8{:03x}-{:012x}", (e.n >> 60) & 0xfff, (e.n >> 48) & 0xfff,
                    e.n & 0xffff_ffff_ffff),
                "timestamp": iso(e.time_ms),
                "properties": properties,
            })
        })
        .collect();
    let body = json!({
        "api_key": token,
        "batch": items,
        "historical_migration": false,
        "sent_at": iso(now_ms),
    });
    EncodedBatch {
        path: "/batch/".to_string(),
        content_type: "application/json",
        body: body.to_string().into_bytes(),
        n_events: events.len(),
    }
}

fn sensors(events: &[SourceEvent], token: &str, now_ms: i64) -> EncodedBatch {
    let lib = json!({"$lib": "Android", "$lib_version": "6.8.0", "$app_version": "1.4.2", "$lib_method": "code"});
    let messages: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut properties = e.properties.clone();
            properties.insert("$lib".into(), json!("Android"));
            properties.insert("$lib_version".into(), json!("6.8.0"));
            json!({
                // The SDKs draw `_track_id` at random from the i32 range; a counter keeps every event distinct.
                "_track_id": e.n % (1 << 31),
                "time": e.time_ms,
                "type": "track",
                "distinct_id": e.distinct_id,
                "anonymous_id": e.distinct_id,
                "identities": {"$identity_android_uuid": e.distinct_id},
                "event": e.event,
                "lib": lib,
                "properties": properties,
                "_flush_time": now_ms,
            })
        })
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(Value::Array(messages).to_string().as_bytes())
        .expect("writing to a Vec cannot fail");
    let gzipped = gz.finish().expect("writing to a Vec cannot fail");
    let data_list = base64::engine::general_purpose::STANDARD.encode(gzipped);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("gzip", "1")
        .append_pair("data_list", &data_list)
        .finish();
    EncodedBatch {
        path: format!("/sa?project={token}"),
        content_type: "application/x-www-form-urlencoded",
        body: body.into_bytes(),
        n_events: events.len(),
    }
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .expect("a recent time is in range")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wires_describe_the_same_number_of_events() {
        for props in [PropsSize::Small, PropsSize::Large] {
            let p = encode_batches(Wire::PostHog, props, 2, 50, "t", 7);
            let s = encode_batches(Wire::Sensors, props, 2, 50, "t", 7);
            assert_eq!(p.len(), 2);
            assert!(p.iter().chain(&s).all(|b| b.n_events == 50));
            let body = String::from_utf8(s[0].body.clone()).unwrap();
            assert!(body.starts_with("gzip=1&data_list="), "{body:.40}");
        }
    }
}
