//! Retention over per-period person sets: the same counts as the per-person walk of [`crate::retention`], from one
//! bitset of persons per period.
//!
//! Each period gets two bitsets over persons (who had a start event in it, who had a returning event in it) and one
//! more holds who had a start event before the window. A first-time cohort is then its period's starters minus
//! everyone who started earlier, and a cell is the number of bits two bitsets share. Building the sets writes one
//! bit per event into its period's set, which stays in cache while the events of one day are read; counting reads
//! only the words of a cohort that hold a person (first-time cohorts are narrow when persons are numbered in order of
//! first appearance, as a table's are, or by dense ids, which the store hands out in order of first sight). It
//! applies when events, not persons, decide the work: no breakdown, one returning event per period suffices, and the
//! sets are no bigger than the event columns (two 8-byte words per period and 64 persons against 16 bytes per event,
//! all parts' sets together).
//!
//! The sets are also a table of their own ([`PeriodSets`]): a caller that can mark each event's person and period
//! without event columns (activity by hour, say) builds them directly and counts from them.

use std::borrow::Cow;

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
    let anchors_are_starts = match cfg.mode {
        Mode::Recurring | Mode::FirstTime => true,
        Mode::FirstEver => std::ptr::eq(cols.anchor, cols.start) || cols.anchor == cols.start,
    };
    if !anchors_are_starts || !PeriodSets::answers(cfg) {
        return None;
    }
    let parts = PeriodSets::parts(grid.len(), cfg.n_persons, n)?;
    Some(in_parts(cols, grid, cfg, parts))
}

/// [`retention`] with the events read in `parts` parts (at least one).
pub(crate) fn in_parts(
    cols: &RetentionColumns<'_>,
    grid: &PeriodGrid,
    cfg: &RetentionConfig,
    parts: usize,
) -> CohortCounts {
    let n = cols.person.len();
    let parts = parts.max(1);
    let per = n.div_ceil(parts).max(1);
    let built: Vec<PeriodSets> = (0..parts)
        .into_par_iter()
        .map(|k| {
            let mut sets = PeriodSets::new(grid.len(), cfg.n_persons);
            for i in k * per..((k + 1) * per).min(n) {
                let (s, r) = (cols.start[i], cols.returning[i]);
                if s || r {
                    sets.mark(cols.person[i], grid.locate(cols.ts[i]), s, r);
                }
            }
            sets
        })
        .collect();
    PeriodSets::union_all(built).counts_unchecked(cfg)
}

/// One of a period's two sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Who had a start event in the period.
    Starts,
    /// Who had a returning event in the period.
    Returns,
}

/// Bitsets over persons for the periods of a grid: per period who had a start event in it and who had a returning
/// event in it, and who had a start event before the first period. Persons are dense indexes below the number the
/// sets were made for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodSets {
    /// Words per set.
    words: usize,
    /// Periods.
    periods: usize,
    /// Persons the sets hold.
    persons: usize,
    /// Period `k`'s starters at `k * words`.
    starts: Vec<u64>,
    /// Period `k`'s returners at `k * words`.
    returns: Vec<u64>,
    /// Persons with a start event before the first period.
    before: Vec<u64>,
}

impl PeriodSets {
    /// Empty sets for `periods` periods over persons `0..persons`.
    pub fn new(periods: usize, persons: usize) -> PeriodSets {
        let words = persons.div_ceil(64);
        PeriodSets {
            words,
            periods,
            persons,
            starts: written_zeros(periods * words),
            returns: written_zeros(periods * words),
            before: written_zeros(words),
        }
    }

    /// Whether sets answer reports of `cfg`: no breakdown, and one returning event in a period suffices. (First-ever
    /// reports are answered as first-time ones: the caller makes sure their anchors are the start events.)
    pub fn answers(cfg: &RetentionConfig) -> bool {
        cfg.min_occurrences <= 1
            && cfg.buckets == BucketMode::None
            && cfg.columns > 0
            && cfg.n_buckets <= 1
    }

