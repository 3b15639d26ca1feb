//! Importing pydantic's genai-prices data into a liucun price file (economics.md §5).
//!
//! genai-prices publishes `data.json`: a list of providers, each with models that carry a `match` clause, prices
//! per 1M tokens (per 1K for requests and web searches), dated price lists, input-token tiers and request
//! variants. This module reads that file and writes the same pricing in liucun's terms: `equals` clauses become
//! aliases (or, when another model accepts the name too, part of the regex), the other clauses one anchored regex,
//! genai-prices' first-match order becomes `priority`, and its price resolution is evaluated at every date where it
//! can change, giving dated versions with tiers and variants.
//! Whatever the schema cannot say is counted in the summary and named in the entry's `notes`, never dropped
//! silently. Numbers are read as text and scaled by moving the decimal point, never through a float.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{Error, Problem};
use crate::import::{ImportSummary, Model, PriceSet, scaled, write_table};

/// The genai-prices repository this importer reads the data of.
pub const GENAI_PRICES_SOURCE: &str = "https://github.com/pydantic/genai-prices";

/// Imports genai-prices' `data.json` (or `data_slim.json`) as a liucun price file.
///
/// `date` (`YYYY-MM-DD`) becomes `checked`. Prices without a start date apply from 1970-01-01, as genai-prices
/// applies them at any date; dated prices become versions from their `start_date`. `keep` filters models by
/// `(model id, provider id)`; `header` lines become `#` comments at the top.
///
/// # Errors
/// The JSON does not parse or is not a list of providers with models, `date` is not a date, or the result does not
/// load as a price table.
pub fn import_genai_prices(
    json_text: &str,
    date: &str,
    header: &str,
    keep: &dyn Fn(&str, &str) -> bool,
) -> Result<(String, ImportSummary), Error> {
    let file = "genai-prices import";
    let invalid = |field: &str, expected: &'static str| Error::Invalid {
        file: file.to_owned(),
        model: None,
        field: field.to_owned(),
        problem: Problem::WrongType { expected },
    };
    if crate::time::parse_instant(date).is_none() || date.len() != 10 {
        return Err(invalid("date", "a YYYY-MM-DD date"));
    }
    let root: Value = serde_json::from_str(json_text).map_err(|e| Error::Syntax {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let Value::Array(providers) = root else {
        return Err(invalid("", "a JSON array of providers"));
    };
    let mut summary = ImportSummary::default();
    let slots = read_slots(&providers, &mut summary)
        .map_err(|(field, expected)| invalid(&field, expected))?;
    let ranked = rank(&slots);
    let built = build(&slots, keep, &mut summary);
    let models = settle_names(&slots, &ranked, built, &mut summary);
    summary.n_models = models.len();
    summary.n_new = models.len();

    Ok((write_table(file, header, &models, date)?, summary))
}

/// Keys of a provider that the import reads or knowingly leaves aside (matching by provider or API URL, usage
/// extraction, descriptions).
const PROVIDER_KEYS: &[&str] = &[
    "id",
    "name",
    "api_pattern",
    "pricing_urls",
    "description",
    "price_comments",
    "model_match",
    "provider_match",
    "extractors",
    "fallback_model_providers",
    "models",
];

/// Keys of a model that the import reads or knowingly leaves aside (descriptive text, context window).
const MODEL_KEYS: &[&str] = &[
    "id",
    "match",
    "name",
    "description",
    "context_window",
    "price_comments",
    "deprecated",
    "prices",
    "price_variants",
    "prices_checked",
];

/// genai-prices' price keys that liucun has a bucket for: key, bucket, and the power of ten from genai-prices'
/// unit to liucun's per-1M unit. Any other key is counted and named in the entry's notes.
const KEYS: [(&str, &str, i64); 9] = [
    ("input_mtok", "uncached_input", 0),
    ("cache_read_mtok", "cache_read", 0),
    ("cache_write_mtok", "cache_write", 0),
    ("cache_write_1h_mtok", "cache_write_1h", 0),
    ("output_mtok", "output", 0),
    ("output_audio_mtok", "output_audio", 0),
    ("output_image_mtok", "output_image", 0),
    ("requests_kcount", "request", 3),
    ("web_searches_kcount", "web_search", 3),
];

/// The first date of liucun's calendar; prices genai-prices applies at any date start here.
const EPOCH: &str = "1970-01-01";

/// One model of the source, where it stands and what reading it gave.
struct Slot {
    provider: String,
    provider_index: usize,
    model_index: usize,
    /// Whether the provider's `model_match` accepts every literal of the model's own clause, so that genai-prices,
    /// given no provider, would look in this provider for the model's names.
    is_picked_by_name: bool,
    /// The provider's price page.
    source: String,
    read: Result<Source, &'static str>,
}

/// One genai-prices model, read.
struct Source {
    id: String,
    clause: Clause,
    prices: Vec<Conditional>,
    variants: Vec<VariantSource>,
    checked: Option<String>,
    /// Fields outside the schema this importer knows, as `model.<key>` and the like.
    fields: BTreeSet<String>,
    /// Sentences for `notes` about prices that are not imported.
    notes: Vec<String>,
    /// Summary kinds for the same, each once.
    note_kinds: Vec<String>,
}

/// A model's table entry before its aliases are settled.
struct Built {
    id: String,
    versions: Vec<(String, PriceSet)>,
    notes: Vec<String>,
}

/// genai-prices' `MatchLogic`. It compares the lower-cased model name, ignoring case for literals; a regex is
/// searched for anywhere in the lower-cased name.
#[derive(Debug)]
enum Clause {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    /// The pattern as written, and its translation (a fragment and the compiled whole-name regex) or why none.
    Regex(String, Result<(String, Regex), String>),
    Or(Vec<Clause>),
    And(Vec<Clause>),
}

/// What liucun can hold of a match clause: aliases, regex fragments for `(?is)`, and what was left out.
#[derive(Default, Debug)]
struct Matcher {
    aliases: Vec<String>,
    fragments: Vec<String>,
    dropped: Vec<String>,
}

/// A price as genai-prices states it, per its key's unit: flat, or a base with cliff tiers on total input tokens.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Price {
    Flat(String),
    Tiered {
        base: String,
        /// `(start, price)`: above `start` total input tokens, `price` applies to all units.
        tiers: Vec<(u64, String)>,
    },
}

