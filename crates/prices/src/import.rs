//! Importing third-party price lists into liucun price files (economics.md §5).
//!
//! LiteLLM states prices per token as JSON numbers such as `2.5e-06`; liucun tables state them per 1M units as
//! decimal strings. The conversion works on the number's text (serde_json keeps it with `arbitrary_precision`) so
//! that no price ever passes through a float. LiteLLM keeps no history, so each import stamps the import date and
//! a previous table supplies the older versions. The genai-prices import (`genai`) writes through the same `Model`,
//! `PriceSet` and `scaled`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::error::{Error, Problem};
use crate::table::{PRICE_KEYS, PriceTable, Prices, Tier, Version};

/// The LiteLLM price list this importer reads.
pub const LITELLM_SOURCE: &str =
    "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json";

/// What an import kept, changed and left out.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct ImportSummary {
    /// Models written to the table.
    pub n_models: usize,
    /// Models whose prices equal the previous table's latest version, which was kept.
    pub n_unchanged: usize,
    /// Models whose prices changed since the previous table, which gained a version.
    pub n_changed: usize,
    /// Models new to the table.
    pub n_new: usize,
    /// Models of the previous table absent from the source, kept as they were.
    pub n_kept_from_previous: usize,
    /// Source entries skipped, by reason (`mode=embedding`, `no prices`, `duplicate id`, …).
    pub skipped_entries: BTreeMap<String, usize>,
    /// Price fields the schema has no place for, by field name, with how many entries had them.
    pub skipped_fields: BTreeMap<String, usize>,
    /// Other parts of imported entries the table cannot hold (a match clause, a variant, a time-of-day price), by
    /// kind, with how many entries had them; each entry's `notes` names its own.
    pub notes: BTreeMap<String, usize>,
}

/// Imports LiteLLM's `model_prices_and_context_window.json` as a liucun price file.
///
/// `date` (`YYYY-MM-DD`) becomes `checked` and the `effective_from` of new or changed prices. A model of
/// `previous` whose latest prices are unchanged keeps its versions; a changed one gains a version at `date`.
/// Models only `previous` has are kept, so old events stay priced.
///
/// # Errors
/// The JSON does not parse, `date` is not a date, or the result does not load as a price table.
pub fn import_litellm(
    json_text: &str,
    date: &str,
    previous: Option<&PriceTable>,
) -> Result<(String, ImportSummary), Error> {
    import_litellm_filtered(json_text, date, previous, "", &|_, _| true)
}

