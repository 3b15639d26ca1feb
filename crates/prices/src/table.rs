//! One price file (economics.md §4.2): parsed from TOML or JSON into validated entries, with the matching of
//! §4.3 steps 3–4. The loader refuses the whole file on the first problem and names file, model and field.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use regex::{Regex, RegexSet};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::decimal::{Decimal, DecimalError};
use crate::error::{Error, Problem};
use crate::usage::Bucket;
use crate::{currency, time};

/// One parsed, validated price file.
#[derive(Debug)]
pub struct PriceTable {
    name: String,
    sha256: String,
    pub(crate) entries: Vec<Entry>,
    /// Lower-cased ids and aliases to entry positions; unique by validation.
    by_name: HashMap<String, usize>,
    /// Every `match` regex in one automaton, so stage 3 is one pass over the model string however many entries
    /// have a regex; `None` when the set exceeds the regex size limit, and each regex is tried in turn instead.
    regexes: Option<RegexSet>,
    /// The entry position of each pattern in `regexes`.
    regex_entries: Vec<usize>,
}

/// How a model string reached an entry (economics.md §4.3 step 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stage {
    /// Stage 1: the model string equals an id or alias.
    Exact,
    /// Stage 2: the part after the last `/` equals an id or alias.
    Suffix,
    /// Stage 2: `provider/model` equals an id or alias.
    ProviderPrefixed,
    /// Stage 3: a `match` regex accepts the whole model string.
    Regex,
}

/// An entry that a model string matched, in the order the matching ranks them.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Candidate {
    pub id: String,
    pub provider: String,
    pub priority: i64,
    pub stage: Stage,
    /// The id or alias that matched, or the regex as written.
    pub matched: String,
}

/// The keys that price buckets (economics.md §4.2), in file order.
pub(crate) const PRICE_KEYS: [&str; 9] = [
    "uncached_input",
    "cache_read",
    "cache_write",
    "cache_write_1h",
    "output",
    "output_audio",
    "output_image",
    "request",
    "web_search",
];

/// Prices per 1M units, indexed like [`PRICE_KEYS`].
#[derive(Clone, Default, Debug)]
pub(crate) struct Prices(pub(crate) [Option<Decimal>; PRICE_KEYS.len()]);

#[derive(Debug)]
pub(crate) struct Tier {
    pub(crate) above_input_tokens: u64,
    pub(crate) prices: Prices,
}

#[derive(Debug)]
pub(crate) struct Variant {
    pub(crate) service_tiers: Vec<String>,
    pub(crate) prices: Prices,
    pub(crate) tiers: Vec<Tier>,
}

#[derive(Debug)]
pub(crate) struct Version {
    pub(crate) effective_from: String,
    pub(crate) from_us: i64,
    pub(crate) prices: Prices,
    pub(crate) tiers: Vec<Tier>,
    pub(crate) variants: Vec<Variant>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) provider: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) pattern: Option<(String, Regex)>,
    pub(crate) priority: i64,
    pub(crate) currency: String,
    pub(crate) source: String,
    pub(crate) checked: String,
    pub(crate) versions: Vec<Version>,
}

