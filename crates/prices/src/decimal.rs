//! Exact non-negative decimals for prices and supplied costs, and the one rounding step that turns them into
//! integer nano-units. Text (a decimal string or JSON number text) is read digit by digit, never through a float.

use std::fmt;

/// A non-negative decimal `mantissa × 10^(-scale)`; `scale` is negative for values like `3e6`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    mantissa: u128,
    scale: i32,
}

/// Why a text is not a non-negative decimal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DecimalError {
    Malformed,
    Negative,
}

/// More significant digits than a `u128` mantissa holds exactly.
const MAX_DIGITS: u32 = 38;
/// Exponents beyond this are typos, not prices.
const MAX_EXPONENT: i64 = 400;

impl Decimal {
    pub(crate) const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// Reads `12`, `0.30`, `2.5e-06` or `1E3`; a leading `-` is [`DecimalError::Negative`].
    pub(crate) fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (number, exponent) = match body.find(['e', 'E']) {
            Some(at) => {
                let exp = &body[at + 1..];
                let exp = exp.strip_prefix('+').unwrap_or(exp);
                if exp.is_empty()
                    || !exp
                        .trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                {
                    return Err(DecimalError::Malformed);
                }
                let exp: i64 = exp.parse().map_err(|_| DecimalError::Malformed)?;
                if exp.abs() > MAX_EXPONENT {
                    return Err(DecimalError::Malformed);
                }
                (&body[..at], exp)
            }
            None => (body, 0),
        };
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        if int.is_empty() || (number.contains('.') && frac.is_empty()) {
            return Err(DecimalError::Malformed);
        }
        let mut mantissa: u128 = 0;
        let mut n_digits = 0u32;
        for b in int.bytes().chain(frac.bytes()) {
            if !b.is_ascii_digit() {
                return Err(DecimalError::Malformed);
            }
            if mantissa != 0 || b != b'0' {
                n_digits += 1;
                if n_digits > MAX_DIGITS {
                    return Err(DecimalError::Malformed);
                }
            }
            mantissa = mantissa * 10 + u128::from(b - b'0');
        }
        if negative {
            return Err(DecimalError::Negative);
        }
        let scale = i64::try_from(frac.len()).map_err(|_| DecimalError::Malformed)? - exponent;
        let scale = i32::try_from(scale).map_err(|_| DecimalError::Malformed)?;
        Ok(Decimal { mantissa, scale }.normalized())
    }

    /// A whole number of units, or `None` when the value has a fraction or exceeds `u64`.
    pub(crate) fn to_u64(self) -> Option<u64> {
        if self.scale > 0 {
            return None;
        }
        let up = 10u128.checked_pow(self.scale.unsigned_abs())?;
        u64::try_from(self.mantissa.checked_mul(up)?).ok()
    }

    /// The value times `10^exp`, exactly.
    pub(crate) fn shift(self, exp: i32) -> Decimal {
        Decimal {
            mantissa: self.mantissa,
            scale: self.scale.saturating_sub(exp),
        }
    }

    /// The value times the decimal `numerator × 10^(-scale)`, exactly; `None` only past 38 digits.
    pub(crate) fn times(self, numerator: u128, scale: i32) -> Option<Decimal> {
        Some(
            Decimal {
                mantissa: self.mantissa.checked_mul(numerator)?,
                scale: self.scale.checked_add(scale)?,
            }
            .normalized(),
        )
    }

    /// The exact sum; `None` only when it needs more than 38 digits.
    pub(crate) fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let at = |d: Decimal| {
            let up = 10u128.checked_pow(u32::try_from(scale - d.scale).ok()?)?;
            d.mantissa.checked_mul(up)
        };
        Some(
            Decimal {
                mantissa: at(self)?.checked_add(at(other)?)?,
                scale,
            }
            .normalized(),
        )
    }

    /// `units × self × 10^exp` rounded half-even to an integer; saturates at `i128::MAX`, far beyond any real cost.
    pub(crate) fn round_scaled(self, units: u64, exp: i32) -> i128 {
        let mut n = Wide::product(self.mantissa, u128::from(units));
        let shift = exp - self.scale;
        if shift >= 0 {
            for _ in 0..shift {
                if !n.mul_small(10) {
                    return i128::MAX;
                }
            }
            return n.to_i128().unwrap_or(i128::MAX);
        }
        // Dividing by ten one digit at a time keeps the most significant dropped digit and whether anything below
        // it was non-zero, which is all half-even rounding needs.
        let mut last = 0u64;
        let mut sticky = false;
        for _ in 0..shift.unsigned_abs() {
            sticky |= last != 0;
            last = n.div_small(10);
            if n.is_zero() && last == 0 && !sticky {
                return 0;
            }
        }
        let round_up = last > 5 || (last == 5 && (sticky || n.is_odd()));
        if round_up && !n.add_one() {
            return i128::MAX;
        }
        n.to_i128().unwrap_or(i128::MAX)
    }

    /// Strips trailing zeros so equal values compare equal and mantissas stay small.
    fn normalized(mut self) -> Decimal {
        if self.mantissa == 0 {
            return Decimal::ZERO;
        }
        while self.mantissa.is_multiple_of(10) {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }
}