    /// How many parts (each with sets of its own, united at the end) `events` events over `persons` persons and
    /// `periods` periods are best marked in, or `None` when even one part's sets would outweigh the events'
    /// columns (two words per period and 64 persons against 16 bytes per event): then the walk person by person
    /// costs less. Parts pay for themselves from a million events on, as many as threads (at most 8) and as the
    /// size bound allows.
    pub fn parts(periods: usize, persons: usize, events: usize) -> Option<usize> {
        let size = periods.saturating_mul(persons.div_ceil(64));
        if periods == 0 || size > events.saturating_add(1 << 16) {
            return None;
        }
        if events < PARALLEL_MIN_EVENTS || size == 0 {
            return Some(1);
        }
        Some(
            rayon::current_num_threads()
                .clamp(1, 8)
                .min(events / size)
                .max(1),
        )
    }

    /// Number of periods.
    pub fn periods(&self) -> usize {
        self.periods
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        (self.starts.len() + self.returns.len() + self.before.len()) * 8
    }

    /// Records an event of `person` at `at`: a start event, a returning one, or both.
    ///
    /// # Panics
    /// When `person` is not below the persons the sets were made for, or `at` is past the periods (caller bugs).
    #[inline]
    pub fn mark(&mut self, person: u32, at: Locate, start: bool, returning: bool) {
        let p = person as usize;
        let (w, bit) = (p / 64, 1u64 << (p % 64));
        match at {
            Locate::Before => {
                if start {
                    self.before[w] |= bit;
                }
            }
            Locate::In(k) => {
                let at = k as usize * self.words + w;
                if start {
                    self.starts[at] |= bit;
                }
                if returning {
                    self.returns[at] |= bit;
                }
            }
            Locate::After => {}
        }
    }

    /// Makes every period's returners its starters: for sets marked with start events only, when the start and the
    /// returning events are the same.
    pub fn returns_from_starts(&mut self) {
        self.returns.copy_from_slice(&self.starts);
    }

    /// Takes the persons whose bits are set in `who` (a bitset over persons) out of every set.
    pub fn remove(&mut self, who: &[u64]) {
        if self.words == 0 {
            return;
        }
        for set in self
            .starts
            .chunks_exact_mut(self.words)
            .chain(self.returns.chunks_exact_mut(self.words))
            .chain([&mut self.before[..]])
        {
            for (w, &gone) in set.iter_mut().zip(who) {
                *w &= !gone;
            }
        }
    }

    /// The union of sets built in parts (all for the same periods and persons); empty sets for none.
    pub fn union_all(parts: Vec<PeriodSets>) -> PeriodSets {
        let mut parts = parts.into_iter();
        let Some(mut out) = parts.next() else {
            return PeriodSets::default();
        };
        for other in parts {
            assert!(
                other.words == out.words && other.periods == out.periods,
                "sets of different shapes"
            );
            for (a, b) in [
                (&mut out.starts, &other.starts),
                (&mut out.returns, &other.returns),
                (&mut out.before, &other.before),
            ] {
                a.par_iter_mut()
                    .zip(b.par_iter())
                    .with_min_len(1 << 12)
                    .for_each(|(a, &b)| *a |= b);
            }
        }
        out
    }

    /// The number of persons in each period's set of `side`.
    pub fn distinct(&self, side: Side) -> Vec<u64> {
        let sets = self.side(side);
        if self.words == 0 {
            return vec![0; self.periods];
        }
        sets.par_chunks_exact(self.words)
            .map(|set| set.iter().map(|w| u64::from(w.count_ones())).sum())
            .collect()
    }

    /// Rolling distinct persons: for each period `d` in `first..periods`, the number of persons in the union of
    /// `side`'s sets of periods `d + 1 - window ..= d` (from period 0 when that starts before it). A window of 0
    /// counts as 1.
    ///
    /// Each union costs three word operations per word whatever the window's length: the periods are cut in blocks
    /// of `window`, and a window's union is the union from its first period to the end of that block and from the
    /// start of the next block to its last period, both kept as running unions.
    pub fn rolling(&self, side: Side, window: usize, first: usize) -> Vec<u64> {
        let (n, words, w) = (self.periods, self.words, window.max(1));
        if w == 1 || words == 0 {
            let mut all = self.distinct(side);
            return all.split_off(first.min(n));
        }
        // Words per part: a part's running unions (two words per period and word) stay in the cache, about 1 MB.
        self.rolling_in_parts(side, w, first, ((1 << 16) / n.max(1)).clamp(1, 128))
    }

