//! A report table's rows from dense ids, built in parallel.
//!
//! The table numbers persons by their first appearance in the rows read (segment order, then row order), and keeps
//! per person whether an id of theirs is in a merge, whether every event up to `as_of` is personless, and how many
//! events fall in the range read. Sequentially that is one lookup per run of rows into arrays indexed by person,
//! which at a million persons misses the cache every time. Here the segments are walked in parallel with those
//! facts kept per person's root (smallest dense id) in atomics, each root's first (segment, run) decides its
//! number, and the rows are then written in parallel, each chunk into its own slice of the columns.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;
use report::table::{PeriodGrid, PeriodSets};
use store::segment::ScanChunk;

use crate::Result;

/// Where a reader is in one segment's runs of dense ids.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RunCursor {
    seg: Option<usize>,
    /// The run the last row read belongs to.
    pub(crate) run: usize,
    left: u32,
}

impl RunCursor {
    /// Moves to the start of segment `seg`'s runs, unless already inside them.
    pub(crate) fn enter(&mut self, seg: usize, runs: &[(u32, u32)]) {
        if self.seg != Some(seg) {
            self.seg = Some(seg);
            self.run = 0;
            self.left = runs.first().map_or(0, |r| r.1);
        }
    }

    /// The dense id of the next row; `None` past the runs' end.
    pub(crate) fn next(&mut self, runs: &[(u32, u32)]) -> Option<u32> {
        while self.left == 0 {
            self.run += 1;
            self.left = runs.get(self.run)?.1;
        }
        self.left -= 1;
        runs.get(self.run).map(|r| r.0)
    }
}

/// One segment's runs of rows, each dense id replaced by its person's root, and whether that id is in a merge.
pub(crate) type Rooted = (Vec<(u32, u32)>, Vec<bool>);

/// What [`dense_rows`] reads.
pub(crate) struct RowsIn<'a> {
    /// The scanned chunks, each segment's in row order, segments in the table's order.
    pub chunks: &'a [ScanChunk],
    /// Each chunk's segment (non-decreasing).
    pub chunk_seg: &'a [usize],
    /// Per segment: its runs of rows with each dense id replaced by its person's root, and whether that id is in a
    /// merge.
    pub rooted: &'a [Rooted],
    /// Per chunk: whether each of its names is kept, and each name's table number.
    pub names: &'a [(Vec<bool>, Vec<u32>)],
    /// One past the largest root.
    pub bound: usize,
    /// Rows after this instant are ignored.
    pub as_of: i64,
    /// The range read: rows outside it make persons but no table rows.
    pub range: Range<i64>,
    /// Copy each row's uuid.
    pub uuid: bool,
}

/// The table's columns and per-person facts built by [`dense_rows`].
#[derive(Debug, Default)]
pub(crate) struct DenseRows {
    /// Each root's person, `u32::MAX` for roots without a row up to `as_of`.
    pub person_of_root: Vec<u32>,
    /// Per person: an id of theirs is in a merge.
    pub merged: Vec<bool>,
    /// Per person: every event up to `as_of` read is personless.
    pub all_personless: Vec<bool>,
    /// Per person: events in the range read, each row weighing its count.
    pub in_range: Vec<u64>,
    /// Per row: person, time, name and uuid (empty unless asked for).
    pub person: Vec<u32>,
    pub ts: Vec<i64>,
    pub name: Vec<u32>,
    pub uuid: Vec<u128>,
}

/// What pass 1 learns of one root, in one cache line's quarter: its first (segment, run) with a row up to `as_of`,
/// and its events in the range with two flags in the top bits.
struct RootFacts {
    first: AtomicU64,
    counted: AtomicU64,
}

/// In [`RootFacts::counted`]: an event up to `as_of` is not personless.
const NOT_PERSONLESS: u64 = 1 << 63;
/// In [`RootFacts::counted`]: an id of the root's person is in a merge.
const MERGED: u64 = 1 << 62;

/// Each of `segments` segments' chunks, from each chunk's segment (non-decreasing).
fn segment_chunks(chunk_seg: &[usize], segments: usize) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = vec![0..0; segments];
    for (k, &s) in chunk_seg.iter().enumerate() {
        let r = &mut out[s];
        if r.start == r.end {
            *r = k..k + 1;
        } else {
            r.end = k + 1;
        }
    }
    out
}

