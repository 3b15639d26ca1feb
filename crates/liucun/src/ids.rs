//! Dense distinct ids for reports (docs/formats/ids.md): each segment's rows as runs of dense ids, and the identity
//! map's persons over dense ids, so that building a report's table reads no distinct id string and hashes none.
//!
//! Both are derived from the store on first use and kept under `derived/` by a writing engine. A read-only engine
//! uses them only when every file it needs is present and current (it never derives ids of its own, which could
//! collide with those the writing process adds meanwhile); otherwise its reports resolve distinct ids as text.

use std::path::PathBuf;

use rayon::prelude::*;
use report::table::HOUR_US;
use rustc_hash::FxHashMap;
use sha2::Digest as _;
use store::SegmentEntry;
use store::ids::{Dictionary, HourEntry, Hours, Persons, RunsSource};

use crate::{Engine, Result};

const DICTIONARY_FILE: &str = "ids";
const PERSONS_FILE: &str = "persons";

/// The dense ids of a report's segments: per segment its rows as runs of (dense id, rows), and the persons.
#[derive(Debug)]
pub(crate) struct DenseIds {
    pub(crate) runs: Vec<Vec<(u32, u32)>>,
    pub(crate) persons: Persons,
    /// The dictionary's epoch: dense ids of two epochs never mix.
    pub(crate) epoch: u64,
}

impl DenseIds {
    /// The smallest dense id of `d`'s person: equal for two ids exactly when they are one person.
    pub(crate) fn root(&self, d: u32) -> u32 {
        self.persons.root.get(d as usize).copied().unwrap_or(d)
    }

    /// Whether `d` takes part in a merge request or persons import.
    pub(crate) fn merged(&self, d: u32) -> bool {
        self.persons
            .merged
            .get(d as usize)
            .copied()
            .unwrap_or(false)
    }

    /// One past the largest dense id the runs name.
    pub(crate) fn bound(&self) -> usize {
        let runs = self.runs.iter().flatten().map(|&(d, _)| d as usize + 1);
        runs.max().unwrap_or(0).max(self.persons.root.len())
    }
}

impl Engine {
    /// The dense ids of `segments` (all of project `project`) and the persons at `as_of`, derived and kept where
    /// missing; `None` when they cannot be had (a read-only engine missing a file, a dictionary that changed
    /// epoch under the report), in which case the report resolves distinct ids as text.
    pub(crate) fn dense_ids(
        &self,
        project: &str,
        segments: &[&SegmentEntry],
        as_of: i64,
    ) -> Result<Option<DenseIds>> {
        self.dense_ids_with(project, segments, as_of, true)
    }