/// Prices by genai-prices key.
type PriceMap = BTreeMap<String, Price>;

/// When a conditional price or a variant applies.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Constraint {
    Always,
    /// From this UTC date on.
    From(String),
    /// Daily between two times of day, which liucun cannot express.
    Daily {
        start: String,
        end: String,
    },
}

struct Conditional {
    constraint: Constraint,
    prices: PriceMap,
}

struct VariantSource {
    /// The liucun service tier that selects it.
    tier: String,
    constraint: Constraint,
    prices: PriceMap,
}

/// Every model of every provider, read; `Err` names the provider field that makes the file unreadable.
fn read_slots(
    providers: &[Value],
    summary: &mut ImportSummary,
) -> Result<Vec<Slot>, (String, &'static str)> {
    let mut slots = Vec::new();
    for (pi, provider) in providers.iter().enumerate() {
        let at = format!("[{pi}]");
        let Value::Object(provider) = provider else {
            return Err((at, "a provider object"));
        };
        let Some(provider_id) = provider.get("id").and_then(Value::as_str) else {
            return Err((format!("{at}.id"), "a string"));
        };
        let Some(models) = provider.get("models").and_then(Value::as_array) else {
            return Err((format!("{at}.models"), "an array"));
        };
        for key in provider.keys() {
            if !PROVIDER_KEYS.contains(&key.as_str()) {
                *summary
                    .skipped_fields
                    .entry(format!("provider.{key}"))
                    .or_default() += 1;
            }
        }
        let source = provider
            .get("pricing_urls")
            .and_then(|u| u.get(0))
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("http"))
            .unwrap_or(GENAI_PRICES_SOURCE);
        let model_match = provider
            .get("model_match")
            .and_then(read_clause)
            .map(|c| lower_clause(&c));
        for (mi, model) in models.iter().enumerate() {
            let read = read_model(model);
            let is_picked_by_name = match (&model_match, &read) {
                (Some(by_name), Ok(source)) => literals(&source.clause)
                    .iter()
                    .all(|name| accepts(by_name, name)),
                _ => false,
            };
            slots.push(Slot {
                provider: provider_id.to_lowercase(),
                provider_index: pi,
                model_index: mi,
                is_picked_by_name,
                source: source.to_owned(),
                read,
            });
        }
    }
    Ok(slots)
}

/// Slot positions in the order genai-prices would try the models.
///
/// genai-prices tries a provider's models in order and takes the first that matches; without a provider it first
/// picks the first provider whose `model_match` accepts the name. The rank (picked by name, provider order, model
/// order) is the closest static order; the regex priorities follow it.
fn rank(slots: &[Slot]) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..slots.len()).collect();
    ranked.sort_by_key(|&i| {
        let s = &slots[i];
        (!s.is_picked_by_name, s.provider_index, s.model_index)
    });
    ranked
}

