//! SVG charts of a retention report: the mean curves with their 95% bands, and the cohort triangle as a heatmap.
//!
//! The SVG text is written by hand so the report crate needs no drawing dependency. Output is deterministic: the
//! same report gives the same bytes, because everything is iterated in report order and every coordinate is
//! printed with one decimal.

use std::fmt::Write as _;

use crate::params::{Period, RetentionType};
use crate::retention::{Mean, RetentionReport, Row};

/// Writes into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        $out.write_fmt(format_args!($($arg)*)).expect("writing to a String cannot fail")
    };
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
        ChartKind::Heatmap => heatmap(r),
    }
}

/// Retention curves: one line per project and breakdown value, with interval bands.
///
/// The y axis shows the mean rate of each column (retention.md §12.3) from 0 to 100%. When every rate after
/// column 0 stays below 20%, the axis is zoomed to a rounded maximum and column 0 (always 100%) is left out; both
/// axis labels say so. A column without a mean (no complete row) is a gap in the line, never a zero.
pub fn curves(r: &RetentionReport) -> String {
    let series: Vec<Series<'_>> = r
        .mean
        .iter()
        .enumerate()
        .map(|(i, m)| Series::new(m, i))
        .collect();
    let n_cols = r.columns.len();
    let head = Header::new(r, "", WIDTH);

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
    let zoom = (n_cols > 1 && top_after_0 < ZOOM_BELOW).then(|| zoom_scale(top_after_0));
    let (y_max, y_step) = zoom.unwrap_or((1.0, 0.1));
    let first_col = usize::from(zoom.is_some());

    // Layout: plot on the left, legend on the right, footer at the bottom.
    let legend_w = 240.0;
    let left = 72.0;
    let right = WIDTH - legend_w - 16.0;
    let top = head.bottom + 20.0;
    let legend_h = 24.0 + series.len() as f64 * LEGEND_ROW;
    let height = (top + legend_h.max(MIN_PLOT_H) + 84.0).max(HEIGHT).round();
    let bottom = height - 84.0;
    let pw = right - left;
    let ph = bottom - top;
    let shown = n_cols.saturating_sub(first_col);
    let dx = if shown > 1 {
        pw / (shown - 1) as f64
    } else {
        0.0
    };
    let x_of = |j: usize| {
        if shown > 1 {
            left + (j - first_col) as f64 * dx
        } else {
            left + pw / 2.0
        }
    };
    let y_of = |v: f64| bottom - (v / y_max).clamp(0.0, 1.0) * ph;

    let mut out = String::new();
    open(&mut out, WIDTH, height, &head);
    head.draw(&mut out);

    // Gridlines and y ticks.
    put!(
        out,
        "<g class=\"axes\" font-size=\"12\" fill=\"{AXIS_TEXT}\">\n"
    );
    let n_ticks = (y_max / y_step).round() as usize;
    for t in 0..=n_ticks {
        let v = y_step * t as f64;
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
    let y_label = match zoom {
        Some(_) => format!(
            "Mean retention, % of cohort (zoomed to 0–{}%)",
            trim_num(y_max * 100.0)
        ),
        None => "Mean retention, % of cohort".to_string(),
    };
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
    let step = tick_step(r, dx, 12.0);
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
                esc(short_label(r, j))
            );
        }
    }
    let x_label = match zoom {
        Some(_) => format!(
            "{} since cohort start ({} 0 = 100%, not drawn)",
            period_plural(r.params.period),
            r.params.period.title()
        ),
        None => format!("{} since cohort start", period_plural(r.params.period)),
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
                s.color
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
            s.color,
            dash_attr(s.dash),
            esc(&s.name)
        );
    }
    put!(out, "</g>\n");

    // Markers, each with a tooltip giving the exact numbers.
    for s in &series {
        put!(
            out,
            "<g class=\"markers\" fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\">\n",
            s.color
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
            marker(&mut out, s.shape, x_of(j), y_of(v), 3.2, &esc(&tip));
        }
        put!(out, "</g>\n");
    }

    // Legend: sample, name, cohort size.
    let lx = right + 28.0;
    let lr = WIDTH - 16.0;
    put!(
        out,
        "<g class=\"legend\" font-size=\"12\" fill=\"{TEXT}\">\n"
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"{AXIS_TEXT}\">Series</text>\n",
        f1(lx),
        f1(top + 4.0)
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{AXIS_TEXT}\">Cohort size</text>\n",
        f1(lr),
        f1(top + 4.0)
    );
    let name_chars = ((lr - lx - 30.0 - 64.0) / (12.0 * CHAR_W)).floor() as usize;
    for (i, s) in series.iter().enumerate() {
        let y = top + 24.0 + i as f64 * LEGEND_ROW;
        put!(
            out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2.2\"{}/>\n",
            f1(lx),
            f1(y),
            f1(lx + 22.0),
            f1(y),
            s.color,
            dash_attr(s.dash)
        );
        put!(
            out,
            "<g fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\">\n",
            s.color
        );
        marker(&mut out, s.shape, lx + 11.0, y, 3.6, "");
        put!(out, "</g>\n");
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">{}<title>{}</title></text>\n",
            f1(lx + 30.0),
            f1(y),
            esc(&ellipsize(&s.name, name_chars)),
            esc(&s.name)
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
            f1(lr),
            f1(y),
            group(s.mean.persons.first().copied().unwrap_or(0))
        );
    }
    put!(out, "</g>\n");

    footer(&mut out, r, WIDTH, height);
    put!(out, "</svg>\n");
    out
}

