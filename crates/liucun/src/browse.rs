//! Looking up stored data for people and tools: events by uuid, distinct id or name, one person with its ids and
//! current properties, and the quarantine. Each lookup flushes first, so it sees everything acknowledged.

use std::collections::BTreeMap;

use model::{Event, RejectReason, Rejection, Uuid};
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};
use store::ScanFilter;

use crate::{Engine, Error, Result};

/// Which events to return.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this uuid.
    pub uuid: Option<Uuid>,
    /// Only this distinct id.
    pub distinct_id: Option<String>,
    /// Only these distinct ids (when not empty).
    pub distinct_ids: Vec<String>,
    /// Only this event name.
    pub event: Option<String>,
    /// At most this many (newest last); `0` means the default of 100.
    pub limit: usize,
}

/// Events found, in `(timestamp, uuid)` order, each uuid once (the smaller digest wins, events.md §2.3).
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events.
    pub events: Vec<Event>,
    /// Whether more matched than `limit`.
    pub truncated: bool,
}

/// One AI event, as `Engine::for_each_ai_event` hands it out.
#[derive(Debug, Clone)]
pub struct AiEvent {
    /// The event's uuid.
    pub uuid: Uuid,
    /// When it happened.
    pub timestamp: model::Timestamp,
    /// Its distinct id as sent.
    pub distinct_id: String,
    /// `$ai_generation` or `$ai_embedding`.
    pub event: String,
    /// Its `$ai_` properties.
    pub properties: Map<String, Value>,
}

/// One person as reports see it now.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonView {
    /// The person id: the smallest distinct id of the set (events.md §5.1).
    pub person_id: String,
    /// Every distinct id of the person, sorted.
    pub distinct_ids: Vec<String>,
    /// Whether an identify or merge made the person identified.
    pub identified: bool,
    /// Current properties after `$set`, `$set_once`, `$unset` and persons imports.
    pub properties: Map<String, Value>,
}

/// What a quarantine replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Quarantined inputs looked at.
    pub examined: u64,
    /// Inputs that pass today's rules and were appended (or would be, in a dry run).
    pub replayed: u64,
    /// Inputs still refused, by reason.
    pub still_rejected: BTreeMap<&'static str, u64>,
    /// Inputs whose form cannot be re-validated from the quarantine (CSV and Parquet rows, persons records).
    pub not_replayable: u64,
}

fn query_matches(query: &EventQuery, e: &Event) -> bool {
    !(query.uuid.is_some_and(|u| u != e.uuid)
        || query
            .distinct_id
            .as_ref()
            .is_some_and(|d| d != e.distinct_id())
        || query.event.as_ref().is_some_and(|n| n != e.event())
        || (!query.distinct_ids.is_empty()
            && !query.distinct_ids.iter().any(|d| d == e.distinct_id())))
}

