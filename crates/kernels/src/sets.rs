//! Retention over per-period person sets: the same counts as the per-person walk of [`crate::retention`], from one
//! bitset of persons per period.
//!
//! Each period gets two bitsets over persons (who had a start event in it, who had a returning event in it) and one
//! more holds who had a start event before the window. A first-time cohort is then its period's starters minus
//! everyone who started earlier, and a cell is the number of bits two bitsets share. Building the sets writes one
//! bit per event into its period's set, which stays in cache while the events of one day are read; counting reads
//! only the words of a cohort that hold a person (first-time cohorts are narrow: persons are numbered by first
//! appearance). It applies when events, not persons, decide the work: no breakdown, one returning event per period
//! suffices, and the sets are no bigger than the event columns (two 8-byte words per period and 64 persons against
//! 16 bytes per event, all parts' sets together).

use rayon::prelude::*;

use crate::grid::{Locate, PeriodGrid};
use crate::retention::{
    BucketMode, CohortCounts, Mode, PARALLEL_MIN_EVENTS, RetentionColumns, RetentionConfig,
};

/// The retention counts from per-period sets, or `None` when this report is not one they answer (a breakdown, a
/// minimum above one, first-ever anchors that are not exactly the start events) or the sets would outweigh the
/// events.
pub(crate) fn retention(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    cfg: &RetentionConfig,
) -> Option<CohortCounts> {
    let n = cols.person.len();
    let rows = grid.len();
    let words = cfg.n_persons.div_ceil(64);
    let anchors_are_starts = match cfg.mode {
        Mode::Recurring | Mode::FirstTime => true,
        Mode::FirstEver => std::ptr::eq(cols.anchor, cols.start) || cols.anchor == cols.start,
    };
    if cfg.min_occurrences > 1
        || cfg.buckets != BucketMode::None
        || !anchors_are_starts
        || rows == 0
        || cfg.columns == 0
        || rows.saturating_mul(words) > n.saturating_add(1 << 16)
    {
        return None;
    }
    if words == 0 {
        // No persons, so no events either.
        return Some(CohortCounts::zeroed(cfg.n_buckets, rows, cfg.columns));
    }
    // Each part holds sets of its own: only as many as the events pay for.
    let parts = if n >= PARALLEL_MIN_EVENTS {
        rayon::current_num_threads()
            .clamp(1, 8)
            .min(n / (rows * words))
            .max(1)
    } else {
        1
    };
    Some(in_parts(cols, grid, cfg, words, parts))
}

/// [`retention`] with the events read in `parts` parts (at least one).
pub(crate) fn in_parts(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    cfg: &RetentionConfig,
    words: usize,
    parts: usize,
) -> CohortCounts {
    let (n, rows) = (cols.person.len(), grid.len());
    let parts = parts.max(1);
    let per = n.div_ceil(parts).max(1);
    let mut built: Vec<Sets> = (0..parts)
        .into_par_iter()
        .map(|k| Sets::build(cols, grid, rows, words, k * per..((k + 1) * per).min(n)))
        .collect();
    let mut sets = built.swap_remove(0);
    for other in built {
        sets.union(&other);
    }
    if cfg.mode != Mode::Recurring {
        sets.keep_first_starts();
    }
    let counted: Vec<Vec<u64>> = (0..rows)
        .into_par_iter()
        .map(|k| sets.row(k, cfg))
        .collect();
    let mut out = CohortCounts::zeroed(cfg.n_buckets, rows, cfg.columns);
    for (k, row) in counted.into_iter().enumerate() {
        out.counts[k * cfg.columns..(k + 1) * cfg.columns].copy_from_slice(&row);
    }
    out
}

/// Bitsets over persons, `words` words each: per period who started and who returned, and who started before the
/// window.
struct Sets {
    words: usize,
    /// Period `k`'s starters at `k * words`; after [`Sets::keep_first_starts`], its cohort.
    starts: Vec<u64>,
    /// Period `k`'s returners at `k * words`.
    returns: Vec<u64>,
    /// Persons with a start event before the first period.
    before: Vec<u64>,
}

