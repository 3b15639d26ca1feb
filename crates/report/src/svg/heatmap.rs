//! The cohort triangle as a heatmap: one block of rows per project and breakdown value, each cell a cohort's
//! retention in one period, coloured on a sequential scale, with incomplete cells hatched.

use super::cohort::{self, cohort_date, series_name};
use super::layout::{AXIS_TEXT, HEIGHT, TEXT, WIDTH};
use super::scale::{f1, group, pct, trim_num};
use super::text::{ellipsize, esc};
use crate::params::Period;
use crate::retention::{Mean, RetentionReport, Row};

/// The cohort triangle as a heatmap, one block per project and breakdown value, stacked vertically.
///
/// Rows are cohorts (start date and size), columns are periods. Cells are coloured by rate on a sequential scale
/// that saturates at a rounded high percentile of the rates after column 0, so a few tiny cohorts cannot wash out
/// the rest. Column 0 (always 100%) is grey. Incomplete cells are hatched, cells outside the window are left empty.
pub fn heatmap(r: &RetentionReport) -> String {
    let n_cols = r.columns.len();
    let frame = cohort::frame(r, " by cohort", WIDTH);
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
    let key_y = frame.bottom + 18.0;
    let mut y = key_y + 44.0;
    let block_h = |n_rows: usize| 26.0 + 18.0 + n_rows as f64 * cell_h + 22.0;
    let total: f64 = blocks.iter().map(|(_, rows)| block_h(rows.len())).sum();
    let height = (y + total.max(60.0) + 40.0).max(HEIGHT).round();

    let mut out = String::new();
    frame.open(&mut out, width, height);
    put!(
        out,
        "<defs><pattern id=\"lc-hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#ffffff\" fill-opacity=\"0.28\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#333333\" stroke-width=\"1.3\" stroke-opacity=\"0.5\"/></pattern></defs>\n"
    );
    frame.header(&mut out);
    heat_key(&mut out, r, &scale, left, key_y);

    if blocks.is_empty() {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"14\" fill=\"{AXIS_TEXT}\">No cohorts in this window</text>\n",
            f1(left),
            f1(y + 20.0)
        );
    }
    let step = cohort::tick_step(r, cell_w, 10.0);
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
                    esc(cohort::short_label(r, j))
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

    frame.close(&mut out, &cohort::footer(r), width, height);
    out
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