/// [`import_litellm`] with a header and an entry filter over `(key, provider)`.
///
/// # Errors
/// As [`import_litellm`].
pub fn import_litellm_filtered(
    json_text: &str,
    date: &str,
    previous: Option<&PriceTable>,
    header: &str,
    keep: &dyn Fn(&str, &str) -> bool,
) -> Result<(String, ImportSummary), Error> {
    let file = "litellm import";
    let invalid = |field: &str, problem: Problem| Error::Invalid {
        file: file.to_owned(),
        model: None,
        field: field.to_owned(),
        problem,
    };
    if crate::time::parse_instant(date).is_none() || date.len() != 10 {
        return Err(invalid(
            "date",
            Problem::WrongType {
                expected: "a YYYY-MM-DD date",
            },
        ));
    }
    let root: Value = serde_json::from_str(json_text).map_err(|e| Error::Syntax {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let Value::Object(root) = root else {
        return Err(invalid(
            "",
            Problem::WrongType {
                expected: "a JSON object",
            },
        ));
    };
    let mut summary = ImportSummary::default();
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    for (key, entry) in &root {
        let Value::Object(entry) = entry else {
            *summary
                .skipped_entries
                .entry("not an object".to_owned())
                .or_default() += 1;
            continue;
        };
        if key == "sample_spec" {
            *summary
                .skipped_entries
                .entry("sample_spec".to_owned())
                .or_default() += 1;
            continue;
        }
        let mode = entry.get("mode").and_then(Value::as_str).unwrap_or("chat");
        if !matches!(mode, "chat" | "completion" | "responses") {
            *summary
                .skipped_entries
                .entry(format!("mode={mode}"))
                .or_default() += 1;
            continue;
        }
        let Some(provider) = entry.get("litellm_provider").and_then(Value::as_str) else {
            *summary
                .skipped_entries
                .entry("no litellm_provider".to_owned())
                .or_default() += 1;
            continue;
        };
        let provider = provider.to_lowercase();
        if !keep(key, &provider) {
            *summary
                .skipped_entries
                .entry("filtered out".to_owned())
                .or_default() += 1;
            continue;
        }
        let prices = read_prices(entry, &mut summary.skipped_fields);
        if prices.base.is_empty() {
            *summary
                .skipped_entries
                .entry("no prices".to_owned())
                .or_default() += 1;
            continue;
        }
        let id = if key.to_lowercase().starts_with(&format!("{provider}/")) {
            key.clone()
        } else {
            format!("{provider}/{key}")
        };
        if models.keys().any(|k| k.eq_ignore_ascii_case(&id)) {
            *summary
                .skipped_entries
                .entry("duplicate id".to_owned())
                .or_default() += 1;
            continue;
        }
        let source = entry
            .get("source")
            .and_then(Value::as_str)
            .filter(|s| s.starts_with("http"))
            .unwrap_or(LITELLM_SOURCE)
            .to_owned();
        models.insert(
            id.clone(),
            Model {
                id,
                provider: provider.clone(),
                aliases: match key.split_once('/') {
                    // `dashscope/qwen-max` is also known as `qwen-max`; other prefixes name a route, not the model.
                    Some((prefix, rest))
                        if prefix.eq_ignore_ascii_case(&provider) && !rest.contains('/') =>
                    {
                        vec![rest.to_owned()]
                    }
                    Some(_) => Vec::new(),
                    None => vec![key.clone()],
                },
                pattern: None,
                priority: 0,
                source,
                checked: None,
                notes: Vec::new(),
                versions: Vec::new(),
                imported: Some(prices),
            },
        );
    }
    merge_previous(&mut models, previous, date, &mut summary);
    dedupe_aliases(&mut models);
    summary.n_models = models.len();

    Ok((write_table(file, header, &models, date)?, summary))
}

/// A price file's text: the header as comments, then every model; refused unless it parses as a table.
pub(crate) fn write_table(
    file: &str,
    header: &str,
    models: &BTreeMap<String, Model>,
    date: &str,
) -> Result<String, Error> {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str("schema_version = 1\n");
    for m in models.values() {
        write_model(&mut out, m, date);
    }
    PriceTable::parse(file, &out)?;
    Ok(out)
}

/// Converts a non-negative per-unit price, written as a JSON number, to the per-1M decimal string of a table.
///
/// Returns `None` when `text` is not a plain non-negative decimal number (optionally with an exponent).
pub(crate) fn per_million(text: &str) -> Option<String> {
    scaled(text, 6)
}

/// The decimal `text` × 10^`shift` as a plain decimal string, worked out on the digits, never through a float.
///
/// Returns `None` when `text` is not a plain non-negative decimal number (optionally with an exponent).
pub(crate) fn scaled(text: &str, shift: i64) -> Option<String> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty() || !is_digits(int_part) || !is_digits(frac_part)
    {
        return None;
    }
    // value = digits × 10^(point), with `point` counting the decimal shift of the whole digit string.
    let digits = format!("{int_part}{frac_part}");
    let point = exponent
        .checked_add(shift)?
        .checked_sub(i64::try_from(frac_part.len()).ok()?)?;
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    if point.unsigned_abs() > 64 {
        return None;
    }
    let out = if point >= 0 {
        format!("{digits}{}", "0".repeat(point as usize))
    } else {
        let shift = point.unsigned_abs() as usize;
        let padded = format!(
            "{}{digits}",
            "0".repeat(shift.saturating_sub(digits.len()) + 1)
        );
        let (whole, frac) = padded.split_at(padded.len() - shift);
        let frac = frac.trim_end_matches('0');
        let whole = whole.trim_start_matches('0');
        let whole = if whole.is_empty() { "0" } else { whole };
        if frac.is_empty() {
            whole.to_owned()
        } else {
            format!("{whole}.{frac}")
        }
    };
    Some(out)
}

/// Prices of one version as decimal strings per 1M units, keyed by [`PRICE_KEYS`] name.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub(crate) struct PriceSet {
    pub(crate) base: BTreeMap<&'static str, String>,
    /// `above_input_tokens` → prices.
    pub(crate) tiers: BTreeMap<u64, BTreeMap<&'static str, String>>,
    /// Service tier (`priority`, `flex`, `batch`, …) → prices and tiers.
    pub(crate) variants: BTreeMap<String, PriceSet>,
}