/// The cohort triangle as a heatmap, one block per project and breakdown value, stacked vertically.
///
/// Rows are cohorts (start date and size), columns are periods. Cells are coloured by rate on a sequential scale
/// that saturates at a rounded high percentile of the rates after column 0, so a few tiny cohorts cannot wash out
/// the rest. Column 0 (always 100%) is grey. Incomplete cells are hatched, cells outside the window are left empty.
pub fn heatmap(r: &RetentionReport) -> String {
    let n_cols = r.columns.len();
    let head = Header::new(r, " by cohort", WIDTH);
    let scale = heat_scale(&r.rows);

    let left = 24.0;
    let date_w = if r.params.period == Period::Hour {
        84.0
    } else {
        70.0
    };
    let label_w = date_w + 64.0;
    let cells_x = left + label_w;
    let cell_w = ((WIDTH - 24.0 - cells_x) / n_cols.max(1) as f64).clamp(18.0, 64.0);
    let width = (cells_x + cell_w * n_cols as f64 + 24.0).max(WIDTH).round();
    let cell_h = 16.0;
    let text_size = (cell_w * 0.42).clamp(8.0, 11.0);

    let blocks: Vec<(&Mean, Vec<&Row>)> = r
        .mean
        .iter()
        .map(|m| {
            let rows = r
                .rows
                .iter()
                .filter(|row| {
                    row.project == m.project
                        && row.breakdown_value == m.breakdown_value
                        && row.is_other == m.is_other
                })
                .collect();
            (m, rows)
        })
        .collect();
    let key_y = head.bottom + 18.0;
    let mut y = key_y + 44.0;
    let block_h = |n_rows: usize| 26.0 + 18.0 + n_rows as f64 * cell_h + 22.0;
    let total: f64 = blocks.iter().map(|(_, rows)| block_h(rows.len())).sum();
    let height = (y + total.max(60.0) + 40.0).max(HEIGHT).round();

    let mut out = String::new();
    open(&mut out, width, height, &head);
    put!(
        out,
        "<defs><pattern id=\"lc-hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#ffffff\" fill-opacity=\"0.28\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#333333\" stroke-width=\"1.3\" stroke-opacity=\"0.5\"/></pattern></defs>\n"
    );
    head.draw(&mut out);
    heat_key(&mut out, r, &scale, left, key_y);

    if blocks.is_empty() {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"14\" fill=\"{AXIS_TEXT}\">No cohorts in this window</text>\n",
            f1(left),
            f1(y + 20.0)
        );
    }
    let step = tick_step(r, cell_w, 10.0);
    for (m, rows) in &blocks {
        put!(out, "<g class=\"block\">\n");
        let persons: u64 = rows.iter().map(|row| row.size).sum();
        let name = series_name(m);
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"600\" fill=\"{TEXT}\">{}<tspan dx=\"10\" font-weight=\"400\" fill=\"{AXIS_TEXT}\" font-size=\"12\">{} cohorts, {} persons</tspan></text>\n",
            f1(left),
            f1(y + 16.0),
            esc(&ellipsize(&name, 60)),
            rows.len(),
            group(persons)
        );
        // Column headers repeat per block so each block reads on its own.
        {
            let hy = y + 26.0 + 12.0;
            put!(
                out,
                "<g font-size=\"10\" fill=\"{AXIS_TEXT}\" text-anchor=\"middle\">\n"
            );
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"start\">cohort</text>\n",
                f1(left),
                f1(hy)
            );
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">size</text>\n",
                f1(cells_x - 6.0),
                f1(hy)
            );
            for j in (0..n_cols).filter(|j| j.is_multiple_of(step)) {
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\">{}</text>\n",
                    f1(cells_x + (j as f64 + 0.5) * cell_w),
                    f1(hy),
                    esc(short_label(r, j))
                );
            }
            put!(out, "</g>\n");
        }
        let mut ry = y + 26.0 + 18.0;
        for row in rows {
            heat_row(
                &mut out,
                r,
                row,
                &scale,
                HeatGeom {
                    left,
                    cells_x,
                    y: ry,
                    cell_w,
                    cell_h,
                    text_size,
                },
            );
            ry += cell_h;
        }
        put!(out, "</g>\n");
        y += block_h(rows.len());
    }

    footer(&mut out, r, width, height);
    put!(out, "</svg>\n");
    out
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 560.0;
const MIN_PLOT_H: f64 = 300.0;
const LEGEND_ROW: f64 = 20.0;
/// Below this top rate (after column 0) the curve chart zooms its y axis.
const ZOOM_BELOW: f64 = 0.2;
/// Average glyph width as a share of the font size, on the generous side so estimates do not overflow.
const CHAR_W: f64 = 0.56;
const FONT: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const TEXT: &str = "#1a1a1a";
const AXIS_TEXT: &str = "#555555";
const AXIS_LINE: &str = "#888888";
const GRID: &str = "#e6e6e6";

