//! Per-person activity, the machinery every activity report shares (activity.md): events grouped by person, each
//! person's sorted distinct periods with their event counts, distinct persons per period, and rolling windows.
//!
//! The caller resolves names, filters, time zones and breakdown values first: a matching event arrives as a period
//! index (`NONE` for an event that does not count) and, with a breakdown by an event property, a bucket id.

/// The period of an event that does not count.
pub const NONE: u32 = u32::MAX;

/// Events grouped by person: person `p`'s events are `events[offsets[p]..offsets[p + 1]]`, in input order.
#[derive(Debug, Clone, Default)]
pub struct ByPerson {
    /// `n_persons + 1` offsets into `events`.
    pub offsets: Vec<u32>,
    /// Event indexes, grouped by person.
    pub events: Vec<u32>,
}

impl ByPerson {
    /// Groups events by person with a counting sort (two passes, stable).
    ///
    /// # Panics
    /// When a person index is not below `n_persons`, or there are 2³² events or more.
    pub fn new(person: &[u32], n_persons: usize) -> ByPerson {
        assert!(u32::try_from(person.len()).is_ok(), "too many events");
        let mut offsets = vec![0u32; n_persons + 1];
        for &p in person {
            offsets[p as usize + 1] += 1;
        }
        for i in 0..n_persons {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut events = vec![0u32; person.len()];
        for (i, &p) in person.iter().enumerate() {
            let slot = &mut next[p as usize];
            events[*slot as usize] = i as u32;
            *slot += 1;
        }
        ByPerson { offsets, events }
    }

    /// Number of persons.
    pub fn n_persons(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Person `p`'s events.
    pub fn of(&self, p: usize) -> &[u32] {
        &self.events[self.offsets[p] as usize..self.offsets[p + 1] as usize]
    }
}

/// One (bucket, period) a person was active in, with the number of matching events there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Active {
    /// Breakdown bucket (0 without a breakdown).
    pub bucket: u32,
    /// Period index.
    pub period: u32,
    /// Matching events of the person in it.
    pub events: u32,
}

/// Calls `f(person, active)` for every person with at least one counting event, where `active` lists the person's
/// distinct (bucket, period) pairs in ascending order with their event counts.
///
/// `period[i]` is event i's period or [`NONE`]; `bucket[i]` its bucket, or `bucket` is empty for one bucket.
pub fn for_each_person(
    by_person: &ByPerson,
    period: &[u32],
    bucket: &[u32],
    f: impl FnMut(usize, &[Active]),
) {
    for_each_person_in(by_person, period, bucket, 0..by_person.n_persons(), f);
}

/// [`for_each_person`] in parallel: the persons are split in ranges, each folded into its own state made by `init`
/// (of about `state_len` values); returns the states in person order, for the caller to combine.
pub fn fold_persons<S: Send>(
    by_person: &ByPerson,
    period: &[u32],
    bucket: &[u32],
    state_len: usize,
    init: impl Fn() -> S + Sync,
    fold: impl Fn(&mut S, usize, &[Active]) + Sync,
) -> Vec<S> {
    use rayon::prelude::*;
    let n = by_person.n_persons();
    let events = by_person.events.len();
    // A few ranges per thread balance uneven persons; small inputs stay in one, and all the states together hold
    // no more values than there are events.
    let parts = if events >= PARALLEL_MIN_EVENTS {
        (rayon::current_num_threads() * 4)
            .min(events / state_len.max(1))
            .clamp(1, n.max(1))
    } else {
        1
    };
    let per = n.div_ceil(parts).max(1);
    (0..parts)
        .into_par_iter()
        .map(|k| {
            let mut state = init();
            let range = (k * per).min(n)..((k + 1) * per).min(n);
            for_each_person_in(by_person, period, bucket, range, |p, a| {
                fold(&mut state, p, a)
            });
            state
        })
        .collect()
}

/// Events at least this many are folded in parallel by [`fold_persons`].
const PARALLEL_MIN_EVENTS: usize = 1 << 18;

/// [`for_each_person`] over the persons of `persons`.
fn for_each_person_in(
    by_person: &ByPerson,
    period: &[u32],
    bucket: &[u32],
    persons: std::ops::Range<usize>,
    mut f: impl FnMut(usize, &[Active]),
) {
    let mut keys: Vec<u64> = Vec::new();
    let mut active: Vec<Active> = Vec::new();
    for p in persons {
        keys.clear();
        for &e in by_person.of(p) {
            let e = e as usize;
            let k = period[e];
            if k == NONE {
                continue;
            }
            let b = bucket.get(e).copied().unwrap_or(0);
            keys.push(u64::from(b) << 32 | u64::from(k));
        }
        if keys.is_empty() {
            continue;
        }
        // Events of a person mostly arrive in time order already; sorting a sorted run is one pass.
        if !keys.is_sorted() {
            keys.sort_unstable();
        }
        active.clear();
        for &key in &keys {
            let (b, k) = ((key >> 32) as u32, key as u32);
            match active.last_mut() {
                Some(a) if a.bucket == b && a.period == k => a.events += 1,
                _ => active.push(Active {
                    bucket: b,
                    period: k,
                    events: 1,
                }),
            }
        }
        f(p, &active);
    }
}

/// Distinct persons per (bucket, period): `out[b * n_periods + k]`. With `person_bucket`, a person's events count
/// under the person's bucket instead of the event's.
pub fn distinct_per_period(
    by_person: &ByPerson,
    period: &[u32],
    bucket: &[u32],
    person_bucket: &[u32],
    n_periods: usize,
    n_buckets: usize,
) -> Vec<u64> {
    let parts = fold_persons(
        by_person,
        period,
        bucket,
        n_periods * n_buckets,
        || vec![0u64; n_periods * n_buckets],
        |out, p, active| {
            let pb = person_bucket.get(p).copied();
            for a in active {
                let b = pb.unwrap_or(a.bucket) as usize;
                out[b * n_periods + a.period as usize] += 1;
            }
        },
    );
    sum_parts(parts, n_periods * n_buckets)
}

/// The element-wise sum of equally long count arrays (`len` zeros for none).
pub(crate) fn sum_parts<T: Copy + Default + std::ops::AddAssign>(
    parts: Vec<Vec<T>>,
    len: usize,
) -> Vec<T> {
    let mut parts = parts.into_iter();
    let mut out = parts.next().unwrap_or_else(|| vec![T::default(); len]);
    for part in parts {
        for (o, v) in out.iter_mut().zip(part) {
            *o += v;
        }
    }
    out
}

/// Matching events per (bucket, period): `out[b * n_periods + k]`.
pub fn events_per_period(
    period: &[u32],
    bucket: &[u32],
    person: &[u32],
    person_bucket: &[u32],
    n_periods: usize,
    n_buckets: usize,
) -> Vec<u64> {
    let mut out = vec![0u64; n_periods * n_buckets];
    for (i, &k) in period.iter().enumerate() {
        if k == NONE {
            continue;
        }
        let b = match (bucket.get(i), person_bucket.is_empty()) {
            (Some(&b), _) => b,
            (None, false) => person_bucket[person[i] as usize],
            (None, true) => 0,
        };
        out[b as usize * n_periods + k as usize] += 1;
    }
    out
}

/// The days of a rolling count.
#[derive(Debug, Clone)]
pub struct Days {
    /// Window lengths in days (1, 7, 30 for DAU, WAU, MAU).
    pub windows: Vec<u32>,
    /// Days before this index are look-back only.
    pub first: usize,
    /// Days in all.
    pub n_days: usize,
    /// Breakdown buckets.
    pub n_buckets: usize,
}

/// Rolling distinct persons: for each window length `w` of `windows` and day `d` in `first..n_days`, the persons of
/// each bucket with a counting event in days `[d - w + 1, d]`. `period` holds day indexes (the first `first` days
/// are look-back only). Returns `out[w][b * (n_days - first) + (d - first)]`.
pub fn rolling_distinct(
    by_person: &ByPerson,
    period: &[u32],
    bucket: &[u32],
    person_bucket: &[u32],
    days: &Days,
) -> Vec<Vec<u64>> {
    let Days {
        windows,
        first,
        n_days,
        n_buckets,
    } = days;
    let (first, n_days, n_buckets) = (*first, *n_days, *n_buckets);
    let shown = n_days.saturating_sub(first);
    // Difference arrays: a person active on day a is counted on days a..a + w - 1; runs of overlapping ranges are
    // merged so that each person adds at most one per day.
    let len = (n_days + 1) * n_buckets;
    // One difference array per window, all windows' side by side.
    let parts = fold_persons(
        by_person,
        period,
        bucket,
        len * windows.len(),
        || vec![0i64; len * windows.len()],
        |diff, p, active| {
            let pb = person_bucket.get(p).copied();
            for (wi, &w) in windows.iter().enumerate() {
                // A window's days: an event on day a counts on a..a + w - 1.
                let d = &mut diff[wi * len..(wi + 1) * len];
                let mut run: Option<(u32, usize, usize)> = None;
                for a in active {
                    let b = pb.unwrap_or(a.bucket);
                    let (lo, hi) = (
                        a.period as usize,
                        (a.period as usize + w as usize).min(n_days),
                    );
                    run = match run {
                        Some((rb, rlo, rhi)) if rb == b && lo <= rhi => {
                            Some((rb, rlo, rhi.max(hi)))
                        }
                        Some((rb, rlo, rhi)) => {
                            d[rb as usize * (n_days + 1) + rlo] += 1;
                            d[rb as usize * (n_days + 1) + rhi] -= 1;
                            Some((b, lo, hi))
                        }
                        None => Some((b, lo, hi)),
                    };
                }
                if let Some((rb, rlo, rhi)) = run {
                    d[rb as usize * (n_days + 1) + rlo] += 1;
                    d[rb as usize * (n_days + 1) + rhi] -= 1;
                }
            }
        },
    );
    let diff = sum_parts(parts, len * windows.len());
    (0..windows.len())
        .map(|wi| {
            let d = &diff[wi * len..(wi + 1) * len];
            let mut out = vec![0u64; shown * n_buckets];
            for b in 0..n_buckets {
                let mut acc = 0i64;
                for day in 0..n_days {
                    acc += d[b * (n_days + 1) + day];
                    if day >= first {
                        out[b * shown + day - first] = acc.max(0) as u64;
                    }
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive count: a set of (bucket, period, person).
    fn naive_distinct(
        person: &[u32],
        period: &[u32],
        bucket: &[u32],
        n_periods: usize,
        n_buckets: usize,
    ) -> Vec<u64> {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..person.len() {
            if period[i] != NONE {
                seen.insert((bucket.get(i).copied().unwrap_or(0), period[i], person[i]));
            }
        }
        let mut out = vec![0u64; n_periods * n_buckets];
        for (b, k, _) in seen {
            out[b as usize * n_periods + k as usize] += 1;
        }
        out
    }

    #[test]
    fn persons_folded_in_parallel_count_as_one_pass() {
        // Enough events for the parallel fold, from a small deterministic generator.
        let n = PARALLEL_MIN_EVENTS + 1000;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m) as u32
        };
        let (person, period, bucket): (Vec<u32>, Vec<u32>, Vec<u32>) = (0..n)
            .map(|_| {
                let k = next(41);
                (next(5_000), if k == 40 { NONE } else { k }, next(3))
            })
            .fold(
                (vec![], vec![], vec![]),
                |(mut a, mut b, mut c), (p, k, bu)| {
                    a.push(p);
                    b.push(k);
                    c.push(bu);
                    (a, b, c)
                },
            );
        let by = ByPerson::new(&person, 5_000);
        let got = distinct_per_period(&by, &period, &bucket, &[], 40, 3);
        assert_eq!(got, naive_distinct(&person, &period, &bucket, 40, 3));
        // A one-day window is the distinct count per day.
        let rolled = rolling_distinct(
            &by,
            &period,
            &bucket,
            &[],
            &Days {
                windows: vec![1, 7],
                first: 0,
                n_days: 40,
                n_buckets: 3,
            },
        );
        assert_eq!(rolled[0], got);
        // Seven days: each (bucket, person)'s days as a bitmask, counted on every day within six after one of them.
        let mut days = std::collections::BTreeMap::<(u32, u32), u64>::new();
        for i in 0..n {
            if period[i] != NONE {
                *days.entry((bucket[i], person[i])).or_default() |= 1 << period[i];
            }
        }
        let mut week = vec![0u64; 3 * 40];
        for (&(b, _), &mask) in &days {
            for d in 0..40usize {
                if (d.saturating_sub(6)..=d).any(|a| mask >> a & 1 == 1) {
                    week[b as usize * 40 + d] += 1;
                }
            }
        }
        assert_eq!(rolled[1], week);
    }

    #[test]
    fn the_spec_example_of_rolling_windows() {
        // Days 06-01..06-07 as 0..6: p on 0 and 4, q on 4, r on 6 (activity.md §1.2).
        let person = [0, 0, 1, 2];
        let period = [0, 4, 4, 6];
        let by = ByPerson::new(&person, 3);
        let out = rolling_distinct(
            &by,
            &period,
            &[],
            &[],
            &Days {
                windows: vec![1, 7, 30],
                first: 0,
                n_days: 7,
                n_buckets: 1,
            },
        );
        assert_eq!(out[0][4], 2);
        assert_eq!(out[1][4], 2);
        assert_eq!(out[0][6], 1);
        assert_eq!(out[1][6], 3);
        assert_eq!(out[2][6], 3);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn distinct_counts_match_a_set(
            events in proptest::collection::vec((0u32..6, 0u32..9, 0u32..3, proptest::bool::ANY), 0..80)
        ) {
            let person: Vec<u32> = events.iter().map(|e| e.0).collect();
            let period: Vec<u32> = events.iter().map(|e| if e.3 { e.1 } else { NONE }).collect();
            let bucket: Vec<u32> = events.iter().map(|e| e.2).collect();
            let by = ByPerson::new(&person, 6);
            let got = distinct_per_period(&by, &period, &bucket, &[], 9, 3);
            proptest::prop_assert_eq!(got, naive_distinct(&person, &period, &bucket, 9, 3));
            // Rolling windows of length 1 are the distinct counts; longer ones are the union of the days.
            let rolled = rolling_distinct(&by, &period, &bucket, &[], &Days { windows: vec![1, 3], first: 2, n_days: 9, n_buckets: 3 });
            for b in 0..3usize {
                for d in 2..9usize {
                    let mut union = std::collections::BTreeSet::new();
                    for i in 0..person.len() {
                        if period[i] != NONE && bucket[i] as usize == b
                            && (period[i] as usize) + 3 > d && (period[i] as usize) <= d {
                            union.insert(person[i]);
                        }
                    }
                    proptest::prop_assert_eq!(rolled[1][b * 7 + d - 2], union.len() as u64);
                    let one = naive_distinct(&person, &period, &bucket, 9, 3)[b * 9 + d];
                    proptest::prop_assert_eq!(rolled[0][b * 7 + d - 2], one);
                }
            }
        }
    }
}