    /// [`Engine::dense_ids`]; without `with_persons`, only the runs (its persons are left empty).
    fn dense_ids_with(
        &self,
        project: &str,
        segments: &[&SegmentEntry],
        as_of: i64,
        with_persons: bool,
    ) -> Result<Option<DenseIds>> {
        let (dict_dir, writable, paths) = self.with_store(|s| {
            (
                s.dictionary_dir(project),
                !s.is_read_only(),
                segments
                    .iter()
                    .map(|seg| s.runs_path(&seg.file))
                    .collect::<Vec<PathBuf>>(),
            )
        });
        let Some(dict_dir) = dict_dir else {
            return Ok(None);
        };
        let dict_path = dict_dir.join(DICTIONARY_FILE);
        let on_disk = store::ids::dictionary_epoch(&dict_path);
        let read = |epoch: u64| -> Vec<Option<Vec<(u32, u32)>>> {
            segments
                .par_iter()
                .zip(&paths)
                .map(|(s, path)| {
                    store::ids::read_runs(
                        path,
                        &RunsSource {
                            segment_digest: &s.digest_sum,
                            rows: s.rows,
                            epoch,
                        },
                    )
                })
                .collect()
        };
        let mut runs = match on_disk {
            Some(e) => read(e),
            None => vec![None; segments.len()],
        };
        let key = self.persons_key(project);
        let persons_path = dict_dir.join(PERSONS_FILE);
        // Everything kept and current: the dictionary itself is not read.
        let kept_persons = |epoch: u64| match with_persons {
            true => store::ids::read_persons(&persons_path, epoch, &key)
                .filter(|p| as_of >= p.max_merge_ts),
            false => Some(Persons::default()),
        };
        if let Some(epoch) = on_disk
            && runs.iter().all(Option::is_some)
            && let Some(persons) = kept_persons(epoch)
        {
            let runs = runs.into_iter().map(Option::unwrap_or_default).collect();
            return Ok(Some(DenseIds {
                runs,
                persons,
                epoch,
            }));
        }
        if !writable {
            return Ok(None);
        }

        let mut dicts = self
            .dictionaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A dictionary deleted or replaced on disk since it was loaded is loaded again (a new start, if missing).
        if dicts
            .get(project)
            .is_some_and(|d| on_disk != Some(d.epoch()))
        {
            dicts.remove(project);
        }
        if !dicts.contains_key(project) {
            dicts.insert(project.to_string(), Dictionary::open(&dict_path, true)?);
        }
        let Some(dict) = dicts.get_mut(project) else {
            return Ok(None);
        };
        let epoch = dict.epoch();
        if on_disk != Some(epoch) {
            runs = vec![None; segments.len()];
        }
        // Segments without runs: their distinct ids, read in parallel, get dense ids in segment order.
        let missing: Vec<usize> = (0..segments.len()).filter(|&k| runs[k].is_none()).collect();
        if !missing.is_empty() {
            let dir = self.dir().to_path_buf();
            let texts: Vec<Result<Vec<(String, u32)>>> = missing
                .par_iter()
                .map(|&k| {
                    let mut out = Vec::new();
                    store::segment::for_each_distinct_run(
                        &dir.join(&segments[k].file),
                        |id, n| out.push((id.to_string(), n)),
                    )?;
                    Ok(out)
                })
                .collect();
            for (&k, texts) in missing.iter().zip(texts) {
                let texts = texts?;
                runs[k] = Some(texts.iter().map(|(id, n)| (dict.id(id), *n)).collect());
            }
            dict.sync()?;
            missing.par_iter().for_each(|&k| {
                let source = RunsSource {
                    segment_digest: &segments[k].digest_sum,
                    rows: segments[k].rows,
                    epoch,
                };
                if let Some(r) = &runs[k]
                    && let Err(e) = store::ids::write_runs(&paths[k], &source, r)
                {
                    tracing::warn!(path = %paths[k].display(), error = %e, "could not keep dense-id runs");
                }
            });
        }
        let runs: Vec<Vec<(u32, u32)>> = runs.into_iter().map(Option::unwrap_or_default).collect();
        for (s, r) in segments.iter().zip(&runs) {
            if r.iter().map(|&(_, n)| u64::from(n)).sum::<u64>() != s.rows {
                return Err(crate::Error::Store(store::Error::Corruption {
                    path: self.dir().join(&s.file),
                    offset: 0,
                    reason: "its distinct ids do not cover its rows".into(),
                }));
            }
        }

        if let Some(persons) = kept_persons(epoch) {
            return Ok(Some(DenseIds {
                runs,
                persons,
                epoch,
            }));
        }
        // The persons: the identity map built as text, each id it mentions given a dense id (so ids that arrive
        // later in new segments find theirs), then each dense id's person.
        // The key is taken with the identity, under one look at the store, so it names what the map was built from.
        let (identity, latest, key) =
            self.identity_and_latest(project, Some(model::Timestamp(as_of)))?;
        let nodes: Vec<(u32, u32, bool)> = identity
            .nodes()
            .map(|(id, node, merged)| (dict.id(id), node, merged))
            .collect();
        dict.sync()?;
        let n = dict.len();
        let mut smallest: FxHashMap<u32, u32> = FxHashMap::default();
        for &(d, node, _) in &nodes {
            let s = smallest.entry(node).or_insert(d);
            *s = (*s).min(d);
        }
        let mut persons = Persons {
            key,
            max_merge_ts: latest.unwrap_or(i64::MIN),
            identity_digest: identity.digest(),
            root: (0..n as u32).collect(),
            merged: vec![false; n],
        };
        for &(d, node, merged) in &nodes {
            persons.root[d as usize] = smallest[&node];
            persons.merged[d as usize] = merged;
        }
        // Built with every merge: it holds for any later `as_of` too, so it is kept.
        if latest.is_none_or(|t| t <= as_of)
            && let Err(e) = store::ids::write_persons(&persons_path, epoch, &persons)
        {
            tracing::warn!(path = %persons_path.display(), error = %e, "could not keep the persons over dense ids");
        }
        Ok(Some(DenseIds {
            runs,
            persons,
            epoch,
        }))
    }