/// One model of the output: from the source, the previous table, or both.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) id: String,
    pub(crate) provider: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) pattern: Option<String>,
    pub(crate) priority: i64,
    pub(crate) source: String,
    /// `checked`; `None` for the import date.
    pub(crate) checked: Option<String>,
    /// Sentences for the entry's `notes`.
    pub(crate) notes: Vec<String>,
    /// `(effective_from, prices)`: kept from the previous table, or dated by the source.
    pub(crate) versions: Vec<(String, PriceSet)>,
    /// The source's current prices; `None` for a model only the previous table has.
    pub(crate) imported: Option<PriceSet>,
}

/// LiteLLM's base price fields and the bucket keys they become.
const FIELDS: [(&str, &str); 7] = [
    ("input_cost_per_token", "uncached_input"),
    ("cache_read_input_token_cost", "cache_read"),
    (
        "cache_creation_input_token_cost_above_1hr",
        "cache_write_1h",
    ),
    ("cache_creation_input_token_cost", "cache_write"),
    ("output_cost_per_token", "output"),
    ("output_cost_per_audio_token", "output_audio"),
    ("output_cost_per_image_token", "output_image"),
];

const VARIANTS: [(&str, &str); 3] = [
    ("_priority", "priority"),
    ("_flex", "flex"),
    ("_batches", "batch"),
];

fn read_prices(
    entry: &serde_json::Map<String, Value>,
    skipped: &mut BTreeMap<String, usize>,
) -> PriceSet {
    let mut set = PriceSet::default();
    for (name, value) in entry {
        if name == "tiered_pricing" {
            read_tiered(value, &mut set, skipped);
            continue;
        }
        let is_price = name.contains("cost") || name.ends_with("_token") || name.contains("_per_");
        if !is_price {
            continue;
        }
        let Some((bucket, tier, variant)) = classify(name) else {
            *skipped.entry(name.clone()).or_default() += 1;
            continue;
        };
        let Some(price) = number_text(value).and_then(|t| per_million(&t)) else {
            *skipped.entry(name.clone()).or_default() += 1;
            continue;
        };
        let target = match variant {
            Some(v) => set.variants.entry(v.to_owned()).or_default(),
            None => &mut set,
        };
        let prices = match tier {
            Some(n) => target.tiers.entry(n).or_default(),
            None => &mut target.base,
        };
        prices.insert(bucket, price);
    }
    // A variant or tier without any base price has nothing to override.
    if set.base.is_empty() {
        set.tiers.clear();
        set.variants.clear();
    }
    set
}

/// `(bucket, above_input_tokens, variant)` of a LiteLLM price field, or `None` when liucun has no place for it.
fn classify(name: &str) -> Option<(&'static str, Option<u64>, Option<&'static str>)> {
    let mut rest = name;
    let mut variant = None;
    for (suffix, v) in VARIANTS {
        if let Some(r) = rest.strip_suffix(suffix) {
            rest = r;
            variant = Some(v);
            break;
        }
    }
    let mut tier = None;
    if let Some(r) = rest.strip_suffix("k_tokens")
        && let Some(at) = r.rfind("_above_")
        && let Ok(k) = r[at + "_above_".len()..].parse::<u64>()
    {
        tier = Some(k.checked_mul(1000)?);
        rest = &r[..at];
    }
    let bucket = FIELDS.iter().find(|(f, _)| *f == rest)?.1;
    Some((bucket, tier, variant))
}

