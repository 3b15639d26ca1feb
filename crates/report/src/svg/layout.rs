//! The canvas every chart shares: size, colours, the frame (title, wrapped definition, provenance footer), the
//! legend, series styles and point markers.
//!
//! A chart computes its plot area below [`Frame::bottom`] and above the footer, draws its axes and marks there,
//! and leaves the rest to these pieces, so every chart reads the same way: what it is at the top, where the
//! numbers come from at the bottom.

use super::scale::f1;
use super::text::{chars_within, esc, short_fingerprint, wrap_balanced};

/// The default canvas size; charts grow taller (or wider) when their content needs it.
pub(super) const WIDTH: f64 = 900.0;
pub(super) const HEIGHT: f64 = 560.0;
/// The smallest plot height a chart with a long legend keeps.
pub(super) const MIN_PLOT_H: f64 = 300.0;
/// Space below the plot for the x labels, the axis title and the footer.
pub(super) const BELOW_PLOT: f64 = 84.0;
/// The legend column on the right of line and bar charts.
pub(super) const LEGEND_W: f64 = 240.0;
pub(super) const LEGEND_ROW: f64 = 20.0;

pub(super) const FONT: &str =
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
pub(super) const TEXT: &str = "#1a1a1a";
pub(super) const AXIS_TEXT: &str = "#555555";
pub(super) const AXIS_LINE: &str = "#888888";
pub(super) const GRID: &str = "#e6e6e6";

/// Okabe–Ito colours minus yellow, which is unreadable as a thin line on white.
const COLORS: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
];
/// Dash patterns used once the colours run out.
const DASHES: [&str; 3] = ["", "7 4", "2 3"];
const SHAPES: [Shape; 4] = [
    Shape::Circle,
    Shape::Square,
    Shape::Triangle,
    Shape::Diamond,
];

/// The provenance line at the bottom of every chart.
///
/// It reads `{scope} · as of {as_of} · data {fingerprint, shortened}`, with the full fingerprint as a tooltip and
/// the engine on the right, so a chart seen on its own can be traced to the report and data behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footer {
    /// What the chart covers, such as `Days 2025-01-01 to 2025-01-31`; left out when empty.
    pub scope: String,
    /// The report's `as_of`.
    pub as_of: String,
    /// The data fingerprint (`lc1:sha256:…`).
    pub fingerprint: String,
    /// The engine that computed the report (`liucun 0.4.0`).
    pub engine: String,
}

/// Where a chart with a value axis on the left and a legend column on the right puts its plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Plot {
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) top: f64,
    pub(super) bottom: f64,
    /// The canvas height.
    pub(super) height: f64,
}

impl Plot {
    /// The plot below `frame`, leaving `y_labels_w` for the widest tick label and room for `legend_rows` legend
    /// rows (the canvas grows taller when the legend needs it).
    pub(super) fn beside_legend(frame: &Frame, y_labels_w: f64, legend_rows: usize) -> Plot {
        let left = (y_labels_w + 44.0).max(72.0).round();
        let right = WIDTH - LEGEND_W - 16.0;
        let top = frame.bottom + 20.0;
        let height = (top + Legend::height(legend_rows).max(MIN_PLOT_H) + BELOW_PLOT)
            .max(HEIGHT)
            .round();
        Plot {
            left,
            right,
            top,
            bottom: height - BELOW_PLOT,
            height,
        }
    }

    pub(super) fn width(&self) -> f64 {
        self.right - self.left
    }

    /// Writes `text` in the middle of an empty plot.
    pub(super) fn empty(&self, out: &mut String, text: &str) {
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" fill=\"{AXIS_TEXT}\">{}</text>\n",
            f1((self.left + self.right) / 2.0),
            f1((self.top + self.bottom) / 2.0),
            esc(text)
        );
    }

    /// The legend column to the right of the plot.
    pub(super) fn legend<'a>(&self, heading: &'a str, sample: Sample) -> Legend<'a> {
        Legend {
            x: self.right + 28.0,
            right: WIDTH - 16.0,
            top: self.top,
            heading,
            value_heading: None,
            sample,
        }
    }
}

