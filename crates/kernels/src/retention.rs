//! The retention kernel: cohort rows and return columns from event columns (retention.md §6–§10).
//!
//! The caller resolves everything that needs strings, JSON or time zones first: persons are dense indexes, filters
//! are boolean columns, breakdown values are dense bucket ids and periods are a [`PeriodGrid`]. The kernel then works
//! with per-actor bitsets over the window's periods, where an actor is a person, or a (person, bucket) pair when a
//! recurring report is broken down by an event property.

use std::collections::HashMap;

use crate::grid::{Locate, PeriodGrid};

/// Which rows a person joins (retention.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every period with a start event.
    Recurring,
    /// The period of the earliest start event (all history); excluded when that is outside the window.
    FirstTime,
    /// The period of the earliest anchor event (target names and global filters only), if it is also a start event.
    FirstEver,
}

/// Where breakdown buckets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketMode {
    /// No breakdown: one bucket.
    None,
    /// An event property: `RetentionColumns::event_bucket`.
    Event,
    /// A person property: `RetentionColumns::person_bucket`.
    Person,
}

/// The event columns the kernel reads; every slice has one entry per event (persons: one per person).
#[derive(Debug, Clone, Copy)]
pub struct RetentionColumns<'a> {
    /// Dense person index of each event.
    pub person: &'a [u32],
    /// Event time, UTC µs. Events after `as_of` must already be removed.
    pub ts: &'a [i64],
    /// Event uuid as a big-endian integer, to break timestamp ties.
    pub uuid: &'a [u128],
    /// Matches the target entity with its filters and the global filters.
    pub start: &'a [bool],
    /// Anchor candidates for `FirstEver` (target names and global filters); ignored otherwise.
    pub anchor: &'a [bool],
    /// Matches the returning entity and the global filters.
    pub returning: &'a [bool],
    /// Breakdown bucket of each event (`BucketMode::Event`); empty otherwise.
    pub event_bucket: &'a [u32],
    /// Breakdown bucket of each person (`BucketMode::Person`); empty otherwise.
    pub person_bucket: &'a [u32],
}

/// Report settings the kernel needs.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Cohort mode.
    pub mode: Mode,
    /// Number of columns (`total_intervals`, or 1 + the number of custom brackets).
    pub columns: usize,
    /// Custom brackets: for column `j ≥ 1`, the inclusive range of period offsets it covers. Empty means column
    /// `j` covers offset `j` alone.
    pub spans: Vec<(usize, usize)>,
    /// Returning events needed in a period (≥ 1).
    pub min_occurrences: u32,
    /// Count a person in every column up to their last qualifying one.
    pub cumulative: bool,
    /// Breakdown source.
    pub buckets: BucketMode,
    /// Number of buckets (1 without a breakdown).
    pub n_buckets: usize,
    /// Number of persons (the range of `person`).
    pub n_persons: usize,
}

/// Counts per bucket, row and column; column 0 is the cohort size. Cells outside the window are 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortCounts {
    /// Number of buckets.
    pub n_buckets: usize,
    /// Number of rows (periods in the window).
    pub rows: usize,
    /// Number of columns.
    pub columns: usize,
    /// `counts[(b * rows + k) * columns + j]`.
    pub counts: Vec<u64>,
}

impl CohortCounts {
    /// All-zero counts for `n_buckets` (at least one) × `rows` × `columns`.
    pub(crate) fn zeroed(n_buckets: usize, rows: usize, columns: usize) -> CohortCounts {
        let n_buckets = n_buckets.max(1);
        CohortCounts {
            n_buckets,
            rows,
            columns,
            counts: vec![0; n_buckets * rows * columns],
        }
    }

    /// The count of bucket `b`, row `k`, column `j`.
    pub fn get(&self, b: usize, k: usize, j: usize) -> u64 {
        self.counts[(b * self.rows + k) * self.columns + j]
    }

