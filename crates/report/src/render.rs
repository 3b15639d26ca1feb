//! What every report's renderings share: colour on a terminal, CSV quoting, and the width of coloured text.

/// How to draw a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Color {
    /// ANSI background shades by rate.
    Ansi,
    /// Plain text (golden-testable).
    #[default]
    Plain,
}

/// How to lay out a text table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Colour or plain text.
    pub color: Color,
    /// Fit this many characters per line by showing the columns that matter most (retention: periods 1, 2, 3, 7,
    /// 14, 30, …); `None` shows every column.
    pub width: Option<usize>,
    /// Show exactly these columns (retention: period columns by index), whatever the width.
    pub columns: Option<Vec<usize>>,
}

/// How to draw a chart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChartOptions {
    /// The rate in (0, 1] at which the retention heatmap's colour scale saturates, the same for every chart drawn
    /// with it so two heatmaps compare; `None` takes it from the data (a rounded 95th percentile).
    pub color_max: Option<f64>,
}

impl From<Color> for TableOptions {
    fn from(color: Color) -> Self {
        TableOptions {
            color,
            ..TableOptions::default()
        }
    }
}

/// Renders a retention report as JSON (kept for callers that hold a [`RetentionReport`] itself).
pub fn to_json(r: &crate::retention::RetentionReport) -> serde_json::Value {
    crate::kind::Output::to_json(r)
}

/// A retention report as a text table.
pub fn to_table(r: &crate::retention::RetentionReport, color: Color) -> String {
    crate::kind::Output::to_table(r, &color.into())
}

/// A retention report as CSV.
pub fn to_csv(r: &crate::retention::RetentionReport) -> String {
    crate::kind::Output::to_csv(r)
}

/// `text` on a background shade for a rate in [0, 1].
pub(crate) fn shade(text: &str, rate: f64, color: Color) -> String {
    match color {
        Color::Plain => text.to_string(),
        Color::Ansi => {
            // Five blue shades from the 256-colour palette, darker for higher rates.
            let palette = [255, 153, 117, 75, 33];
            let idx = ((rate.clamp(0.0, 1.0) * 4.0).round()) as usize;
            let fg = if idx >= 3 { 15 } else { 16 };
            format!("\x1b[48;5;{}m\x1b[38;5;{fg}m{text}\x1b[0m", palette[idx])
        }
    }
}

pub(crate) fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, _) => n += 1,
            _ => {}
        }
    }
    n
}

/// A CSV field, quoted when it must be.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
