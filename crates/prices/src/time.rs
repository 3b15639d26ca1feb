//! Dates and instants of price files: `2025-01-01` (00:00 UTC) or an RFC 3339 instant, as microseconds since the
//! Unix epoch. Written by hand on top of [`model::Day`] so the crate needs no calendar dependency.

use model::{Day, MICROS_PER_DAY};

/// Microseconds since 1970-01-01T00:00:00Z for a date or an RFC 3339 instant with an offset; `None` otherwise.
pub fn parse_instant(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let date = i64::from(Day::parse(text.get(..10)?)?.0);
    if b.len() == 10 {
        return Some(date * MICROS_PER_DAY);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let rest = &b[11..];
    let (hh, mm, ss) = (
        number(rest.get(0..2)?)?,
        number(rest.get(3..5)?)?,
        number(rest.get(6..8)?)?,
    );
    if rest[2] != b':' || rest[5] != b':' || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let mut i = 8;
    let mut micros = 0i64;
    if rest.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while rest.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(rest[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset_s = match rest.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (number(&[*h1, *h2])?, number(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let s = (h * 60 + m) * 60;
            if *sign == b'-' { -s } else { s }
        }
        _ => return None,
    };
    let seconds = date * 86_400 + (hh * 60 + mm) * 60 + ss - offset_s;
    Some(seconds * 1_000_000 + micros)
}

fn number(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::parse_instant;

    #[test]
    fn dates_and_instants() {
        assert_eq!(parse_instant("1970-01-01"), Some(0));
        assert_eq!(parse_instant("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_instant("2025-01-01"), Some(1_735_689_600_000_000));
        assert_eq!(
            parse_instant("2025-01-01T00:00:00Z"),
            Some(1_735_689_600_000_000)
        );
        assert_eq!(
            parse_instant("2025-01-01T01:00:00+01:00"),
            Some(1_735_689_600_000_000)
        );
        assert_eq!(
            parse_instant("2024-12-31T23:00:00-01:00"),
            Some(1_735_689_600_000_000)
        );
        assert_eq!(
            parse_instant("2025-01-01 00:00:00.5Z"),
            Some(1_735_689_600_500_000)
        );
        assert_eq!(parse_instant("2024-02-29"), Some(1_709_164_800_000_000));
        assert_eq!(parse_instant("1969-12-31"), Some(-86_400_000_000));
    }

    #[test]
    fn rejects_what_is_not_an_instant() {
        for bad in [
            "",
            "2025-1-01",
            "2025-02-29",
            "2025-13-01",
            "2025-01-01T00:00:00",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00Z",
            "2025-01-01T00:00:00.Z",
            "2025/01/01",
            "2025-01-01T00:00:00+0100",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
    }
}
