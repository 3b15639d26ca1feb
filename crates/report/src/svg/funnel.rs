//! The funnel chart: one row per step, a horizontal bar per series as long as the share of its first step that got
//! there, with the 95% interval as a whisker, the count and share at the bar's end, and between rows what was lost
//! and how long the rest took.

use super::layout::{
    AXIS_TEXT, BELOW_PLOT, Frame, GRID, LEGEND_W, Legend, LegendEntry, Sample, TEXT, WIDTH, style,
};
use super::scale::{f1, group, pct};
use super::text::{ellipsize, esc};
use super::{FunnelChart, FunnelSeries};

const LABEL_W: f64 = 200.0;
const BAR_H: f64 = 18.0;
const BAR_GAP: f64 = 4.0;
const BETWEEN: f64 = 30.0;

fn duration(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3600.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}

/// Draws `chart`.
pub fn funnel(chart: &FunnelChart) -> String {
    let frame = Frame::new(chart.title.clone(), &chart.definition, WIDTH);
    let k = chart.series.len().max(1);
    let legend = chart.series.len() > 1;
    let left = 24.0 + LABEL_W;
    let right = WIDTH - 24.0 - if legend { LEGEND_W } else { 0.0 } - 90.0;
    let top = frame.bottom + 24.0;
    let row = k as f64 * (BAR_H + BAR_GAP) - BAR_GAP;
    let n = chart.steps.len();
    // One series writes what was lost between the rows; several write it at each bar's end.
    let between = if k > 1 { 14.0 } else { BETWEEN };
    let body = n as f64 * row + n.saturating_sub(1) as f64 * between;
    let legend_h = if legend {
        Legend::height(chart.series.len())
    } else {
        0.0
    };
    let height = (top + body.max(legend_h) + BELOW_PLOT).round();
    let width = right - left;

    let mut out = String::new();
    frame.open(&mut out, WIDTH, height);
    frame.header(&mut out);
    // The 0% and 100% guides.
    put!(
        out,
        "<g class=\"guides\" stroke=\"{GRID}\" stroke-width=\"1\"><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\"/><line x1=\"{r}\" y1=\"{t}\" x2=\"{r}\" y2=\"{b}\" stroke-dasharray=\"3 3\"/></g>\n",
        l = f1(left),
        r = f1(right),
        t = f1(top - 6.0),
        b = f1(top + body + 6.0)
    );
    if chart
        .series
        .iter()
        .all(|s| s.counts.first().copied().unwrap_or(0) == 0)
    {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" fill=\"{AXIS_TEXT}\">Nobody entered the funnel in this range</text>\n",
            f1((left + right) / 2.0),
            f1(top + body / 2.0)
        );
    }
    for (j, label) in chart.steps.iter().enumerate() {
        let y0 = top + j as f64 * (row + between);
        put!(
            out,
            "<text x=\"24\" y=\"{}\" font-size=\"12.5\" fill=\"{TEXT}\" dominant-baseline=\"middle\">{}. {}<title>{}</title></text>\n",
            f1(y0 + row / 2.0),
            j + 1,
            esc(&ellipsize(label, 28)),
            esc(label)
        );
        for (i, s) in chart.series.iter().enumerate() {
            bar(
                &mut out,
                s,
                i,
                j,
                left,
                width,
                y0 + i as f64 * (BAR_H + BAR_GAP),
                k > 1,
            );
        }
        if let (Some(s), true, 1) = (chart.series.first(), j + 1 < n, k) {
            let y = y0 + row + BETWEEN / 2.0;
            let mut text = String::new();
            {
                let (before, after) = (s.counts[j], s.counts[j + 1]);
                put!(text, "↓ {} dropped", group(before - after.min(before)));
                if before > 0 {
                    put!(
                        text,
                        " ({})",
                        pct((before - after.min(before)) as f64 / before as f64)
                    );
                }
                if let Some(Some(m)) = s.median_s.get(j + 1) {
                    put!(text, ", median {}", duration(*m));
                }
            }
            put!(
                out,
                "<text class=\"drop\" x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{AXIS_TEXT}\" dominant-baseline=\"middle\">{}</text>\n",
                f1(left + 4.0),
                f1(y),
                esc(&text)
            );
        }
    }
    if legend {
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
        let l = Legend {
            x: WIDTH - LEGEND_W,
            right: WIDTH - 16.0,
            top,
            heading: "Series",
            value_heading: None,
            sample: Sample::Swatch,
        };
        l.draw(&mut out, &entries);
    }
    frame.close(&mut out, &chart.footer, WIDTH, height);
    out
}

#[allow(clippy::too_many_arguments)]
fn bar(
    out: &mut String,
    s: &FunnelSeries,
    i: usize,
    j: usize,
    left: f64,
    width: f64,
    y: f64,
    several: bool,
) {
    let color = style(i).color;
    let count = s.counts.get(j).copied().unwrap_or(0);
    let rate = s.rates.get(j).copied().flatten().filter(|r| r.is_finite());
    let w = rate.map_or(0.0, |r| r.clamp(0.0, 1.0) * width);
    let tip = format!(
        "{}, step {}: {} persons{}",
        s.name,
        j + 1,
        group(count),
        rate.map_or(String::new(), |r| format!(", {} of step 1", pct(r)))
    );
    put!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"><title>{}</title></rect>\n",
        f1(left),
        f1(y),
        f1(w.max(if count > 0 { 1.0 } else { 0.0 })),
        f1(BAR_H),
        esc(&tip)
    );
    if let Some(Some((lo, hi))) = s.bands.get(j)
        && lo.is_finite()
        && hi.is_finite()
    {
        let (x0, x1, cy) = (left + lo * width, left + hi * width, y + BAR_H / 2.0);
        put!(
            out,
            "<path class=\"whisker\" d=\"M{} {} L{} {} M{} {} L{} {} M{} {} L{} {}\" stroke=\"{TEXT}\" stroke-width=\"1\" stroke-opacity=\"0.7\" fill=\"none\"/>\n",
            f1(x0),
            f1(cy),
            f1(x1),
            f1(cy),
            f1(x0),
            f1(cy - 4.0),
            f1(x0),
            f1(cy + 4.0),
            f1(x1),
            f1(cy - 4.0),
            f1(x1),
            f1(cy + 4.0)
        );
    }
    let end = s
        .bands
        .get(j)
        .copied()
        .flatten()
        .map_or(w, |(_, hi)| (hi * width).max(w));
    put!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"11.5\" fill=\"{TEXT}\" dominant-baseline=\"middle\">{}{}{}</text>\n",
        f1(left + end + 6.0),
        f1(y + BAR_H / 2.0),
        group(count),
        rate.map_or(String::new(), |r| format!(" · {}", pct(r))),
        match (several, j.checked_sub(1).and_then(|p| s.counts.get(p))) {
            (true, Some(&before)) if before > count => format!(" · ↓{}", group(before - count)),
            _ => String::new(),
        }
    );
}
