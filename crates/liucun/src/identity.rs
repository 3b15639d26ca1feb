//! The identity map: which distinct ids form one person (events.md §5).
//!
//! It is a pure function of the persons-import records (applied first, in file order) and the merge events
//! (applied in `(timestamp, uuid)` order), so it does not depend on arrival order. Segments are never rewritten:
//! reports resolve every distinct id through this map when they run, which makes merges retroactive.

use rustc_hash::FxHashMap;

use model::{MergeSource, PersonRecord, Timestamp, Uuid};
use store::segment::MergeRow;

/// The persons of one project.
#[derive(Debug, Default, Clone)]
pub struct IdentityMap {
    /// Fx hashing: ids are looked up once per dictionary value of every scanned chunk.
    index: FxHashMap<String, u32>,
    ids: Vec<String>,
    parent: Vec<u32>,
    identified: Vec<bool>,
    /// Smallest distinct id (byte order) of each root's set.
    smallest: Vec<u32>,
    /// Whether the id takes part in a merge request (not just an identify of itself).
    in_merge: Vec<bool>,
    log: Vec<MergeOutcome>,
}

/// What happened to one merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutcome {
    /// The event that asked, or `None` for a persons import.
    pub uuid: Option<Uuid>,
    /// When it was asked.
    pub timestamp: Timestamp,
    /// The id that stays.
    pub kept: String,
    /// The id that joins.
    pub merged: String,
    /// `persons_import` or the merge source name.
    pub source: &'static str,
    /// Whether the two ids now belong to one person because of this merge.
    pub applied: bool,
    /// Why it was not applied: `already_identified`, `same_person`, `placeholder_id` or `unbind_not_applied`.
    pub reason: Option<&'static str>,
}

impl IdentityMap {
    /// Folds persons imports and merge events into a map, ignoring merges stamped after `as_of`.
    pub fn build(
        persons: &[PersonRecord],
        mut merges: Vec<MergeRow>,
        as_of: Option<Timestamp>,
    ) -> IdentityMap {
        let mut map = IdentityMap::default();
        for p in persons {
            let Some(first) = p.distinct_ids.first() else {
                continue;
            };
            let root = map.node(first);
            map.in_merge[root as usize] = true;
            map.mark_identified(root);
            for other in &p.distinct_ids[1..] {
                let applied = map.union(first, other);
                let n = map.index[other.as_str()];
                map.in_merge[n as usize] = true;
                map.log.push(MergeOutcome {
                    uuid: None,
                    timestamp: p.updated_at,
                    kept: first.clone(),
                    merged: other.clone(),
                    source: "persons_import",
                    applied,
                    reason: (!applied).then_some("same_person"),
                });
                let r = map.find(map.index[first]);
                map.mark_identified(r);
            }
        }
        merges.retain(|m| as_of.is_none_or(|t| m.timestamp <= t));
        merges.sort_by_key(|a| (a.timestamp, a.uuid));
        for m in merges {
            let (kept, source) = (&m.merge.kept, m.merge.source);
            if source == MergeSource::SensorsUnbind {
                // Persons are never split, because merges form a union-find; an unbind is only recorded
                // (ingest-sensors.md §5.4), once per id it names.
                for merged in m.merge.merged.split(MergeSource::ID_SEPARATOR) {
                    map.log.push(MergeOutcome {
                        uuid: Some(m.uuid),
                        timestamp: m.timestamp,
                        kept: kept.clone(),
                        merged: merged.to_string(),
                        source: source.as_str(),
                        applied: false,
                        reason: Some("unbind_not_applied"),
                    });
                }
                continue;
            }
            let kept_node = map.node(kept);
            // The kept side of an identify, alias, Segment or Sensors login message is an identified user.
            if source.identifies_kept() {
                let r = map.find(kept_node);
                map.mark_identified(r);
            }
            // A Sensors merge may join several ids at once (a `$BindID` with several identities); each is one
            // request, applied in the order listed.
            let ids: Vec<&str> = match source {
                MergeSource::SensorsIds | MergeSource::SensorsBind => {
                    m.merge.merged.split(MergeSource::ID_SEPARATOR).collect()
                }
                _ => vec![m.merge.merged.as_str()],
            };
            for merged in ids {
                let merged = &merged.to_string();
                if merged == kept {
                    // An identify without another id: nothing to merge (events.md §5.3.1).
                    continue;
                }
                if ingest::is_placeholder(merged) {
                    map.log.push(MergeOutcome {
                        uuid: Some(m.uuid),
                        timestamp: m.timestamp,
                        kept: kept.clone(),
                        merged: merged.clone(),
                        source: source.as_str(),
                        applied: false,
                        reason: Some("placeholder_id"),
                    });
                    continue;
                }
                map.in_merge[kept_node as usize] = true;
                let merged_node = map.node(merged);
                map.in_merge[merged_node as usize] = true;
                let (rk, rm) = (map.find(kept_node), map.find(merged_node));
                let (applied, reason) = if rk == rm {
                    (false, Some("same_person"))
                } else if source.is_guarded() && map.identified[rm as usize] {
                    (false, Some("already_identified"))
                } else {
                    map.union(kept, merged);
                    (true, None)
                };
                map.log.push(MergeOutcome {
                    uuid: Some(m.uuid),
                    timestamp: m.timestamp,
                    kept: kept.clone(),
                    merged: merged.clone(),
                    source: source.as_str(),
                    applied,
                    reason,
                });
            }
        }
        map
    }

