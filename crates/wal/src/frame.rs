//! Byte layout of one log file: the file header and the checksummed frames, and the scanner that reads them back.
//!
//! Everything here works on byte slices, so the torn-tail rule can be tested without a file system. `wal.rs` does
//! the IO and turns a [`ScanError`] into an [`Error`](crate::Error) naming the file.
//!
//! ```text
//! file   := header frame*
//! header := magic[8] version:u16 first_lsn:u64 header_crc:u32
//! frame  := crc:u32 len:u32 lsn:u64 body[len - 8]
//! ```
//!
//! `crc` is CRC-32 (crc32fast) over `len`, `lsn` and `body`, that is everything after the crc itself.

use crc32fast::Hasher;
use model::{Lsn, Record};

use crate::codec::{self, KIND_EVENTS, KIND_PERSONS};
use crate::error::Damage;

/// The first eight bytes of every log file.
pub const MAGIC: [u8; 8] = *b"LIUCUNWL";
/// The format version this build writes. Version 2 added the Sensors merge sources (tags 5 to 7).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this build still reads; files from `OLDEST_FORMAT_VERSION..=FORMAT_VERSION` open.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Length of a file header, the same in every version so far.
pub const HEADER_LEN: usize = 8 + 2 + 8 + 4;
/// Bytes before a frame's body: crc, len and lsn.
pub(crate) const FRAME_PREFIX_LEN: usize = 4 + 4 + 8;
/// The smallest valid `len`: an lsn and a kind byte.
const MIN_FRAME_LEN: u32 = 8 + 1;
/// The smallest valid frame on disk.
const MIN_FRAME_BYTES: usize = 4 + 4 + MIN_FRAME_LEN as usize;

/// A file header for a file whose first record will have `first_lsn`.
pub(crate) fn encode_header(first_lsn: Lsn) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[0..8].copy_from_slice(&MAGIC);
    out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[10..18].copy_from_slice(&first_lsn.0.to_le_bytes());
    let crc = crc32fast::hash(&out[..18]);
    out[18..22].copy_from_slice(&crc.to_le_bytes());
    out
}

/// A frame whose body is encoded but whose lsn is not assigned yet.
///
/// Appenders build this outside the log's lock; the checksum of the body is computed here too, so that the work
/// left under the lock ([`PendingFrame::seal`]) is constant-time.
#[derive(Debug)]
pub(crate) struct PendingFrame {
    bytes: Vec<u8>,
    body_crc: Hasher,
}

impl PendingFrame {
    /// Encodes `record` into a frame with room for the prefix.
    ///
    /// Returns `Err(size_bytes)` when the frame length would not fit in a `u32`.
    pub(crate) fn new(record: &Record) -> Result<PendingFrame, usize> {
        let mut bytes = vec![0u8; FRAME_PREFIX_LEN];
        codec::encode(record, &mut bytes);
        if u32::try_from(bytes.len() - 8).is_err() {
            return Err(bytes.len());
        }
        let mut body_crc = Hasher::new();
        body_crc.update(&bytes[FRAME_PREFIX_LEN..]);
        Ok(PendingFrame { bytes, body_crc })
    }

    /// Writes the length, `lsn` and checksum into the prefix and returns the finished frame.
    pub(crate) fn seal(mut self, lsn: Lsn) -> Vec<u8> {
        let len = u32::try_from(self.bytes.len() - 8).expect("checked in PendingFrame::new");
        self.bytes[4..8].copy_from_slice(&len.to_le_bytes());
        self.bytes[8..16].copy_from_slice(&lsn.0.to_le_bytes());
        let mut crc = Hasher::new();
        crc.update(&self.bytes[4..16]);
        crc.combine(&self.body_crc);
        self.bytes[0..4].copy_from_slice(&crc.finalize().to_le_bytes());
        self.bytes
    }
}

/// The lsn of a sealed frame.
pub(crate) fn frame_lsn(frame: &[u8]) -> Lsn {
    Lsn(read_u64(frame, 8).expect("a sealed frame has a full prefix"))
}

/// Why a file's bytes cannot be read as a log file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// Damage at a byte offset.
    Corrupt { offset: u64, reason: Damage },
    /// A well-formed magic followed by a version this build does not read.
    UnsupportedVersion(u16),
}

