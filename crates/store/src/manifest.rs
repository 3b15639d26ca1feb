//! The manifest: the one file liucun rewrites, listing every live segment and side file.
//!
//! It is replaced atomically (temporary file, fsync, rename, fsync directory). Its first line carries the format
//! version, the body's length and its CRC-32, so a damaged manifest is named, never half-read. See
//! `docs/formats/manifest.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;

/// The manifest format version this build writes (and the newest it reads).
pub const MANIFEST_VERSION: u32 = 1;
const MAGIC: &str = "LIUCUN-MANIFEST";

/// The state of a data directory: what is live, and how far the WAL has been flushed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Incremented on every commit.
    pub generation: u64,
    /// The next id for a new file.
    pub next_file_id: u64,
    /// Every WAL record with an lsn up to and including this one is in the files listed here.
    pub wal_checkpoint: u64,
    /// Live event segments.
    pub segments: Vec<SegmentEntry>,
    /// Quarantine, persons-import and identity-merge files.
    pub side_files: Vec<SideFile>,
    /// Per-project counters that survive compaction.
    pub projects: BTreeMap<String, ProjectCounters>,
}

/// One live segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// Unique file id.
    pub id: u64,
    /// Project name.
    pub project: String,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Path relative to the data directory.
    pub file: String,
    /// Number of events.
    pub rows: u64,
    /// File size.
    pub size_bytes: u64,
    /// Earliest event time, µs.
    pub min_ts: i64,
    /// Latest event time, µs.
    pub max_ts: i64,
    /// Hex sum modulo 2²⁵⁶ of the event digests.
    pub digest_sum: String,
    /// Events carrying an identity merge.
    pub merges: u64,
}

/// What a side file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SideKind {
    /// Rejected inputs with their reasons.
    Quarantine,
    /// Persons-import records.
    Persons,
}

/// One immutable NDJSON side file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideFile {
    /// What it holds.
    pub kind: SideKind,
    /// Unique file id.
    pub id: u64,
    /// Project name.
    pub project: String,
    /// Path relative to the data directory.
    pub file: String,
    /// Number of lines.
    pub rows: u64,
    /// CRC-32 of the whole file.
    pub crc32: u32,
    /// Counts by reason code (quarantine files only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_reason: BTreeMap<String, u64>,
}

/// Counters kept per project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectCounters {
    /// Identical copies of an event that were collapsed.
    pub duplicates: u64,
    /// Copies of a uuid with different content; the smaller digest was kept.
    pub conflicts: u64,
}

impl Manifest {
    /// Encodes the manifest: a header line, then the JSON body.
    pub fn encode(&self) -> Vec<u8> {
        let body = serde_json::to_vec_pretty(self).expect("manifest serializes");
        let crc = crc32fast::hash(&body);
        let mut out = format!(
            "{MAGIC} v{MANIFEST_VERSION} crc32={crc:08x} len={}\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }

    /// Decodes and checks a manifest read from `path`.
    ///
    /// # Errors
    /// [`Error::Corruption`] for a bad header, length or checksum, [`Error::UnsupportedVersion`] for a newer one.
    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        let corrupt = |offset: u64, reason: &str| Error::Corruption {
            path: path.to_path_buf(),
            offset,
            reason: reason.to_string(),
        };
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt(0, "no header line"))?;
        let header =
            std::str::from_utf8(&bytes[..nl]).map_err(|_| corrupt(0, "header is not UTF-8"))?;
        let mut parts = header.split(' ');
        if parts.next() != Some(MAGIC) {
            return Err(corrupt(0, "bad magic"));
        }
        let version: u32 = parts
            .next()
            .and_then(|v| v.strip_prefix('v'))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt(0, "bad version field"))?;
        if version == 0 {
            return Err(corrupt(0, "version 0 does not exist"));
        }
        if version > MANIFEST_VERSION {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
                supported: MANIFEST_VERSION,
            });
        }
        let crc = parts
            .next()
            .and_then(|v| v.strip_prefix("crc32="))
            .and_then(|v| u32::from_str_radix(v, 16).ok())
            .ok_or_else(|| corrupt(0, "bad crc32 field"))?;
        let len: usize = parts
            .next()
            .and_then(|v| v.strip_prefix("len="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| corrupt(0, "bad len field"))?;
        let body = &bytes[nl + 1..];
        if body.len() != len {
            return Err(corrupt(
                nl as u64 + 1,
                &format!("body is {} bytes, header says {len}", body.len()),
            ));
        }
        if crc32fast::hash(body) != crc {
            return Err(corrupt(nl as u64 + 1, "checksum mismatch"));
        }
        serde_json::from_slice(body).map_err(|e| corrupt(nl as u64 + 1, &format!("body: {e}")))
    }

    /// Reads the manifest at `path`.
    ///
    /// # Errors
    /// IO errors and the errors of [`Manifest::decode`].
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        Manifest::decode(path, &bytes)
    }

    /// Replaces the manifest at `path` atomically.
    ///
    /// # Errors
    /// IO errors.
    pub fn commit(&self, path: &Path) -> Result<()> {
        fsutil::write_atomic(path, &self.encode())
    }

    /// Allocates a new file id.
    pub fn allocate_id(&mut self) -> u64 {
        self.next_file_id += 1;
        self.next_file_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let mut m = Manifest {
            generation: 3,
            next_file_id: 9,
            wal_checkpoint: 42,
            ..Manifest::default()
        };
        m.segments.push(SegmentEntry {
            id: 7,
            project: "chat".into(),
            day: "2025-03-01".into(),
            file: "segments/chat/2025-03-01/00000007.parquet".into(),
            rows: 10,
            size_bytes: 1234,
            min_ts: 1,
            max_ts: 2,
            digest_sum: "00".repeat(32),
            merges: 0,
        });
        m
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(
            Manifest::decode(Path::new("MANIFEST"), &m.encode()).unwrap(),
            m
        );
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            let got = Manifest::decode(Path::new("MANIFEST"), &damaged);
            assert!(
                matches!(
                    got,
                    Err(Error::Corruption { .. }) | Err(Error::UnsupportedVersion { .. })
                ),
                "flip at {i} not detected: {got:?}"
            );
        }
    }

    #[test]
    fn newer_versions_are_refused_by_name() {
        let mut bytes = sample().encode();
        bytes[MAGIC.len() + 2] = b'9';
        let err = Manifest::decode(Path::new("MANIFEST"), &bytes).unwrap_err();
        assert!(err.to_string().contains("format version 9"), "{err}");
    }
}
