//! Statistics shared by reports: Wilson intervals and the rounding used in outputs.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959964;

/// The Wilson score interval of `x` successes in `n` trials at 95% (retention.md §12.2); `None` when `n = 0`.
pub fn wilson(x: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Rounds half-to-even at 6 decimals (retention.md §13.3).
pub fn round6(v: f64) -> f64 {
    // Formatting rounds the exact binary value half-to-even; parsing the text back gives the nearest f64.
    format!("{v:.6}").parse().expect("a formatted float parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        let (lo, hi) = wilson(10, 50).unwrap();
        assert_eq!(
            (format!("{lo:.4}"), format!("{hi:.4}")),
            ("0.1124".to_string(), "0.3304".to_string())
        );
        assert_eq!((round6(lo), round6(hi)), (0.112437, 0.330371));
        let (lo, hi) = wilson(0, 20).unwrap();
        assert_eq!(lo, 0.0);
        assert_eq!(format!("{hi:.4}"), "0.1611");
        assert_eq!(wilson(0, 0), None);
        let (lo, hi) = wilson(42, 160).unwrap();
        assert_eq!(
            (format!("{lo:.4}"), format!("{hi:.4}")),
            ("0.2005".to_string(), "0.3357".to_string())
        );
    }
}
