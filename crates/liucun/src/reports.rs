//! Running reports: the engine resolves a plan, scans exactly the segments (days and columns) it needs, resolves
//! distinct ids to persons through the identity map, and hands plain tables to `report`.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use model::{Day, Timestamp};
use rayon::prelude::*;
use report::numeric::Num;
use report::table::{DataProvenance, EventTable, NumericColumn, PaymentRow, Scan};
use report::{Kind, Limits, Report, Request, RetentionParams, RetentionReport};
use serde_json::{Map, Value};
use store::ScanFilter;
use store::segment::{ScanChunk, ScanWant};

use crate::rows::{Rooted, RunCursor};
use crate::{Engine, Error, IdentityMap, Result};

/// Tables kept in memory for repeated reports.
const TABLE_CACHE_ENTRIES: usize = 8;

/// What a cached table was loaded for: the project, the manifest generation it was read at, and the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableKey {
    project: String,
    generation: u64,
    scan: Scan,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The kind of the report checked.
    pub kind: Kind,
    /// Whether every number, label and the fingerprint match.
    pub matches: bool,
    /// Each difference, by JSON path.
    pub differences: Vec<String>,
    /// The fingerprint recomputed from the data.
    pub recomputed_fingerprint: String,
}

impl Engine {
    /// Computes a report of any kind. Unflushed events are flushed first so the report sees everything
    /// acknowledged. The projects' stored settings fill what the request leaves out (time zone, week start,
    /// non-activity events, test-account filters) and are echoed in the report's parameters.
    ///
    /// # Errors
    /// [`Error::Report`] for invalid parameters (naming the field) or a report past the engine's limits, store
    /// errors for damaged data.
    pub fn report(&self, request: Request, now: Timestamp) -> Result<Report> {
        self.report_within(request, now, None)
    }

    /// [`Engine::report`] that stops with [`report::Error::TimedOut`] once `deadline` has passed, checking between
    /// segments, tables, projects and series; a table cut short is not cached.
    ///
    /// # Errors
    /// As [`Engine::report`], and [`Error::Report`] with [`report::Error::TimedOut`] past the deadline.
    pub fn report_within(
        &self,
        mut request: Request,
        now: Timestamp,
        deadline: Option<std::time::Instant>,
    ) -> Result<Report> {
        self.flush()?;
        request.apply_settings(&crate::settings::load(&self.dir)?)?;
        let limits = Limits {
            deadline,
            ..self.report_limits()
        };
        let planned = request.plan(now.0, &limits)?;
        let scan = planned.scan();
        let mut tables = Vec::new();
        for project in planned.projects() {
            limits.check_time()?;
            tables.push(self.cached_table(project, &scan, &limits)?);
        }
        let tables: Vec<&EventTable> = tables.iter().map(|t| t.as_ref()).collect();
        Ok(planned.run(&tables, &limits)?)
    }

    /// Lists the persons behind a funnel's numbers (funnels.md §12): the funnel's parameters plus the selection keys
    /// (`step`, `breakdown_value`, `other`, `entrance_period`, `dropped_off`, `limit`, `offset`), as one object.
    ///
    /// # Errors
    /// As [`Engine::report`].
    pub fn funnel_persons(
        &self,
        params: &Value,
        now: Timestamp,
        deadline: Option<std::time::Instant>,
    ) -> Result<Value> {
        self.flush()?;
        let (funnel, selection) = report::funnels::params::split_persons(params)?;
        let mut request = Request::Funnels(funnel);
        request.apply_settings(&crate::settings::load(&self.dir)?)?;
        let limits = Limits {
            deadline,
            ..self.report_limits()
        };
        let report::Planned::Funnels(plan) = request.plan(now.0, &limits)? else {
            unreachable!("a funnel request plans a funnel")
        };
        let mut scan = report::Planned::Funnels(plan.clone()).scan();
        scan.person_ids = true;
        let mut tables = Vec::new();
        for project in &plan.params.common.projects {
            limits.check_time()?;
            tables.push(self.cached_table(project, &scan, &limits)?);
        }
        let tables: Vec<&EventTable> = tables.iter().map(|t| t.as_ref()).collect();
        Ok(report::funnels::persons::list(&plan, &tables, &selection, &limits)?.to_json())
    }

    /// Computes a retention report: [`Engine::report`] for retention parameters.
    ///
    /// # Errors
    /// As [`Engine::report`].
    pub fn retention(&self, params: RetentionParams, now: Timestamp) -> Result<RetentionReport> {
        match self.report(Request::Retention(params), now)? {
            Report::Retention(r) => Ok(r),
            _ => unreachable!("a retention request gives a retention report"),
        }
    }