fn read_tiered(value: &Value, set: &mut PriceSet, skipped: &mut BTreeMap<String, usize>) {
    let Some(ranges) = value.as_array() else {
        *skipped.entry("tiered_pricing".to_owned()).or_default() += 1;
        return;
    };
    for range in ranges {
        let start = range
            .get("range")
            .and_then(|r| r.get(0))
            .and_then(number_text)
            .and_then(|t| t.split('.').next().and_then(|i| i.parse::<u64>().ok()));
        let (Some(start), Some(fields)) = (start, range.as_object()) else {
            *skipped.entry("tiered_pricing".to_owned()).or_default() += 1;
            continue;
        };
        for (name, value) in fields {
            if name == "range" {
                continue;
            }
            let bucket = FIELDS.iter().find(|(f, _)| f == name).map(|(_, b)| *b);
            let price = number_text(value).and_then(|t| per_million(&t));
            let (Some(bucket), Some(price)) = (bucket, price) else {
                *skipped.entry(format!("tiered_pricing.{name}")).or_default() += 1;
                continue;
            };
            if start == 0 {
                set.base.entry(bucket).or_insert(price);
            } else {
                set.tiers.entry(start).or_default().insert(bucket, price);
            }
        }
    }
}

/// The text of a JSON number as written in the source.
fn number_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn merge_previous(
    models: &mut BTreeMap<String, Model>,
    previous: Option<&PriceTable>,
    date: &str,
    summary: &mut ImportSummary,
) {
    let Some(previous) = previous else {
        summary.n_new = models.len();
        return;
    };
    let mut seen = HashSet::new();
    for e in &previous.entries {
        let versions: Vec<(String, PriceSet)> = e
            .versions
            .iter()
            .map(|v| (v.effective_from.clone(), price_set(v)))
            .collect();
        seen.insert(e.id.to_lowercase());
        let found = models
            .values_mut()
            .find(|m| m.id.eq_ignore_ascii_case(&e.id));
        match found {
            Some(m) => {
                m.aliases.extend(e.aliases.iter().cloned());
                m.pattern = e.pattern.as_ref().map(|(p, _)| p.clone());
                m.priority = e.priority;
                let latest = versions.last().map(|(_, p)| p);
                if latest == m.imported.as_ref() {
                    summary.n_unchanged += 1;
                    m.imported = None;
                } else {
                    summary.n_changed += 1;
                }
                // A second import on the same day replaces that day's version rather than repeating its date.
                m.versions = versions
                    .into_iter()
                    .filter(|(from, _)| from.as_str() < date || m.imported.is_none())
                    .collect();
            }
            None => {
                summary.n_kept_from_previous += 1;
                models.insert(
                    e.id.clone(),
                    Model {
                        id: e.id.clone(),
                        provider: e.provider.clone(),
                        aliases: e.aliases.clone(),
                        pattern: e.pattern.as_ref().map(|(p, _)| p.clone()),
                        priority: e.priority,
                        source: e.source.clone(),
                        checked: None,
                        notes: Vec::new(),
                        versions,
                        imported: None,
                    },
                );
            }
        }
    }
    summary.n_new = models
        .keys()
        .filter(|id| !seen.contains(&id.to_lowercase()))
        .count();
}

fn price_set(v: &Version) -> PriceSet {
    PriceSet {
        base: bucket_map(&v.prices),
        tiers: tier_map(&v.tiers),
        variants: v
            .variants
            .iter()
            .filter_map(|var| {
                let name = VARIANTS
                    .iter()
                    .map(|(_, n)| *n)
                    .find(|n| var.service_tiers.iter().any(|t| t == n))?;
                Some((
                    name.to_owned(),
                    PriceSet {
                        base: bucket_map(&var.prices),
                        tiers: tier_map(&var.tiers),
                        variants: BTreeMap::new(),
                    },
                ))
            })
            .collect(),
    }
}

fn tier_map(tiers: &[Tier]) -> BTreeMap<u64, BTreeMap<&'static str, String>> {
    tiers
        .iter()
        .map(|t| (t.above_input_tokens, bucket_map(&t.prices)))
        .collect()
}

fn bucket_map(prices: &Prices) -> BTreeMap<&'static str, String> {
    PRICE_KEYS
        .iter()
        .zip(&prices.0)
        .filter_map(|(k, d)| {
            // Normalise the stored decimal through the same conversion, so `2.50` and `2.5` compare equal.
            let text = per_million(&format!("{}e-6", (*d)?))?;
            Some((*k, text))
        })
        .collect()
}

