//! Scales and numbers: value-to-pixel mappings (linear, evenly spaced points, bands), nice ticks, and the number
//! formats printed on charts.
//!
//! Every coordinate in the SVG goes through [`f1`], so output is deterministic to one decimal.

use super::ValueFormat;

/// A linear mapping of `lo..=hi` onto pixels `px_lo..=px_hi`, with ticks every `step` from `lo`.
///
/// Values outside the domain are clamped to its ends, so nothing is ever drawn outside the plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Linear {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) step: f64,
    /// The pixel of `lo`: the bottom of a vertical axis.
    pub(super) px_lo: f64,
    /// The pixel of `hi`: the top of a vertical axis.
    pub(super) px_hi: f64,
}

impl Linear {
    /// A scale over `lo..=hi` (which must be a whole number of `step`s apart).
    pub(super) fn new(lo: f64, hi: f64, step: f64, px_lo: f64, px_hi: f64) -> Linear {
        Linear {
            lo,
            hi,
            step,
            px_lo,
            px_hi,
        }
    }

    /// A scale whose domain covers `data_lo..=data_hi` and zero, extended to nice ticks, about `max_ticks` of them.
    pub(super) fn nice(
        data_lo: f64,
        data_hi: f64,
        max_ticks: usize,
        px_lo: f64,
        px_hi: f64,
    ) -> Linear {
        let (mut lo, mut hi) = (data_lo.min(0.0), data_hi.max(0.0));
        if !lo.is_finite() || !hi.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(lo.abs()).max(1.0) {
            hi = lo + 1.0;
        }
        let step = nice_step(hi - lo, max_ticks.max(2));
        let lo = (lo / step + 1e-9).floor() * step;
        let hi = (hi / step - 1e-9).ceil() * step;
        Linear::new(lo, hi, step, px_lo, px_hi)
    }

    /// The pixel of `v`.
    pub(super) fn px(&self, v: f64) -> f64 {
        self.px_lo
            - ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0) * (self.px_lo - self.px_hi)
    }

    /// The tick values from `lo` to `hi`.
    pub(super) fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as usize;
        (0..=n)
            .map(|t| {
                let v = self.lo + self.step * t as f64;
                // Snap values that are zero but for rounding, so no tick reads `-0` or `1e-17`.
                if v.abs() < self.step * 1e-9 { 0.0 } else { v }
            })
            .collect()
    }
}

/// The smallest step of 1, 2, 2.5 or 5 × 10ᵏ that covers `span` in at most `max_ticks` intervals.
pub(super) fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let raw = span / max_ticks.max(1) as f64;
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// `n` evenly spaced points across `left..=left + width`; a single point sits in the middle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Points {
    pub(super) left: f64,
    pub(super) width: f64,
    pub(super) n: usize,
}

impl Points {
    /// The distance between neighbouring points (0 for fewer than two).
    pub(super) fn step(&self) -> f64 {
        if self.n > 1 {
            self.width / (self.n - 1) as f64
        } else {
            0.0
        }
    }

    /// The x of point `i`.
    pub(super) fn x(&self, i: usize) -> f64 {
        if self.n > 1 {
            self.left + i as f64 * self.step()
        } else {
            self.left + self.width / 2.0
        }
    }
}

/// `n` equal bands across `left..left + width`, each with a share `padding` of its width left empty around the
/// bar, for categorical axes of bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bands {
    pub(super) left: f64,
    pub(super) width: f64,
    pub(super) n: usize,
    pub(super) padding: f64,
}

impl Bands {
    /// The width of one band, padding included.
    pub(super) fn step(&self) -> f64 {
        self.width / self.n.max(1) as f64
    }

    /// The width of the bar inside a band.
    pub(super) fn bandwidth(&self) -> f64 {
        self.step() * (1.0 - self.padding)
    }

    /// The left edge of the bar in band `i`.
    pub(super) fn x(&self, i: usize) -> f64 {
        self.left + i as f64 * self.step() + self.step() * self.padding / 2.0
    }

    /// The centre of band `i`.
    pub(super) fn mid(&self, i: usize) -> f64 {
        self.left + (i as f64 + 0.5) * self.step()
    }
}

/// Labels every `step`-th category so that labels of `widest` characters at `font_size`, `dx` apart, do not
/// touch; `steps` lists the allowed steps in increasing order (say, 1, 7, 14 and 28 for days).
pub(super) fn label_step(widest: usize, dx: f64, font_size: f64, steps: &[usize]) -> usize {
    let need = widest as f64 * font_size * super::text::CHAR_W + font_size * 0.6;
    if dx <= 0.0 {
        return 1;
    }
    steps
        .iter()
        .copied()
        .find(|s| *s as f64 * dx >= need)
        .unwrap_or(steps.last().copied().unwrap_or(1))
}