impl PriceTable {
    /// Parses and validates a price file: TOML, or JSON of the same structure when the text starts with `{`.
    ///
    /// # Errors
    /// The text does not parse, or breaks a rule of economics.md §4.2/§4.6; the error names `name`, the model and
    /// the field.
    pub fn parse(name: &str, text: &str) -> Result<PriceTable, Error> {
        let syntax = |message: String| Error::Syntax {
            file: name.to_string(),
            message,
        };
        let root = if text.trim_start().starts_with('{') {
            let value: Value = serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?;
            Node::from_json(value)
        } else {
            let table: toml::Table = toml::from_str(text).map_err(|e| syntax(e.to_string()))?;
            Node::from_toml(toml::Value::Table(table))
        };
        let entries = load(name, root)?;
        let mut by_name = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            for n in std::iter::once(&entry.id).chain(&entry.aliases) {
                by_name.insert(n.to_lowercase(), i);
            }
        }
        let regex_entries: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].pattern.is_some())
            .collect();
        let regexes = RegexSet::new(regex_entries.iter().filter_map(|&i| {
            let (_, regex) = entries[i].pattern.as_ref()?;
            Some(regex.as_str())
        }))
        .ok();
        let sha256 = hex(&Sha256::digest(text.as_bytes()));
        Ok(PriceTable {
            name: name.to_string(),
            sha256,
            entries,
            by_name,
            regexes,
            regex_entries,
        })
    }

    /// The default table built into liucun (`data/default.toml`).
    pub fn builtin() -> &'static PriceTable {
        static BUILTIN: OnceLock<PriceTable> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            PriceTable::parse("default.toml", include_str!("../data/default.toml"))
                .expect("the shipped price table is checked by a test")
        })
    }

    /// The price history built into liucun (`data/history.toml`), searched after [`PriceTable::builtin`] for events
    /// that table has no price version for.
    pub fn history() -> &'static PriceTable {
        static HISTORY: OnceLock<PriceTable> = OnceLock::new();
        HISTORY.get_or_init(|| {
            PriceTable::parse("history.toml", include_str!("../data/history.toml"))
                .expect("the shipped price table is checked by a test")
        })
    }

    /// The name the table was parsed under (usually its file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hex SHA-256 of the file text: the table's identity in costing records and report provenance.
    pub fn sha256(&self) -> String {
        self.sha256.clone()
    }

    /// The number of model entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no model entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries the first matching stage yields for model `m` and lowercase provider `p`, best first;
    /// `None` when no stage matches.
    pub(crate) fn candidates(&self, m: &str, p: Option<&str>) -> Option<(Vec<Candidate>, &Entry)> {
        let mut found: Vec<(usize, Stage, String)> = Vec::new();
        let by_name = |name: &str, stage: Stage, found: &mut Vec<(usize, Stage, String)>| {
            if let Some(&i) = self.by_name.get(&name.to_lowercase())
                && !found.iter().any(|(j, ..)| *j == i)
            {
                let e = &self.entries[i];
                let matched = std::iter::once(&e.id)
                    .chain(&e.aliases)
                    .find(|n| n.to_lowercase() == name.to_lowercase())
                    .cloned()
                    .unwrap_or_default();
                found.push((i, stage, matched));
            }
        };
        by_name(m, Stage::Exact, &mut found);
        if found.is_empty() {
            if let Some((_, suffix)) = m.rsplit_once('/') {
                by_name(suffix, Stage::Suffix, &mut found);
            }
            if let Some(p) = p {
                by_name(&format!("{p}/{m}"), Stage::ProviderPrefixed, &mut found);
            }
        }
        if found.is_empty() {
            let matching: Vec<usize> = match &self.regexes {
                Some(set) => set
                    .matches(m)
                    .iter()
                    .map(|k| self.regex_entries[k])
                    .collect(),
                None => (self.regex_entries.iter().copied())
                    .filter(|&i| {
                        self.entries[i]
                            .pattern
                            .as_ref()
                            .is_some_and(|(_, r)| r.is_match(m))
                    })
                    .collect(),
            };
            for i in matching {
                if let Some((pattern, _)) = &self.entries[i].pattern {
                    found.push((i, Stage::Regex, pattern.clone()));
                }
            }
        }
        found.sort_by(|(a, ..), (b, ..)| {
            let (a, b) = (&self.entries[*a], &self.entries[*b]);
            let rank = |e: &Entry| (Some(e.provider.as_str()) != p, -i128::from(e.priority));
            rank(a)
                .cmp(&rank(b))
                .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
        });
        let best = &self.entries[found.first()?.0];
        let candidates = found
            .into_iter()
            .map(|(i, stage, matched)| {
                let e = &self.entries[i];
                Candidate {
                    id: e.id.clone(),
                    provider: e.provider.clone(),
                    priority: e.priority,
                    stage,
                    matched,
                }
            })
            .collect();
        Some((candidates, best))
    }
}

impl Stage {
    /// The stage's number in economics.md §4.3 step 3.
    pub fn number(self) -> u8 {
        match self {
            Stage::Exact => 1,
            Stage::Suffix | Stage::ProviderPrefixed => 2,
            Stage::Regex => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Exact => "id_or_alias",
            Stage::Suffix => "suffix_after_slash",
            Stage::ProviderPrefixed => "provider_slash_model",
            Stage::Regex => "regex",
        }
    }
}

