//! Building blocks for importing third-party price lists (economics.md §5).
//!
//! LiteLLM states prices per token as JSON numbers such as `2.5e-06`; liucun tables state them per 1M units as
//! decimal strings. The conversion works on the number's text so that no price ever passes through a float.

/// Converts a non-negative per-unit price, written as a JSON number, to the per-1M decimal string of a table.
///
/// Returns `None` when `text` is not a plain non-negative decimal number (optionally with an exponent).
pub fn per_million(text: &str) -> Option<String> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty() || !is_digits(int_part) || !is_digits(frac_part)
    {
        return None;
    }
    // value = digits × 10^(point), with `point` counting the decimal shift of the whole digit string.
    let digits = format!("{int_part}{frac_part}");
    let point = exponent
        .checked_add(6)?
        .checked_sub(i64::try_from(frac_part.len()).ok()?)?;
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some("0".to_owned());
    }
    if point.unsigned_abs() > 64 {
        return None;
    }
    let out = if point >= 0 {
        format!("{digits}{}", "0".repeat(point as usize))
    } else {
        let shift = point.unsigned_abs() as usize;
        let padded = format!(
            "{}{digits}",
            "0".repeat(shift.saturating_sub(digits.len()) + 1)
        );
        let (whole, frac) = padded.split_at(padded.len() - shift);
        let frac = frac.trim_end_matches('0');
        let whole = whole.trim_start_matches('0');
        let whole = if whole.is_empty() { "0" } else { whole };
        if frac.is_empty() {
            whole.to_owned()
        } else {
            format!("{whole}.{frac}")
        }
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::per_million;

    #[test]
    fn per_token_prices_scale_exactly() {
        let cases = [
            ("2.5e-06", "2.5"),
            ("1e-05", "10"),
            ("0.0000025", "2.5"),
            ("3.75E-6", "3.75"),
            ("1.1e-07", "0.11"),
            ("0", "0"),
            ("0.0", "0"),
            ("1.5e-12", "0.0000015"),
            ("2", "2000000"),
            ("6e-6", "6"),
        ];
        for (input, want) in cases {
            assert_eq!(per_million(input).as_deref(), Some(want), "{input}");
        }
    }

    #[test]
    fn non_numbers_and_negatives_are_refused() {
        for input in ["", "-1e-6", "abc", "1e", ".", "1.2.3"] {
            assert_eq!(per_million(input), None, "{input}");
        }
    }
}