/// Builds the rows of `input`; `short(seg)` is the error for a segment with more rows than its runs cover, and
/// `check` is called once per chunk (a deadline).
pub(crate) fn dense_rows(
    input: &RowsIn<'_>,
    short: impl Fn(usize) -> crate::Error + Sync,
    check: impl Fn() -> Result<()> + Sync,
) -> Result<DenseRows> {
    let RowsIn {
        chunks,
        chunk_seg,
        rooted,
        names,
        bound,
        as_of,
        ref range,
        uuid,
    } = *input;
    // Each segment's chunks: chunk_seg is non-decreasing.
    let seg_chunks = segment_chunks(chunk_seg, rooted.len());
    let facts: Vec<RootFacts> = (0..bound)
        .into_par_iter()
        .map(|_| RootFacts {
            first: AtomicU64::new(u64::MAX),
            counted: AtomicU64::new(0),
        })
        .collect();
    // Pass 1, per segment: each root's first (segment, run) and facts; per chunk, its cursor at its start and how
    // many rows it keeps.
    type Starts = Vec<(RunCursor, usize)>;
    let starts: Vec<Result<Starts>> = seg_chunks
        .par_iter()
        .enumerate()
        .map(|(seg, range_k)| {
            let (runs, merged_run) = &rooted[seg];
            let mut cursor = RunCursor::default();
            cursor.enter(seg, runs);
            let mut out = Vec::with_capacity(range_k.len());
            // The run whose first row up to as_of was recorded, the run whose non-personless event was, and the
            // root whose in-range count is being summed.
            let (mut seen_run, mut known_run) = (usize::MAX, usize::MAX);
            let (mut sum_root, mut sum) = (u32::MAX, 0u64);
            let flush = |root: u32, sum: u64| {
                if root != u32::MAX && sum > 0 {
                    facts[root as usize].counted.fetch_add(sum, Relaxed);
                }
            };
            for k in range_k.clone() {
                check()?;
                let c = &chunks[k];
                let wanted = &names[k].0;
                let at = cursor;
                let mut kept = 0usize;
                for i in 0..c.ts.len() {
                    let root = cursor.next(runs).ok_or_else(|| short(seg))?;
                    let ts = c.ts[i];
                    if ts > as_of {
                        continue;
                    }
                    let run = cursor.run;
                    let r = root as usize;
                    if run != seen_run {
                        seen_run = run;
                        // A plain load first: most runs are not their root's first, and a locked update costs more.
                        let key = ((seg as u64) << 32) | run as u64;
                        if key < facts[r].first.load(Relaxed) {
                            facts[r].first.fetch_min(key, Relaxed);
                        }
                        if merged_run[run] {
                            facts[r].counted.fetch_or(MERGED, Relaxed);
                        }
                    }
                    if run != known_run && !c.personless[i] {
                        known_run = run;
                        facts[r].counted.fetch_or(NOT_PERSONLESS, Relaxed);
                    }
                    if !range.contains(&ts) {
                        continue;
                    }
                    if root != sum_root {
                        flush(sum_root, sum);
                        (sum_root, sum) = (root, 0);
                    }
                    sum += c.weight.get(i).map_or(1, |&w| u64::from(w));
                    kept += usize::from(wanted[c.name_key[i] as usize]);
                }
                out.push((at, kept));
            }
            flush(sum_root, sum);
            Ok(out)
        })
        .collect();
    let mut chunk_start: Vec<(RunCursor, usize)> = Vec::with_capacity(chunks.len());
    for s in starts {
        chunk_start.extend(s?);
    }
    // Persons numbered by first appearance.
    let mut order: Vec<(u64, u32)> = facts
        .par_iter()
        .enumerate()
        .filter_map(|(r, f)| {
            let k = f.first.load(Relaxed);
            (k != u64::MAX).then_some((k, r as u32))
        })
        .collect();
    order.par_sort_unstable();
    let mut out = DenseRows {
        person_of_root: vec![u32::MAX; bound],
        ..DenseRows::default()
    };
    out.merged.reserve(order.len());
    out.all_personless.reserve(order.len());
    out.in_range.reserve(order.len());
    for (p, &(_, r)) in order.iter().enumerate() {
        let r = r as usize;
        out.person_of_root[r] = p as u32;
        let f = facts[r].counted.load(Relaxed);
        out.merged.push(f & MERGED != 0);
        out.all_personless.push(f & NOT_PERSONLESS == 0);
        out.in_range.push(f & !(MERGED | NOT_PERSONLESS));
    }
    // Pass 2, per chunk: its rows into its own slices of the columns (zeroed columns are fresh pages, faulted in
    // by the threads that fill them).
    let total: usize = chunk_start.iter().map(|s| s.1).sum();
    out.person = vec![0; total];
    out.ts = vec![0; total];
    out.name = vec![0; total];
    if uuid {
        out.uuid = vec![0; total];
    }
    let mut slices = Vec::with_capacity(chunks.len());
    {
        let (mut person, mut ts, mut name, mut uuids) = (
            &mut out.person[..],
            &mut out.ts[..],
            &mut out.name[..],
            &mut out.uuid[..],
        );
        for &(_, n) in &chunk_start {
            let (p, rest_p) = person.split_at_mut(n);
            let (t, rest_t) = ts.split_at_mut(n);
            let (m, rest_m) = name.split_at_mut(n);
            let (u, rest_u) = uuids.split_at_mut(if uuid { n } else { 0 });
            slices.push((p, t, m, u));
            (person, ts, name, uuids) = (rest_p, rest_t, rest_m, rest_u);
        }
    }
    let person_of_root = &out.person_of_root;
    slices.into_par_iter().enumerate().try_for_each(
        |(k, (person, ts, name, uuids))| -> Result<()> {
            let c = &chunks[k];
            let seg = chunk_seg[k];
            let runs = &rooted[seg].0;
            let (wanted, name_of) = &names[k];
            let mut cursor = chunk_start[k].0;
            let mut o = 0;
            for i in 0..c.ts.len() {
                let root = cursor.next(runs).ok_or_else(|| short(seg))?;
                let t = c.ts[i];
                let key = c.name_key[i] as usize;
                if t > as_of || !range.contains(&t) || !wanted[key] {
                    continue;
                }
                person[o] = person_of_root[root as usize];
                ts[o] = t;
                name[o] = name_of[key];
                if uuid {
                    uuids[o] = c.uuid.get(i).copied().unwrap_or(0);
                }
                o += 1;
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// What [`dense_sets`] marks, beside the rows' input.
pub(crate) struct SetsIn<'a> {
    /// The periods.
    pub grid: &'a PeriodGrid,
    /// Per chunk, per name of its dictionary: (a start event, a returning event), for the names the table keeps.
    pub roles: &'a [Vec<(bool, bool)>],
    /// Per segment, its activity by hour when it is read from the file rather than from chunks (it then has none),
    /// with the roles of the file's names and the segment's rows.
    pub files: &'a [Option<HourFileIn>],
    /// How many parts to mark in (each with sets of its own).
    pub parts: usize,
    /// Keep the counts of personless rows per root (only the personless rule reads them).
    pub personless_counts: bool,
}

/// A segment's activity-by-hour file as [`dense_sets`] reads it: entries name runs of the segment's own runs.
pub(crate) struct HourFileIn {
    pub file: store::ids::HoursFile,
    /// Per name of the file: (a start event, a returning event).
    pub roles: Vec<(bool, bool)>,
    /// The segment's rows.
    pub rows: u64,
}

/// The per-period sets of [`dense_sets`], over persons numbered by their roots (smallest dense ids), and what the
/// personless rule needs to know of each root.
#[derive(Debug, Default)]
pub(crate) struct DenseSets {
    pub sets: PeriodSets,
    /// Per 64 roots, three words side by side ([`Flag`]), so that a root's flags share one cache line: whether the
    /// root has a row up to `as_of`, an event up to `as_of` that is not personless, and an id with a row up to
    /// `as_of` in a merge.
    flags: Vec<u64>,
    /// Events in the range read, each row weighing its count.
    pub in_range: u64,
    /// Personless rows in the range read: (root, events). Only a root whose every event is personless can be left
    /// out, so only these rows' counts are kept per root.
    pub personless_in_range: Vec<(u32, u64)>,
}

/// What [`DenseSets`] knows of each root.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Flag {
    /// It has a row up to `as_of`.
    Seen = 0,
    /// It has an event up to `as_of` that is not personless.
    NotPersonless = 1,
    /// An id of its with a row up to `as_of` is in a merge.
    Merged = 2,
}

impl DenseSets {
    /// Whether root `r` has `flag`.
    pub(crate) fn has(&self, r: usize, flag: Flag) -> bool {
        self.flags
            .get(r / 64 * 3 + flag as usize)
            .is_some_and(|w| w & (1 << (r % 64)) != 0)
    }

    #[inline]
    fn set(&mut self, r: u32, flag: Flag) {
        self.flags[r as usize / 64 * 3 + flag as usize] |= 1 << (r % 64);
    }

    fn new(periods: usize, bound: usize) -> DenseSets {
        DenseSets {
            sets: PeriodSets::new(periods, bound),
            flags: vec![0; bound.div_ceil(64) * 3],
            ..DenseSets::default()
        }
    }
}

/// One part of [`dense_sets`] marking rows in order: the sets, and where the current run and root are.
struct Marker<'a> {
    out: DenseSets,
    grid: &'a PeriodGrid,
    as_of: i64,
    range: Range<i64>,
    /// The run last seen (`usize::MAX` at a segment's start).
    seen_run: usize,
    /// The root whose personless in-range events are being summed, and their sum.
    sum_root: u32,
    sum: u64,
    /// Keep those sums.
    personless_counts: bool,
}

/// One row for [`Marker::row`].
struct Row {
    root: u32,
    /// The row's run in its segment, and whether that run's id is in a merge.
    run: usize,
    merged: bool,
    ts: i64,
    personless: bool,
    weight: u64,
    /// (a start event, a returning event), false for a name the table leaves out.
    roles: (bool, bool),
}

impl Marker<'_> {
    /// Starts a segment: its runs are its own.
    fn segment(&mut self) {
        self.seen_run = usize::MAX;
        self.flush();
    }

    fn flush(&mut self) {
        if self.sum > 0 {
            self.out.personless_in_range.push((self.sum_root, self.sum));
        }
        (self.sum_root, self.sum) = (u32::MAX, 0);
    }

    #[inline]
    fn row(&mut self, r: Row) {
        if r.ts > self.as_of {
            return;
        }
        if r.run != self.seen_run {
            self.seen_run = r.run;
            self.out.set(r.root, Flag::Seen);
            if r.merged {
                self.out.set(r.root, Flag::Merged);
            }
        }
        if !r.personless {
            self.out.set(r.root, Flag::NotPersonless);
        }
        if !self.range.contains(&r.ts) {
            return;
        }
        self.out.in_range += r.weight;
        if r.personless && self.personless_counts {
            if r.root != self.sum_root {
                self.flush();
                self.sum_root = r.root;
            }
            self.sum += r.weight;
        }
        let (start, returning) = r.roles;
        if start || returning {
            self.out
                .sets
                .mark(r.root, self.grid.locate(r.ts), start, returning);
        }
    }
}