/// Okabe–Ito colours minus yellow, which is unreadable as a thin line on white.
const COLORS: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
];
/// Dash patterns used once the colours run out.
const DASHES: [&str; 3] = ["", "7 4", "2 3"];

/// Sequential palette (ColorBrewer YlGnBu), light for low rates, dark for high.
const HEAT: [(u8, u8, u8); 9] = [
    (0xff, 0xff, 0xd9),
    (0xed, 0xf8, 0xb1),
    (0xc7, 0xe9, 0xb4),
    (0x7f, 0xcd, 0xbb),
    (0x41, 0xb6, 0xc4),
    (0x1d, 0x91, 0xc0),
    (0x22, 0x5e, 0xa8),
    (0x25, 0x34, 0x94),
    (0x08, 0x1d, 0x58),
];

#[derive(Debug, Clone, Copy)]
enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
}

#[derive(Debug)]
struct Series<'a> {
    mean: &'a Mean,
    name: String,
    color: &'static str,
    dash: &'static str,
    shape: Shape,
}

impl<'a> Series<'a> {
    fn new(mean: &'a Mean, i: usize) -> Series<'a> {
        Series {
            mean,
            name: series_name(mean),
            color: COLORS[i % COLORS.len()],
            dash: DASHES[(i / COLORS.len()) % DASHES.len()],
            shape: [
                Shape::Circle,
                Shape::Square,
                Shape::Triangle,
                Shape::Diamond,
            ][i % 4],
        }
    }
}

/// Title and wrapped definition, shared by both charts.
#[derive(Debug)]
struct Header {
    title: String,
    subtitle: Vec<String>,
    bottom: f64,
}

impl Header {
    fn new(r: &RetentionReport, what: &str, width: f64) -> Header {
        let p = &r.params;
        let kind = match p.retention_type {
            RetentionType::Recurring => "recurring",
            RetentionType::FirstTime => "first-time",
            RetentionType::FirstEver => "first-ever",
        };
        let mut title = format!("{}-N retention{what}, {kind}", p.period.title());
        if p.cumulative {
            title.push_str(", on or after");
        }
        if let Some(b) = &p.breakdown {
            put!(title, ", by {}", b.property);
        }
        put!(title, ", {}", p.timezone);
        let max_chars = ((width - 48.0) / (12.5 * CHAR_W)).floor() as usize;
        let subtitle = wrap_balanced(&r.definition, max_chars);
        let bottom = 34.0 + subtitle.len() as f64 * 17.0;
        Header {
            title,
            subtitle,
            bottom,
        }
    }

    fn draw(&self, out: &mut String) {
        put!(
            out,
            "<text x=\"24\" y=\"30\" font-size=\"19\" font-weight=\"600\" fill=\"{TEXT}\">{}</text>\n",
            esc(&self.title)
        );
        if !self.subtitle.is_empty() {
            put!(out, "<text font-size=\"12.5\" fill=\"{AXIS_TEXT}\">");
            for (i, line) in self.subtitle.iter().enumerate() {
                put!(
                    out,
                    "<tspan x=\"24\" y=\"{}\">{}</tspan>",
                    f1(52.0 + i as f64 * 17.0),
                    esc(line)
                );
            }
            put!(out, "</text>\n");
        }
    }
}

fn open(out: &mut String, width: f64, height: f64, head: &Header) {
    put!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"{FONT}\" role=\"img\">\n",
        w = f1(width),
        h = f1(height)
    );
    put!(out, "<title>{}</title>\n", esc(&head.title));
    put!(
        out,
        "<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
        f1(width),
        f1(height)
    );
}