impl Sets {
    /// The sets of the events in `range`.
    fn build(
        cols: &RetentionColumns<'_>,
        grid: &PeriodGrid,
        rows: usize,
        words: usize,
        range: std::ops::Range<usize>,
    ) -> Sets {
        let mut sets = Sets {
            words,
            starts: vec![0; rows * words],
            returns: vec![0; rows * words],
            before: vec![0; words],
        };
        for i in range {
            let (s, r) = (cols.start[i], cols.returning[i]);
            if !s && !r {
                continue;
            }
            let p = cols.person[i] as usize;
            let (w, bit) = (p / 64, 1u64 << (p % 64));
            match grid.locate(cols.ts[i]) {
                Locate::Before => {
                    if s {
                        sets.before[w] |= bit;
                    }
                }
                Locate::In(k) => {
                    let at = k as usize * words + w;
                    if s {
                        sets.starts[at] |= bit;
                    }
                    if r {
                        sets.returns[at] |= bit;
                    }
                }
                Locate::After => {}
            }
        }
        sets
    }

    /// Adds `other`'s members to every set.
    fn union(&mut self, other: &Sets) {
        for (a, b) in [
            (&mut self.starts, &other.starts),
            (&mut self.returns, &other.returns),
            (&mut self.before, &other.before),
        ] {
            a.par_iter_mut()
                .zip(b.par_iter())
                .with_min_len(1 << 12)
                .for_each(|(a, &b)| *a |= b);
        }
    }

    /// Leaves in each period's starters only those with no start event in an earlier period or before the window:
    /// the first-time cohorts.
    fn keep_first_starts(&mut self) {
        let mut seen = std::mem::take(&mut self.before);
        for period in self.starts.chunks_exact_mut(self.words) {
            for (s, seen) in period.iter_mut().zip(&mut seen) {
                let started = *s;
                *s &= !*seen;
                *seen |= started;
            }
        }
    }

    /// Period `k`'s row: its cohort's size, then each column's count (retention.md §8–§9, as
    /// `retention::count_row` counts them person by person).
    fn row(&self, k: usize, cfg: &RetentionConfig) -> Vec<u64> {
        let words = self.words;
        let rows = self.starts.len() / words;
        let mut out = vec![0u64; cfg.columns];
        let cohort = &self.starts[k * words..(k + 1) * words];
        // Only the words holding a member need reading.
        let Some(lo) = cohort.iter().position(|&w| w != 0) else {
            return out;
        };
        let hi = words - cohort.iter().rev().position(|&w| w != 0).unwrap_or(0);
        let cohort = &cohort[lo..hi];
        let returns = |p: usize| &self.returns[p * words + lo..p * words + hi];
        out[0] = cohort.iter().map(|w| u64::from(w.count_ones())).sum();
        if cfg.spans.is_empty() && !cfg.cumulative {
            for (j, cell) in out.iter_mut().enumerate().skip(1) {
                if k + j >= rows {
                    break;
                }
                *cell = shared(cohort, returns(k + j));
            }
            return out;
        }
        // Column j qualifies through any period of its span inside the window.
        let span = |j: usize| cfg.spans.get(j - 1).copied().unwrap_or((j, j));
        let last = (1..cfg.columns)
            .take_while(|&j| k + span(j).0 < rows)
            .last()
            .unwrap_or(0);
        let mut qualifying = vec![0u64; cohort.len()];
        let add_span = |q: &mut Vec<u64>, j: usize| {
            let (a, b) = span(j);
            for p in k + a..=(k + b).min(rows - 1) {
                for (q, &r) in q.iter_mut().zip(returns(p)) {
                    *q |= r;
                }
            }
        };
        if cfg.cumulative {
            // Counted up to the last qualifying column: column j holds whoever qualifies at j or later.
            for j in (1..=last).rev() {
                add_span(&mut qualifying, j);
                out[j] = shared(cohort, &qualifying);
            }
        } else {
            for (j, cell) in out.iter_mut().enumerate().take(last + 1).skip(1) {
                qualifying.fill(0);
                add_span(&mut qualifying, j);
                *cell = shared(cohort, &qualifying);
            }
        }
        out
    }
}

/// The number of bits set in both.
fn shared(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| u64::from((a & b).count_ones()))
        .sum()
}