/// The versions and notes of every model kept, by slot; skipped models are counted with their reason.
fn build(
    slots: &[Slot],
    keep: &dyn Fn(&str, &str) -> bool,
    summary: &mut ImportSummary,
) -> BTreeMap<usize, Built> {
    let mut built = BTreeMap::new();
    let mut ids_taken: HashSet<String> = HashSet::new();
    let mut skip = |reason: &str| {
        *summary
            .skipped_entries
            .entry(reason.to_owned())
            .or_default() += 1;
    };
    let mut fields_seen: Vec<String> = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let source = match &slot.read {
            Ok(source) => source,
            Err(reason) => {
                skip(reason);
                continue;
            }
        };
        if !keep(&source.id, &slot.provider) {
            skip("filtered out");
            continue;
        }
        let mut fields = BTreeSet::new();
        let versions = versions(source, &mut fields);
        fields_seen.extend(source.fields.iter().chain(&fields).cloned());
        if versions.is_empty() {
            // genai-prices charges nothing for a model without prices (its `:free` models); liucun would need a
            // zero for each bucket, which the source does not state.
            if source.prices.iter().all(|c| c.prices.is_empty()) {
                skip("no prices (genai-prices charges nothing)");
            } else {
                skip("no price liucun has a bucket for");
            }
            continue;
        }
        let id = format!("{}/{}", slot.provider, source.id);
        if !ids_taken.insert(id.to_lowercase()) {
            skip("duplicate id");
            continue;
        }
        let mut notes = Vec::new();
        if !fields.is_empty() {
            let list: Vec<&str> = fields.iter().map(String::as_str).collect();
            notes.push(format!(
                "genai-prices also prices {}, which liucun has no bucket for.",
                list.join(", ")
            ));
        }
        notes.extend(source.notes.iter().cloned());
        built.insert(
            i,
            Built {
                id,
                versions,
                notes,
            },
        );
    }
    for field in fields_seen {
        *summary.skipped_fields.entry(field).or_default() += 1;
    }
    built
}

/// The table entries, with aliases, regex and priority settled in rank order.
///
/// liucun tries aliases (stage 1) before any regex (stage 3) and a name belongs to one entry, so an `equals` name
/// is an alias only when no other model accepts it. A shared name joins the regex of each model that lists it, and
/// stage 3 then prefers the event's provider and, after that, the model genai-prices tries first.
fn settle_names(
    slots: &[Slot],
    ranked: &[usize],
    mut built: BTreeMap<usize, Built>,
    summary: &mut ImportSummary,
) -> BTreeMap<String, Model> {
    let lowered: Vec<(usize, Clause)> = built
        .keys()
        .filter_map(|&i| Some((i, lower_clause(&slots[i].read.as_ref().ok()?.clause))))
        .collect();
    let ids: HashMap<String, usize> = built
        .iter()
        .map(|(&i, b)| (b.id.to_lowercase(), i))
        .collect();
    let n_ranked = i64::try_from(ranked.len()).unwrap_or(i64::MAX);
    let mut models = BTreeMap::new();
    for (r, &i) in ranked.iter().enumerate() {
        let Some(b) = built.remove(&i) else {
            continue;
        };
        let slot = &slots[i];
        let source = slot.read.as_ref().expect("only read models are built");
        let mut matcher = split_clause(&source.clause);
        let mut notes = b.notes;
        let mut kinds: BTreeSet<&str> = source.note_kinds.iter().map(String::as_str).collect();
        let mut aliases: Vec<String> = Vec::new();
        let mut shared: Vec<String> = Vec::new();
        for alias in &matcher.aliases {
            let lower = alias.to_lowercase();
            let is_listed = |a: &String| a.to_lowercase() == lower;
            if lower == b.id.to_lowercase() || aliases.iter().chain(&shared).any(is_listed) {
                continue;
            }
            // Stage 2 looks up `provider/model` as a name, so `anthropic/claude-x` listed by a reseller must not
            // take the event from anthropic's own `claude-x`.
            let is_stage_2_name = |j: usize, clause: &Clause| {
                let (provider, rest) = lower.split_once('/').unwrap_or_default();
                slots[j].provider == provider && accepts(clause, rest)
            };
            let is_shared = ids.get(&lower).is_some_and(|&j| j != i)
                || lowered.iter().any(|(j, clause)| {
                    *j != i && (accepts(clause, &lower) || is_stage_2_name(*j, clause))
                });
            if is_shared {
                shared.push(alias.clone());
            } else {
                aliases.push(alias.clone());
            }
        }
        if !shared.is_empty() {
            kinds.insert("name another model accepts too (in the regex, so the provider decides)");
            let literals = shared.iter().map(|a| literal(a));
            matcher.fragments = literals.chain(matcher.fragments).collect();
        }
        for why in &matcher.dropped {
            notes.push(format!(
                "genai-prices also matches {why}; a Rust regex cannot say so, so those names stay unmatched here."
            ));
            kinds.insert("match clause a Rust regex cannot express (left out)");
        }
        let pattern = (!matcher.fragments.is_empty())
            .then(|| format!("(?is){}", matcher.fragments.join("|")));
        if pattern.is_none() && aliases.is_empty() {
            kinds.insert("no alias or regex left (only the id matches)");
        }
        for kind in kinds {
            *summary.notes.entry(kind.to_owned()).or_default() += 1;
        }
        let priority = if pattern.is_some() {
            n_ranked - i64::try_from(r).unwrap_or(i64::MAX)
        } else {
            0
        };
        models.insert(
            b.id.clone(),
            Model {
                id: b.id,
                provider: slot.provider.clone(),
                aliases,
                pattern,
                priority,
                source: slot.source.clone(),
                checked: source.checked.clone(),
                notes,
                versions: b.versions,
                imported: None,
            },
        );
    }
    models
}

