//! [`Wal`]: the directory of log files, replay on open, group-committed appends, rotation and truncation.
//!
//! # Group commit (leader/follower)
//!
//! An appender encodes and checksums its record without any lock, then takes the queue lock just long enough to
//! get the next lsn and push the sealed frame onto the pending list. If no leader is active it becomes the leader:
//! it takes the whole pending list, releases the queue lock, writes all frames with one `write` per file and one
//! `fdatasync`, then publishes the highest durable lsn and wakes everyone. Appenders that arrived while a leader
//! was busy wait on a condition variable; when the leader finishes, those whose lsn is now durable return and one
//! of the rest becomes the next leader for everything queued meanwhile. So under load one fsync covers many
//! appends, and no dedicated thread is needed.
//!
//! Lock order is always writer, then queue; the leader never holds both.
//!
//! # Next lsn across truncation
//!
//! Every file header carries the lsn of its first record, and the directory always holds at least one file (the
//! active one, possibly empty). [`Wal::truncate_through`] first rotates a fully covered active file into a fresh
//! empty one, so the next lsn is always recoverable from the newest header even after everything was truncated.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use model::{Lsn, Record};

use crate::error::{Damage, Error};
use crate::frame::{self, PendingFrame, Position, ScanError};

/// Tuning knobs of a [`Wal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// A new file is started when the next frame would take the active file past this size. A single frame larger
    /// than this still goes into one file of its own.
    pub max_file_bytes: u64,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig {
            max_file_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The write-ahead log of one data directory. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    queue: Mutex<Queue>,
    committed: Condvar,
    writer: Mutex<Writer>,
    /// Held for the lifetime of the log so that two processes never append to the same directory.
    _lock: File,
}

/// Everything [`Wal::open`] read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Every record still in the log, in lsn order.
    pub records: Vec<(Lsn, Record)>,
    /// The partly written final frame that was cut off, if any.
    pub torn_tail: Option<TornTail>,
}

/// A torn final frame that [`Wal::open`] cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The last log file.
    pub path: PathBuf,
    /// Where the file now ends: the end of its last good frame.
    pub offset: u64,
    /// How many bytes were removed.
    pub bytes_cut: u64,
}

/// A snapshot of the log for `inspect` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalState {
    /// Log files, oldest first; the last one is the active file.
    pub files: Vec<WalFileState>,
    /// Sum of the file sizes.
    pub total_bytes: u64,
    /// The lsn the next append gets.
    pub next_lsn: Lsn,
    /// fsync calls (files and directory) since open; with concurrent appenders this grows slower than `appends`.
    pub fsyncs: u64,
    /// Appends accepted since open.
    pub appends: u64,
}

/// One log file in a [`WalState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalFileState {
    /// File name, `NNNNNNNNNNNNNNNNNNNN.wal`.
    pub name: String,
    /// Size including the header.
    pub size_bytes: u64,
    /// The lsn of the file's first record (from its header), also for an empty file.
    pub first_lsn: Lsn,
    /// The lsn of its last record, `None` when it holds none.
    pub last_lsn: Option<Lsn>,
}

/// The shared state appenders coordinate through.
#[derive(Debug)]
struct Queue {
    next_lsn: Lsn,
    /// Sealed frames waiting for a leader, in lsn order.
    pending: Vec<Vec<u8>>,
    /// Every lsn up to this one is fsynced.
    durable_lsn: Lsn,
    is_leader_active: bool,
    is_poisoned: bool,
    appends: u64,
}

/// The files; touched by one leader (or truncation, or `state`) at a time.
#[derive(Debug)]
struct Writer {
    dir: PathBuf,
    max_file_bytes: u64,
    /// Oldest first; never empty, the last is the active file.
    files: Vec<FileMeta>,
    active: File,
    /// The lsn of the next frame to be written.
    next_lsn: Lsn,
    fsyncs: u64,
    is_poisoned: bool,
    /// Reused write buffer.
    buf: Vec<u8>,
}

#[derive(Debug, Clone)]
struct FileMeta {
    path: PathBuf,
    first_lsn: Lsn,
    last_lsn: Option<Lsn>,
    size_bytes: u64,
}

const LOCK_FILE: &str = "LOCK";
const SUFFIX: &str = ".wal";
const TMP_SUFFIX: &str = ".wal.tmp";

