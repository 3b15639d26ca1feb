//! The data directory: segments, side files and the manifest that makes them visible.
//!
//! Write path of [`Store::flush`]: write each new file and fsync it, fsync its directory, then commit the manifest
//! atomically. Files no longer referenced are deleted only after the commit. A crash at any point leaves either
//! the old manifest (and some orphan files, deleted at the next open) or the new one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustc_hash::FxHashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use model::{Day, Digest, Event, PersonRecord, Project, Rejection, Timestamp};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::manifest::{Manifest, ProjectCounters, SegmentEntry, SideFile, SideKind};
use crate::segment;
use crate::sidefile;

const MANIFEST: &str = "MANIFEST";
const LOCK: &str = "LOCK";
/// Derived data kept beside the segments (cached costing records), deleted freely and derived again.
const DERIVED: &str = "derived";
/// The marker whose modification time says when a costing's cached costs were last used.
const USED: &str = "USED";
/// Under `derived/`: each segment's dense-id runs, at the segment's relative path.
const IDS: &str = "ids";
/// The extension of a segment's runs file, after the segment's own name.
const RUNS: &str = "runs";
/// The extension of a segment's activity-by-hour file, after the segment's own name.
const HOURS: &str = "hours";
/// Under `derived/`: per project, the distinct-id dictionary and the persons over dense ids.
const DICTIONARIES: &str = "dictionaries";

/// Segments with fewer rows than this are merged by [`Store::compact`].
pub const COMPACT_BELOW_ROWS: u64 = 1 << 20;

/// The default of [`Store::set_split_rows`].
pub const SPLIT_ROWS: usize = 256 * 1024;

/// A segment and the events read from it.
pub type SegmentRead = (SegmentEntry, Vec<Event>);
/// A segment that could not be read, and why.
pub type SegmentFailure = (SegmentEntry, Error);
/// A (project, UTC day) partition.
type PartitionKey = (String, Day);
/// Known `uuid → digest prefix` pairs of a partition.
/// Fx hashing: uuids are already well mixed, and SipHash costs more than the rest of a key check.
type PartitionKeys = FxHashMap<u128, u64>;

/// An open data directory. One process at a time holds it for writing (an advisory lock on `LOCK`); any number
/// may open it read-only ([`Store::open_read_only`]) meanwhile.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    manifest: Manifest,
    /// Known `(uuid, digest prefix)` pairs per partition, loaded on first write to that partition.
    keys: HashMap<(String, Day), PartitionKeys>,
    /// A flush writes a partition of at least twice this many new events as several segments, in parallel.
    split_rows: usize,
    /// The writer's lock; `None` for a read-only store.
    lock: Option<File>,
}

/// Everything one flush makes durable, committed by a single manifest write.
#[derive(Debug, Default)]
pub struct FlushInput {
    /// Accepted events per project, in the chunks they arrived in (chunks are moved whole, never copied).
    pub events: BTreeMap<Project, Vec<Vec<Event>>>,
    /// Rejected inputs per project.
    pub rejections: BTreeMap<Project, Vec<Rejection>>,
    /// Persons-import records per project, in file order.
    pub persons: BTreeMap<Project, Vec<PersonRecord>>,
    /// The WAL position these inputs reach, if they came from the WAL.
    pub wal_checkpoint: Option<u64>,
}

/// What a flush or compaction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushStats {
    /// Events written to new segments.
    pub events_written: u64,
    /// Identical copies collapsed.
    pub duplicates: u64,
    /// Copies of a uuid with different content.
    pub conflicts: u64,
    /// New segment files.
    pub segments_written: u64,
    /// Segment files removed (replaced by a rewrite).
    pub segments_removed: u64,
    /// Rejections written to the quarantine.
    pub quarantined: u64,
    /// Persons-import records written.
    pub persons: u64,
}

/// Which segments a scan reads.
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    /// Only these projects (all when empty).
    pub projects: Vec<String>,
    /// Only days in this inclusive range.
    pub days: Option<(Day, Day)>,
}

