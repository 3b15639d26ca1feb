//! Line charts of any report kind: named series over period labels, with interval bands and incomplete periods
//! marked (trends, DAU/MAU).

use super::layout::{
    AXIS_TEXT, Frame, LegendEntry, Plot, Sample, WIDTH, band_run, dash_attr, marker, style,
};
use super::scale::{
    CATEGORY_STEPS, Linear, Points, axis_label, f1, label_step, value_text, x_axis, y_axis,
};
use super::text::{esc, text_width};
use super::{LineChart, extent};

/// Markers are drawn on every point only while points are at least this far apart; denser lines keep markers
/// for points a line cannot show (lone points) and for incomplete ones.
const MARKER_MIN_DX: f64 = 7.0;
/// The dash pattern of segments into an incomplete point.
const INCOMPLETE_DASH: &str = "2 4";

/// Draws `chart` as lines, one per series, in legend order.
///
/// A `None` value lifts the pen (a gap, never a zero). The y axis covers every value and band and always zero,
/// with nice ticks. Points of incomplete labels are hollow and the segment into them is dashed, and a legend row
/// says so.
pub fn lines(chart: &LineChart) -> String {
    let n = chart.labels.len();
    let frame = Frame::new(chart.title.clone(), &chart.definition, WIDTH);
    let is_incomplete = |j: usize| chart.incomplete.get(j).copied().unwrap_or(false);
    let any_incomplete = (0..n).any(is_incomplete);

    let (lo, hi) = extent(&chart.series, n);
    let mut ys = Linear::nice(lo, hi, 6, 0.0, 0.0);
    let y_text = |v: f64| axis_label(chart.format, v, ys.step);
    let labels_w = ys
        .ticks()
        .iter()
        .map(|&v| text_width(&y_text(v), 12.0))
        .fold(0.0, f64::max);
    let plot = Plot::beside_legend(
        &frame,
        labels_w,
        chart.series.len() + usize::from(any_incomplete),
    );
    (ys.px_lo, ys.px_hi) = (plot.bottom, plot.top);
    let xs = Points {
        left: plot.left,
        width: plot.width(),
        n,
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
        y_text,
        &chart.y_label,
    );
    let widest = chart
        .labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1);
    let step = label_step(widest, xs.step(), 12.0, &CATEGORY_STEPS);
    let x_at: Vec<f64> = (0..n).map(|j| xs.x(j)).collect();
    x_axis(
        &mut out,
        &x_at,
        &chart.labels,
        step,
        plot.bottom,
        &chart.x_label,
    );
    put!(out, "</g>\n");

    let has_points = chart
        .series
        .iter()
        .any(|s| s.values.iter().take(n).any(Option::is_some));
    if !has_points {
        plot.empty(&mut out, "No data in this window");
    }

    // Bands first, so every line and marker sits on top of every band.
    put!(out, "<g class=\"bands\" fill-opacity=\"0.14\">\n");
    for (i, s) in chart.series.iter().enumerate() {
        let Some(band) = &s.band else { continue };
        let mut d = String::new();
        let mut run: Vec<(f64, f64, f64)> = Vec::new();
        for j in 0..=n {
            let point = (j < n)
                .then(|| band.get(j).copied().flatten())
                .flatten()
                .filter(|(lo, hi)| lo.is_finite() && hi.is_finite());
            match point {
                Some((lo, hi)) => run.push((xs.x(j), ys.px(lo), ys.px(hi))),
                None => {
                    band_run(&mut d, &run);
                    run.clear();
                }
            }
        }
        if !d.is_empty() {
            put!(
                out,
                "<path class=\"band\" d=\"{}\" fill=\"{}\"/>\n",
                d.trim_end(),
                style(i).color
            );
        }
    }
    put!(out, "</g>\n");

    // Lines: complete segments solid (or in the series' dash), segments into an incomplete point dashed.
    put!(
        out,
        "<g class=\"lines\" fill=\"none\" stroke-width=\"2.2\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
    );
    for (i, s) in chart.series.iter().enumerate() {
        let st = style(i);
        let (mut solid, mut dashed) = (String::new(), String::new());
        let mut prev: Option<(usize, f64)> = None;
        // The label where the solid path's pen rests, to continue it without a move.
        let mut solid_end: Option<usize> = None;
        for j in 0..n {
            let Some(v) = s.value(j) else {
                prev = None;
                continue;
            };
            if let Some((pj, pv)) = prev {
                let (x0, y0, x1, y1) = (xs.x(pj), ys.px(pv), xs.x(j), ys.px(v));
                if is_incomplete(j) || is_incomplete(pj) {
                    put!(dashed, "M{} {} L{} {} ", f1(x0), f1(y0), f1(x1), f1(y1));
                } else {
                    if solid_end != Some(pj) {
                        put!(solid, "M{} {} ", f1(x0), f1(y0));
                    }
                    put!(solid, "L{} {} ", f1(x1), f1(y1));
                    solid_end = Some(j);
                }
            }
            prev = Some((j, v));
        }
        if !solid.is_empty() {
            put!(
                out,
                "<path class=\"line\" d=\"{}\" stroke=\"{}\"{}><title>{}</title></path>\n",
                solid.trim_end(),
                st.color,
                dash_attr(st.dash),
                esc(&s.name)
            );
        }
        if !dashed.is_empty() {
            put!(
                out,
                "<path class=\"line incomplete\" d=\"{}\" stroke=\"{}\"{}/>\n",
                dashed.trim_end(),
                st.color,
                dash_attr(INCOMPLETE_DASH)
            );
        }
    }
    put!(out, "</g>\n");

    // Markers with tooltips: filled for complete points, hollow for incomplete ones.
    let dense = xs.step() < MARKER_MIN_DX && n > 1;
    for (i, s) in chart.series.iter().enumerate() {
        let st = style(i);
        let (mut filled, mut hollow) = (String::new(), String::new());
        for j in 0..n {
            let Some(v) = s.value(j) else { continue };
            let lone = s.value(j.wrapping_sub(1)).is_none() && s.value(j + 1).is_none();
            if dense && !lone && !is_incomplete(j) {
                continue;
            }
            let band = s
                .band
                .as_ref()
                .and_then(|b| b.get(j).copied().flatten())
                .map(|(lo, hi)| {
                    format!(
                        " [{}–{}]",
                        value_text(chart.format, lo),
                        value_text(chart.format, hi)
                    )
                })
                .unwrap_or_default();
            let tip = format!(
                "{}, {}: {}{band}{}",
                s.name,
                chart.labels[j],
                value_text(chart.format, v),
                if is_incomplete(j) { ", incomplete" } else { "" }
            );
            let target = if is_incomplete(j) {
                &mut hollow
            } else {
                &mut filled
            };
            marker(target, st.shape, xs.x(j), ys.px(v), 3.2, &esc(&tip));
        }
        if !filled.is_empty() {
            put!(
                out,
                "<g class=\"markers\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\">\n{filled}</g>\n",
                st.color
            );
        }
        if !hollow.is_empty() {
            put!(
                out,
                "<g class=\"markers incomplete\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1.6\">\n{hollow}</g>\n",
                st.color
            );
        }
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
    let legend = plot.legend("Series", Sample::Line);
    legend.draw(&mut out, &entries);
    if any_incomplete {
        // A legend row of its own: a dashed segment into a hollow marker.
        let (lx, y) = (legend.x, legend.row_y(entries.len()));
        put!(
            out,
            "<g class=\"legend-incomplete\" font-size=\"12\" fill=\"{AXIS_TEXT}\">\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{AXIS_TEXT}\" stroke-width=\"2.2\"{}/>\n<circle cx=\"{}\" cy=\"{}\" r=\"3.2\" fill=\"#ffffff\" stroke=\"{AXIS_TEXT}\" stroke-width=\"1.6\"/>\n<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">incomplete: can still change</text>\n</g>\n",
            f1(lx),
            f1(y),
            f1(lx + 18.0),
            f1(y),
            dash_attr(INCOMPLETE_DASH),
            f1(lx + 18.0),
            f1(y),
            f1(lx + 30.0),
            f1(y)
        );
    }

    frame.close(&mut out, &chart.footer, WIDTH, plot.height);
    out
}
