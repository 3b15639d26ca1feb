//! Token usage of one AI event split into non-overlapping billing buckets (events.md §6.1–6.2).

use serde_json::{Map, Value};

use crate::decimal::Decimal;

/// One billing bucket; the buckets of an event do not overlap and sum to the billed total.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Bucket {
    UncachedInput,
    CacheRead,
    CacheWrite,
    CacheWrite5m,
    CacheWrite1h,
    Output,
    OutputAudio,
    OutputImage,
    WebSearch,
    Request,
}

/// The units of every bucket of one event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Usage {
    units: [u64; Bucket::ALL.len()],
    /// Whether `$ai_input_tokens` counted only the uncached part (stated or inferred).
    pub is_exclusive: bool,
    /// Whether some bucket came out negative and was set to 0 (`usage_inconsistent`).
    pub is_inconsistent: bool,
}

/// A token count that is not a non-negative integer: the event is `usage_invalid`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UsageInvalid {
    /// The property holding the bad value.
    pub property: &'static str,
}

impl Bucket {
    /// Every bucket, in reporting order.
    pub const ALL: [Bucket; 10] = [
        Bucket::UncachedInput,
        Bucket::CacheRead,
        Bucket::CacheWrite,
        Bucket::CacheWrite5m,
        Bucket::CacheWrite1h,
        Bucket::Output,
        Bucket::OutputAudio,
        Bucket::OutputImage,
        Bucket::WebSearch,
        Bucket::Request,
    ];

    /// The bucket's name in events.md §6.2.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::UncachedInput => "uncached_input",
            Bucket::CacheRead => "cache_read",
            Bucket::CacheWrite => "cache_write",
            Bucket::CacheWrite5m => "cache_write_5m",
            Bucket::CacheWrite1h => "cache_write_1h",
            Bucket::Output => "output",
            Bucket::OutputAudio => "output_audio",
            Bucket::OutputImage => "output_image",
            Bucket::WebSearch => "web_search",
            Bucket::Request => "request",
        }
    }

    /// Whether the bucket counts toward the input total that selects a tier.
    pub fn is_input(self) -> bool {
        matches!(
            self,
            Bucket::UncachedInput
                | Bucket::CacheRead
                | Bucket::CacheWrite
                | Bucket::CacheWrite5m
                | Bucket::CacheWrite1h
        )
    }
}

impl Usage {
    /// The units of one bucket; `request` is always 1.
    pub fn units(&self, bucket: Bucket) -> u64 {
        self.units[bucket as usize]
    }

    /// Uncached input plus cache reads plus every cache write: what tier thresholds compare against.
    pub fn total_input(&self) -> u64 {
        Bucket::ALL
            .iter()
            .filter(|b| b.is_input())
            .map(|&b| self.units(b))
            .fold(0u64, u64::saturating_add)
    }
}

/// Splits an event's usage properties into buckets (events.md §6.2).
///
/// # Errors
/// A token count that is present (not `null`) but is not a non-negative integer, as a JSON number or a string.
pub fn buckets(props: &Map<String, Value>) -> Result<Usage, UsageInvalid> {
    let count = |property: &'static str| -> Result<Option<u64>, UsageInvalid> {
        match props.get(property) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => token_count(value)
                .map(Some)
                .ok_or(UsageInvalid { property }),
        }
    };
    let input = count("$ai_input_tokens")?.unwrap_or(0);
    let output = count("$ai_output_tokens")?.unwrap_or(0);
    let cache_read = count("$ai_cache_read_input_tokens")?.unwrap_or(0);
    let cache_write = count("$ai_cache_creation_input_tokens")?;
    let write_5m = count("$ai_cache_creation_5m_input_tokens")?.unwrap_or(0);
    let write_1h = count("$ai_cache_creation_1h_input_tokens")?.unwrap_or(0);
    let audio = count("$ai_audio_output_tokens")?.unwrap_or(0);
    let image = count("$ai_image_output_tokens")?.unwrap_or(0);
    let web_search = count("$ai_web_search_count")?.unwrap_or(0);
    let model = text(props, "$ai_model").unwrap_or_default();
    let provider = text(props, "$ai_provider").map(str::to_ascii_lowercase);
    let reasoning = if reasoning_is_outside_output(provider.as_deref(), model) {
        count("$ai_reasoning_tokens")?.unwrap_or(0)
    } else {
        0
    };
    let is_exclusive = match props.get("$ai_cache_reporting_exclusive") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        _ => {
            let model = model.to_ascii_lowercase();
            provider.as_deref() == Some("anthropic")
                || model.contains("claude")
                || model.contains("anthropic")
        }
    };

    let mut is_inconsistent = false;
    let mut sub = |a: u64, b: u64| {
        a.checked_sub(b).unwrap_or_else(|| {
            is_inconsistent = true;
            0
        })
    };
    let cache_write_total = cache_write.unwrap_or(write_5m.saturating_add(write_1h));
    let cache_write_plain = sub(cache_write_total, write_5m.saturating_add(write_1h));
    let uncached = if is_exclusive {
        input
    } else {
        sub(input, cache_read.saturating_add(cache_write_total))
    };
    let plain_output = sub(
        output.saturating_add(reasoning),
        audio.saturating_add(image),
    );

    let mut units = [0u64; Bucket::ALL.len()];
    for (bucket, n) in [
        (Bucket::UncachedInput, uncached),
        (Bucket::CacheRead, cache_read),
        (Bucket::CacheWrite, cache_write_plain),
        (Bucket::CacheWrite5m, write_5m),
        (Bucket::CacheWrite1h, write_1h),
        (Bucket::Output, plain_output),
        (Bucket::OutputAudio, audio),
        (Bucket::OutputImage, image),
        (Bucket::WebSearch, web_search),
        (Bucket::Request, 1),
    ] {
        units[bucket as usize] = n;
    }
    Ok(Usage {
        units,
        is_exclusive,
        is_inconsistent,
    })
}

