//! Side files: immutable NDJSON files for quarantined inputs and persons-import records.
//!
//! One JSON object per line; the manifest records each file's CRC-32, so damage is detected before a line is
//! trusted. Raw bytes that are valid UTF-8 are kept as text (`raw`), anything else as hex (`raw_hex`).

use std::fmt::Write as _;
use std::path::Path;

use model::{PersonRecord, RejectReason, Rejection, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
struct RejectionLine {
    reason: String,
    detail: String,
    source: String,
    received_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_hex: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PersonLine {
    distinct_ids: Vec<String>,
    properties: String,
    created_at: Option<i64>,
    updated_at: i64,
    source: String,
}

/// Encodes rejections, one line each.
pub fn encode_rejections(rejections: &[Rejection]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rejections {
        let (raw, raw_hex) = match std::str::from_utf8(&r.raw) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (
                None,
                Some(r.raw.iter().fold(String::new(), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                })),
            ),
        };
        let line = RejectionLine {
            reason: r.reason.code().to_string(),
            detail: r.detail.clone(),
            source: r.source.clone(),
            received_at: r.received_at.0,
            raw,
            raw_hex,
        };
        serde_json::to_writer(&mut out, &line).expect("rejection line serializes");
        out.push(b'\n');
    }
    out
}

/// Encodes persons-import records, one line each.
pub fn encode_persons(persons: &[PersonRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in persons {
        let line = PersonLine {
            distinct_ids: p.distinct_ids.clone(),
            properties: p.properties.clone(),
            created_at: p.created_at.map(|t| t.0),
            updated_at: p.updated_at.0,
            source: p.source.clone(),
        };
        serde_json::to_writer(&mut out, &line).expect("person line serializes");
        out.push(b'\n');
    }
    out
}

/// Reads a side file and checks its CRC-32 against the manifest's.
///
/// # Errors
/// IO errors, and [`Error::Corruption`] when the checksum does not match.
pub fn read_checked(path: &Path, crc32: u32) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    if crc32fast::hash(&bytes) != crc32 {
        return Err(Error::Corruption {
            path: path.to_path_buf(),
            offset: 0,
            reason: "checksum mismatch".into(),
        });
    }
    Ok(bytes)
}

/// Decodes a quarantine file.
///
/// # Errors
/// [`Error::Corruption`] naming the line that cannot be read.
pub fn decode_rejections(path: &Path, bytes: &[u8]) -> Result<Vec<Rejection>> {
    let mut out = Vec::new();
    for (i, line) in lines(bytes) {
        let bad = |reason: String| Error::Corruption {
            path: path.to_path_buf(),
            offset: i as u64,
            reason,
        };
        let l: RejectionLine = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        let reason = RejectReason::from_code(&l.reason)
            .ok_or_else(|| bad(format!("unknown reason {:?}", l.reason)))?;
        let raw = match (l.raw, l.raw_hex) {
            (Some(s), _) => s.into_bytes(),
            (None, Some(h)) => decode_hex(&h).ok_or_else(|| bad("bad raw_hex".into()))?,
            (None, None) => Vec::new(),
        };
        out.push(Rejection {
            reason,
            detail: l.detail,
            raw,
            source: l.source,
            received_at: Timestamp(l.received_at),
        });
    }
    Ok(out)
}

/// Decodes a persons file.
///
/// # Errors
/// [`Error::Corruption`] naming the line that cannot be read.
pub fn decode_persons(path: &Path, bytes: &[u8]) -> Result<Vec<PersonRecord>> {
    let mut out = Vec::new();
    for (i, line) in lines(bytes) {
        let l: PersonLine = serde_json::from_slice(line).map_err(|e| Error::Corruption {
            path: path.to_path_buf(),
            offset: i as u64,
            reason: e.to_string(),
        })?;
        out.push(PersonRecord {
            distinct_ids: l.distinct_ids,
            properties: l.properties,
            created_at: l.created_at.map(Timestamp),
            updated_at: Timestamp(l.updated_at),
            source: l.source,
        });
    }
    Ok(out)
}

/// Non-empty lines with their byte offsets.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut offset = 0;
    bytes.split(|&b| b == b'\n').filter_map(move |line| {
        let at = offset;
        offset += line.len() + 1;
        (!line.is_empty()).then_some((at, line))
    })
}

fn decode_hex(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_round_trip_including_invalid_utf8() {
        let rs = vec![
            Rejection {
                reason: RejectReason::MalformedEvent,
                detail: "line is not valid UTF-8".into(),
                raw: vec![b'{', 0xff, b'}'],
                source: "a.ndjson:3".into(),
                received_at: Timestamp(5),
            },
            Rejection {
                reason: RejectReason::MissingDistinctId,
                detail: "distinct_id is absent".into(),
                raw: b"{\"event\":\"x\"}".to_vec(),
                source: "a.ndjson:4".into(),
                received_at: Timestamp(5),
            },
        ];
        let bytes = encode_rejections(&rs);
        assert_eq!(decode_rejections(Path::new("q"), &bytes).unwrap(), rs);
    }
}