/// One decimal, never `-0.0`.
pub(super) fn f1(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".to_string() } else { s }
}

/// A tick value without a trailing `.0`: `10`, `2.5`.
pub(super) fn trim_num(v: f64) -> String {
    let s = f1(v);
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// A rate as a percentage with one decimal: `23.4%`.
pub(super) fn pct(v: f64) -> String {
    format!("{}%", f1(v * 100.0))
}

/// `12345` → `12,345`.
pub(super) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A tick label for a value on an axis stepping by `step`: compact above ten thousand (`12k`, `1.5M`), otherwise
/// with as many decimals as the step needs (`0.25`, `1,200`).
pub(super) fn tick_label(v: f64, step: f64) -> String {
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    for (unit, suffix) in [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")] {
        if a >= unit && step >= unit / 1000.0 {
            let (unit, suffix) = if suffix == "k" {
                (1e3, "k")
            } else {
                (unit, suffix)
            };
            return format!("{sign}{}{suffix}", decimals(a / unit, step / unit));
        }
    }
    if step >= 1.0 && a.fract() == 0.0 && a < 1e15 {
        return format!("{sign}{}", group(a as u64));
    }
    format!("{sign}{}", decimals(a, step))
}

/// `v` with just enough decimals to tell ticks `step` apart, without trailing zeros.
fn decimals(v: f64, step: f64) -> String {
    let places = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize + 1
    }
    .min(9);
    let s = format!("{v:.places$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

/// A value for a tooltip: thousands grouped for whole numbers, else four significant digits.
pub(super) fn exact(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let sign = if v < 0.0 { "-" } else { "" };
        return format!("{sign}{}", group(v.abs() as u64));
    }
    let digits = (3 - v.abs().log10().floor() as i64).clamp(0, 9) as usize;
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}

/// A tick label in `format` on an axis stepping by `step`.
pub(super) fn axis_label(format: ValueFormat, v: f64, step: f64) -> String {
    match format {
        ValueFormat::Number => tick_label(v, step),
        ValueFormat::Percent => format!("{}%", tick_label(v * 100.0, step * 100.0)),
    }
}

/// A value in `format` for a tooltip.
pub(super) fn value_text(format: ValueFormat, v: f64) -> String {
    match format {
        ValueFormat::Number => exact(v),
        ValueFormat::Percent => pct(v),
    }
}

/// A value axis on the left of a plot from `left` to `right`: a gridline and label per tick (the zero line darker),
/// and the axis title turned along it.
pub(super) fn y_axis(
    out: &mut String,
    ys: &Linear,
    (left, right): (f64, f64),
    label: impl Fn(f64) -> String,
    title: &str,
) {
    use super::layout::{AXIS_LINE, GRID};
    use super::text::esc;
    for v in ys.ticks() {
        let y = ys.px(v);
        let is_base = v == 0.0 || (ys.lo > 0.0 && v == ys.lo);
        put!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>\n",
            f1(left),
            f1(y),
            f1(right),
            f1(y),
            if is_base { AXIS_LINE } else { GRID }
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
            f1(left - 8.0),
            f1(y),
            esc(&label(v))
        );
    }
    let mid = (ys.px_lo + ys.px_hi) / 2.0;
    put!(
        out,
        "<text x=\"18.0\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18.0 {})\" font-size=\"13\">{}</text>\n",
        f1(mid),
        f1(mid),
        esc(title)
    );
}

/// A category axis below a plot: a tick at each of `xs` (only at labels when they would crowd), a label at every
/// `step`-th, and the axis title under the labels.
pub(super) fn x_axis(
    out: &mut String,
    xs: &[f64],
    labels: &[String],
    step: usize,
    bottom: f64,
    title: &str,
) {
    use super::layout::AXIS_LINE;
    use super::text::esc;
    // Ticks closer than this merge into a solid bar: only labelled ones are drawn then.
    let dense = xs.len() > 1 && xs[1] - xs[0] < 4.0;
    for (j, &x) in xs.iter().enumerate() {
        let labelled = j.is_multiple_of(step.max(1));
        if dense && !labelled {
            continue;
        }
        put!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{AXIS_LINE}\" stroke-width=\"1\"/>\n",
            f1(x),
            f1(bottom),
            f1(x),
            f1(bottom + if labelled { 6.0 } else { 3.0 })
        );
        if labelled {
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                f1(x),
                f1(bottom + 20.0),
                esc(labels.get(j).map_or("", String::as_str))
            );
        }
    }
    if let (Some(first), Some(last)) = (xs.first(), xs.last()) {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
            f1((first + last) / 2.0),
            f1(bottom + 42.0),
            esc(title)
        );
    }
}

