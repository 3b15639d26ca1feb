//! The cohort triangle as a heatmap: one block of rows per project and breakdown value, each cell a cohort's
//! retention in one period, coloured on a sequential scale, with incomplete cells hatched.

use super::cohort::{self, cohort_date, series_name};
use super::layout::{AXIS_TEXT, HEIGHT, TEXT, WIDTH};
use super::scale::{f1, group, pct, trim_num};
use super::text::{chars_within, ellipsize, esc, text_width};
use crate::params::Period;
use crate::retention::{Mean, RetentionReport, Row};

/// The cohort triangle as a heatmap, one block per project and breakdown value.
///
/// Rows are cohorts (start date and size), columns are periods. Cells are coloured by rate on a sequential scale
/// that saturates at `color_max`, or by default at a rounded high percentile of the rates after column 0, so a few
/// tiny cohorts cannot wash out the rest; the key says which. Column 0 (always 100%) is grey, zeros carry no label,
/// incomplete cells are hatched, cells measured on data that stops inside their period are dotted, cohorts under
/// 20 persons are faded, and cells after a `date_to` that ends the window before `as_of` are outlined.
///
/// One block is drawn large with every value written in its cell. Several blocks are laid out side by side as
/// small multiples on the same colour scale, values in each cell's tooltip, so apps compare at a glance.
pub fn heatmap(r: &RetentionReport, color_max: Option<f64>) -> String {
    let n_cols = r.columns.len();
    let scale = heat_scale(&r.rows, color_max);
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
    let left = 24.0;
    let date_w = if r.params.period == Period::Hour {
        84.0
    } else {
        70.0
    };
    let small = blocks.len() > 1;
    let max_rows = blocks.iter().map(|(_, rows)| rows.len()).max().unwrap_or(0);
    // Geometry: one large block, or a grid of small multiples about as wide as a wide screen.
    let (per_line, cell_w, cell_h, label_w) = if small {
        let per_line = blocks.len().min(if n_cols > 16 { 3 } else { 4 });
        let label_w = date_w + 6.0;
        let block_w = (MULTIPLES_W - left - 24.0) / per_line as f64 - BLOCK_GAP;
        let cell_w = ((block_w - label_w) / n_cols.max(1) as f64).clamp(5.0, 22.0);
        let cell_h = if max_rows > 40 { 9.0 } else { 12.0 };
        (per_line, cell_w, cell_h, label_w)
    } else {
        let label_w = date_w + 64.0;
        let cell_w = ((WIDTH - 24.0 - left - label_w) / n_cols.max(1) as f64).clamp(18.0, 64.0);
        (1, cell_w, 16.0, label_w)
    };
    let block_w = label_w + cell_w * n_cols as f64;
    let width = (left + per_line as f64 * (block_w + BLOCK_GAP) - BLOCK_GAP + 24.0)
        .max(WIDTH)
        .round();
    let frame = cohort::frame(r, " by cohort", width);
    let key_y = frame.bottom + 18.0;
    let first_y = key_y + 62.0;
    // Small multiples put a block's counts under its name.
    let head_extra = if small { 12.0 } else { 0.0 };
    let block_h = |n_rows: usize| head_extra + 26.0 + 18.0 + n_rows as f64 * cell_h + 22.0;
    let lines = blocks.len().div_ceil(per_line);
    let total: f64 = (0..lines)
        .map(|line| {
            blocks
                .iter()
                .skip(line * per_line)
                .take(per_line)
                .map(|(_, rows)| block_h(rows.len()))
                .fold(0.0, f64::max)
        })
        .sum();
    let height = (first_y + total.max(60.0) + 40.0).max(HEIGHT).round();

    let mut out = String::new();
    frame.open(&mut out, width, height);
    put!(
        out,
        "<defs><pattern id=\"lc-hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#ffffff\" fill-opacity=\"0.28\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#333333\" stroke-width=\"1.3\" stroke-opacity=\"0.5\"/></pattern><pattern id=\"lc-dots\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\"><circle cx=\"2\" cy=\"2\" r=\"0.9\" fill=\"#333333\" fill-opacity=\"0.6\"/></pattern></defs>\n"
    );
    frame.header(&mut out);
    let marks = Marks::of(r);
    heat_key(&mut out, r, &scale, &marks, (left, key_y, width));

    if blocks.is_empty() {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"14\" fill=\"{AXIS_TEXT}\">No cohorts in this window</text>\n",
            f1(left),
            f1(first_y + 20.0)
        );
    }
    let step = cohort::tick_step(r, cell_w, 10.0);
    // Small multiples label every few rows, so the dates stay legible.
    let label_every = if small {
        (12.0 / cell_h).ceil() as usize
    } else {
        1
    };
    let mut y = first_y;
    for line in blocks.chunks(per_line) {
        for (b, (m, rows)) in line.iter().enumerate() {
            let x0 = left + b as f64 * (block_w + BLOCK_GAP);
            put!(out, "<g class=\"block\">\n");
            let persons: u64 = rows.iter().map(|row| row.size).sum();
            let name = series_name(m);
            let counts = format!("{} cohorts, {} persons", rows.len(), group(persons));
            if small {
                // Name, then counts on a line of their own, each cut to the block's width.
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"600\" fill=\"{TEXT}\">{}<title>{}</title></text>\n",
                    f1(x0),
                    f1(y + 12.0),
                    esc(&ellipsize(&name, chars_within(block_w, 13.0))),
                    esc(&name)
                );
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{AXIS_TEXT}\">{}</text>\n",
                    f1(x0),
                    f1(y + 26.0),
                    esc(&counts)
                );
            } else {
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"600\" fill=\"{TEXT}\">{}<tspan dx=\"10\" font-weight=\"400\" fill=\"{AXIS_TEXT}\" font-size=\"12\">{}</tspan></text>\n",
                    f1(x0),
                    f1(y + 16.0),
                    esc(&ellipsize(&name, 60)),
                    esc(&counts)
                );
            }
            let y = y + head_extra;
            let cells_x = x0 + label_w;
            // Column headers repeat per block so each block reads on its own.
            let hy = y + 26.0 + 12.0;
            put!(
                out,
                "<g font-size=\"10\" fill=\"{AXIS_TEXT}\" text-anchor=\"middle\">\n"
            );
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"start\">cohort</text>\n",
                f1(x0),
                f1(hy)
            );
            if !small {
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">size</text>\n",
                    f1(cells_x - 6.0),
                    f1(hy)
                );
            }
            for j in (0..n_cols).filter(|j| j.is_multiple_of(step)) {
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\">{}</text>\n",
                    f1(cells_x + (j as f64 + 0.5) * cell_w),
                    f1(hy),
                    esc(cohort::short_label(r, j))
                );
            }
            put!(out, "</g>\n");
            let mut ry = y + 26.0 + 18.0;
            for (k, row) in rows.iter().enumerate() {
                heat_row(
                    &mut out,
                    r,
                    row,
                    &scale,
                    HeatGeom {
                        left: x0,
                        cells_x,
                        y: ry,
                        cell_w,
                        cell_h,
                        text_size: if small {
                            0.0
                        } else {
                            (cell_w * 0.42).clamp(8.0, 11.0)
                        },
                        date: k % label_every == 0,
                        size: !small,
                    },
                );
                ry += cell_h;
            }
            put!(out, "</g>\n");
        }
        y += line
            .iter()
            .map(|(_, rows)| block_h(rows.len()))
            .fold(0.0, f64::max);
    }

    frame.close(&mut out, &cohort::footer(r), width, height);
    out
}

