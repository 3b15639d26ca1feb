//! The cost of one AI event (economics.md §3), as the report reads it: the `prices` crate costs it in nano-units
//! of its price currency, the report keeps pico-units.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// What one `$ai_generation` or `$ai_embedding` event cost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AiCost {
    /// The cost in pico-units of `currency`; `None` when unpriced.
    pub pico: Option<i128>,
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

/// The price tables given with a report (each TOML or JSON text), searched before the built-in ones.
pub(crate) struct Tables {
    overrides: Vec<prices::PriceTable>,
}

impl Tables {
    /// Loads the tables given with the report.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `prices[i]` when a table does not load.
    pub(crate) fn load(texts: &[String]) -> Result<Tables> {
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

    /// A coster over these tables and the built-in ones.
    pub(crate) fn coster(&self) -> Coster<'_> {
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
pub(crate) struct Coster<'a> {
    pricing: prices::Pricing<'a>,
    tables: Vec<(String, String)>,
}

impl Coster<'_> {
    /// The tables read, in search order: (name, sha256).
    pub(crate) fn tables(&self) -> &[(String, String)] {
        &self.tables
    }

    /// The cost of one AI event from its properties, at its time.
    pub(crate) fn cost(&self, props: &Map<String, Value>, ts_us: i64) -> AiCost {
        let c = self.pricing.cost(props, ts_us, &prices::Options::default());
        let priced = c.source != prices::Source::Unpriced;
        AiCost {
            pico: priced.then(|| c.nano.saturating_mul(1000)),
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