/// A marker shape, so series stay apart in print and for colour-blind readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Circle,
    Square,
    Triangle,
    Diamond,
}

/// How series `i` is drawn: colours first, then dash patterns once they run out, and a marker shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Style {
    pub(super) color: &'static str,
    pub(super) dash: &'static str,
    pub(super) shape: Shape,
}

/// The style of the `i`-th series.
pub(super) fn style(i: usize) -> Style {
    Style {
        color: COLORS[i % COLORS.len()],
        dash: DASHES[(i / COLORS.len()) % DASHES.len()],
        shape: SHAPES[i % SHAPES.len()],
    }
}

/// Title and wrapped definition at the top, provenance at the bottom.
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) title: String,
    subtitle: Vec<String>,
    /// Where the header ends: content starts below.
    pub(super) bottom: f64,
}

impl Frame {
    /// A frame for a chart `width` wide; the definition is wrapped to fit.
    pub(super) fn new(title: String, definition: &str, width: f64) -> Frame {
        let subtitle = wrap_balanced(definition, chars_within(width - 48.0, 12.5));
        let bottom = 34.0 + subtitle.len() as f64 * 17.0;
        Frame {
            title,
            subtitle,
            bottom,
        }
    }

    /// Opens the SVG document: the root element, its accessible title and a white background.
    pub(super) fn open(&self, out: &mut String, width: f64, height: f64) {
        put!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"{FONT}\" role=\"img\">\n",
            w = f1(width),
            h = f1(height)
        );
        put!(out, "<title>{}</title>\n", esc(&self.title));
        put!(
            out,
            "<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
            f1(width),
            f1(height)
        );
    }

    /// Draws the title and the definition.
    pub(super) fn header(&self, out: &mut String) {
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

    /// Draws the footer and closes the document.
    pub(super) fn close(&self, out: &mut String, footer: &Footer, width: f64, height: f64) {
        let y = height - 16.0;
        put!(
            out,
            "<line x1=\"24\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\n",
            f1(y - 16.0),
            f1(width - 16.0),
            f1(y - 16.0)
        );
        let mut line = String::new();
        if !footer.scope.is_empty() {
            line.push_str(&footer.scope);
            line.push_str(" · ");
        }
        put!(
            line,
            "as of {} · data {}",
            footer.as_of,
            short_fingerprint(&footer.fingerprint)
        );
        put!(
            out,
            "<text x=\"24\" y=\"{}\" font-size=\"11\" fill=\"{AXIS_TEXT}\">{}<title>{}</title></text>\n",
            f1(y),
            esc(&line),
            esc(&footer.fingerprint)
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{AXIS_TEXT}\" text-anchor=\"end\">{}</text>\n",
            f1(width - 16.0),
            f1(y),
            esc(&footer.engine)
        );
        put!(out, "</svg>\n");
    }
}

/// What a legend entry shows before the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sample {
    /// A short line in the series' dash pattern with its marker: for line charts.
    Line,
    /// A filled square: for bars.
    Swatch,
}

/// One legend row.
#[derive(Debug)]
pub(super) struct LegendEntry<'a> {
    pub(super) name: &'a str,
    pub(super) style: Style,
    /// Right-aligned, under the value heading.
    pub(super) value: Option<String>,
}

/// A legend column from `x` to `right`, starting at `top`: a heading row, then one row per entry.
#[derive(Debug)]
pub(super) struct Legend<'a> {
    pub(super) x: f64,
    pub(super) right: f64,
    pub(super) top: f64,
    pub(super) heading: &'a str,
    pub(super) value_heading: Option<&'a str>,
    pub(super) sample: Sample,
}

