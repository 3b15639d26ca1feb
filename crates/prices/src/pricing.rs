//! The cost of one AI event (economics.md §3): supplied cost, then custom prices on the event, then the price
//! tables (overrides first, then the built-in one), else unpriced with a reason.

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::decimal::Decimal;
use crate::table::{Candidate, Entry, PriceTable, Tier, Variant, Version, hex, price_key};
use crate::usage::{Bucket, Usage, buckets, text};

/// The price tables in the order they are searched: override files first, then the built-in table.
#[derive(Debug)]
pub struct Pricing<'a> {
    tables: Vec<&'a PriceTable>,
    /// Each (model, provider) costed so far: its match in each table that has one, in search order.
    memo: RefCell<HashMap<(String, Option<String>), Matches<'a>>>,
}

/// A model's match in each table that has one: (table index, entry), in search order.
type Matches<'a> = Vec<(usize, &'a Entry)>;

/// The most (model, provider) pairs a [`Pricing`] remembers the matches of.
const MEMO_MODELS: usize = 4096;

/// Project options that change costing.
#[derive(Clone, Copy, Default, Debug)]
pub struct Options {
    /// `recompute_posthog_costs = true`: ignore costs PostHog computed and price the event here.
    pub recompute_posthog_costs: bool,
    /// `cache_price_defaults = "posthog"`: fill missing cache prices from the input price as PostHog does.
    pub cache_price_defaults_posthog: bool,
}

/// Where an event's cost came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    /// Supplied on the event by the app.
    Provided,
    /// Supplied on the event, computed by PostHog (`$ai_cost_model_source` other than `passthrough`).
    ProvidedPosthog,
    /// Computed from per-token prices on the event.
    Custom,
    /// Computed from a price table.
    Table,
    /// No cost; see [`Costing::unpriced_reason`].
    Unpriced,
}

/// The costing record of one AI event (economics.md §3).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Costing {
    pub source: Source,
    /// `no_model`, `unknown_model`, `no_price_version` or `usage_invalid` when unpriced.
    pub unpriced_reason: Option<&'static str>,
    /// The cost in nano-units (10⁻⁹) of `currency`: the sum of the bucket costs.
    pub nano: i128,
    /// `USD` for supplied costs and custom prices; the matched entry's currency once a table entry matched (also
    /// for `no_price_version`); `USD` for other unpriced events, whose `nano` is 0.
    pub currency: String,
    /// The name of the price table that matched.
    pub table: Option<String>,
    /// The matched entry's id.
    pub model_id: Option<String>,
    /// The price version's `effective_from` as written in the table.
    pub version: Option<String>,
    /// The service tier of the variant applied, as listed in the table.
    pub variant: Option<String>,
    /// The highest tier threshold applied to any bucket.
    pub tier: Option<u64>,
    /// The priced buckets with units > 0 (and `request` when it has a price).
    pub buckets: Vec<BucketCost>,
    /// Whether some bucket with units had no price.
    pub partially_priced: bool,
    /// The units left unpriced, per bucket; for an unpriced event, all its token and search units.
    pub unpriced_units: Vec<(Bucket, u64)>,
    /// Data problems: `cost_invalid`, `usage_inconsistent`, `usage_invalid`.
    pub flags: Vec<&'static str>,
    /// The model string read from the event, trimmed.
    pub model: Option<String>,
    /// The usage split into buckets, when the token counts are valid.
    pub usage: Option<Usage>,
}

/// The cost of one bucket of one event.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BucketCost {
    pub bucket: Bucket,
    pub units: u64,
    /// The price per 1M units that was applied, as a plain decimal.
    pub price_per_million: String,
    /// The tier threshold whose price applied, if any.
    pub tier: Option<u64>,
    /// `units × price ÷ 10⁶`, rounded half-even to nano-units.
    pub nano: i128,
}

