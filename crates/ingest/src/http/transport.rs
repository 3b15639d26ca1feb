//! The transport encodings every capture family shares: form fields, base64 (with `+` restored after form
//! decoding), gzip and LZ-string. Each decoder stops at the payload limit, and announces each buffer growth to the
//! request's [`Reserve`] before making it.

use std::io::Read;

use base64::Engine as _;

use super::{DecodeLimits, MAX_BODY_BYTES, Reserve, WireError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hint {
    None,
    Gzip,
    Base64,
    LzString,
}

pub(super) fn compression_hint(v: &str) -> Hint {
    match v.trim().to_ascii_lowercase().as_str() {
        "gzip" | "gzip-js" => Hint::Gzip,
        "base64" | "b64" => Hint::Base64,
        "lz64" | "lz-string" => Hint::LzString,
        _ => Hint::None,
    }
}

pub(super) fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first non-empty value of `key`.
pub(super) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// URL decoding turned `+` into a space; base64 text gets its `+` back.
pub(super) fn restore_plus(data: &str) -> String {
    let candidate = data.replace(' ', "+");
    if looks_base64(candidate.trim().as_bytes()) {
        candidate.trim().to_string()
    } else {
        data.to_string()
    }
}

/// Made only of strict base64 characters with correct padding.
pub(super) fn looks_base64(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() || !trimmed.len().is_multiple_of(4) {
        return false;
    }
    let body = trimmed
        .strip_suffix(b"==")
        .or_else(|| trimmed.strip_suffix(b"="))
        .unwrap_or(trimmed);
    body.iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

pub(super) fn base64_decode(bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    base64::engine::general_purpose::STANDARD
        .decode(bytes.trim_ascii())
        .map_err(|e| {
            WireError::bad(
                "invalid_base64",
                format!("the payload is not valid base64: {e}"),
            )
        })
}

/// Decompresses (gzip by hint or magic bytes, LZ-string by hint) and checks UTF-8.
pub(super) fn decode_text(
    payload: Vec<u8>,
    hint: Hint,
    limits: &DecodeLimits,
    reserve: &mut Reserve<'_>,
) -> Result<String, WireError> {
    let max = limits.max_payload_bytes;
    let bytes = if hint == Hint::Gzip || payload.starts_with(&[0x1f, 0x8b, 0x08]) {
        gunzip(&payload, max, reserve)?
    } else if hint == Hint::LzString {
        let text = std::str::from_utf8(&payload).map_err(|_| {
            WireError::bad("invalid_lz_string", "the LZ-string payload is not text")
        })?;
        let units = lz_string_base64(text.trim(), max, reserve)?;
        // The UTF-8 text is at most 3 bytes per unit.
        reserve(units.len().saturating_mul(3))?;
        let s = String::from_utf16(&units).map_err(|_| {
            WireError::bad(
                "invalid_lz_string",
                "the LZ-string payload is not valid UTF-16",
            )
        })?;
        if s.len() > max {
            return Err(payload_too_large(max));
        }
        return Ok(s);
    } else {
        if payload.len() > max {
            return Err(payload_too_large(max));
        }
        payload
    };
    String::from_utf8(bytes).map_err(|e| {
        WireError::bad(
            "invalid_utf8",
            format!(
                "the payload is not valid UTF-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The base64 digits of LZ-string, in value order.
pub(super) const LZ_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// LZ-string's `decompressFromBase64` (posthog-js's `lz64`) into UTF-16 code units, refused with 413 as soon as the
/// output passes `max_units`.
///
/// LZ-string output can grow quadratically with its input (each code may repeat the previous entry plus one unit),
/// so a payload of a few hundred kilobytes can expand to gigabytes: the limit is checked while decoding, not after.
/// Each dictionary entry is kept as a range of the output, where it always appears whole, so memory stays linear
/// in the output. A space counts as `+` (form decoding turns `+` into a space); other characters outside the
/// alphabet are skipped, and `=` is a zero.
pub(super) fn lz_string_base64(
    text: &str,
    max_units: usize,
    reserve: &mut Reserve<'_>,
) -> Result<Vec<u16>, WireError> {
    /// The input as a bit stream: 6 bits per character, most significant first.
    struct Bits<I> {
        sextets: I,
        value: u8,
        mask: u8,
    }
    impl<I: Iterator<Item = u8>> Bits<I> {
        /// `n` bits, least significant first.
        fn read(&mut self, n: u32) -> Option<u32> {
            let mut out = 0;
            for i in 0..n {
                if self.mask == 0 {
                    self.value = self.sextets.next()?;
                    self.mask = 1 << 5;
                }
                if self.value & self.mask != 0 {
                    out |= 1 << i;
                }
                self.mask >>= 1;
            }
            Some(out)
        }
    }
    let invalid = || {
        WireError::bad(
            "invalid_lz_string",
            "the payload is not valid LZ-string base64",
        )
    };
    let sextet = |b: u8| match b {
        b' ' => Some(62),
        b'=' => Some(0),
        _ => LZ_ALPHABET.iter().position(|&a| a == b).map(|i| i as u8),
    };
    let mut bits = Bits {
        sextets: text.bytes().filter_map(sextet).peekable(),
        value: 0,
        mask: 0,
    };
    if bits.sextets.peek().is_none() {
        return Ok(Vec::new());
    }
    // Codes 0 and 1 announce an 8- or 16-bit literal and 2 ends the stream; entries start at 3.
    let literal = |bits: &mut Bits<_>, code: usize| -> Result<u16, WireError> {
        let n = if code == 0 { 8 } else { 16 };
        bits.read(n).map(|c| c as u16).ok_or_else(invalid)
    };
    let mut out: Vec<u16> = Vec::new();
    ensure_room(&mut out, 1, max_units, reserve)?;
    let first = match bits.read(2).ok_or_else(invalid)? as usize {
        code @ (0 | 1) => literal(&mut bits, code)?,
        2 => return Ok(out),
        _ => return Err(invalid()),
    };
    out.push(first);
    // (start, length) of each entry in `out`.
    let mut dict: Vec<(usize, usize)> = vec![(0, 0), (0, 0), (0, 0), (0, 1)];
    let mut w = (0, 1);
    let mut num_bits = 3;
    let mut enlarge_in: u64 = 4;
    loop {
        let mut code = bits.read(num_bits).ok_or_else(invalid)? as usize;
        let mut new_unit = None;
        match code {
            0 | 1 => {
                new_unit = Some(literal(&mut bits, code)?);
                ensure_room(&mut dict, 1, usize::MAX, reserve)?;
                dict.push((out.len(), 1));
                code = dict.len() - 1;
                enlarge_in -= 1;
            }
            2 => return Ok(out),
            _ => {}
        }
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
        let start = out.len();
        let adds = match (new_unit, dict.get(code)) {
            (Some(_), _) => 1,
            (None, Some(&(_, n))) => n,
            (None, None) if code == dict.len() => w.1 + 1,
            (None, None) => return Err(invalid()),
        };
        // Checked before the output grows, which it may do by as much as it already holds.
        if out.len() + adds > max_units {
            return Err(payload_too_large(max_units));
        }
        ensure_room(&mut out, adds, max_units, reserve)?;
        if let Some(unit) = new_unit {
            out.push(unit);
        } else if let Some(&(s, n)) = dict.get(code) {
            out.extend_from_within(s..s + n);
        } else {
            // The entry being defined: the previous one plus its own first unit.
            out.extend_from_within(w.0..w.0 + w.1);
            out.push(out[w.0]);
        }
        // The previous entry plus the first unit of this one, which follows it in `out`.
        ensure_room(&mut dict, 1, usize::MAX, reserve)?;
        dict.push((w.0, w.1 + 1));
        enlarge_in -= 1;
        w = (start, out.len() - start);
        if enlarge_in == 0 {
            enlarge_in = 1 << num_bits;
            num_bits += 1;
        }
    }
}

/// Makes room for `extra` more elements, reserving what a growth adds first (doubling, so a few copies in all).
///
/// A growth is reserved twice over: moving to the new buffer holds the old one too, and an allocator keeps what
/// is freed for later, so what the process holds follows the sum of the buffers rather than the last one.
/// The buffer never grows past `cap` elements unless `extra` needs it.
pub(super) fn ensure_room<T>(
    out: &mut Vec<T>,
    extra: usize,
    cap: usize,
    reserve: &mut Reserve<'_>,
) -> Result<(), WireError> {
    let need = out.len() + extra;
    if need <= out.capacity() {
        return Ok(());
    }
    let want = (out.capacity() * 2).max(64).min(cap).max(need);
    reserve(
        (want - out.capacity())
            .saturating_mul(std::mem::size_of::<T>())
            .saturating_mul(2),
    )?;
    out.reserve_exact(want - out.len());
    Ok(())
}

/// Inflates gzip into reserved buffers, stopping as soon as the output passes `max`: a bomb costs the limit (or what
/// `reserve` allows), never what it would inflate to.
///
/// The gzip trailer states the (last member's) size, and when it is within `max` the output buffer is sized from it
/// once. It is only a hint (a truncated stream ends in arbitrary bytes, and a sender can lie): otherwise the output
/// is gathered in blocks of one size and joined once its length is known. Blocks of one size are what an allocator
/// reuses best from one request to the next, where a buffer grown by doubling leaves freed buffers of every size
/// behind, which kept the process's memory well above what requests held at once.
pub(super) fn gunzip(
    bytes: &[u8],
    max: usize,
    reserve: &mut Reserve<'_>,
) -> Result<Vec<u8>, WireError> {
    const BLOCK: usize = 1 << 20;
    let stated = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map(|t| u32::from_le_bytes(t) as usize)
        .filter(|n| *n <= max);
    let invalid = |e: std::io::Error| {
        WireError::bad(
            "invalid_gzip",
            format!("the gzip payload cannot be read: {e}"),
        )
    };
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    // One byte more than the stated size: a block that is not filled tells the end of the stream without another.
    let mut first = stated.map_or(BLOCK, |n| n + 1);
    loop {
        let size = std::mem::replace(&mut first, BLOCK);
        reserve(size)?;
        let mut block = vec![0u8; size];
        let mut filled = 0;
        while filled < size {
            let n = decoder.read(&mut block[filled..]).map_err(invalid)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        total += filled;
        if total > max {
            return Err(payload_too_large(max));
        }
        block.truncate(filled);
        let ended = filled < size;
        blocks.push(block);
        if ended {
            break;
        }
    }
    if blocks.len() == 1 {
        return Ok(blocks.pop().unwrap_or_default());
    }
    reserve(total)?;
    let mut out = Vec::with_capacity(total);
    for b in blocks {
        out.extend_from_slice(&b);
    }
    Ok(out)
}

pub(super) fn parse_json<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, WireError> {
    serde_json::from_str(text).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            WireError::bad(
                "invalid_json",
                "the payload is nested deeper than 128 levels",
            )
        } else {
            WireError::bad("invalid_json", format!("the payload is not JSON: {e}"))
        }
    })
}

pub(super) fn body_too_large(n: usize) -> WireError {
    WireError::too_large(format!(
        "the body is {n} bytes, the limit is {MAX_BODY_BYTES} bytes"
    ))
}

pub(super) fn payload_too_large(max: usize) -> WireError {
    WireError::too_large(format!(
        "the decompressed payload is over the limit of {max} bytes"
    ))
}