    /// Derives the dense ids of every project's segments and their persons over all merges, so that the next
    /// report finds them (after an import or a compaction). Derived data: a failure is logged, never an error; a
    /// read-only engine or one without dense ids does nothing.
    pub fn derive_ids(&self) {
        self.derive_ids_where(|_| true, true);
    }

    /// [`Engine::derive_ids`] for the segments `wanted` keeps; the persons (over every merge) only `with_persons`.
    pub(crate) fn derive_ids_where(
        &self,
        wanted: impl Fn(&SegmentEntry) -> bool,
        with_persons: bool,
    ) {
        if !self.config.dense_ids || self.is_read_only() {
            return;
        }
        for project in self.projects_with_events() {
            let filter = store::ScanFilter {
                projects: vec![project.clone()],
                days: None,
            };
            let segments: Vec<SegmentEntry> = self.with_store(|s| {
                s.segments(&filter)
                    .into_iter()
                    .filter(|s| wanted(s))
                    .cloned()
                    .collect()
            });
            if segments.is_empty() {
                continue;
            }
            let refs: Vec<&SegmentEntry> = segments.iter().collect();
            let ids = match self.dense_ids_with(&project, &refs, i64::MAX, with_persons) {
                Ok(Some(ids)) => ids,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(project, error = %e, "could not derive dense ids");
                    continue;
                }
            };
            // And each segment's activity by hour.
            let paths: Vec<(PathBuf, PathBuf)> = self.with_store(|s| {
                segments
                    .iter()
                    .map(|seg| (s.path_of(&seg.file), s.hours_path(&seg.file)))
                    .collect()
            });
            segments
                .par_iter()
                .zip(&paths)
                .zip(&ids.runs)
                .for_each(|((seg, (path, hours)), runs)| {
                    let source = RunsSource {
                        segment_digest: &seg.digest_sum,
                        rows: seg.rows,
                        epoch: 0,
                    };
                    if let Err(e) = segment_hours(path, hours, &source, runs, true) {
                        tracing::warn!(path = %path.display(), error = %e, "could not derive the activity by hour");
                    }
                });
        }
    }

    fn persons_key(&self, project: &str) -> [u8; 32] {
        self.with_store(|s| persons_key(s, project))
    }
}

/// What a project's identity map is built from: its persons imports and the segments holding merges. Any change to
/// either (a new import, a flush or compaction that touches merges) gives another key.
pub(crate) fn persons_key(store: &store::Store, project: &str) -> [u8; 32] {
    let m = store.manifest();
    let mut h = sha2::Sha256::new();
    h.update(b"lcpersons1\0");
    for f in m
        .side_files
        .iter()
        .filter(|f| f.project == project && f.kind == store::SideKind::Persons)
    {
        h.update(f.file.as_bytes());
        h.update(b"\0");
    }
    h.update(b"\x01");
    for seg in m
        .segments
        .iter()
        .filter(|seg| seg.project == project && seg.merges > 0)
    {
        h.update(seg.file.as_bytes());
        h.update(b"\0");
        h.update(seg.digest_sum.as_bytes());
        h.update(b"\0");
    }
    h.finalize().into()
}

/// A segment's activity by hour (docs/formats/ids.md) from its kept file, or derived from its rows (and kept when
/// `write`); `None` when its rows do not fit the format (more than 256 hours or 128 event names).
pub(crate) fn segment_hours(
    segment: &std::path::Path,
    hours_path: &std::path::Path,
    source: &RunsSource<'_>,
    runs: &[(u32, u32)],
    write: bool,
) -> Result<Option<Hours>> {
    if let Some(h) = store::ids::read_hours(hours_path, source) {
        return Ok(Some(h));
    }
    derive_kept_hours(segment, hours_path, source, runs, write)
}

