//! The economics parameters (economics.md §8) and their checks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::money::{Decimal, parse_decimal};
use crate::error::{Error, Result};
use crate::params::{Common, Entity, KindParams, Params, Period};

/// Every parameter of an economics report.
pub type EconomicsParams = Params<Fields>;

/// How processor and store fees count (economics.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FeeTreatment {
    /// A cost of revenue, subtracted in gross profit.
    #[default]
    Cogs,
    /// Subtracted from revenue.
    ContraRevenue,
}

/// Variable costs besides inference, in the report currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OtherCosts {
    /// An amount per active user and age.
    #[serde(default)]
    pub per_active_user: Option<String>,
    /// An amount per event, by event name.
    #[serde(default)]
    pub per_event: std::collections::BTreeMap<String, String>,
}

/// Acquisition spend for the cohort whose period contains `period_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spend {
    /// A date in the cohort's period.
    pub period_start: String,
    /// A decimal string.
    pub amount: String,
    /// Its currency (default the report currency).
    #[serde(default)]
    pub currency: Option<String>,
}

/// A dated exchange rate: one `from` is `rate` `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxRate {
    /// The UTC day from which the rate applies (`YYYY-MM-DD`).
    pub date: String,
    /// ISO 4217 code converted from.
    pub from: String,
    /// ISO 4217 code converted to.
    pub to: String,
    /// A decimal string.
    pub rate: String,
    /// Where the rate comes from.
    #[serde(default)]
    pub source: Option<String>,
}

/// Economics's own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Cohort period.
    #[serde(default = "month")]
    pub period: Period,
    /// Ages per cohort.
    #[serde(default = "twelve")]
    pub total_intervals: u32,
    /// The event whose first occurrence places a person in a cohort.
    #[serde(default)]
    pub target: Entity,
    /// The report currency.
    #[serde(default = "usd")]
    pub currency: String,
    /// How fees count.
    #[serde(default)]
    pub fee_treatment: FeeTreatment,
    /// Other variable costs.
    #[serde(default)]
    pub other_costs: OtherCosts,
    /// Acquisition spend per cohort.
    #[serde(default)]
    pub acquisition_spend: Option<Vec<Spend>>,
    /// One CAC per user for every cohort.
    #[serde(default)]
    pub cac_per_user: Option<String>,
    /// Exchange rates into the report currency.
    #[serde(default)]
    pub fx_rates: Vec<FxRate>,
    /// Price tables (TOML or JSON text) searched before the built-in one.
    #[serde(default)]
    pub prices: Vec<String>,
}

fn month() -> Period {
    Period::Month
}

fn twelve() -> u32 {
    12
}

fn usd() -> String {
    "USD".to_string()
}

impl Default for Fields {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("every field has a default")
    }
}

/// The most ages a cohort row has.
pub const MAX_INTERVALS: u32 = 120;
/// The most exchange rates one report takes.
pub const MAX_RATES: usize = 100_000;

fn decimal(field: &str, text: &str) -> Result<Decimal> {
    let d = parse_decimal(text).ok_or_else(|| {
        Error::invalid(
            field,
            format!("{text:?} is not a decimal number such as \"12.50\""),
        )
    })?;
    if d.negative() {
        return Err(Error::invalid(
            field,
            format!("{text:?} must not be negative"),
        ));
    }
    Ok(d)
}

fn currency(field: &str, code: &str) -> Result<()> {
    if model::currency_exponent(code).is_none() {
        return Err(Error::invalid(
            field,
            format!("{code:?} is not a known ISO 4217 code (uppercase, such as USD or CNY)"),
        ));
    }
    Ok(())
}

impl KindParams for Fields {
    const KIND: &'static str = "economics";
    const COMMON: &'static [&'static str] = &Common::KEYS;

    fn validate(&self, _common: &Common) -> Result<()> {
        if self.total_intervals == 0 || self.total_intervals > MAX_INTERVALS {
            return Err(Error::invalid(
                "total_intervals",
                format!("must be between 1 and {MAX_INTERVALS}"),
            ));
        }
        crate::params::check_filters("target.properties", &self.target.properties)?;
        currency("currency", &self.currency)?;
        if let Some(v) = &self.other_costs.per_active_user {
            decimal("other_costs.per_active_user", v)?;
        }
        for (name, v) in &self.other_costs.per_event {
            decimal(&format!("other_costs.per_event.{name}"), v)?;
        }
        if self.acquisition_spend.is_some() && self.cac_per_user.is_some() {
            return Err(Error::invalid(
                "cac_per_user",
                "give either acquisition_spend or cac_per_user, not both",
            ));
        }
        if let Some(v) = &self.cac_per_user {
            decimal("cac_per_user", v)?;
        }
        for (i, s) in self.acquisition_spend.iter().flatten().enumerate() {
            decimal(&format!("acquisition_spend[{i}].amount"), &s.amount)?;
            if let Some(c) = &s.currency {
                currency(&format!("acquisition_spend[{i}].currency"), c)?;
            }
        }
        if self.fx_rates.len() > MAX_RATES {
            return Err(Error::invalid(
                "fx_rates",
                format!("at most {MAX_RATES} rates"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, r) in self.fx_rates.iter().enumerate() {
            let field = format!("fx_rates[{i}]");
            currency(&format!("{field}.from"), &r.from)?;
            currency(&format!("{field}.to"), &r.to)?;
            let d = decimal(&format!("{field}.rate"), &r.rate)?;
            if d.is_zero() {
                return Err(Error::invalid(&format!("{field}.rate"), "must be above 0"));
            }
            if jiff::civil::Date::strptime("%Y-%m-%d", &r.date).is_err() {
                return Err(Error::invalid(
                    &format!("{field}.date"),
                    "expected YYYY-MM-DD",
                ));
            }
            if !seen.insert((r.date.clone(), r.from.clone(), r.to.clone())) {
                return Err(Error::invalid(
                    &field,
                    format!("a second rate for {} → {} on {}", r.from, r.to, r.date),
                ));
            }
        }
        if self.prices.len() > 20 || self.prices.iter().map(String::len).sum::<usize>() > 16 << 20 {
            return Err(Error::invalid(
                "prices",
                "at most 20 tables and 16 MiB of text",
            ));
        }
        Ok(())
    }
}