fn footer(out: &mut String, r: &RetentionReport, width: f64, height: f64) {
    let prov = &r.provenance;
    let y = height - 16.0;
    put!(
        out,
        "<line x1=\"24\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\n",
        f1(y - 16.0),
        f1(width - 16.0),
        f1(y - 16.0)
    );
    put!(
        out,
        "<text x=\"24\" y=\"{}\" font-size=\"11\" fill=\"{AXIS_TEXT}\">Cohorts {} to {} · as of {} · data {}<title>{}</title></text>\n",
        f1(y),
        esc(cohort_date(&r.window.first_period, r.params.period)),
        esc(cohort_date(&r.window.last_period, r.params.period)),
        esc(&prov.as_of),
        esc(&short_fingerprint(&prov.data_fingerprint)),
        esc(&prov.data_fingerprint)
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{AXIS_TEXT}\" text-anchor=\"end\">{}</text>\n",
        f1(width - 16.0),
        f1(y),
        esc(&prov.engine)
    );
}

/// Appends one closed band polygon (upper edge forward, lower edge back) for a run of `(x, y_lo, y_hi)`.
fn band_run(d: &mut String, run: &[(f64, f64, f64)]) {
    match run {
        [] => {}
        // A lone point gets a narrow bar, so its interval is still visible.
        [(x, lo, hi)] => put!(
            d,
            "M{} {} L{} {} L{} {} L{} {} Z ",
            f1(x - 2.0),
            f1(*hi),
            f1(x + 2.0),
            f1(*hi),
            f1(x + 2.0),
            f1(*lo),
            f1(x - 2.0),
            f1(*lo)
        ),
        _ => {
            for (i, (x, _, hi)) in run.iter().enumerate() {
                put!(
                    d,
                    "{}{} {} ",
                    if i == 0 { "M" } else { "L" },
                    f1(*x),
                    f1(*hi)
                );
            }
            for (x, lo, _) in run.iter().rev() {
                put!(d, "L{} {} ", f1(*x), f1(*lo));
            }
            d.push_str("Z ");
        }
    }
}

fn marker(out: &mut String, shape: Shape, x: f64, y: f64, r: f64, tip: &str) {
    let body = if tip.is_empty() {
        "/>".to_string()
    } else {
        format!("><title>{tip}</title></{}>", shape_tag(shape))
    };
    match shape {
        Shape::Circle => put!(
            out,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\"{body}\n",
            f1(x),
            f1(y),
            f1(r)
        ),
        Shape::Square => put!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"{body}\n",
            f1(x - r * 0.9),
            f1(y - r * 0.9),
            f1(r * 1.8),
            f1(r * 1.8)
        ),
        Shape::Triangle => put!(
            out,
            "<path d=\"M{} {} L{} {} L{} {} Z\"{body}\n",
            f1(x),
            f1(y - r * 1.2),
            f1(x + r * 1.1),
            f1(y + r * 0.8),
            f1(x - r * 1.1),
            f1(y + r * 0.8)
        ),
        Shape::Diamond => put!(
            out,
            "<path d=\"M{} {} L{} {} L{} {} L{} {} Z\"{body}\n",
            f1(x),
            f1(y - r * 1.3),
            f1(x + r * 1.1),
            f1(y),
            f1(x),
            f1(y + r * 1.3),
            f1(x - r * 1.1),
            f1(y)
        ),
    }
}

fn shape_tag(shape: Shape) -> &'static str {
    match shape {
        Shape::Circle => "circle",
        Shape::Square => "rect",
        Shape::Triangle | Shape::Diamond => "path",
    }
}

fn dash_attr(dash: &str) -> String {
    if dash.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{dash}\"")
    }
}

/// The rounded y maximum and tick step for a zoomed axis whose data reach `top`.
fn zoom_scale(top: f64) -> (f64, f64) {
    const NICE: [(f64, f64); 8] = [
        (0.01, 0.002),
        (0.02, 0.005),
        (0.025, 0.005),
        (0.05, 0.01),
        (0.08, 0.02),
        (0.10, 0.02),
        (0.15, 0.03),
        (0.20, 0.05),
    ];
    NICE.into_iter()
        .find(|(max, _)| top <= *max + 1e-9)
        .unwrap_or((0.2, 0.05))
}