impl Store {
    /// Creates a new, empty data directory (the directory may exist but must hold no manifest).
    ///
    /// # Errors
    /// IO errors; [`Error::Locked`] when another process holds the directory.
    pub fn create(dir: &Path) -> Result<Store> {
        fsutil::create_dir_durable(dir)?;
        let lock = lock(dir)?;
        let path = dir.join(MANIFEST);
        if path.exists() {
            return Store::open_locked(dir, lock);
        }
        let manifest = Manifest::default();
        manifest.commit(&path)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            manifest,
            keys: HashMap::new(),
            split_rows: SPLIT_ROWS,
            lock: Some(lock),
        })
    }

    /// Sets the partition size past which a flush writes several segments in parallel: a partition of at least
    /// twice `rows` new events becomes one segment per `rows` or more, at most one per thread of the pool it runs
    /// on.
    pub fn set_split_rows(&mut self, rows: usize) {
        self.split_rows = rows.max(1);
    }

    /// Opens an existing data directory and deletes files a crash left unreferenced.
    ///
    /// # Errors
    /// [`Error::NotADataDir`], [`Error::Locked`], a damaged manifest, or IO errors.
    pub fn open(dir: &Path) -> Result<Store> {
        if !dir.join(MANIFEST).exists() {
            return Err(Error::NotADataDir(dir.to_path_buf()));
        }
        let lock = lock(dir)?;
        Store::open_locked(dir, lock)
    }

    /// Opens an existing data directory for reading only, whether or not another process holds it for writing.
    ///
    /// The store reads a snapshot: the manifest committed when it opened (the manifest is replaced by an atomic
    /// rename, so the snapshot is always a whole one), until [`Store::reload`]. It takes no lock, deletes nothing
    /// and writes nothing: [`Store::flush`], [`Store::compact`] and [`Store::purge_quarantine`] fail with
    /// [`Error::ReadOnly`]. A writer may delete a segment the snapshot names (a compaction or rewrite replaced it);
    /// reading it then fails with a not-found IO error, and reloading gives the newer snapshot.
    ///
    /// # Errors
    /// [`Error::NotADataDir`], a damaged manifest, or IO errors.
    pub fn open_read_only(dir: &Path) -> Result<Store> {
        if !dir.join(MANIFEST).exists() {
            return Err(Error::NotADataDir(dir.to_path_buf()));
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            manifest: Manifest::load(&dir.join(MANIFEST))?,
            keys: HashMap::new(),
            split_rows: SPLIT_ROWS,
            lock: None,
        })
    }

    /// Whether this store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Reads the manifest again: a read-only store's view moves to the latest committed snapshot.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] for a writing store (its manifest is always the latest); a damaged manifest, or IO
    /// errors.
    pub fn reload(&mut self) -> Result<()> {
        if !self.is_read_only() {
            return Err(Error::ReadOnly(self.dir.clone()));
        }
        self.manifest = Manifest::load(&self.dir.join(MANIFEST))?;
        Ok(())
    }

    fn open_locked(dir: &Path, lock: File) -> Result<Store> {
        let manifest = Manifest::load(&dir.join(MANIFEST))?;
        let store = Store {
            dir: dir.to_path_buf(),
            manifest,
            keys: HashMap::new(),
            split_rows: SPLIT_ROWS,
            lock: Some(lock),
        };
        store.remove_orphans()?;
        Ok(store)
    }

    fn check_writable(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::ReadOnly(self.dir.clone()));
        }
        Ok(())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The committed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Absolute path of a file named in the manifest.
    pub fn path_of(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// Where the costing records of segment `file` derived with costing `pricing` (a hex digest) are cached
    /// (`derived/costs-<pricing>/<file>`); `None` when `pricing` is not a hex digest.
    pub fn costs_path(&self, file: &str, pricing: &str) -> Option<PathBuf> {
        let hex = !pricing.is_empty()
            && pricing.len() <= 128
            && pricing.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| {
            self.dir
                .join(DERIVED)
                .join(format!("costs-{pricing}"))
                .join(file)
        })
    }

    /// Where the dense-id runs of segment `file` are kept (`derived/ids/<file>.runs`, docs/formats/ids.md).
    pub fn runs_path(&self, file: &str) -> PathBuf {
        self.dir
            .join(DERIVED)
            .join(IDS)
            .join(format!("{file}.{RUNS}"))
    }

    /// Where the activity by hour of segment `file` is kept (`derived/ids/<file>.hours`, docs/formats/ids.md).
    pub fn hours_path(&self, file: &str) -> PathBuf {
        self.dir
            .join(DERIVED)
            .join(IDS)
            .join(format!("{file}.{HOURS}"))
    }

    /// Where project `project`'s distinct-id dictionary and persons over dense ids are kept
    /// (`derived/dictionaries/<project>/`); `None` for a name that is not a project name.
    pub fn dictionary_dir(&self, project: &str) -> Option<PathBuf> {
        model::Project::new(project)
            .ok()
            .map(|p| self.dir.join(DERIVED).join(DICTIONARIES).join(p.as_str()))
    }

    /// The dense-id data kept: (files, bytes) of the segments' runs and activity by hour, then of the projects'
    /// dictionaries and persons.
    pub fn ids_usage(&self) -> ((u64, u64), (u64, u64)) {
        let tally = |top: PathBuf| {
            let (mut files, mut bytes) = (0, 0);
            let mut stack = vec![top];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        files += 1;
                        bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                    }
                }
            }
            (files, bytes)
        };
        (
            tally(self.dir.join(DERIVED).join(IDS)),
            tally(self.dir.join(DERIVED).join(DICTIONARIES)),
        )
    }

    /// Marks the costing `pricing` as used now and deletes the cached costs of all but the `keep` most recently
    /// used costings, so price tables sent with reports cannot fill the disk. Best effort: failures are logged.
    pub fn touch_costs(&self, pricing: &str, keep: usize) {
        if self.is_read_only() {
            return;
        }
        let Some(marker) = self.costs_path(USED, pricing) else {
            return;
        };
        let touched = marker
            .parent()
            .map(|d| std::fs::create_dir_all(d).and_then(|()| std::fs::write(&marker, b"")));
        if let Some(Err(e)) = touched {
            tracing::warn!(path = %marker.display(), error = %e, "could not mark cached costs as used");
        }
        let Ok(entries) = std::fs::read_dir(self.dir.join(DERIVED)) else {
            return;
        };
        let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("costs-"))
            .map(|e| {
                let used = std::fs::metadata(e.path().join(USED))
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (used, e.path())
            })
            .collect();
        dirs.sort_by(|a, b| b.cmp(a));
        for (_, dir) in dirs.into_iter().skip(keep) {
            if dir.parent().is_some_and(|p| p == self.dir.join(DERIVED))
                && let Err(e) = std::fs::remove_dir_all(&dir)
            {
                tracing::warn!(path = %dir.display(), error = %e, "could not delete cached costs");
            }
        }
    }

    /// The cached costing records: per costing digest, its files and their bytes (most recently used first).
    pub fn costs_usage(&self) -> Vec<(String, u64, u64)> {
        let Ok(entries) = std::fs::read_dir(self.dir.join(DERIVED)) else {
            return Vec::new();
        };
        let mut out: Vec<(std::time::SystemTime, String, u64, u64)> = Vec::new();
        for costing in entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
            let Some(digest) = costing
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("costs-"))
            else {
                continue;
            };
            let used = std::fs::metadata(costing.join(USED))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            let (mut files, mut bytes) = (0, 0);
            let mut stack = vec![costing.clone()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "parquet") {
                        files += 1;
                        bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
                    }
                }
            }
            out.push((used, digest.to_string(), files, bytes));
        }
        out.sort_by(|a, b| b.cmp(a));
        out.into_iter().map(|(_, d, f, b)| (d, f, b)).collect()
    }

    /// Segments matching `filter`, in (project, day, id) order.
    pub fn segments(&self, filter: &ScanFilter) -> Vec<&SegmentEntry> {
        let mut out: Vec<&SegmentEntry> = self
            .manifest
            .segments
            .iter()
            .filter(|s| filter.projects.is_empty() || filter.projects.contains(&s.project))
            .filter(|s| match filter.days {
                None => true,
                Some((from, to)) => Day::parse(&s.day).is_some_and(|d| d >= from && d <= to),
            })
            .collect();
        out.sort_by(|a, b| (&a.project, &a.day, a.id).cmp(&(&b.project, &b.day, b.id)));
        out
    }

    /// Reads every event of the matching segments, segment by segment, in parallel.
    ///
    /// A damaged segment is reported in the second list and does not stop the others from being read.
    pub fn read_events(&self, filter: &ScanFilter) -> (Vec<SegmentRead>, Vec<SegmentFailure>) {
        let results: Vec<(SegmentEntry, Result<Vec<Event>>)> = self
            .segments(filter)
            .into_par_iter()
            .map(|s| (s.clone(), segment::read(&self.path_of(&s.file))))
            .collect();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for (s, r) in results {
            match r {
                Ok(events) => ok.push((s, events)),
                Err(e) => bad.push((s, e)),
            }
        }
        (ok, bad)
    }

    /// Reads the side files of one kind, optionally for one project, checking each checksum.
    ///
    /// # Errors
    /// IO errors and [`Error::Corruption`].
    pub fn read_rejections(&self, project: Option<&str>) -> Result<Vec<(String, Rejection)>> {
        let mut out = Vec::new();
        for f in self.side_files(SideKind::Quarantine, project) {
            let path = self.path_of(&f.file);
            let bytes = sidefile::read_checked(&path, f.crc32)?;
            out.extend(
                sidefile::decode_rejections(&path, &bytes)?
                    .into_iter()
                    .map(|r| (f.project.clone(), r)),
            );
        }
        Ok(out)
    }

    /// The first `limit` quarantined inputs of `project` in arrival order, of one reason code when given, and the
    /// counts by reason code of its whole quarantine.
    ///
    /// The counts come from the manifest, and side files are read only until the page is full (skipping those
    /// holding none of the reason), so a page costs the files it shows, not the quarantine. A file listed without
    /// counts (written before the manifest kept them) is read to count it.
    ///
    /// # Errors
    /// IO errors and [`Error::Corruption`].
    pub fn rejection_page(
        &self,
        project: &str,
        reason: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Rejection>, BTreeMap<String, u64>)> {
        let read = |f: &SideFile| -> Result<Vec<Rejection>> {
            let path = self.path_of(&f.file);
            let bytes = sidefile::read_checked(&path, f.crc32)?;
            sidefile::decode_rejections(&path, &bytes)
        };
        let mut page = Vec::new();
        let mut by_reason = BTreeMap::new();
        for f in self.side_files(SideKind::Quarantine, Some(project)) {
            let uncounted = f.by_reason.is_empty() && f.rows > 0;
            let holds_reason = reason.is_none_or(|r| f.by_reason.contains_key(r));
            let rows = if uncounted || (page.len() < limit && holds_reason) {
                read(f)?
            } else {
                Vec::new()
            };
            if uncounted {
                for (code, n) in count_by_reason(&rows) {
                    *by_reason.entry(code).or_insert(0) += n;
                }
            } else {
                for (code, n) in &f.by_reason {
                    *by_reason.entry(code.clone()).or_insert(0) += n;
                }
            }
            let room = limit.saturating_sub(page.len());
            page.extend(
                rows.into_iter()
                    .filter(|r| reason.is_none_or(|code| code == r.reason.code()))
                    .take(room),
            );
        }
        Ok((page, by_reason))
    }

    /// Reads persons-import records in import order.
    ///
    /// # Errors
    /// IO errors and [`Error::Corruption`].
    pub fn read_persons(&self, project: Option<&str>) -> Result<Vec<(String, PersonRecord)>> {
        let mut out = Vec::new();
        for f in self.side_files(SideKind::Persons, project) {
            let path = self.path_of(&f.file);
            let bytes = sidefile::read_checked(&path, f.crc32)?;
            out.extend(
                sidefile::decode_persons(&path, &bytes)?
                    .into_iter()
                    .map(|r| (f.project.clone(), r)),
            );
        }
        Ok(out)
    }

    /// Side files of a kind, in id order.
    pub fn side_files(&self, kind: SideKind, project: Option<&str>) -> Vec<&SideFile> {
        let mut v: Vec<&SideFile> = self
            .manifest
            .side_files
            .iter()
            .filter(|f| f.kind == kind && project.is_none_or(|p| p == f.project))
            .collect();
        v.sort_by_key(|f| f.id);
        v
    }

    /// Makes `input` durable: new segments (deduplicated against what is stored), side files, and one manifest
    /// commit.
    ///
    /// # Errors
    /// IO and Parquet errors. On error the manifest is unchanged and nothing written becomes visible.
    /// [`Error::ReadOnly`] for a read-only store.
    pub fn flush(&mut self, input: &FlushInput) -> Result<FlushStats> {
        self.check_writable()?;
        let result = self.flush_inner(input);
        if result.is_err() {
            // The key cache already counts this flush's events as stored; forget it so a retry writes them.
            self.keys.clear();
        }
        result
    }

    fn flush_inner(&mut self, input: &FlushInput) -> Result<FlushStats> {
        let mut stats = FlushStats::default();
        let mut next = self.manifest.clone();
        let mut doomed: Vec<SegmentEntry> = Vec::new();
        let started = std::time::Instant::now();
        let mut phases: Vec<(&str, f64)> = Vec::new();
        let mut lap =
            |name: &'static str| phases.push((name, started.elapsed().as_secs_f64() * 1e3));

        // Group events by partition. Events are large structs: they stay where they are, in the chunks they
        // arrived in, and partitions, decisions and write jobs hold references.
        let FlushInput {
            events: input_events,
            rejections: input_rejections,
            persons: input_persons,
            wal_checkpoint,
        } = input;
        let mut parts: BTreeMap<PartitionKey, Vec<&Event>> = BTreeMap::new();
        for (project, chunks) in input_events {
            for (day, events) in group_by_day(chunks) {
                parts.insert((project.as_str().to_string(), day), events);
            }
        }
        lap("grouped");
        // Load key sets for partitions seen for the first time, in parallel.
        let missing: Vec<PartitionKey> = parts
            .keys()
            .filter(|k| !self.keys.contains_key(*k))
            .cloned()
            .collect();
        let loaded: Vec<(PartitionKey, Result<PartitionKeys>)> = missing
            .into_par_iter()
            .map(|k| {
                let keys = self.load_keys(&k.0, k.1);
                (k, keys)
            })
            .collect();
        for (k, keys) in loaded {
            self.keys.insert(k, keys?);
        }

        lap("keys loaded");
        // Decide per partition what to write, partitions in parallel.
        let work: Vec<(PartitionKey, Vec<&Event>, PartitionKeys)> = parts
            .into_iter()
            .map(|(k, events)| {
                let keys = self.keys.remove(&k).expect("keys loaded above");
                (k, events, keys)
            })
            .collect();
        let decided: Vec<(PartitionKey, Decision<'_>, PartitionKeys)> = work
            .into_par_iter()
            .map(|(k, events, mut keys)| {
                let d = decide(events, &mut keys);
                (k, d, keys)
            })
            .collect();
        let mut jobs: Vec<WriteJob<'_>> = Vec::new();
        let mut per_project: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((project, day), d, keys) in decided {
            self.keys.insert((project.clone(), day), keys);
            stats.duplicates += d.duplicates;
            stats.conflicts += d.conflicts;
            let counted = per_project.entry(project.clone()).or_default();
            counted.0 += d.duplicates;
            counted.1 += d.conflicts;
            if d.fresh.is_empty() {
                continue;
            }
            let replaced: Vec<SegmentEntry> = if d.rewrite {
                let day_text = day.to_string();
                next.segments
                    .iter()
                    .filter(|s| s.project == project && s.day == day_text)
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            if replaced.is_empty() {
                // A large partition (a server's day of capture is one) is cut into pieces of its segment order,
                // one segment each, so that its writing uses every core.
                let pieces =
                    (d.fresh.len() / self.split_rows).clamp(1, rayon::current_num_threads());
                if pieces > 1 {
                    let mut fresh = d.fresh;
                    segment::sort_for_segment(&mut fresh);
                    let step = fresh.len().div_ceil(pieces);
                    for piece in fresh.chunks(step) {
                        jobs.push(WriteJob {
                            project: project.clone(),
                            day,
                            id: next.allocate_id(),
                            events: piece.to_vec(),
                            replaced: Vec::new(),
                            sorted: true,
                        });
                    }
                    continue;
                }
            }
            let id = next.allocate_id();
            jobs.push(WriteJob {
                project,
                day,
                id,
                events: d.fresh,
                replaced,
                sorted: false,
            });
        }

        lap("decided");
        // Write segments in parallel.
        let written: Vec<Result<(SegmentEntry, Vec<SegmentEntry>)>> = jobs
            .into_par_iter()
            .map(|job| self.write_job(job))
            .collect();
        lap("written");
        let mut new_dirs = BTreeSet::new();
        for w in written {
            let (entry, replaced) = w?;
            stats.events_written += entry.rows;
            stats.segments_written += 1;
            new_dirs.insert(self.path_of(&entry.file).parent().map(Path::to_path_buf));
            next.segments
                .retain(|s| !replaced.iter().any(|r| r.id == s.id));
            stats.segments_removed += replaced.len() as u64;
            doomed.extend(replaced);
            next.segments.push(entry);
        }

        // Side files.
        for (project, rejections) in input_rejections.iter().filter(|(_, r)| !r.is_empty()) {
            let by_reason = count_by_reason(rejections);
            stats.quarantined += rejections.len() as u64;
            let bytes = sidefile::encode_rejections(rejections);
            let f = self.write_side(
                &mut next,
                SideKind::Quarantine,
                project,
                &bytes,
                rejections.len(),
                by_reason,
            )?;
            new_dirs.insert(self.path_of(&f.file).parent().map(Path::to_path_buf));
            next.side_files.push(f);
        }
        for (project, persons) in input_persons.iter().filter(|(_, p)| !p.is_empty()) {
            stats.persons += persons.len() as u64;
            let bytes = sidefile::encode_persons(persons);
            let f = self.write_side(
                &mut next,
                SideKind::Persons,
                project,
                &bytes,
                persons.len(),
                BTreeMap::new(),
            )?;
            new_dirs.insert(self.path_of(&f.file).parent().map(Path::to_path_buf));
            next.side_files.push(f);
        }
        self.sync_new_segments(&next)?;
        for dir in new_dirs.into_iter().flatten() {
            fsutil::sync_dir(&dir)?;
        }
        lap("synced");

        // Counters, checkpoint, commit.
        for (project, (duplicates, conflicts)) in per_project {
            let c: &mut ProjectCounters = next.projects.entry(project).or_default();
            c.duplicates += duplicates;
            c.conflicts += conflicts;
        }
        if let Some(lsn) = *wal_checkpoint {
            next.wal_checkpoint = next.wal_checkpoint.max(lsn);
        }
        if next == self.manifest {
            return Ok(stats);
        }
        next.generation += 1;
        self.commit(next)?;
        self.delete_files(doomed.iter().map(|s| s.file.as_str()));
        lap("committed");
        tracing::debug!(
            ?stats,
            generation = self.manifest.generation,
            ?phases,
            "flush committed"
        );
        Ok(stats)
    }

    /// Deletes quarantined inputs received before `before` (events.md §9: the only way they are deleted), optionally
    /// of one project. Side files that keep some records are rewritten; one manifest commit makes the change.
    ///
    /// # Errors
    /// IO errors and [`Error::Corruption`]; the manifest is unchanged on error.
    pub fn purge_quarantine(&mut self, project: Option<&str>, before: Timestamp) -> Result<u64> {
        self.check_writable()?;
        let mut next = self.manifest.clone();
        let mut purged = 0u64;
        let mut doomed: Vec<String> = Vec::new();
        let mut new_dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let files: Vec<SideFile> = self
            .side_files(SideKind::Quarantine, project)
            .into_iter()
            .cloned()
            .collect();
        for f in files {
            let path = self.path_of(&f.file);
            let bytes = sidefile::read_checked(&path, f.crc32)?;
            let rows = sidefile::decode_rejections(&path, &bytes)?;
            let kept: Vec<Rejection> = rows
                .iter()
                .filter(|r| r.received_at >= before)
                .cloned()
                .collect();
            if kept.len() == rows.len() {
                continue;
            }
            purged += (rows.len() - kept.len()) as u64;
            next.side_files.retain(|s| s.id != f.id);
            doomed.push(f.file.clone());
            if kept.is_empty() {
                continue;
            }
            let by_reason = count_by_reason(&kept);
            let p = Project::new(&f.project).map_err(|e| Error::Corruption {
                path: path.clone(),
                offset: 0,
                reason: format!("side file of an invalid project: {e}"),
            })?;
            let encoded = sidefile::encode_rejections(&kept);
            let side = self.write_side(
                &mut next,
                SideKind::Quarantine,
                &p,
                &encoded,
                kept.len(),
                by_reason,
            )?;
            if let Some(dir) = self.path_of(&side.file).parent() {
                new_dirs.insert(dir.to_path_buf());
            }
            next.side_files.push(side);
        }
        if purged == 0 {
            return Ok(0);
        }
        for dir in &new_dirs {
            fsutil::sync_dir(dir)?;
        }
        next.generation += 1;
        self.commit(next)?;
        self.delete_files(doomed.iter().map(String::as_str));
        tracing::info!(purged, ?project, "purged quarantine");
        Ok(purged)
    }

    /// Merges the small segments of each partition into one.
    ///
    /// Reports read the same events before and after, so their output does not change.
    ///
    /// # Errors
    /// IO and Parquet errors; the manifest is unchanged on error.
    pub fn compact(&mut self) -> Result<FlushStats> {
        self.check_writable()?;
        let mut groups: BTreeMap<(String, String), Vec<SegmentEntry>> = BTreeMap::new();
        for s in &self.manifest.segments {
            if s.rows < COMPACT_BELOW_ROWS {
                groups
                    .entry((s.project.clone(), s.day.clone()))
                    .or_default()
                    .push(s.clone());
            }
        }
        groups.retain(|_, v| v.len() > 1);
        if groups.is_empty() {
            return Ok(FlushStats::default());
        }
        let mut next = self.manifest.clone();
        let mut jobs = Vec::new();
        for ((project, day), replaced) in groups {
            let day = Day::parse(&day).ok_or_else(|| Error::Corruption {
                path: self.dir.join(MANIFEST),
                offset: 0,
                reason: format!("segment day {day:?} is not a date"),
            })?;
            let id = next.allocate_id();
            jobs.push(WriteJob {
                project,
                day,
                id,
                events: Vec::new(),
                replaced,
                sorted: false,
            });
        }
        let written: Vec<Result<(SegmentEntry, Vec<SegmentEntry>)>> = jobs
            .into_par_iter()
            .map(|job| self.write_job(job))
            .collect();
        let mut stats = FlushStats::default();
        let mut doomed = Vec::new();
        let mut dirs = BTreeSet::new();
        for w in written {
            let (entry, replaced) = w?;
            stats.events_written += entry.rows;
            stats.segments_written += 1;
            stats.segments_removed += replaced.len() as u64;
            dirs.insert(self.path_of(&entry.file).parent().map(Path::to_path_buf));
            next.segments
                .retain(|s| !replaced.iter().any(|r| r.id == s.id));
            doomed.extend(replaced);
            next.segments.push(entry);
        }
        self.sync_new_segments(&next)?;
        for d in dirs.into_iter().flatten() {
            fsutil::sync_dir(&d)?;
        }
        next.generation += 1;
        self.commit(next)?;
        self.delete_files(doomed.iter().map(|s| s.file.as_str()));
        Ok(stats)
    }

    /// Writes one segment from new events plus the events of the segments it replaces.
    fn write_job(&self, job: WriteJob<'_>) -> Result<(SegmentEntry, Vec<SegmentEntry>)> {
        let WriteJob {
            project,
            day,
            id,
            events: mut ordered,
            replaced,
            sorted,
        } = job;
        let mut stored: Vec<Event> = Vec::new();
        if !replaced.is_empty() {
            for s in &replaced {
                stored.extend(segment::read(&self.path_of(&s.file))?);
            }
            ordered.extend(stored.iter());
            // Keep one copy per uuid: the smallest digest.
            ordered.sort_unstable_by_key(|a| (a.uuid, a.digest));
            // Copies collapsed here were counted when the rewrite was decided.
            ordered.dedup_by(|b, a| a.uuid == b.uuid);
        }
        if !sorted {
            segment::sort_for_segment(&mut ordered);
        }
        let day_text = day.to_string();
        let rel = format!("segments/{project}/{day_text}/{id:010}.parquet");
        let path = self.path_of(&rel);
        fsutil::create_dir_durable(path.parent().expect("segment paths have a parent"))?;
        let st = segment::write(&path, &project, &day_text, &ordered)?;
        Ok((
            SegmentEntry {
                id,
                project,
                day: day_text,
                file: rel,
                rows: st.rows,
                size_bytes: st.size_bytes,
                min_ts: st.min_ts.0,
                max_ts: st.max_ts.0,
                digest_sum: st.digest_sum.to_hex(),
                merges: st.merges,
            },
            replaced,
        ))
    }

    /// Makes `next` the manifest. When that fails, the file ids `next` allocated stay taken all the same: the
    /// rename may have reached the disk before a later step failed (the directory's fsync), and the files that
    /// manifest names must not be overwritten by a retry.
    fn commit(&mut self, next: Manifest) -> Result<()> {
        if let Err(e) = next.commit(&self.dir.join(MANIFEST)) {
            self.manifest.next_file_id = self.manifest.next_file_id.max(next.next_file_id);
            return Err(e);
        }
        self.manifest = next;
        Ok(())
    }

    /// Fsyncs the segment files `next` lists that the committed manifest does not.
    fn sync_new_segments(&self, next: &Manifest) -> Result<()> {
        let old: std::collections::HashSet<u64> =
            self.manifest.segments.iter().map(|s| s.id).collect();
        let new_files: Vec<PathBuf> = next
            .segments
            .iter()
            .filter(|s| !old.contains(&s.id))
            .map(|s| self.path_of(&s.file))
            .collect();
        fsutil::sync_files(&new_files)
    }

    fn write_side(
        &self,
        next: &mut Manifest,
        kind: SideKind,
        project: &Project,
        bytes: &[u8],
        rows: usize,
        by_reason: BTreeMap<String, u64>,
    ) -> Result<SideFile> {
        let id = next.allocate_id();
        let folder = match kind {
            SideKind::Quarantine => "quarantine",
            SideKind::Persons => "persons",
        };
        let rel = format!("{folder}/{project}/{id:010}.ndjson");
        let path = self.path_of(&rel);
        fsutil::create_dir_durable(path.parent().expect("side file paths have a parent"))?;
        {
            use std::io::Write;
            let mut f = File::create(&path).map_err(Error::io(&path))?;
            f.write_all(bytes).map_err(Error::io(&path))?;
            f.sync_all().map_err(Error::io(&path))?;
        }
        Ok(SideFile {
            kind,
            id,
            project: project.as_str().to_string(),
            file: rel,
            rows: rows as u64,
            crc32: crc32fast::hash(bytes),
            by_reason,
        })
    }

    fn load_keys(&self, project: &str, day: Day) -> Result<PartitionKeys> {
        let day_text = day.to_string();
        let mut keys = PartitionKeys::default();
        for s in self
            .manifest
            .segments
            .iter()
            .filter(|s| s.project == project && s.day == day_text)
        {
            for (u, d) in segment::read_keys(&self.path_of(&s.file))? {
                keys.insert(u.as_u128(), digest_prefix(&d));
            }
        }
        Ok(keys)
    }

    fn delete_files<'a>(&self, files: impl Iterator<Item = &'a str>) {
        let costings: Vec<PathBuf> = std::fs::read_dir(self.dir.join(DERIVED))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for f in files {
            let path = self.path_of(f);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not delete a replaced file");
            }
            // Costs derived from the file go with it (a missing one is the common case).
            for costing in &costings {
                let _ = std::fs::remove_file(costing.join(f));
            }
            let _ = std::fs::remove_file(self.runs_path(f));
            let _ = std::fs::remove_file(self.hours_path(f));
        }
    }

    /// Deletes segment and side files that no manifest references (left by a crash before a commit).
    fn remove_orphans(&self) -> Result<()> {
        let live: BTreeSet<PathBuf> = self
            .manifest
            .segments
            .iter()
            .map(|s| self.path_of(&s.file))
            .chain(
                self.manifest
                    .side_files
                    .iter()
                    .map(|f| self.path_of(&f.file)),
            )
            .collect();
        // Derived files of segments that are gone, and temporary files of interrupted writes.
        if let Ok(entries) = std::fs::read_dir(self.dir.join(DERIVED)) {
            for costing in entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.ends_with(DICTIONARIES))
            {
                let mut stack = vec![costing.clone()];
                while let Some(dir) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for path in entries.flatten().map(|e| e.path()) {
                        if path.is_dir() {
                            stack.push(path);
                        } else if path != costing.join(USED)
                            && !path.strip_prefix(&costing).is_ok_and(|rel| {
                                // A runs file is named after its segment, with `.runs` added.
                                let rel = match costing.ends_with(IDS) {
                                    true => rel.with_extension(""),
                                    false => rel.to_path_buf(),
                                };
                                (!costing.ends_with(IDS)
                                    || path.extension().is_some_and(|x| x == RUNS || x == HOURS))
                                    && live.contains(&self.dir.join(rel))
                            })
                        {
                            // Derived data: a file that cannot be deleted is left, never a reason not to open.
                            if let Err(e) = std::fs::remove_file(&path) {
                                tracing::warn!(path = %path.display(), error = %e, "could not delete stale derived data");
                            }
                        }
                    }
                }
            }
        }
        for top in ["segments", "quarantine", "persons"] {
            let mut stack = vec![self.dir.join(top)];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if !live.contains(&path) {
                        tracing::info!(path = %path.display(), "removing a file no manifest references");
                        std::fs::remove_file(&path).map_err(Error::io(&path))?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct WriteJob<'a> {
    project: String,
    day: Day,
    id: u64,
    events: Vec<&'a Event>,
    replaced: Vec<SegmentEntry>,
    /// `events` are in segment order already (and `replaced` is empty).
    sorted: bool,
}

/// What to write of one partition's new events.
#[derive(Debug)]
struct Decision<'a> {
    /// Events not stored yet (or winning a conflict), one per uuid.
    fresh: Vec<&'a Event>,
    /// A stored copy lost a conflict: the partition is rewritten.
    rewrite: bool,
    duplicates: u64,
    conflicts: u64,
}