impl Legend<'_> {
    /// The height `n` entries take.
    pub(super) fn height(n: usize) -> f64 {
        24.0 + n as f64 * LEGEND_ROW
    }

    /// The middle of row `i`; row `entries.len()` is free for a chart's own key below the entries.
    pub(super) fn row_y(&self, i: usize) -> f64 {
        self.top + 24.0 + i as f64 * LEGEND_ROW
    }

    pub(super) fn draw(&self, out: &mut String, entries: &[LegendEntry<'_>]) {
        let (lx, lr, top) = (self.x, self.right, self.top);
        put!(
            out,
            "<g class=\"legend\" font-size=\"12\" fill=\"{TEXT}\">\n"
        );
        put!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{AXIS_TEXT}\">{}</text>\n",
            f1(lx),
            f1(top + 4.0),
            esc(self.heading)
        );
        if let Some(h) = self.value_heading {
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{AXIS_TEXT}\">{}</text>\n",
                f1(lr),
                f1(top + 4.0),
                esc(h)
            );
        }
        let value_w = if self.value_heading.is_some() {
            64.0
        } else {
            0.0
        };
        let name_chars = chars_within(lr - lx - 30.0 - value_w, 12.0);
        for (i, e) in entries.iter().enumerate() {
            let y = self.row_y(i);
            match self.sample {
                Sample::Line => {
                    put!(
                        out,
                        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2.2\"{}/>\n",
                        f1(lx),
                        f1(y),
                        f1(lx + 22.0),
                        f1(y),
                        e.style.color,
                        dash_attr(e.style.dash)
                    );
                    put!(
                        out,
                        "<g fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\">\n",
                        e.style.color
                    );
                    marker(out, e.style.shape, lx + 11.0, y, 3.6, "");
                    put!(out, "</g>\n");
                }
                Sample::Swatch => put!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n",
                    f1(lx + 5.0),
                    f1(y - 8.0),
                    e.style.color
                ),
            }
            put!(
                out,
                "<text x=\"{}\" y=\"{}\" dominant-baseline=\"middle\">{}<title>{}</title></text>\n",
                f1(lx + 30.0),
                f1(y),
                esc(&super::text::ellipsize(e.name, name_chars)),
                esc(e.name)
            );
            if let Some(v) = &e.value {
                put!(
                    out,
                    "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>\n",
                    f1(lr),
                    f1(y),
                    esc(v)
                );
            }
        }
        put!(out, "</g>\n");
    }
}

/// A point marker; `tip` (already escaped) becomes its tooltip when not empty.
pub(super) fn marker(out: &mut String, shape: Shape, x: f64, y: f64, r: f64, tip: &str) {
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

/// ` stroke-dasharray="…"`, or nothing for a solid line.
pub(super) fn dash_attr(dash: &str) -> String {
    if dash.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{dash}\"")
    }
}

/// Appends one closed band polygon (upper edge forward, lower edge back) for a run of `(x, y_lo, y_hi)`.
pub(super) fn band_run(d: &mut String, run: &[(f64, f64, f64)]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_cycle_colours_then_dashes() {
        assert_eq!(style(0).color, style(7).color);
        assert_eq!((style(0).dash, style(7).dash), ("", "7 4"));
        assert_eq!(style(1).shape, Shape::Square);
    }

    #[test]
    fn the_footer_shortens_the_fingerprint_and_keeps_it_whole_in_the_tooltip() {
        let frame = Frame::new("T".to_string(), "", WIDTH);
        let mut out = String::new();
        let fp = format!("lc1:sha256:9f2c{}ab12", "0".repeat(56));
        let footer = Footer {
            scope: String::new(),
            as_of: "2025-02-01T00:00:00Z".to_string(),
            fingerprint: fp.clone(),
            engine: "liucun <dev>".to_string(),
        };
        frame.close(&mut out, &footer, WIDTH, HEIGHT);
        assert!(out.contains(&format!(
            ">as of 2025-02-01T00:00:00Z · data lc1:sha256:9f2c0000…00ab12<title>{fp}</title>"
        )));
        assert!(out.contains(">liucun &lt;dev&gt;</text>"));
        assert!(out.ends_with("</svg>\n"));
    }

    #[test]
    fn band_runs() {
        let mut d = String::new();
        band_run(&mut d, &[(10.0, 5.0, 1.0)]);
        assert_eq!(d, "M8.0 1.0 L12.0 1.0 L12.0 5.0 L8.0 5.0 Z ");
        d.clear();
        band_run(&mut d, &[(0.0, 5.0, 1.0), (10.0, 6.0, 2.0)]);
        assert_eq!(d, "M0.0 1.0 L10.0 2.0 L10.0 6.0 L0.0 5.0 Z ");
    }
}
