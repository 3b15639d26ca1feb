//! liucun's engine: the one place where the life of a data directory is wired together.
//!
//! Opening a directory opens the store (manifest and segments), replays the write-ahead log into an in-memory tail,
//! and from then on every accepted batch goes either through the WAL ([`Engine::append`], acknowledged after fsync)
//! or through the bulk path ([`Engine::import_file`], acknowledged when its segments are committed). A flush turns
//! the tail into segments, commits the manifest with the WAL checkpoint, then truncates the WAL.

#![warn(missing_docs)]

mod browse;
mod costs;
mod error;
pub mod export;
pub mod identity;
mod ids;
mod import;
mod inspect;
mod reports;
mod rows;
pub mod settings;

use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use model::{Event, EventBatch, Lsn, PersonRecord, Project, Record, Rejection, Timestamp};
use store::{FlushInput, FlushStats, ScanFilter, Store};
use wal::{Wal, WalConfig};

pub use browse::{AiEvent, EventPage, EventQuery, PersonView, ReplaySummary};
pub use error::{Error, Result};
pub use identity::IdentityMap;
pub use import::{Format, ImportOptions, ImportSummary};
pub use inspect::{Inspection, ProjectInspection};
pub use model;
pub use reports::Verification;

/// How to open a data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The directory must already hold liucun data.
    Existing,
    /// Create an empty data directory when there is none.
    CreateIfMissing,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Events buffered by the bulk path or the tail before a flush is triggered.
    pub flush_events: usize,
    /// WAL file rotation size.
    pub wal_file_bytes: u64,
    /// When set, appends never flush: once this many events wait in the tail, [`Engine::append`] refuses with
    /// [`Error::Overloaded`] before writing anything, until a flush (a background flusher's) drains the tail. When
    /// unset, the append that brings the tail to `flush_events` flushes before it returns.
    pub tail_limit: Option<usize>,
    /// A flush writes a day of at least twice this many new events as several segments, one per core.
    pub split_rows: usize,
    /// Bounds on what report parameters may make a report allocate.
    pub report_limits: report::Limits,
    /// Build report tables from dense distinct ids (`derived/ids`), derived and kept on first use; when off, every
    /// report resolves distinct ids as text. Both give the same reports; tests compare them.
    pub dense_ids: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flush_events: 2_000_000,
            wal_file_bytes: 64 << 20,
            tail_limit: None,
            split_rows: store::SPLIT_ROWS,
            report_limits: report::Limits::default(),
            dense_ids: true,
        }
    }
}

/// An open data directory.
#[derive(Debug)]
pub struct Engine {
    dir: PathBuf,
    config: EngineConfig,
    /// The log; `None` for an engine opened read-only, which never appends.
    wal: Option<Wal>,
    /// The committed segments. Lock order: `store` before `pending`.
    store: Mutex<Store>,
    /// Accepted data not yet in segments; appends hold this lock only briefly, never during a flush's writes.
    pending: Mutex<Buffers>,
    replay_note: Option<String>,
    /// Report tables kept in memory (see `reports`).
    tables: Mutex<Vec<(reports::TableKey, std::sync::Arc<report::EventTable>)>>,
    /// Per project, its distinct-id dictionary once a report has needed it (see `ids`).
    dictionaries: Mutex<rustc_hash::FxHashMap<String, store::ids::Dictionary>>,
}

#[derive(Debug, Default)]
struct Buffers {
    /// Appended through the WAL.
    tail: Pending,
    /// Buffered by the bulk import path.
    bulk: Pending,
    /// Tail events taken by the running flush and not yet in committed segments.
    flushing: usize,
    /// WAL positions above the manifest's checkpoint whose records are in committed segments already: a flush can
    /// take a position before a lower one reaches the tail (two appends racing), and the checkpoint passes them
    /// once the gap below is flushed too.
    flushed_ahead: BTreeSet<u64>,
    /// Flushes that failed in a row; past [`HAND_BACK_LIMIT`] the tail is left to the WAL.
    failed_flushes: u32,
}

/// Failed flushes in a row after which the tail's records are no longer handed back to the tail (they stay in the
/// WAL, replayed at the next open), so that one partition that cannot be written does not hold every other back.
const HAND_BACK_LIMIT: u32 = 3;

/// Accepted data not yet in segments.
#[derive(Debug, Default)]
struct Pending {
    events: BTreeMap<Project, Vec<Vec<Event>>>,
    rejections: BTreeMap<Project, Vec<Rejection>>,
    persons: BTreeMap<Project, Vec<PersonRecord>>,
    n_events: usize,
    /// WAL positions held here (tail only).
    lsns: BTreeSet<u64>,
}