/// Deduplicates a partition's new events against each other and against `keys`, and records the fresh ones there.
fn decide<'a>(events: Vec<&'a Event>, keys: &mut PartitionKeys) -> Decision<'a> {
    let mut d = Decision {
        fresh: Vec::new(),
        rewrite: false,
        duplicates: 0,
        conflicts: 0,
    };
    // Decide on an index order, sorting integer keys held side by side: comparing through the references visits
    // scattered events (a server's day of capture is one partition of millions). Only equal keys, repeated
    // events, compare full digests.
    let mut keyed: Vec<(u128, u64, u32)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.uuid.as_u128(), digest_prefix(&e.digest), i as u32))
        .collect();
    let order = |x: &(u128, u64, u32), y: &(u128, u64, u32)| {
        (x.0, x.1).cmp(&(y.0, y.1)).then_with(|| {
            events[x.2 as usize]
                .digest
                .cmp(&events[y.2 as usize].digest)
        })
    };
    if keyed.len() >= segment::PAR_SORT_MIN {
        keyed.par_sort_unstable_by(order);
    } else {
        keyed.sort_unstable_by(order);
    }
    let order = keyed.iter().map(|k| k.2 as usize);
    let mut keep = vec![false; events.len()];
    let mut last_kept: Option<usize> = None;
    for i in order {
        let e = events[i];
        if let Some(prev) = last_kept.map(|k| events[k])
            && prev.uuid == e.uuid
        {
            // Sorted by digest, so the kept copy is the smaller one.
            if prev.digest == e.digest {
                d.duplicates += 1;
            } else {
                d.conflicts += 1;
            }
            continue;
        }
        let take = match keys.get(&e.uuid.as_u128()) {
            None => true,
            Some(&old) if old == digest_prefix(&e.digest) => {
                d.duplicates += 1;
                false
            }
            Some(&old) => {
                d.conflicts += 1;
                let wins = digest_prefix(&e.digest) < old;
                d.rewrite |= wins;
                wins
            }
        };
        if take {
            keep[i] = true;
            last_kept = Some(i);
        }
    }
    d.fresh = events
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect();
    keys.reserve(d.fresh.len());
    for e in &d.fresh {
        keys.insert(e.uuid.as_u128(), digest_prefix(&e.digest));
    }
    d
}

