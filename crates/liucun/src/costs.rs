//! The costs of a segment's AI events with one set of price tables: read from the store's cache of costing
//! records, or derived from the events' properties and cached for the next report.

use std::path::Path;

use model::RowCosts;
use store::segment::ScanWant;

use crate::Result;
use crate::reports::parse_object_keys;

/// How many costings (sets of price tables) keep cached costs; the least recently used beyond are deleted.
pub(crate) const KEEP_COSTINGS: usize = 4;

/// The costs of every row of the segment at `segment`, in segment order: read from `cached` when it holds them for
/// `source`, else derived with `tables` and, when `write`, written there (a failed write is logged, never an
/// error).
///
/// # Errors
/// The segment's own IO and Parquet errors.
pub(crate) fn segment_costs(
    segment: &Path,
    cached: Option<&Path>,
    source: &store::costs::Source,
    tables: &report::economics::Tables,
    write: bool,
) -> Result<RowCosts> {
    if let Some(path) = cached {
        match store::costs::read(path, source) {
            Ok(Some(costs)) => return Ok(costs),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cached costs are unreadable; deriving them again")
            }
        }
    }
    let ai_names = report::economics::ai_event_names();
    let chunks = store::segment::scan(
        segment,
        ScanWant {
            properties: true,
            property_events: Some(&ai_names),
            ..ScanWant::default()
        },
    )?;
    let keys = ["$ai_*".to_string()];
    let mut out = RowCosts::default();
    let mut ids: rustc_hash::FxHashMap<model::CostKey, u32> = rustc_hash::FxHashMap::default();
    for c in &chunks {
        let ai: Vec<bool> = c
            .names
            .iter()
            .map(|n| report::economics::is_ai_event(n))
            .collect();
        let parsed: Vec<Option<serde_json::Map<String, serde_json::Value>>> = (0..c.ts.len())
            .map(|i| ai[c.name_key[i] as usize].then(|| parse_object_keys(&c.properties[i], &keys)))
            .collect();
        let part = tables.cost_events(
            parsed
                .iter()
                .zip(&c.ts)
                .map(|(m, &ts)| m.as_ref().map(|m| (ts, m))),
        );
        append(&mut out, &mut ids, part);
    }
    if let Some(path) = cached.filter(|_| write)
        && let Err(e) = store::costs::write(path, source, &out)
    {
        tracing::warn!(error = %e, "could not cache derived costs");
    }
    Ok(out)
}

/// The index in `all` of each of `keys`, adding those `all` lacks (`ids` indexes `all`).
pub(crate) fn renumber(
    keys: &[model::CostKey],
    all: &mut Vec<model::CostKey>,
    ids: &mut rustc_hash::FxHashMap<model::CostKey, u32>,
) -> Vec<u32> {
    keys.iter()
        .map(|k| match ids.get(k) {
            Some(&id) => id,
            None => {
                let id = all.len() as u32;
                all.push(k.clone());
                ids.insert(k.clone(), id);
                id
            }
        })
        .collect()
}

/// Appends `part` to `out`, its keys renumbered into `out`'s (`ids` indexes them).
fn append(
    out: &mut RowCosts,
    ids: &mut rustc_hash::FxHashMap<model::CostKey, u32>,
    part: RowCosts,
) {
    let map = renumber(&part.keys, &mut out.keys, ids);
    out.key.extend(part.key.iter().map(|&k| match k {
        RowCosts::NONE => RowCosts::NONE,
        k => map[k as usize],
    }));
    out.nano.extend(part.nano);
}