/// Labels every `step`-th column so that neighbouring labels do not touch; steps follow the calendar.
fn tick_step(r: &RetentionReport, dx: f64, font_size: f64) -> usize {
    let widest = (0..r.columns.len())
        .map(|j| short_label(r, j).chars().count())
        .max()
        .unwrap_or(1) as f64;
    let need = widest * font_size * CHAR_W + font_size * 0.6;
    let steps: &[usize] = match (r.params.custom_brackets.is_some(), r.params.period) {
        (true, _) => &[1, 2, 5, 10, 20, 50],
        (false, Period::Hour) => &[1, 2, 3, 6, 12, 24, 48],
        (false, Period::Day) => &[1, 7, 14, 28, 56, 91, 182, 364],
        (false, Period::Week) => &[1, 2, 4, 13, 26, 52],
        (false, Period::Month) => &[1, 3, 6, 12, 24],
    };
    if dx <= 0.0 {
        return 1;
    }
    steps
        .iter()
        .copied()
        .find(|s| *s as f64 * dx >= need)
        .unwrap_or(*steps.last().expect("non-empty"))
}

/// A column label without its period word: `Day 7` → `7`, `Day 1-4` → `1-4`.
fn short_label(r: &RetentionReport, j: usize) -> &str {
    let label = r.columns.get(j).map_or("", String::as_str);
    let title = r.params.period.title();
    label
        .strip_prefix(title)
        .map(str::trim_start)
        .filter(|s| !s.is_empty())
        .unwrap_or(label)
}

fn period_plural(p: Period) -> &'static str {
    match p {
        Period::Hour => "Hours",
        Period::Day => "Days",
        Period::Week => "Weeks",
        Period::Month => "Months",
    }
}

fn series_name(m: &Mean) -> String {
    match (&m.breakdown_value, m.is_other) {
        (_, true) => format!("{} · Other", m.project),
        (Some(v), _) if v.is_empty() => format!("{} · (none)", m.project),
        (Some(v), _) => format!("{} · {v}", m.project),
        (None, _) => m.project.clone(),
    }
}

/// The date part of a cohort start (`2025-01-06`), or date and hour for hourly cohorts.
fn cohort_date(start: &str, period: Period) -> &str {
    let n = if period == Period::Hour { 16 } else { 10 };
    start.get(..n).unwrap_or(start)
}

/// `lc1:sha256:9f2c0d…ab12`: enough to compare by eye; the full value is in the tooltip.
fn short_fingerprint(fp: &str) -> String {
    let (prefix, hex) = match fp.rfind(':') {
        Some(i) => fp.split_at(i + 1),
        None => ("", fp),
    };
    if hex.chars().count() <= 16 {
        return fp.to_string();
    }
    let head: String = hex.chars().take(8).collect();
    let tail: String = hex
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}{head}…{tail}")
}

/// The colour scale of the heatmap: rates from 0 to `max` map onto the palette; higher rates saturate.
#[derive(Debug)]
struct HeatScale {
    max: f64,
    saturates: bool,
}

