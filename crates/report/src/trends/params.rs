//! Trends' own parameters (activity.md §1.1, §1.4): the interval and the series, each an entity with its math.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::numeric::Aggregate;
use crate::params::{Common, Entity, KindParams, Params, Period, check_filters};

/// Every parameter of a trends report.
pub type TrendsParams = Params<Fields>;

/// The most series one trends report draws.
pub const MAX_SERIES: usize = 20;

/// Trends' own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Period length.
    #[serde(default)]
    pub interval: Period,
    /// The series, each with its own output.
    #[serde(default = "default_series")]
    pub series: Vec<Series>,
}

fn default_series() -> Vec<Series> {
    vec![Series::default()]
}

/// One series: which events, and what is computed over them per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// Which events count.
    #[serde(default)]
    pub entity: Entity,
    /// What is computed.
    #[serde(default)]
    pub math: Math,
    /// The numeric event property of a property math.
    #[serde(default)]
    pub math_property: Option<String>,
}

/// What a series computes per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Math {
    /// Matching events.
    Total,
    /// Distinct persons with a matching event in the period.
    #[default]
    UniquePersons,
    /// Distinct persons in the day.
    Dau,
    /// Distinct persons in the 7 days up to the day.
    Wau,
    /// Distinct persons in the 30 days up to the day.
    Mau,
    /// DAU ÷ MAU.
    DauMau,
    /// Σ of a numeric property, exact.
    Sum,
    /// Mean of a numeric property.
    Avg,
    /// Smallest value of a numeric property.
    Min,
    /// Largest value of a numeric property.
    Max,
    /// Median of a numeric property.
    Median,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

impl Math {
    /// The aggregate of a property math; `None` for the maths that count.
    pub fn aggregate(self) -> Option<Aggregate> {
        Some(match self {
            Math::Sum => Aggregate::Sum,
            Math::Avg => Aggregate::Avg,
            Math::Min => Aggregate::Min,
            Math::Max => Aggregate::Max,
            Math::Median => Aggregate::Quantile(50),
            Math::P90 => Aggregate::Quantile(90),
            Math::P95 => Aggregate::Quantile(95),
            Math::P99 => Aggregate::Quantile(99),
            _ => return None,
        })
    }

    /// The rolling window in days of `dau`, `wau`, `mau` (and `dau_mau`'s longer one).
    pub fn window_days(self) -> Option<u32> {
        match self {
            Math::Dau => Some(1),
            Math::Wau => Some(7),
            Math::Mau | Math::DauMau => Some(30),
            _ => None,
        }
    }

    /// The math as written in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Math::Total => "total",
            Math::UniquePersons => "unique_persons",
            Math::Dau => "dau",
            Math::Wau => "wau",
            Math::Mau => "mau",
            Math::DauMau => "dau_mau",
            Math::Sum => "sum",
            Math::Avg => "avg",
            Math::Min => "min",
            Math::Max => "max",
            Math::Median => "median",
            Math::P90 => "p90",
            Math::P95 => "p95",
            Math::P99 => "p99",
        }
    }

    /// The math in a series label (§1.3).
    pub fn label(self) -> &'static str {
        match self {
            Math::Total => "events",
            Math::UniquePersons => "unique persons",
            Math::Dau => "DAU",
            Math::Wau => "WAU",
            Math::Mau => "MAU",
            Math::DauMau => "DAU/MAU",
            other => other.name(),
        }
    }
}

impl KindParams for Fields {
    const KIND: &'static str = "trends";
    const COMMON: &'static [&'static str] = &Common::KEYS;

    fn validate(&self, _common: &Common) -> Result<()> {
        if self.series.is_empty() || self.series.len() > MAX_SERIES {
            return Err(Error::invalid(
                "series",
                format!("give 1 to {MAX_SERIES} series"),
            ));
        }
        for (i, s) in self.series.iter().enumerate() {
            let field = |f: &str| format!("series[{i}].{f}");
            check_filters(&field("entity.properties"), &s.entity.properties)?;
            match (s.math.aggregate(), &s.math_property) {
                (Some(_), None) => {
                    return Err(Error::invalid(
                        &field("math_property"),
                        format!("math {:?} needs a math_property", s.math.name()),
                    ));
                }
                (Some(_), Some(k)) if k.is_empty() => {
                    return Err(Error::invalid(&field("math_property"), "must not be empty"));
                }
                (None, Some(_)) => {
                    return Err(Error::invalid(
                        &field("math_property"),
                        format!("math {:?} reads no property", s.math.name()),
                    ));
                }
                _ => {}
            }
            if s.math.window_days().is_some() && self.interval != Period::Day {
                return Err(Error::invalid(
                    &field("math"),
                    format!(
                        "math {:?} is a rolling count of days and needs interval \"day\"",
                        s.math.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}