impl Entry {
    /// The version with the latest `effective_from` at or before `at_us`.
    pub(crate) fn version_at(&self, at_us: i64) -> Option<&Version> {
        self.versions.iter().rev().find(|v| v.from_us <= at_us)
    }
}

impl Prices {
    pub(crate) fn get(&self, key: usize) -> Option<Decimal> {
        self.0[key]
    }

    /// The `(key, price)` pairs that are set, in file order.
    pub(crate) fn listed(&self) -> Vec<(&'static str, String)> {
        PRICE_KEYS
            .iter()
            .zip(&self.0)
            .filter_map(|(k, p)| Some((*k, p.as_ref()?.to_string())))
            .collect()
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
    }
    out
}

/// The price key that prices `bucket` (economics.md §4.2).
pub(crate) fn price_key(bucket: Bucket) -> usize {
    let key = match bucket {
        Bucket::UncachedInput => "uncached_input",
        Bucket::CacheRead => "cache_read",
        Bucket::CacheWrite | Bucket::CacheWrite5m => "cache_write",
        Bucket::CacheWrite1h => "cache_write_1h",
        Bucket::Output => "output",
        Bucket::OutputAudio => "output_audio",
        Bucket::OutputImage => "output_image",
        Bucket::Request => "request",
        Bucket::WebSearch => "web_search",
    };
    PRICE_KEYS
        .iter()
        .position(|k| *k == key)
        .expect("every bucket has a price key")
}

/// A parsed file as a tree that keeps what validation needs to know: exact number text, and TOML floats and
/// dates apart from strings.
enum Node {
    Null,
    Bool,
    /// Integer or JSON number text, exactly as written.
    Number(String),
    /// A TOML float, which has already lost its decimal text.
    Float,
    Str(String),
    /// A TOML date or date-time, as RFC 3339 text.
    Date(String),
    Array(Vec<Node>),
    Table(Vec<(String, Node)>),
}

impl Node {
    fn from_toml(v: toml::Value) -> Node {
        match v {
            toml::Value::String(s) => Node::Str(s),
            toml::Value::Integer(i) => Node::Number(i.to_string()),
            toml::Value::Float(_) => Node::Float,
            toml::Value::Boolean(_) => Node::Bool,
            toml::Value::Datetime(d) => Node::Date(d.to_string()),
            toml::Value::Array(a) => Node::Array(a.into_iter().map(Node::from_toml).collect()),
            toml::Value::Table(t) => Node::Table(
                t.into_iter()
                    .map(|(k, v)| (k, Node::from_toml(v)))
                    .collect(),
            ),
        }
    }