/// What a model string would match and why, for `liucun prices lookup`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Lookup {
    pub model: String,
    /// The provider as matching uses it (lowercase).
    pub provider: Option<String>,
    /// The tables searched, in order, by name.
    pub searched: Vec<String>,
    /// The table that decided: the first with any match.
    pub table: Option<String>,
    /// Every entry the deciding stage yielded, best first; the first is the match.
    pub candidates: Vec<Candidate>,
    pub currency: Option<String>,
    /// The matched entry's `source` URL and `checked` date.
    pub source: Option<String>,
    pub checked: Option<String>,
    /// Every `effective_from` of the matched entry, oldest first.
    pub versions: Vec<String>,
    /// The version in effect at the instant asked about.
    pub version: Option<String>,
    /// The prices of that version per 1M units, as `(key, decimal)`.
    pub prices: Vec<(&'static str, String)>,
    /// Its tiers: threshold and the prices they list.
    pub tiers: Vec<(u64, Vec<(&'static str, String)>)>,
    /// Its variants.
    pub variants: Vec<LookupVariant>,
    /// Why an event with this model would be unpriced: `no_model`, `unknown_model` or `no_price_version`.
    pub unpriced_reason: Option<&'static str>,
}

/// A variant of the version a lookup found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LookupVariant {
    /// The `service_tier` values that select it.
    pub service_tiers: Vec<String>,
    /// The prices it overrides, as `(key, decimal)`.
    pub prices: Vec<(&'static str, String)>,
    /// The thresholds of its own tiers, which replace the version's.
    pub tiers: Vec<u64>,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Provided => "provided",
            Source::ProvidedPosthog => "provided_posthog",
            Source::Custom => "custom",
            Source::Table => "table",
            Source::Unpriced => "unpriced",
        }
    }
}

/// The supplied-cost properties (USD).
const TOTAL_COST: &str = "$ai_total_cost_usd";
const INPUT_COST: &str = "$ai_input_cost_usd";
const OUTPUT_COST: &str = "$ai_output_cost_usd";
const REQUEST_COST: &str = "$ai_request_cost_usd";
const WEB_SEARCH_COST: &str = "$ai_web_search_cost_usd";

/// The custom-price properties (USD per token, per request, per search).
const INPUT_PRICE: &str = "$ai_input_token_price";
const OUTPUT_PRICE: &str = "$ai_output_token_price";
const CACHE_READ_PRICE: &str = "$ai_cache_read_token_price";
const CACHE_WRITE_PRICE: &str = "$ai_cache_write_token_price";
const REQUEST_PRICE: &str = "$ai_request_price";
const WEB_SEARCH_PRICE: &str = "$ai_web_search_price";

/// Nano-units per unit of currency, as a power of ten.
const NANO_EXP: i32 = 9;
/// Prices are per 1M units.
const MILLION_EXP: i32 = 6;