    /// Every merge request in the order it was applied.
    pub fn log(&self) -> &[MergeOutcome] {
        &self.log
    }

    /// The person of a distinct id, named by the smallest distinct id of its set (events.md §5.1).
    ///
    /// An id no merge mentions is its own person.
    pub fn person_of<'a>(&'a self, distinct_id: &'a str) -> &'a str {
        match self.index.get(distinct_id) {
            None => distinct_id,
            Some(&n) => &self.ids[self.smallest[self.find(n) as usize] as usize],
        }
    }

    /// Whether the person of `distinct_id` is identified.
    pub fn is_identified(&self, distinct_id: &str) -> bool {
        self.index
            .get(distinct_id)
            .is_some_and(|&n| self.identified[self.find(n) as usize])
    }

    /// Whether the distinct id takes part in any merge request or persons import.
    pub fn is_merged(&self, distinct_id: &str) -> bool {
        self.index
            .get(distinct_id)
            .is_some_and(|&n| self.in_merge[n as usize])
    }

    /// Every distinct id of the person of `distinct_id`, sorted; just the id itself when no merge mentions it.
    pub fn members(&self, distinct_id: &str) -> Vec<String> {
        let Some(&n) = self.index.get(distinct_id) else {
            return vec![distinct_id.to_string()];
        };
        let root = self.find(n);
        let mut out: Vec<String> = (0..self.ids.len() as u32)
            .filter(|&m| self.find(m) == root)
            .map(|m| self.ids[m as usize].clone())
            .collect();
        out.sort();
        out
    }

    /// Every person that merges mention, named as [`IdentityMap::person_of`] names it, with all its distinct ids
    /// sorted: [`IdentityMap::members`] for all persons at once.
    pub fn groups(&self) -> std::collections::HashMap<&str, Vec<&str>> {
        let mut out: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
        for n in 0..self.ids.len() as u32 {
            let root = self.find(n);
            out.entry(self.ids[self.smallest[root as usize] as usize].as_str())
                .or_default()
                .push(self.ids[n as usize].as_str());
        }
        for ids in out.values_mut() {
            ids.sort_unstable();
        }
        out
    }

