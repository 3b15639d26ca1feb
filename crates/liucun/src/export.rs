//! What another engine needs to compute the same reports: every stored event of a project, and the identity map
//! as a timeline, so that the person of a distinct id *as of any instant* is one lookup (the latest change at or
//! before it) instead of a replay of the merges.
//!
//! The identity map only grows (merges form a union-find; unbinds are recorded, never applied), and its log up to
//! an `as_of` is a prefix of the full log: persons imports first (in effect at every `as_of`), then merge events in
//! `(timestamp, uuid)` order. So one pass over the full log gives every distinct id's person and merge flag at every
//! instant.

use rustc_hash::FxHashMap;

use model::{Event, PersonRecord};
use store::ScanFilter;

use serde_json::{Map, Value};

use crate::identity::{IdentityMap, MergeOutcome};
use crate::reports::PropertyUpdate;
use crate::{Engine, Result};

/// The instant of a persons-import change: before every event, so it is in effect at every `as_of`.
pub const TIMELESS: i64 = i64::MIN;

/// From `valid_from` on (UTC µs, until the id's next change), `distinct_id` belongs to `person` (named by the
/// smallest distinct id of its set, as [`IdentityMap::person_of`] names it) and takes part in a merge request or not
/// (which decides whether a person can be personless, retention.md §5.4).
///
/// A distinct id without a change at or before an instant is its own person and in no merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityChange {
    /// The distinct id.
    pub distinct_id: String,
    /// When the change takes effect, UTC µs; [`TIMELESS`] for persons imports.
    pub valid_from: i64,
    /// Its person from then on.
    pub person: String,
    /// Whether it takes part in a merge request from then on.
    pub in_merge: bool,
}

/// From `valid_from` on (UTC µs, until the person's next change), the person named `person` (as
/// [`IdentityChange::person`] names it) has `properties` (a JSON object): the fold of every property update of all
/// of its distinct ids up to that instant, in fold order (events.md §5.4), as the embedded engine folds them for a
/// report whose `as_of` is that instant. A person without a change at or before an instant has no properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertiesChange {
    /// The person's name.
    pub person: String,
    /// When the change takes effect, UTC µs.
    pub valid_from: i64,
    /// The person's properties from then on, JSON object text.
    pub properties: String,
}

/// One project's identity map over time.
#[derive(Debug, Clone, Default)]
pub struct IdentityTimeline {
    /// Every change, ordered by distinct id and `valid_from`, at most one per (distinct id, instant).
    pub changes: Vec<IdentityChange>,
    /// Every merge request in application order with its outcome and instant ([`TIMELESS`] for persons imports):
    /// the entries at or before an `as_of` are the log the identity digest of that `as_of` hashes.
    pub log: Vec<(i64, MergeOutcome)>,
}

impl Engine {
    /// The segments holding `project`'s events (in day order), after flushing what is acknowledged: each file
    /// (relative to the data directory; a file never changes once written, and compaction replaces files) and its
    /// number of events. Another engine that copied some of them can tell which it still lacks.
    ///
    /// # Errors
    /// Store errors.
    pub fn event_segments(&self, project: &str) -> Result<Vec<(String, u64)>> {
        self.flush()?;
        let filter = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        Ok(self.with_store(|s| {
            s.segments(&filter)
                .into_iter()
                .map(|seg| (seg.file.clone(), seg.rows))
                .collect()
        }))
    }

    /// Visits every event of one segment file of `project` ([`Engine::event_segments`]). `visit` may stop by
    /// returning an error.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] for a file that is not one of the project's segments (a compaction may have
    /// replaced it), store errors (a damaged segment), or the first error `visit` returns.
    pub fn export_segment(
        &self,
        project: &str,
        file: &str,
        mut visit: impl FnMut(&Event) -> Result<()>,
    ) -> Result<u64> {
        let filter = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let path = self
            .with_store(|s| {
                s.segments(&filter)
                    .into_iter()
                    .any(|seg| seg.file == file)
                    .then(|| s.path_of(file))
            })
            .ok_or_else(|| {
                crate::Error::Invalid(format!("{file:?} is not a segment of project {project:?}"))
            })?;
        visit_file(&path, &mut visit)
    }