    fn from_json(v: Value) -> Node {
        match v {
            Value::Null => Node::Null,
            Value::Bool(_) => Node::Bool,
            Value::Number(n) => Node::Number(n.to_string()),
            Value::String(s) => Node::Str(s),
            Value::Array(a) => Node::Array(a.into_iter().map(Node::from_json).collect()),
            Value::Object(o) => Node::Table(
                o.into_iter()
                    .map(|(k, v)| (k, Node::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// Where the loader is, for naming it in an error.
struct Ctx<'a> {
    file: &'a str,
    model: Option<String>,
}

impl Ctx<'_> {
    fn err(&self, field: &str, problem: Problem) -> Error {
        Error::Invalid {
            file: self.file.to_string(),
            model: self.model.clone(),
            field: field.to_string(),
            problem,
        }
    }

    /// The table's fields, refusing any key outside `allowed`.
    fn table(&self, node: Node, field: &str, allowed: &[&str]) -> Result<Fields, Error> {
        let Node::Table(pairs) = node else {
            return Err(self.err(
                field,
                Problem::WrongType {
                    expected: "a table",
                },
            ));
        };
        let prefix = if field.is_empty() {
            String::new()
        } else {
            format!("{field}.")
        };
        if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(self.err(&format!("{prefix}{key}"), Problem::UnknownKey));
        }
        Ok(Fields { pairs, prefix })
    }

    fn string(&self, node: Node, field: &str) -> Result<String, Error> {
        match node {
            Node::Str(s) if !s.trim().is_empty() => Ok(s),
            Node::Str(_) => Err(self.err(field, Problem::Missing)),
            _ => Err(self.err(
                field,
                Problem::WrongType {
                    expected: "a string",
                },
            )),
        }
    }

    fn integer(&self, node: Node, field: &str) -> Result<i64, Error> {
        match node {
            Node::Number(text) => text.parse().map_err(|_| {
                self.err(
                    field,
                    Problem::WrongType {
                        expected: "an integer",
                    },
                )
            }),
            _ => Err(self.err(
                field,
                Problem::WrongType {
                    expected: "an integer",
                },
            )),
        }
    }

    fn array(&self, node: Node, field: &str) -> Result<Vec<Node>, Error> {
        match node {
            Node::Array(items) => Ok(items),
            _ => Err(self.err(
                field,
                Problem::WrongType {
                    expected: "an array",
                },
            )),
        }
    }

    /// A date or RFC 3339 instant, as text and microseconds.
    fn instant(&self, node: Node, field: &str) -> Result<(String, i64), Error> {
        let text = match node {
            Node::Str(s) | Node::Date(s) => s,
            _ => return Err(self.err(field, Problem::WrongType { expected: "a date" })),
        };
        match time::parse_instant(&text) {
            Some(us) => Ok((text, us)),
            None => Err(self.err(field, Problem::MalformedDate { text })),
        }
    }

    fn decimal(&self, node: Node, field: &str) -> Result<Decimal, Error> {
        let text = match node {
            Node::Str(s) | Node::Number(s) => s,
            Node::Float => {
                return Err(self.err(
                    field,
                    Problem::WrongType {
                        expected: "a decimal string (a TOML float is inexact)",
                    },
                ));
            }
            _ => {
                return Err(self.err(
                    field,
                    Problem::WrongType {
                        expected: "a decimal string",
                    },
                ));
            }
        };
        Decimal::parse(&text).map_err(|e| match e {
            DecimalError::Malformed => self.err(field, Problem::MalformedDecimal { text }),
            DecimalError::Negative => self.err(field, Problem::NegativeDecimal { text }),
        })
    }

    /// The bucket prices of a version, tier or variant.
    fn prices(&self, fields: &mut Fields) -> Result<Prices, Error> {
        let mut prices = Prices::default();
        for (i, key) in PRICE_KEYS.iter().enumerate() {
            if let Some(node) = fields.take(key) {
                prices.0[i] = Some(self.decimal(node, &fields.path(key))?);
            }
        }
        Ok(prices)
    }

    fn tiers(&self, fields: &mut Fields) -> Result<Vec<Tier>, Error> {
        let Some(node) = fields.take("tier") else {
            return Ok(Vec::new());
        };
        let path = fields.path("tier");
        let mut tiers: Vec<Tier> = Vec::new();
        for (i, item) in self.array(node, &path)?.into_iter().enumerate() {
            let at = format!("{path}[{i}]");
            let allowed: Vec<&str> = PRICE_KEYS
                .iter()
                .copied()
                .chain(["above_input_tokens"])
                .collect();
            let mut f = self.table(item, &at, &allowed)?;
            let field = f.path("above_input_tokens");
            let node = f
                .take("above_input_tokens")
                .ok_or_else(|| self.err(&field, Problem::Missing))?;
            let above = u64::try_from(self.integer(node, &field)?).map_err(|_| {
                self.err(
                    &field,
                    Problem::WrongType {
                        expected: "a non-negative integer",
                    },
                )
            })?;
            if tiers.iter().any(|t| t.above_input_tokens == above) {
                return Err(self.err(
                    &field,
                    Problem::Duplicate {
                        value: above.to_string(),
                    },
                ));
            }
            tiers.push(Tier {
                above_input_tokens: above,
                prices: self.prices(&mut f)?,
            });
        }
        Ok(tiers)
    }

    fn variants(&self, fields: &mut Fields) -> Result<Vec<Variant>, Error> {
        let Some(node) = fields.take("variant") else {
            return Ok(Vec::new());
        };
        let path = fields.path("variant");
        let mut variants: Vec<Variant> = Vec::new();
        for (i, item) in self.array(node, &path)?.into_iter().enumerate() {
            let at = format!("{path}[{i}]");
            let allowed: Vec<&str> = PRICE_KEYS
                .iter()
                .copied()
                .chain(["service_tier", "tier"])
                .collect();
            let mut f = self.table(item, &at, &allowed)?;
            let field = f.path("service_tier");
            let node = f
                .take("service_tier")
                .ok_or_else(|| self.err(&field, Problem::Missing))?;
            let mut service_tiers = Vec::new();
            for (j, name) in self.array(node, &field)?.into_iter().enumerate() {
                let name = self.string(name, &format!("{field}[{j}]"))?;
                let mut taken = variants
                    .iter()
                    .flat_map(|v| &v.service_tiers)
                    .chain(&service_tiers);
                if taken.any(|t| t.eq_ignore_ascii_case(&name)) {
                    return Err(self.err(&field, Problem::Duplicate { value: name }));
                }
                service_tiers.push(name);
            }
            if service_tiers.is_empty() {
                return Err(self.err(&field, Problem::Missing));
            }
            variants.push(Variant {
                service_tiers,
                prices: self.prices(&mut f)?,
                tiers: self.tiers(&mut f)?,
            });
        }
        Ok(variants)
    }
}

/// The pairs of one table, taken out one key at a time.
struct Fields {
    pairs: Vec<(String, Node)>,
    prefix: String,
}

impl Fields {
    fn take(&mut self, key: &str) -> Option<Node> {
        let i = self.pairs.iter().position(|(k, _)| k == key)?;
        Some(self.pairs.swap_remove(i).1)
    }

    fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

const MODEL_KEYS: &[&str] = &[
    "id", "provider", "aliases", "match", "priority", "currency", "source", "checked", "notes",
    "price",
];

fn load(file: &str, root: Node) -> Result<Vec<Entry>, Error> {
    let mut ctx = Ctx { file, model: None };
    let mut top = ctx.table(root, "", &["schema_version", "model"])?;
    match top.take("schema_version") {
        None => return Err(ctx.err("schema_version", Problem::Missing)),
        Some(Node::Number(v)) if v == "1" => {}
        Some(_) => return Err(ctx.err("schema_version", Problem::UnsupportedSchema)),
    }
    let models = match top.take("model") {
        Some(node) => ctx.array(node, "model")?,
        None => Vec::new(),
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(models.len());
    // Lower-cased ids and aliases to the position of the entry that owns them.
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, node) in models.into_iter().enumerate() {
        // Name the model by its id as soon as it has one, so every later error points at it.
        let id = match &node {
            Node::Table(pairs) => pairs.iter().find_map(|(k, v)| match (k.as_str(), v) {
                ("id", Node::Str(s)) if !s.trim().is_empty() => Some(s.clone()),
                _ => None,
            }),
            _ => None,
        };
        ctx.model = Some(id.unwrap_or_else(|| format!("model[{i}]")));
        let entry = load_entry(&ctx, node)?;
        let own =
            std::iter::once(("id", &entry.id)).chain(entry.aliases.iter().map(|a| ("aliases", a)));
        for (field, name) in own {
            let key = name.to_lowercase();
            match names.get(&key) {
                None => {
                    names.insert(key, i);
                }
                Some(&j) if j == i => {}
                Some(&j) if field == "id" && entries[j].id.to_lowercase() == key => {
                    return Err(ctx.err("id", Problem::DuplicateId));
                }
                Some(&j) => {
                    let (name, other) = (name.clone(), entries[j].id.clone());
                    return Err(ctx.err(field, Problem::SharedName { name, other }));
                }
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn load_entry(ctx: &Ctx<'_>, node: Node) -> Result<Entry, Error> {
    let mut f = ctx.table(node, "", MODEL_KEYS)?;
    let mut required = |key: &str| f.take(key).ok_or_else(|| ctx.err(key, Problem::Missing));
    let id = ctx.string(required("id")?, "id")?;
    let provider = ctx.string(required("provider")?, "provider")?;
    let currency = ctx.string(required("currency")?, "currency")?;
    let source = ctx.string(required("source")?, "source")?;
    let (checked, _) = ctx.instant(required("checked")?, "checked")?;
    let price = required("price")?;
    if provider != provider.to_lowercase() {
        return Err(ctx.err("provider", Problem::NotLowercase));
    }
    if !currency::is_known(&currency) {
        return Err(ctx.err("currency", Problem::UnknownCurrency { code: currency }));
    }
    let mut aliases = Vec::new();
    if let Some(node) = f.take("aliases") {
        for (i, alias) in ctx.array(node, "aliases")?.into_iter().enumerate() {
            aliases.push(ctx.string(alias, &format!("aliases[{i}]"))?);
        }
    }
    let pattern = match f.take("match") {
        None => None,
        Some(node) => {
            let text = ctx.string(node, "match")?;
            let regex = Regex::new(&format!("^(?:{text})$")).map_err(|e| {
                ctx.err(
                    "match",
                    Problem::BadRegex {
                        message: e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    },
                )
            })?;
            Some((text, regex))
        }
    };
    let priority = match f.take("priority") {
        None => 0,
        Some(node) => ctx.integer(node, "priority")?,
    };
    if let Some(node) = f.take("notes") {
        ctx.string(node, "notes")?;
    }
    let mut versions: Vec<Version> = Vec::new();
    let items = ctx.array(price, "price")?;
    if items.is_empty() {
        return Err(ctx.err("price", Problem::Missing));
    }
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("price[{i}]");
        let allowed: Vec<&str> = PRICE_KEYS
            .iter()
            .copied()
            .chain(["effective_from", "tier", "variant"])
            .collect();
        let mut vf = ctx.table(item, &at, &allowed)?;
        let field = vf.path("effective_from");
        let node = vf
            .take("effective_from")
            .ok_or_else(|| ctx.err(&field, Problem::Missing))?;
        let (effective_from, from_us) = ctx.instant(node, &field)?;
        if let Some(prev) = versions.last()
            && prev.from_us >= from_us
        {
            return Err(ctx.err(
                &field,
                Problem::NotIncreasing {
                    previous: prev.effective_from.clone(),
                },
            ));
        }
        versions.push(Version {
            effective_from,
            from_us,
            prices: ctx.prices(&mut vf)?,
            tiers: ctx.tiers(&mut vf)?,
            variants: ctx.variants(&mut vf)?,
        });
    }
    Ok(Entry {
        id,
        provider,
        aliases,
        pattern,
        priority,
        currency,
        source,
        checked,
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regex_set_and_one_regex_at_a_time_agree() {
        let mut text = String::from("schema_version = 1\n");
        for (id, pattern, priority) in [
            ("a/x", r"x-\d+", 0),
            ("b/x", r"(?i)X-\d+|x-beta", 2),
            ("c/y", r"y(-mini)?", 0),
            ("d/x", r"x-1\d", 1),
        ] {
            let provider = &id[..1];
            text += &format!(
                "[[model]]\nid = \"{id}\"\nprovider = \"{provider}\"\nmatch = '{pattern}'\npriority = {priority}\n\
                 currency = \"USD\"\nsource = \"s\"\nchecked = 2025-01-01\n\
                 [[model.price]]\neffective_from = 2025-01-01\noutput = \"1\"\n"
            );
        }
        let set = PriceTable::parse("t.toml", &text).unwrap();
        let mut one_by_one = PriceTable::parse("t.toml", &text).unwrap();
        assert!(set.regexes.is_some());
        one_by_one.regexes = None;
        for m in [
            "x-1", "x-12", "X-12", "x-beta", "y", "y-mini", "y-max", "x-", "zz", "",
        ] {
            for p in [None, Some("a"), Some("b"), Some("d")] {
                let ids = |t: &PriceTable| t.candidates(m, p).map(|(c, _)| c);
                assert_eq!(ids(&set), ids(&one_by_one), "{m:?} {p:?}");
            }
        }
        let (candidates, _) = set.candidates("x-12", None).unwrap();
        let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["b/x", "d/x", "a/x"]);
    }
}