    /// Recomputes a published report of any kind from its own `parameters` and compares every field.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the JSON is not a report liucun computes, or its parameters are invalid.
    pub fn verify(&self, published: &Value) -> Result<Verification> {
        let kind_name = published
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Invalid("not a report: it has no `kind`".into()))?;
        let kind = Kind::parse(kind_name).ok_or_else(|| {
            Error::Invalid(format!(
                "`kind` {kind_name:?} is not a report liucun computes; kinds are {}",
                Kind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let params = published
            .get("parameters")
            .ok_or_else(|| Error::Invalid("the report has no `parameters` object".into()))?;
        let request = Request::from_json(kind, params)?;
        if request.common().as_of.is_none() {
            return Err(Error::Invalid(
                "parameters.as_of is missing; a report always records it".into(),
            ));
        }
        let report = self.report(request, Timestamp(0))?;
        let recomputed = report.to_json();
        let differences = report::verify::diff(published, &recomputed);
        Ok(Verification {
            kind,
            matches: differences.is_empty(),
            differences,
            recomputed_fingerprint: report.provenance().data_fingerprint.clone(),
        })
    }

    /// A table from the in-memory cache, or loaded and cached. The key holds the manifest generation, so any
    /// commit (flush, compaction) invalidates it, and the whole scan description, so a table is reused only for a
    /// report that reads exactly what it holds.
    fn cached_table(&self, project: &str, scan: &Scan, limits: &Limits) -> Result<Arc<EventTable>> {
        let generation = self.with_store(|s| s.manifest().generation);
        let key = TableKey {
            project: project.to_string(),
            generation,
            scan: scan.clone(),
        };
        if let Some(t) = self
            .table_cache()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| t.clone())
        {
            return Ok(t);
        }
        let table = Arc::new(self.load_table(project, scan, limits)?);
        let mut cache = self.table_cache();
        cache.retain(|(k, _)| k.generation == generation);
        if cache.len() >= TABLE_CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push((key, table.clone()));
        Ok(table)
    }

    /// Projects with at least one stored segment.
    pub fn projects_with_events(&self) -> std::collections::BTreeSet<String> {
        self.with_store(|s| {
            s.manifest()
                .segments
                .iter()
                .map(|seg| seg.project.clone())
                .collect()
        })
    }

    fn report_limits(&self) -> Limits {
        self.config.report_limits
    }

    fn table_cache(&self) -> std::sync::MutexGuard<'_, Vec<(TableKey, Arc<EventTable>)>> {
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The first and last stored event at or before `as_of` among `segments`: from the manifest's per-segment
    /// bounds, reading the timestamps only of the segments that straddle `as_of`.
    fn event_span(
        &self,
        segments: &[store::SegmentEntry],
        as_of: i64,
    ) -> Result<(Option<i64>, Option<i64>)> {
        let first = segments
            .iter()
            .filter(|s| s.rows > 0 && s.min_ts <= as_of)
            .map(|s| s.min_ts)
            .min();
        let mut last = segments
            .iter()
            .filter(|s| s.rows > 0 && s.max_ts <= as_of)
            .map(|s| s.max_ts)
            .max();
        let want = ScanWant::default();
        for s in segments
            .iter()
            .filter(|s| s.rows > 0 && s.min_ts <= as_of && s.max_ts > as_of)
        {
            if last.is_some_and(|l| l >= s.max_ts) {
                continue;
            }
            for chunk in store::segment::scan(&self.dir().join(&s.file), want)? {
                let m = chunk.ts.iter().copied().filter(|&t| t <= as_of).max();
                last = last.max(m);
            }
        }
        Ok((first, last))
    }

    fn load_table(&self, project: &str, plan: &Scan, limits: &Limits) -> Result<EventTable> {
        self.load_table_as(project, plan, limits, self.config.dense_ids)
    }

    /// [`Engine::load_table`], with persons from dense ids when `dense_ids` allows and the plan permits.
    fn load_table_as(
        &self,
        project: &str,
        plan: &Scan,
        limits: &Limits,
        dense_ids: bool,
    ) -> Result<EventTable> {
        let as_of = Timestamp(plan.as_of);
        let started = std::time::Instant::now();
        let all = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let segments: Vec<store::SegmentEntry> =
            self.with_store(|s| s.segments(&all).into_iter().cloned().collect());
        let first_day = segments.iter().filter_map(|s| Day::parse(&s.day)).min();
        let from_day = match plan.from {
            Some(t) => Timestamp(t).day(),
            None => first_day.unwrap_or(Timestamp(plan.to).day()),
        };
        let to_day = Timestamp(plan.to - 1).day();
        let chosen: Vec<&store::SegmentEntry> = segments
            .iter()
            .filter(|s| Day::parse(&s.day).is_some_and(|d| d >= from_day && d <= to_day))
            .collect();
        let (first_event, last_event) = self.event_span(&segments, plan.as_of)?;
        // Persons from dense ids, unless the table must name persons by their ids (person properties, creation
        // instants, listings), which the text identity map does.
        let dense = match dense_ids
            && !plan.person_properties
            && !plan.created_at
            && !plan.person_ids
        {
            // Derived data: when it cannot be had (a full disk, say), the report resolves ids as text.
            true => self
                .dense_ids(project, &chosen, plan.as_of)
                .unwrap_or_else(|e| {
                    tracing::warn!(project, error = %e, "dense ids unavailable; resolving ids as text");
                    None
                }),
            false => None,
        };
        let identity = match dense {
            Some(_) => IdentityMap::default(),
            None => self.identity(project, Some(as_of))?,
        };
        let identity_ms = started.elapsed().as_secs_f64() * 1e3;
        let mut data = DataProvenance {
            days: (from_day <= to_day).then(|| (from_day.to_string(), to_day.to_string())),
            identity_digest: match &dense {
                Some(d) => d.persons.identity_digest,
                None => identity.digest(),
            },
            first_event,
            last_event,
            read_until: plan.to,
            ..DataProvenance::default()
        };
        for s in &chosen {
            data.events_in_scope += s.rows;
            let mut d = model::Digest::default();
            for (i, b) in (0..32).zip(hex_bytes(&s.digest_sum)) {
                d.0[i] = b;
            }
            let mut sum = model::Digest(data.digest_sum);
            sum.add_mod(&d);
            data.digest_sum = sum.0;
        }
        // The property keys a report reads, when not all: the scan's (event filters, breakdowns) and property
        // math's numeric ones; with no other use of properties, only the numeric keys.
        let property_keys: Option<Vec<String>> = match (&plan.property_keys, plan.event_properties)
        {
            _ if plan.numeric.is_empty() => plan.property_keys.clone(),
            (_, false) => Some(plan.numeric.clone()),
            (Some(keys), true) => {
                let mut all: Vec<String> = keys.iter().chain(&plan.numeric).cloned().collect();
                all.sort();
                all.dedup();
                Some(all)
            }
            (None, true) => None,
        };
        let want = ScanWant {
            properties: plan.event_properties || !plan.numeric.is_empty(),
            property_events: plan.property_events.as_deref(),
            uuid: plan.uuid,
            payments: plan.payments,
            skip_distinct_ids: dense.is_some(),
        };
        let dir = self.dir().to_path_buf();
        // Costs: the price tables load once; each segment's costs are read from the store's cache or derived.
        let costing = match &plan.costs {
            None => None,
            Some(c) => {
                let tables = c.tables()?;
                let digest = tables.digest();
                self.with_store(|s| s.touch_costs(&digest, crate::costs::KEEP_COSTINGS));
                let (paths, write) = self.with_store(|st| {
                    let paths: Vec<Option<std::path::PathBuf>> = chosen
                        .iter()
                        .map(|s| st.costs_path(&s.file, &digest))
                        .collect();
                    (paths, !st.is_read_only())
                });
                Some((tables, digest, paths, write))
            }
        };
        // Segments read at hour grain (one row per person, hour and name; docs/formats/ids.md): when the kind allows
        // it, the persons come from dense ids, nothing per event is loaded, and no bound of the range cuts an hour
        // of the segment.
        let hour_grain = plan.hour_grain
            && dense.is_some()
            && !plan.uuid
            && !plan.event_properties
            && plan.numeric.is_empty()
            && !plan.payments
            && plan.costs.is_none();
        let hour_paths: Vec<(std::path::PathBuf, bool)> = match hour_grain {
            true => self.with_store(|st| {
                chosen
                    .iter()
                    .map(|s| (st.hours_path(&s.file), !st.is_read_only()))
                    .collect()
            }),
            false => Vec::new(),
        };
        let whole_hours = |s: &store::SegmentEntry| {
            [plan.from, Some(plan.to), plan.as_of.checked_add(1)]
                .into_iter()
                .flatten()
                // A bound on an hour, or before the hour of the segment's first event (its rows are stamped at
                // their hour's start), or after its last event.
                .all(|b| {
                    let hour = report::table::HOUR_US;
                    b.rem_euclid(hour) == 0
                        || b <= s.min_ts - s.min_ts.rem_euclid(hour)
                        || b > s.max_ts
                })
        };
        // Per-period person sets instead of rows, for a report they answer (Scan::periods): when dense ids give the
        // persons and the sets are no bigger than the rows would be (decided once the rows are counted, below).
        let period_scan = plan.periods.as_ref().filter(|_| {
            dense.is_some()
                && !plan.uuid
                && !plan.event_properties
                && plan.numeric.is_empty()
                && !plan.payments
                && plan.costs.is_none()
        });
        let bound = dense.as_ref().map_or(0, |d| d.bound());
        // A segment's chunks, costs, runs of its hour rows, or (for sets) its activity-by-hour file itself.
        type Scanned = (
            Vec<ScanChunk>,
            Option<model::RowCosts>,
            Option<Vec<(u32, u32)>>,
            Option<store::ids::HoursFile>,
        );
        let scanned: Vec<Result<Scanned>> = chosen
            .par_iter()
            .enumerate()
            .map(|(k, s)| match limits.check_time() {
                // Past the deadline, the remaining segments are skipped and the report stops below.
                Err(_) => Ok((Vec::new(), None, None, None)),
                Ok(()) => {
                    let path = dir.join(&s.file);
                    if let Some(d) = dense.as_ref().filter(|_| hour_grain && whole_hours(s)) {
                        let source = store::ids::RunsSource {
                            segment_digest: &s.digest_sum,
                            rows: s.rows,
                            epoch: 0,
                        };
                        let (hours_path, write) = &hour_paths[k];
                        if period_scan.is_some()
                            && let Some(file) =
                                crate::ids::checked_hours(hours_path, &source, &d.runs[k])
                        {
                            return Ok((Vec::new(), None, None, Some(file)));
                        }
                        if let Some((chunk, runs)) = crate::ids::segment_hours_chunk(
                            &path, hours_path, &source, &d.runs[k], *write,
                        )? {
                            return Ok((vec![chunk], None, Some(runs), None));
                        }
                    }
                    let mut chunks = store::segment::scan(&path, want)?;
                    if let Some(keys) = property_keys.as_deref() {
                        // Only these keys are read below: the rest of each text goes now, while one segment is in
                        // hand, so a report never holds the whole properties of every event it reads at once.
                        for c in &mut chunks {
                            for text in c.properties.iter_mut().filter(|t| !t.is_empty()) {
                                *text = narrow_object(text, keys);
                            }
                        }
                    }
                    let costs = match &costing {
                        None => None,
                        Some((tables, digest, paths, write)) => Some(crate::costs::segment_costs(
                            &path,
                            paths[k].as_deref(),
                            &store::costs::Source {
                                segment_digest: s.digest_sum.clone(),
                                rows: s.rows,
                                pricing: digest.clone(),
                            },
                            tables,
                            *write,
                        )?),
                    };
                    Ok((chunks, costs, None, None))
                }
            })
            .collect();
        // Sets when all rows (chunks' and files' entries) pay for them; otherwise files become chunks.
        let all_rows: usize = scanned
            .iter()
            .flatten()
            .map(|(c, _, _, f)| {
                c.iter().map(|c| c.ts.len()).sum::<usize>() + f.as_ref().map_or(0, |f| f.len())
            })
            .sum();
        // The per-id state beside the sets (roots' persons and flags, a few bytes per dense id) must not outweigh the
        // rows either, as for the rows' own per-id facts.
        let set_parts = period_scan
            .filter(|_| bound <= all_rows)
            .and_then(|ps| report::table::PeriodSets::parts(ps.starts.len(), bound, all_rows));
        // Per segment read from its activity-by-hour file: the file.
        let mut hour_files: Vec<Option<store::ids::HoursFile>> =
            (0..chosen.len()).map(|_| None).collect();
        // Per segment read at hour grain, the runs of dense ids of its rows.
        let mut hour_runs: Vec<Option<Vec<(u32, u32)>>> = vec![None; chosen.len()];
        limits.check_time()?;
        let mut chunks = Vec::new();
        // Per segment its costs, their keys renumbered into the table's; per chunk its segment and first row there.
        let mut seg_costs: Vec<(model::RowCosts, Vec<u32>)> = Vec::new();
        let mut chunk_at: Vec<(usize, usize)> = Vec::new();
        let mut cost_keys: Vec<model::CostKey> = Vec::new();
        let mut cost_ids = FxHashMap::default();
        for (k, c) in scanned.into_iter().enumerate() {
            let (mut c, costs, mut runs, file) = c?;
            if let (Some(file), Some(d)) = (file, &dense) {
                if set_parts.is_some() {
                    hour_files[k] = Some(file);
                } else {
                    let source = store::ids::RunsSource {
                        segment_digest: &chosen[k].digest_sum,
                        rows: chosen[k].rows,
                        epoch: 0,
                    };
                    let (chunk, rows) = crate::ids::file_chunk(file, &source, &d.runs[k])
                        .ok_or_else(|| short_runs(&dir, chosen[k]))?;
                    (c, runs) = (vec![chunk], Some(rows));
                }
            }
            hour_runs[k] = runs;
            let rows: usize = c.iter().map(|c| c.ts.len()).sum();
            let mut at = 0;
            for chunk in &c {
                chunk_at.push((seg_costs.len(), at));
                at += chunk.ts.len();
            }
            chunks.extend(c);
            let costs = costs.unwrap_or_default();
            if plan.costs.is_some() && costs.len() != rows {
                return Err(Error::Store(store::Error::Corruption {
                    path: dir.join(&chosen[k].file),
                    offset: 0,
                    reason: format!("{} costs for {rows} rows", costs.len()),
                }));
            }
            let map = crate::costs::renumber(&costs.keys, &mut cost_keys, &mut cost_ids);
            seg_costs.push((costs, map));
        }
        let scanned_ms = started.elapsed().as_secs_f64() * 1e3;

        // Dense persons and names; each dictionary value of each chunk is resolved once.
        let mut persons: FxHashMap<String, u32> = FxHashMap::default();
        let mut names: FxHashMap<String, u32> = FxHashMap::default();
        let mut table = EventTable {
            project: project.to_string(),
            data,
            numeric: plan
                .numeric
                .iter()
                .map(|key| NumericColumn {
                    key: key.clone(),
                    values: Vec::new(),
                })
                .collect(),
            ..EventTable::default()
        };
        table.costs.keys = cost_keys;
        let names_kept: Option<Vec<String>> = plan.events.as_ref().map(|e| {
            let mut e = e.clone();
            e.sort();
            e
        });
        let mut all_personless: Vec<bool> = Vec::new();
        // Per person, events in the range read, of every name (the name filter keeps fewer rows in the table).
        let mut in_range: Vec<u64> = Vec::new();
        let mut merged: Vec<bool> = Vec::new();
        let lo = plan.from.unwrap_or(i64::MIN);
        // Dictionary key → person, resolved lazily (a chunk uses only part of its row group's dictionary) and kept
        // while consecutive chunks share one dictionary.
        let mut person_of: Vec<u32> = Vec::new();
        let mut dict: Option<&store::segment::TextDict> = None;
        // With dense ids: each person's table number by its smallest dense id, and where each segment's runs are.
        let mut person_of_root: Vec<u32> = Vec::new();
        let mut n_persons = 0usize;
        let mut cursor = RunCursor::default();
        // The last (person's root, person) seen.
        let mut last = (u32::MAX, 0u32);
        // Each segment's row runs with each id replaced by its person's root, and whether the id is in a merge: one
        // parallel pass of independent lookups, so the sequential loop below misses the cache once per run, not
        // twice.
        let rooted: Vec<Rooted> = match &dense {
            Some(dn) => (0..chosen.len())
                .into_par_iter()
                .map(|seg| {
                    let runs = hour_runs[seg].as_deref().unwrap_or(&dn.runs[seg]);
                    (
                        runs.iter().map(|&(d, n)| (dn.root(d), n)).collect(),
                        runs.iter().map(|&(d, _)| dn.merged(d)).collect(),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        // At most every scanned row is kept: reserve once instead of regrowing (untouched capacity costs no pages).
        let upper: usize = chunks.iter().map(|c| c.ts.len()).sum();
        table.person.reserve(upper);
        table.ts.reserve(upper);
        table.name.reserve(upper);
        if plan.uuid {
            table.uuid.reserve(upper);
        }
        if plan.payments {
            table.payments.reserve(upper);
        }
        if plan.costs.is_some() {
            table.costs.key.reserve(upper);
            table.costs.nano.reserve(upper);
        }
        // Per chunk: the scan's event-name filter per dictionary entry, and each entry's table number.
        // Whether the scan's event-name filter keeps a name.
        let kept = |n: &String| {
            names_kept
                .as_ref()
                .is_none_or(|e| e.binary_search(n).is_ok())
        };
        let chunk_names: Vec<(Vec<bool>, Vec<u32>)> = chunks
            .iter()
            .map(|c| {
                let wanted = c.names.iter().map(kept).collect();
                let name_of = c
                    .names
                    .iter()
                    .map(|n| {
                        let next = names.len() as u32;
                        *names.entry(n.clone()).or_insert_with(|| {
                            table.names.push(n.clone());
                            next
                        })
                    })
                    .collect();
                (wanted, name_of)
            })
            .collect();
        // The names of segments read from their activity-by-hour files are the table's too (notes name what was
        // read).
        for n in hour_files.iter().flatten().flat_map(|f| &f.names) {
            if !names.contains_key(n) {
                names.insert(n.clone(), table.names.len() as u32);
                table.names.push(n.clone());
            }
        }
        // In parallel, facts are kept per dense id (16 bytes each): only when the rows outnumber the project's ids,
        // so that they cost less than the table itself (sets ask the same).
        let parallel = set_parts.is_some()
            || (dense.is_some() && !plan.payments && plan.costs.is_none() && upper >= bound);
        if dense.is_some() && !parallel {
            person_of_root = vec![u32::MAX; bound];
        }
        let chunk_seg: Vec<usize> = chunk_at.iter().map(|&(seg, _)| seg).collect();
        let rows_in = crate::rows::RowsIn {
            chunks: &chunks,
            chunk_seg: &chunk_seg,
            rooted: &rooted,
            names: &chunk_names,
            bound,
            as_of: plan.as_of,
            range: lo..plan.to,
            uuid: plan.uuid,
        };
        let short = |seg: usize| short_runs(&dir, chosen[seg]);
        let check = || limits.check_time().map_err(Error::from);
        // With sets, persons are numbered by their roots: the sets and each root's flags in one pass, and the
        // personless persons taken out of the sets below.
        let mut dense_sets = None;
        if let (Some(ps), Some(parts)) = (period_scan, set_parts) {
            let grid = ps.grid();
            // Each name's roles, none for a name the table leaves out.
            let roles_of = |names: &[String]| -> Vec<(bool, bool)> {
                ps.roles(names)
                    .into_iter()
                    .zip(names)
                    .map(|(r, n)| if kept(n) { r } else { (false, false) })
                    .collect()
            };
            let roles: Vec<Vec<(bool, bool)>> = chunks.iter().map(|c| roles_of(&c.names)).collect();
            let files: Vec<Option<crate::rows::HourFileIn>> = hour_files
                .into_iter()
                .zip(&chosen)
                .map(|(f, s)| {
                    f.map(|file| crate::rows::HourFileIn {
                        roles: roles_of(&file.names),
                        rows: s.rows,
                        file,
                    })
                })
                .collect();
            let sets_in = crate::rows::SetsIn {
                grid: &grid,
                roles: &roles,
                files: &files,
                parts,
                personless_counts: plan.personless == report::params::Personless::Exclude,
            };
            let d = crate::rows::dense_sets(&rows_in, &sets_in, short, check)?;
            use crate::rows::Flag;
            n_persons = bound;
            person_of_root = (0..bound)
                .map(|r| {
                    if d.has(r, Flag::Seen) {
                        r as u32
                    } else {
                        u32::MAX
                    }
                })
                .collect();
            merged = (0..bound).map(|r| d.has(r, Flag::Merged)).collect();
            all_personless = (0..bound)
                .map(|r| d.has(r, Flag::Seen) && !d.has(r, Flag::NotPersonless))
                .collect();
            dense_sets = Some(d);
        } else if parallel {
            let rows = crate::rows::dense_rows(&rows_in, short, check)?;
            n_persons = rows.merged.len();
            person_of_root = rows.person_of_root;
            merged = rows.merged;
            all_personless = rows.all_personless;
            in_range = rows.in_range;
            table.person = rows.person;
            table.ts = rows.ts;
            table.name = rows.name;
            table.uuid = rows.uuid;
        }
        for (c, (&(seg, base), (wanted, name_of))) in chunks
            .iter()
            .zip(chunk_at.iter().zip(&chunk_names))
            .filter(|_| !parallel)
        {
            limits.check_time()?;
            let (row_costs, cost_map) = &seg_costs[seg];
            if dense.is_some() {
                cursor.enter(seg, &rooted[seg].0);
            } else if !dict.is_some_and(|d| d.is_same(&c.distinct_ids)) {
                person_of.clear();
                person_of.resize(c.distinct_ids.len(), u32::MAX);
                dict = Some(&c.distinct_ids);
            }
            let mut resolve = |k: usize, merged: &mut Vec<bool>| -> u32 {
                let d = c.distinct_ids.get(k);
                let key = identity.person_of(d);
                // Look up before inserting: an owned key would cost an allocation each time.
                let p = match persons.get(key) {
                    Some(&p) => p,
                    None => {
                        let p = persons.len() as u32;
                        persons.insert(key.to_string(), p);
                        merged.push(false);
                        p
                    }
                };
                merged[p as usize] |= identity.is_merged(d);
                p
            };
            let mut pay = 0;
            for i in 0..c.ts.len() {
                let ts = c.ts[i];
                let root = match &dense {
                    Some(_) => Some(
                        cursor
                            .next(&rooted[seg].0)
                            .ok_or_else(|| short_runs(&dir, chosen[seg]))?,
                    ),
                    None => None,
                };
                if ts > plan.as_of {
                    continue;
                }
                let p = match root {
                    Some(r) => {
                        // A segment's rows come in runs of one id: its person is looked up once per run.
                        let p = if r == last.0 {
                            last.1
                        } else {
                            let mut p = person_of_root[r as usize];
                            if p == u32::MAX {
                                p = n_persons as u32;
                                n_persons += 1;
                                person_of_root[r as usize] = p;
                                merged.push(false);
                                all_personless.push(true);
                                in_range.push(0);
                            }
                            last = (r, p);
                            p
                        };
                        if rooted[seg].1[cursor.run] {
                            merged[p as usize] = true;
                        }
                        p
                    }
                    _ => {
                        let k = c.distinct_key[i] as usize;
                        let mut p = person_of[k];
                        if p == u32::MAX {
                            p = resolve(k, &mut merged);
                            person_of[k] = p;
                            if all_personless.len() <= p as usize {
                                all_personless.resize(p as usize + 1, true);
                                in_range.resize(p as usize + 1, 0);
                            }
                        }
                        p
                    }
                };
                all_personless[p as usize] &= c.personless[i];
                if ts < lo || ts >= plan.to {
                    continue;
                }
                in_range[p as usize] += c.weight.get(i).map_or(1, |&w| u64::from(w));
                if !wanted[c.name_key[i] as usize] {
                    continue;
                }
                table.person.push(p);
                table.ts.push(ts);
                if let Some(&u) = c.uuid.get(i) {
                    table.uuid.push(u);
                }
                if plan.payments {
                    // The chunk's payments are in event order: skip those of events left out.
                    while c
                        .payments
                        .get(pay)
                        .is_some_and(|(at, _)| (*at as usize) < i)
                    {
                        pay += 1;
                    }
                    let payment = match c.payments.get(pay) {
                        Some((at, p)) if *at as usize == i => Some(PaymentRow {
                            amount_minor: p.amount_minor,
                            currency: p.currency.clone(),
                            kind: p.kind.clone(),
                            tax_minor: p.tax_minor,
                            fee_minor: p.fee_minor,
                        }),
                        _ => None,
                    };
                    table.push_payment(payment);
                }
                table.name.push(name_of[c.name_key[i] as usize]);
                if plan.costs.is_some() {
                    table.costs.key.push(match row_costs.key[base + i] {
                        model::RowCosts::NONE => model::RowCosts::NONE,
                        k => cost_map[k as usize],
                    });
                    table.costs.nano.push(row_costs.nano[base + i]);
                }
            }
        }
        // Event properties and numbers, per chunk in row order.
        if plan.event_properties || !plan.numeric.is_empty() {
            for (c, (wanted, _)) in chunks.iter().zip(&chunk_names) {
                limits.check_time()?;
                let with_properties: Vec<bool> = c
                    .names
                    .iter()
                    .map(|n| {
                        plan.property_events
                            .as_ref()
                            .is_none_or(|e| e.binary_search(n).is_ok())
                    })
                    .collect();
                let keys = property_keys.as_deref();
                let kept: Vec<Option<&String>> = (0..c.ts.len())
                    .filter(|&i| {
                        c.ts[i] <= plan.as_of
                            && c.ts[i] >= lo
                            && c.ts[i] < plan.to
                            && wanted[c.name_key[i] as usize]
                    })
                    .map(|i| with_properties[c.name_key[i] as usize].then(|| &c.properties[i]))
                    .collect();
                let parsed: Vec<Map<String, Value>> = kept
                    .par_iter()
                    .map(|s| match (s, keys) {
                        (None, _) => Map::new(),
                        (Some(s), None) => parse_object(s),
                        (Some(s), Some(keys)) => parse_object_keys(s, keys),
                    })
                    .collect();
                for (column, key) in table.numeric.iter_mut().zip(&plan.numeric) {
                    column
                        .values
                        .extend(parsed.iter().map(|m| m.get(key).and_then(Num::of)));
                }
                if plan.event_properties {
                    table.properties.extend(parsed);
                }
            }
        }
        table.n_persons = match dense {
            Some(_) => n_persons,
            None => persons.len(),
        };
        if dense_sets.is_none() {
            in_range.resize(table.n_persons, 0);
        }
        tracing::debug!(
            project,
            events = table.ts.len(),
            persons = table.n_persons,
            identity_ms,
            scanned_ms,
            built_ms = started.elapsed().as_secs_f64() * 1e3,
            "report table loaded"
        );

        // Personless persons: every event up to as_of personless and no id in a merge (retention.md §5.4, §15.1).
        // Events outside the days read can clear the flag, so when a candidate remains, the other days are read too.
        // Per person: left out as personless (empty when nobody is).
        let mut excluded: Vec<bool> = Vec::new();
        if plan.personless == report::params::Personless::Exclude {
            let candidate = |p: usize| all_personless[p] && !merged[p];
            if (0..table.n_persons).any(candidate) {
                let as_of_day = as_of.day();
                let others: Vec<&store::SegmentEntry> = segments
                    .iter()
                    .filter(|s| {
                        Day::parse(&s.day)
                            .is_some_and(|d| d <= as_of_day && (d < from_day || d > to_day))
                    })
                    .collect();
                let other_ids = match dense {
                    Some(_) => self
                        .dense_ids(project, &others, plan.as_of)
                        .unwrap_or_else(|e| {
                            tracing::warn!(project, error = %e, "dense ids unavailable; resolving ids as text");
                            None
                        }),
                    None => None,
                };
                if dense.is_some()
                    && other_ids.as_ref().map(|o| o.epoch) != dense.as_ref().map(|d| d.epoch)
                {
                    // The days read were resolved from dense ids and the others cannot be (a read-only engine
                    // missing their files): the table is built again resolving ids as text.
                    return self.load_table_as(project, plan, limits, false);
                }
                let want = ScanWant {
                    skip_distinct_ids: other_ids.is_some(),
                    ..ScanWant::default()
                };
                let scanned: Vec<std::result::Result<Vec<ScanChunk>, store::Error>> = others
                    .par_iter()
                    .map(|s| store::segment::scan(&dir.join(&s.file), want))
                    .collect();
                for (seg, chunks) in scanned.into_iter().enumerate() {
                    let chunks = chunks?;
                    if let (Some(ids), Some(dn)) = (&other_ids, &dense) {
                        // Persons as the days read named them (the runs share their dictionary).
                        let runs = &ids.runs[seg];
                        let mut cursor = RunCursor::default();
                        cursor.enter(seg, runs);
                        for c in chunks {
                            for i in 0..c.ts.len() {
                                let d = cursor
                                    .next(runs)
                                    .ok_or_else(|| short_runs(&dir, others[seg]))?;
                                if c.ts[i] <= plan.as_of && !c.personless[i] {
                                    let r = dn.root(d) as usize;
                                    if let Some(&p) =
                                        person_of_root.get(r).filter(|&&p| p != u32::MAX)
                                    {
                                        all_personless[p as usize] = false;
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    for c in chunks {
                        let known: Vec<Option<u32>> = (0..c.distinct_ids.len())
                            .map(|k| {
                                persons
                                    .get(identity.person_of(c.distinct_ids.get(k)))
                                    .copied()
                            })
                            .collect();
                        for i in 0..c.ts.len() {
                            if c.ts[i] <= plan.as_of
                                && !c.personless[i]
                                && let Some(p) = known[c.distinct_key[i] as usize]
                            {
                                all_personless[p as usize] = false;
                            }
                        }
                    }
                }
            }
            excluded = (0..table.n_persons)
                .map(|p| all_personless[p] && !merged[p])
                .collect();
            let n_excluded = excluded.iter().filter(|&&x| x).count() as u64;
            if n_excluded > 0 {
                let keep: Vec<bool> = table
                    .person
                    .iter()
                    .map(|&p| !excluded[p as usize])
                    .collect();
                table.data.personless_persons = n_excluded;
                // With sets, in_range is not per person: their personless events are counted below.
                table.data.personless_events = (0..table.n_persons)
                    .filter(|&p| excluded[p])
                    .filter_map(|p| in_range.get(p))
                    .sum();
                for (p, n) in in_range.iter_mut().enumerate() {
                    if excluded[p] {
                        *n = 0;
                    }
                }
                retain(&mut table.person, &keep);
                retain(&mut table.ts, &keep);
                retain(&mut table.uuid, &keep);
                retain(&mut table.name, &keep);
                if !table.payments.is_empty() {
                    retain(&mut table.payments, &keep);
                }
                if !table.costs.is_empty() {
                    retain(&mut table.costs.key, &keep);
                    retain(&mut table.costs.nano, &keep);
                }
                if !table.properties.is_empty() {
                    retain(&mut table.properties, &keep);
                }
                for column in &mut table.numeric {
                    retain(&mut column.values, &keep);
                }
            }
        }
        if let Some(mut d) = dense_sets {
            if excluded.iter().any(|&x| x) {
                let mut gone = vec![0u64; bound.div_ceil(64)];
                for (r, _) in excluded.iter().enumerate().filter(|(_, x)| **x) {
                    gone[r / 64] |= 1 << (r % 64);
                }
                d.sets.remove(&gone);
            }
            let personless_events: u64 = d
                .personless_in_range
                .iter()
                .filter(|(r, _)| excluded.get(*r as usize).copied().unwrap_or(false))
                .map(|(_, n)| n)
                .sum();
            table.data.personless_events = personless_events;
            in_range = vec![d.in_range - personless_events];
            tracing::debug!(
                project,
                bytes = d.sets.bytes(),
                built_ms = started.elapsed().as_secs_f64() * 1e3,
                "report period sets built"
            );
            table.sets = Some(d.sets);
        }
        // What the notes judge the window by: every name, personless persons left out as the table leaves them.
        table.data.in_range = Some(in_range.iter().sum());
        if plan.events.is_some() {
            // The columns were reserved for every scanned row; a filtered table keeps only part of them.
            table.person.shrink_to_fit();
            table.ts.shrink_to_fit();
            table.name.shrink_to_fit();
            table.uuid.shrink_to_fit();
        }
        if plan.person_properties {
            table.person_properties =
                self.person_properties(project, &identity, &persons, plan.as_of)?;
        }
        if plan.created_at {
            table.created_at = self.created_at(project, &identity, &persons, plan.as_of)?;
        }
        if plan.person_ids {
            let groups = identity.groups();
            table.person_ids = vec![Vec::new(); table.n_persons];
            for (key, &p) in &persons {
                table.person_ids[p as usize] = match groups.get(key.as_str()) {
                    Some(ids) => ids.iter().map(|s| s.to_string()).collect(),
                    None => vec![key.clone()],
                };
            }
        }
        Ok(table)
    }

    /// Each person's creation instant (activity.md §3.2 rule 4): the `created_at` of a persons import naming one of
    /// its ids, else its earliest event of any kind up to `as_of`, over all history (`i64::MAX` for neither).
    fn created_at(
        &self,
        project: &str,
        identity: &IdentityMap,
        persons: &FxHashMap<String, u32>,
        as_of: i64,
    ) -> Result<Vec<i64>> {
        let all = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let as_of_day = Timestamp(as_of).day();
        let segments: Vec<store::SegmentEntry> = self.with_store(|s| {
            s.segments(&all)
                .into_iter()
                .filter(|s| Day::parse(&s.day).is_some_and(|d| d <= as_of_day))
                .cloned()
                .collect()
        });
        let dir = self.dir().to_path_buf();
        let earliest: Vec<std::result::Result<Vec<i64>, store::Error>> = segments
            .par_iter()
            .map(|s| {
                let mut out = vec![i64::MAX; persons.len()];
                for c in store::segment::scan(&dir.join(&s.file), ScanWant::default())? {
                    let known: Vec<Option<u32>> = (0..c.distinct_ids.len())
                        .map(|k| {
                            persons
                                .get(identity.person_of(c.distinct_ids.get(k)))
                                .copied()
                        })
                        .collect();
                    for i in 0..c.ts.len() {
                        if c.ts[i] <= as_of
                            && let Some(p) = known[c.distinct_key[i] as usize]
                        {
                            let slot = &mut out[p as usize];
                            *slot = (*slot).min(c.ts[i]);
                        }
                    }
                }
                Ok(out)
            })
            .collect();
        let mut out = vec![i64::MAX; persons.len()];
        for part in earliest {
            for (o, e) in out.iter_mut().zip(part?) {
                *o = (*o).min(e);
            }
        }
        // An imported `created_at` overrides the first-event rule, whatever its time (later than the events too).
        let imports = self.with_store(|s| s.read_persons(Some(project)))?;
        for (_, rec) in imports {
            let Some(created) = rec.created_at else {
                continue;
            };
            for id in &rec.distinct_ids {
                if let Some(&p) = persons.get(identity.person_of(id)) {
                    out[p as usize] = created.0;
                }
            }
        }
        Ok(out)
    }

    /// Folds `$set`, `$set_once` and `$unset` of every event up to `as_of`, and persons imports, into each person's
    /// current properties (events.md §5.4).
    pub(crate) fn person_properties(
        &self,
        project: &str,
        identity: &IdentityMap,
        persons: &FxHashMap<String, u32>,
        as_of: i64,
    ) -> Result<Vec<Map<String, Value>>> {
        let mut out = vec![Map::new(); persons.len()];
        for u in self.property_updates(project, as_of)? {
            let Some(&p) = persons.get(identity.person_of(&u.distinct_id)) else {
                continue;
            };
            fold_update(&mut out[p as usize], &u.props);
        }
        Ok(out)
    }

    /// Every property update of `project` up to `as_of` in fold order: events bearing `$set`, `$set_once`,
    /// `$unset` or a Sensors fold operation, and persons imports (a `$set` at their `updated_at`, before events of
    /// the same instant, in file order).
    pub(crate) fn property_updates(
        &self,
        project: &str,
        as_of: i64,
    ) -> Result<Vec<PropertyUpdate>> {
        let all = ScanFilter {
            projects: vec![project.to_string()],
            days: None,
        };
        let segments: Vec<store::SegmentEntry> =
            self.with_store(|s| s.segments(&all).into_iter().cloned().collect());
        let dir = self.dir().to_path_buf();
        let want = ScanWant {
            properties: true,
            uuid: true,
            ..ScanWant::default()
        };
        let scanned: Vec<std::result::Result<Vec<PropertyUpdate>, store::Error>> = segments
            .par_iter()
            .map(|s| {
                let chunks = store::segment::scan(&dir.join(&s.file), want)?;
                let mut out = Vec::new();
                for c in chunks {
                    for i in 0..c.ts.len() {
                        let props = &c.properties[i];
                        if c.ts[i] > as_of
                            || !(props.contains("\"$set")
                                || props.contains("\"$unset")
                                || props.contains("\"$increment")
                                || props.contains("\"$append"))
                        {
                            continue;
                        }
                        out.push(PropertyUpdate {
                            ts: c.ts[i],
                            from_event: true,
                            uuid: c.uuid[i],
                            line: 0,
                            distinct_id: c.distinct_ids.get(c.distinct_key[i] as usize).to_string(),
                            props: parse_object(props),
                        });
                    }
                }
                Ok(out)
            })
            .collect();
        let mut ordered = Vec::new();
        for s in scanned {
            ordered.extend(s?);
        }
        // Persons imports act as `$set` at their `updated_at`; they sort before events at the same instant, in file
        // order.
        let imports = self.with_store(|s| s.read_persons(Some(project)))?;
        for (n, (_, rec)) in imports.into_iter().enumerate() {
            if rec.updated_at.0 > as_of {
                continue;
            }
            if let Some(first) = rec.distinct_ids.first() {
                let mut m = Map::new();
                m.insert("$set".into(), Value::Object(parse_object(&rec.properties)));
                ordered.push(PropertyUpdate {
                    ts: rec.updated_at.0,
                    from_event: false,
                    uuid: 0,
                    line: n,
                    distinct_id: first.clone(),
                    props: m,
                });
            }
        }
        ordered.sort_by_key(|u| (u.ts, u.from_event, u.uuid, u.line));
        Ok(ordered)
    }
}

/// Folds one update into a person's properties: `$set`, `$set_once`, `$unset`, then the Sensors operations.
pub(crate) fn fold_update(props: &mut Map<String, Value>, m: &Map<String, Value>) {
    if let Some(Value::Object(set)) = m.get("$set") {
        for (k, v) in set {
            props.insert(k.clone(), v.clone());
        }
    }
    if let Some(Value::Object(once)) = m.get("$set_once") {
        for (k, v) in once {
            props.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if let Some(Value::Array(keys)) = m.get("$unset") {
        for k in keys.iter().filter_map(Value::as_str) {
            props.remove(k);
        }
    }
    fold_sensors_ops(props, m);
}

/// The fold operations of Sensors profile messages (events.md §5.4): `$increment`, `$append`, then `$unset_all`.
///
/// An event carries only one of them (each `profile_*` message is its own event), so their order within one event
/// does not arise from the SDKs.
fn fold_sensors_ops(props: &mut Map<String, Value>, m: &Map<String, Value>) {
    if let Some(Value::Object(add)) = m.get("$increment") {
        for (k, v) in add {
            let Value::Number(n) = v else { continue };
            let current = match props.get(k) {
                Some(Value::Number(c)) => c.as_str().to_string(),
                _ => "0".to_string(),
            };
            // Decimal on the number texts; a sum past 38 digits leaves the value as it was.
            if let Some(sum) = ingest::decimal_sum(&current, n.as_str())
                && let Ok(Value::Number(total)) = serde_json::from_str::<Value>(&sum)
            {
                props.insert(k.clone(), Value::Number(total));
            }
        }
    }
    if let Some(Value::Object(lists)) = m.get("$append") {
        for (k, v) in lists {
            let Value::Array(items) = v else { continue };
            let entry = props.entry(k.clone()).or_insert(Value::Array(Vec::new()));
            if !entry.is_array() {
                *entry = Value::Array(Vec::new());
            }
            if let Value::Array(list) = entry {
                for item in items {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
            }
        }
    }
    if m.get("$unset_all") == Some(&Value::Bool(true)) {
        props.clear();
    }
}

/// One `$set` / `$set_once` / `$unset` bearing event, or a persons-import record, in fold order.
#[derive(Debug)]
pub(crate) struct PropertyUpdate {
    pub(crate) ts: i64,
    /// Imports sort before events at the same instant.
    from_event: bool,
    uuid: u128,
    /// File order of imports.
    line: usize,
    pub(crate) distinct_id: String,
    pub(crate) props: Map<String, Value>,
}

/// The object's entries whose key is one of `keys` (an entry ending in `*` is a prefix); the other values are
/// skipped without being built. Not an object, or not JSON: empty.
pub(crate) fn parse_object_keys(text: &str, keys: &[String]) -> Map<String, Value> {
    use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};

    fn kept(keys: &[String], key: &str) -> bool {
        keys.iter().any(|k| match k.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => k == key,
        })
    }
    struct Key<'k>(&'k [String]);
    impl<'de> DeserializeSeed<'de> for Key<'_> {
        type Value = Option<String>;
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> std::result::Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
    }
    impl Visitor<'_> for Key<'_> {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a property name")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            Ok(kept(self.0, v).then(|| v.to_owned()))
        }
    }
    struct Object<'k>(&'k [String]);
    impl<'de> Visitor<'de> for Object<'_> {
        type Value = Map<String, Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut a: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut m = Map::new();
            while let Some(key) = a.next_key_seed(Key(self.0))? {
                match key {
                    Some(k) => {
                        m.insert(k, a.next_value::<Value>()?);
                    }
                    None => {
                        a.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(m)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    match de
        .deserialize_map(Object(keys))
        .and_then(|m| de.end().map(|()| m))
    {
        Ok(m) => m,
        Err(_) => Map::new(),
    }
}

/// The object's text with only the entries [`parse_object_keys`] keeps, so that reading it again with the same keys
/// gives the same entries.
fn narrow_object(text: &str, keys: &[String]) -> String {
    Value::Object(parse_object_keys(text, keys)).to_string()
}

fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn short_runs(dir: &std::path::Path, s: &store::SegmentEntry) -> Error {
    Error::Store(store::Error::Corruption {
        path: dir.join(&s.file),
        offset: 0,
        reason: "it has more rows than its dense-id runs cover".into(),
    })
}

fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        let k = keep[i];
        i += 1;
        k
    });
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {

    use super::{narrow_object, parse_object, parse_object_keys};

    #[test]
    fn only_the_named_keys_and_prefixes_are_kept() {
        let text = r#"{"$ai_model": "m", "$ai_input_tokens": 12, "plan": {"a": [1, 2]}, "big": "\u00e9x",
                       "$ai_\u006dodel_parameters": {"service_tier": "flex"}, "n": null}"#;
        let keys = ["$ai_*".to_string(), "plan".to_string()];
        let m = parse_object_keys(text, &keys);
        let mut want = parse_object(text);
        want.remove("big");
        want.remove("n");
        assert_eq!(
            serde_json::Value::Object(m),
            serde_json::Value::Object(want)
        );
        assert!(parse_object_keys(text, &[]).is_empty());
    }

    #[test]
    fn a_narrowed_text_reads_as_the_whole_one() {
        let keys = ["$ai_*".to_string(), "plan".to_string(), "x".to_string()];
        for text in [
            r#"{"$ai_input_tokens": 12, "$ai_latency": 0.1, "$ai_cost": 1e-7, "big": "text"}"#,
            r#"{"x": 1, "x": 2.5, "plan": "pro", "big": [1, 2], "plan": {"nested": ["a\"b", "\u00e9"]}}"#,
            r#"{"x": 18446744073709551615, "$ai_y": -9223372036854775808, "$ai_z": 1.7976931348623157e308}"#,
            r#"{"x": 1} tail"#,
            "[1]",
            "{",
            "{}",
        ] {
            let narrowed = narrow_object(text, &keys);
            assert!(!narrowed.contains("big"), "{text}");
            assert!(narrowed.len() <= text.len().max(2), "{text}");
            assert_eq!(
                parse_object_keys(&narrowed, &keys),
                parse_object_keys(text, &keys),
                "{text}"
            );
        }
    }

    #[test]
    fn what_is_not_an_object_is_empty() {
        for text in ["[1]", "3", "{", "", "{\"a\": }", "null", "{\"a\": 1} x"] {
            assert!(
                parse_object_keys(text, &["a".to_string()]).is_empty(),
                "{text}"
            );
        }
    }
}

#[cfg(test)]
mod period_sets {
    use model::{Project, Timestamp};
    use report::{Limits, Request};
    use serde_json::json;

    use crate::{Engine, EngineConfig, OpenMode};

    /// Whether the table of `params`' report of `kind` holds period sets rather than rows.
    fn loads_sets(engine: &Engine, kind: report::Kind, params: serde_json::Value) -> bool {
        let request = Request::from_json(kind, &params).unwrap();
        let scan = request.plan(0, &Limits::default()).unwrap().scan();
        let table = engine.cached_table("p", &scan, &Limits::default()).unwrap();
        assert_eq!(table.sets.is_some(), table.ts.is_empty());
        table.sets.is_some()
    }

    /// Whether the table of `params`' retention report holds period sets rather than rows.
    fn sets_loaded(engine: &Engine, params: serde_json::Value) -> bool {
        loads_sets(engine, report::Kind::Retention, params)
    }

    #[test]
    fn plain_retention_and_trends_read_period_sets_and_the_rest_reads_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = Engine::open(
            tmp.path(),
            OpenMode::CreateIfMissing,
            EngineConfig::default(),
        )
        .unwrap();
        let text: String = (0..40)
            .map(|n| {
                format!(
                    r#"{{"uuid":"00000000-0000-4000-8000-{n:012x}","distinct_id":"u{}","event":"{}","timestamp":"2025-03-{:02}T10:00:00Z","properties":{{"plan":"pro"}}}}"#,
                    n % 7,
                    ["$pageview", "chat_message"][n % 2],
                    n % 20 + 1
                ) + "\n"
            })
            .collect();
        let cfg = ingest::Config {
            now: Timestamp(1_900_000_000_000_000),
            max_event_bytes: 1 << 20,
        };
        let batch = ingest::ndjson_chunk(
            &Project::new("p").unwrap(),
            text.as_bytes(),
            "t.ndjson",
            1,
            &cfg,
        );
        engine.import_batch(batch).unwrap();
        engine.flush_and_derive().unwrap();
        // The shared range with a kind's own fields, `extra` overriding them.
        let with_kind = |own: serde_json::Value, extra: serde_json::Value| {
            let mut p = json!({"projects": ["p"], "date_from": "2025-03-01", "date_to": "2025-03-20",
                               "as_of": "2025-04-01T00:00:00Z"});
            for (k, v) in own
                .as_object()
                .unwrap()
                .iter()
                .chain(extra.as_object().unwrap())
            {
                p[k] = v.clone();
            }
            p
        };
        let with = |extra| with_kind(json!({"period": "day", "total_intervals": 5}), extra);
        for plain in [
            json!({"retention_type": "first_time"}),
            json!({"retention_type": "first_ever"}),
            json!({"retention_type": "recurring", "timezone": "Asia/Kolkata", "cumulative": true}),
            json!({"retention_type": "first_time", "returning": {"event": "chat_message"}, "custom_brackets": [1, 3]}),
        ] {
            assert!(sets_loaded(&engine, with(plain.clone())), "{plain}");
        }
        for other in [
            json!({"retention_type": "first_ever", "target": {"event": "chat_message",
                   "properties": [{"key": "plan", "value": "pro", "operator": "eq", "type": "event"}]}}),
            json!({"retention_type": "first_time", "breakdown": {"property": "plan", "type": "event"}}),
            json!({"retention_type": "first_time", "properties": [{"key": "plan", "value": "pro", "operator": "eq", "type": "event"}]}),
            json!({"retention_type": "recurring", "minimum_occurrences": 2}),
            json!({"retention_type": "first_time", "time_window_mode": "24h"}),
        ] {
            assert!(!sets_loaded(&engine, with(other.clone())), "{other}");
        }
        let trends = |extra| {
            let p = with_kind(json!({"interval": "day"}), extra);
            loads_sets(&engine, report::Kind::Trends, p)
        };
        for plain in [
            json!({"series": [{"math": "dau"}, {"math": "mau"}, {"math": "dau_mau"}]}),
            json!({"series": [{"math": "wau", "entity": {"event": "chat_message"}}, {"math": "unique_persons"}],
                   "timezone": "Asia/Kolkata"}),
            json!({"series": [{"math": "unique_persons"}], "interval": "week"}),
        ] {
            assert!(trends(plain.clone()), "{plain}");
        }
        for other in [
            // Event counts, property math, filters, breakdowns, a third list of names, `all` (found in the data).
            json!({"series": [{"math": "dau"}, {"math": "total"}]}),
            json!({"series": [{"math": "sum", "math_property": "tokens"}]}),
            json!({"series": [{"math": "dau", "entity": {"event": "chat_message",
                   "properties": [{"key": "plan", "value": "pro", "operator": "eq", "type": "event"}]}}]}),
            json!({"series": [{"math": "dau"}], "properties": [{"key": "plan", "value": "pro", "operator": "eq", "type": "person"}]}),
            json!({"series": [{"math": "dau"}], "breakdown": {"property": "plan", "type": "event"}}),
            json!({"series": [{"math": "dau"}, {"math": "dau", "entity": {"event": "chat_message"}},
                              {"math": "dau", "entity": {"event": "$pageview"}}]}),
            json!({"series": [{"math": "dau"}], "date_from": "all"}),
        ] {
            assert!(!trends(other.clone()), "{other}");
        }
        let stickiness = |extra| {
            let p = with_kind(json!({"interval": "day"}), extra);
            loads_sets(&engine, report::Kind::Stickiness, p)
        };
        assert!(stickiness(json!({})));
        assert!(stickiness(
            json!({"interval_count": 3, "series": {"event": "chat_message"}})
        ));
        assert!(!stickiness(
            json!({"criteria": {"operator": "gte", "value": 2}})
        ));
        // Without dense ids, rows.
        drop(engine);
        let config = EngineConfig {
            dense_ids: false,
            ..EngineConfig::default()
        };
        let text_only = Engine::open(tmp.path(), OpenMode::CreateIfMissing, config).unwrap();
        assert!(!sets_loaded(
            &text_only,
            with(json!({"retention_type": "first_time"}))
        ));
    }
}