    fn add(&mut self, b: usize, k: usize, j: usize) {
        self.counts[(b * self.rows + k) * self.columns + j] += 1;
    }
}

/// Computes the retention matrix: from per-period person sets where they answer the report
/// ([`crate::sets`]), else person by person. Both give the same counts.
///
/// # Panics
/// When the columns have different lengths or an index is out of range (caller bugs).
pub fn retention(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    cfg: &RetentionConfig,
) -> CohortCounts {
    let n = cols.person.len();
    assert!(cols.ts.len() == n && cols.start.len() == n && cols.returning.len() == n);
    if let Some(counts) = crate::sets::retention(cols, grid, cfg) {
        return counts;
    }
    by_person(cols, grid, cfg)
}

/// [`retention`] person by person: each person's start and return periods as bitsets over the window.
fn by_person(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    cfg: &RetentionConfig,
) -> CohortCounts {
    let rows = grid.len();
    let mut out = CohortCounts::zeroed(cfg.n_buckets, rows, cfg.columns);
    let words = rows.div_ceil(64).max(1);
    // Each person's periods with at least `min_occurrences` returning events.
    let returns_bits = || {
        period_bits(
            cols,
            grid,
            cfg.n_persons,
            words,
            cols.returning,
            cfg.min_occurrences,
        )
    };
    match (cfg.mode, cfg.buckets) {
        (Mode::Recurring, BucketMode::Event) => {
            recurring_by_event_bucket(cols, grid, cfg, words, &mut out)
        }
        (Mode::Recurring, _) => {
            let starts = period_bits(cols, grid, cfg.n_persons, words, cols.start, 1);
            let returns = returns_bits();
            for p in 0..cfg.n_persons {
                let s = &starts[p * words..(p + 1) * words];
                if s.iter().all(|&w| w == 0) {
                    continue;
                }
                let b = bucket_of_person(cols, cfg, p);
                let r = &returns[p * words..(p + 1) * words];
                for k in ones(s) {
                    count_row(&mut out, b, k, r, cfg);
                }
            }
        }
        (Mode::FirstTime | Mode::FirstEver, _) => {
            let anchors = if cfg.mode == Mode::FirstTime {
                cols.start
            } else {
                cols.anchor
            };
            let (first, returns) = if cfg.min_occurrences <= 1 {
                earliest_and_returns(cols, anchors, grid, cfg.n_persons, words)
            } else {
                (earliest(cols, anchors, cfg.n_persons), returns_bits())
            };
            for (p, &i) in first.iter().enumerate() {
                if i == u32::MAX {
                    continue;
                }
                let i = i as usize;
                if cfg.mode == Mode::FirstEver && !cols.start[i] {
                    continue;
                }
                let Locate::In(k) = grid.locate(cols.ts[i]) else {
                    continue;
                };
                let b = match cfg.buckets {
                    BucketMode::None => 0,
                    BucketMode::Event => cols.event_bucket[i] as usize,
                    BucketMode::Person => cols.person_bucket[p] as usize,
                };
                count_row(
                    &mut out,
                    b,
                    k as usize,
                    &returns[p * words..(p + 1) * words],
                    cfg,
                );
            }
        }
    }
    out
}

/// Adds one (actor, row) pair: the size, and every column whose period qualifies.
fn count_row(out: &mut CohortCounts, b: usize, k: usize, returns: &[u64], cfg: &RetentionConfig) {
    out.add(b, k, 0);
    let rows = out.rows;
    if cfg.spans.is_empty() && !cfg.cumulative {
        // Column j is period k + j alone: only the set bits after k need visiting.
        for p in ones(returns) {
            if p > k && p - k < cfg.columns && p < rows {
                out.add(b, k, p - k);
            }
        }
        return;
    }
    // Whether column j qualifies: any in-window period of its span has a qualifying return.
    let qualifies = |j: usize| -> bool {
        let (lo, hi) = cfg.spans.get(j - 1).copied().unwrap_or((j, j));
        (k + lo..=(k + hi).min(rows - 1)).any(|p| bit(returns, p))
    };
    // Columns whose span starts beyond the window have no value.
    let last = (1..cfg.columns)
        .take_while(|&j| k + cfg.spans.get(j - 1).map_or(j, |s| s.0) < rows)
        .last()
        .unwrap_or(0);
    if cfg.cumulative {
        if let Some(m) = (1..=last).rev().find(|&j| qualifies(j)) {
            for j in 1..=m {
                out.add(b, k, j);
            }
        }
    } else {
        for j in 1..=last {
            if qualifies(j) {
                out.add(b, k, j);
            }
        }
    }
}

