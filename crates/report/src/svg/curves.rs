//! Retention curves: the mean rate of each column, one line per project and breakdown value, with 95% bands.

use super::cohort::{self, series_name};
use super::layout::{
    AXIS_LINE, AXIS_TEXT, BELOW_PLOT, GRID, HEIGHT, LEGEND_W, Legend, LegendEntry, MIN_PLOT_H,
    Sample, Style, WIDTH, band_run, dash_attr, marker, style,
};
use super::scale::{Linear, Points, f1, group, pct, trim_num};
use super::text::{ellipsize, esc};
use crate::retention::{Mean, RetentionReport};

/// Retention curves: one line per project and breakdown value, with interval bands.
///
/// The y axis shows the mean rate of each column (retention.md §12.3) from 0 to a rounded maximum above the data.
/// Column 0 (always 100%) is left out, so the curves after it use the whole height; the x axis title says so. A
/// column without a mean (no complete row) is a gap in the line, never a zero. Series are ordered by their last
/// value, highest first, in the legend and in the palette (so curves that end close together get distinct
/// colours), and each line is labelled at its end.
pub fn curves(r: &RetentionReport) -> String {
    let n_cols = r.columns.len();
    let mut order: Vec<(usize, Option<f64>)> = r
        .mean
        .iter()
        .enumerate()
        .map(|(i, m)| (i, last_value(m)))
        .collect();
    order.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.0.cmp(&b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    let series: Vec<Series<'_>> = order
        .iter()
        .enumerate()
        .map(|(rank, &(i, _))| Series {
            mean: &r.mean[i],
            name: series_name(&r.mean[i]),
            style: style(rank),
        })
        .collect();
    let frame = cohort::frame(r, "", WIDTH);

    // The y scale: full 0–100%, or zoomed when every rate after column 0 is small.
    let top_after_0 = series
        .iter()
        .flat_map(|s| {
            (1..n_cols).filter_map(|j| {
                let rate = s.mean.rates.get(j).copied().flatten()?;
                let hi = s.mean.ci95.get(j).copied().flatten().map_or(rate, |c| c.1);
                Some(rate.max(hi))
            })
        })
        .fold(0.0_f64, f64::max);
    let zoom = (n_cols > 1).then(|| zoom_scale(top_after_0));
    let (y_max, y_step) = zoom.unwrap_or((1.0, 0.1));
    let first_col = usize::from(zoom.is_some());

    // Layout: plot on the left, the lines' end labels, legend on the right, footer at the bottom.
    let left = 72.0;
    let right = WIDTH - LEGEND_W - 16.0 - END_LABEL_W;
    let top = frame.bottom + 20.0;
    let legend_h = Legend::height(series.len());
    let height = (top + legend_h.max(MIN_PLOT_H) + BELOW_PLOT)
        .max(HEIGHT)
        .round();
    let bottom = height - BELOW_PLOT;
    let pw = right - left;
    let ph = bottom - top;
    let xs = Points {
        left,
        width: pw,
        n: n_cols.saturating_sub(first_col),
    };
    let dx = xs.step();
    let x_of = |j: usize| xs.x(j - first_col);
    let ys = Linear::new(0.0, y_max, y_step, bottom, top);
    let y_of = |v: f64| ys.px(v);

    let mut out = String::new();
    frame.open(&mut out, WIDTH, height);
    frame.header(&mut out);

    // Gridlines and y ticks.
    put!(
        out,
        "<g class=\"axes\" font-size=\"12\" fill=\"{AXIS_TEXT}\">\n"
    );
    for (t, v) in ys.ticks().into_iter().enumerate() {
        let y = y_of(v);
        put!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>\n",
            f1(left),
            f1(y),
            f1(right),
            f1(y),
            if t == 0 { AXIS_LINE } else { GRID }
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}%</text>\n",
            f1(left - 8.0),
            f1(y),
            trim_num(v * 100.0)
        );
    }
    let y_label = "Mean retention, % of cohort".to_string();
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\" font-size=\"13\">{}</text>\n",
        f1(18.0),
        f1(top + ph / 2.0),
        f1(18.0),
        f1(top + ph / 2.0),
        esc(&y_label)
    );

    // X ticks: a short mark at every column, a label and gridline at every `step`.
    let step = cohort::tick_step(r, dx, 12.0);
    for j in first_col..n_cols {
        let x = x_of(j);
        let labelled = j.is_multiple_of(step) || j == first_col;
        if labelled && j != first_col {
            put!(
                out,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\n",
                f1(x),
                f1(top),
                f1(x),
                f1(bottom)
            );
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
                esc(cohort::short_label(r, j))
            );
        }
    }
    let x_label = match zoom {
        Some(_) => format!(
            "{} since cohort start ({} 0 = 100%, not drawn)",
            cohort::period_plural(r.params.period),
            r.params.period.title()
        ),
        None => format!(
            "{} since cohort start",
            cohort::period_plural(r.params.period)
        ),
    };
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
        f1(left + pw / 2.0),
        f1(bottom + 42.0),
        esc(&x_label)
    );
    put!(out, "</g>\n");

    if series.is_empty() {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" fill=\"{AXIS_TEXT}\">No cohorts in this window</text>\n",
            f1(left + pw / 2.0),
            f1(top + ph / 2.0)
        );
    }

    // Bands first, so every line and marker sits on top of every band.
    put!(out, "<g class=\"bands\" fill-opacity=\"0.14\">\n");
    for s in &series {
        let mut d = String::new();
        let mut run: Vec<(f64, f64, f64)> = Vec::new();
        for j in first_col..=n_cols {
            let point = (j < n_cols)
                .then(|| {
                    let rate = s.mean.rates.get(j).copied().flatten()?;
                    let (lo, hi) = s
                        .mean
                        .ci95
                        .get(j)
                        .copied()
                        .flatten()
                        .unwrap_or((rate, rate));
                    Some((x_of(j), y_of(lo), y_of(hi)))
                })
                .flatten();
            match point {
                Some(p) => run.push(p),
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
                s.style.color
            );
        }
    }
    put!(out, "</g>\n");

    // Lines: one path per series; a missing mean lifts the pen.
    put!(
        out,
        "<g class=\"lines\" fill=\"none\" stroke-width=\"2.2\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
    );
    for s in &series {
        let mut d = String::new();
        let mut pen_down = false;
        for j in first_col..n_cols {
            match s.mean.rates.get(j).copied().flatten() {
                Some(v) => {
                    put!(
                        d,
                        "{}{} {} ",
                        if pen_down { "L" } else { "M" },
                        f1(x_of(j)),
                        f1(y_of(v))
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        put!(
            out,
            "<path class=\"line\" d=\"{}\" stroke=\"{}\"{}><title>{}</title></path>\n",
            d.trim_end(),
            s.style.color,
            dash_attr(s.style.dash),
            esc(&s.name)
        );
    }
    put!(out, "</g>\n");

    // Markers, each with a tooltip giving the exact numbers.
    for s in &series {
        put!(
            out,
            "<g class=\"markers\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\">\n",
            s.style.color
        );
        for j in first_col..n_cols {
            let Some(v) = s.mean.rates.get(j).copied().flatten() else {
                continue;
            };
            let ci = match s.mean.ci95.get(j).copied().flatten() {
                Some((lo, hi)) => format!(" [{}–{}]", pct(lo), pct(hi)),
                None => String::new(),
            };
            let tip = format!(
                "{}, {}: {}{ci}, {} rows, {} persons",
                s.name,
                r.columns.get(j).map_or("", String::as_str),
                pct(v),
                s.mean.rows_used.get(j).copied().unwrap_or(0),
                group(s.mean.persons.get(j).copied().unwrap_or(0))
            );
            marker(&mut out, s.style.shape, x_of(j), y_of(v), 3.2, &esc(&tip));
        }
        put!(out, "</g>\n");
    }

    // End labels: each line's name and last value beside its last point, nudged apart so none overlap.
    let mut ends: Vec<(f64, f64, &Series<'_>, f64)> = series
        .iter()
        .filter_map(|s| {
            let j = (first_col..n_cols)
                .rev()
                .find(|&j| s.mean.rates.get(j).copied().flatten().is_some())?;
            let v = s.mean.rates.get(j).copied().flatten()?;
            Some((x_of(j), y_of(v), s, v))
        })
        .collect();
    let placed = spread(
        &ends.iter().map(|e| e.1).collect::<Vec<_>>(),
        13.0,
        top,
        bottom,
    );
    put!(out, "<g class=\"end-labels\" font-size=\"11\">\n");
    for (e, y) in ends.iter_mut().zip(placed) {
        let (x, y0, s, v) = *e;
        put!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\" stroke-opacity=\"0.6\"/>\n",
            f1(x + 4.0),
            f1(y0),
            f1(right + 8.0),
            f1(y),
            s.style.color
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{}\" dominant-baseline=\"middle\">{} <tspan fill=\"{AXIS_TEXT}\">{}</tspan></text>\n",
            f1(right + 11.0),
            f1(y),
            s.style.color,
            esc(&ellipsize(&s.name, 11)),
            pct(v)
        );
    }
    put!(out, "</g>\n");

    // Legend: sample, name, cohort size, in the order of the curves' last values.
    let entries: Vec<LegendEntry<'_>> = series
        .iter()
        .map(|s| LegendEntry {
            name: &s.name,
            style: s.style,
            value: Some(group(s.mean.persons.first().copied().unwrap_or(0))),
        })
        .collect();
    Legend {
        x: right + 28.0,
        right: WIDTH - 16.0,
        top,
        heading: "Series",
        value_heading: Some("Cohort size"),
        sample: Sample::Line,
    }
    .draw(&mut out, &entries);

    frame.close(&mut out, &cohort::footer(r), WIDTH, height);
    out
}

/// Room right of the plot for the lines' end labels.
const END_LABEL_W: f64 = 104.0;

/// A series' last mean rate after column 0 (column 0 when it has no other).
fn last_value(m: &Mean) -> Option<f64> {
    m.rates
        .iter()
        .skip(1)
        .rev()
        .find_map(|v| *v)
        .or(m.rates.first().copied().flatten())
}

/// Label positions near `want` (any order), at least `gap` apart and inside [top, bottom], moved as little as a
/// simple sweep allows: down from the top, then back up from the bottom.
pub(super) fn spread(want: &[f64], gap: f64, top: f64, bottom: f64) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..want.len()).collect();
    idx.sort_by(|&a, &b| want[a].total_cmp(&want[b]).then(a.cmp(&b)));
    let mut ys: Vec<f64> = idx.iter().map(|&i| want[i]).collect();
    for k in 0..ys.len() {
        let floor = if k == 0 { top } else { ys[k - 1] + gap };
        ys[k] = ys[k].max(floor);
    }
    for k in (0..ys.len()).rev() {
        let ceil = if k + 1 == ys.len() {
            bottom
        } else {
            ys[k + 1] - gap
        };
        ys[k] = ys[k].min(ceil);
    }
    let mut out = vec![0.0; want.len()];
    for (k, &i) in idx.iter().enumerate() {
        out[i] = ys[k];
    }
    out
}

#[derive(Debug)]
struct Series<'a> {
    mean: &'a Mean,
    name: String,
    style: Style,
}

/// The rounded y maximum and tick step for an axis whose data (after column 0) reach `top`.
fn zoom_scale(top: f64) -> (f64, f64) {
    const NICE: [(f64, f64); 15] = [
        (0.01, 0.002),
        (0.02, 0.005),
        (0.025, 0.005),
        (0.05, 0.01),
        (0.08, 0.02),
        (0.10, 0.02),
        (0.15, 0.03),
        (0.20, 0.05),
        (0.25, 0.05),
        (0.30, 0.05),
        (0.40, 0.1),
        (0.50, 0.1),
        (0.60, 0.1),
        (0.80, 0.2),
        (1.00, 0.2),
    ];
    NICE.into_iter()
        .find(|(max, _)| top <= *max + 1e-9)
        .unwrap_or((1.0, 0.2))
}
