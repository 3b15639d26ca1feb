//! The cost of one AI event (economics.md §3), as the report reads it: the `prices` crate costs it in nano-units
//! of its price currency, the report keeps pico-units.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// What one `$ai_generation` or `$ai_embedding` event cost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AiCost {
    /// The cost in nano-units of `currency` (0 when unpriced).
    pub nano: i128,
    /// The price currency.
    pub currency: String,
    /// `provided`, `provided_posthog`, `custom`, `table` or `unpriced`.
    pub source: &'static str,
    /// The model string of the event.
    pub model: Option<String>,
    /// The matched table entry and price version (`id@effective_from`).
    pub version: Option<String>,
    /// Why the event is unpriced.
    pub reason: Option<&'static str>,
    /// Some bucket had units but no price.
    pub partial: bool,
}

/// The version of the costing rules, part of [`Tables::digest`]: changed whenever the same tables would cost an
/// event differently. The test `costing_source_is_pinned_to_the_rules_version` fails when the costing code changes
/// and this has not.
const RULES: &str = "liucun costing 1";

/// The price tables given with a report (each TOML or JSON text), searched before the built-in ones.
#[derive(Debug)]
pub struct Tables {
    overrides: Vec<prices::PriceTable>,
}

impl Tables {
    /// Loads the tables given with the report.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `prices[i]` when a table does not load.
    pub fn load(texts: &[String]) -> Result<Tables> {
        let overrides = texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                prices::PriceTable::parse(&format!("prices[{i}]"), text)
                    .map_err(|e| Error::invalid(&format!("prices[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tables { overrides })
    }

    /// The digest of costing with these tables: the price tables in search order, the costing options and the
    /// rules' version, so costs derived and cached under one digest are valid exactly while it holds.
    pub fn digest(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let mut h = Sha256::new();
        h.update(RULES.as_bytes());
        h.update(b"\n");
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(b"\n");
        h.update(self.coster().pricing.sha256().as_bytes());
        h.update(b"\n");
        h.update(format!("{:?}", prices::Options::default()).as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The costs of a run of events, one entry per event: `None` for an event that is not an AI event, else its
    /// time (UTC µs) and its properties (at least every `$ai_` key).
    pub fn cost_events<'m>(
        &self,
        events: impl IntoIterator<Item = Option<(i64, &'m Map<String, Value>)>>,
    ) -> model::RowCosts {
        let coster = self.coster();
        let mut out = model::RowCosts::default();
        let mut ids: std::collections::HashMap<model::CostKey, u32> =
            std::collections::HashMap::new();
        for e in events {
            let Some((ts, props)) = e else {
                out.key.push(model::RowCosts::NONE);
                out.nano.push(0);
                continue;
            };
            let c = coster.cost(props, ts);
            let key = model::CostKey {
                source: c.source.to_string(),
                currency: c.currency,
                model: c.model,
                version: c.version,
                reason: c.reason.map(str::to_string),
                partial: c.partial,
            };
            let next = out.keys.len() as u32;
            let id = *ids.entry(key).or_insert_with_key(|k| {
                out.keys.push(k.clone());
                next
            });
            out.key.push(id);
            out.nano.push(c.nano);
        }
        out
    }

    /// A coster over these tables and the built-in ones.
    pub fn coster(&self) -> Coster<'_> {
        let pricing = prices::Pricing::new(self.overrides.iter().collect());
        let tables = pricing
            .tables()
            .iter()
            .map(|t| (t.name().to_string(), t.sha256()))
            .collect();
        Coster { pricing, tables }
    }
}

/// Costs AI events with the price tables of a report: the ones given with it, then the built-in ones. It remembers
/// each model's match, so one coster serves a whole report.
pub struct Coster<'a> {
    pricing: prices::Pricing<'a>,
    tables: Vec<(String, String)>,
}

impl std::fmt::Debug for Coster<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coster")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

impl Coster<'_> {
    /// The tables read, in search order: (name, sha256).
    pub(crate) fn tables(&self) -> &[(String, String)] {
        &self.tables
    }

    /// The costing record of one AI event (economics.md §3) from its properties, at its time, as
    /// `liucun cost export` writes it: amounts as decimals of `currency`.
    pub fn record(&self, props: &Map<String, Value>, ts_us: i64) -> Value {
        let c = self.pricing.cost(props, ts_us, &prices::Options::default());
        let amount = |nano: i128| super::money::format_pico(nano.saturating_mul(1000), 9);
        serde_json::json!({
            "source": c.source.as_str(),
            "currency": c.currency,
            "cost": (c.source != prices::Source::Unpriced).then(|| amount(c.nano)),
            "model": c.model,
            "table": c.table,
            "model_id": c.model_id,
            "price_version": c.version,
            "variant": c.variant,
            "tier": c.tier,
            "buckets": c.buckets.iter().map(|b| serde_json::json!({
                "bucket": b.bucket.as_str(),
                "units": b.units,
                "price_per_million": b.price_per_million,
                "tier": b.tier,
                "cost": amount(b.nano),
            })).collect::<Vec<_>>(),
            "partially_priced": c.partially_priced,
            "unpriced_reason": c.unpriced_reason,
            "unpriced_units": c.unpriced_units.iter().map(|(b, u)| serde_json::json!({
                "bucket": b.as_str(),
                "units": u,
            })).collect::<Vec<_>>(),
            "flags": c.flags,
        })
    }

    /// The cost of one AI event from its properties, at its time.
    pub(crate) fn cost(&self, props: &Map<String, Value>, ts_us: i64) -> AiCost {
        let c = self.pricing.cost(props, ts_us, &prices::Options::default());
        AiCost {
            nano: c.nano,
            currency: c.currency,
            source: c.source.as_str(),
            model: c.model,
            version: match (c.model_id, c.version) {
                (Some(id), Some(v)) => Some(format!("{id}@{v}")),
                _ => None,
            },
            reason: c.unpriced_reason,
            partial: c.partially_priced,
        }
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest as _, Sha256};

    /// The costing code whose behaviour [`super::RULES`] versions, and the digest of its text when `RULES` was last
    /// set. Cached costing records are keyed by `RULES`: when this code changes, bump `RULES` (so costs cached by
    /// older builds are derived again) and update the digest here.
    const PINNED: (&str, &str) = (
        "liucun costing 1",
        "0f3c70f99d77ec1b60ae745ece82fffd812c9ff46a4826a86edf739486f7c43f",
    );

    #[test]
    fn costing_source_is_pinned_to_the_rules_version() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut h = Sha256::new();
        for file in [
            "prices/src/pricing.rs",
            "prices/src/usage.rs",
            "prices/src/decimal.rs",
            "prices/src/table.rs",
            "prices/src/time.rs",
            "prices/src/currency.rs",
            "report/src/economics/cost.rs",
        ] {
            let text = std::fs::read_to_string(format!("{root}/{file}")).expect("costing source");
            // This test's own constants are not part of the costing.
            let text = match text.find("#[cfg(test)]\nmod tests {") {
                Some(at) if file.ends_with("cost.rs") => &text[..at],
                _ => &text[..],
            };
            h.update(file.as_bytes());
            h.update(text.as_bytes());
        }
        let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            (super::RULES, digest.as_str()),
            PINNED,
            "the costing code changed: bump RULES in economics/cost.rs and set PINNED to the new pair"
        );
    }
}