    /// Visits every stored event of `project`, segment by segment (in day order), after flushing what is
    /// acknowledged. `visit` may stop the export by returning an error.
    ///
    /// # Errors
    /// Store errors (a damaged segment), or the first error `visit` returns.
    pub fn export_events(
        &self,
        project: &str,
        mut visit: impl FnMut(&Event) -> Result<()>,
    ) -> Result<u64> {
        self.flush()?;
        let filter = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let files: Vec<std::path::PathBuf> = self.with_store(|s| {
            s.segments(&filter)
                .into_iter()
                .map(|seg| s.path_of(&seg.file))
                .collect()
        });
        let mut n = 0u64;
        for path in files {
            n += visit_file(&path, &mut visit)?;
        }
        Ok(n)
    }

    /// The identity map of `project` over time: see [`IdentityTimeline`].
    ///
    /// # Errors
    /// Store errors (a damaged segment or side file).
    pub fn identity_timeline(&self, project: &str) -> Result<IdentityTimeline> {
        let persons = self.person_imports(project)?;
        let map = self.identity(project, None)?;
        Ok(timeline(&persons, &map))
    }

    /// The person properties of `project` over time: see [`PropertiesChange`]. Changes are ordered by person and
    /// `valid_from`, one per (person, instant) at most, and only where the properties differ from the person's
    /// previous ones.
    ///
    /// # Errors
    /// Store errors (a damaged segment or side file).
    pub fn person_properties_timeline(&self, project: &str) -> Result<Vec<PropertiesChange>> {
        self.flush()?;
        let map = self.identity(project, None)?;
        let updates = self.property_updates(project, i64::MAX)?;
        Ok(properties_timeline(&map, &updates))
    }

    /// Every persons import record of `project`, in the order they were imported (a later `created_at` naming the
    /// same person wins, activity.md §3.2 rule 4).
    ///
    /// # Errors
    /// Store errors (a damaged side file).
    pub fn person_imports(&self, project: &str) -> Result<Vec<PersonRecord>> {
        self.flush()?;
        Ok(self.with_store(|s| {
            s.read_persons(Some(project))
                .map(|v| v.into_iter().map(|(_, p)| p).collect())
        })?)
    }
}