fn heat_scale(rows: &[Row]) -> HeatScale {
    let mut rates: Vec<f64> = rows
        .iter()
        .flat_map(|row| row.rates.iter().skip(1).filter_map(|v| *v))
        .collect();
    rates.sort_by(f64::total_cmp);
    let top = rates.last().copied().unwrap_or(0.0);
    // The 95th percentile, so a cohort of two persons at 50% cannot flatten every other cell.
    let p95 = rates
        .get(((rates.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(0.0);
    const NICE: [f64; 12] = [
        0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0,
    ];
    let max = NICE.into_iter().find(|m| p95 <= *m + 1e-9).unwrap_or(1.0);
    HeatScale {
        max,
        saturates: top > max + 1e-9,
    }
}

fn heat_color(scale: &HeatScale, rate: f64) -> (u8, u8, u8) {
    let t = (rate / scale.max).clamp(0.0, 1.0) * (HEAT.len() - 1) as f64;
    let i = (t.floor() as usize).min(HEAT.len() - 2);
    let f = t - i as f64;
    let (a, b) = (HEAT[i], HEAT[i + 1]);
    let mix = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Dark or white text, whichever contrasts more with the cell (WCAG relative luminance).
fn text_on(c: (u8, u8, u8)) -> &'static str {
    let lin = |v: u8| {
        let s = v as f64 / 255.0;
        if s <= 0.03928 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * lin(c.0) + 0.7152 * lin(c.1) + 0.0722 * lin(c.2);
    // Contrast with #1a1a1a (luminance ≈ 0.010) against contrast with white.
    if (l + 0.05) / (0.010 + 0.05) >= 1.05 / (l + 0.05) {
        TEXT
    } else {
        "#ffffff"
    }
}

fn hex_color(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The key above the heatmap: colour ramp, the column-0 swatch, and the hatch for incomplete cells.
fn heat_key(out: &mut String, r: &RetentionReport, scale: &HeatScale, x: f64, y: f64) {
    put!(
        out,
        "<g class=\"key\" font-size=\"11\" fill=\"{AXIS_TEXT}\">\n"
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\">Rows: cohort start and size. Columns: {} since cohort start. Cells: % of the cohort retained.</text>\n",
        f1(x),
        f1(y + 2.0),
        period_plural(r.params.period).to_lowercase()
    );
    let ry = y + 12.0;
    let ramp_w = 200.0;
    let n = 40;
    for i in 0..n {
        let rate = scale.max * (i as f64 + 0.5) / n as f64;
        put!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"10\" fill=\"{}\"/>\n",
            f1(x + ramp_w * i as f64 / n as f64),
            f1(ry),
            f1(ramp_w / n as f64 + 0.3),
            hex_color(heat_color(scale, rate))
        );
    }
    put!(
        out,
        "<text x=\"{}\" y=\"{}\">0%</text>\n",
        f1(x),
        f1(ry + 22.0)
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}%{}</text>\n",
        f1(x + ramp_w),
        f1(ry + 22.0),
        trim_num(scale.max * 100.0),
        if scale.saturates { " or more" } else { "" }
    );
    let sx = x + ramp_w + 24.0;
    put!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" fill=\"{}\"/>\n",
        f1(sx),
        f1(ry - 1.0),
        COL0
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">{} 0 (100% by definition)</text>\n",
        f1(sx + 22.0),
        f1(ry + 5.0),
        r.params.period.title()
    );
    let hx = sx + 200.0;
    put!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" fill=\"{}\"/><rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" fill=\"url(#lc-hatch)\"/>\n",
        f1(hx),
        f1(ry - 1.0),
        hex_color(heat_color(scale, scale.max * 0.3)),
        f1(hx),
        f1(ry - 1.0)
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">incomplete: can still change</text>\n",
        f1(hx + 22.0),
        f1(ry + 5.0)
    );
    put!(out, "</g>\n");
}

const COL0: &str = "#e4e4e4";
const ZERO_TEXT: &str = "#8a8a8a";

#[derive(Debug, Clone, Copy)]
struct HeatGeom {
    left: f64,
    cells_x: f64,
    y: f64,
    cell_w: f64,
    cell_h: f64,
    text_size: f64,
}

fn heat_row(out: &mut String, r: &RetentionReport, row: &Row, scale: &HeatScale, g: HeatGeom) {
    let mid = g.y + g.cell_h / 2.0;
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"10.5\" fill=\"{TEXT}\" dominant-baseline=\"middle\">{}</text>\n",
        f1(g.left),
        f1(mid),
        esc(&cohort_date(&row.cohort_start, r.params.period).replace('T', " "))
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"10.5\" fill=\"{AXIS_TEXT}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
        f1(g.cells_x - 6.0),
        f1(mid),
        group(row.size)
    );
    let show_text = g.cell_w >= 16.0;
    for j in 0..r.columns.len() {
        let x = g.cells_x + j as f64 * g.cell_w;
        let inside = row.counts.get(j).copied().flatten().is_some();
        if !inside {
            continue;
        }
        let rate = row.rates.get(j).copied().flatten();
        let incomplete = row.incomplete.get(j).copied().flatten() == Some(true);
        let (fill, text) = match rate {
            None => ("#ffffff".to_string(), "–".to_string()),
            Some(_) if j == 0 => (COL0.to_string(), "100".to_string()),
            Some(v) => (hex_color(heat_color(scale, v)), cell_pct(v)),
        };
        let ink = match rate {
            // Zeros are common and say little; grey keeps them from drowning the non-zero cells.
            Some(v) if j > 0 && v == 0.0 => ZERO_TEXT,
            Some(v) if j > 0 => text_on(heat_color(scale, v)),
            _ => AXIS_TEXT,
        };
        let tip = match (rate, row.counts.get(j).copied().flatten()) {
            (Some(v), Some(x)) => format!(
                "{}, {}: {} of {} ({}){}",
                cohort_date(&row.cohort_start, r.params.period),
                r.columns.get(j).map_or("", String::as_str),
                group(x),
                group(row.size),
                pct(v),
                if incomplete { ", incomplete" } else { "" }
            ),
            _ => format!(
                "{}: empty cohort",
                cohort_date(&row.cohort_start, r.params.period)
            ),
        };
        put!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{}</title></rect>\n",
            f1(x),
            f1(g.y),
            f1(g.cell_w),
            f1(g.cell_h),
            esc(&tip)
        );
        if incomplete {
            put!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#lc-hatch)\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n",
                f1(x),
                f1(g.y),
                f1(g.cell_w),
                f1(g.cell_h)
            );
        }
        if show_text {
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{ink}\" text-anchor=\"middle\" dominant-baseline=\"central\">{}</text>\n",
                f1(x + g.cell_w / 2.0),
                f1(mid),
                f1(g.text_size),
                esc(&text)
            );
        }
    }
}

