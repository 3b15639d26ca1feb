//! The provenance every report carries (retention.md §13.6): the engine version, `as_of`, and per project what was
//! read and its data fingerprint, so anyone holding the data can re-derive the report.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::table::{EventTable, hex, put};
use crate::window;

/// The engine version written into provenance.
pub const ENGINE: &str = concat!("liucun ", env!("CARGO_PKG_VERSION"));

/// Provenance of a whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// `liucun x.y.z`.
    pub engine: String,
    /// RFC 3339 UTC.
    pub as_of: String,
    /// The data fingerprint: the project's, or a hash of all projects' when several.
    pub data_fingerprint: String,
    /// Per project.
    pub projects: Vec<ProjectProvenance>,
}

/// Provenance of one project's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectProvenance {
    /// Project.
    pub project: String,
    /// `lc1:sha256:…`.
    pub data_fingerprint: String,
    /// UTC days read.
    pub data_days: Option<(String, String)>,
    /// Events in those days.
    pub events_in_scope: u64,
    /// `sha256:…` of the identity map used.
    pub identity_digest: String,
    /// Personless persons excluded.
    pub personless_persons: u64,
    /// Their events.
    pub personless_events: u64,
}

impl ProjectProvenance {
    /// The provenance of one loaded table.
    pub fn of(t: &EventTable) -> ProjectProvenance {
        ProjectProvenance {
            project: t.project.clone(),
            data_fingerprint: t.data.fingerprint(&t.project),
            data_days: t.data.days.clone(),
            events_in_scope: t.data.events_in_scope,
            identity_digest: format!("sha256:{}", hex(&t.data.identity_digest)),
            personless_persons: t.data.personless_persons,
            personless_events: t.data.personless_events,
        }
    }
}

impl Provenance {
    /// The provenance of a report computed at `as_of` (UTC µs) over these tables.
    pub fn of(as_of: i64, tables: &[&EventTable]) -> Provenance {
        let projects: Vec<ProjectProvenance> =
            tables.iter().map(|t| ProjectProvenance::of(t)).collect();
        let data_fingerprint = if projects.len() == 1 {
            projects[0].data_fingerprint.clone()
        } else {
            let mut h = Sha256::new();
            h.update(b"lc1-multi");
            for pp in &projects {
                put(&mut h, pp.data_fingerprint.as_bytes());
            }
            format!("lc1:sha256:{}", hex(&h.finalize()))
        };
        Provenance {
            engine: ENGINE.to_string(),
            as_of: window::format_utc(as_of),
            data_fingerprint,
            projects,
        }
    }

    /// The `provenance` object of the report JSON (docs/report-json.md).
    pub fn to_json(&self) -> Value {
        let first = self.projects.first();
        let single = self.projects.len() == 1;
        json!({
            "engine": self.engine,
            "project": if single { first.map(|p| Value::from(p.project.clone())) } else { None },
            "as_of": self.as_of,
            "data_fingerprint": self.data_fingerprint,
            "data_days": if single { first.and_then(|p| p.data_days.as_ref()).map(|(a, b)| json!({"from": a, "to": b})) } else { None },
            "events_in_scope": self.projects.iter().map(|p| p.events_in_scope).sum::<u64>(),
            "identity_digest": if single { first.map(|p| Value::from(p.identity_digest.clone())) } else { None },
            "excluded": {
                "personless_persons": self.projects.iter().map(|p| p.personless_persons).sum::<u64>(),
                "personless_events": self.projects.iter().map(|p| p.personless_events).sum::<u64>(),
            },
            "projects": self.projects.iter().map(|p| json!({
                "project": p.project,
                "data_fingerprint": p.data_fingerprint,
                "data_days": p.data_days.as_ref().map(|(a, b)| json!({"from": a, "to": b})),
                "events_in_scope": p.events_in_scope,
                "identity_digest": p.identity_digest,
                "excluded": {"personless_persons": p.personless_persons, "personless_events": p.personless_events},
            })).collect::<Vec<_>>(),
        })
    }
}