fn read_model(value: &Value) -> Result<Source, &'static str> {
    let Value::Object(model) = value else {
        return Err("model not an object");
    };
    let id = model
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
        .ok_or("model without an id")?;
    let clause = model
        .get("match")
        .and_then(read_clause)
        .ok_or("unreadable match")?;
    let mut fields = BTreeSet::new();
    for key in model.keys() {
        if !MODEL_KEYS.contains(&key.as_str()) {
            fields.insert(format!("model.{key}"));
        }
    }
    let mut prices = Vec::new();
    match model.get("prices") {
        Some(Value::Object(p)) => prices.push(Conditional {
            constraint: Constraint::Always,
            prices: read_prices(p)?,
        }),
        Some(Value::Array(items)) => {
            for item in items {
                let item = item.as_object().ok_or("unreadable prices")?;
                for key in item.keys() {
                    if !matches!(key.as_str(), "constraint" | "prices") {
                        fields.insert(format!("prices[].{key}"));
                    }
                }
                let p = item
                    .get("prices")
                    .and_then(Value::as_object)
                    .ok_or("unreadable prices")?;
                prices.push(Conditional {
                    constraint: read_constraint(item.get("constraint"))?,
                    prices: read_prices(p)?,
                });
            }
        }
        _ => return Err("unreadable prices"),
    }
    if prices.is_empty() {
        return Err("no prices");
    }
    let mut notes = Vec::new();
    let mut note_kinds = Vec::new();
    for c in &prices {
        if let Constraint::Daily { start, end } = &c.constraint {
            notes.push(format!(
                "genai-prices charges {} daily from {start} to {end}; liucun has no time-of-day prices, so the \
                 price for the rest of the day applies at all hours.",
                describe(&c.prices)
            ));
            note_kinds.push("time-of-day price (not applied; the rest-of-day price is)".to_owned());
        }
    }
    let variants = match model.get("price_variants").filter(|v| !v.is_null()) {
        Some(list) => read_variants(list, &mut fields, &mut notes, &mut note_kinds)?,
        None => Vec::new(),
    };
    let checked = model
        .get("prices_checked")
        .and_then(Value::as_str)
        .filter(|d| d.len() == 10 && crate::time::parse_instant(d).is_some())
        .map(str::to_owned);
    if model.get("prices_checked").is_some() && checked.is_none() {
        fields.insert("model.prices_checked".to_owned());
    }
    note_kinds.sort();
    note_kinds.dedup();
    Ok(Source {
        id: id.to_owned(),
        clause,
        prices,
        variants,
        checked,
        fields,
        notes,
        note_kinds,
    })
}

