//! Text in SVG: escaping, width estimates, wrapping and shortening labels.
//!
//! The charts carry no font metrics, so widths are estimates from an average glyph width, chosen on the generous
//! side so that estimated text never overflows the space reserved for it.

/// Average glyph width as a share of the font size, on the generous side so estimates do not overflow.
pub(super) const CHAR_W: f64 = 0.56;

/// The estimated width of `s` at `font_size`.
pub(super) fn text_width(s: &str, font_size: f64) -> f64 {
    s.chars().count() as f64 * font_size * CHAR_W
}

/// How many characters fit in `width` at `font_size`.
pub(super) fn chars_within(width: f64, font_size: f64) -> usize {
    (width / (font_size * CHAR_W)).floor() as usize
}

/// Escapes text for SVG content and attribute values; control characters XML cannot carry become U+FFFD.
pub(super) fn esc(s: &str) -> String {
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

/// Greedy word wrap at `max` characters; a word longer than a line is cut.
pub(crate) fn wrap(text: &str, max: usize) -> Vec<String> {
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
pub(super) fn wrap_balanced(text: &str, max: usize) -> Vec<String> {
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
pub(super) fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `lc1:sha256:9f2c0d…ab12`: enough to compare by eye; the full value goes in a tooltip.
pub(super) fn short_fingerprint(fp: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            esc("a<b&\"c\">'d'"),
            "a&lt;b&amp;&quot;c&quot;&gt;&#39;d&#39;"
        );
        assert_eq!(esc("a\u{1}b\n\tc\r"), "a\u{fffd}b  c ");
        assert_eq!(esc("\u{fffe}\u{ffff}é·…"), "\u{fffd}\u{fffd}é·…");
    }

    #[test]
    fn wrapping_and_shortening() {
        assert_eq!(
            wrap("one two three four", 9),
            vec!["one two", "three", "four"]
        );
        assert_eq!(wrap("abcdefghijkl", 8), vec!["abcdefgh", "ijkl"]);
        assert_eq!(wrap_balanced("aaa bbb ccc d", 12), vec!["aaa bbb", "ccc d"]);
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abcd", 4), "abcd");
        assert_eq!(short_fingerprint("lc1:sha256:abc"), "lc1:sha256:abc");
        assert_eq!(
            short_fingerprint(&format!("lc1:sha256:9f2c{}ab12", "0".repeat(56))),
            "lc1:sha256:9f2c0000…00ab12"
        );
    }

    #[test]
    fn widths_are_estimates_in_whole_characters() {
        assert_eq!(text_width("abcd", 10.0), 4.0 * 10.0 * CHAR_W);
        assert_eq!(chars_within(100.0, 10.0), 17);
    }
}
