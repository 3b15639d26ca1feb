//! The provenance every report carries (retention.md §13.6): the engine version, `as_of`, and per project what was
//! read and its data fingerprint, so anyone holding the data can re-derive the report.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::params::Lang;
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
    /// What a reader must know to read the numbers right.
    pub notes: Vec<Note>,
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
    /// The project's first stored event at or before `as_of`, RFC 3339 UTC.
    pub first_event: Option<String>,
    /// Its last stored event at or before `as_of`.
    pub last_event: Option<String>,
}

/// Something a reader of the report must know to read its numbers right: the window holds no events, the data ends
/// before the window does, a named event does not occur. The numbers do not change; the notes say why they look as
/// they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// A stable snake_case code: `no_data`, `empty_window`, `data_ends_before_window`, `event_not_found`, and the
    /// kinds' own (retention's `partial_periods` and `window_ends_before_as_of`).
    pub code: &'static str,
    /// The project it is about (empty for a note about the whole report).
    pub project: String,
    /// One sentence for people.
    pub text: String,
}

impl Note {
    fn json(&self) -> Value {
        let project = (!self.project.is_empty()).then_some(&self.project);
        json!({"code": self.code, "project": project, "text": self.text})
    }
}

/// More than this between the data's last event and the end of the range read is worth a note.
const DATA_GAP_US: i64 = 24 * 3_600_000_000;

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
            first_event: t.data.first_event.map(window::format_utc),
            last_event: t.data.last_event.map(window::format_utc),
        }
    }
}

/// The notes the data of one table calls for (docs/report-json.md, `notes`), in the report's language.
pub fn data_notes(t: &EventTable, as_of: i64, lang: Lang) -> Vec<Note> {
    let zh = lang == Lang::ZhCn;
    let note = |code, text: String| Note {
        code,
        project: t.project.clone(),
        text,
    };
    let Some(last) = t.data.last_event else {
        let at = window::format_utc(as_of);
        return vec![note(
            "no_data",
            if zh {
                format!(
                    "项目 {:?} 在 {at} 及之前没有任何事件：请检查项目名称和 as_of",
                    t.project
                )
            } else {
                format!(
                    "project {:?} holds no events at or before {at}: check the project name and as_of",
                    t.project
                )
            },
        )];
    };
    let mut out = Vec::new();
    let window_empty = match t.data.in_range {
        Some(n) => n == 0,
        None => !t.ts.iter().any(|&ts| ts <= as_of),
    };
    let (first, last) = (
        t.data
            .first_event
            .map(window::format_utc)
            .unwrap_or_default(),
        window::format_utc(last),
    );
    if window_empty {
        out.push(note(
            "empty_window",
            if zh {
                format!(
                    "窗口内没有项目 {:?} 的事件，其数据从 {first} 到 {last}：请把日期（date_from、date_to）设在数据所在的范围",
                    t.project
                )
            } else {
                format!(
                    "the window holds no events of project {:?}, whose data runs from {first} to {last}: set the \
                     dates (date_from, date_to) to where the data is",
                    t.project
                )
            },
        ));
    } else if t
        .data
        .read_until
        .saturating_sub(t.data.last_event.unwrap_or(0))
        > DATA_GAP_US
    {
        out.push(note(
            "data_ends_before_window",
            if zh {
                format!(
                    "项目 {:?} 的数据止于 {last}，早于窗口的结束：此后的周期为空或不完整，是因为还没有数据，而不是用户流失",
                    t.project
                )
            } else {
                format!(
                    "the data of project {:?} ends at {last}, before the window does: periods after it are empty \
                     or partial because there is no data yet, not because persons left",
                    t.project
                )
            },
        ));
    }
    out
}

/// Notes for event names a report counts that no event of the table carries, in the report's language.
pub fn event_notes(t: &EventTable, names: &[String], lang: Lang) -> Vec<Note> {
    // With no data or an empty window, the data notes already say why nothing is counted.
    let nothing_read = match t.data.in_range {
        Some(n) => n == 0,
        None => t.ts.is_empty(),
    };
    if t.data.last_event.is_none() || nothing_read {
        return Vec::new();
    }
    names
        .iter()
        .filter(|n| !t.names.iter().any(|m| m == *n))
        .map(|n| Note {
            code: "event_not_found",
            project: t.project.clone(),
            text: if lang == Lang::ZhCn {
                format!(
                    "在报告读取的范围内，项目 {:?} 没有 `{n}` 事件：请检查事件名称",
                    t.project
                )
            } else {
                format!(
                    "no `{n}` events of project {:?} in the range the report read: check the event name",
                    t.project
                )
            },
        })
        .collect()
}

impl Provenance {
    /// The provenance of a report computed at `as_of` (UTC µs) over these tables, its notes in `lang`.
    pub fn of(as_of: i64, tables: &[&EventTable], lang: Lang) -> Provenance {
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
            notes: tables
                .iter()
                .flat_map(|t| data_notes(t, as_of, lang))
                .collect(),
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
                "first_event": p.first_event,
                "last_event": p.last_event,
            })).collect::<Vec<_>>(),
            "notes": self.notes.iter().map(Note::json).collect::<Vec<_>>(),
        })
    }
}
