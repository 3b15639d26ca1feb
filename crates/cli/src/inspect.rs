//! `liucun inspect` and `liucun compact`: show what a data directory holds; merge small segments.

use std::path::Path;

use clap::Args;
use serde_json::json;

use crate::{open_for_reading, open_for_writing};

/// Show projects, days, segments, events, WAL state, users, persons, merges and quarantined events.
///
/// Example: liucun inspect --json | jq '.projects[].events'
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
    /// List every day of every project.
    #[arg(long)]
    days: bool,
}

/// Merge the small segments of each project and day into one (reports do not change).
///
/// Example: liucun compact
#[derive(Debug, Args)]
pub(crate) struct CompactArgs {}

pub(crate) fn run(data: &Path, args: InspectArgs) -> anyhow::Result<u8> {
    let engine = open_for_reading(data)?;
    let mut i = engine.inspect()?;
    if engine.is_read_only() && !i.damaged.is_empty() {
        // A writer may have replaced a segment of the snapshot meanwhile: look once more at the latest one.
        engine.reload()?;
        i = engine.inspect()?;
    }
    if args.json {
        let projects: Vec<serde_json::Value> = i
            .projects
            .iter()
            .map(|p| {
                json!({
                    "project": p.project,
                    "events": p.events,
                    "segments": p.segments,
                    "size_bytes": p.size_bytes,
                    "days": p.days.iter().map(|(d, rows, segs)| json!({"day": d, "events": rows, "segments": segs})).collect::<Vec<_>>(),
                    "first_day": p.days.first().map(|d| d.0.clone()),
                    "last_day": p.days.last().map(|d| d.0.clone()),
                    "distinct_ids": p.distinct_ids,
                    "persons": p.persons,
                    "merges_applied": p.merges_applied,
                    "merges_refused": p.merges_refused,
                    "persons_imported": p.persons_imported,
                    "quarantined": p.quarantined,
                    "duplicates": p.duplicates,
                    "conflicts": p.conflicts,
                })
            })
            .collect();
        let v = json!({
            "data_dir": i.dir,
            "read_only": i.read_only,
            "manifest_generation": i.manifest_generation,
            "wal": {
                "checkpoint_lsn": i.wal_checkpoint,
                // Unknown read-only: the writer's log is not replayed.
                "next_lsn": (!i.read_only).then_some(i.wal_next_lsn),
                "files": i.wal_files.iter().map(|(n, b)| json!({"name": n, "bytes": b})).collect::<Vec<_>>(),
                "unflushed_events": (!i.read_only).then_some(i.tail_events),
                "recovery": i.replay_note,
            },
            "projects": projects,
            "damaged": i.damaged,
            "cached_costs": i.costings.iter().map(|(d, f, b)| json!({"costing": d, "files": f, "bytes": b})).collect::<Vec<_>>(),
            "dense_ids": {
                "segment_files": {"files": i.dense_ids.0.0, "bytes": i.dense_ids.0.1},
                "project_files": {"files": i.dense_ids.1.0, "bytes": i.dense_ids.1.1},
            },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "data directory {} (manifest generation {})",
        i.dir, i.manifest_generation
    );
    let wal_bytes: u64 = i.wal_files.iter().map(|f| f.1).sum();
    if i.read_only {
        println!(
            "wal: {} file(s), {} bytes, checkpoint lsn {}; read-only, so its unflushed events are not counted",
            i.wal_files.len(),
            wal_bytes,
            i.wal_checkpoint,
        );
    } else {
        println!(
            "wal: {} file(s), {} bytes, checkpoint lsn {}, next lsn {}, {} unflushed events",
            i.wal_files.len(),
            wal_bytes,
            i.wal_checkpoint,
            i.wal_next_lsn,
            i.tail_events
        );
    }
    if let Some(note) = &i.replay_note {
        println!("wal recovery: {note}");
    }
    if !i.costings.is_empty() {
        let (files, bytes) = i
            .costings
            .iter()
            .fold((0, 0), |(f, b), c| (f + c.1, b + c.2));
        println!(
            "cached costing records: {} price-table set(s), {files} file(s), {bytes} bytes (derived; safe to delete)",
            i.costings.len()
        );
    }
    let ((runs, runs_bytes), (dicts, dict_bytes)) = i.dense_ids;
    if runs + dicts > 0 {
        println!(
            "dense distinct ids: {runs} segment file(s) (runs, activity by hour), {runs_bytes} bytes; {dicts} project file(s) (dictionaries, persons), {dict_bytes} bytes (derived; safe to delete)"
        );
    }
    println!();
    println!(
        "{:<16} {:>12} {:>9} {:>6} {:<23} {:>10} {:>10} {:>8} {:>8} {:>11} {:>10}",
        "project",
        "events",
        "segments",
        "days",
        "range",
        "ids",
        "persons",
        "merges",
        "refused",
        "quarantined",
        "duplicates"
    );
    for p in &i.projects {
        let range = match (p.days.first(), p.days.last()) {
            (Some(a), Some(b)) => format!("{}..{}", a.0, b.0),
            _ => "-".to_string(),
        };
        println!(
            "{:<16} {:>12} {:>9} {:>6} {:<23} {:>10} {:>10} {:>8} {:>8} {:>11} {:>10}",
            p.project,
            p.events,
            p.segments,
            p.days.len(),
            range,
            p.distinct_ids,
            p.persons,
            p.merges_applied,
            p.merges_refused.values().sum::<u64>(),
            p.quarantined.values().sum::<u64>(),
            p.duplicates,
        );
    }
    for p in &i.projects {
        if !p.quarantined.is_empty() {
            let reasons: Vec<String> = p
                .quarantined
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            println!("quarantine {}: {}", p.project, reasons.join(", "));
        }
        if !p.merges_refused.is_empty() {
            let reasons: Vec<String> = p
                .merges_refused
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            println!("refused merges {}: {}", p.project, reasons.join(", "));
        }
        if args.days {
            for (day, rows, segs) in &p.days {
                println!("  {} {day} {rows:>10} events {segs:>4} segments", p.project);
            }
        }
    }
    for d in &i.damaged {
        println!("damaged: {d}");
    }
    Ok(if i.damaged.is_empty() {
        0
    } else {
        crate::EXIT_FAILURE
    })
}

pub(crate) fn compact(data: &Path, _args: CompactArgs) -> anyhow::Result<u8> {
    let engine = open_for_writing(
        data,
        liucun::OpenMode::Existing,
        "compaction has no HTTP API: stop `liucun serve` (SIGTERM flushes), run `liucun compact`, then start it again",
    )?;
    let stats = engine.compact()?;
    println!(
        "compacted: {} segments merged into {} ({} events)",
        stats.segments_removed, stats.segments_written, stats.events_written
    );
    Ok(0)
}