/// The per-period person sets of the rows [`dense_rows`] would write, with persons numbered by their roots instead of
/// by first appearance (so no lookup per run into an array per person): each kept row marks its person in its
/// period as a starter, a returner or both, by its name. Whole segments are read in parallel parts, each with sets
/// and per-root bits of its own (all of them fit in cache), united at the end; a segment with an activity-by-hour
/// file is read from the file's entries, with no chunk columns between.
pub(crate) fn dense_sets(
    input: &RowsIn<'_>,
    sets: &SetsIn<'_>,
    short: impl Fn(usize) -> crate::Error + Sync,
    check: impl Fn() -> Result<()> + Sync,
) -> Result<DenseSets> {
    let RowsIn {
        chunks,
        chunk_seg,
        rooted,
        bound,
        as_of,
        ref range,
        ..
    } = *input;
    let periods = sets.grid.len();
    // When every name starts exactly when it returns (retention of any activity after any activity, say), only the
    // starters are marked and the returners copied from them at the end: half the writes into sets.
    let same = sets
        .roles
        .iter()
        .flatten()
        .chain(sets.files.iter().flatten().flat_map(|f| &f.roles))
        .all(|&(s, r)| s == r);
    let marked = |(s, r): (bool, bool)| (s, r && !same);
    // Each segment's chunks, then contiguous runs of segments with about equal rows, one per part.
    let seg_chunks = segment_chunks(chunk_seg, rooted.len());
    let seg_rows = |seg: usize| -> usize {
        let file = sets.files.get(seg).and_then(Option::as_ref);
        chunks[seg_chunks[seg].clone()]
            .iter()
            .map(|c| c.ts.len())
            .sum::<usize>()
            + file.map_or(0, |f| f.file.len())
    };
    let total: usize = (0..seg_chunks.len()).map(seg_rows).sum();
    let per = total.div_ceil(sets.parts.max(1)).max(1);
    let mut groups: Vec<Range<usize>> = Vec::new();
    let (mut from, mut rows) = (0, 0);
    for seg in 0..seg_chunks.len() {
        rows += seg_rows(seg);
        if rows >= per {
            groups.push(from..seg + 1);
            (from, rows) = (seg + 1, 0);
        }
    }
    // The segments left make one more part while there are fewer than asked for, else join the last.
    let full = groups.len() >= sets.parts.max(1);
    if let (true, Some(last)) = (full, groups.last_mut()) {
        last.end = seg_chunks.len();
    } else if from < seg_chunks.len() || groups.is_empty() {
        groups.push(from..seg_chunks.len());
    }
    let parts: Vec<Result<DenseSets>> = groups
        .into_par_iter()
        .map(|segs| {
            let mut m = Marker {
                out: DenseSets::new(periods, bound),
                grid: sets.grid,
                as_of,
                range: range.clone(),
                seen_run: usize::MAX,
                sum_root: u32::MAX,
                sum: 0,
                personless_counts: sets.personless_counts,
            };
            for seg in segs {
                check()?;
                let (runs, merged_run) = &rooted[seg];
                m.segment();
                if let Some(f) = sets.files.get(seg).and_then(Option::as_ref) {
                    let base = f.file.base_hour;
                    let mut inside = true;
                    let sound = f.file.visit(f.rows, |e| {
                        let run = e.run as usize;
                        let (Some(&(root, _)), Some(&merged), Some(&roles)) = (
                            runs.get(run),
                            merged_run.get(run),
                            f.roles.get(e.name as usize),
                        ) else {
                            inside = false;
                            return;
                        };
                        m.row(Row {
                            root,
                            run,
                            merged,
                            ts: (base + i64::from(e.hour)) * report::table::HOUR_US,
                            personless: e.personless,
                            weight: u64::from(e.count),
                            roles: marked(roles),
                        });
                    });
                    if !sound || !inside {
                        return Err(short(seg));
                    }
                    continue;
                }
                let mut cursor = RunCursor::default();
                cursor.enter(seg, runs);
                for k in seg_chunks[seg].clone() {
                    let c = &chunks[k];
                    let roles = &sets.roles[k];
                    for i in 0..c.ts.len() {
                        let root = cursor.next(runs).ok_or_else(|| short(seg))?;
                        m.row(Row {
                            root,
                            run: cursor.run,
                            merged: merged_run[cursor.run],
                            ts: c.ts[i],
                            personless: c.personless[i],
                            weight: c.weight.get(i).map_or(1, |&w| u64::from(w)),
                            roles: marked(roles[c.name_key[i] as usize]),
                        });
                    }
                }
            }
            m.flush();
            Ok(m.out)
        })
        .collect();
    let mut parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    let mut out = DenseSets {
        sets: PeriodSets::union_all(
            parts
                .iter_mut()
                .map(|p| std::mem::take(&mut p.sets))
                .collect(),
        ),
        ..DenseSets::new(0, bound)
    };
    if same {
        out.sets.returns_from_starts();
    }
    for p in parts {
        out.flags
            .iter_mut()
            .zip(&p.flags)
            .for_each(|(a, b)| *a |= b);
        out.in_range += p.in_range;
        out.personless_in_range.extend(p.personless_in_range);
    }
    Ok(out)
}