/// A string property, trimmed; `None` when absent, not a string or blank.
pub(crate) fn text<'a>(props: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match props.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
        _ => None,
    }
}

/// Gemini 2.5 and 3 report reasoning outside the output count (events.md §6.1.2, following PostHog).
fn reasoning_is_outside_output(provider: Option<&str>, model: &str) -> bool {
    let google = matches!(provider, Some("gemini" | "google" | "vertex" | "vertex_ai"));
    // Gateways prefix the model (`models/gemini-2.5-pro`, `google/gemini-3-pro`); the name after the last `/`
    // is what identifies the model family.
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    google && (name.starts_with("gemini-2.5") || name.starts_with("gemini-3"))
}

/// A non-negative integer written as a JSON number or a string (`1200`, `"1200"`, `1200.0`, `1.2e3`).
fn token_count(value: &Value) -> Option<u64> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    Decimal::parse(&text).ok()?.to_u64()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn split(props: Value) -> Vec<(&'static str, u64)> {
        let usage = buckets(props.as_object().expect("object")).expect("valid usage");
        Bucket::ALL
            .iter()
            .filter(|&&b| usage.units(b) > 0 && b != Bucket::Request)
            .map(|&b| (b.as_str(), usage.units(b)))
            .collect()
    }

    #[test]
    fn events_md_6_2_example_inclusive_and_exclusive() {
        let want = vec![
            ("uncached_input", 1_500),
            ("cache_read", 36_000),
            ("cache_write", 4_000),
            ("output", 900),
        ];
        let inclusive = json!({"$ai_input_tokens": 41_500, "$ai_cache_read_input_tokens": 36_000,
            "$ai_cache_creation_input_tokens": 4_000, "$ai_output_tokens": 900});
        assert_eq!(split(inclusive), want);
        let exclusive = json!({"$ai_input_tokens": 1_500, "$ai_cache_read_input_tokens": 36_000,
            "$ai_cache_creation_input_tokens": 4_000, "$ai_output_tokens": 900,
            "$ai_cache_reporting_exclusive": true});
        assert_eq!(split(exclusive), want);
    }

    #[test]
    fn exclusive_is_inferred_for_anthropic_and_claude() {
        let base = |extra: Value| {
            let mut v = json!({"$ai_input_tokens": 100, "$ai_cache_read_input_tokens": 40});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            split(v)
        };
        let exclusive = vec![("uncached_input", 100), ("cache_read", 40)];
        let inclusive = vec![("uncached_input", 60), ("cache_read", 40)];
        assert_eq!(base(json!({"$ai_provider": "Anthropic"})), exclusive);
        assert_eq!(
            base(json!({"$ai_model": "us.anthropic.Claude-3-5"})),
            exclusive
        );
        assert_eq!(base(json!({"$ai_model": "my-ANTHROPIC-proxy"})), exclusive);
        assert_eq!(
            base(json!({"$ai_model": "claude-3", "$ai_cache_reporting_exclusive": false})),
            inclusive
        );
        assert_eq!(base(json!({"$ai_model": "gpt-4o"})), inclusive);
        assert_eq!(
            base(json!({"$ai_model": "gpt-4o", "$ai_cache_reporting_exclusive": true})),
            exclusive
        );
    }

    #[test]
    fn cache_write_ttl_fields() {
        let v = json!({"$ai_input_tokens": 1000, "$ai_cache_creation_input_tokens": 700,
            "$ai_cache_creation_5m_input_tokens": 200, "$ai_cache_creation_1h_input_tokens": 300});
        assert_eq!(
            split(v),
            vec![
                ("uncached_input", 300),
                ("cache_write", 200),
                ("cache_write_5m", 200),
                ("cache_write_1h", 300)
            ]
        );
        // Without the total, the TTL fields are the whole cache write.
        let v = json!({"$ai_input_tokens": 1000, "$ai_cache_creation_5m_input_tokens": 200,
            "$ai_cache_creation_1h_input_tokens": 300});
        assert_eq!(
            split(v),
            vec![
                ("uncached_input", 500),
                ("cache_write_5m", 200),
                ("cache_write_1h", 300)
            ]
        );
    }

    #[test]
    fn output_modalities_and_gemini_reasoning() {
        let v = json!({"$ai_output_tokens": 1000, "$ai_audio_output_tokens": 300, "$ai_image_output_tokens": 200,
            "$ai_reasoning_tokens": 400});
        assert_eq!(
            split(v),
            vec![
                ("output", 500),
                ("output_audio", 300),
                ("output_image", 200)
            ]
        );
        for (provider, model) in [
            ("gemini", "gemini-2.5-pro"),
            ("Google", "gemini-2.5-flash"),
            ("vertex", "gemini-3-pro-preview"),
            ("google", "models/gemini-2.5-pro"),
        ] {
            let v = json!({"$ai_provider": provider, "$ai_model": model, "$ai_output_tokens": 1000,
                "$ai_reasoning_tokens": 400});
            assert_eq!(split(v), vec![("output", 1400)], "{provider} {model}");
        }
        for (provider, model) in [("openai", "gemini-2.5-pro"), ("google", "gemini-2.0-flash")] {
            let v = json!({"$ai_provider": provider, "$ai_model": model, "$ai_output_tokens": 1000,
                "$ai_reasoning_tokens": 400});
            assert_eq!(split(v), vec![("output", 1000)], "{provider} {model}");
        }
    }

    #[test]
    fn web_search_and_request() {
        let usage = buckets(json!({"$ai_web_search_count": "3"}).as_object().unwrap()).unwrap();
        assert_eq!(usage.units(Bucket::WebSearch), 3);
        assert_eq!(usage.units(Bucket::Request), 1);
        assert_eq!(usage.total_input(), 0);
    }

    #[test]
    fn negative_buckets_become_zero_and_inconsistent() {
        let props = json!({"$ai_input_tokens": 100, "$ai_cache_read_input_tokens": 150, "$ai_output_tokens": 5,
            "$ai_audio_output_tokens": 9});
        let usage = buckets(props.as_object().unwrap()).unwrap();
        assert!(usage.is_inconsistent);
        assert_eq!(usage.units(Bucket::UncachedInput), 0);
        assert_eq!(usage.units(Bucket::Output), 0);
        assert_eq!(usage.units(Bucket::OutputAudio), 9);
        let fine = buckets(json!({"$ai_input_tokens": 100}).as_object().unwrap()).unwrap();
        assert!(!fine.is_inconsistent);
    }

    #[test]
    fn token_counts_must_be_non_negative_integers() {
        for bad in [
            json!(-1),
            json!(1.5),
            json!("12a"),
            json!(true),
            json!([1]),
            json!({}),
            json!(""),
        ] {
            let props = json!({"$ai_output_tokens": bad});
            assert_eq!(
                buckets(props.as_object().unwrap()),
                Err(UsageInvalid {
                    property: "$ai_output_tokens"
                }),
                "{bad}"
            );
        }
        for good in [json!(12), json!("12"), json!(12.0), json!(null)] {
            let props = json!({"$ai_output_tokens": good});
            assert!(buckets(props.as_object().unwrap()).is_ok(), "{good}");
        }
    }
}