    /// Every distinct id that merges or persons imports mention, with its person as a node number (equal numbers,
    /// one person) and whether it takes part in a merge request.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, u32, bool)> {
        (0..self.ids.len() as u32).map(|n| {
            (
                self.ids[n as usize].as_str(),
                self.find(n),
                self.in_merge[n as usize],
            )
        })
    }

    /// The person of `distinct_id` as a node number of [`IdentityMap::nodes`], when merges mention it.
    pub fn node_of(&self, distinct_id: &str) -> Option<u32> {
        self.index.get(distinct_id).map(|&n| self.find(n))
    }

    /// Distinct ids that merges mention.
    pub fn ids_known(&self) -> usize {
        self.ids.len()
    }

    fn node(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.index.get(id) {
            return n;
        }
        let n = self.ids.len() as u32;
        self.index.insert(id.to_string(), n);
        self.ids.push(id.to_string());
        self.parent.push(n);
        self.identified.push(false);
        self.smallest.push(n);
        self.in_merge.push(false);
        n
    }

    fn find(&self, mut n: u32) -> u32 {
        while self.parent[n as usize] != n {
            n = self.parent[n as usize];
        }
        n
    }

    fn mark_identified(&mut self, root: u32) {
        self.identified[root as usize] = true;
    }

    /// Joins the sets of two ids; returns whether they were apart.
    fn union(&mut self, a: &str, b: &str) -> bool {
        let (na, nb) = (self.node(a), self.node(b));
        let (ra, rb) = (self.find(na), self.find(nb));
        if ra == rb {
            return false;
        }
        // Path halving is skipped for simplicity; attach the newer root under the older one and compress below.
        self.parent[rb as usize] = ra;
        self.identified[ra as usize] |= self.identified[rb as usize];
        let (sa, sb) = (self.smallest[ra as usize], self.smallest[rb as usize]);
        if self.ids[sb as usize] < self.ids[sa as usize] {
            self.smallest[ra as usize] = sb;
        }
        self.compress(na);
        self.compress(nb);
        true
    }

    fn compress(&mut self, mut n: u32) {
        let root = self.find(n);
        while self.parent[n as usize] != root {
            let next = self.parent[n as usize];
            self.parent[n as usize] = root;
            n = next;
        }
    }
}

impl IdentityMap {
    /// SHA-256 over every merge request in application order with its outcome: changes whenever the map does.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(DIGEST_PREFIX);
        for m in &self.log {
            h.update(m.digest_entry());
        }
        h.finalize().into()
    }
}

/// What [`IdentityMap::digest`] hashes before the log's entries.
pub const DIGEST_PREFIX: &[u8] = b"lcid1";

impl MergeOutcome {
    /// The bytes the identity digest hashes for this request: kept id, merged id and source, each prefixed by its
    /// length (u32, big-endian), then 1 if it was applied, else 0.
    pub fn digest_entry(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.kept.len() + self.merged.len() + self.source.len() + 13);
        for part in [
            self.kept.as_bytes(),
            self.merged.as_bytes(),
            self.source.as_bytes(),
        ] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.push(u8::from(self.applied));
        out
    }
}

#[cfg(test)]
mod tests {
    use model::Merge;

    use super::*;

    fn merge(ts: i64, kept: &str, merged: &str, source: MergeSource) -> MergeRow {
        let mut uuid = [0u8; 16];
        uuid[15] = ts as u8;
        MergeRow {
            uuid: Uuid(uuid),
            timestamp: Timestamp(ts),
            merge: Merge {
                kept: kept.into(),
                merged: merged.into(),
                source,
            },
        }
    }

    #[test]
    fn identify_joins_anonymous_history_and_names_the_person_by_the_smallest_id() {
        let m = IdentityMap::build(
            &[],
            vec![merge(1, "u-9", "a-17", MergeSource::Identify)],
            None,
        );
        assert_eq!(m.person_of("u-9"), "a-17");
        assert_eq!(m.person_of("a-17"), "a-17");
        assert_eq!(m.person_of("zzz"), "zzz");
        assert!(m.is_identified("a-17"));
    }

