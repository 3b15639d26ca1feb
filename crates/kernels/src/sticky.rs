//! The counting behind stickiness and lifecycle (activity.md §2, §3), built on [`crate::activity`]: each person's
//! sorted distinct periods, turned into a histogram of active buckets or into one status per active period.
//!
//! Both take period indexes already resolved by the caller (`NONE` for an event that does not count); they know
//! nothing of time zones or bounds.

use crate::activity::{Active, ByPerson, NONE, for_each_person};

/// How a bucket's event count must compare with a value for the bucket to be active (stickiness `criteria`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountRule {
    /// At least one event (no criteria).
    Any,
    /// At least n events.
    Gte(u64),
    /// At least one and at most n events.
    Lte(u64),
    /// Exactly n events (n ≥ 1 for the bucket to be active).
    Exact(u64),
}

impl CountRule {
    /// Whether a bucket with `events` matching events (≥ 1) is active.
    pub fn holds(self, events: u64) -> bool {
        events > 0
            && match self {
                CountRule::Any => true,
                CountRule::Gte(n) => events >= n,
                CountRule::Lte(n) => events <= n,
                CountRule::Exact(n) => events == n,
            }
    }
}

/// Stickiness: `out[i]` is the number of persons with exactly i + 1 active buckets, for i in `0..n_buckets`.
///
/// Periods `0..n_periods` are the window's; period `n_periods - 1` is the last. Bucket b holds the periods k with
/// ⌊(n_periods − 1 − k) / per_bucket⌋ = b, so buckets are counted back from the last period.
///
/// # Panics
/// When `per_bucket` is 0 or a period index is not below `n_periods`.
pub fn stickiness(
    by_person: &ByPerson,
    period: &[u32],
    n_periods: usize,
    per_bucket: usize,
    rule: CountRule,
) -> Vec<u64> {
    assert!(per_bucket > 0, "a bucket holds at least one period");
    let n_buckets = n_periods.div_ceil(per_bucket);
    let mut out = vec![0u64; n_buckets];
    let last = n_periods - 1;
    for_each_person(by_person, period, &[], |_, active: &[Active]| {
        // Ascending periods give descending buckets: equal buckets are adjacent.
        let mut n_active = 0usize;
        let mut current: Option<(usize, u64)> = None;
        for a in active {
            let b = (last - a.period as usize) / per_bucket;
            match &mut current {
                Some((cb, events)) if *cb == b => *events += u64::from(a.events),
                _ => {
                    if let Some((_, events)) = current
                        && rule.holds(events)
                    {
                        n_active += 1;
                    }
                    current = Some((b, u64::from(a.events)));
                }
            }
        }
        if let Some((_, events)) = current
            && rule.holds(events)
        {
            n_active += 1;
        }
        if n_active > 0 {
            out[n_active - 1] += 1;
        }
    });
    out
}

/// Lifecycle counts per read period: distinct persons per status, each `n_periods` long (dormant as a positive
/// count; the report negates it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LifecycleCounts {
    /// First activity in the creation period.
    pub new: Vec<u64>,
    /// Also active in the previous period.
    pub returning: Vec<u64>,
    /// Active again after a gap, or first seen outside the creation period.
    pub resurrecting: Vec<u64>,
    /// The period after activity stops.
    pub dormant: Vec<u64>,
}

impl LifecycleCounts {
    /// Zero counts over `n_periods` periods.
    pub fn zeros(n_periods: usize) -> Self {
        LifecycleCounts {
            new: vec![0; n_periods],
            returning: vec![0; n_periods],
            resurrecting: vec![0; n_periods],
            dormant: vec![0; n_periods],
        }
    }

    /// The four statuses in output order: new, returning, resurrecting, dormant.
    pub fn statuses(&self) -> [&Vec<u64>; 4] {
        [
            &self.new,
            &self.returning,
            &self.resurrecting,
            &self.dormant,
        ]
    }

    /// [`LifecycleCounts::statuses`], to add to.
    pub fn statuses_mut(&mut self) -> [&mut Vec<u64>; 4] {
        [
            &mut self.new,
            &mut self.returning,
            &mut self.resurrecting,
            &mut self.dormant,
        ]
    }

    /// Adds another table's counts over the same periods.
    pub fn add(&mut self, other: &LifecycleCounts) {
        for (acc, got) in self.statuses_mut().into_iter().zip(other.statuses()) {
            for (a, g) in acc.iter_mut().zip(got) {
                *a += g;
            }
        }
    }
}