impl<'a> Pricing<'a> {
    /// Searches `overrides` in order, then the built-in default table: current prices, then their history.
    pub fn new(overrides: Vec<&'a PriceTable>) -> Pricing<'a> {
        let mut tables = overrides;
        tables.push(PriceTable::builtin());
        tables.push(PriceTable::history());
        Pricing {
            tables,
            memo: RefCell::new(HashMap::new()),
        }
    }

    /// The tables in search order.
    pub fn tables(&self) -> &[&'a PriceTable] {
        &self.tables
    }

    /// Hex SHA-256 over the digests of the tables in search order: the price-table part of a costing record's key,
    /// which changes whenever any table or their order changes.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        for table in &self.tables {
            hasher.update(table.sha256().as_bytes());
            hasher.update(b"\n");
        }
        hex(&hasher.finalize())
    }

    /// Costs one `$ai_generation` or `$ai_embedding` event from its properties; `ts_us` (microseconds since the
    /// epoch) picks the price version.
    ///
    /// Matching runs on every call: a hash lookup, then every `match` regex of a table when no name matches.
    pub fn cost(&self, props: &Map<String, Value>, ts_us: i64, options: &Options) -> Costing {
        let mut c = Costing {
            source: Source::Unpriced,
            unpriced_reason: None,
            nano: 0,
            currency: "USD".to_string(),
            table: None,
            model_id: None,
            version: None,
            variant: None,
            tier: None,
            buckets: Vec::new(),
            partially_priced: false,
            unpriced_units: Vec::new(),
            flags: Vec::new(),
            model: text(props, "$ai_model").map(str::to_string),
            usage: None,
        };
        let usage = buckets(props);
        match &usage {
            Ok(u) if u.is_inconsistent => c.flags.push("usage_inconsistent"),
            Ok(_) => {}
            Err(_) => c.flags.push("usage_invalid"),
        }
        c.usage = usage.clone().ok();

        // §3 step 1: a supplied cost.
        let supplied = supplied_cost(props, &mut c.flags);
        let by_posthog = match props.get("$ai_cost_model_source") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => s.trim() != "passthrough",
            Some(_) => true,
        };
        if let Some(cost) = supplied
            && !(by_posthog && options.recompute_posthog_costs)
        {
            c.source = if by_posthog {
                Source::ProvidedPosthog
            } else {
                Source::Provided
            };
            c.nano = cost.round_scaled(1, NANO_EXP);
            return c;
        }

        let Ok(usage) = usage else {
            return unpriced(c, "usage_invalid", None);
        };
        let provider = text(props, "$ai_provider").map(str::to_ascii_lowercase);
        let is_anthropic = |entry_provider: Option<&str>| {
            let model = c.model.as_deref().unwrap_or_default().to_ascii_lowercase();
            provider.as_deref() == Some("anthropic")
                || entry_provider == Some("anthropic")
                || model.contains("claude")
                || model.contains("anthropic")
        };

        // §3 step 2: per-token prices on the event.
        if let Some(custom) = custom_prices(props, &mut c.flags) {
            let cache_read_factor = cache_read_factor(is_anthropic(None));
            c.source = Source::Custom;
            price_buckets(&mut c, &usage, |bucket| {
                let price = custom.price(bucket);
                match price {
                    None if options.cache_price_defaults_posthog => posthog_default(
                        bucket,
                        custom.price(Bucket::UncachedInput),
                        cache_read_factor,
                    ),
                    _ => price,
                }
                .map(|p| (p, None))
            });
            return c;
        }

        // §3 step 3: the price tables.
        let Some(model) = c.model.clone() else {
            return unpriced(c, "no_model", Some(&usage));
        };
        let Some((table, entry)) = self.find_entry(&model, provider.as_deref(), ts_us) else {
            return unpriced(c, "unknown_model", Some(&usage));
        };
        c.table = Some(table.name().to_string());
        c.model_id = Some(entry.id.clone());
        c.currency = entry.currency.clone();
        let Some(version) = entry.version_at(ts_us) else {
            return unpriced(c, "no_price_version", Some(&usage));
        };
        c.source = Source::Table;
        c.version = Some(version.effective_from.clone());
        let variant = service_tier(props).as_deref().and_then(|tier| {
            version.variants.iter().find_map(|v| {
                let name = v
                    .service_tiers
                    .iter()
                    .find(|t| t.eq_ignore_ascii_case(tier))?;
                Some((v, name))
            })
        });
        c.variant = variant.map(|(_, name)| name.clone());
        let variant = variant.map(|(v, _)| v);
        let total_input = usage.total_input();
        let cache_read_factor = cache_read_factor(is_anthropic(Some(&entry.provider)));
        price_buckets(&mut c, &usage, |bucket| {
            let price = table_price(version, variant, total_input, bucket);
            match price {
                None if options.cache_price_defaults_posthog => {
                    let input = table_price(version, variant, total_input, Bucket::UncachedInput);
                    let tier = input.and_then(|(_, t)| t);
                    posthog_default(bucket, input.map(|(p, _)| p), cache_read_factor)
                        .map(|p| (p, tier))
                }
                _ => price,
            }
        });
        c
    }

    /// What `model` (with optional `provider`) would match at `at_us`, and why.
    pub fn lookup(&self, model: &str, provider: Option<&str>, at_us: i64) -> Lookup {
        let model = model.trim();
        let provider = provider
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty());
        let mut out = Lookup {
            model: model.to_string(),
            provider: provider.clone(),
            searched: self.tables.iter().map(|t| t.name().to_string()).collect(),
            table: None,
            candidates: Vec::new(),
            currency: None,
            source: None,
            checked: None,
            versions: Vec::new(),
            version: None,
            prices: Vec::new(),
            tiers: Vec::new(),
            variants: Vec::new(),
            unpriced_reason: None,
        };
        if model.is_empty() {
            out.unpriced_reason = Some("no_model");
            return out;
        }
        let Some((table, candidates, entry)) = self.find(model, provider.as_deref(), at_us) else {
            out.unpriced_reason = Some("unknown_model");
            return out;
        };
        out.table = Some(table.name().to_string());
        out.candidates = candidates;
        out.currency = Some(entry.currency.clone());
        out.source = Some(entry.source.clone());
        out.checked = Some(entry.checked.clone());
        out.versions = entry
            .versions
            .iter()
            .map(|v| v.effective_from.clone())
            .collect();
        let Some(version) = entry.version_at(at_us) else {
            out.unpriced_reason = Some("no_price_version");
            return out;
        };
        let listed_tiers = |tiers: &[Tier]| -> Vec<(u64, Vec<(&'static str, String)>)> {
            tiers
                .iter()
                .map(|t| (t.above_input_tokens, t.prices.listed()))
                .collect()
        };
        out.version = Some(version.effective_from.clone());
        out.prices = version.prices.listed();
        out.tiers = listed_tiers(&version.tiers);
        out.variants = version
            .variants
            .iter()
            .map(|v| LookupVariant {
                service_tiers: v.service_tiers.clone(),
                prices: v.prices.listed(),
                tiers: v.tiers.iter().map(|t| t.above_input_tokens).collect(),
            })
            .collect();
        out
    }

    /// The first table with any match decides (economics.md §4.3 step 2). The two built-in files are one default
    /// table: current prices, stamped with their import date, then the price history that comes before it. When the
    /// current file's match has no version at `at_us`, the history's match decides if it has one.
    fn find(
        &self,
        model: &str,
        provider: Option<&str>,
        at_us: i64,
    ) -> Option<(&'a PriceTable, Vec<Candidate>, &'a Entry)> {
        let matches: Vec<(usize, Vec<Candidate>, &'a Entry)> = self
            .tables
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.candidates(model, provider).map(|(c, e)| (i, c, e)))
            .collect();
        let pick = self.pick(matches.iter().map(|(i, _, e)| (*i, *e)), at_us)?;
        let (i, candidates, entry) = matches.into_iter().nth(pick)?;
        Some((self.tables[i], candidates, entry))
    }

    /// [`Pricing::find`] without the candidates, remembered per model and provider: a report costs many events of
    /// few models.
    fn find_entry(
        &self,
        model: &str,
        provider: Option<&str>,
        at_us: i64,
    ) -> Option<(&'a PriceTable, &'a Entry)> {
        let key = (model.to_owned(), provider.map(str::to_owned));
        let mut memo = self.memo.borrow_mut();
        let fresh;
        let matches = match memo.get(&key) {
            Some(m) => m,
            None => {
                let m: Vec<(usize, &'a Entry)> = self
                    .tables
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| t.candidates(model, provider).map(|(_, e)| (i, e)))
                    .collect();
                // Distinct model strings come from events: remember a bounded number.
                if memo.len() < MEMO_MODELS {
                    memo.entry(key).or_insert(m)
                } else {
                    fresh = m;
                    &fresh
                }
            }
        };
        let pick = self.pick(matches.iter().copied(), at_us)?;
        let (i, entry) = matches[pick];
        Some((self.tables[i], entry))
    }

    /// Which of a model's matches, one per table in search order, decides at `at_us` (see [`Pricing::find`]).
    fn pick(&self, matches: impl Iterator<Item = (usize, &'a Entry)>, at_us: i64) -> Option<usize> {
        let history = PriceTable::history();
        let is = |i: usize, t: &PriceTable| std::ptr::eq(self.tables[i], t);
        let matches: Vec<(usize, &Entry)> = matches.collect();
        let in_history = matches.iter().position(|&(i, _)| is(i, history));
        let Some(first) = matches.iter().position(|&(i, _)| !is(i, history)) else {
            return in_history;
        };
        let (i, entry) = matches[first];
        if is(i, PriceTable::builtin())
            && entry.version_at(at_us).is_none()
            && let Some(h) = in_history
            && matches[h].1.version_at(at_us).is_some()
        {
            return Some(h);
        }
        Some(first)
    }
}

