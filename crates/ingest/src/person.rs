//! Persons import (events.md §5.5): one person per NDJSON line, whose ids are merged without a guard.

use serde_json::Value;

use model::{PersonBatch, PersonRecord, Project, RejectReason};

use crate::canonical::canonical_object;
use crate::ndjson::{parse_object, split_lines};
use crate::validate::{self, Reject, kind};
use crate::{Config, timestamp};

/// Validates a persons-import NDJSON file (or a chunk of complete lines starting at line 1).
///
/// Each line is `{"distinct_ids": [...], "properties"?: {...}, "created_at"?: ts, "updated_at"?: ts}`. A record
/// with a missing, invalid or placeholder id is rejected with its line; the other records still load.
pub fn persons_ndjson(project: &Project, data: &[u8], file: &str, cfg: &Config) -> PersonBatch {
    let mut persons = Vec::new();
    let mut rejections = Vec::new();
    for (n, line) in split_lines(data, 1) {
        let source = crate::ndjson::line_source(file, n);
        match person(line, cfg, &source) {
            Ok(p) => persons.push(p),
            Err(r) => rejections.push(r.into_rejection(line, source, cfg)),
        }
    }
    PersonBatch {
        project: project.clone(),
        persons,
        rejections,
    }
}

fn person(line: &[u8], cfg: &Config, source: &str) -> Result<PersonRecord, Reject> {
    let entries = parse_object(line, cfg).map_err(|r| match r.reason {
        RejectReason::MalformedEvent => Reject::new(RejectReason::InvalidPerson, r.detail),
        _ => r,
    })?;
    let mut obj: serde_json::Map<String, Value> = entries
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v))
        .collect();
    let ids = match obj.remove("distinct_ids") {
        Some(Value::Array(ids)) if !ids.is_empty() => ids,
        Some(Value::Array(_)) => {
            return Err(Reject::new(
                RejectReason::MissingDistinctId,
                "`distinct_ids` is empty".to_string(),
            ));
        }
        None | Some(Value::Null) => {
            return Err(Reject::new(
                RejectReason::MissingDistinctId,
                "`distinct_ids` is missing".to_string(),
            ));
        }
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidPerson,
                format!("`distinct_ids` must be an array, got {}", kind(&other)),
            ));
        }
    };
    let mut distinct_ids = Vec::with_capacity(ids.len());
    for (i, v) in ids.iter().enumerate() {
        let id = validate::distinct_id(Some(v), &format!("distinct_ids[{i}]"))?;
        if !distinct_ids.contains(&id) {
            distinct_ids.push(id);
        }
    }
    let properties = match obj.remove("properties") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::Object(m)) => canonical_object(&m),
        Some(other) => {
            return Err(Reject::new(
                RejectReason::InvalidProperties,
                format!("`properties` must be an object, got {}", kind(&other)),
            ));
        }
    };
    let time =
        |field: &'static str, v: Option<Value>| -> Result<Option<model::Timestamp>, Reject> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(v) => Ok(Some(timestamp::check_range(
                    timestamp::from_value(&v, field)?,
                    cfg.now,
                    field,
                )?)),
            }
        };
    let created_at = time("created_at", obj.remove("created_at"))?;
    let updated_at = time("updated_at", obj.remove("updated_at"))?.unwrap_or(cfg.now);
    Ok(PersonRecord {
        distinct_ids,
        properties,
        created_at,
        updated_at,
        source: source.to_string(),
    })
}