/// The variants liucun can select (by service tier), in list order; the others are named in `notes`.
fn read_variants(
    list: &Value,
    fields: &mut BTreeSet<String>,
    notes: &mut Vec<String>,
    note_kinds: &mut Vec<String>,
) -> Result<Vec<VariantSource>, &'static str> {
    let mut variants = Vec::new();
    for item in list.as_array().ok_or("unreadable price_variants")? {
        let item = item.as_object().ok_or("unreadable price_variants")?;
        for key in item.keys() {
            if !matches!(key.as_str(), "when" | "prices" | "constraint") {
                fields.insert(format!("price_variants[].{key}"));
            }
        }
        let when = item
            .get("when")
            .and_then(Value::as_object)
            .ok_or("unreadable price_variants")?;
        let p = item
            .get("prices")
            .and_then(Value::as_object)
            .ok_or("unreadable price_variants")?;
        let constraint = read_constraint(item.get("constraint"))?;
        let p = read_prices(p)?;
        let described = describe_when(when);
        match (service_tier(when), &constraint) {
            (Some(tier), Constraint::Always | Constraint::From(_)) => {
                variants.push(VariantSource {
                    tier,
                    constraint,
                    prices: p,
                });
            }
            (Some(_), Constraint::Daily { start, end }) => {
                notes.push(format!(
                    "genai-prices charges {} for requests with {described} daily from {start} to {end}; \
                     liucun has no time-of-day prices, so that is not imported.",
                    describe(&p)
                ));
                note_kinds
                    .push("price variant with a time-of-day constraint (not imported)".to_owned());
            }
            (None, _) => {
                notes.push(format!(
                    "genai-prices charges {} for requests with {described}; liucun selects variants by \
                     service_tier only, so that is not imported.",
                    describe(&p)
                ));
                let keys: Vec<&str> = when.keys().map(String::as_str).collect();
                note_kinds.push(format!(
                    "price variant selected by {} (not imported)",
                    keys.join("+")
                ));
            }
        }
    }
    Ok(variants)
}

/// The liucun service tier of a variant's `when`: `service_tier` itself, or `batch` for `processing: batch` (the
/// name the LiteLLM import gives batch prices too); `None` for any other condition.
fn service_tier(when: &Map<String, Value>) -> Option<String> {
    if when.len() != 1 {
        return None;
    }
    let (key, value) = when.iter().next()?;
    match (key.as_str(), value.as_str()?) {
        ("service_tier", tier) => Some(tier.to_owned()),
        ("processing", "batch") => Some("batch".to_owned()),
        _ => None,
    }
}

fn describe_when(when: &Map<String, Value>) -> String {
    let parts: Vec<String> = when
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
        .collect();
    parts.join(", ")
}

/// `input_mtok 0.27, output_mtok 1.1 (above 200000 input tokens 2.2)`: prices as genai-prices states them.
fn describe(prices: &PriceMap) -> String {
    let parts: Vec<String> = prices
        .iter()
        .map(|(key, price)| match price {
            Price::Flat(p) => format!("{key} {}", normal(p)),
            Price::Tiered { base, tiers } => {
                let tiers: Vec<String> = tiers
                    .iter()
                    .map(|(start, p)| format!("above {start} input tokens {}", normal(p)))
                    .collect();
                format!("{key} {} ({})", normal(base), tiers.join(", "))
            }
        })
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A validated decimal text in its shortest plain form.
fn normal(text: &str) -> String {
    scaled(text, 0).unwrap_or_else(|| text.to_owned())
}

fn read_constraint(value: Option<&Value>) -> Result<Constraint, &'static str> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Constraint::Always);
    };
    let c = value.as_object().ok_or("unknown price constraint")?;
    let text = |key: &str| c.get(key).and_then(Value::as_str);
    // The npm package's copy of the data tags each constraint with its `type`; data.json does not.
    let mut keys: BTreeSet<&str> = c.keys().map(String::as_str).collect();
    let tagged = keys.remove("type");
    let tag_fits = |tag: &str| !tagged || text("type") == Some(tag);
    if keys == BTreeSet::from(["start_date"]) && tag_fits("start_date") {
        let d = text("start_date")
            .filter(|d| d.len() == 10 && crate::time::parse_instant(d).is_some())
            .ok_or("unknown price constraint")?;
        Ok(Constraint::From(d.to_owned()))
    } else if keys == BTreeSet::from(["start_time", "end_time"]) && tag_fits("time_of_date") {
        let (Some(start), Some(end)) = (text("start_time"), text("end_time")) else {
            return Err("unknown price constraint");
        };
        Ok(Constraint::Daily {
            start: start.to_owned(),
            end: end.to_owned(),
        })
    } else {
        Err("unknown price constraint")
    }
}

fn read_prices(prices: &Map<String, Value>) -> Result<PriceMap, &'static str> {
    let mut out = PriceMap::new();
    for (key, value) in prices {
        let price = match value {
            Value::Null => continue,
            Value::Object(tiered) => read_tiered(tiered)?,
            value => Price::Flat(decimal(value).ok_or("malformed price")?),
        };
        out.insert(key.clone(), price);
    }
    Ok(out)
}