/// Cohorts under this many persons are faded: their rates swing by tens of points on a few persons.
const SMALL_COHORT: u64 = 20;
/// How wide a grid of small multiples may grow.
const MULTIPLES_W: f64 = 1500.0;
/// Space between small multiples.
const BLOCK_GAP: f64 = 28.0;

/// Which of the optional cell marks a heatmap uses, so its key explains exactly those.
#[derive(Debug, Default)]
struct Marks {
    incomplete: bool,
    beyond: bool,
    small: bool,
    cut: bool,
}

impl Marks {
    fn of(r: &RetentionReport) -> Marks {
        let any = |f: &dyn Fn(&Row) -> bool| r.rows.iter().any(f);
        Marks {
            incomplete: any(&|row| row.incomplete.contains(&Some(true))),
            beyond: any(&|row| row.beyond_data.contains(&Some(true))),
            small: any(&|row| row.size > 0 && row.size < SMALL_COHORT),
            cut: r.window.ends_before_as_of,
        }
    }
}

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

/// The colour scale of the heatmap: rates from 0 to `max` map onto the palette; higher rates saturate.
#[derive(Debug)]
struct HeatScale {
    max: f64,
    saturates: bool,
    /// Set by the caller (to compare charts), not derived from the data.
    fixed: bool,
}

