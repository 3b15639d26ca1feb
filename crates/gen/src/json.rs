//! Hand-written text encoders for the hot path: JSON strings, integers, hex ids, uuids and RFC 3339 timestamps.
//!
//! Generating tens of millions of events spends most of its time writing text, so these append to a reused
//! `String` and never allocate; `serde_json` is kept out of the library on purpose.

use model::{Day, MICROS_PER_DAY};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal, quotes included, escaping what RFC 8259 requires.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
    if !s.bytes().any(needs_escape) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    out.push_str("\\u00");
                    out.push(HEX[(c as usize) >> 4] as char);
                    out.push(HEX[(c as usize) & 0xF] as char);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Appends `"key":` (the key must need no escaping, which holds for the generator's fixed keys).
pub(crate) fn push_key(out: &mut String, key: &str) {
    debug_assert!(!key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// Appends the decimal digits of `n`.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Appends `n` zero-padded to `width` digits (`width` ≤ 20, and `n` must fit).
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = n;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    debug_assert_eq!(n, 0);
    for &b in &buf[..width] {
        out.push(b as char);
    }
}

/// Appends a count of milliseconds as seconds with three decimals: `1234` → `1.234`.
pub(crate) fn push_millis_as_secs(out: &mut String, ms: u64) {
    push_u64(out, ms / 1000);
    out.push('.');
    push_padded(out, ms % 1000, 3);
}

/// Appends `n` as 16 lowercase hex digits.
pub(crate) fn push_hex64(out: &mut String, n: u64) {
    for shift in (0..16).rev() {
        out.push(HEX[((n >> (shift * 4)) & 0xF) as usize] as char);
    }
}

/// Appends the first `n_digits` (≤ 16) hex digits of `n`, most significant first.
pub(crate) fn push_hex_prefix(out: &mut String, n: u64, n_digits: u32) {
    for shift in (16 - n_digits..16).rev() {
        out.push(HEX[((n >> (shift * 4)) & 0xF) as usize] as char);
    }
}

/// Appends a uuid as lowercase hyphenated hex, `8-4-4-4-12`.
pub(crate) fn push_uuid(out: &mut String, uuid: &[u8; 16]) {
    for (i, &b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xF) as usize] as char);
    }
}

/// Appends a UTC instant as RFC 3339 with microseconds and `Z`: `2025-01-01T08:30:00.000123Z`.
pub(crate) fn push_timestamp(out: &mut String, ts_us: i64) {
    let day = Day(ts_us.div_euclid(MICROS_PER_DAY) as i32);
    let in_day = ts_us.rem_euclid(MICROS_PER_DAY) as u64;
    let (y, m, d) = day.ymd();
    push_padded(out, y as u64, 4);
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    out.push('T');
    let secs = in_day / 1_000_000;
    push_padded(out, secs / 3600, 2);
    out.push(':');
    push_padded(out, secs / 60 % 60, 2);
    out.push(':');
    push_padded(out, secs % 60, 2);
    out.push('.');
    push_padded(out, in_day % 1_000_000, 6);
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn encoders_write_what_readers_expect() {
        assert_eq!(with(|s| push_str(s, "plain")), r#""plain""#);
        assert_eq!(
            with(|s| push_str(s, "a\"b\\c\n\u{1}é")),
            r#""a\"b\\c\n\u0001é""#
        );
        assert_eq!(with(|s| push_u64(s, 0)), "0");
        assert_eq!(with(|s| push_u64(s, u64::MAX)), "18446744073709551615");
        assert_eq!(with(|s| push_millis_as_secs(s, 1_234)), "1.234");
        assert_eq!(with(|s| push_millis_as_secs(s, 45)), "0.045");
        assert_eq!(with(|s| push_hex64(s, 0xAB)), "00000000000000ab");
        assert_eq!(with(|s| push_hex_prefix(s, 0xABCD << 48, 4)), "abcd");
        let uuid = [
            0x01, 0x94, 0x1f, 0x29, 0x7c, 0x00, 0x7a, 0xbc, 0x80, 0x11, 0, 0, 0, 0, 0, 0xff,
        ];
        assert_eq!(
            with(|s| push_uuid(s, &uuid)),
            "01941f29-7c00-7abc-8011-0000000000ff"
        );
        let ts = Day::from_ymd(2025, 1, 1).start().0 + 8 * 3_600_000_000 + 30 * 60_000_000 + 123;
        assert_eq!(
            with(|s| push_timestamp(s, ts)),
            "2025-01-01T08:30:00.000123Z"
        );
    }
}