/// What a scan of one file found.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// The lsn from the header.
    pub(crate) first_lsn: Lsn,
    /// The format version from the header; appends go only to a file of the current version.
    pub(crate) version: u16,
    /// Every good record, in order.
    pub(crate) records: Vec<(Lsn, Record)>,
    /// Bytes up to the end of the last good frame; less than the file length only for a torn tail.
    pub(crate) valid_len: u64,
}

impl Scanned {
    /// The lsn the next record after this file gets.
    pub(crate) fn next_lsn(&self) -> Lsn {
        Lsn(self.first_lsn.0 + self.records.len() as u64)
    }
}

/// Whether the file being scanned is the last one, the only place a torn tail may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// An older file, fully synced before the next one was created: any bad frame is corruption.
    Sealed,
    /// The newest file, where a crash can leave a partly written final frame.
    Last,
}

/// The fields of a file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) version: u16,
    pub(crate) first_lsn: Lsn,
}

/// Reads and checks the header.
///
/// The version is checked right after the magic, before the checksum, because a future version may lay out the
/// rest of its header differently.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<Header, ScanError> {
    let corrupt = |reason| ScanError::Corrupt { offset: 0, reason };
    let short = || {
        corrupt(Damage::ShortHeader {
            len_bytes: bytes.len() as u64,
        })
    };
    let magic = bytes.get(0..8).ok_or_else(short)?;
    if magic != MAGIC {
        return Err(corrupt(Damage::BadMagic));
    }
    let version = read_u16(bytes, 8).ok_or_else(short)?;
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(ScanError::UnsupportedVersion(version));
    }
    let first_lsn = read_u64(bytes, 10).ok_or_else(short)?;
    let crc = read_u32(bytes, 18).ok_or_else(short)?;
    if crc32fast::hash(&bytes[..18]) != crc {
        return Err(corrupt(Damage::HeaderChecksum));
    }
    Ok(Header {
        version,
        first_lsn: Lsn(first_lsn),
    })
}

/// Reads a whole file: header, then frames until the end.
///
/// A bad frame (cut short, impossible length, checksum mismatch) is a torn tail only when `position` is
/// [`Position::Last`] and no valid frame starts anywhere after it; then the scan stops and `valid_len` marks the
/// cut. Any other bad frame, and any damage inside a frame whose checksum holds, is an error.
pub(crate) fn scan(bytes: &[u8], position: Position) -> Result<Scanned, ScanError> {
    let Header { version, first_lsn } = decode_header(bytes)?;
    let mut records = Vec::new();
    let mut pos = HEADER_LEN;
    let mut expected = first_lsn;
    while pos < bytes.len() {
        let corrupt = |offset: usize, reason| ScanError::Corrupt {
            offset: offset as u64,
            reason,
        };
        match check_frame(bytes, pos) {
            Ok(frame) => {
                if frame.lsn != expected {
                    return Err(corrupt(
                        pos,
                        Damage::LsnOutOfOrder {
                            expected,
                            found: frame.lsn,
                        },
                    ));
                }
                let body_at = pos + FRAME_PREFIX_LEN;
                let record = codec::decode_version(&bytes[body_at..frame.end], version)
                    .map_err(|e| corrupt(body_at + e.offset as usize, Damage::Record(e.reason)))?;
                records.push((frame.lsn, record));
                expected = Lsn(expected.0 + 1);
                pos = frame.end;
            }
            Err(damage) => {
                if position == Position::Sealed || valid_frame_after(bytes, pos + 1, expected) {
                    return Err(corrupt(pos, damage));
                }
                break;
            }
        }
    }
    Ok(Scanned {
        first_lsn,
        version,
        records,
        valid_len: pos as u64,
    })
}

/// A frame whose length and checksum hold.
struct CheckedFrame {
    lsn: Lsn,
    /// Offset just past the frame.
    end: usize,
}