/// Whole percent for a cell, `<1` for small non-zero rates.
fn cell_pct(v: f64) -> String {
    let p = v * 100.0;
    if p > 0.0 && p < 0.5 {
        "<1".to_string()
    } else {
        format!("{p:.0}")
    }
}

/// A rate as a percentage with one decimal: `23.4%`.
fn pct(v: f64) -> String {
    format!("{}%", f1(v * 100.0))
}

/// One decimal, never `-0.0`.
fn f1(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".to_string() } else { s }
}

/// A tick value without a trailing `.0`: `10`, `2.5`.
fn trim_num(v: f64) -> String {
    let s = f1(v);
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// `12345` → `12,345`.
fn group(n: u64) -> String {
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

/// Greedy word wrap at `max` characters; a word longer than a line is cut.
fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(8);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > max {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..max).collect());
        }
        let word: String = word.into_iter().collect();
        let need = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if need > max && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Wraps into as few lines as [`wrap`] needs, but with lines of similar length, so no lone word dangles.
fn wrap_balanced(text: &str, max: usize) -> Vec<String> {
    let lines = wrap(text, max);
    if lines.len() < 2 {
        return lines;
    }
    let total = text.chars().count();
    (total.div_ceil(lines.len())..max)
        .map(|m| wrap(text, m))
        .find(|l| l.len() <= lines.len())
        .unwrap_or(lines)
}