    /// [`PeriodSets::rolling`] for a window of at least 2, `part` words at a time.
    fn rolling_in_parts(&self, side: Side, w: usize, first: usize, part: usize) -> Vec<u64> {
        let (n, words) = (self.periods, self.words);
        let shown = n.saturating_sub(first);
        let sets = self.side(side);
        let per = part.max(1);
        let parts = (0..words.div_ceil(per))
            .into_par_iter()
            .map(|part| {
                let (lo, hi) = (part * per, ((part + 1) * per).min(words));
                let c = hi - lo;
                let set = |k: usize| &sets[k * words + lo..k * words + hi];
                // `ahead[k]`: the union from the start of k's block to k; `behind[k]`: from k to the block's end.
                let mut ahead = vec![0u64; n * c];
                let mut behind = vec![0u64; n * c];
                for k in 0..n {
                    let (done, row) = ahead.split_at_mut(k * c);
                    let row = &mut row[..c];
                    row.copy_from_slice(set(k));
                    if k % w != 0 {
                        for (a, &b) in row.iter_mut().zip(&done[(k - 1) * c..]) {
                            *a |= b;
                        }
                    }
                }
                for k in (0..n).rev() {
                    let (row, later) = behind.split_at_mut((k + 1) * c);
                    let row = &mut row[k * c..];
                    row.copy_from_slice(set(k));
                    if k + 1 < n && (k + 1) % w != 0 {
                        for (a, &b) in row.iter_mut().zip(&later[..c]) {
                            *a |= b;
                        }
                    }
                }
                let mut out = vec![0u64; shown];
                for (d, cell) in (first..n).zip(&mut out) {
                    let to = &ahead[d * c..(d + 1) * c];
                    *cell = match (d + 1).checked_sub(w) {
                        // The window starts at or before period 0: `d` is in the first block.
                        None | Some(0) => to.iter().map(|x| u64::from(x.count_ones())).sum(),
                        Some(s) => to
                            .iter()
                            .zip(&behind[s * c..(s + 1) * c])
                            .map(|(a, b)| u64::from((a | b).count_ones()))
                            .sum(),
                    };
                }
                out
            })
            .collect::<Vec<_>>();
        crate::activity::sum_parts(parts, shown)
    }

    /// How many persons are in exactly `i + 1` of `side`'s sets, for `i` in `0..periods` (stickiness over the
    /// periods). Reads each set bit once.
    pub fn histogram(&self, side: Side) -> Vec<u64> {
        let (n, words) = (self.periods, self.words);
        let sets = self.side(side);
        // Words per part, each with a count per person of its own.
        const PART: usize = 1024;
        let parts = (0..words.div_ceil(PART))
            .into_par_iter()
            .map(|part| {
                let (lo, hi) = (part * PART, ((part + 1) * PART).min(words));
                let mut times = vec![0u32; (hi - lo) * 64];
                for k in 0..n {
                    for (j, &word) in sets[k * words + lo..k * words + hi].iter().enumerate() {
                        let mut bits = word;
                        while bits != 0 {
                            times[j * 64 + bits.trailing_zeros() as usize] += 1;
                            bits &= bits - 1;
                        }
                    }
                }
                let mut out = vec![0u64; n];
                for t in times.into_iter().filter(|&t| t > 0) {
                    out[t as usize - 1] += 1;
                }
                out
            })
            .collect::<Vec<_>>();
        crate::activity::sum_parts(parts, n)
    }

    fn side(&self, side: Side) -> &[u64] {
        match side {
            Side::Starts => &self.starts,
            Side::Returns => &self.returns,
        }
    }

    /// The retention counts (retention.md §8–§10, as the walk counts them person by person), or `None` when `cfg`
    /// is not one sets answer ([`PeriodSets::answers`]) or was made for other periods or persons.
    pub fn counts(&self, cfg: &RetentionConfig, periods: usize) -> Option<CohortCounts> {
        (PeriodSets::answers(cfg) && periods == self.periods() && cfg.n_persons == self.persons)
            .then(|| self.counts_unchecked(cfg))
    }