fn bucket_of_person(cols: &RetentionColumns<'_>, cfg: &RetentionConfig, p: usize) -> usize {
    match cfg.buckets {
        BucketMode::Person => cols.person_bucket[p] as usize,
        _ => 0,
    }
}

/// For each person, a bitset of the periods holding at least `min` events of `mask`.
fn period_bits(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    n_persons: usize,
    words: usize,
    mask: &[bool],
    min: u32,
) -> Vec<u64> {
    let mut bits = vec![0u64; n_persons * words];
    if min <= 1 {
        for i in 0..cols.person.len() {
            if !mask[i] {
                continue;
            }
            if let Locate::In(k) = grid.locate(cols.ts[i]) {
                let k = k as usize;
                bits[cols.person[i] as usize * words + k / 64] |= 1 << (k % 64);
            }
        }
        return bits;
    }
    let mut counts: HashMap<(u32, u32), u32> = HashMap::new();
    for i in 0..cols.person.len() {
        if !mask[i] {
            continue;
        }
        if let Locate::In(k) = grid.locate(cols.ts[i]) {
            let c = counts.entry((cols.person[i], k)).or_insert(0);
            *c += 1;
            if *c == min {
                let k = k as usize;
                bits[cols.person[i] as usize * words + k / 64] |= 1 << (k % 64);
            }
        }
    }
    bits
}