/// A segment's activity by hour derived from its rows, and kept when `write`.
fn derive_kept_hours(
    segment: &std::path::Path,
    hours_path: &std::path::Path,
    source: &RunsSource<'_>,
    runs: &[(u32, u32)],
    write: bool,
) -> Result<Option<Hours>> {
    let want = store::segment::ScanWant {
        skip_distinct_ids: true,
        ..Default::default()
    };
    let chunks = store::segment::scan(segment, want)?;
    let Some(hours) = derive_hours(&chunks, runs) else {
        return Ok(None);
    };
    if write && let Err(e) = store::ids::write_hours(hours_path, source, &hours) {
        tracing::warn!(path = %hours_path.display(), error = %e, "could not keep the activity by hour");
    }
    Ok(Some(hours))
}

fn derive_hours(chunks: &[store::segment::ScanChunk], runs: &[(u32, u32)]) -> Option<Hours> {
    let min_ts = chunks.iter().flat_map(|c| c.ts.iter().copied()).min()?;
    let base_hour = min_ts.div_euclid(HOUR_US);
    // Names in the order the row path meets them: each chunk's dictionary, new ones appended.
    let mut names: Vec<String> = Vec::new();
    let mut entries: Vec<HourEntry> = Vec::new();
    // The current run's events: (hour, name, personless).
    let mut pending: Vec<(u8, u8, bool)> = Vec::new();
    let (mut run, mut left) = (0usize, runs.first()?.1);
    let flush = |run: usize, pending: &mut Vec<(u8, u8, bool)>, entries: &mut Vec<HourEntry>| {
        pending.sort_unstable_by_key(|&(h, n, _)| (h, n));
        for group in pending.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let personless = group.iter().all(|e| e.2);
            for part in group.chunks(usize::from(u16::MAX)) {
                entries.push(HourEntry {
                    run: run as u32,
                    hour: group[0].0,
                    name: group[0].1,
                    personless,
                    count: part.len() as u16,
                });
            }
        }
        pending.clear();
    };
    for c in chunks {
        let mut map = Vec::with_capacity(c.names.len());
        for n in &c.names {
            let k = match names.iter().position(|m| m == n) {
                Some(k) => k,
                None => {
                    names.push(n.clone());
                    names.len() - 1
                }
            };
            if k >= store::ids::HOURS_MAX_NAMES {
                return None;
            }
            map.push(k as u8);
        }
        for i in 0..c.ts.len() {
            while left == 0 {
                flush(run, &mut pending, &mut entries);
                run += 1;
                left = runs.get(run)?.1;
            }
            left -= 1;
            let hour = u8::try_from(c.ts[i].div_euclid(HOUR_US) - base_hour).ok()?;
            pending.push((hour, map[c.name_key[i] as usize], c.personless[i]));
        }
    }
    flush(run, &mut pending, &mut entries);
    Some(Hours {
        base_hour,
        names,
        entries,
    })
}

/// A segment's activity by hour as a scan chunk, with the runs of dense ids of its rows.
pub(crate) type HourRows = (store::segment::ScanChunk, Vec<(u32, u32)>);

/// A segment's activity by hour as a scan chunk of one row per entry, stamped at its hour's start, each weighing its
/// event count, with the runs of dense ids of those rows.
pub(crate) fn hours_chunk(hours: Hours, runs: &[(u32, u32)]) -> Option<HourRows> {
    let mut chunk = HoursChunk::new(hours.base_hour, hours.entries.len(), runs.len());
    for e in &hours.entries {
        chunk.push(e, runs);
    }
    chunk.finish(hours.names, runs)
}

/// [`hours_chunk`] of a segment's kept activity by hour, read straight from its file into the chunk's columns, else
/// derived from its rows (and kept when `write`); `None` when its rows do not fit the format.
pub(crate) fn segment_hours_chunk(
    segment: &std::path::Path,
    hours_path: &std::path::Path,
    source: &RunsSource<'_>,
    runs: &[(u32, u32)],
    write: bool,
) -> Result<Option<HourRows>> {
    if let Some(out) =
        store::ids::open_hours(hours_path, source).and_then(|f| file_chunk(f, source, runs))
    {
        return Ok(Some(out));
    }
    Ok(derive_kept_hours(segment, hours_path, source, runs, write)?
        .and_then(|h| hours_chunk(h, runs)))
}