/// Custom prices read from an event, per 1M units.
struct Custom {
    input: Decimal,
    output: Decimal,
    cache_read: Option<Decimal>,
    cache_write: Option<Decimal>,
    request: Option<Decimal>,
    web_search: Option<Decimal>,
}

impl Custom {
    /// The event's price for `bucket`. Custom prices have one cache-write price for every TTL, and one output
    /// price for every output modality: that is all the event can say.
    fn price(&self, bucket: Bucket) -> Option<Decimal> {
        match bucket {
            Bucket::UncachedInput => Some(self.input),
            Bucket::CacheRead => self.cache_read,
            Bucket::CacheWrite | Bucket::CacheWrite5m | Bucket::CacheWrite1h => self.cache_write,
            Bucket::Output | Bucket::OutputAudio | Bucket::OutputImage => Some(self.output),
            Bucket::WebSearch => self.web_search,
            Bucket::Request => self.request,
        }
    }
}

/// A non-negative decimal property; `Err(())` when present but not one. `null` counts as absent.
fn decimal_prop(props: &Map<String, Value>, key: &str) -> Result<Option<Decimal>, ()> {
    let text = match props.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(()),
    };
    Decimal::parse(&text).map(Some).map_err(|_| ())
}

/// Reads `keys`, flagging `cost_invalid` once for any present but invalid value and treating it as absent.
fn decimal_props<const N: usize>(
    props: &Map<String, Value>,
    keys: [&str; N],
    flags: &mut Vec<&'static str>,
) -> [Option<Decimal>; N] {
    keys.map(|key| {
        decimal_prop(props, key).unwrap_or_else(|()| {
            if !flags.contains(&"cost_invalid") {
                flags.push("cost_invalid");
            }
            None
        })
    })
}

