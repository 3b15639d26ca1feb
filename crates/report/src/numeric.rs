//! Exact numbers for property math (activity.md §1.4): a numeric property value as an exact decimal, and the
//! aggregates sum, avg, min, max and the type-7 quantiles computed without float rounding.
//!
//! A value is read through its shortest round-trip form (retention.md §15.6), so `0.1` is exactly one tenth and
//! `0.1 + 0.2` is `0.3`. Values beyond the decimal's 28 significant digits (1e40, 1e-30) are kept as floats, and an
//! aggregate that meets one is computed in floats.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// A numeric property value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// Exactly this decimal.
    Exact(Decimal),
    /// A value no decimal holds exactly.
    Float(f64),
}

impl Num {
    /// The value of a property (retention.md §5.2: a JSON number, or a string holding a finite decimal).
    pub fn of(v: &Value) -> Option<Num> {
        let f = crate::filter::numeric(v)?;
        Some(Num::from_f64(f))
    }

    /// A finite float through its shortest round-trip text.
    pub fn from_f64(f: f64) -> Num {
        // `Display` writes the shortest text that reads back as `f`, never with an exponent.
        // A decimal parse rounds digits past its 28th; keep the value only when it reads back as `f`.
        match format!("{f}").parse::<Decimal>() {
            Ok(d) if d.to_string().parse::<f64>() == Ok(f) => Num::Exact(d.normalize()),
            _ => Num::Float(f),
        }
    }

    /// The value as a float (for charts and ordering of mixed values).
    pub fn to_f64(self) -> f64 {
        match self {
            Num::Exact(d) => d.to_string().parse().unwrap_or(f64::NAN),
            Num::Float(f) => f,
        }
    }

    /// The JSON number: the shortest exact decimal (`3`, `2.5`), or the float.
    pub fn to_json(self) -> Value {
        match self {
            Num::Exact(d) => {
                let text = d.normalize().to_string();
                serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Num::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }

    /// The text of [`Num::to_json`].
    pub fn text(self) -> String {
        self.to_json().to_string()
    }
}

/// An aggregate of property math.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Σ values.
    Sum,
    /// Σ values ÷ count, rounded half-even to 6 decimals.
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The type-7 quantile at this many hundredths (50 for the median).
    Quantile(u32),
}

/// The aggregate of `values` (`None` when there are none). `values` is reordered.
pub fn aggregate(values: &mut [Num], how: Aggregate) -> Option<Num> {
    if values.is_empty() {
        return None;
    }
    let exact: Option<Vec<Decimal>> = values
        .iter()
        .map(|v| match v {
            Num::Exact(d) => Some(*d),
            Num::Float(_) => None,
        })
        .collect();
    if let Some(mut xs) = exact
        && let Some(d) = aggregate_exact(&mut xs, how)
    {
        return Some(Num::Exact(d.normalize()));
    }
    let mut xs: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
    Some(Num::Float(aggregate_float(&mut xs, how)))
}

fn aggregate_exact(xs: &mut [Decimal], how: Aggregate) -> Option<Decimal> {
    let sum = || {
        xs.iter()
            .try_fold(Decimal::ZERO, |acc, x| acc.checked_add(*x))
    };
    match how {
        Aggregate::Sum => sum(),
        Aggregate::Avg => sum()?
            .checked_div(Decimal::from(xs.len()))
            .map(|d| d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven)),
        Aggregate::Min => xs.iter().min().copied(),
        Aggregate::Max => xs.iter().max().copied(),
        Aggregate::Quantile(q) => {
            xs.sort_unstable();
            // h = (n − 1)·q exactly, in hundredths: the index below and the fraction towards the next value.
            let h = (xs.len() as u64 - 1) * u64::from(q);
            let (lo, frac) = ((h / 100) as usize, h % 100);
            let base = xs[lo];
            if frac == 0 {
                return Some(base);
            }
            let step = xs[lo + 1].checked_sub(base)?;
            base.checked_add(step.checked_mul(Decimal::new(frac as i64, 2))?)
        }
    }
}

fn aggregate_float(xs: &mut [f64], how: Aggregate) -> f64 {
    match how {
        Aggregate::Sum => xs.iter().sum(),
        Aggregate::Avg => {
            let v = xs.iter().sum::<f64>() / xs.len() as f64;
            crate::stats::round6(v)
        }
        Aggregate::Min => xs.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Quantile(q) => {
            xs.sort_unstable_by(f64::total_cmp);
            let h = (xs.len() - 1) as f64 * f64::from(q) / 100.0;
            let lo = h.floor() as usize;
            let frac = h - h.floor();
            if lo + 1 >= xs.len() {
                xs[lo]
            } else {
                xs[lo] + frac * (xs[lo + 1] - xs[lo])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nums(vs: &[Value]) -> Vec<Num> {
        vs.iter().filter_map(Num::of).collect()
    }

    fn text(vs: &[Value], how: Aggregate) -> String {
        aggregate(&mut nums(vs), how).map_or("null".into(), Num::text)
    }

    #[test]
    fn the_spec_example() {
        let vs = [json!(0.5), json!(2), json!("n/a")];
        assert_eq!(nums(&vs).len(), 2);
        assert_eq!(text(&vs, Aggregate::Sum), "2.5");
        assert_eq!(text(&vs, Aggregate::Quantile(50)), "1.25");
        assert_eq!(text(&vs, Aggregate::Quantile(90)), "1.85");
    }

    #[test]
    fn sums_are_exact_and_averages_round_half_even() {
        assert_eq!(text(&[json!(0.1), json!(0.2)], Aggregate::Sum), "0.3");
        assert_eq!(text(&[json!(3.0)], Aggregate::Sum), "3");
        assert_eq!(text(&[json!("2.50")], Aggregate::Max), "2.5");
        assert_eq!(
            text(&[json!(1), json!(2), json!(2)], Aggregate::Avg),
            "1.666667"
        );
        assert_eq!(text(&[json!(0.0000005), json!(0)], Aggregate::Avg), "0");
        assert_eq!(
            text(&[json!(0.0000025), json!(0)], Aggregate::Avg),
            "0.000001"
        );
        assert_eq!(text(&[], Aggregate::Sum), "null");
    }

    #[test]
    fn every_float_reads_back_exactly_or_as_a_float() {
        for f in [
            0.1,
            0.2,
            0.3,
            1.0 / 3.0,
            123456.789,
            1e-9,
            2.5e-7,
            9007199254740993.0,
            1e20,
        ] {
            let n = Num::from_f64(f);
            assert_eq!(n.to_f64(), f, "{f}");
            assert!(matches!(n, Num::Exact(_)), "{f}");
        }
    }

    #[test]
    fn values_beyond_decimals_fall_back_to_floats() {
        assert_eq!(text(&[json!(1e40), json!(1)], Aggregate::Max), "1e+40");
        assert_eq!(text(&[json!(1e-30), json!(1)], Aggregate::Min), "1e-30");
    }

    proptest::proptest! {
        #[test]
        fn quantiles_lie_between_min_and_max(xs in proptest::collection::vec(-1_000_000i64..1_000_000, 1..40), q in 0u32..=100) {
            let mut vs: Vec<Num> = xs.iter().map(|&x| Num::Exact(Decimal::new(x, 3))).collect();
            let lo = aggregate(&mut vs, Aggregate::Min).unwrap().to_f64();
            let hi = aggregate(&mut vs, Aggregate::Max).unwrap().to_f64();
            let v = aggregate(&mut vs, Aggregate::Quantile(q)).unwrap().to_f64();
            proptest::prop_assert!(lo <= v && v <= hi);
        }
    }
}