/// Lifecycle over read periods `0..n_periods`: each person's sorted distinct periods A get statuses, and the period
/// after each run of activity a dormant mark (activity.md §3.2 rule 3). `created[p]` is person p's creation period,
/// or [`NONE`] when it lies outside the read periods. A dormant mark past the last period is dropped.
///
/// # Panics
/// When a period index is not below `n_periods`.
pub fn lifecycle(
    by_person: &ByPerson,
    period: &[u32],
    created: &[u32],
    n_periods: usize,
) -> LifecycleCounts {
    let mut out = LifecycleCounts::zeros(n_periods);
    for_each_person(by_person, period, &[], |p, active: &[Active]| {
        let c = created.get(p).copied().unwrap_or(NONE);
        for (i, a) in active.iter().enumerate() {
            let k = a.period as usize;
            if i == 0 {
                if a.period == c {
                    out.new[k] += 1;
                } else {
                    out.resurrecting[k] += 1;
                }
            } else if active[i - 1].period + 1 == a.period {
                out.returning[k] += 1;
            } else {
                out.resurrecting[k] += 1;
            }
            let next_follows = active.get(i + 1).is_some_and(|n| n.period == a.period + 1);
            if !next_follows && k + 1 < n_periods {
                out.dormant[k + 1] += 1;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn naive_stickiness(
        person: &[u32],
        period: &[u32],
        n_periods: usize,
        k: usize,
        rule: CountRule,
    ) -> Vec<u64> {
        let mut per: BTreeMap<u32, BTreeMap<usize, u64>> = BTreeMap::new();
        for (&p, &t) in person.iter().zip(period) {
            if t == NONE {
                continue;
            }
            *per.entry(p)
                .or_default()
                .entry((n_periods - 1 - t as usize) / k)
                .or_default() += 1;
        }
        let mut out = vec![0u64; n_periods.div_ceil(k)];
        for buckets in per.values() {
            let n = buckets.values().filter(|&&e| rule.holds(e)).count();
            if n > 0 {
                out[n - 1] += 1;
            }
        }
        out
    }

    fn naive_lifecycle(
        person: &[u32],
        period: &[u32],
        created: &[u32],
        n: usize,
    ) -> LifecycleCounts {
        let mut sets: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for (&p, &t) in person.iter().zip(period) {
            if t != NONE {
                sets.entry(p).or_default().insert(t);
            }
        }
        let mut out = LifecycleCounts {
            new: vec![0; n],
            returning: vec![0; n],
            resurrecting: vec![0; n],
            dormant: vec![0; n],
        };
        for (p, set) in &sets {
            let first = *set.iter().next().unwrap();
            for &t in set {
                let slot = if t == first && t == created[*p as usize] {
                    &mut out.new
                } else if t > 0 && set.contains(&(t - 1)) {
                    &mut out.returning
                } else {
                    &mut out.resurrecting
                };
                slot[t as usize] += 1;
                if !set.contains(&(t + 1)) && (t as usize + 1) < n {
                    out.dormant[t as usize + 1] += 1;
                }
            }
        }
        out
    }

    #[test]
    fn spec_day_example() {
        // q 1 day, p and s 3 days, r all 7 days.
        let mut person = Vec::new();
        let mut period = Vec::new();
        for (p, days) in [
            (0u32, vec![3u32]),
            (1, vec![0, 2, 4]),
            (2, vec![1, 1, 5, 6]),
            (3, (0..7).collect()),
        ] {
            for d in days {
                person.push(p);
                period.push(d);
            }
        }
        let by = ByPerson::new(&person, 4);
        assert_eq!(
            stickiness(&by, &period, 7, 1, CountRule::Any),
            vec![1, 0, 2, 0, 0, 0, 1]
        );
        // k = 3: buckets {6,5,4}, {3,2,1}, {0}.
        assert_eq!(
            stickiness(&by, &period, 7, 3, CountRule::Any),
            vec![1, 1, 2]
        );
        // Person 2 has two events on day 1: only that bucket has 2 or more.
        assert_eq!(
            stickiness(&by, &period, 7, 1, CountRule::Gte(2)),
            vec![1, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            stickiness(&by, &period, 7, 1, CountRule::Lte(0)),
            vec![0; 7]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn stickiness_matches_naive(
            events in proptest::collection::vec((0u32..6, 0u32..10, proptest::bool::weighted(0.9)), 0..80),
            k in 1usize..4,
            rule in 0u8..4,
            n in 0u64..4,
        ) {
            let person: Vec<u32> = events.iter().map(|e| e.0).collect();
            let period: Vec<u32> = events.iter().map(|e| if e.2 { e.1 } else { NONE }).collect();
            let rule = match rule { 0 => CountRule::Any, 1 => CountRule::Gte(n), 2 => CountRule::Lte(n), _ => CountRule::Exact(n) };
            let by = ByPerson::new(&person, 6);
            proptest::prop_assert_eq!(stickiness(&by, &period, 10, k, rule), naive_stickiness(&person, &period, 10, k, rule));
        }

        #[test]
        fn lifecycle_matches_naive(
            events in proptest::collection::vec((0u32..6, 0u32..8, proptest::bool::weighted(0.9)), 0..80),
            created in proptest::collection::vec(proptest::option::of(0u32..8), 6),
        ) {
            let person: Vec<u32> = events.iter().map(|e| e.0).collect();
            let period: Vec<u32> = events.iter().map(|e| if e.2 { e.1 } else { NONE }).collect();
            let created: Vec<u32> = created.iter().map(|c| c.unwrap_or(NONE)).collect();
            let by = ByPerson::new(&person, 6);
            proptest::prop_assert_eq!(lifecycle(&by, &period, &created, 8), naive_lifecycle(&person, &period, &created, 8));
        }
    }
}