/// Drops aliases that another model already uses as id or alias, keeping the first in id order.
fn dedupe_aliases(models: &mut BTreeMap<String, Model>) {
    let mut taken: HashSet<String> = models.keys().map(|id| id.to_lowercase()).collect();
    for m in models.values_mut() {
        let mut kept = Vec::new();
        for a in m.aliases.drain(..) {
            if !a.eq_ignore_ascii_case(&m.id) && taken.insert(a.to_lowercase()) {
                kept.push(a);
            }
        }
        m.aliases = kept;
    }
}

pub(crate) fn write_model(out: &mut String, m: &Model, date: &str) {
    let _ = writeln!(
        out,
        "\n[[model]]\nid = {}\nprovider = {}",
        quote(&m.id),
        quote(&m.provider)
    );
    if !m.aliases.is_empty() {
        let list: Vec<String> = m.aliases.iter().map(|a| quote(a)).collect();
        let _ = writeln!(out, "aliases = [{}]", list.join(", "));
    }
    if let Some(p) = &m.pattern {
        let _ = writeln!(out, "match = {}", quote(p));
    }
    if m.priority != 0 {
        let _ = writeln!(out, "priority = {}", m.priority);
    }
    let checked = m.checked.as_deref().unwrap_or(date);
    let _ = writeln!(
        out,
        "currency = \"USD\"\nsource = {}\nchecked = {checked}",
        quote(&m.source)
    );
    if !m.notes.is_empty() {
        let _ = writeln!(out, "notes = {}", quote(&m.notes.join(" ")));
    }
    for (from, prices) in &m.versions {
        write_version(out, from, prices);
    }
    if let Some(prices) = &m.imported {
        write_version(out, date, prices);
    }
}

fn write_version(out: &mut String, from: &str, p: &PriceSet) {
    let from = if from.len() == 10 {
        from.to_owned()
    } else {
        quote(from)
    };
    let _ = writeln!(out, "  [[model.price]]\n  effective_from = {from}");
    write_buckets(out, "  ", &p.base);
    write_tiers(out, "    ", "model.price.tier", &p.tiers);
    for (name, v) in &p.variants {
        let _ = writeln!(
            out,
            "    [[model.price.variant]]\n    service_tier = [\"{name}\"]"
        );
        write_buckets(out, "    ", &v.base);
        write_tiers(out, "      ", "model.price.variant.tier", &v.tiers);
    }
}

fn write_tiers(
    out: &mut String,
    indent: &str,
    table: &str,
    tiers: &BTreeMap<u64, BTreeMap<&'static str, String>>,
) {
    for (n, prices) in tiers {
        let _ = writeln!(out, "{indent}[[{table}]]\n{indent}above_input_tokens = {n}");
        write_buckets(out, indent, prices);
    }
}

