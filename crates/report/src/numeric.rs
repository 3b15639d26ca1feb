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
        // An integer a float holds exactly is that decimal ([`Num::from_f64`] gives the same, through text).
        if let Value::Number(n) = v
            && let Some(i) = n.as_i64()
            && i.unsigned_abs() <= 1 << 53
        {
            return Some(Num::Exact(Decimal::from(i)));
        }
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

/// [`aggregate`] of values given with their multiplicities (`(value, times)`, in any order, a value possibly more
/// than once): the same result as [`aggregate`] over the values repeated, without repeating them. `values` is
/// reordered.
pub fn aggregate_counted(values: &mut [(Num, u64)], how: Aggregate) -> Option<Num> {
    let n: u64 = values.iter().map(|(_, m)| *m).sum();
    if n == 0 {
        return None;
    }
    let exact: Option<Vec<(Decimal, u64)>> = values
        .iter()
        .filter(|(_, m)| *m > 0)
        .map(|(v, m)| match v {
            Num::Exact(d) => Some((*d, *m)),
            Num::Float(_) => None,
        })
        .collect();
    if let Some(mut xs) = exact
        && let Some(d) = counted_exact(&mut xs, n, how)
    {
        return Some(Num::Exact(d.normalize()));
    }
    let mut xs: Vec<(f64, u64)> = values
        .iter()
        .filter(|(_, m)| *m > 0)
        .map(|(v, m)| (v.to_f64(), *m))
        .collect();
    xs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let at = |i: u64| nth(&xs, i).unwrap_or(f64::NAN);
    // Sums add one value at a time in ascending order, as [`aggregate`] does.
    let sum = || {
        let mut total = 0.0;
        for (v, m) in &xs {
            for _ in 0..*m {
                total += v;
            }
        }
        total
    };
    Some(Num::Float(match how {
        Aggregate::Sum => sum(),
        Aggregate::Avg => crate::stats::round6(sum() / n as f64),
        Aggregate::Min => at(0),
        Aggregate::Max => at(n - 1),
        Aggregate::Quantile(q) => {
            let h = (n - 1) as f64 * f64::from(q) / 100.0;
            let lo = h.floor() as u64;
            let frac = h - h.floor();
            if lo + 1 >= n {
                at(lo)
            } else {
                at(lo) + frac * (at(lo + 1) - at(lo))
            }
        }
    }))
}

/// The `i`-th value (from 0) of sorted values with multiplicities, as if each were repeated.
fn nth<T: Copy>(xs: &[(T, u64)], i: u64) -> Option<T> {
    let mut seen = 0;
    xs.iter()
        .find(|(_, m)| {
            seen += m;
            seen > i
        })
        .map(|(x, _)| *x)
}

fn counted_exact(xs: &mut [(Decimal, u64)], n: u64, how: Aggregate) -> Option<Decimal> {
    let sum = || {
        xs.iter().try_fold(Decimal::ZERO, |acc, (x, m)| {
            acc.checked_add(x.checked_mul(Decimal::from(*m))?)
        })
    };
    match how {
        Aggregate::Sum => sum(),
        Aggregate::Avg => sum()?
            .checked_div(Decimal::from(n))
            .map(|d| d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven)),
        Aggregate::Min => xs.iter().map(|(x, _)| *x).min(),
        Aggregate::Max => xs.iter().map(|(x, _)| *x).max(),
        Aggregate::Quantile(q) => {
            xs.sort_unstable_by_key(|(x, _)| *x);
            let at = |i: u64| nth(xs, i);
            let h = (n - 1) * u64::from(q);
            let (lo, frac) = (h / 100, h % 100);
            let base = at(lo)?;
            if frac == 0 {
                return Some(base);
            }
            let step = at(lo + 1)?.checked_sub(base)?;
            base.checked_add(step.checked_mul(Decimal::new(frac as i64, 2))?)
        }
    }
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
        // In ascending order, so that the sum does not depend on the order events were read in.
        Aggregate::Sum => {
            xs.sort_unstable_by(f64::total_cmp);
            xs.iter().sum()
        }
        Aggregate::Avg => {
            xs.sort_unstable_by(f64::total_cmp);
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
    fn integers_read_as_their_float_reads() {
        for i in [
            0i64,
            1,
            -1,
            16_694,
            -7,
            1 << 53,
            -(1 << 53),
            (1 << 53) + 1,
            i64::MAX,
            i64::MIN,
        ] {
            let via_float = crate::filter::numeric(&json!(i)).map(Num::from_f64);
            assert_eq!(Num::of(&json!(i)), via_float, "{i}");
            assert_eq!(
                Num::of(&json!(i)).map(Num::text),
                via_float.map(Num::text),
                "{i}"
            );
        }
    }

    #[test]
    fn values_beyond_decimals_fall_back_to_floats() {
        assert_eq!(text(&[json!(1e40), json!(1)], Aggregate::Max), "1e+40");
        assert_eq!(text(&[json!(1e-30), json!(1)], Aggregate::Min), "1e-30");
    }

    /// Values with their multiplicities, and the same values repeated.
    fn counted_and_repeated(xs: &[(Num, u64)]) -> Vec<Num> {
        xs.iter()
            .flat_map(|(v, m)| std::iter::repeat_n(*v, *m as usize))
            .collect()
    }

    const HOWS: [Aggregate; 8] = [
        Aggregate::Sum,
        Aggregate::Avg,
        Aggregate::Min,
        Aggregate::Max,
        Aggregate::Quantile(0),
        Aggregate::Quantile(50),
        Aggregate::Quantile(90),
        Aggregate::Quantile(100),
    ];

    #[test]
    fn counted_values_aggregate_as_repeated_ones() {
        let xs = [
            (Num::from_f64(2.5), 3),
            (Num::from_f64(-1.0), 1),
            (Num::from_f64(2.5), 2),
            (Num::from_f64(0.1), 0),
        ];
        for how in HOWS {
            let a = aggregate_counted(&mut xs.to_vec(), how);
            let b = aggregate(&mut counted_and_repeated(&xs), how);
            assert_eq!(a, b, "{how:?}");
        }
        assert_eq!(aggregate_counted(&mut [], Aggregate::Sum), None);
        assert_eq!(
            aggregate_counted(&mut [(Num::from_f64(1.0), 0)], Aggregate::Max),
            None
        );
        // Floats beyond decimals, too.
        let xs = [
            (Num::from_f64(1e40), 2),
            (Num::from_f64(0.3), 5),
            (Num::from_f64(1e-30), 1),
        ];
        for how in HOWS {
            let a = aggregate_counted(&mut xs.to_vec(), how);
            let b = aggregate(&mut counted_and_repeated(&xs), how);
            assert_eq!(a, b, "{how:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn counted_aggregates_match_repeated_values(
            xs in proptest::collection::vec((-1_000_000i64..1_000_000, 0u32..6, 0u64..5, 0u8..8), 0..30),
            how in 0usize..8,
        ) {
            // Mostly decimals of different scales, now and then a float no decimal holds.
            let xs: Vec<(Num, u64)> = xs
                .iter()
                .map(|&(x, scale, m, kind)| {
                    let v = if kind == 0 { Num::Float(x as f64 * 1e35) } else { Num::Exact(Decimal::new(x, scale)) };
                    (v, m)
                })
                .collect();
            let a = aggregate_counted(&mut xs.clone(), HOWS[how]);
            let b = aggregate(&mut counted_and_repeated(&xs), HOWS[how]);
            proptest::prop_assert_eq!(a, b);
        }

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