/// §3 step 1: the total, else input + output (+ request + web search), exactly.
fn supplied_cost(props: &Map<String, Value>, flags: &mut Vec<&'static str>) -> Option<Decimal> {
    let [total, input, output, request, web_search] = decimal_props(
        props,
        [
            TOTAL_COST,
            INPUT_COST,
            OUTPUT_COST,
            REQUEST_COST,
            WEB_SEARCH_COST,
        ],
        flags,
    );
    if total.is_some() {
        return total;
    }
    let mut sum = input?.checked_add(output?)?;
    for extra in [request, web_search].into_iter().flatten() {
        sum = sum.checked_add(extra)?;
    }
    Some(sum)
}

/// §3 step 2: present when both the input and output token prices are.
fn custom_prices(props: &Map<String, Value>, flags: &mut Vec<&'static str>) -> Option<Custom> {
    let keys = [
        INPUT_PRICE,
        OUTPUT_PRICE,
        CACHE_READ_PRICE,
        CACHE_WRITE_PRICE,
        REQUEST_PRICE,
        WEB_SEARCH_PRICE,
    ];
    let [input, output, cache_read, cache_write, request, web_search] =
        decimal_props(props, keys, flags).map(|p| p.map(|d| d.shift(MILLION_EXP)));
    Some(Custom {
        input: input?,
        output: output?,
        cache_read,
        cache_write,
        request,
        web_search,
    })
}

/// `$ai_model_parameters.service_tier`, also when the parameters arrive as a JSON string.
fn service_tier(props: &Map<String, Value>) -> Option<String> {
    let tier = |params: &Map<String, Value>| match params.get("service_tier") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    match props.get("$ai_model_parameters")? {
        Value::Object(params) => tier(params),
        Value::String(s) => match serde_json::from_str::<Value>(s).ok()? {
            Value::Object(params) => tier(&params),
            _ => None,
        },
        _ => None,
    }
}