/// Replays the applied merges of `map` and the property `updates` (in fold order) instant by instant: at each
/// instant, first the merges (a joined person's properties are folded again from all of its updates so far, in fold
/// order, since merges are retroactive), then the updates of that instant; each person touched gets a change.
fn properties_timeline(map: &IdentityMap, updates: &[PropertyUpdate]) -> Vec<PropertiesChange> {
    /// Persons with the updates folded into each (indexes into `updates`, ascending) and their properties.
    #[derive(Default)]
    struct People {
        sets: Sets,
        folded: Vec<Vec<usize>>,
        props: Vec<Map<String, Value>>,
    }
    impl People {
        fn set(&mut self, id: &str) -> usize {
            let s = self.sets.set(id);
            if s == self.folded.len() {
                self.folded.push(Vec::new());
                self.props.push(Map::new());
            }
            s
        }
        /// Joins the persons of `a` and `b` and folds the joined person's updates again; false when they are one
        /// already.
        fn union(&mut self, a: &str, b: &str, updates: &[PropertyUpdate]) -> bool {
            self.set(a);
            self.set(b);
            let Some(joined) = self.sets.join(a, b) else {
                return false;
            };
            let (big, small) = (joined.root, joined.absorbed);
            let mut all = std::mem::take(&mut self.folded[big]);
            all.append(&mut self.folded[small]);
            all.sort_unstable();
            self.props[small].clear();
            let mut props = Map::new();
            for &u in &all {
                crate::reports::fold_update(&mut props, &updates[u].props);
            }
            self.folded[big] = all;
            self.props[big] = props;
            true
        }
    }

    let mut people = People::default();
    let mut out = Vec::new();
    let mut last: FxHashMap<String, String> = FxHashMap::default();
    let merges: Vec<(i64, &MergeOutcome)> = map
        .log()
        .iter()
        .filter(|m| m.applied)
        .map(|m| {
            (
                if m.uuid.is_none() {
                    TIMELESS
                } else {
                    m.timestamp.0
                },
                m,
            )
        })
        .collect();
    let (mut mi, mut ui) = (0, 0);
    while mi < merges.len() || ui < updates.len() {
        let at = match (merges.get(mi), updates.get(ui)) {
            (Some(m), Some(u)) => m.0.min(u.ts),
            (Some(m), None) => m.0,
            (None, Some(u)) => u.ts,
            (None, None) => break,
        };
        // A distinct id of each person touched at this instant (a person may join another after it is touched).
        let mut touched: Vec<&str> = Vec::new();
        while let Some(&(_, m)) = merges.get(mi).filter(|m| m.0 == at) {
            if people.union(&m.kept, &m.merged, updates) {
                touched.push(&m.kept);
            }
            mi += 1;
        }
        while let Some(u) = updates.get(ui).filter(|u| u.ts == at) {
            let s = people.set(&u.distinct_id);
            people.folded[s].push(ui);
            crate::reports::fold_update(&mut people.props[s], &u.props);
            touched.push(&u.distinct_id);
            ui += 1;
        }
        let mut roots: Vec<usize> = touched.iter().map(|id| people.set(id)).collect();
        roots.sort_unstable();
        roots.dedup();
        for s in roots {
            let text = Value::Object(people.props[s].clone()).to_string();
            let name = &people.sets.smallest[s];
            let previous = last.get(name).map_or("{}", String::as_str);
            if previous != text {
                last.insert(name.clone(), text.clone());
                out.push(PropertiesChange {
                    person: name.clone(),
                    valid_from: at,
                    properties: text,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.person, a.valid_from).cmp(&(&b.person, b.valid_from)));
    out
}

/// Persons as sets of distinct ids, each named by its smallest id as [`IdentityMap::person_of`] names it: the
/// union-find both timelines replay the merge log with.
#[derive(Default)]
struct Sets {
    set_of: FxHashMap<String, usize>,
    members: Vec<Vec<String>>,
    smallest: Vec<String>,
}

/// What a join did.
struct Joined {
    /// The set that stays.
    root: usize,
    /// The set that joined it (now empty).
    absorbed: usize,
    /// The ids whose person's name changed.
    changed: Vec<String>,
}

impl Sets {
    fn set(&mut self, id: &str) -> usize {
        if let Some(&s) = self.set_of.get(id) {
            return s;
        }
        let s = self.members.len();
        self.set_of.insert(id.to_string(), s);
        self.members.push(vec![id.to_string()]);
        self.smallest.push(id.to_string());
        s
    }

    /// Joins the sets of `a` and `b`, the smaller into the larger; `None` when they are one already.
    fn join(&mut self, a: &str, b: &str) -> Option<Joined> {
        let (sa, sb) = (self.set(a), self.set(b));
        if sa == sb {
            return None;
        }
        let (big, small) = if self.members[sa].len() >= self.members[sb].len() {
            (sa, sb)
        } else {
            (sb, sa)
        };
        let name = self.smallest[big].clone().min(self.smallest[small].clone());
        let mut changed = Vec::new();
        if self.smallest[big] != name {
            changed.extend(self.members[big].iter().cloned());
        }
        if self.smallest[small] != name {
            changed.extend(self.members[small].iter().cloned());
        }
        let moved = std::mem::take(&mut self.members[small]);
        for id in &moved {
            self.set_of.insert(id.clone(), big);
        }
        self.members[big].extend(moved);
        self.smallest[big] = name;
        Some(Joined {
            root: big,
            absorbed: small,
            changed,
        })
    }
}

/// Replays the full log of `map` (built from `persons` and every merge) into changes.
fn timeline(persons: &[PersonRecord], map: &IdentityMap) -> IdentityTimeline {
    /// The sets, and which ids take part in a merge request.
    #[derive(Default)]
    struct Ids {
        sets: Sets,
        in_merge: FxHashMap<String, bool>,
    }
    impl Ids {
        /// Joins two sets; returns the ids whose person changed.
        fn union(&mut self, a: &str, b: &str) -> Vec<String> {
            self.sets.join(a, b).map(|j| j.changed).unwrap_or_default()
        }
        fn mark(&mut self, id: &str) -> bool {
            self.sets.set(id);
            !std::mem::replace(self.in_merge.entry(id.to_string()).or_default(), true)
        }
        fn change(&self, id: &str, at: i64) -> IdentityChange {
            let s = self.sets.set_of[id];
            IdentityChange {
                distinct_id: id.to_string(),
                valid_from: at,
                person: self.sets.smallest[s].clone(),
                in_merge: self.in_merge.get(id).copied().unwrap_or(false),
            }
        }
    }

    let mut sets = Ids::default();
    let mut out = IdentityTimeline::default();
    // Ids changed at the current instant, flushed as one change each when the instant moves on.
    let mut pending: Vec<String> = Vec::new();
    let mut at = TIMELESS;
    let flush = |sets: &Ids, pending: &mut Vec<String>, at: i64, out: &mut IdentityTimeline| {
        pending.sort_unstable();
        pending.dedup();
        for id in pending.drain(..) {
            out.changes.push(sets.change(&id, at));
        }
    };
    // A persons import of one id makes no log entry, yet puts the id in a merge.
    for p in persons {
        if let Some(first) = p.distinct_ids.first()
            && sets.mark(first)
        {
            pending.push(first.clone());
        }
    }
    for m in map.log() {
        let when = if m.uuid.is_none() {
            TIMELESS
        } else {
            m.timestamp.0
        };
        if when != at {
            flush(&sets, &mut pending, at, &mut out);
            at = when;
        }
        out.log.push((when, m.clone()));
        if matches!(m.reason, Some("placeholder_id" | "unbind_not_applied")) {
            continue;
        }
        for id in [&m.kept, &m.merged] {
            if sets.mark(id) {
                pending.push(id.clone());
            }
        }
        if m.applied {
            pending.extend(sets.union(&m.kept, &m.merged));
        }
    }
    flush(&sets, &mut pending, at, &mut out);
    out.changes
        .sort_by(|a, b| (&a.distinct_id, a.valid_from).cmp(&(&b.distinct_id, b.valid_from)));
    out
}

/// Visits every event of one segment file; the first error `visit` returns stops it.
fn visit_file(path: &std::path::Path, visit: &mut impl FnMut(&Event) -> Result<()>) -> Result<u64> {
    let mut n = 0u64;
    let mut failed = None;
    store::segment::for_each(path, |e| {
        if failed.is_none() {
            match visit(&e) {
                Ok(()) => n += 1,
                Err(err) => failed = Some(err),
            }
        }
    })?;
    match failed {
        Some(err) => Err(err),
        None => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use model::{Merge, MergeSource, Timestamp, Uuid};
    use store::segment::MergeRow;

    use super::*;

    fn merge(ts: i64, kept: &str, merged: &str, source: MergeSource) -> MergeRow {
        let mut uuid = [0u8; 16];
        uuid[8..].copy_from_slice(&ts.to_be_bytes());
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

    /// The person and merge flag of an id at an instant, read from the timeline as another engine reads it.
    fn at(t: &IdentityTimeline, id: &str, when: i64) -> (String, bool) {
        t.changes
            .iter()
            .filter(|c| c.distinct_id == id && c.valid_from <= when)
            .max_by_key(|c| c.valid_from)
            .map_or((id.to_string(), false), |c| (c.person.clone(), c.in_merge))
    }

    #[test]
    fn the_timeline_gives_the_map_of_every_instant() {
        let persons = vec![
            PersonRecord {
                distinct_ids: vec!["solo".into()],
                properties: "{}".into(),
                created_at: None,
                updated_at: Timestamp(50),
                source: "p.ndjson:1".into(),
            },
            PersonRecord {
                distinct_ids: vec!["m".into(), "k".into()],
                properties: "{}".into(),
                created_at: None,
                updated_at: Timestamp(70),
                source: "p.ndjson:2".into(),
            },
        ];
        let merges = vec![
            merge(10, "u1", "a1", MergeSource::Identify),
            merge(20, "u1", "a0", MergeSource::Identify),
            merge(20, "u2", "a2", MergeSource::Identify),
            merge(30, "u2", "u2", MergeSource::Identify),
            merge(40, "u1", "u2", MergeSource::MergeDangerously),
            merge(45, "x", "a1", MergeSource::Identify),
            merge(60, "k", "b", MergeSource::CreateAlias),
        ];
        let full = IdentityMap::build(&persons, merges.clone(), None);
        let t = timeline(&persons, &full);
        let ids = [
            "u1", "a1", "a0", "u2", "a2", "x", "solo", "m", "k", "b", "never",
        ];
        for when in [0, 10, 15, 20, 30, 40, 44, 45, 60, 100] {
            let map = IdentityMap::build(&persons, merges.clone(), Some(Timestamp(when)));
            for id in ids {
                assert_eq!(
                    at(&t, id, when),
                    (map.person_of(id).to_string(), map.is_merged(id)),
                    "{id} at {when}"
                );
            }
            let digest = {
                use sha2::Digest as _;
                let mut h = sha2::Sha256::new();
                h.update(crate::identity::DIGEST_PREFIX);
                for (_, m) in t.log.iter().filter(|(w, _)| *w <= when) {
                    h.update(m.digest_entry());
                }
                <[u8; 32]>::from(h.finalize())
            };
            assert_eq!(digest, map.digest(), "the log prefix at {when}");
        }
        let mut keys: Vec<(&str, i64)> = t
            .changes
            .iter()
            .map(|c| (c.distinct_id.as_str(), c.valid_from))
            .collect();
        keys.dedup();
        assert_eq!(keys.len(), t.changes.len(), "one change per id and instant");
    }
}
