//! Exact money (economics.md §6): amounts are integers of 10⁻¹² of a currency ("pico-units") in i128, decimals are
//! read from their text, conversion uses dated rates, and output rounds half-to-even. Floats appear only in ratios
//! and intervals.

use std::collections::HashMap;

/// Pico-units per major unit.
pub const PICO: i128 = 1_000_000_000_000;

/// A decimal read from its text: `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// Whether it is below zero.
    pub fn negative(self) -> bool {
        self.mantissa < 0
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// The value in pico-units, rounded half-to-even past 12 decimals; `None` on overflow.
    pub fn to_pico(self) -> Option<i128> {
        if self.scale <= 12 {
            self.mantissa
                .checked_mul(10i128.checked_pow(12 - self.scale)?)
        } else {
            Some(div_half_even(
                self.mantissa,
                10i128.checked_pow(self.scale - 12)?,
            ))
        }
    }
}

/// Reads `"12.50"`, `"-3"`, `"0.000001"` (at most 30 digits, no exponent).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() + frac.len() > 30
    {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(b - b'0'))?;
    }
    Some(Decimal {
        mantissa: if neg { -mantissa } else { mantissa },
        scale: frac.len() as u32,
    })
}

/// `a / b` rounded half-to-even (b > 0).
pub fn div_half_even(a: i128, b: i128) -> i128 {
    let q = a.div_euclid(b);
    let r = a.rem_euclid(b);
    match (2 * r).cmp(&b) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// Minor units of a currency with `exponent` fraction digits, in pico-units.
pub fn minor_to_pico(minor: i64, exponent: u32) -> i128 {
    i128::from(minor) * 10i128.pow(12 - exponent.min(12))
}

/// Pico-units as a decimal string with `digits` fraction digits, rounded half-to-even.
pub fn format_pico(pico: i128, digits: u32) -> String {
    let unit = 10i128.pow(12 - digits.min(12));
    let v = div_half_even(pico, unit);
    let neg = v < 0;
    let a = v.unsigned_abs();
    let scale = 10u128.pow(digits.min(12));
    let (int, frac) = (a / scale, a % scale);
    let sign = if neg { "-" } else { "" };
    if digits == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac:0width$}", width = digits as usize)
    }
}

/// Dated exchange rates (`from → to`, used only as given).
#[derive(Debug, Clone, Default)]
pub struct Rates {
    /// (from, to) → (UTC day number, rate), sorted by day.
    by_pair: HashMap<(String, String), Vec<(i32, Decimal)>>,
}

/// Days since 1970-01-01 of a UTC instant.
pub fn utc_day(us: i64) -> i32 {
    us.div_euclid(86_400_000_000) as i32
}

impl Rates {
    /// Builds the table; the rates were checked with the parameters.
    pub fn new(rates: &[super::params::FxRate]) -> Rates {
        let mut by_pair: HashMap<(String, String), Vec<(i32, Decimal)>> = HashMap::new();
        for r in rates {
            let (Ok(date), Some(rate)) = (
                jiff::civil::Date::strptime("%Y-%m-%d", &r.date),
                parse_decimal(&r.rate),
            ) else {
                continue;
            };
            let day = date
                .since(jiff::civil::date(1970, 1, 1))
                .map_or(0, |s| s.get_days());
            by_pair
                .entry((r.from.clone(), r.to.clone()))
                .or_default()
                .push((day, rate));
        }
        for v in by_pair.values_mut() {
            v.sort_by_key(|x| x.0);
        }
        Rates { by_pair }
    }

    /// `pico` of `from` in `to` at the UTC day `day`: the latest rate dated on or before it; `None` without one.
    pub fn convert(&self, pico: i128, from: &str, to: &str, day: i32) -> Option<i128> {
        if from == to {
            return Some(pico);
        }
        let list = self.by_pair.get(&(from.to_string(), to.to_string()))?;
        let i = list.partition_point(|x| x.0 <= day);
        let rate = list.get(i.checked_sub(1)?)?.1;
        let scaled = pico.checked_mul(rate.mantissa)?;
        Some(div_half_even(scaled, 10i128.checked_pow(rate.scale)?))
    }

    /// The number of rates.
    pub fn len(&self) -> usize {
        self.by_pair.values().map(Vec::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_pair.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_and_round_half_even() {
        let d = parse_decimal("23.99").unwrap();
        assert_eq!(d.to_pico(), Some(23_990_000_000_000));
        assert_eq!(format_pico(23_985_000_000_000, 2), "23.98");
        assert_eq!(format_pico(23_975_000_000_000, 2), "23.98");
        assert_eq!(format_pico(-1_500_000_000_000, 0), "-2");
        assert_eq!(format_pico(790 * PICO / 1000, 6), "0.790000");
        assert!(parse_decimal("1e5").is_none());
        assert!(parse_decimal("").is_none());
        assert!(parse_decimal(".").is_none());
        assert_eq!(minor_to_pico(1999, 2), 19_990_000_000_000);
        assert_eq!(minor_to_pico(500, 0), 500 * PICO);
    }

    #[test]
    fn rates_use_the_latest_on_or_before_the_day() {
        let r = |date: &str, rate: &str| super::super::params::FxRate {
            date: date.into(),
            from: "CNY".into(),
            to: "USD".into(),
            rate: rate.into(),
            source: None,
        };
        let rates = Rates::new(&[r("2025-01-01", "0.14"), r("2025-02-01", "0.137")]);
        let day = |s: &str| utc_day(s.parse::<jiff::Timestamp>().unwrap().as_microsecond());
        assert_eq!(
            rates.convert(100 * PICO, "CNY", "USD", day("2024-12-31T12:00:00Z")),
            None
        );
        assert_eq!(
            rates.convert(100 * PICO, "CNY", "USD", day("2025-01-15T00:00:00Z")),
            Some(14 * PICO)
        );
        assert_eq!(
            rates.convert(100 * PICO, "CNY", "USD", day("2025-03-01T00:00:00Z")),
            Some(137 * PICO / 10)
        );
        assert_eq!(
            rates.convert(100 * PICO, "USD", "CNY", day("2025-03-01T00:00:00Z")),
            None
        );
        assert_eq!(rates.convert(5, "USD", "USD", 0), Some(5));
    }
}