fn write_buckets(out: &mut String, indent: &str, prices: &BTreeMap<&'static str, String>) {
    for key in PRICE_KEYS {
        if let Some(v) = prices.get(key) {
            let _ = writeln!(out, "{indent}{key} = \"{v}\"");
        }
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{import_litellm, per_million};
    use crate::PriceTable;

    const SAMPLE: &str = r#"{
        "sample_spec": {"input_cost_per_token": 0, "mode": "chat"},
        "gpt-4o": {
            "litellm_provider": "openai", "mode": "chat", "max_tokens": 16384,
            "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
            "cache_read_input_token_cost": 1.25e-06,
            "input_cost_per_token_priority": 4.25e-06, "output_cost_per_token_priority": 1.7e-05,
            "input_cost_per_token_batches": 1.25e-06,
            "output_cost_per_reasoning_token": 1e-05
        },
        "gemini/gemini-2.5-pro": {
            "litellm_provider": "gemini", "mode": "chat",
            "source": "https://ai.google.dev/pricing",
            "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
            "input_cost_per_token_above_200k_tokens": 2.5e-06,
            "output_cost_per_token_above_200k_tokens": 1.5e-05
        },
        "dashscope/qwen-plus": {
            "litellm_provider": "dashscope", "mode": "chat",
            "tiered_pricing": [
                {"range": [0, 256000.0], "input_cost_per_token": 4e-07, "output_cost_per_token": 1.2e-06},
                {"range": [256000.0, 1000000.0], "input_cost_per_token": 1.2e-06, "output_cost_per_token": 3.6e-06}
            ]
        },
        "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08}
    }"#;

    #[test]
    fn litellm_sample_becomes_a_loadable_table() {
        let (toml, summary) = import_litellm(SAMPLE, "2026-01-02", None).unwrap();
        let table = PriceTable::parse("out", &toml).unwrap();
        assert_eq!(table.len(), 3);
        assert_eq!(summary.n_new, 3);
        assert_eq!(summary.skipped_entries.get("mode=embedding"), Some(&1));
        assert_eq!(summary.skipped_entries.get("sample_spec"), Some(&1));
        assert_eq!(
            summary
                .skipped_fields
                .get("output_cost_per_reasoning_token"),
            Some(&1)
        );
        for want in [
            "id = \"openai/gpt-4o\"\nprovider = \"openai\"\naliases = [\"gpt-4o\"]",
            "effective_from = 2026-01-02\n  uncached_input = \"2.5\"\n  cache_read = \"1.25\"\n  output = \"10\"",
            "[[model.price.variant]]\n    service_tier = [\"priority\"]\n    uncached_input = \"4.25\"\n    output = \"17\"",
            "service_tier = [\"batch\"]\n    uncached_input = \"1.25\"",
            "id = \"gemini/gemini-2.5-pro\"",
            "source = \"https://ai.google.dev/pricing\"",
            "[[model.price.tier]]\n    above_input_tokens = 200000\n    uncached_input = \"2.5\"\n    output = \"15\"",
            "uncached_input = \"0.4\"\n  output = \"1.2\"\n    [[model.price.tier]]\n    above_input_tokens = 256000",
            "checked = 2026-01-02",
        ] {
            assert!(toml.contains(want), "missing {want:?} in\n{toml}");
        }
    }

    #[test]
    fn a_changed_price_appends_a_version_and_an_unchanged_one_keeps_history() {
        let (first, _) = import_litellm(SAMPLE, "2026-01-02", None).unwrap();
        let previous = PriceTable::parse("first", &first).unwrap();
        let changed = SAMPLE.replace(
            "\"input_cost_per_token\": 2.5e-06",
            "\"input_cost_per_token\": 2e-06",
        );
        let (second, summary) = import_litellm(&changed, "2026-03-01", Some(&previous)).unwrap();
        assert_eq!(
            (summary.n_changed, summary.n_unchanged, summary.n_new),
            (1, 2, 0)
        );
        let gpt = &second[second.find("openai/gpt-4o").unwrap()..];
        let first_version = gpt.find("effective_from = 2026-01-02").unwrap();
        let second_version = gpt
            .find("effective_from = 2026-03-01\n  uncached_input = \"2\"")
            .unwrap();
        assert!(first_version < second_version);
        let gemini = &second
            [second.find("gemini/gemini-2.5-pro").unwrap()..second.find("openai/gpt-4o").unwrap()];
        assert!(
            !gemini.contains("effective_from = 2026-03-01")
                && gemini.contains("checked = 2026-03-01"),
            "{gemini}"
        );
        PriceTable::parse("second", &second).unwrap();
    }

    #[test]
    fn a_bad_date_is_refused() {
        assert!(import_litellm(SAMPLE, "yesterday", None).is_err());
    }

    #[test]
    fn per_token_prices_scale_exactly() {
        let cases = [
            ("2.5e-06", "2.5"),
            ("1e-05", "10"),
            ("0.0000025", "2.5"),
            ("3.75E-6", "3.75"),
            ("1.1e-07", "0.11"),
            ("0", "0"),
            ("0.0", "0"),
            ("1.5e-12", "0.0000015"),
            ("2", "2000000"),
            ("6e-6", "6"),
        ];
        for (input, want) in cases {
            assert_eq!(per_million(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn non_numbers_and_negatives_are_refused() {
        for input in ["", "-1e-6", "abc", "1e", ".", "1.2.3"] {
            assert_eq!(per_million(input), None, "{input}");
        }
    }
}