    fn counts_unchecked(&self, cfg: &RetentionConfig) -> CohortCounts {
        let rows = self.periods();
        if self.words == 0 {
            // No persons, so no events either.
            return CohortCounts::zeroed(cfg.n_buckets, rows, cfg.columns);
        }
        let cohorts = match cfg.mode {
            Mode::Recurring => Cow::Borrowed(&self.starts[..]),
            Mode::FirstTime | Mode::FirstEver => Cow::Owned(self.first_starts()),
        };
        let counted: Vec<Vec<u64>> = (0..rows)
            .into_par_iter()
            .map(|k| self.row(&cohorts, k, cfg))
            .collect();
        let mut out = CohortCounts::zeroed(cfg.n_buckets, rows, cfg.columns);
        for (k, row) in counted.into_iter().enumerate() {
            out.counts[k * cfg.columns..(k + 1) * cfg.columns].copy_from_slice(&row);
        }
        out
    }

    /// Each period's starters with no start event in an earlier period or before the window: the first-time
    /// cohorts.
    fn first_starts(&self) -> Vec<u64> {
        let mut seen = self.before.clone();
        let mut out = self.starts.clone();
        for period in out.chunks_exact_mut(self.words) {
            for (s, seen) in period.iter_mut().zip(&mut seen) {
                let started = *s;
                *s &= !*seen;
                *seen |= started;
            }
        }
        out
    }

    /// Period `k`'s row from its cohort in `cohorts`: the cohort's size, then each column's count.
    fn row(&self, cohorts: &[u64], k: usize, cfg: &RetentionConfig) -> Vec<u64> {
        let words = self.words;
        let rows = self.periods();
        let mut out = vec![0u64; cfg.columns];
        let cohort = &cohorts[k * words..(k + 1) * words];
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

/// `n` zeros, written rather than taken from memory the system zeroes on first touch: marking reads a word before
/// it writes it, and a first read of untouched memory maps a shared zero page that the write must then replace,
/// a second fault per page with a flush of every thread's address cache.
#[allow(clippy::slow_vector_initialization)] // `vec![0; n]` is the untouched memory this avoids.
fn written_zeros(n: usize) -> Vec<u64> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, 0);
    v
}

/// The number of bits set in both.
fn shared(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| u64::from((a & b).count_ones()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Distinct persons, rolling distinct persons and the persons per number of sets, against a set of (period,
        /// person) pairs.
        #[test]
        fn counts_match_the_naive_count(
            marks in proptest::collection::vec((0u32..400, 0usize..12, proptest::bool::ANY), 0..300),
            periods in 1usize..12,
            window in 0usize..14,
            first in 0usize..13,
            part in 1usize..4,
        ) {
            let mut sets = PeriodSets::new(periods, 400);
            let mut active = std::collections::BTreeSet::new();
            for &(p, k, start) in &marks {
                if k < periods {
                    sets.mark(p, Locate::In(k as u32), start, !start);
                    active.insert((start, k, p));
                }
            }
            for (side, start) in [(Side::Starts, true), (Side::Returns, false)] {
                let naive = |lo: usize, hi: usize| {
                    active
                        .iter()
                        .filter(|&&(s, k, _)| s == start && (lo..=hi).contains(&k))
                        .map(|&(_, _, p)| p)
                        .collect::<std::collections::BTreeSet<_>>()
                        .len() as u64
                };
                let distinct: Vec<u64> = (0..periods).map(|k| naive(k, k)).collect();
                proptest::prop_assert_eq!(sets.distinct(side), distinct);
                let w = window.max(1);
                let rolled: Vec<u64> = (first.min(periods)..periods)
                    .map(|d| naive((d + 1).saturating_sub(w), d))
                    .collect();
                proptest::prop_assert_eq!(&sets.rolling(side, window, first), &rolled);
                if w > 1 {
                    proptest::prop_assert_eq!(&sets.rolling_in_parts(side, w, first, part), &rolled);
                }
                let mut times = std::collections::BTreeMap::<u32, usize>::new();
                for &(s, _, p) in &active {
                    if s == start {
                        *times.entry(p).or_default() += 1;
                    }
                }
                let mut histogram = vec![0u64; periods];
                for t in times.values() {
                    histogram[t - 1] += 1;
                }
                proptest::prop_assert_eq!(sets.histogram(side), histogram);
            }
        }
    }
}