/// The events of `chunks` by UTC day, each day's in arrival order.
fn group_by_day(chunks: &[Vec<Event>]) -> Vec<(Day, Vec<&Event>)> {
    // Days of valid events span decades at most: count into a vector indexed by day.
    let days: Vec<i32> = chunks
        .iter()
        .flatten()
        .map(|e| e.timestamp.day().0)
        .collect();
    let (Some(&lo), Some(&hi)) = (days.iter().min(), days.iter().max()) else {
        return Vec::new();
    };
    if hi - lo > 1 << 20 {
        // Not from validated input (timestamps are 2000 to tomorrow); group without the vector.
        let mut by_day: BTreeMap<Day, Vec<&Event>> = BTreeMap::new();
        for (e, d) in chunks.iter().flatten().zip(&days) {
            by_day.entry(Day(*d)).or_default().push(e);
        }
        return by_day.into_iter().collect();
    }
    let mut counts = vec![0usize; (hi - lo) as usize + 1];
    for d in &days {
        counts[(d - lo) as usize] += 1;
    }
    let mut by_day: Vec<Vec<&Event>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
    for (e, d) in chunks.iter().flatten().zip(&days) {
        by_day[(d - lo) as usize].push(e);
    }
    by_day
        .into_iter()
        .enumerate()
        .filter(|(_, events)| !events.is_empty())
        .map(|(i, events)| (Day(lo + i as i32), events))
        .collect()
}

/// Rejections per reason code, as a quarantine side file's manifest entry records them.
fn count_by_reason(rejections: &[Rejection]) -> BTreeMap<String, u64> {
    let mut by_reason = BTreeMap::new();
    for r in rejections {
        *by_reason.entry(r.reason.code().to_string()).or_insert(0) += 1;
    }
    by_reason
}

fn digest_prefix(d: &Digest) -> u64 {
    u64::from_be_bytes(d.0[..8].try_into().expect("digest has 32 bytes"))
}

fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
    }
}