/// The table price of one bucket: the highest applicable tier that lists it, else the variant, else the version
/// (economics.md §4.2, §9.5). A variant with tiers of its own replaces the version's tiers.
fn table_price(
    version: &Version,
    variant: Option<&Variant>,
    total_input: u64,
    bucket: Bucket,
) -> Option<(Decimal, Option<u64>)> {
    let key = price_key(bucket);
    let tiers = match variant {
        Some(v) if !v.tiers.is_empty() => &v.tiers,
        _ => &version.tiers,
    };
    let tiered = tiers
        .iter()
        .filter(|t| total_input > t.above_input_tokens)
        .filter_map(|t| Some((t.prices.get(key)?, t.above_input_tokens)))
        .max_by_key(|(_, above)| *above);
    if let Some((price, above)) = tiered {
        return Some((price, Some(above)));
    }
    variant
        .and_then(|v| v.prices.get(key))
        .or_else(|| version.prices.get(key))
        .map(|p| (p, None))
}

/// PostHog's cache read factor: 0.1 × input for Anthropic and Claude models, else 0.5 × input.
fn cache_read_factor(is_anthropic: bool) -> u128 {
    if is_anthropic { 1 } else { 5 }
}

/// The opt-in cache prices (economics.md §3): cache read = factor/10 × input, cache write = 1.25 × input.
fn posthog_default(
    bucket: Bucket,
    input: Option<Decimal>,
    cache_read_factor: u128,
) -> Option<Decimal> {
    match bucket {
        Bucket::CacheRead => input?.times(cache_read_factor, 1),
        Bucket::CacheWrite | Bucket::CacheWrite5m => input?.times(125, 2),
        _ => None,
    }
}

/// Prices every bucket with units: a bucket without a price is left unpriced, except `request` (§9.3).
fn price_buckets(
    c: &mut Costing,
    usage: &Usage,
    price: impl Fn(Bucket) -> Option<(Decimal, Option<u64>)>,
) {
    for bucket in Bucket::ALL {
        let units = usage.units(bucket);
        if units == 0 {
            continue;
        }
        match price(bucket) {
            Some((p, tier)) => {
                let nano = p.round_scaled(units, NANO_EXP - MILLION_EXP);
                c.nano = c.nano.saturating_add(nano);
                c.tier = c.tier.max(tier);
                c.buckets.push(BucketCost {
                    bucket,
                    units,
                    price_per_million: p.to_string(),
                    tier,
                    nano,
                });
            }
            None if bucket == Bucket::Request => {}
            None => c.unpriced_units.push((bucket, units)),
        }
    }
    c.partially_priced = !c.unpriced_units.is_empty();
}

/// An unpriced record; its token and search units are listed so unpriced usage can be reported by model.
fn unpriced(mut c: Costing, reason: &'static str, usage: Option<&Usage>) -> Costing {
    c.source = Source::Unpriced;
    c.unpriced_reason = Some(reason);
    c.version = None;
    if let Some(usage) = usage {
        c.unpriced_units = Bucket::ALL
            .iter()
            .filter(|&&b| b != Bucket::Request && usage.units(b) > 0)
            .map(|&b| (b, usage.units(b)))
            .collect();
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::PRICE_KEYS;

    #[test]
    fn the_digest_covers_every_table_and_their_order() {
        let a = PriceTable::parse("a.toml", "schema_version = 1\n").unwrap();
        let b = PriceTable::parse("b.toml", "schema_version = 1 # b\n").unwrap();
        let digests = [
            Pricing::new(vec![]).sha256(),
            Pricing::new(vec![&a]).sha256(),
            Pricing::new(vec![&a, &b]).sha256(),
            Pricing::new(vec![&b, &a]).sha256(),
        ];
        for (i, d) in digests.iter().enumerate() {
            assert_eq!(d.len(), 64);
            assert!(digests[..i].iter().all(|e| e != d), "{i}");
        }
        assert_eq!(Pricing::new(vec![&a]).sha256(), digests[1]);
    }

    #[test]
    fn price_keys_cover_every_bucket() {
        for b in Bucket::ALL {
            assert!(price_key(b) < PRICE_KEYS.len());
        }
    }
}
