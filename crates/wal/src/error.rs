//! The one error type of the WAL, and [`Damage`], the reasons a log file counts as corrupt.
//!
//! The variants keep liucun's failure kinds apart: [`Error::Io`] is the environment, [`Error::Corruption`] and
//! [`Error::UnsupportedVersion`] need an operator, and [`Error::RecordTooLarge`] is the caller's input.

use std::io;
use std::path::PathBuf;

use model::Lsn;

use crate::codec::DecodeReason;

/// Everything that can go wrong while opening, appending to or truncating the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system call failed.
    #[error("wal io on {path}")]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A log file is damaged before its tail, or in a way a crash cannot explain. Nothing was skipped.
    #[error("wal file {path} at offset {offset}: {reason}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset in that file of the damaged header, frame or field.
        offset: u64,
        /// What is wrong there.
        reason: Damage,
    },
    /// A log file was written by a format version this build does not read, typically by a newer liucun.
    #[error(
        "wal file {path}: unsupported format version {version} (this build reads versions {oldest} to {current}; \
         a file from a newer version needs that version of liucun)",
        oldest = crate::OLDEST_FORMAT_VERSION,
        current = crate::FORMAT_VERSION
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in its header.
        version: u16,
    },
    /// Another open [`Wal`](crate::Wal) holds the directory's lock file.
    #[error("wal directory {path} is locked by another open log")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An earlier write or fsync failed, so the log no longer knows what is on disk; reopen it to recover.
    #[error("wal in {dir} stopped after an earlier io failure; reopen it")]
    Poisoned {
        /// The log directory.
        dir: PathBuf,
    },
    /// The encoded record does not fit in one frame (the frame length is a `u32`).
    #[error("wal record of {size_bytes} bytes does not fit in one frame")]
    RecordTooLarge {
        /// The encoded size.
        size_bytes: usize,
    },
}

/// Why a log file is corrupt; carried by [`Error::Corruption`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// A `*.wal` file whose name is not 20 decimal digits.
    #[error("file name is not a 20-digit lsn")]
    BadFileName,
    /// The file is shorter than its header.
    #[error("file header is cut short at {len_bytes} bytes")]
    ShortHeader {
        /// The file's length.
        len_bytes: u64,
    },
    /// The file does not start with the WAL magic bytes.
    #[error("bad magic bytes")]
    BadMagic,
    /// The header's checksum does not match its bytes.
    #[error("header checksum mismatch")]
    HeaderChecksum,
    /// The first lsn in the header disagrees with the file name.
    #[error("header says first lsn {header}, file name says {name}")]
    NameMismatch {
        /// The lsn in the file name.
        name: Lsn,
        /// The lsn in the header.
        header: Lsn,
    },
    /// The file does not continue where the previous one ended (a file is missing or misnamed).
    #[error("file starts at lsn {found}, expected {expected}")]
    LsnGap {
        /// What the previous file implies.
        expected: Lsn,
        /// What this file says.
        found: Lsn,
    },
    /// A frame ends past the end of a file that is not the last one.
    #[error("frame is cut short")]
    Truncated,
    /// A frame's length field is smaller than the fixed part of a frame.
    #[error("frame length {len} is too small")]
    BadLength {
        /// The length field.
        len: u32,
    },
    /// A frame's checksum does not match its bytes.
    #[error("frame checksum mismatch")]
    ChecksumMismatch,
    /// A frame with a valid checksum carries the wrong lsn.
    #[error("frame has lsn {found}, expected {expected}")]
    LsnOutOfOrder {
        /// The next lsn in sequence.
        expected: Lsn,
        /// The lsn in the frame.
        found: Lsn,
    },
    /// A frame with a valid checksum holds a record that does not decode.
    #[error("record does not decode: {0}")]
    Record(DecodeReason),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
