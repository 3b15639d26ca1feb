//! SVG charts. Retention has two: the mean curves with their 95% bands ([`curves`]) and the cohort triangle as a
//! heatmap ([`heatmap`]).
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

mod cohort;
mod curves;
mod heatmap;
mod layout;
mod scale;
mod text;

#[cfg(test)]
mod tests;

pub use curves::curves;
pub use heatmap::heatmap;
pub use layout::Footer;

use crate::retention::RetentionReport;

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
        ChartKind::Heatmap => heatmap(r),
    }
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
