//! `liucun quarantine`: list or export rejected inputs with their reasons.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{Args, Subcommand};
use liucun::model::Timestamp;

use crate::{open_for_reading, open_for_writing};

/// Show rejected inputs: counts by reason and day, or every record as NDJSON.
///
/// Example: liucun quarantine list --project chat
#[derive(Debug, Args)]
pub(crate) struct QuarantineArgs {
    #[command(subcommand)]
    command: QuarantineCommand,
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// Counts by project, reason and UTC day of receipt.
    List {
        /// Only this project.
        #[arg(long, short)]
        project: Option<String>,
    },
    /// Every quarantined record as NDJSON: project, reason, detail, source, received_at (RFC 3339), raw and
    /// raw_encoding: raw is exactly the bytes kept, as text when they are UTF-8 (raw_encoding "utf8"), else as
    /// base64 (raw_encoding "base64").
    Export {
        /// Only this project.
        #[arg(long, short)]
        project: Option<String>,
    },
    /// Re-validate quarantined inputs under today's rules and store those that pass (after a fix).
    ///
    /// The quarantine keeps its records; replaying twice stores nothing twice.
    ///
    /// Example: liucun quarantine replay --project chat --reason invalid_timestamp --dry-run
    Replay {
        /// The project.
        #[arg(long, short)]
        project: String,
        /// Only inputs quarantined for this reason (a code such as `invalid_uuid`).
        #[arg(long)]
        reason: Option<String>,
        /// Count what would pass without storing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete quarantined inputs received before a UTC day: the only way they are ever deleted.
    ///
    /// Example: liucun quarantine purge --before 2025-01-01 --project chat
    Purge {
        /// Received before this UTC day (YYYY-MM-DD) are deleted.
        #[arg(long, allow_hyphen_values = true)]
        before: String,
        /// Only this project.
        #[arg(long, short)]
        project: Option<String>,
    },
}

pub(crate) fn run(data: &Path, args: QuarantineArgs) -> anyhow::Result<u8> {
    let writes = match &args.command {
        QuarantineCommand::Purge { .. } => Some(
            "purging has no HTTP API: stop `liucun serve` (SIGTERM flushes), run the purge, then start it again"
                .to_string(),
        ),
        QuarantineCommand::Replay {
            project,
            dry_run: false,
            ..
        } => Some(format!(
            "ask the server instead: `curl -H \"Authorization: Bearer $ADMIN_KEY\" -X POST \
             http://127.0.0.1:8000/api/v1/projects/{project}/quarantine/replay -d '{{}}'` (the address `liucun serve` \
             printed; `-d '{{\"dry_run\": true}}'` only counts)"
        )),
        _ => None,
    };
    let engine = match writes {
        Some(instead) => open_for_writing(data, liucun::OpenMode::Existing, &instead)?,
        None => open_for_reading(data)?,
    };
    engine.flush()?;
    match args.command {
        QuarantineCommand::Purge { before, project } => {
            let day = liucun::model::Day::parse(&before).ok_or_else(|| {
                crate::Invalid(format!("--before {before:?} is not a date (YYYY-MM-DD)"))
            })?;
            let n = engine.purge_quarantine(project.as_deref(), day.start())?;
            println!("purged {n} quarantined inputs received before {before}");
        }
        QuarantineCommand::Replay {
            project,
            reason,
            dry_run,
        } => {
            let reason = match reason {
                None => None,
                Some(code) => Some(liucun::model::RejectReason::from_code(&code).ok_or_else(
                    || crate::Invalid(format!("{code:?} is not a quarantine reason")),
                )?),
            };
            let s = engine.replay_quarantine(&project, reason, dry_run)?;
            println!(
                "examined {}, {} {}, still rejected {}, not replayable {}",
                s.examined,
                if dry_run { "would replay" } else { "replayed" },
                s.replayed,
                s.still_rejected.values().sum::<u64>(),
                s.not_replayable
            );
            for (code, n) in &s.still_rejected {
                println!("  {code:<26} {n:>8}");
            }
            if !dry_run {
                engine.flush()?;
            }
        }
        QuarantineCommand::List { project } => {
            let rows = engine.rejections(project.as_deref())?;
            let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
            for (p, r) in &rows {
                *counts
                    .entry((p.clone(), r.reason.code().to_string(), day(r.received_at)))
                    .or_default() += 1;
            }
            println!(
                "{:<16} {:<26} {:<10} {:>8}",
                "project", "reason", "received", "count"
            );
            for ((p, reason, d), n) in counts {
                println!("{p:<16} {reason:<26} {d:<10} {n:>8}");
            }
        }
        QuarantineCommand::Export { project } => {
            let rows = engine.rejections(project.as_deref())?;
            for (p, r) in rows {
                let v = serde_json::json!({
                    "project": p,
                    "reason": r.reason.code(),
                    "detail": r.detail,
                    "source": r.source,
                    "received_at": server::rfc3339(r.received_at),
                    "raw": server::raw_text(&r.raw),
                    "raw_encoding": server::raw_encoding(&r.raw),
                });
                println!("{v}");
            }
        }
    }
    Ok(0)
}

fn day(t: Timestamp) -> String {
    t.day().to_string()
}
