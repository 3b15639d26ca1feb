//! `inspect`: what a data directory holds, per project, as plain data for the CLI to print.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rayon::prelude::*;
use store::{ScanFilter, SideKind};

use crate::{Engine, Result};

/// The state of a data directory.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The data directory.
    pub dir: String,
    /// Manifest generation (commits so far).
    pub manifest_generation: u64,
    /// WAL records up to this position are in segments.
    pub wal_checkpoint: u64,
    /// WAL files and their sizes.
    pub wal_files: Vec<(String, u64)>,
    /// The next WAL position.
    pub wal_next_lsn: u64,
    /// Events replayed from the WAL and not yet flushed.
    pub tail_events: u64,
    /// A torn WAL tail cut at open, if any.
    pub replay_note: Option<String>,
    /// The directory was opened read-only (another process holds it): the WAL was not replayed, so
    /// `tail_events` is 0 and `wal_next_lsn` is unknown (0).
    pub read_only: bool,
    /// One entry per project, by name.
    pub projects: Vec<ProjectInspection>,
    /// Segments or side files that could not be read, with the reason.
    pub damaged: Vec<String>,
    /// Cached costing records (derived data): per costing digest, files and bytes, most recently used first.
    pub costings: Vec<(String, u64, u64)>,
    /// Dense distinct ids (derived data, docs/formats/ids.md): (files, bytes) of the segments' runs and activity by
    /// hour, then of the projects' dictionaries and persons.
    pub dense_ids: ((u64, u64), (u64, u64)),
}

/// The state of one project.
#[derive(Debug, Clone, Default)]
pub struct ProjectInspection {
    /// Project name.
    pub project: String,
    /// `(day, events, segments)` per UTC day, in order.
    pub days: Vec<(String, u64, u64)>,
    /// Segment files.
    pub segments: u64,
    /// Stored events.
    pub events: u64,
    /// Bytes of segment files.
    pub size_bytes: u64,
    /// Distinct ids seen in events.
    pub distinct_ids: u64,
    /// Persons after merges.
    pub persons: u64,
    /// Merge requests applied.
    pub merges_applied: u64,
    /// Merge requests refused, by reason.
    pub merges_refused: BTreeMap<String, u64>,
    /// Persons-import records.
    pub persons_imported: u64,
    /// Quarantined inputs, by reason.
    pub quarantined: BTreeMap<String, u64>,
    /// Identical copies collapsed.
    pub duplicates: u64,
    /// Conflicting copies of a uuid.
    pub conflicts: u64,
}

impl Engine {
    /// Describes the data directory. Damaged files are listed, not fatal.
    ///
    /// # Errors
    /// Only errors that make the whole directory unreadable.
    pub fn inspect(&self) -> Result<Inspection> {
        let (wal_files, wal_next_lsn) = match &self.wal {
            Some(wal) => {
                let state = wal.state();
                let files = state
                    .files
                    .iter()
                    .map(|f| (f.name.clone(), f.size_bytes))
                    .collect();
                (files, state.next_lsn.0)
            }
            None => (list_wal_files(&self.dir.join("wal")), 0),
        };
        let (manifest, tail_events) = {
            let store = self.lock();
            let n_tail = self.pending().tail.n_events as u64;
            (store.manifest().clone(), n_tail)
        };
        let mut damaged = Vec::new();
        let projects: BTreeSet<String> = manifest
            .segments
            .iter()
            .map(|s| s.project.clone())
            .chain(manifest.side_files.iter().map(|f| f.project.clone()))
            .collect();
        let mut out = Vec::new();
        for project in projects {
            let mut p = ProjectInspection {
                project: project.clone(),
                ..ProjectInspection::default()
            };
            let mut days: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for s in manifest.segments.iter().filter(|s| s.project == project) {
                p.segments += 1;
                p.events += s.rows;
                p.size_bytes += s.size_bytes;
                let d = days.entry(s.day.clone()).or_default();
                d.0 += s.rows;
                d.1 += 1;
            }
            p.days = days
                .into_iter()
                .map(|(d, (rows, segs))| (d, rows, segs))
                .collect();
            for f in manifest.side_files.iter().filter(|f| f.project == project) {
                match f.kind {
                    SideKind::Quarantine => {
                        for (r, n) in &f.by_reason {
                            *p.quarantined.entry(r.clone()).or_default() += n;
                        }
                    }
                    SideKind::Persons => p.persons_imported += f.rows,
                }
            }
            if let Some(c) = manifest.projects.get(&project) {
                p.duplicates = c.duplicates;
                p.conflicts = c.conflicts;
            }
            // Users: distinct ids from every segment, then resolved through the identity map.
            let ids: Vec<std::result::Result<Vec<String>, String>> = self.with_store(|st| {
                let filter = ScanFilter {
                    projects: vec![project.clone()],
                    days: None,
                };
                st.segments(&filter)
                    .into_par_iter()
                    .map(|s| {
                        store::segment::read_distinct_ids(&st.path_of(&s.file))
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            });
            let mut distinct: HashSet<String> = HashSet::new();
            for r in ids {
                match r {
                    Ok(v) => distinct.extend(v),
                    Err(e) => damaged.push(e),
                }
            }
            match self.identity(&project, None) {
                Ok(map) => {
                    for m in map.log() {
                        match m.reason {
                            None => p.merges_applied += 1,
                            Some(r) => *p.merges_refused.entry(r.to_string()).or_default() += 1,
                        }
                    }
                    let persons: HashSet<&str> =
                        distinct.iter().map(|d| map.person_of(d)).collect();
                    p.persons = persons.len() as u64;
                }
                Err(e) => damaged.push(e.to_string()),
            }
            p.distinct_ids = distinct.len() as u64;
            out.push(p);
        }
        Ok(Inspection {
            dir: self.dir.display().to_string(),
            manifest_generation: manifest.generation,
            wal_checkpoint: manifest.wal_checkpoint,
            wal_files,
            wal_next_lsn,
            tail_events,
            replay_note: self.replay_note.clone(),
            read_only: self.is_read_only(),
            projects: out,
            damaged,
            costings: self.with_store(|s| s.costs_usage()),
            dense_ids: self.with_store(|s| s.ids_usage()),
        })
    }
}

/// The log files of a WAL directory another process writes, with their sizes at this moment, by name.
fn list_wal_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, u64)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = e.metadata().ok()?.len();
            name.ends_with(".wal").then_some((name, size))
        })
        .collect();
    files.sort();
    files
}
