//! Bar charts of any report kind: grouped bars (stickiness, growth milestones side by side) or stacked bars with
//! negative values below the zero line (lifecycle's dormant persons).

use super::layout::{AXIS_TEXT, Frame, LegendEntry, Plot, Sample, TEXT, WIDTH, style};
use super::scale::{
    Bands, CATEGORY_STEPS, Linear, axis_label, f1, label_step, value_text, x_axis, y_axis,
};
use super::text::{esc, text_width};
use super::{BarChart, BarMode, Series, extent};

/// The share of each label's slot left empty between neighbouring slots.
const PADDING: f64 = 0.24;

/// Draws `chart` as bars.
///
/// Grouped bars stand side by side in each label's slot, with a whisker for the series' band; stacked bars pile
/// positive values upwards and negative values downwards from zero, in series order. A `None` value draws no bar.
/// Bars of incomplete labels are faded with a dashed outline, and a legend row says so.
pub fn bars(chart: &BarChart) -> String {
    let n = chart.labels.len();
    let frame = Frame::new(chart.title.clone(), &chart.definition, WIDTH);
    let is_incomplete = |j: usize| chart.incomplete.get(j).copied().unwrap_or(false);
    let any_incomplete = (0..n).any(is_incomplete);

    let (lo, hi) = match chart.mode {
        BarMode::Grouped => extent(&chart.series, n),
        BarMode::Stacked => stacked_extent(&chart.series, n),
    };
    let mut ys = Linear::nice(lo, hi, 6, 0.0, 0.0);
    let labels_w = ys
        .ticks()
        .iter()
        .map(|&v| text_width(&axis_label(chart.format, v, ys.step), 12.0))
        .fold(0.0, f64::max);
    let plot = Plot::beside_legend(
        &frame,
        labels_w,
        chart.series.len() + usize::from(any_incomplete),
    );
    (ys.px_lo, ys.px_hi) = (plot.bottom, plot.top);
    let xs = Bands {
        left: plot.left,
        width: plot.width(),
        n,
        padding: PADDING,
    };

    let mut out = String::new();
    frame.open(&mut out, WIDTH, plot.height);
    frame.header(&mut out);

    put!(
        out,
        "<g class=\"axes\" font-size=\"12\" fill=\"{AXIS_TEXT}\">\n"
    );
    y_axis(
        &mut out,
        &ys,
        (plot.left, plot.right),
        |v| axis_label(chart.format, v, ys.step),
        &chart.y_label,
    );
    let widest = chart
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1);
    let step = label_step(widest, xs.step(), 12.0, &CATEGORY_STEPS);
    let x_at: Vec<f64> = (0..n).map(|j| xs.mid(j)).collect();
    x_axis(
        &mut out,
        &x_at,
        &chart.labels,
        step,
        plot.bottom,
        &chart.x_label,
    );
    put!(out, "</g>\n");

    let has_bars = chart
        .series
        .iter()
        .any(|s| (0..n).any(|j| s.value(j).is_some()));
    if !has_bars {
        plot.empty(&mut out, "No data in this window");
    }

    let zero = ys.px(0.0);
    let k = chart.series.len().max(1);
    // Per label, how far the stacks above and below zero have grown.
    let mut up = vec![0.0_f64; n];
    let mut down = vec![0.0_f64; n];
    for (i, s) in chart.series.iter().enumerate() {
        let color = style(i).color;
        put!(out, "<g class=\"bars\" fill=\"{color}\">\n");
        let mut whiskers = String::new();
        for j in 0..n {
            let Some(v) = s.value(j) else { continue };
            let (x, w, from, to) = match chart.mode {
                BarMode::Grouped => {
                    let w = xs.bandwidth() / k as f64;
                    (xs.x(j) + i as f64 * w, w, 0.0, v)
                }
                BarMode::Stacked => {
                    let acc = if v < 0.0 { &mut down[j] } else { &mut up[j] };
                    let from = *acc;
                    *acc += v;
                    (xs.x(j), xs.bandwidth(), from, *acc)
                }
            };
            let (y0, y1) = (ys.px(from), ys.px(to));
            let faded = if is_incomplete(j) {
                format!(" fill-opacity=\"0.45\" stroke=\"{color}\" stroke-dasharray=\"3 2\"")
            } else {
                String::new()
            };
            let tip = format!(
                "{}, {}: {}{}",
                s.name,
                chart.labels[j],
                value_text(chart.format, v),
                if is_incomplete(j) { ", incomplete" } else { "" }
            );
            put!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"{faded}><title>{}</title></rect>\n",
                f1(x),
                f1(y0.min(y1)),
                f1(w),
                f1((y1 - y0).abs()),
                esc(&tip)
            );
            if chart.mode == BarMode::Grouped
                && let Some((lo, hi)) = s
                    .band
                    .as_ref()
                    .and_then(|b| b.get(j).copied().flatten())
                    .filter(|(lo, hi)| lo.is_finite() && hi.is_finite())
            {
                let cx = x + w / 2.0;
                let cap = (w * 0.3).min(4.0);
                put!(
                    whiskers,
                    "M{} {} L{} {} M{} {} L{} {} M{} {} L{} {} ",
                    f1(cx),
                    f1(ys.px(lo)),
                    f1(cx),
                    f1(ys.px(hi)),
                    f1(cx - cap),
                    f1(ys.px(lo)),
                    f1(cx + cap),
                    f1(ys.px(lo)),
                    f1(cx - cap),
                    f1(ys.px(hi)),
                    f1(cx + cap),
                    f1(ys.px(hi))
                );
            }
        }
        put!(out, "</g>\n");
        if !whiskers.is_empty() {
            put!(
                out,
                "<path class=\"whiskers\" d=\"{}\" fill=\"none\" stroke=\"{TEXT}\" stroke-width=\"1\" stroke-opacity=\"0.7\"/>\n",
                whiskers.trim_end()
            );
        }
    }
    // The zero line on top of the bars, so bars below it read as negative.
    if has_bars {
        put!(
            out,
            "<line class=\"zero\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{TEXT}\" stroke-width=\"1.2\"/>\n",
            f1(plot.left),
            f1(zero),
            f1(plot.right),
            f1(zero)
        );
    }

    let entries: Vec<LegendEntry<'_>> = chart
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            name: &s.name,
            style: style(i),
            value: None,
        })
        .collect();
    let legend = plot.legend("Series", Sample::Swatch);
    legend.draw(&mut out, &entries);
    if any_incomplete {
        let (lx, y) = (legend.x, legend.row_y(entries.len()));
        put!(
            out,
            "<g class=\"legend-incomplete\" font-size=\"12\" fill=\"{AXIS_TEXT}\">\n<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{AXIS_TEXT}\" fill-opacity=\"0.45\" stroke=\"{AXIS_TEXT}\" stroke-dasharray=\"3 2\"/>\n<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">incomplete: can still change</text>\n</g>\n",
            f1(lx + 5.0),
            f1(y - 8.0),
            f1(lx + 30.0),
            f1(y)
        );
    }

    frame.close(&mut out, &chart.footer, WIDTH, plot.height);
    out
}

/// The lowest negative stack and the highest positive stack of the first `n` labels.
fn stacked_extent(series: &[Series], n: usize) -> (f64, f64) {
    (0..n).fold((0.0_f64, 0.0_f64), |(lo, hi), j| {
        let (mut down, mut up) = (0.0, 0.0);
        for v in series.iter().filter_map(|s| s.value(j)) {
            if v < 0.0 {
                down += v;
            } else {
                up += v;
            }
        }
        (lo.min(down), hi.max(up))
    })
}
