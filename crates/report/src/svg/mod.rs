//! SVG charts. Retention has two: the mean curves with their 95% bands ([`curves`]) and the cohort triangle as a
//! heatmap ([`heatmap`]). Other report kinds describe their chart as plain data, a [`LineChart`] or a
//! [`BarChart`] over period labels, and draw it with [`lines`] or [`bars`].
//!
//! The SVG text is written by hand so the report crate needs no drawing dependency. Output is deterministic: the
//! same report gives the same bytes, because everything is iterated in report order and every coordinate is
//! printed with one decimal.
//!
//! Shared pieces live in their own modules, so a new chart needs only its own: `text` (escaping, width estimates,
//! wrapping), `scale` (linear, point and band scales, nice ticks, number formats) and `layout` (canvas, the frame
//! with title, definition and provenance footer, the legend, series styles and markers).

/// Writes into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        {
            use std::fmt::Write as _;
            $out.write_fmt(format_args!($($arg)*)).expect("writing to a String cannot fail")
        }
    };
}

mod bars;
mod cohort;
mod curves;
mod funnel;
mod heatmap;
mod layout;
mod lines;
mod scale;
pub(crate) mod text;

#[cfg(test)]
pub(crate) mod tests;

pub use bars::bars;
pub use curves::curves;
pub use funnel::funnel;
pub use heatmap::heatmap;
pub use layout::Footer;
pub use lines::lines;

use crate::retention::RetentionReport;

/// Adds the report's notes under a chart's footer (the canvas grows to hold them), so a chart seen on its own says
/// what its reader must know, such as a window that holds no data.
pub fn with_notes(svg: String, notes: &[String]) -> String {
    if notes.is_empty() {
        return svg;
    }
    let head_end = svg.find('>').unwrap_or(0);
    let head = &svg[..head_end];
    let number = |attr: &str| -> Option<f64> {
        let start = head.find(attr)? + attr.len();
        let end = head[start..].find('"')? + start;
        head[start..end].parse().ok()
    };
    let (Some(width), Some(height)) = (number("width=\""), number("height=\"")) else {
        return svg;
    };
    let lines: Vec<String> = notes
        .iter()
        .flat_map(|n| text::wrap(n, text::chars_within(width - 48.0, 11.5)))
        .collect();
    let grown = height + 8.0 + lines.len() as f64 * 16.0;
    let mut out = svg.replacen(
        &format!(
            "height=\"{}\" viewBox=\"0 0 {} {}\"",
            scale::f1(height),
            scale::f1(width),
            scale::f1(height)
        ),
        &format!(
            "height=\"{}\" viewBox=\"0 0 {} {}\"",
            scale::f1(grown),
            scale::f1(width),
            scale::f1(grown)
        ),
        1,
    );
    // The white background grows with the canvas.
    out = out.replacen(
        &format!(
            "<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
            scale::f1(width),
            scale::f1(height)
        ),
        &format!(
            "<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
            scale::f1(width),
            scale::f1(grown)
        ),
        1,
    );
    let mut block = String::from("<g class=\"notes\" font-size=\"11.5\" fill=\"#a04000\">\n");
    for (i, line) in lines.iter().enumerate() {
        put!(
            block,
            "<text x=\"24\" y=\"{}\">{}</text>\n",
            scale::f1(height + 12.0 + i as f64 * 16.0),
            text::esc(line)
        );
    }
    block.push_str("</g>\n");
    match out.rfind("</svg>") {
        Some(at) => out.insert_str(at, &block),
        None => out.push_str(&block),
    }
    out
}

/// Which chart [`chart`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// [`curves`]: mean retention per column, one line per project and breakdown value.
    Curves,
    /// [`heatmap`]: every cohort row as a coloured triangle.
    Heatmap,
}

/// Draws `kind` of chart for `r`.
pub fn chart(r: &RetentionReport, kind: ChartKind) -> String {
    match kind {
        ChartKind::Curves => curves(r),
        ChartKind::Heatmap => heatmap(r, None),
    }
}