fn heat_scale(rows: &[Row], color_max: Option<f64>) -> HeatScale {
    let top = rows
        .iter()
        .flat_map(|row| row.rates.iter().skip(1).filter_map(|v| *v))
        .fold(0.0_f64, f64::max);
    if let Some(max) = color_max.filter(|m| m.is_finite() && *m > 0.0) {
        let max = max.min(1.0);
        return HeatScale {
            max,
            saturates: top > max + 1e-9,
            fixed: true,
        };
    }
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
        fixed: false,
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

/// The key above the heatmap: the colour ramp (and where its top comes from), the column-0 swatch, and each cell
/// mark the chart uses.
fn heat_key(
    out: &mut String,
    r: &RetentionReport,
    scale: &HeatScale,
    marks: &Marks,
    (x, y, width): (f64, f64, f64),
) {
    put!(
        out,
        "<g class=\"key\" font-size=\"11\" fill=\"{AXIS_TEXT}\">\n"
    );
    put!(
        out,
        "<text x=\"{}\" y=\"{}\">Rows: cohort start and size. Columns: {} since cohort start. Cells: % of the cohort retained.</text>\n",
        f1(x),
        f1(y + 2.0),
        cohort::period_plural(r.params.period).to_lowercase()
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
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}%{} ({})</text>\n",
        f1(x + ramp_w),
        f1(ry + 22.0),
        trim_num(scale.max * 100.0),
        if scale.saturates { " or more" } else { "" },
        if scale.fixed {
            "fixed"
        } else {
            "from the data"
        }
    );
    // The swatches, left to right, wrapping to a second line.
    let mid = hex_color(heat_color(scale, scale.max * 0.3));
    let mut entries: Vec<(String, String)> = vec![(
        format!("<rect x=\"{{X}}\" y=\"{{Y}}\" width=\"16\" height=\"12\" fill=\"{COL0}\"/>"),
        format!("{} 0 (100% by definition)", r.params.period.title()),
    )];
    if marks.incomplete {
        entries.push((
            format!("<rect x=\"{{X}}\" y=\"{{Y}}\" width=\"16\" height=\"12\" fill=\"{mid}\"/><rect x=\"{{X}}\" y=\"{{Y}}\" width=\"16\" height=\"12\" fill=\"url(#lc-hatch)\"/>"),
            "incomplete: can still change".to_string(),
        ));
    }
    if marks.beyond {
        entries.push((
            format!("<rect x=\"{{X}}\" y=\"{{Y}}\" width=\"16\" height=\"12\" fill=\"{mid}\"/><rect x=\"{{X}}\" y=\"{{Y}}\" width=\"16\" height=\"12\" fill=\"url(#lc-dots)\"/>"),
            "partial: the data ends inside the period".to_string(),
        ));
    }
    if marks.small {
        entries.push((
            format!("<rect x=\"{{X}}\" y=\"{{Y}}\" width=\"16\" height=\"12\" fill=\"{mid}\" fill-opacity=\"{SMALL_OPACITY}\"/>"),
            format!("faded: cohort under {SMALL_COHORT} persons"),
        ));
    }
    if marks.cut {
        entries.push((
            format!("<rect x=\"{{X}}\" y=\"{{Y}}\" width=\"15\" height=\"11\" fill=\"none\" stroke=\"{CUT}\" stroke-dasharray=\"2 2\"/>"),
            "after date_to: not counted".to_string(),
        ));
    }
    let mut sx = x + ramp_w + 24.0;
    let mut sy = ry - 1.0;
    for (swatch, label) in entries {
        let w = 22.0 + text_width(&label, 11.0) + 18.0;
        if sx + w > width - 12.0 && sx > x + ramp_w + 24.0 {
            sx = x + ramp_w + 24.0;
            sy += 20.0;
        }
        put!(
            out,
            "{}\n",
            swatch.replace("{X}", &f1(sx)).replace("{Y}", &f1(sy))
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">{}</text>\n",
            f1(sx + 22.0),
            f1(sy + 6.0),
            esc(&label)
        );
        sx += w;
    }
    put!(out, "</g>\n");
}

const COL0: &str = "#e4e4e4";
/// The outline of cells after a `date_to` that ends the window early.
const CUT: &str = "#c4c4c4";
/// The opacity of a small cohort's cells.
const SMALL_OPACITY: &str = "0.35";

#[derive(Debug, Clone, Copy)]
struct HeatGeom {
    left: f64,
    cells_x: f64,
    y: f64,
    cell_w: f64,
    cell_h: f64,
    /// Font size of the values in the cells; 0 writes none (small multiples keep them in tooltips).
    text_size: f64,
    /// Write the cohort's date.
    date: bool,
    /// Write the cohort's size beside it.
    size: bool,
}

