//! Exact decimal reading for money, costs, token counts and epoch numbers: JSON number text (or a decimal string)
//! becomes an integer at a chosen scale without ever passing through a binary float.

/// A decimal read from text: `(-1)^neg × digits × 10^(-scale)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Decimal {
    pub(crate) neg: bool,
    pub(crate) digits: u128,
    /// Digits after the point once the exponent is applied; negative for `12e3`.
    pub(crate) scale: i32,
}

/// The exact sum of two JSON number texts, as JSON number text at the finer of their two scales (`1.50` + `1`
/// is `2.50`); `None` when either is not a number or the sum needs more than 38 digits.
pub fn decimal_sum(a: &str, b: &str) -> Option<String> {
    let (a, b) = (Decimal::parse(a)?, Decimal::parse(b)?);
    let scale = a.scale.max(b.scale).max(0);
    let at = |d: Decimal| -> Option<i128> {
        let up = u32::try_from(scale - d.scale).ok()?;
        let m = i128::try_from(d.digits)
            .ok()?
            .checked_mul(10i128.checked_pow(up)?)?;
        Some(if d.neg { -m } else { m })
    };
    let sum = at(a)?.checked_add(at(b)?)?;
    let digits = sum.unsigned_abs().to_string();
    let scale = usize::try_from(scale).ok()?;
    let sign = if sum < 0 { "-" } else { "" };
    if scale == 0 {
        return Some(format!("{sign}{digits}"));
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Some(format!("{sign}{int}.{frac}"))
}

/// How a decimal failed to fit a scale.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ScaleError {
    /// Non-zero digits below the requested scale.
    TooPrecise,
    /// Does not fit in an `i64`.
    Overflow,
}

impl Decimal {
    /// Reads JSON number syntax (`-12.5e-3`); leading zeros and a leading `+` are tolerated for strings.
    pub(crate) fn parse(text: &str) -> Option<Decimal> {
        let b = text.as_bytes();
        let mut i = 0;
        let neg = match b.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut digits: u128 = 0;
        let mut n_digits = 0u32;
        let mut scale: i64 = 0;
        let mut seen_point = false;
        let mut any = false;
        while i < b.len() {
            match b[i] {
                c @ b'0'..=b'9' => {
                    any = true;
                    if digits != 0 || c != b'0' {
                        n_digits += 1;
                        if n_digits > 38 {
                            return None;
                        }
                    }
                    digits = digits * 10 + u128::from(c - b'0');
                    if seen_point {
                        scale += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                b'e' | b'E' => break,
                _ => return None,
            }
            i += 1;
        }
        if !any || b.get(i.wrapping_sub(1)) == Some(&b'.') {
            return None;
        }
        if i < b.len() {
            let exp: i64 = text[i + 1..]
                .strip_prefix('+')
                .unwrap_or(&text[i + 1..])
                .parse()
                .ok()?;
            if !(-400..=400).contains(&exp) {
                return None;
            }
            scale -= exp;
        }
        Some(Decimal {
            neg,
            digits,
            scale: scale as i32,
        })
    }

    /// The value in units of `10^-target`, requiring that nothing below that scale is lost.
    pub(crate) fn to_scaled(self, target: u32) -> Result<i64, ScaleError> {
        let v = self.magnitude_at(target, Rounding::Exact)?;
        self.signed(v)
    }

    /// Like [`Decimal::to_scaled`] but drops digits below the scale (toward zero).
    pub(crate) fn to_scaled_truncated(self, target: u32) -> Result<i64, ScaleError> {
        let v = self.magnitude_at(target, Rounding::Truncate)?;
        self.signed(v)
    }

    /// Whether the value is below `10^exp` in magnitude.
    pub(crate) fn abs_below_pow10(self, exp: i32) -> bool {
        if self.digits == 0 {
            return true;
        }
        // digits × 10^-scale < 10^exp  ⇔  digits < 10^(exp + scale)
        let e = exp + self.scale;
        if e <= 0 {
            return false;
        }
        if e > 38 {
            return true;
        }
        self.digits < 10u128.pow(e as u32)
    }

    fn magnitude_at(self, target: u32, rounding: Rounding) -> Result<u128, ScaleError> {
        let shift = i64::from(target) - i64::from(self.scale);
        if shift >= 0 {
            if self.digits == 0 {
                return Ok(0);
            }
            let f = 10u128.checked_pow(u32::try_from(shift).map_err(|_| ScaleError::Overflow)?);
            f.and_then(|f| self.digits.checked_mul(f))
                .ok_or(ScaleError::Overflow)
        } else {
            let drop = u32::try_from(-shift).map_err(|_| ScaleError::Overflow)?;
            let (q, r) = match 10u128.checked_pow(drop) {
                Some(f) => (self.digits / f, self.digits % f),
                None => (0, self.digits),
            };
            if r != 0 && rounding == Rounding::Exact {
                return Err(ScaleError::TooPrecise);
            }
            Ok(q)
        }
    }

    fn signed(self, v: u128) -> Result<i64, ScaleError> {
        let v = i64::try_from(v).map_err(|_| ScaleError::Overflow)?;
        Ok(if self.neg { -v } else { v })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rounding {
    Exact,
    Truncate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_at_the_finer_scale() {
        assert_eq!(decimal_sum("1.50", "1").as_deref(), Some("2.50"));
        assert_eq!(decimal_sum("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(decimal_sum("-3", "1").as_deref(), Some("-2"));
        assert_eq!(decimal_sum("1e3", "-0.5").as_deref(), Some("999.5"));
        assert_eq!(decimal_sum("-0.25", "0.2").as_deref(), Some("-0.05"));
        assert_eq!(decimal_sum("x", "1"), None);
    }

    fn scaled(text: &str, target: u32) -> Result<i64, ScaleError> {
        Decimal::parse(text).unwrap().to_scaled(target)
    }

    #[test]
    fn reads_exactly() {
        assert_eq!(scaled("23.99", 2), Ok(2399));
        assert_eq!(scaled("23.990", 2), Ok(2399));
        assert_eq!(scaled("23.999", 2), Err(ScaleError::TooPrecise));
        assert_eq!(scaled("1.2e-05", 9), Ok(12_000));
        assert_eq!(scaled("-5", 0), Ok(-5));
        assert_eq!(scaled("2.399E1", 2), Ok(2399));
        assert_eq!(scaled("1e30", 0), Err(ScaleError::Overflow));
        assert_eq!(
            Decimal::parse("0.0000000016")
                .unwrap()
                .to_scaled_truncated(9),
            Ok(1)
        );
        for bad in ["", "-", ".", "1.", "1e", "abc", "1,5", " 1"] {
            assert_eq!(Decimal::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn magnitude() {
        let d = Decimal::parse("99999999999").unwrap();
        assert!(d.abs_below_pow10(11));
        assert!(!Decimal::parse("100000000000").unwrap().abs_below_pow10(11));
        assert!(Decimal::parse("1.7e9").unwrap().abs_below_pow10(11));
    }
}