/// One named series of a [`LineChart`] or [`BarChart`]: a value per label.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The legend name, such as `lanting · gpt-4o`.
    pub name: String,
    /// One value per label; `None` is a gap (no line through it, no bar), never a zero.
    pub values: Vec<Option<f64>>,
    /// An interval per label, such as a 95% confidence interval: a shaded band around a line, a whisker on a
    /// grouped bar (stacked bars leave it out).
    pub band: Option<Vec<Option<(f64, f64)>>>,
}

/// How values read on the axis and in tooltips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ValueFormat {
    /// Plain numbers: counts grouped by thousands, `12k` and `1.5M` on the axis, four significant digits for
    /// fractions.
    #[default]
    Number,
    /// Shares from 0 to 1, printed as percentages.
    Percent,
}

/// A line chart: several named series over a category x axis of period labels.
///
/// Points whose label is marked incomplete (the period has not ended at `as_of`, so the value can still change)
/// are hollow, and the segment into them is dashed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    /// The chart title, such as `Daily active persons, UTC`.
    pub title: String,
    /// The report's definition sentence, drawn under the title.
    pub definition: String,
    /// The x categories in order, such as period starts (`2025-01-06`).
    pub labels: Vec<String>,
    /// The x axis title, such as `Day (UTC)`.
    pub x_label: String,
    /// The y axis title, such as `Persons`.
    pub y_label: String,
    /// The lines, in legend order.
    pub series: Vec<Series>,
    /// Per label, whether its values are incomplete; missing entries are complete.
    pub incomplete: Vec<bool>,
    /// How values are printed.
    pub format: ValueFormat,
    /// The provenance line.
    pub footer: Footer,
}

/// One series of a [`FunnelChart`]: per step, the persons, the share of step 1 with its interval, and the median
/// time from the step before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelSeries {
    /// The legend name.
    pub name: String,
    /// Persons per step.
    pub counts: Vec<u64>,
    /// Share of step 1 per step.
    pub rates: Vec<Option<f64>>,
    /// The share's 95% interval per step.
    pub bands: Vec<Option<(f64, f64)>>,
    /// Median seconds from the step before, per step.
    pub median_s: Vec<Option<f64>>,
}

/// A funnel: one row per step, a horizontal bar per series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelChart {
    /// The chart title.
    pub title: String,
    /// The report's definition sentence, drawn under the title.
    pub definition: String,
    /// Step labels.
    pub steps: Vec<String>,
    /// The series, in legend order.
    pub series: Vec<FunnelSeries>,
    /// The provenance line.
    pub footer: Footer,
}

/// Bars side by side per label, or stacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BarMode {
    /// One bar per series in each label's slot.
    #[default]
    Grouped,
    /// One bar per label: positive values stacked upwards from zero in series order, negative values stacked
    /// downwards (lifecycle's dormant persons).
    Stacked,
}

/// A bar chart over a category x axis of period labels; values may be negative and are then drawn below the
/// zero line.
///
/// Bars of labels marked incomplete are drawn faded with a dashed outline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarChart {
    /// The chart title.
    pub title: String,
    /// The report's definition sentence, drawn under the title.
    pub definition: String,
    /// The x categories in order.
    pub labels: Vec<String>,
    /// The x axis title.
    pub x_label: String,
    /// The y axis title.
    pub y_label: String,
    /// The bar series, in legend (and stacking) order.
    pub series: Vec<Series>,
    /// Grouped or stacked.
    pub mode: BarMode,
    /// Per label, whether its values are incomplete; missing entries are complete.
    pub incomplete: Vec<bool>,
    /// How values are printed.
    pub format: ValueFormat,
    /// The provenance line.
    pub footer: Footer,
}

impl Series {
    /// The finite value at label `j`.
    fn value(&self, j: usize) -> Option<f64> {
        self.values
            .get(j)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
    }
}

/// The smallest and largest value or band end of the first `n` labels (0 and 0 when there are none).
fn extent(series: &[Series], n: usize) -> (f64, f64) {
    let mut lo = 0.0_f64;
    let mut hi = 0.0_f64;
    for s in series {
        let band = s.band.iter().flat_map(|b| b.iter().take(n).flatten());
        let values = s.values.iter().take(n).flatten().copied();
        for v in values.chain(band.flat_map(|&(a, b)| [a, b])) {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    (lo, hi)
}