fn heat_row(out: &mut String, r: &RetentionReport, row: &Row, scale: &HeatScale, g: HeatGeom) {
    let mid = g.y + g.cell_h / 2.0;
    let small = row.size > 0 && row.size < SMALL_COHORT;
    if g.date {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{TEXT}\" dominant-baseline=\"middle\">{}</text>\n",
            f1(g.left),
            f1(mid),
            if g.size { "10.5" } else { "9" },
            esc(&cohort_date(&row.cohort_start, r.params.period).replace('T', " "))
        );
    }
    if g.size {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"10.5\" fill=\"{AXIS_TEXT}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
            f1(g.cells_x - 6.0),
            f1(mid),
            group(row.size)
        );
    }
    let show_text = g.text_size > 0.0 && g.cell_w >= 16.0;
    let stroke = if g.cell_w >= 10.0 { 1.0 } else { 0.5 };
    if small {
        put!(out, "<g opacity=\"{SMALL_OPACITY}\">\n");
    }
    for j in 0..r.columns.len() {
        let x = g.cells_x + j as f64 * g.cell_w;
        let inside = row.counts.get(j).copied().flatten().is_some();
        if !inside {
            if r.window.ends_before_as_of {
                put!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"{CUT}\" stroke-width=\"0.6\" stroke-dasharray=\"2 2\"><title>{}</title></rect>\n",
                    f1(x + 0.5),
                    f1(g.y + 0.5),
                    f1(g.cell_w - 1.0),
                    f1(g.cell_h - 1.0),
                    esc(&format!(
                        "{}, {}: after the window's end (date_to), not counted",
                        cohort_date(&row.cohort_start, r.params.period),
                        r.columns.get(j).map_or("", String::as_str)
                    ))
                );
            }
            continue;
        }
        let rate = row.rates.get(j).copied().flatten();
        let incomplete = row.incomplete.get(j).copied().flatten() == Some(true);
        let beyond = row.beyond_data.get(j).copied().flatten() == Some(true);
        let (fill, text) = match rate {
            None => ("#ffffff".to_string(), "–".to_string()),
            Some(_) if j == 0 => (COL0.to_string(), "100".to_string()),
            // Zeros are common and say little: the lightest colour, no label.
            Some(v) if v == 0.0 => (hex_color(heat_color(scale, v)), String::new()),
            Some(v) => (hex_color(heat_color(scale, v)), cell_pct(v)),
        };
        let ink = match rate {
            Some(v) if j > 0 => text_on(heat_color(scale, v)),
            _ => AXIS_TEXT,
        };
        let tip = match (rate, row.counts.get(j).copied().flatten()) {
            (Some(v), Some(x)) => format!(
                "{}, {}: {} of {} ({}){}{}{}",
                cohort_date(&row.cohort_start, r.params.period),
                r.columns.get(j).map_or("", String::as_str),
                group(x),
                group(row.size),
                pct(v),
                if incomplete { ", incomplete" } else { "" },
                if beyond {
                    ", partial: the data ends inside the period"
                } else {
                    ""
                },
                if small { ", small cohort" } else { "" }
            ),
            _ => format!(
                "{}: empty cohort",
                cohort_date(&row.cohort_start, r.params.period)
            ),
        };
        put!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"#ffffff\" stroke-width=\"{stroke}\"><title>{}</title></rect>\n",
            f1(x),
            f1(g.y),
            f1(g.cell_w),
            f1(g.cell_h),
            esc(&tip)
        );
        for (flag, pattern) in [(incomplete, "lc-hatch"), (beyond, "lc-dots")] {
            if flag {
                put!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#{pattern})\" stroke=\"#ffffff\" stroke-width=\"{stroke}\"/>\n",
                    f1(x),
                    f1(g.y),
                    f1(g.cell_w),
                    f1(g.cell_h)
                );
            }
        }
        if show_text && !text.is_empty() {
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
    if small {
        put!(out, "</g>\n");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_ink() {
        assert_eq!(cell_pct(0.004), "<1");
        assert_eq!(cell_pct(0.0), "0");
        assert_eq!(cell_pct(0.456), "46");
        assert_eq!(text_on(HEAT[0]), TEXT);
        assert_eq!(text_on(HEAT[8]), "#ffffff");
        assert_eq!(hex_color((1, 0xab, 255)), "#01abff");
    }
}