/// `{base, tiers: [{start, price}]}`. genai-prices compares `start` with the total input tokens of the request,
/// as liucun's `above_input_tokens` does; any other shape is a tier liucun cannot read as one.
fn read_tiered(tiered: &Map<String, Value>) -> Result<Price, &'static str> {
    const NOT_INPUT_TIERS: &str = "tiered price not on total input tokens";
    if tiered
        .keys()
        .any(|k| !matches!(k.as_str(), "base" | "tiers"))
    {
        return Err(NOT_INPUT_TIERS);
    }
    let base = tiered
        .get("base")
        .and_then(decimal)
        .ok_or("malformed price")?;
    let mut tiers = Vec::new();
    for tier in tiered
        .get("tiers")
        .and_then(Value::as_array)
        .ok_or(NOT_INPUT_TIERS)?
    {
        let tier = tier.as_object().ok_or(NOT_INPUT_TIERS)?;
        if tier
            .keys()
            .any(|k| !matches!(k.as_str(), "start" | "price"))
        {
            return Err(NOT_INPUT_TIERS);
        }
        let start = match tier.get("start") {
            Some(Value::Number(n)) => n.to_string().parse::<u64>().ok(),
            _ => None,
        }
        .ok_or("malformed price")?;
        let price = tier
            .get("price")
            .and_then(decimal)
            .ok_or("malformed price")?;
        tiers.push((start, price));
    }
    // genai-prices sorts the tiers by start; two tiers at one start would leave the price to list order.
    tiers.sort_by_key(|(start, _)| *start);
    if tiers.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err("malformed price");
    }
    Ok(Price::Tiered { base, tiers })
}

/// The text of a non-negative decimal given as a JSON number or string, as written.
fn decimal(value: &Value) -> Option<String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    scaled(&text, 0).map(|_| text)
}

fn read_clause(value: &Value) -> Option<Clause> {
    let clause = value.as_object()?;
    if clause.len() != 1 {
        return None;
    }
    let (key, value) = clause.iter().next()?;
    let text = || value.as_str().map(str::to_owned);
    let list = || -> Option<Vec<Clause>> { value.as_array()?.iter().map(read_clause).collect() };
    Some(match key.as_str() {
        "equals" => Clause::Equals(text()?),
        "starts_with" => Clause::StartsWith(text()?),
        "ends_with" => Clause::EndsWith(text()?),
        "contains" => Clause::Contains(text()?),
        "regex" => {
            let pattern = text()?;
            let translated = python_regex(&pattern);
            Clause::Regex(pattern, translated)
        }
        "or" => Clause::Or(list()?),
        "and" => Clause::And(list()?),
        _ => return None,
    })
}

/// A regex fragment that, under `(?is)` and anchored at both ends, accepts exactly the names Python's
/// `re.search(pattern, name.lower())` accepts, with that whole-name regex compiled; `Err` names the clause when
/// Rust's regex cannot say it.
fn python_regex(pattern: &str) -> Result<(String, Regex), String> {
    // Under (?i) an upper-case literal would match names that genai-prices, searching the lower-cased name, never
    // matches; a lower-case one matches the same names either way.
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c.is_uppercase() {
            return Err(format!(
                "the regex {pattern:?} (upper-case letters, searched in the lower-cased name)"
            ));
        }
    }
    let has_alternation = pattern.contains('|');
    let lead = if !has_alternation && pattern.starts_with('^') {
        ""
    } else {
        ".*"
    };
    let trailing_backslashes = pattern
        .strip_suffix('$')
        .map(|p| p.len() - p.trim_end_matches('\\').len());
    let trail = match trailing_backslashes {
        Some(n) if !has_alternation && n % 2 == 0 => "",
        _ => ".*",
    };
    // (?-s): Python's `.` does not match a newline; the `.*` around it may, as `re.search` skips anything.
    let fragment = format!("{lead}(?-s:{pattern}){trail}");
    match Regex::new(&format!("^(?is:{fragment})$")) {
        Ok(whole) => Ok((fragment, whole)),
        Err(_) => Err(format!(
            "the regex {pattern:?} (look-around or other syntax Rust's regex lacks)"
        )),
    }
}

/// Splits a model's clause into aliases (its `equals`, also inside `or`) and regex fragments for the rest.
fn split_clause(clause: &Clause) -> Matcher {
    fn walk(clause: &Clause, out: &mut Matcher) {
        match clause {
            Clause::Equals(name) => out.aliases.push(name.clone()),
            Clause::Or(clauses) => {
                for c in clauses {
                    walk(c, out);
                }
            }
            // Leaving out one branch of an `or` only matches less; leaving out part of an `and` would match more,
            // so an `and` goes whole or not at all.
            c => match fragment(c) {
                Ok(f) => out.fragments.push(f),
                Err(why) => out.dropped.push(why),
            },
        }
    }
    let mut out = Matcher::default();
    walk(clause, &mut out);
    out
}