/// Cuts `s` to `max` characters, ending in `…` when cut.
fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes text for SVG content and attribute values; control characters XML cannot carry become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::RetentionParams;
    use crate::retention::{Provenance, WindowInfo};

    /// A report with one mean per `(project, rates)` and a one-row triangle behind each.
    fn report(series: &[(&str, &[Option<f64>])]) -> RetentionReport {
        let n = series.first().map_or(0, |s| s.1.len());
        let ci = |rates: &[Option<f64>]| -> Vec<Option<(f64, f64)>> {
            rates
                .iter()
                .enumerate()
                .map(|(j, r)| r.filter(|_| j > 0).map(|v| ((v - 0.05).max(0.0), v + 0.05)))
                .collect()
        };
        RetentionReport {
            definition: "Of persons whose first `signup` happened in a day (UTC), the share who did any activity event in each later day.".to_string(),
            params: RetentionParams::default(),
            window: WindowInfo {
                first_period: "2025-01-01T00:00:00+00:00".to_string(),
                last_period: "2025-01-01T00:00:00+00:00".to_string(),
                end_exclusive: "2025-01-02T00:00:00+00:00".to_string(),
                rows: 1,
                columns: n,
            },
            columns: (0..n).map(|j| format!("Day {j}")).collect(),
            rows: series
                .iter()
                .map(|(p, rates)| Row {
                    project: p.to_string(),
                    breakdown_value: None,
                    is_other: false,
                    label: "Day 0".to_string(),
                    cohort_start: "2025-01-01T00:00:00+00:00".to_string(),
                    size: 100,
                    counts: rates.iter().map(|r| r.map(|v| (v * 100.0) as u64)).collect(),
                    rates: rates.to_vec(),
                    ci95: ci(rates),
                    incomplete: rates.iter().map(|r| r.map(|_| false)).collect(),
                })
                .collect(),
            mean: series
                .iter()
                .map(|(p, rates)| Mean {
                    project: p.to_string(),
                    breakdown_value: None,
                    is_other: false,
                    rates: rates.to_vec(),
                    ci95: ci(rates),
                    rows_used: rates.iter().map(|r| u64::from(r.is_some())).collect(),
                    persons: rates.iter().map(|r| if r.is_some() { 100 } else { 0 }).collect(),
                })
                .collect(),
            breakdown_values: None,
            provenance: Provenance {
                engine: "liucun 0.0.0".to_string(),
                as_of: "2025-02-01T00:00:00Z".to_string(),
                data_fingerprint: format!("lc1:sha256:9f2c{}ab12", "0".repeat(56)),
                projects: Vec::new(),
            },
        }
    }

    const A: &[Option<f64>] = &[Some(1.0), Some(0.4), Some(0.3), Some(0.25)];
    const GAP: &[Option<f64>] = &[Some(1.0), Some(0.35), None, Some(0.2)];

    #[track_caller]
    fn assert_well_formed(svg: &str) {
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<svg").count(), 1);
        let open = |tag: &str| {
            svg.matches(&format!("<{tag} ")).count() + svg.matches(&format!("<{tag}>")).count()
        };
        for tag in ["g", "text", "tspan", "title", "path", "rect", "circle"] {
            let selfclosed = svg
                .split(&format!("<{tag} "))
                .skip(1)
                .filter(|rest| rest.split('>').next().is_some_and(|t| t.ends_with('/')))
                .count();
            assert_eq!(
                open(tag) - selfclosed,
                svg.matches(&format!("</{tag}>")).count(),
                "<{tag}> not balanced"
            );
        }
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn curves_are_well_formed_with_one_line_per_series() {
        let r = report(&[("lanting", A), ("baicao", GAP), ("moxi", A)]);
        let svg = curves(&r);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("class=\"line\"").count(), 3);
        assert_eq!(svg.matches("class=\"band\"").count(), 3);
        assert!(svg.contains("<title>Day-N retention, recurring, UTC</title>"));
        assert!(svg.contains("lc1:sha256:9f2c0000…00ab12"));
        assert!(svg.contains("as of 2025-02-01T00:00:00Z"));
    }

    #[test]
    fn heatmap_is_well_formed() {
        let r = report(&[("lanting", A), ("baicao", GAP)]);
        let svg = heatmap(&r);
        assert_well_formed(&svg);
        assert_eq!(svg.matches("class=\"block\"").count(), 2);
        // Four cells in the first row, three in the second (one outside the window).
        assert_eq!(svg.matches("<title>2025-01-01, Day").count(), 7);
        assert_eq!(chart(&r, ChartKind::Heatmap), svg);
    }

    #[test]
    fn output_is_deterministic() {
        let r = report(&[("lanting", A), ("baicao", GAP)]);
        assert_eq!(curves(&r), curves(&r.clone()));
        assert_eq!(heatmap(&r), heatmap(&r.clone()));
    }

    #[test]
    fn names_are_escaped() {
        let mut r = report(&[("a<b&\"c\"", A)]);
        r.mean[0].breakdown_value = Some("x'>y".to_string());
        r.rows[0].breakdown_value = Some("x'>y".to_string());
        for svg in [curves(&r), heatmap(&r)] {
            assert_well_formed(&svg);
            assert!(
                svg.contains("a&lt;b&amp;&quot;c&quot; · x&#39;&gt;y"),
                "{svg}"
            );
            assert!(!svg.contains("a<b") && !svg.contains("\"c\""));
        }
    }

    #[test]
    fn a_missing_mean_is_a_gap_not_a_zero() {
        let svg = curves(&report(&[("baicao", GAP)]));
        let line = svg
            .lines()
            .find(|l| l.contains("class=\"line\""))
            .expect("a line");
        let d = line
            .split("d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        // Three markers, none at the missing column.
        let markers = svg.split("class=\"markers\"").nth(1).unwrap();
        assert_eq!(
            markers
                .split("</g>")
                .next()
                .unwrap()
                .matches("<circle")
                .count(),
            3
        );
    }

    #[test]
    fn small_rates_zoom_the_y_axis() {
        let small: &[Option<f64>] = &[Some(1.0), Some(0.06), Some(0.04), Some(0.03)];
        let svg = curves(&report(&[("qiuyue", small)]));
        assert!(svg.contains("zoomed to 0–15%"), "{svg}");
        assert!(svg.contains("Day 0 = 100%, not drawn"));
        let svg = curves(&report(&[("qiuyue", A)]));
        assert!(!svg.contains("zoomed"));
    }

    #[test]
    fn an_empty_report_still_draws() {
        let r = report(&[]);
        for svg in [curves(&r), heatmap(&r)] {
            assert_well_formed(&svg);
            assert!(svg.contains("No cohorts in this window"));
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(f1(-0.01), "0.0");
        assert_eq!(trim_num(2.5), "2.5");
        assert_eq!(trim_num(20.0), "20");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(cell_pct(0.004), "<1");
        assert_eq!(cell_pct(0.0), "0");
        assert_eq!(esc("a\u{1}b\n"), "a\u{fffd}b ");
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(
            wrap("one two three four", 9),
            vec!["one two", "three", "four"]
        );
        assert_eq!(wrap_balanced("aaa bbb ccc d", 12), vec!["aaa bbb", "ccc d"]);
        assert_eq!(short_fingerprint("lc1:sha256:abc"), "lc1:sha256:abc");
        assert_eq!(text_on(HEAT[0]), TEXT);
        assert_eq!(text_on(HEAT[8]), "#ffffff");
    }
}