impl Engine {
    /// Every AI event of `project` from day `from` through day `to` (UTC, inclusive; `None` for no bound), in
    /// (timestamp, uuid) order, handed to `each` with its `$ai_` properties.
    ///
    /// # Errors
    /// Store errors, and what `each` returns. Memory is bounded by one day's AI events.
    pub fn for_each_ai_event(
        &self,
        project: &str,
        from: Option<model::Day>,
        to: Option<model::Day>,
        mut each: impl FnMut(&AiEvent) -> Result<()>,
    ) -> Result<u64> {
        self.flush()?;
        let filter = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let mut segments: Vec<(model::Day, std::path::PathBuf)> = self.with_store(|s| {
            s.segments(&filter)
                .into_iter()
                .filter_map(|e| Some((model::Day::parse(&e.day)?, s.path_of(&e.file))))
                .filter(|(d, _)| from.is_none_or(|f| *d >= f) && to.is_none_or(|t| *d <= t))
                .collect()
        });
        segments.sort_by_key(|s| s.0);
        let keys = ["$ai_*".to_string()];
        let mut n = 0u64;
        let mut i = 0;
        while i < segments.len() {
            let day = segments[i].0;
            let mut found: Vec<AiEvent> = Vec::new();
            while i < segments.len() && segments[i].0 == day {
                store::segment::for_each(&segments[i].1, |e| {
                    if report::economics::is_ai_event(e.event()) {
                        found.push(AiEvent {
                            uuid: e.uuid,
                            timestamp: e.timestamp,
                            distinct_id: e.distinct_id().to_string(),
                            event: e.event().to_string(),
                            properties: crate::reports::parse_object_keys(e.properties(), &keys),
                        });
                    }
                })?;
                i += 1;
            }
            found.sort_by_key(|e| (e.timestamp.0, e.uuid.as_u128()));
            for e in &found {
                each(e)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Events of `project` matching `query`.
    ///
    /// # Errors
    /// Store errors; a damaged segment is an error here, since the answer would be incomplete.
    ///
    /// Memory is bounded by the page: segments are read one at a time and a few thousand events at a time, newest
    /// day first (a segment holds one UTC day), only the newest `limit` matches are kept, and once more than `limit`
    /// have matched the older days are not read at all.
    pub fn events(&self, project: &str, query: &EventQuery) -> Result<EventPage> {
        self.flush()?;
        let limit = if query.limit == 0 { 100 } else { query.limit };
        let filter = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let mut segments: Vec<(String, std::path::PathBuf)> = self.with_store(|s| {
            s.segments(&filter)
                .into_iter()
                .map(|e| (e.day.clone(), s.path_of(&e.file)))
                .collect()
        });
        segments.sort_by(|a, b| b.0.cmp(&a.0));
        // The newest matches by (timestamp, uuid); a flush leaves one stored copy per uuid, and should two meet
        // anyway the smaller digest wins (events.md §2.3).
        let mut kept: BTreeMap<(i64, u128), Event> = BTreeMap::new();
        let mut key_of: FxHashMap<Uuid, (i64, u128)> = FxHashMap::default();
        let mut matched = 0usize;
        let mut i = 0;
        while i < segments.len() {
            let day = segments[i].0.clone();
            if matched > limit {
                break;
            }
            while i < segments.len() && segments[i].0 == day {
                store::segment::for_each(&segments[i].1, |e| {
                    if !query_matches(query, &e) {
                        return;
                    }
                    match key_of
                        .get(&e.uuid)
                        .and_then(|k| kept.get(k).map(|old| (*k, old)))
                    {
                        Some((_, old)) if old.digest <= e.digest => return,
                        Some((k, _)) => {
                            kept.remove(&k);
                        }
                        None => matched += 1,
                    }
                    let key = (e.timestamp.0, e.uuid.as_u128());
                    key_of.insert(e.uuid, key);
                    kept.insert(key, e);
                    if kept.len() > limit
                        && let Some((_, dropped)) = kept.pop_first()
                    {
                        key_of.remove(&dropped.uuid);
                    }
                })?;
                i += 1;
            }
        }
        Ok(EventPage {
            events: kept.into_values().collect(),
            truncated: matched > limit,
        })
    }

    /// The person of `distinct_id`, or `None` when the id has no person: it never appeared, or only in personless
    /// events (events.md §5.6).
    ///
    /// # Errors
    /// Store errors.
    pub fn person(&self, project: &str, distinct_id: &str) -> Result<Option<PersonView>> {
        self.flush()?;
        let identity = self.identity(project, None)?;
        let distinct_ids = identity.members(distinct_id);
        let seen = identity.is_merged(distinct_id)
            || self
                .events(
                    project,
                    &EventQuery {
                        distinct_ids: distinct_ids.clone(),
                        limit: usize::MAX,
                        ..EventQuery::default()
                    },
                )?
                .events
                .iter()
                .any(|e| !e.typed.personless);
        if !seen {
            return Ok(None);
        }
        let person_id = identity.person_of(distinct_id).to_string();
        let persons: FxHashMap<String, u32> = [(person_id.clone(), 0)].into_iter().collect();
        let properties = self
            .person_properties(project, &identity, &persons, i64::MAX)?
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(Some(PersonView {
            identified: identity.is_identified(distinct_id),
            person_id,
            distinct_ids,
            properties,
        }))
    }

    /// Re-validates the quarantined inputs of `project` (optionally of one reason) under today's rules and appends
    /// those that pass through the WAL (events.md §9). The quarantine keeps its records; replaying again stores
    /// nothing twice, since replayed events get the same uuids.
    ///
    /// # Errors
    /// Store errors reading the quarantine; WAL errors appending.
    pub fn replay_quarantine(
        &self,
        project: &str,
        reason: Option<RejectReason>,
        dry_run: bool,
    ) -> Result<ReplaySummary> {
        let p = model::Project::new(project).map_err(|e| Error::Invalid(e.to_string()))?;
        self.flush()?;
        let rows = self.with_store(|s| s.read_rejections(Some(project)))?;
        let mut summary = ReplaySummary::default();
        let mut accepted = Vec::new();
        for (_, r) in rows {
            if reason.is_some_and(|x| x != r.reason) {
                continue;
            }
            summary.examined += 1;
            if r.reason == RejectReason::InvalidPerson {
                summary.not_replayable += 1;
                continue;
            }
            match ingest::http::replay(&p, &r.raw, &r.source, r.received_at) {
                ingest::http::Replayed::Accepted(e) => {
                    summary.replayed += 1;
                    accepted.push(*e);
                }
                ingest::http::Replayed::Rejected { reason, .. } => {
                    *summary.still_rejected.entry(reason.code()).or_default() += 1;
                }
                ingest::http::Replayed::NotReplayable(_) => summary.not_replayable += 1,
            }
        }
        if !dry_run {
            for chunk in accepted.chunks(10_000) {
                let batch = model::EventBatch::new(p.clone(), chunk.to_vec(), Vec::new());
                self.append(model::Record::Events(batch))?;
            }
        }
        tracing::info!(project, ?summary, dry_run, "replayed quarantine");
        Ok(summary)
    }

    /// Deletes quarantined inputs received before `before`, optionally of one project (events.md §9); returns how
    /// many.
    ///
    /// # Errors
    /// Store errors; nothing is deleted on error.
    pub fn purge_quarantine(&self, project: Option<&str>, before: model::Timestamp) -> Result<u64> {
        self.flush()?;
        Ok(self.lock().purge_quarantine(project, before)?)
    }

    /// Every quarantined input, with its project, oldest first; of one project when given.
    ///
    /// # Errors
    /// Store errors (a damaged side file).
    pub fn rejections(&self, project: Option<&str>) -> Result<Vec<(String, Rejection)>> {
        self.flush()?;
        Ok(self.lock().read_rejections(project)?)
    }

    /// Quarantined inputs of `project`, optionally of one reason, oldest first, with the total before `limit` and
    /// the counts by reason.
    ///
    /// The counts come from the manifest and only the side files the page shows are read, so a page of a large
    /// quarantine costs its own files in memory and time.
    ///
    /// # Errors
    /// Store errors (a damaged side file).
    pub fn quarantine(
        &self,
        project: &str,
        reason: Option<RejectReason>,
        limit: usize,
    ) -> Result<(Vec<Rejection>, usize, BTreeMap<&'static str, u64>)> {
        self.flush()?;
        let (page, counts) =
            self.with_store(|s| s.rejection_page(project, reason.map(RejectReason::code), limit))?;
        let by_reason: BTreeMap<&'static str, u64> = counts
            .iter()
            .filter_map(|(code, n)| Some((RejectReason::from_code(code)?.code(), *n)))
            .collect();
        let total = match reason {
            Some(r) => by_reason.get(r.code()).copied().unwrap_or(0),
            None => by_reason.values().sum(),
        };
        Ok((page, total as usize, by_reason))
    }
}
