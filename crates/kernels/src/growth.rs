//! Growth milestones (activity.md §4): how many persons had arrived by each day, from each person's first counting
//! day. The caller resolves names, filters, merges and the time zone first; a counting event arrives as a day index.

use crate::activity::NONE;

/// C(d) for d in `0..n_days`: the number of persons whose first counting event falls on or before day d.
///
/// `person[i]` is event i's dense person index (below `n_persons`), `day[i]` its day index or [`NONE`] for an event
/// that does not count. Days at or past `n_days` are out of range and ignored, so a person whose only events lie
/// there never arrives.
///
/// # Panics
/// When the columns differ in length or a person index is not below `n_persons`.
pub fn cumulative_first_days(
    person: &[u32],
    day: &[u32],
    n_persons: usize,
    n_days: usize,
) -> Vec<u64> {
    assert_eq!(person.len(), day.len(), "columns of unequal length");
    let mut first = vec![NONE; n_persons];
    for (&p, &d) in person.iter().zip(day) {
        let slot = &mut first[p as usize];
        *slot = (*slot).min(d);
    }
    let mut counts = vec![0u64; n_days];
    for &d in &first {
        if (d as usize) < n_days {
            counts[d as usize] += 1;
        }
    }
    let mut total = 0u64;
    for c in &mut counts {
        total += *c;
        *c = total;
    }
    counts
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The oracle: for every day, the persons with some counting event on or before it.
    fn naive(person: &[u32], day: &[u32], n_days: usize) -> Vec<u64> {
        (0..n_days)
            .map(|d| {
                let arrived: BTreeSet<u32> = person
                    .iter()
                    .zip(day)
                    .filter(|&(_, &e)| e != NONE && (e as usize) < n_days && e as usize <= d)
                    .map(|(&p, _)| p)
                    .collect();
                arrived.len() as u64
            })
            .collect()
    }

    #[test]
    fn empty_and_single_person() {
        assert_eq!(cumulative_first_days(&[], &[], 0, 3), vec![0, 0, 0]);
        assert_eq!(
            cumulative_first_days(&[0, 0], &[2, 1], 1, 4),
            vec![0, 1, 1, 1]
        );
        assert_eq!(cumulative_first_days(&[0], &[NONE], 1, 2), vec![0, 0]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn matches_the_naive_count(
            events in proptest::collection::vec((0u32..6, 0u32..12, proptest::bool::ANY), 0..80)
        ) {
            let person: Vec<u32> = events.iter().map(|e| e.0).collect();
            let day: Vec<u32> = events.iter().map(|e| if e.2 { e.1 } else { NONE }).collect();
            let got = cumulative_first_days(&person, &day, 6, 10);
            proptest::prop_assert_eq!(got, naive(&person, &day, 10));
        }
    }
}
