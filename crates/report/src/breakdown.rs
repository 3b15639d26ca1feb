//! Breakdown values (retention.md §10) shared by every kind that splits by a property: dense ids per distinct string
//! form of the value, and the ranking that keeps `limit` values and folds the rest into Other.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::filter;
use crate::params::{Breakdown, PropertyKind};
use crate::table::EventTable;

/// A value id that belongs to no kept group (ranked zero).
pub const DROPPED: u32 = u32::MAX;

/// The distinct values of one table, and each event's or person's value id.
#[derive(Debug, Clone)]
pub struct Values {
    /// Value strings by id; one empty value without a breakdown.
    pub values: Vec<String>,
    /// Per event (an event breakdown), else empty.
    pub event: Vec<u32>,
    /// Per person (a person breakdown), else empty.
    pub person: Vec<u32>,
}

impl Values {
    /// The values of `b` in `t`; a missing value is the empty string.
    pub fn of(b: Option<&Breakdown>, t: &EventTable) -> Values {
        let Some(b) = b else {
            return Values {
                values: vec![String::new()],
                event: Vec::new(),
                person: Vec::new(),
            };
        };
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut values = Vec::new();
        let mut id_of = |v: String| -> u32 {
            let next = ids.len() as u32;
            *ids.entry(v).or_insert_with_key(|v| {
                values.push(v.clone());
                next
            })
        };
        let value = |m: &Map<String, Value>| {
            m.get(&b.property)
                .and_then(filter::string_form)
                .unwrap_or_default()
        };
        let (event, person) = match b.kind {
            PropertyKind::Event => (
                (0..t.ts.len())
                    .map(|i| id_of(t.properties.get(i).map(value).unwrap_or_default()))
                    .collect(),
                Vec::new(),
            ),
            PropertyKind::Person => (
                Vec::new(),
                (0..t.n_persons)
                    .map(|i| id_of(t.person_properties.get(i).map(value).unwrap_or_default()))
                    .collect(),
            ),
        };
        if values.is_empty() {
            values.push(String::new());
        }
        Values {
            values,
            event,
            person,
        }
    }
}

/// Kept values in rank order, then Other when some were folded.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// (value, is Other) per group; `None` for Other.
    pub groups: Vec<(Option<String>, bool)>,
    /// The group of each value id, or [`DROPPED`] for values that scored nothing.
    pub group_of: Vec<u32>,
}

impl Ranked {
    /// The value ids of each group.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut m = vec![Vec::new(); self.groups.len()];
        for (v, &g) in self.group_of.iter().enumerate() {
            if g != DROPPED {
                m[g as usize].push(v);
            }
        }
        m
    }
}

/// Ranks values by `score` (highest first, then by value bytewise), keeps the first `limit` of those scoring above
/// zero and folds the rest into Other; values scoring zero belong to no group.
pub fn rank<S: PartialOrd + Default + Copy>(
    values: &[String],
    score: &[S],
    limit: usize,
) -> Ranked {
    let zero = S::default();
    let mut scored: Vec<(S, usize)> = score
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > zero)
        .map(|(v, s)| (*s, v))
        .collect();
    scored.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| values[a.1].as_bytes().cmp(values[b.1].as_bytes()))
    });
    let kept = scored.len().min(limit);
    let mut group_of = vec![DROPPED; values.len()];
    let mut groups = Vec::with_capacity(kept + 1);
    for (rank, &(_, v)) in scored.iter().enumerate() {
        if rank < kept {
            group_of[v] = rank as u32;
            groups.push((Some(values[v].clone()), false));
        } else {
            group_of[v] = kept as u32;
        }
    }
    if scored.len() > kept {
        groups.push((None, true));
    }
    Ranked { groups, group_of }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn rank_keeps_the_highest_then_folds_the_rest_into_other() {
        let values = s(&["b", "a", "c", "d", "z"]);
        let r = rank(&values, &[5u64, 5, 9, 1, 0], 2);
        assert_eq!(
            r.groups,
            vec![
                (Some("c".to_string()), false),
                (Some("a".to_string()), false),
                (None, true)
            ]
        );
        // Equal scores rank by value; a zero score belongs nowhere.
        assert_eq!(r.group_of, vec![2, 1, 0, 2, DROPPED]);
        assert_eq!(r.members(), vec![vec![2], vec![1], vec![0, 3]]);
    }

    #[test]
    fn rank_without_a_fold_has_no_other() {
        let values = s(&["x", "y"]);
        let r = rank(&values, &[1.5f64, 2.0], 25);
        assert_eq!(
            r.groups,
            vec![
                (Some("y".to_string()), false),
                (Some("x".to_string()), false)
            ]
        );
        assert_eq!(rank(&values, &[0u64, 0], 25).groups, vec![]);
        assert_eq!(
            rank(&values, &[f64::NAN, 1.0], 25).group_of,
            vec![DROPPED, 0]
        );
    }
}