/// A regex fragment for `(?is)` that accepts exactly the names `clause` accepts.
fn fragment(clause: &Clause) -> Result<String, String> {
    Ok(match clause {
        Clause::Equals(s) => literal(s),
        Clause::StartsWith(s) => format!("{}.*", literal(s)),
        Clause::EndsWith(s) => format!(".*{}", literal(s)),
        Clause::Contains(s) => format!(".*{}.*", literal(s)),
        Clause::Regex(_, translated) => translated.as_ref().map_err(Clone::clone)?.0.clone(),
        Clause::Or(clauses) => {
            let parts = clauses
                .iter()
                .map(fragment)
                .collect::<Result<Vec<_>, _>>()?;
            format!("(?:{})", parts.join("|"))
        }
        Clause::And(clauses) => {
            let parts: Vec<String> = clauses.iter().map(describe_clause).collect();
            return Err(format!(
                "names meeting all of {} (a regex has no intersection)",
                parts.join(" and ")
            ));
        }
    })
}

/// `text` as a regex that matches it literally. Only the characters special outside a class are escaped, so
/// `gpt-4.1` reads `gpt-4\.1` (`regex::escape` would also escape `-`).
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn describe_clause(clause: &Clause) -> String {
    match clause {
        Clause::Equals(s) => format!("equals {s:?}"),
        Clause::StartsWith(s) => format!("starts_with {s:?}"),
        Clause::EndsWith(s) => format!("ends_with {s:?}"),
        Clause::Contains(s) => format!("contains {s:?}"),
        Clause::Regex(p, _) => format!("regex {p:?}"),
        Clause::Or(cs) => {
            let parts: Vec<String> = cs.iter().map(describe_clause).collect();
            format!("({})", parts.join(" or "))
        }
        Clause::And(cs) => {
            let parts: Vec<String> = cs.iter().map(describe_clause).collect();
            format!("({})", parts.join(" and "))
        }
    }
}

/// The lower-cased literals of a clause (`equals`, `starts_with`, `ends_with`, `contains`), each a name or part of
/// the names it accepts.
fn literals(clause: &Clause) -> Vec<String> {
    match clause {
        Clause::Equals(s) | Clause::StartsWith(s) | Clause::EndsWith(s) | Clause::Contains(s) => {
            vec![s.to_lowercase()]
        }
        Clause::Regex(..) => Vec::new(),
        Clause::Or(cs) | Clause::And(cs) => cs.iter().flat_map(literals).collect(),
    }
}

/// The clause with its literals lower-cased, for [`accepts`].
fn lower_clause(clause: &Clause) -> Clause {
    match clause {
        Clause::Equals(s) => Clause::Equals(s.to_lowercase()),
        Clause::StartsWith(s) => Clause::StartsWith(s.to_lowercase()),
        Clause::EndsWith(s) => Clause::EndsWith(s.to_lowercase()),
        Clause::Contains(s) => Clause::Contains(s.to_lowercase()),
        Clause::Regex(p, translated) => Clause::Regex(p.clone(), translated.clone()),
        Clause::Or(cs) => Clause::Or(cs.iter().map(lower_clause).collect()),
        Clause::And(cs) => Clause::And(cs.iter().map(lower_clause).collect()),
    }
}

/// Whether genai-prices' clause, lower-cased by [`lower_clause`], accepts the lower-cased name `lower`. A regex
/// Rust cannot express counts as not accepting.
fn accepts(clause: &Clause, lower: &str) -> bool {
    match clause {
        Clause::Equals(s) => lower == s,
        Clause::StartsWith(s) => lower.starts_with(s.as_str()),
        Clause::EndsWith(s) => lower.ends_with(s.as_str()),
        Clause::Contains(s) => lower.contains(s.as_str()),
        Clause::Regex(_, translated) => translated
            .as_ref()
            .is_ok_and(|(_, whole)| whole.is_match(lower)),
        Clause::Or(cs) => cs.iter().any(|c| accepts(c, lower)),
        Clause::And(cs) => cs.iter().all(|c| accepts(c, lower)),
    }
}