/// For each person, the index of their earliest `mask` event by `(ts, uuid)`, or `u32::MAX`.
///
/// An empty `uuid` column means ties need no breaking (the caller only needs the anchor's period).
fn earliest(cols: &RetentionColumns<'_>, mask: &[bool], n_persons: usize) -> Vec<u32> {
    // Each person's best time beside its index: comparing against it reads a small array, not the event columns
    // at a random place.
    let mut best: Vec<(i64, u32)> = vec![(i64::MAX, u32::MAX); n_persons];
    for (i, (&m, (&p, &ts))) in mask.iter().zip(cols.person.iter().zip(cols.ts)).enumerate() {
        if m {
            keep_earliest(&mut best[p as usize], ts, i, cols.uuid);
        }
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// Makes event `i` at `ts` the person's `best` (time, index) when it is earlier, or as early with a smaller uuid
/// (an empty `uuid` column: the first one met stays).
#[inline]
fn keep_earliest(best: &mut (i64, u32), ts: i64, i: usize, uuid: &[u128]) {
    let (best_ts, cur) = *best;
    let uuid = |i: usize| uuid.get(i).copied().unwrap_or(0);
    let better = match ts.cmp(&best_ts) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => cur == u32::MAX || uuid(i) < uuid(cur as usize),
        std::cmp::Ordering::Greater => false,
    };
    if better {
        *best = (ts, i as u32);
    }
}

/// [`earliest`] of `anchors` and [`period_bits`] of the returning events (at least one per period) in one pass over
/// the events: each event's person is visited once, and its best anchor and return bits sit side by side.
///
/// With many more events than persons the events are split in parts read in parallel, each into arrays of its own,
/// merged in part order (so the first anchor met still wins a tie when there are no uuids).
fn earliest_and_returns(
    cols: &RetentionColumns<'_>,
    anchors: &[bool],
    grid: &PeriodGrid,
    n_persons: usize,
    words: usize,
) -> (Vec<u32>, Vec<u64>) {
    let n = cols.person.len();
    // Each part holds and merges per-person arrays of (2 + words) words: parts only pay off, and cost less memory
    // than the event columns, when events far outnumber persons.
    let parts = if n >= PARALLEL_MIN_EVENTS && n >= 4 * n_persons * (2 + words) {
        rayon::current_num_threads().clamp(1, 8)
    } else {
        1
    };
    earliest_and_returns_parts(cols, anchors, grid, n_persons, words, parts)
}

/// [`earliest_and_returns`] in `parts` parts (at least one).
fn earliest_and_returns_parts(
    cols: &RetentionColumns<'_>,
    anchors: &[bool],
    grid: &PeriodGrid,
    n_persons: usize,
    words: usize,
    parts: usize,
) -> (Vec<u32>, Vec<u64>) {
    use rayon::prelude::*;
    let n = cols.person.len();
    let parts = parts.max(1);
    let per = n.div_ceil(parts).max(1);
    let mut partial: Vec<Partial> = (0..parts)
        .into_par_iter()
        .map(|k| {
            let range = k * per..((k + 1) * per).min(n);
            earliest_and_returns_in(cols, anchors, grid, n_persons, words, range)
        })
        .collect();
    let (mut best, mut bits) = partial.remove(0);
    for (b, r) in partial {
        best.par_iter_mut()
            .zip(b.par_iter())
            .for_each(|(best, &(ts, i))| {
                if i != u32::MAX {
                    keep_earliest(best, ts, i as usize, cols.uuid);
                }
            });
        bits.par_iter_mut()
            .zip(r.par_iter())
            .for_each(|(a, &b)| *a |= b);
    }
    (best.into_iter().map(|(_, i)| i).collect(), bits)
}

/// One part's per-person best anchor (time, event index) and return bits.
type Partial = (Vec<(i64, u32)>, Vec<u64>);

/// Events at least this many are read in parallel parts, each into per-person or per-period arrays of its own
/// ([`earliest_and_returns`], [`crate::sets`]).
pub(crate) const PARALLEL_MIN_EVENTS: usize = 1 << 20;

/// [`earliest_and_returns`] over the events of `range`: per person the best anchor (time, index) and return bits.
fn earliest_and_returns_in(
    cols: &RetentionColumns<'_>,
    anchors: &[bool],
    grid: &PeriodGrid,
    n_persons: usize,
    words: usize,
    range: std::ops::Range<usize>,
) -> Partial {
    // Per person: (best anchor time, its event index).
    let mut best: Vec<(i64, u32)> = vec![(i64::MAX, u32::MAX); n_persons];
    let mut bits = vec![0u64; n_persons * words];
    for i in range {
        let (a, r) = (anchors[i], cols.returning[i]);
        if !a && !r {
            continue;
        }
        let p = cols.person[i] as usize;
        let ts = cols.ts[i];
        if a {
            keep_earliest(&mut best[p], ts, i, cols.uuid);
        }
        if r && let Locate::In(k) = grid.locate(ts) {
            let k = k as usize;
            bits[p * words + k / 64] |= 1 << (k % 64);
        }
    }
    (best, bits)
}

/// Recurring mode broken down by an event property: actors are (person, bucket) pairs, and a return counts only
/// for the actor whose bucket it carries (retention.md §10.3).
fn recurring_by_event_bucket(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    cfg: &RetentionConfig,
    words: usize,
    out: &mut CohortCounts,
) {
    let mut actors: HashMap<(u32, u32), usize> = HashMap::new();
    let mut starts: Vec<u64> = Vec::new();
    for i in 0..cols.person.len() {
        if !cols.start[i] {
            continue;
        }
        if let Locate::In(k) = grid.locate(cols.ts[i]) {
            let key = (cols.person[i], cols.event_bucket[i]);
            let next = actors.len();
            let a = *actors.entry(key).or_insert(next);
            if a == next {
                starts.resize((a + 1) * words, 0);
            }
            let k = k as usize;
            starts[a * words + k / 64] |= 1 << (k % 64);
        }
    }
    let mut returns = vec![0u64; actors.len() * words];
    let mut counts: HashMap<(usize, u32), u32> = HashMap::new();
    for i in 0..cols.person.len() {
        if !cols.returning[i] {
            continue;
        }
        let Some(&a) = actors.get(&(cols.person[i], cols.event_bucket[i])) else {
            continue;
        };
        if let Locate::In(k) = grid.locate(cols.ts[i]) {
            let qualifies = if cfg.min_occurrences <= 1 {
                true
            } else {
                let c = counts.entry((a, k)).or_insert(0);
                *c += 1;
                *c >= cfg.min_occurrences
            };
            if qualifies {
                let k = k as usize;
                returns[a * words + k / 64] |= 1 << (k % 64);
            }
        }
    }
    let mut ordered: Vec<((u32, u32), usize)> = actors.into_iter().collect();
    ordered.sort_unstable();
    for ((_, b), a) in ordered {
        let s = &starts[a * words..(a + 1) * words];
        let r = &returns[a * words..(a + 1) * words];
        for k in ones(s) {
            count_row(out, b as usize, k, r, cfg);
        }
    }
}

#[inline]
fn bit(bits: &[u64], k: usize) -> bool {
    bits[k / 64] >> (k % 64) & 1 == 1
}

fn ones(bits: &[u64]) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let mut x = word;
        std::iter::from_fn(move || {
            if x == 0 {
                return None;
            }
            let t = x.trailing_zeros() as usize;
            x &= x - 1;
            Some(w * 64 + t)
        })
    })
}