/// Clears the count of events a flush took when the flush ends, however it ends.
struct FlushEnd<'a>(&'a Engine);

impl Drop for FlushEnd<'_> {
    fn drop(&mut self) {
        self.0.pending().flushing = 0;
    }
}

/// The last position of the unbroken run `base + 1, base + 2, …` in `held`, or `base` when `base + 1` is missing.
fn contiguous_end(base: u64, held: &BTreeSet<u64>) -> u64 {
    let mut end = base;
    for &l in held.range(base + 1..) {
        if l != end + 1 {
            break;
        }
        end = l;
    }
    end
}

/// What a flush took from one buffer: per project, how many events chunks, rejections and persons it put in its
/// input (the tail's first, then the bulk buffer's).
struct Taken {
    counts: BTreeMap<Project, [usize; 3]>,
    n_events: usize,
    lsns: BTreeSet<u64>,
}

impl Taken {
    fn of(buffer: &Pending) -> Taken {
        let mut counts: BTreeMap<Project, [usize; 3]> = BTreeMap::new();
        for (p, e) in &buffer.events {
            counts.entry(p.clone()).or_default()[0] = e.len();
        }
        for (p, r) in &buffer.rejections {
            counts.entry(p.clone()).or_default()[1] = r.len();
        }
        for (p, q) in &buffer.persons {
            counts.entry(p.clone()).or_default()[2] = q.len();
        }
        Taken {
            counts,
            n_events: buffer.n_events,
            lsns: buffer.lsns.clone(),
        }
    }

    /// Moves this buffer's part, the front of each of the project's lists, back out of `input`.
    fn take_back(self, input: &mut FlushInput) -> Pending {
        fn front<T>(map: &mut BTreeMap<Project, Vec<T>>, p: &Project, n: usize) -> Vec<T> {
            map.get_mut(p)
                .map(|v| v.drain(..n.min(v.len())).collect())
                .unwrap_or_default()
        }
        let mut back = Pending {
            n_events: self.n_events,
            lsns: self.lsns,
            ..Pending::default()
        };
        for (p, [events, rejections, persons]) in self.counts {
            let e = front(&mut input.events, &p, events);
            let r = front(&mut input.rejections, &p, rejections);
            let q = front(&mut input.persons, &p, persons);
            if !e.is_empty() {
                back.events.insert(p.clone(), e);
            }
            if !r.is_empty() {
                back.rejections.insert(p.clone(), r);
            }
            if !q.is_empty() {
                back.persons.insert(p, q);
            }
        }
        back
    }
}

impl Pending {
    /// Appends `later` after what is held here.
    fn absorb(&mut self, later: Pending) {
        for (p, e) in later.events {
            self.events.entry(p).or_default().extend(e);
        }
        for (p, r) in later.rejections {
            self.rejections.entry(p).or_default().extend(r);
        }
        for (p, q) in later.persons {
            self.persons.entry(p).or_default().extend(q);
        }
        self.n_events += later.n_events;
        self.lsns.extend(later.lsns);
    }