/// Steps for thinning category labels: calendar-friendly counts of hours, days, weeks and months.
pub(super) const CATEGORY_STEPS: [usize; 22] = [
    1, 2, 3, 4, 6, 7, 12, 14, 24, 28, 48, 52, 91, 182, 364, 728, 1000, 2000, 5000, 10_000, 20_000,
    50_000,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_two_and_a_half_or_five() {
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(1.0, 10), 0.1);
        assert_eq!(nice_step(0.07, 5), 0.02);
        assert_eq!(nice_step(12_345.0, 6), 2500.0);
        assert_eq!(nice_step(3.0, 6), 0.5);
        assert_eq!(nice_step(0.0, 5), 1.0);
        assert_eq!(nice_step(f64::NAN, 5), 1.0);
    }

    #[test]
    fn nice_scales_include_zero_and_end_on_ticks() {
        let s = Linear::nice(3.0, 97.0, 5, 300.0, 100.0);
        assert_eq!((s.lo, s.hi, s.step), (0.0, 100.0, 20.0));
        assert_eq!(s.ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(s.px(0.0), 300.0);
        assert_eq!(s.px(50.0), 200.0);
        assert_eq!(s.px(1e9), 100.0);
        let s = Linear::nice(-430.0, 1210.0, 6, 300.0, 100.0);
        assert_eq!((s.lo, s.hi, s.step), (-500.0, 1500.0, 500.0));
        assert!(s.ticks().contains(&0.0));
        // No data, or one flat value: still a usable axis.
        let s = Linear::nice(0.0, 0.0, 5, 300.0, 100.0);
        assert_eq!((s.lo, s.hi), (0.0, 1.0));
        let s = Linear::nice(0.1 + 0.2, 0.3, 5, 300.0, 100.0);
        assert!(s.ticks().iter().all(|t| t.is_finite()));
        let below = Linear::nice(-0.3, 0.0, 3, 1.0, 0.0).ticks();
        assert_eq!((below.len(), below.last()), (4, Some(&0.0)));
    }

    #[test]
    fn points_and_bands() {
        let p = Points {
            left: 10.0,
            width: 100.0,
            n: 5,
        };
        assert_eq!((p.x(0), p.x(4), p.step()), (10.0, 110.0, 25.0));
        let p = Points {
            left: 10.0,
            width: 100.0,
            n: 1,
        };
        assert_eq!(p.x(0), 60.0);
        let b = Bands {
            left: 0.0,
            width: 100.0,
            n: 4,
            padding: 0.2,
        };
        assert_eq!(
            (b.step(), b.bandwidth(), b.x(1), b.mid(1)),
            (25.0, 20.0, 27.5, 37.5)
        );
    }

    #[test]
    fn labels_thin_out_to_allowed_steps() {
        assert_eq!(label_step(2, 30.0, 12.0, &[1, 7, 14]), 1);
        assert_eq!(label_step(10, 11.0, 12.0, &[1, 7, 14]), 7);
        assert_eq!(label_step(10, 1.0, 12.0, &[1, 7, 14]), 14);
        assert_eq!(label_step(10, 0.0, 12.0, &[1, 7, 14]), 1);
    }

    #[test]
    fn numbers() {
        assert_eq!(f1(-0.01), "0.0");
        assert_eq!(trim_num(2.5), "2.5");
        assert_eq!(trim_num(20.0), "20");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(pct(0.2345), "23.4%");
        assert_eq!(tick_label(1200.0, 200.0), "1,200");
        assert_eq!(tick_label(25_000.0, 5000.0), "25k");
        assert_eq!(tick_label(2_500_000.0, 500_000.0), "2.5M");
        assert_eq!(tick_label(-500.0, 250.0), "-500");
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(0.0, 0.05), "0");
        assert_eq!(exact(1234.0), "1,234");
        assert_eq!(exact(0.012346), "0.01235");
        assert_eq!(exact(1534.56), "1535");
        assert_eq!(exact(-2.5), "-2.5");
    }
}