    #[test]
    fn a_sensors_merge_joins_each_listed_id_and_an_anonymous_bind_identifies_nobody() {
        let merges = vec![
            merge(
                1,
                "u-42",
                "cookie\u{1f}$identity_mobile+138",
                MergeSource::SensorsIds,
            ),
            // Another user's device is guarded per id, not per event.
            merge(2, "bob", "web\u{1f}cookie", MergeSource::SensorsIds),
            merge(3, "device-9", "$identity_email+x", MergeSource::SensorsBind),
            merge(4, "u-7", "u-7", MergeSource::SensorsIds),
        ];
        let m = IdentityMap::build(&[], merges, None);
        let u42 = m.person_of("u-42");
        assert_eq!(m.person_of("cookie"), u42);
        assert_eq!(m.person_of("$identity_mobile+138"), u42);
        assert_eq!(m.person_of("web"), m.person_of("bob"));
        assert_ne!(m.person_of("bob"), u42);
        assert_eq!(m.person_of("device-9"), m.person_of("$identity_email+x"));
        assert!(!m.is_identified("device-9"));
        assert!(m.is_identified("u-7") && m.is_identified("u-42"));
        let reasons: Vec<Option<&str>> = m.log().iter().map(|o| o.reason).collect();
        assert_eq!(
            reasons,
            vec![None, None, None, Some("already_identified"), None]
        );
    }

    #[test]
    fn an_unbind_splits_nobody_and_is_logged_as_not_applied() {
        let merges = vec![
            merge(1, "u-42", "cookie", MergeSource::SensorsIds),
            merge(
                2,
                "cookie",
                "cookie\u{1f}$identity_mobile+138",
                MergeSource::SensorsUnbind,
            ),
            merge(3, "anon-7", "anon-7", MergeSource::SensorsUnbind),
        ];
        let m = IdentityMap::build(&[], merges, None);
        assert_eq!(m.person_of("cookie"), m.person_of("u-42"));
        assert!(!m.is_identified("anon-7") && !m.is_merged("anon-7"));
        assert_eq!(m.ids_known(), 2, "an unbind adds no ids to the map");
        let log: Vec<(&str, Option<&str>)> = m
            .log()
            .iter()
            .map(|o| (o.merged.as_str(), o.reason))
            .collect();
        assert_eq!(
            log,
            vec![
                ("cookie", None),
                ("cookie", Some("unbind_not_applied")),
                ("$identity_mobile+138", Some("unbind_not_applied")),
                ("anon-7", Some("unbind_not_applied")),
            ]
        );
    }

    #[test]
    fn guard_keeps_a_shared_device_from_joining_two_users() {
        let merges = vec![
            merge(1, "alice", "device", MergeSource::Identify),
            merge(2, "bob", "device", MergeSource::Identify),
        ];
        let m = IdentityMap::build(&[], merges, None);
        assert_eq!(m.person_of("device"), m.person_of("alice"));
        assert_ne!(m.person_of("bob"), m.person_of("alice"));
        assert_eq!(m.log()[1].reason, Some("already_identified"));
        // Unguarded merges pass.
        let merges = vec![
            merge(1, "alice", "device", MergeSource::Identify),
            merge(2, "bob", "alice", MergeSource::MergeDangerously),
        ];
        let m = IdentityMap::build(&[], merges, None);
        assert_eq!(m.person_of("bob"), m.person_of("alice"));
    }

    #[test]
    fn order_of_arrival_does_not_matter_and_as_of_cuts() {
        let a = vec![
            merge(2, "bob", "device", MergeSource::Identify),
            merge(1, "alice", "device", MergeSource::Identify),
        ];
        let b: Vec<MergeRow> = a.iter().rev().cloned().collect();
        let (ma, mb) = (
            IdentityMap::build(&[], a.clone(), None),
            IdentityMap::build(&[], b, None),
        );
        assert_eq!(ma.person_of("device"), mb.person_of("device"));
        assert_eq!(ma.person_of("device"), "alice");
        let cut = IdentityMap::build(&[], a, Some(Timestamp(1)));
        assert_eq!(cut.log().len(), 1);
    }
}