impl Wal {
    /// Opens the log in `dir`, creating the directory and a first file when absent, and replays it.
    ///
    /// A torn final frame in the last file is cut off (the file is shortened and fsynced), logged with
    /// `tracing::warn!` and reported in [`Replay::torn_tail`]. Leftover `*.wal.tmp` files from an interrupted
    /// rotation are removed.
    ///
    /// # Errors
    /// - [`Error::Corruption`] for damage anywhere but a torn tail; nothing is skipped or changed then.
    /// - [`Error::UnsupportedVersion`] for a file from a format version this build does not read (a newer one).
    ///
    /// Files of an older format version that this build still reads are replayed and left as they are; when the
    /// newest file is one of them, appends go to a new file of the current version.
    /// - [`Error::Locked`] when another open `Wal` holds the directory.
    /// - [`Error::Io`] when the file system fails.
    pub fn open(dir: &Path, config: WalConfig) -> Result<(Wal, Replay), Error> {
        let _span = tracing::info_span!("wal_open", dir = %dir.display()).entered();
        let mut fsyncs = 0;
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(Error::io(dir))?;
            // Make the new directory entry itself durable.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent, &mut fsyncs)?;
            }
        }
        let lock = lock_dir(dir)?;
        let paths = list_files(dir, &mut fsyncs)?;

        let mut records = Vec::new();
        let mut files = Vec::with_capacity(paths.len());
        let mut torn_tail = None;
        let mut next_lsn: Option<Lsn> = None;
        let mut last_version = frame::FORMAT_VERSION;
        for (i, (name_lsn, path)) in paths.iter().enumerate() {
            let position = if i + 1 == paths.len() {
                Position::Last
            } else {
                Position::Sealed
            };
            let bytes = fs::read(path).map_err(Error::io(path))?;
            let scanned = frame::scan(&bytes, position).map_err(|e| match e {
                ScanError::Corrupt { offset, reason } => Error::Corruption {
                    path: path.clone(),
                    offset,
                    reason,
                },
                ScanError::UnsupportedVersion(version) => Error::UnsupportedVersion {
                    path: path.clone(),
                    version,
                },
            })?;
            let corrupt = |reason| Error::Corruption {
                path: path.clone(),
                offset: 0,
                reason,
            };
            if scanned.first_lsn != *name_lsn {
                return Err(corrupt(Damage::NameMismatch {
                    name: *name_lsn,
                    header: scanned.first_lsn,
                }));
            }
            if let Some(expected) = next_lsn.filter(|&e| e != scanned.first_lsn) {
                return Err(corrupt(Damage::LsnGap {
                    expected,
                    found: scanned.first_lsn,
                }));
            }
            next_lsn = Some(scanned.next_lsn());
            last_version = scanned.version;
            if scanned.valid_len < bytes.len() as u64 {
                let tail = TornTail {
                    path: path.clone(),
                    offset: scanned.valid_len,
                    bytes_cut: bytes.len() as u64 - scanned.valid_len,
                };
                tracing::warn!(path = %path.display(), offset = tail.offset, bytes_cut = tail.bytes_cut,
                    "cutting torn wal tail");
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(Error::io(path))?;
                file.set_len(tail.offset).map_err(Error::io(path))?;
                file.sync_all().map_err(Error::io(path))?;
                fsyncs += 1;
                torn_tail = Some(tail);
            }
            files.push(FileMeta {
                path: path.clone(),
                first_lsn: scanned.first_lsn,
                last_lsn: scanned.records.last().map(|(lsn, _)| *lsn),
                size_bytes: scanned.valid_len,
            });
            records.extend(scanned.records);
        }

        let next_lsn = next_lsn.unwrap_or(Lsn(1));
        let active = match files.last() {
            Some(last) if last_version == frame::FORMAT_VERSION => OpenOptions::new()
                .append(true)
                .open(&last.path)
                .map_err(Error::io(&last.path))?,
            Some(last) => {
                // Frames are only ever appended to a file of the current version, so that every file is read
                // with the tag tables of the version in its header. An older file stays as it is until truncated.
                tracing::info!(path = %last.path.display(), version = last_version,
                    "starting a new wal file after one of an older format version");
                if last.last_lsn.is_none() {
                    // An empty older file has the name the new one needs; create_file renames over it.
                    files.pop();
                }
                let (file, meta) = create_file(dir, next_lsn, &mut fsyncs)?;
                files.push(meta);
                file
            }
            None => {
                let (file, meta) = create_file(dir, next_lsn, &mut fsyncs)?;
                files.push(meta);
                file
            }
        };
        tracing::info!(
            files = files.len(),
            records = records.len(),
            next_lsn = next_lsn.0,
            "wal opened"
        );

        let writer = Writer {
            dir: dir.to_path_buf(),
            max_file_bytes: config.max_file_bytes,
            files,
            active,
            next_lsn,
            fsyncs,
            is_poisoned: false,
            buf: Vec::new(),
        };
        let queue = Queue {
            next_lsn,
            pending: Vec::new(),
            durable_lsn: Lsn(next_lsn.0 - 1),
            is_leader_active: false,
            is_poisoned: false,
            appends: 0,
        };
        let wal = Wal {
            dir: dir.to_path_buf(),
            queue: Mutex::new(queue),
            committed: Condvar::new(),
            writer: Mutex::new(writer),
            _lock: lock,
        };
        Ok((wal, Replay { records, torn_tail }))
    }

    /// Appends `record` and returns its lsn once the bytes are fsynced.
    ///
    /// Safe to call from many threads; concurrent calls share fsyncs (see the module docs).
    ///
    /// # Errors
    /// - [`Error::RecordTooLarge`] when the record does not fit in a frame; the log is unaffected.
    /// - [`Error::Io`] when the write or fsync of this call's group failed; the log is then poisoned.
    /// - [`Error::Poisoned`] after an earlier failure, including another thread's group: reopen the log.
    pub fn append(&self, record: &Record) -> Result<Lsn, Error> {
        let frame =
            PendingFrame::new(record).map_err(|size_bytes| Error::RecordTooLarge { size_bytes })?;
        let mut q = lock(&self.queue);
        if q.is_poisoned {
            return Err(self.poisoned());
        }
        let lsn = q.next_lsn;
        q.next_lsn = Lsn(lsn.0 + 1);
        q.appends += 1;
        q.pending.push(frame.seal(lsn));
        loop {
            if q.durable_lsn >= lsn {
                return Ok(lsn);
            }
            if q.is_poisoned {
                return Err(self.poisoned());
            }
            if !q.is_leader_active {
                // Our frame is still pending: a leader that took it would still be active.
                q.is_leader_active = true;
                let frames = std::mem::take(&mut q.pending);
                drop(q);
                let written = self.write_group(&frames);
                q = lock(&self.queue);
                q.is_leader_active = false;
                match written {
                    Ok(last) => q.durable_lsn = last,
                    Err(e) => {
                        q.is_poisoned = true;
                        self.committed.notify_all();
                        return Err(e);
                    }
                }
                self.committed.notify_all();
                continue;
            }
            q = self
                .committed
                .wait(q)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Removes whole log files whose records all have an lsn at most `lsn`, oldest first.
    ///
    /// When the active file is covered too, it is first replaced by a new empty file, so the directory keeps the
    /// next lsn. Removals are followed by one directory fsync.
    ///
    /// # Errors
    /// [`Error::Io`] when creating, removing or syncing fails (files removed before the failure stay removed),
    /// [`Error::Poisoned`] after an earlier append failure.
    pub fn truncate_through(&self, lsn: Lsn) -> Result<(), Error> {
        let _span = tracing::info_span!("wal_truncate", through = lsn.0).entered();
        let mut w = lock(&self.writer);
        if w.is_poisoned {
            return Err(self.poisoned());
        }
        if w.files
            .last()
            .and_then(|f| f.last_lsn)
            .is_some_and(|last| last <= lsn)
        {
            w.rotate()?;
        }
        let mut removed = 0;
        while w.files.len() > 1 && w.files[0].last_lsn.is_none_or(|last| last <= lsn) {
            let path = w.files[0].path.clone();
            fs::remove_file(&path).map_err(Error::io(&path))?;
            w.files.remove(0);
            removed += 1;
        }
        if removed > 0 {
            let dir = w.dir.clone();
            sync_dir(&dir, &mut w.fsyncs)?;
            tracing::info!(removed, "truncated wal files");
        }
        Ok(())
    }

    /// A snapshot of files, sizes and counters.
    pub fn state(&self) -> WalState {
        let w = lock(&self.writer);
        let q = lock(&self.queue);
        let files: Vec<WalFileState> = w
            .files
            .iter()
            .map(|f| WalFileState {
                name: file_name(f.first_lsn),
                size_bytes: f.size_bytes,
                first_lsn: f.first_lsn,
                last_lsn: f.last_lsn,
            })
            .collect();
        WalState {
            total_bytes: files.iter().map(|f| f.size_bytes).sum(),
            files,
            next_lsn: q.next_lsn,
            fsyncs: w.fsyncs,
            appends: q.appends,
        }
    }

    /// Whether a failed write poisoned the log: appends fail until it is reopened.
    pub fn is_poisoned(&self) -> bool {
        lock(&self.queue).is_poisoned
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn poisoned(&self) -> Error {
        Error::Poisoned {
            dir: self.dir.clone(),
        }
    }

    /// Writes one group of sealed frames (leader only) and returns the last lsn, now durable.
    fn write_group(&self, frames: &[Vec<u8>]) -> Result<Lsn, Error> {
        let mut w = lock(&self.writer);
        if w.is_poisoned {
            return Err(self.poisoned());
        }
        let written = w.write_frames(frames);
        if written.is_err() {
            // What reached the disk is unknown now; refuse to append after a possibly partial frame.
            w.is_poisoned = true;
        }
        written
    }
}

impl Writer {
    fn write_frames(&mut self, frames: &[Vec<u8>]) -> Result<Lsn, Error> {
        debug_assert!(!frames.is_empty(), "a leader always has its own frame");
        for frame in frames {
            let lsn = frame::frame_lsn(frame);
            debug_assert_eq!(lsn, self.next_lsn, "frames arrive in lsn order");
            let active = self.files.last().expect("there is always an active file");
            if active.last_lsn.is_some()
                && active.size_bytes + frame.len() as u64 > self.max_file_bytes
            {
                self.flush()?;
                self.rotate()?;
            }
            self.buf.extend_from_slice(frame);
            let active = self
                .files
                .last_mut()
                .expect("there is always an active file");
            active.size_bytes += frame.len() as u64;
            active.last_lsn = Some(lsn);
            self.next_lsn = Lsn(lsn.0 + 1);
        }
        self.flush()?;
        Ok(Lsn(self.next_lsn.0 - 1))
    }

    /// Writes the buffer to the active file and fdatasyncs it.
    fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = &self
            .files
            .last()
            .expect("there is always an active file")
            .path;
        self.active.write_all(&self.buf).map_err(Error::io(path))?;
        self.buf.clear();
        // fdatasync is enough: it also persists the grown file size, the only metadata replay needs.
        self.active.sync_data().map_err(Error::io(path))?;
        self.fsyncs += 1;
        Ok(())
    }

    /// Starts a new empty active file at `next_lsn`. The old active file must already be synced.
    fn rotate(&mut self) -> Result<(), Error> {
        let (file, meta) = create_file(&self.dir, self.next_lsn, &mut self.fsyncs)?;
        tracing::debug!(path = %meta.path.display(), "rotated wal file");
        self.active = file;
        self.files.push(meta);
        Ok(())
    }
}

/// Creates `<first_lsn>.wal` atomically: header into a temporary file, fsync, rename, fsync the directory.
///
/// So a crash never leaves a log file with a partial header; at worst a `*.wal.tmp` that `open` removes.
fn create_file(dir: &Path, first_lsn: Lsn, fsyncs: &mut u64) -> Result<(File, FileMeta), Error> {
    let name = file_name(first_lsn);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(Error::io(&tmp))?;
    let header = frame::encode_header(first_lsn);
    file.write_all(&header).map_err(Error::io(&tmp))?;
    file.sync_all().map_err(Error::io(&tmp))?;
    *fsyncs += 1;
    fs::rename(&tmp, &path).map_err(Error::io(&path))?;
    sync_dir(dir, fsyncs)?;
    let meta = FileMeta {
        path,
        first_lsn,
        last_lsn: None,
        size_bytes: header.len() as u64,
    };
    Ok((file, meta))
}

/// `NNNNNNNNNNNNNNNNNNNN.wal`: the first lsn, zero-padded to 20 digits so names sort like lsns.
fn file_name(first_lsn: Lsn) -> String {
    format!("{:020}{SUFFIX}", first_lsn.0)
}

/// The log files in `dir`, sorted by first lsn; removes leftover temporary files on the way.
fn list_files(dir: &Path, fsyncs: &mut u64) -> Result<Vec<(Lsn, PathBuf)>, Error> {
    let mut files = Vec::new();
    let mut removed_tmp = false;
    for entry in fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            tracing::warn!(path = %path.display(), "removing unfinished wal file");
            fs::remove_file(&path).map_err(Error::io(&path))?;
            removed_tmp = true;
        } else if let Some(stem) = name.strip_suffix(SUFFIX) {
            let lsn = (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
                .then(|| stem.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| Error::Corruption {
                    path: path.clone(),
                    offset: 0,
                    reason: Damage::BadFileName,
                })?;
            files.push((Lsn(lsn), path));
        }
    }
    if removed_tmp {
        sync_dir(dir, fsyncs)?;
    }
    files.sort();
    Ok(files)
}

fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(Error::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io { path, source }),
    }
}

/// Makes creations, renames and removals in `dir` durable.
fn sync_dir(dir: &Path, fsyncs: &mut u64) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))?;
    *fsyncs += 1;
    Ok(())
}

/// Locks a mutex, ignoring poisoning: every critical section leaves the state consistent or sets `is_poisoned`.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Wal>();
    }

    #[test]
    fn file_names_sort_like_lsns() {
        assert_eq!(file_name(Lsn(42)), "00000000000000000042.wal");
        assert!(file_name(Lsn(9)) < file_name(Lsn(10)));
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_wal, _) = Wal::open(dir.path(), WalConfig::default()).expect("first open");
        let err = Wal::open(dir.path(), WalConfig::default()).expect_err("locked");
        assert!(matches!(err, Error::Locked { .. }), "{err}");
    }
}