impl fmt::Display for Decimal {
    /// Plain positional notation: `2.5`, `0.000001`, `3000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        if self.scale <= 0 {
            return write!(
                f,
                "{digits}{}",
                "0".repeat(self.scale.unsigned_abs() as usize)
            );
        }
        let scale = self.scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{int}.{frac}")
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A 256-bit unsigned integer, little-endian 64-bit limbs: enough for a `u128` price mantissa times `u64` units
/// times the powers of ten in between.
struct Wide([u64; 4]);

impl Wide {
    fn product(a: u128, b: u128) -> Wide {
        let a = [a as u64, (a >> 64) as u64];
        let b = [b as u64, (b >> 64) as u64];
        let mut out = [0u64; 4];
        for (i, &x) in a.iter().enumerate() {
            let mut carry = 0u128;
            for (j, &y) in b.iter().enumerate() {
                let t = u128::from(x) * u128::from(y) + u128::from(out[i + j]) + carry;
                out[i + j] = t as u64;
                carry = t >> 64;
            }
            out[i + 2] = carry as u64;
        }
        Wide(out)
    }

    /// Multiplies in place; `false` on overflow.
    fn mul_small(&mut self, k: u64) -> bool {
        let mut carry = 0u128;
        for limb in &mut self.0 {
            let t = u128::from(*limb) * u128::from(k) + carry;
            *limb = t as u64;
            carry = t >> 64;
        }
        carry == 0
    }

    /// Divides in place and returns the remainder.
    fn div_small(&mut self, k: u64) -> u64 {
        let mut rem = 0u128;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / u128::from(k)) as u64;
            rem = cur % u128::from(k);
        }
        rem as u64
    }

    /// Adds one in place; `false` on overflow.
    fn add_one(&mut self) -> bool {
        for limb in &mut self.0 {
            let (v, overflow) = limb.overflowing_add(1);
            *limb = v;
            if !overflow {
                return true;
            }
        }
        false
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    fn is_odd(&self) -> bool {
        self.0[0] & 1 == 1
    }

    fn to_i128(&self) -> Option<i128> {
        if self.0[2] != 0 || self.0[3] != 0 {
            return None;
        }
        i128::try_from(u128::from(self.0[0]) | (u128::from(self.0[1]) << 64)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).expect("valid decimal")
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(d("2.5e-06").to_string(), "0.0000025");
        assert_eq!(d("3.00").to_string(), "3");
        assert_eq!(d("0.30"), d("0.3"));
        assert_eq!(d("1E3").to_string(), "1000");
        assert_eq!(d("+7").to_string(), "7");
        assert_eq!(d("0").to_string(), "0");
        assert_eq!(d("2.5e-06").shift(6).to_string(), "2.5");
    }

    #[test]
    fn rejects_what_is_not_a_non_negative_decimal() {
        for bad in [
            "", ".5", "5.", "1.2.3", "abc", "NaN", "inf", "1e", "1e+", "0x10", " 1", "1_000",
            "1e999",
        ] {
            assert_eq!(Decimal::parse(bad), Err(DecimalError::Malformed), "{bad:?}");
        }
        assert_eq!(Decimal::parse("-1"), Err(DecimalError::Negative));
        assert_eq!(Decimal::parse("-0.5"), Err(DecimalError::Negative));
        assert_eq!(Decimal::parse("-x"), Err(DecimalError::Malformed));
    }

    #[test]
    fn whole_numbers() {
        assert_eq!(d("1200").to_u64(), Some(1200));
        assert_eq!(d("1.2e3").to_u64(), Some(1200));
        assert_eq!(d("1200.0").to_u64(), Some(1200));
        assert_eq!(d("1.5").to_u64(), None);
        assert_eq!(d("1e30").to_u64(), None);
    }

    #[test]
    fn rounds_half_even_to_nano() {
        // units × price per 1M → nano: exponent 9 − 6 = 3.
        assert_eq!(d("3.00").round_scaled(1_200, 3), 3_600_000);
        assert_eq!(d("0.0000005").round_scaled(1, 3), 0); // 0.0005 nano → 0
        assert_eq!(d("0.0005").round_scaled(1, 3), 0); // exactly 0.5 nano → even 0
        assert_eq!(d("0.0015").round_scaled(1, 3), 2); // 1.5 → 2
        assert_eq!(d("0.0025").round_scaled(1, 3), 2); // 2.5 → 2
        assert_eq!(d("0.00250001").round_scaled(1, 3), 3);
        assert_eq!(d("0.0034999").round_scaled(1, 3), 3);
        assert_eq!(d("0.0321").round_scaled(1, 9), 32_100_000);
        assert_eq!(
            d("12345678901234567890123456789012345678").round_scaled(u64::MAX, 3),
            i128::MAX
        );
        assert_eq!(d("1e-300").round_scaled(u64::MAX, 3), 0);
    }

    #[test]
    fn adds_and_multiplies_exactly() {
        assert_eq!(
            d("0.1").checked_add(d("0.25")).map(|x| x.to_string()),
            Some("0.35".into())
        );
        assert_eq!(
            d("3").times(125, 2).map(|x| x.to_string()),
            Some("3.75".into())
        );
        assert_eq!(
            d("3").times(1, 1).map(|x| x.to_string()),
            Some("0.3".into())
        );
    }
}