/// The model's prices as liucun versions: genai-prices' resolution evaluated at 1970-01-01 and at every start date
/// of a price or variant, keeping each date where the result changes. `fields` collects keys without a bucket.
fn versions(source: &Source, fields: &mut BTreeSet<String>) -> Vec<(String, PriceSet)> {
    let mut days: BTreeSet<&str> = BTreeSet::from([EPOCH]);
    let dated = source
        .prices
        .iter()
        .map(|c| &c.constraint)
        .chain(source.variants.iter().map(|v| &v.constraint));
    for constraint in dated {
        if let Constraint::From(day) = constraint
            && day.as_str() > EPOCH
        {
            days.insert(day);
        }
    }
    let tiers: BTreeSet<&str> = source.variants.iter().map(|v| v.tier.as_str()).collect();
    let mut out: Vec<(String, PriceSet)> = Vec::new();
    for day in days {
        let standard = resolve(&source.prices, day);
        let mut set = price_set(standard, fields);
        for tier in &tiers {
            let overrides = resolve_variant(&source.variants, tier, day);
            if overrides.is_empty() {
                continue;
            }
            let variant = variant_set(standard, &overrides, fields);
            if !variant.base.is_empty() || !variant.tiers.is_empty() {
                set.variants.insert((*tier).to_owned(), variant);
            }
        }
        let is_empty = set.base.is_empty() && set.tiers.is_empty() && set.variants.is_empty();
        // A leading version without prices would only turn `no_price_version` into unpriced buckets.
        if out.last().is_some_and(|(_, last)| *last == set) || (out.is_empty() && is_empty) {
            continue;
        }
        out.push((day.to_owned(), set));
    }
    out
}

/// genai-prices' `get_prices`: the last price whose constraint holds on `day`, else the first. A time-of-day
/// constraint is taken never to hold, so the price for the rest of the day applies.
fn resolve<'a>(prices: &'a [Conditional], day: &str) -> &'a PriceMap {
    let active = prices.iter().rev().find(|c| match &c.constraint {
        Constraint::Always => true,
        Constraint::From(from) => from.as_str() <= day,
        Constraint::Daily { .. } => false,
    });
    &active.unwrap_or(&prices[0]).prices
}

/// genai-prices' variant resolution for a request with this service tier on `day`: per key, the first variant in
/// list order that applies.
fn resolve_variant(variants: &[VariantSource], tier: &str, day: &str) -> PriceMap {
    let mut out = PriceMap::new();
    for v in variants.iter().filter(|v| v.tier == tier) {
        let holds = match &v.constraint {
            Constraint::Always => true,
            Constraint::From(from) => from.as_str() <= day,
            Constraint::Daily { .. } => false,
        };
        if holds {
            for (key, price) in &v.prices {
                out.entry(key.clone()).or_insert_with(|| price.clone());
            }
        }
    }
    out
}

/// Flat prices and tier prices by bucket, per 1M units.
fn price_set(prices: &PriceMap, fields: &mut BTreeSet<String>) -> PriceSet {
    let mut set = PriceSet::default();
    for (key, price) in prices {
        let Some((_, bucket, shift)) = KEYS.iter().find(|(k, ..)| k == key) else {
            fields.insert(key.clone());
            continue;
        };
        let (base, tiers) = match price {
            Price::Flat(p) => (p, &[][..]),
            Price::Tiered { base, tiers } => (base, &tiers[..]),
        };
        let Some(base) = scaled(base, *shift) else {
            fields.insert(key.clone());
            continue;
        };
        set.base.insert(bucket, base);
        for (start, p) in tiers {
            if let Some(p) = scaled(p, *shift) {
                set.tiers.entry(*start).or_default().insert(bucket, p);
            }
        }
    }
    set
}

/// A liucun variant that prices requests as genai-prices' standard prices with `overrides` replacing whole keys.
///
/// liucun applies a variant's own tiers instead of the version's, and the version's otherwise. So the variant
/// lists the overridden buckets, and when the overrides change which tiers apply it carries the tiers of the
/// combined prices; if those have none, it repeats its flat prices at the version's thresholds, so that the
/// version's tiers do not apply to buckets genai-prices prices flat.
fn variant_set(
    standard: &PriceMap,
    overrides: &PriceMap,
    fields: &mut BTreeSet<String>,
) -> PriceSet {
    let standard_set = price_set(standard, fields);
    let mut combined = standard.clone();
    combined.extend(overrides.iter().map(|(k, p)| (k.clone(), p.clone())));
    let combined_set = price_set(&combined, fields);
    let mut out = PriceSet {
        base: price_set(overrides, fields).base,
        ..PriceSet::default()
    };
    if combined_set.tiers != standard_set.tiers {
        out.tiers = if combined_set.tiers.is_empty() {
            standard_set
                .tiers
                .iter()
                .map(|(above, prices)| {
                    let flat = prices
                        .keys()
                        .filter_map(|b| Some((*b, combined_set.base.get(b)?.clone())))
                        .collect();
                    (*above, flat)
                })
                .collect()
        } else {
            combined_set.tiers
        };
    }
    out
}

#[cfg(test)]
mod tests;