    fn push(&mut self, record: Record) {
        match record {
            Record::Events(batch) => {
                let (project, events, rejections) = batch.into_parts();
                self.n_events += events.len();
                if !events.is_empty() {
                    self.events.entry(project.clone()).or_default().push(events);
                }
                if !rejections.is_empty() {
                    self.rejections
                        .entry(project)
                        .or_default()
                        .extend(rejections);
                }
            }
            Record::Persons(batch) => {
                self.persons
                    .entry(batch.project.clone())
                    .or_default()
                    .extend(batch.persons);
                if !batch.rejections.is_empty() {
                    self.rejections
                        .entry(batch.project)
                        .or_default()
                        .extend(batch.rejections);
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.rejections.is_empty() && self.persons.is_empty()
    }
}

impl Engine {
    /// Opens a data directory, replays its WAL and removes files a crash left behind.
    ///
    /// # Errors
    /// [`Error::Store`] when the directory is missing (with [`OpenMode::Existing`]), locked or damaged;
    /// [`Error::Wal`] when the log is damaged before its tail.
    pub fn open(dir: &Path, mode: OpenMode, config: EngineConfig) -> Result<Engine> {
        let mut store = match mode {
            OpenMode::Existing => Store::open(dir)?,
            OpenMode::CreateIfMissing => Store::create(dir)?,
        };
        store.set_split_rows(config.split_rows);
        let (wal, replay) = Wal::open(
            &dir.join("wal"),
            WalConfig {
                max_file_bytes: config.wal_file_bytes,
            },
        )?;
        let checkpoint = store.manifest().wal_checkpoint;
        let mut tail = Pending::default();
        let mut replayed = 0usize;
        for (lsn, record) in replay.records {
            if lsn.0 <= checkpoint {
                continue;
            }
            replayed += 1;
            tail.lsns.insert(lsn.0);
            tail.push(record);
        }
        let replay_note = replay.torn_tail.as_ref().map(|t| {
            format!(
                "cut a torn WAL tail of {} bytes at offset {} in {}",
                t.bytes_cut,
                t.offset,
                t.path.display()
            )
        });
        tracing::info!(dir = %dir.display(), replayed, checkpoint, "opened data directory");
        Ok(Engine {
            dir: dir.to_path_buf(),
            config,
            wal: Some(wal),
            store: Mutex::new(store),
            pending: Mutex::new(Buffers {
                tail,
                ..Buffers::default()
            }),
            replay_note,
            tables: Mutex::new(Vec::new()),
            dictionaries: Mutex::default(),
        })
    }

    /// Opens an existing data directory read-only, for example while `liucun serve` or an import holds it.
    ///
    /// The engine sees a consistent snapshot: the segments of the manifest committed when it opened (see
    /// [`Engine::reload`]). It takes no lock, does not read or replay the WAL, flushes nothing and writes nothing, so
    /// events another process holds in its WAL and has not flushed yet are not included. Reports, inspect, events,
    /// persons and the quarantine read as usual; appends, imports, compaction and purges fail with
    /// [`store::Error::ReadOnly`].
    ///
    /// ```no_run
    /// # fn main() -> liucun::Result<()> {
    /// let engine = liucun::Engine::open_read_only(
    ///     std::path::Path::new("liucun-data"),
    ///     liucun::EngineConfig::default(),
    /// )?;
    /// assert!(engine.is_read_only());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`] when the directory holds no liucun data or its manifest is damaged.
    pub fn open_read_only(dir: &Path, config: EngineConfig) -> Result<Engine> {
        let store = Store::open_read_only(dir)?;
        tracing::info!(dir = %dir.display(), generation = store.manifest().generation,
            "opened data directory read-only");
        Ok(Engine {
            dir: dir.to_path_buf(),
            config,
            wal: None,
            store: Mutex::new(store),
            pending: Mutex::new(Buffers::default()),
            replay_note: None,
            tables: Mutex::new(Vec::new()),
            dictionaries: Mutex::default(),
        })
    }

    /// Whether the engine was opened with [`Engine::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.wal.is_none()
    }

    /// Moves a read-only engine to the latest committed snapshot of its directory: after a writer replaced a
    /// segment the snapshot named (reading it then fails as not found), or to see what was flushed since.
    ///
    /// # Errors
    /// [`Error::Store`]: the engine is not read-only, or the manifest cannot be read.
    pub fn reload(&self) -> Result<()> {
        Ok(self.lock().reload()?)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A note about the last open's WAL recovery (a torn tail that was cut), if any.
    pub fn replay_note(&self) -> Option<&str> {
        self.replay_note.as_deref()
    }

    /// Appends a record durably: it returns once the record is fsynced in the WAL. Concurrent callers share fsyncs.
    ///
    /// # Errors
    /// [`Error::Overloaded`] when the configured tail limit is reached (nothing was written; retry after a flush);
    /// [`Error::Wal`] when the log cannot be written; the record is then not acknowledged. A flush this append
    /// starts (engines without a tail limit) that fails is logged, not returned: the record is durable either way.
    pub fn append(&self, record: Record) -> Result<Lsn> {
        if let Some(limit) = self.config.tail_limit {
            // Checked before the write, so a refused record is nowhere. Events a running flush took still wait
            // for their segments. Concurrent appends may each pass and overshoot the limit by one request each.
            let waiting = self.waiting_events();
            if waiting >= limit {
                return Err(Error::Overloaded { waiting, limit });
            }
        }
        let Some(wal) = &self.wal else {
            return Err(store::Error::ReadOnly(self.dir.clone()).into());
        };
        let lsn = wal.append(&record)?;
        let needs_flush = {
            let mut pending = self.pending();
            pending.tail.lsns.insert(lsn.0);
            pending.tail.push(record);
            self.config.tail_limit.is_none() && pending.tail.n_events >= self.config.flush_events
        };
        if needs_flush && let Err(e) = self.flush() {
            tracing::warn!(error = %e, lsn = lsn.0, "a flush after an append failed; the record is in the WAL");
        }
        Ok(lsn)
    }

    /// Events appended through the WAL and not yet flushed into segments.
    pub fn tail_events(&self) -> usize {
        self.pending().tail.n_events
    }

    /// Events appended through the WAL and not yet in committed segments: the tail and what a running flush took.
    pub fn waiting_events(&self) -> usize {
        let pending = self.pending();
        pending.tail.n_events + pending.flushing
    }

    /// The configured tail limit ([`EngineConfig::tail_limit`]).
    pub fn tail_limit(&self) -> Option<usize> {
        self.config.tail_limit
    }

    /// Whether appends can succeed: false once a failed WAL write (such as a full disk) poisoned the log, until the
    /// directory is reopened.
    pub fn can_append(&self) -> bool {
        self.wal.as_ref().is_some_and(|w| !w.is_poisoned())
    }

    /// Buffers a validated batch on the bulk path (no WAL); it becomes durable at the next flush.
    ///
    /// # Errors
    /// Store errors from a flush the buffer triggered.
    pub fn import_batch(&self, batch: EventBatch) -> Result<FlushStats> {
        if self.buffer_bulk(batch) {
            self.flush()
        } else {
            Ok(FlushStats::default())
        }
    }

    /// Adds a batch to the bulk buffer; returns whether the buffer is due for a flush.
    pub(crate) fn buffer_bulk(&self, batch: EventBatch) -> bool {
        let mut pending = self.pending();
        pending.bulk.push(Record::Events(batch));
        pending.bulk.n_events >= self.config.flush_events
    }

    /// Writes the tail and the bulk buffer to segments, commits the manifest and truncates the WAL.
    ///
    /// # Errors
    /// Store and WAL errors. Nothing is lost on error: the tail stays in the WAL.
    pub fn flush(&self) -> Result<FlushStats> {
        let mut store = self.lock();
        let (tail, bulk, ahead) = {
            let mut pending = self.pending();
            if pending.tail.is_empty() && pending.bulk.is_empty() {
                return Ok(FlushStats::default());
            }
            pending.flushing = pending.tail.n_events;
            (
                std::mem::take(&mut pending.tail),
                std::mem::take(&mut pending.bulk),
                pending.flushed_ahead.clone(),
            )
        };
        // The checkpoint is the end of the contiguous run of WAL positions flushed by now, here or before: a
        // position still being added by a concurrent append must stay in the log.
        let base = store.manifest().wal_checkpoint;
        let mut held = ahead;
        held.extend(tail.lsns.iter().copied());
        let checkpoint = contiguous_end(base, &held);
        // The tail goes first in each project's lists, then the bulk buffer, so that a failed flush can hand both
        // back.
        let (from_tail, from_bulk) = (Taken::of(&tail), Taken::of(&bulk));
        let mut both = Pending::default();
        both.absorb(tail);
        both.absorb(bulk);
        let mut input = FlushInput {
            events: both.events,
            rejections: both.rejections,
            persons: both.persons,
            wal_checkpoint: (checkpoint > base).then_some(checkpoint),
        };
        let started = std::time::Instant::now();
        // However the flush ends, what it took no longer counts as in flight; a panic leaves the tail's events in
        // the WAL only, until the next open replays them.
        let _done = FlushEnd(self);
        let stats = match store.flush(&input) {
            Ok(stats) => stats,
            Err(e) => {
                // Put back what the flush took, in front of what arrived meanwhile, so that the next flush writes
                // it (and the WAL checkpoint can pass the tail's records). The bulk buffer is always handed back:
                // it is nowhere else until its import's last flush. The tail is in the WAL; after repeated failures
                // it is left there, so that a partition that cannot be written does not hold the others back.
                let mut pending = self.pending();
                pending.failed_flushes += 1;
                let tail_back = from_tail.take_back(&mut input);
                let bulk_back = from_bulk.take_back(&mut input);
                let failures = pending.failed_flushes;
                let keep_tail = failures <= HAND_BACK_LIMIT;
                if keep_tail {
                    let newer = std::mem::take(&mut pending.tail);
                    pending.tail = tail_back;
                    pending.tail.absorb(newer);
                }
                let newer = std::mem::take(&mut pending.bulk);
                pending.bulk = bulk_back;
                pending.bulk.absorb(newer);
                pending.flushing = 0;
                drop(pending);
                if keep_tail {
                    tracing::warn!(error = %e, "flush failed; its events wait for the next flush");
                } else {
                    tracing::error!(
                        error = %e,
                        failures,
                        "flush failed again; its WAL records stay in the WAL until the next open"
                    );
                }
                return Err(e.into());
            }
        };
        {
            let mut pending = self.pending();
            pending.failed_flushes = 0;
            pending.flushing = 0;
            pending.flushed_ahead = held.split_off(&(checkpoint + 1));
        }
        drop(store);
        // Freeing the events is one free per event: spread it over the pool instead of this thread.
        input
            .events
            .into_par_iter()
            .for_each(|(_, chunks)| chunks.into_par_iter().for_each(drop));
        tracing::debug!(
            events = stats.events_written,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "flushed"
        );
        if checkpoint > base
            && let Some(wal) = &self.wal
        {
            wal.truncate_through(Lsn(checkpoint))?;
        }
        Ok(stats)
    }

    /// [`Engine::flush`], then derives the dense ids and activity by hour of the segments it wrote (what a live
    /// server's flusher calls): the next report finds them instead of deriving them itself. The persons are left to
    /// the next report: with merges arriving all the time, rebuilding them at every flush would cost an identity
    /// build per flush. Derived data: a failure to derive is logged, never an error.
    ///
    /// # Errors
    /// Those of [`Engine::flush`].
    pub fn flush_and_derive(&self) -> Result<FlushStats> {
        let before: std::collections::HashSet<String> = self.with_store(|s| {
            s.manifest()
                .segments
                .iter()
                .map(|s| s.file.clone())
                .collect()
        });
        let stats = self.flush()?;
        if stats.segments_written > 0 {
            self.derive_ids_where(|s| !before.contains(&s.file), false);
        }
        Ok(stats)
    }

    /// Flushes, then merges small segments of each partition.
    ///
    /// # Errors
    /// Store errors.
    pub fn compact(&self) -> Result<FlushStats> {
        self.flush()?;
        let stats = self.lock().compact()?;
        self.derive_ids();
        Ok(stats)
    }

    /// Builds the identity map of a project from its persons imports and merge events up to `as_of`.
    ///
    /// # Errors
    /// Store errors (a damaged segment or side file).
    pub fn identity(&self, project: &str, as_of: Option<Timestamp>) -> Result<IdentityMap> {
        Ok(self.identity_and_latest(project, as_of)?.0)
    }

    /// [`Engine::identity`], the latest merge's timestamp among all of the project's merges (`None` without merges:
    /// a map built at an `as_of` at or after it is the map of every merge), and the key of what it was built from
    /// (`ids::persons_key`), read under the same lock.
    pub(crate) fn identity_and_latest(
        &self,
        project: &str,
        as_of: Option<Timestamp>,
    ) -> Result<(IdentityMap, Option<i64>, [u8; 32])> {
        let store = self.lock();
        let key = crate::ids::persons_key(&store, project);
        let persons: Vec<PersonRecord> = store
            .read_persons(Some(project))?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let filter = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let mut merges = Vec::new();
        for s in store.segments(&filter).into_iter().filter(|s| s.merges > 0) {
            merges.extend(store::segment::read_merges(&store.path_of(&s.file))?);
        }
        drop(store);
        let latest = merges.iter().map(|m| m.timestamp.0).max();
        Ok((IdentityMap::build(&persons, merges, as_of), latest, key))
    }

    /// Runs `f` with the store: for tests that inspect what is stored (feature `test-support`). Callers above the
    /// engine read through its methods.
    #[cfg(feature = "test-support")]
    pub fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.lock())
    }

    #[cfg(not(feature = "test-support"))]
    pub(crate) fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panic while holding the lock leaves plain data behind; the WAL and manifest stay consistent.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Buffers> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::contiguous_end;

    #[test]
    fn the_checkpoint_stops_at_a_gap_and_passes_it_once_filled() {
        let set = |v: &[u64]| v.iter().copied().collect::<BTreeSet<u64>>();
        assert_eq!(contiguous_end(0, &set(&[])), 0);
        assert_eq!(contiguous_end(0, &set(&[1, 2, 3])), 3);
        assert_eq!(contiguous_end(5, &set(&[3, 6, 7, 9])), 7);
        // A flush took position 2 before position 1 reached the tail: it stays held above the checkpoint …
        let mut held = set(&[2]);
        let end = contiguous_end(0, &held);
        assert_eq!(end, 0);
        let ahead = held.split_off(&(end + 1));
        assert_eq!(ahead, set(&[2]));
        // … and the flush that writes position 1 moves the checkpoint past both.
        let mut next = ahead;
        next.insert(1);
        assert_eq!(contiguous_end(end, &next), 2);
    }
}