/// A segment's kept activity by hour, checked against its runs (every entry names a run, each run's entries count
/// its rows, every hour is an instant), for a reader that visits its entries itself; `None` when missing, stale or
/// damaged.
pub(crate) fn checked_hours(
    hours_path: &std::path::Path,
    source: &RunsSource<'_>,
    runs: &[(u32, u32)],
) -> Option<store::ids::HoursFile> {
    let file = store::ids::open_hours(hours_path, source)?;
    file.base_hour
        .checked_add(255)
        .and_then(|h| h.checked_mul(HOUR_US))?;
    file.base_hour.checked_mul(HOUR_US)?;
    let mut counted = vec![0u64; runs.len()];
    let mut inside = true;
    let sound = file.visit(source.rows, |e| match counted.get_mut(e.run as usize) {
        Some(c) => *c += u64::from(e.count),
        None => inside = false,
    });
    let whole = counted.iter().zip(runs).all(|(&c, r)| c == u64::from(r.1));
    (sound && inside && whole).then_some(file)
}

/// [`hours_chunk`] of a file [`checked_hours`] accepted.
pub(crate) fn file_chunk(
    file: store::ids::HoursFile,
    source: &RunsSource<'_>,
    runs: &[(u32, u32)],
) -> Option<HourRows> {
    let mut chunk = HoursChunk::new(file.base_hour, file.len(), runs.len());
    if !file.visit(source.rows, |e| chunk.push(&e, runs)) {
        return None;
    }
    chunk.finish(file.names, runs)
}

/// The columns of [`hours_chunk`] as its entries arrive.
struct HoursChunk {
    base_hour: i64,
    chunk: store::segment::ScanChunk,
    row_runs: Vec<(u32, u32)>,
    /// Per run, the events of its entries: each must count exactly its rows.
    counted: Vec<u64>,
    /// An entry named a run past the runs, or an hour past the representable.
    broken: bool,
}

impl HoursChunk {
    fn new(base_hour: i64, entries: usize, runs: usize) -> HoursChunk {
        let mut chunk = store::segment::ScanChunk::default();
        chunk.ts.reserve_exact(entries);
        chunk.name_key.reserve_exact(entries);
        chunk.personless.reserve_exact(entries);
        chunk.weight.reserve_exact(entries);
        HoursChunk {
            base_hour,
            chunk,
            row_runs: Vec::new(),
            counted: vec![0; runs],
            broken: false,
        }
    }

    #[inline]
    fn push(&mut self, e: &HourEntry, runs: &[(u32, u32)]) {
        let (Some(&(d, _)), Some(ts)) = (
            runs.get(e.run as usize),
            self.base_hour
                .checked_add(i64::from(e.hour))
                .and_then(|h| h.checked_mul(HOUR_US)),
        ) else {
            self.broken = true;
            return;
        };
        self.counted[e.run as usize] += u64::from(e.count);
        match self.row_runs.last_mut() {
            Some((last, n)) if *last == d => *n += 1,
            _ => self.row_runs.push((d, 1)),
        }
        let c = &mut self.chunk;
        c.ts.push(ts);
        c.name_key.push(u32::from(e.name));
        c.personless.push(e.personless);
        c.weight.push(u32::from(e.count));
    }

    fn finish(mut self, names: Vec<String>, runs: &[(u32, u32)]) -> Option<HourRows> {
        let whole = self
            .counted
            .iter()
            .zip(runs)
            .all(|(&c, r)| c == u64::from(r.1));
        self.chunk.names = names;
        (!self.broken && whole).then_some((self.chunk, self.row_runs))
    }
}

#[cfg(test)]
mod tests {
    use model::{Project, Timestamp};

    use crate::{Engine, EngineConfig, OpenMode};

    fn import(engine: &Engine, first_uuid: usize, lines: &[(&str, &str, &str)]) {
        append(engine, first_uuid, lines);
        engine.flush().unwrap();
    }

    fn open(dir: &std::path::Path) -> Engine {
        Engine::open(dir, OpenMode::CreateIfMissing, EngineConfig::default()).unwrap()
    }