/// Retention with 24-hour windows (retention.md §14): each person has one anchor `t0` and one row,
/// `⌊(t0 − window_start) / period_us⌋`; a return at `t ≥ t0` falls in column `⌊(t − t0) / period_us⌋`.
///
/// For `Recurring` the anchor is the person's first start event inside the window; for the other modes it is the
/// anchor of §6, which must lie inside the window. `cfg.cumulative` and `cfg.spans` are not used.
pub fn retention_24h(
    cols: &RetentionColumns<'_>,
    window_start: i64,
    window_end: i64,
    period_us: i64,
    rows: usize,
    cfg: &RetentionConfig,
) -> CohortCounts {
    let mut out = CohortCounts::zeroed(cfg.n_buckets, rows, cfg.columns);
    let in_window = |ts: i64| ts >= window_start && ts < window_end;
    let anchors: Vec<bool> = match cfg.mode {
        // Only start events inside the window can anchor a recurring person.
        Mode::Recurring => cols
            .start
            .iter()
            .zip(cols.ts)
            .map(|(&s, &t)| s && in_window(t))
            .collect(),
        Mode::FirstTime => cols.start.to_vec(),
        Mode::FirstEver => cols.anchor.to_vec(),
    };
    let first = earliest(cols, &anchors, cfg.n_persons);
    // Row and anchor time per person, or None when the person has no row.
    let placed: Vec<Option<(usize, i64)>> = first
        .iter()
        .map(|&i| {
            if i == u32::MAX {
                return None;
            }
            let i = i as usize;
            let t0 = cols.ts[i];
            if (cfg.mode == Mode::FirstEver && !cols.start[i]) || !in_window(t0) {
                return None;
            }
            let k = ((t0 - window_start) / period_us) as usize;
            (k < rows).then_some((k, t0))
        })
        .collect();
    let words = cfg.columns.div_ceil(64).max(1);
    let mut returns = vec![0u64; cfg.n_persons * words];
    let mut counts: HashMap<(u32, u32), u32> = HashMap::new();
    for i in 0..cols.person.len() {
        let p = cols.person[i];
        let Some((k, t0)) = placed[p as usize] else {
            continue;
        };
        let ts = cols.ts[i];
        if !cols.returning[i] || ts < t0 || !in_window(ts) {
            continue;
        }
        let j = ((ts - t0) / period_us) as usize;
        if j == 0 || j >= cfg.columns || k + j >= rows {
            continue;
        }
        let qualifies = cfg.min_occurrences <= 1 || {
            let c = counts.entry((p, j as u32)).or_insert(0);
            *c += 1;
            *c >= cfg.min_occurrences
        };
        if qualifies {
            returns[p as usize * words + j / 64] |= 1 << (j % 64);
        }
    }
    for (p, slot) in placed.iter().enumerate() {
        let Some((k, _)) = *slot else { continue };
        let b = match cfg.buckets {
            BucketMode::None => 0,
            BucketMode::Event => cols.event_bucket[first[p] as usize] as usize,
            BucketMode::Person => cols.person_bucket[p] as usize,
        };
        out.add(b, k, 0);
        let r = &returns[p * words..(p + 1) * words];
        for j in ones(r) {
            out.add(b, k, j);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Read in parts, the earliest anchors and return bits are those of one pass, ties included.
        #[test]
        fn parts_agree_with_one_pass(
            events in proptest::collection::vec((0u32..7, 0i64..10, proptest::bool::ANY, proptest::bool::ANY, 0u128..4), 0..120),
            with_uuid in proptest::bool::ANY,
            parts in 2usize..5,
        ) {
            let day = 86_400_000_000i64;
            let person: Vec<u32> = events.iter().map(|e| e.0).collect();
            // Several events per day, so anchors tie.
            let ts: Vec<i64> = events.iter().map(|e| e.1 * day / 2).collect();
            let anchor: Vec<bool> = events.iter().map(|e| e.2).collect();
            let returning: Vec<bool> = events.iter().map(|e| e.3).collect();
            let uuid: Vec<u128> = if with_uuid { events.iter().map(|e| e.4).collect() } else { Vec::new() };
            let cols = RetentionColumns {
                person: &person,
                ts: &ts,
                uuid: &uuid,
                start: &anchor,
                anchor: &anchor,
                returning: &returning,
                event_bucket: &[],
                person_bucket: &[],
            };
            let grid = PeriodGrid::new((0..5).map(|d| d * day).collect(), 5 * day);
            let one = earliest_and_returns_parts(&cols, &anchor, &grid, 7, 1, 1);
            let split = earliest_and_returns_parts(&cols, &anchor, &grid, 7, 1, parts);
            proptest::prop_assert_eq!(one, split);
        }

        /// Per-period sets decline what they cannot answer exactly, leaving it to the walk.
        #[test]
        fn sets_decline_breakdowns_minimums_and_other_anchors(case in 0usize..4) {
            let day = 86_400_000_000i64;
            let (person, ts) = (vec![0u32, 1, 1], vec![0, day, 2 * day]);
            let (yes, no) = (vec![true; 3], vec![true, false, true]);
            let cols = RetentionColumns {
                person: &person,
                ts: &ts,
                uuid: &[],
                start: &yes,
                anchor: if case == 2 { &no } else { &yes },
                returning: &yes,
                event_bucket: &[],
                person_bucket: &[0, 1],
            };
            let cfg = RetentionConfig {
                mode: if case == 2 { Mode::FirstEver } else { Mode::FirstTime },
                columns: 3,
                spans: Vec::new(),
                min_occurrences: if case == 1 { 2 } else { 1 },
                cumulative: false,
                buckets: if case == 3 { BucketMode::Person } else { BucketMode::None },
                n_buckets: if case == 3 { 2 } else { 1 },
                n_persons: 2,
            };
            let grid = PeriodGrid::new((0..3).map(|d| d * day).collect(), 3 * day);
            // Case 0 is the same report without what the sets decline.
            proptest::prop_assert_eq!(crate::sets::retention(&cols, &grid, &cfg).is_none(), case != 0);
        }

        /// Where per-period sets answer a report, they give the counts of the person-by-person walk: every mode,
        /// plain, bracketed and cumulative columns, events before, inside and after the window.
        #[test]
        fn sets_agree_with_the_walk(
            events in proptest::collection::vec((0u32..150, -2i64..9, proptest::bool::ANY, proptest::bool::ANY), 0..400),
            mode in 0usize..3,
            columns in 1usize..7,
            spans in proptest::option::of(proptest::collection::vec((1usize..9, 0usize..3), 0..6)),
            cumulative in proptest::bool::ANY,
            parts in 1usize..4,
        ) {
            let day = 86_400_000_000i64;
            let person: Vec<u32> = events.iter().map(|e| e.0).collect();
            let ts: Vec<i64> = events.iter().map(|e| e.1 * day + day / 3).collect();
            let start: Vec<bool> = events.iter().map(|e| e.2).collect();
            let returning: Vec<bool> = events.iter().map(|e| e.3).collect();
            let cols = RetentionColumns {
                person: &person,
                ts: &ts,
                uuid: &[],
                start: &start,
                anchor: &start,
                returning: &returning,
                event_bucket: &[],
                person_bucket: &[],
            };
            // Brackets of one to three periods, some starting or ending past the window's last period.
            let spans: Vec<(usize, usize)> = spans.unwrap_or_default().into_iter().map(|(a, d)| (a, a + d)).collect();
            let cfg = RetentionConfig {
                mode: [Mode::Recurring, Mode::FirstTime, Mode::FirstEver][mode],
                columns: if spans.is_empty() { columns } else { spans.len() + 1 },
                spans,
                min_occurrences: 1,
                cumulative,
                buckets: BucketMode::None,
                n_buckets: 1,
                n_persons: 150,
            };
            let grid = PeriodGrid::new((0..6).map(|d| d * day).collect(), 6 * day);
            let walk = by_person(&cols, &grid, &cfg);
            if events.is_empty() {
                // Without persons, too.
                let none = RetentionConfig { n_persons: 0, ..cfg.clone() };
                proptest::prop_assert_eq!(crate::sets::retention(&cols, &grid, &none), Some(by_person(&cols, &grid, &none)));
            }
            proptest::prop_assert_eq!(crate::sets::retention(&cols, &grid, &cfg), Some(walk.clone()));
            proptest::prop_assert_eq!(crate::sets::in_parts(&cols, &grid, &cfg, parts), walk);
            // Sets marked event by event, with every fifth person taken out afterwards, count as the walk over the
            // other persons' events.
            let mut sets = crate::PeriodSets::new(grid.len(), cfg.n_persons);
            for i in 0..person.len() {
                sets.mark(person[i], grid.locate(ts[i]), start[i], returning[i]);
            }
            let mut gone = vec![0u64; cfg.n_persons.div_ceil(64)];
            for p in (0..cfg.n_persons).step_by(5) {
                gone[p / 64] |= 1 << (p % 64);
            }
            sets.remove(&gone);
            let kept: Vec<usize> = (0..person.len()).filter(|&i| !person[i].is_multiple_of(5)).collect();
            let pick = |c: &[bool]| -> Vec<bool> { kept.iter().map(|&i| c[i]).collect() };
            let (kept_start, kept_returning) = (pick(&start), pick(&returning));
            let kept_person: Vec<u32> = kept.iter().map(|&i| person[i]).collect();
            let kept_ts: Vec<i64> = kept.iter().map(|&i| ts[i]).collect();
            let others = RetentionColumns {
                person: &kept_person,
                ts: &kept_ts,
                uuid: &[],
                start: &kept_start,
                anchor: &kept_start,
                returning: &kept_returning,
                event_bucket: &[],
                person_bucket: &[],
            };
            proptest::prop_assert_eq!(sets.counts(&cfg, grid.len()), Some(by_person(&others, &grid, &cfg)));
            proptest::prop_assert_eq!(sets.counts(&cfg, grid.len() + 1), None);
        }
    }
}