/// Checks length and checksum of the frame at `pos`, without decoding its body.
fn check_frame(bytes: &[u8], pos: usize) -> Result<CheckedFrame, Damage> {
    let rest = bytes.len() - pos;
    let len = read_u32(bytes, pos + 4).ok_or(Damage::Truncated)?;
    if len < MIN_FRAME_LEN {
        return Err(Damage::BadLength { len });
    }
    let len = len as usize;
    if len > rest - 8 {
        return Err(Damage::Truncated);
    }
    let end = pos + 8 + len;
    let crc = read_u32(bytes, pos).ok_or(Damage::Truncated)?;
    if crc32fast::hash(&bytes[pos + 4..end]) != crc {
        return Err(Damage::ChecksumMismatch);
    }
    let lsn = Lsn(read_u64(bytes, pos + 8).ok_or(Damage::Truncated)?);
    Ok(CheckedFrame { lsn, end })
}

/// Whether a complete frame with a valid checksum and an lsn of at least `min_lsn` starts at any offset from
/// `from` on.
///
/// This is what separates a torn tail (only garbage after the bad frame) from damage in the middle of the last
/// file (a bad length or checksum followed by frames that were written after it). Cheap field checks run before
/// the checksum, so the scan is linear in practice.
fn valid_frame_after(bytes: &[u8], from: usize, min_lsn: Lsn) -> bool {
    // No more frames than bytes / MIN_FRAME_BYTES can follow, which bounds a plausible lsn.
    let max_lsn = min_lsn
        .0
        .saturating_add((bytes.len() / MIN_FRAME_BYTES) as u64);
    let last_start = bytes.len().saturating_sub(MIN_FRAME_BYTES);
    (from..=last_start).any(|p| {
        let plausible = read_u64(bytes, p + 8)
            .is_some_and(|lsn| (min_lsn.0..=max_lsn).contains(&lsn))
            && bytes
                .get(p + 16)
                .is_some_and(|&k| k == KIND_EVENTS || k == KIND_PERSONS);
        plausible && check_frame(bytes, p).is_ok()
    })
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use model::{EventBatch, Project};

    use super::*;

    fn record(n: usize) -> Record {
        let project = Project::new(&format!("p{n}")).expect("valid name");
        Record::Events(EventBatch::new(project, Vec::new(), Vec::new()))
    }

    fn file(first: u64, n: usize) -> Vec<u8> {
        let mut bytes = encode_header(Lsn(first)).to_vec();
        for i in 0..n {
            let frame = PendingFrame::new(&record(i))
                .expect("small record")
                .seal(Lsn(first + i as u64));
            bytes.extend_from_slice(&frame);
        }
        bytes
    }

    #[test]
    fn a_clean_file_scans_completely() {
        let bytes = file(7, 3);
        let scanned = scan(&bytes, Position::Sealed).expect("clean");
        assert_eq!(scanned.first_lsn, Lsn(7));
        assert_eq!(scanned.next_lsn(), Lsn(10));
        assert_eq!(scanned.valid_len, bytes.len() as u64);
        assert_eq!(scanned.records[2], (Lsn(9), record(2)));
    }

    #[test]
    fn a_cut_final_frame_is_torn_only_in_the_last_file() {
        let full = file(1, 3);
        let two = file(1, 2).len();
        let bytes = &full[..full.len() - 3];
        let scanned = scan(bytes, Position::Last).expect("torn tail");
        assert_eq!((scanned.records.len(), scanned.valid_len), (2, two as u64));
        let err = scan(bytes, Position::Sealed).expect_err("sealed files have no tail");
        assert_eq!(
            err,
            ScanError::Corrupt {
                offset: two as u64,
                reason: Damage::Truncated
            }
        );
    }

    #[test]
    fn a_bad_frame_followed_by_a_good_one_is_corruption() {
        let mut bytes = file(1, 3);
        let first_frame = HEADER_LEN;
        bytes[first_frame + 20] ^= 0x40;
        let err = scan(&bytes, Position::Last).expect_err("valid frames follow");
        assert_eq!(
            err,
            ScanError::Corrupt {
                offset: first_frame as u64,
                reason: Damage::ChecksumMismatch
            }
        );
    }

    #[test]
    fn unknown_versions_are_refused_before_anything_else() {
        for version in [0, FORMAT_VERSION + 1, u16::MAX] {
            let mut bytes = file(1, 1);
            bytes[8..10].copy_from_slice(&version.to_le_bytes());
            assert_eq!(
                scan(&bytes, Position::Last).expect_err("unknown version"),
                ScanError::UnsupportedVersion(version)
            );
        }
    }
}