    /// Adds events of (distinct id, name, properties' inner JSON), without flushing.
    fn append(engine: &Engine, first_uuid: usize, lines: &[(&str, &str, &str)]) {
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(n, (who, event, extra))| {
                let n = n + first_uuid;
                format!(
                    r#"{{"uuid":"00000000-0000-4000-8000-{n:012x}","distinct_id":"{who}","event":"{event}","timestamp":"2025-03-0{}T10:00:00Z","properties":{{{extra}}}}}"#,
                    n % 3 + 1
                ) + "\n"
            })
            .collect();
        let cfg = ingest::Config {
            now: Timestamp(1_900_000_000_000_000),
            max_event_bytes: 1 << 20,
        };
        let project = Project::new("p").unwrap();
        let batch = ingest::ndjson_chunk(&project, text.as_bytes(), "t.ndjson", 1, &cfg);
        engine.import_batch(batch).unwrap();
    }

    #[test]
    fn a_live_servers_flush_derives_the_segments_it_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = open(tmp.path());
        // A plain flush (an import's) derives nothing.
        import(&engine, 0, &[("a", "x", ""), ("b", "x", "")]);
        let derived = |e: &Engine| -> Vec<(String, bool, bool)> {
            e.with_store(|s| {
                s.manifest()
                    .segments
                    .iter()
                    .map(|seg| {
                        (
                            seg.file.clone(),
                            s.runs_path(&seg.file).exists(),
                            s.hours_path(&seg.file).exists(),
                        )
                    })
                    .collect()
            })
        };
        let first = derived(&engine);
        assert!(first.iter().all(|(_, r, h)| !r && !h), "{first:?}");
        // The server's flush derives what it wrote: runs and activity by hour; the persons with the new merge are
        // left to the next report.
        append(
            &engine,
            10,
            &[
                ("a", "$identify", r#""$anon_distinct_id":"c""#),
                ("c", "y", ""),
            ],
        );
        let stats = engine.flush_and_derive().unwrap();
        assert!(stats.segments_written > 0);
        let before: Vec<&String> = first.iter().map(|(f, _, _)| f).collect();
        let after = derived(&engine);
        let new: Vec<&(String, bool, bool)> = after
            .iter()
            .filter(|(f, _, _)| !before.contains(&f))
            .collect();
        assert!(!new.is_empty());
        assert!(new.iter().all(|(_, r, h)| *r && *h), "{after:?}");
        let persons = engine
            .with_store(|s| s.dictionary_dir("p"))
            .unwrap()
            .join("persons");
        assert!(!persons.exists());
        let segments = engine.with_store(|s| s.manifest().segments.clone());
        let refs: Vec<&store::SegmentEntry> = segments.iter().collect();
        assert!(engine.dense_ids("p", &refs, i64::MAX).unwrap().is_some());
        assert!(persons.exists());
    }

    #[test]
    fn kept_ids_serve_a_read_only_engine_and_follow_new_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = open(tmp.path());
        import(
            &engine,
            0,
            &[
                ("a", "x", ""),
                ("b", "x", ""),
                ("a", "$identify", r#""$anon_distinct_id":"c""#),
            ],
        );
        let segments = |e: &Engine| e.with_store(|s| s.manifest().segments.clone());
        let ids = |e: &Engine| {
            let segs = segments(e);
            let refs: Vec<&store::SegmentEntry> = segs.iter().collect();
            e.dense_ids("p", &refs, i64::MAX).unwrap()
        };
        // Nothing kept yet: a read-only engine resolves text instead of deriving ids of its own.
        let reader = Engine::open_read_only(tmp.path(), EngineConfig::default()).unwrap();
        assert!(ids(&reader).is_none());
        let first = ids(&engine).unwrap();
        let rows: u64 = segments(&engine).iter().map(|s| s.rows).sum();
        let covered: u64 = first
            .runs
            .iter()
            .flatten()
            .map(|&(_, n)| u64::from(n))
            .sum();
        assert_eq!(covered, rows);
        let kept = ids(&reader).unwrap();
        assert_eq!(kept.runs, first.runs);
        assert_eq!(kept.persons, first.persons);
        // `c` was only ever named by the merge, then sends events: its id is a's person's.
        import(&engine, 10, &[("c", "y", ""), ("d", "y", "")]);
        let second = ids(&engine).unwrap();
        let root_of = |name_rows: &[(u32, u32)]| -> Vec<u32> {
            name_rows.iter().map(|&(d, _)| second.root(d)).collect()
        };
        let all: Vec<u32> = second.runs.iter().flat_map(|r| root_of(r)).collect();
        let distinct: std::collections::BTreeSet<u32> = all.iter().copied().collect();
        // Persons a (with c), b, d.
        assert_eq!(distinct.len(), 3, "{second:?}");
        assert_eq!(second.persons, first.persons, "no new merge, same persons");
    }
}
