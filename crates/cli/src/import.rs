//! `liucun import`: bulk-load event files (NDJSON, CSV, Parquet) or a persons file into the data directory.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use liucun::model::{EventBatch, Project};
use liucun::{Format, ImportOptions, ImportSummary, OpenMode};

use crate::{EXIT_REJECTS, Invalid};

/// Import events (or persons) from files.
///
/// Formats: NDJSON (liucun's shape, PostHog's export shape or Segment messages, one per line), CSV with a header
/// row (columns uuid, distinct_id, event, timestamp, properties; any other column becomes a property) and Parquet
/// (same columns). Bad rows never stop good ones: each is reported with file, line and reason, and kept in the
/// quarantine. Importing the same file twice stores each event once.
///
/// Example: liucun import --project chat events.ndjson more.parquet --rejects rejects.ndjson
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Files to import.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The project the events belong to.
    #[arg(long, short, default_value = "default")]
    project: String,
    /// Input format; guessed from the extension when absent.
    #[arg(long, value_parser = ["ndjson", "csv", "parquet"])]
    format: Option<String>,
    /// The files hold persons (NDJSON: distinct_ids, properties, created_at, updated_at), not events.
    #[arg(long)]
    persons: bool,
    /// Write every rejected line verbatim to this file, each followed by a line giving its source and reason.
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Exit 0 even when some rows were rejected.
    #[arg(long)]
    allow_rejects: bool,
    /// Show no progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn run(data: &Path, args: ImportArgs) -> anyhow::Result<u8> {
    let project = Project::new(&args.project).map_err(|e| Invalid(format!("--project: {e}")))?;
    let format = args.format.as_deref().and_then(Format::parse);
    let engine = crate::open_for_writing(
        data,
        OpenMode::CreateIfMissing,
        "send the events to the server's capture API instead, e.g. `curl -X POST http://127.0.0.1:8000/batch/ \
         -H 'Content-Type: application/json' -d '{\"api_key\": \"lcw_…\", \"batch\": [{\"event\": \"signup\", \
         \"distinct_id\": \"u-1\", \"timestamp\": \"2025-01-01T00:00:00Z\"}]}'` with a write key from \
         `liucun keys create --project P --kind write`, or import once the server stops",
    )?;
    let mut rejects = match &args.rejects {
        Some(p) => Some(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut total = ImportSummary::default();
    let started = Instant::now();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut printed_rejections = 0usize;
    for file in &args.files {
        let summary = if args.persons {
            engine.import_persons(file, &project)?
        } else {
            let bar = progress_bar(show_progress, file);
            let options = ImportOptions {
                project: project.clone(),
                format,
            };
            let mut write_err: Option<std::io::Error> = None;
            let mut observe = |batch: &EventBatch| {
                bar.inc((batch.events().len() + batch.rejections().len()) as u64);
                for r in batch.rejections() {
                    if printed_rejections < 20 {
                        bar.suspend(|| {
                            eprintln!("rejected {}: {}: {}", r.source, r.reason, r.detail)
                        });
                    } else if printed_rejections == 20 {
                        bar.suspend(|| eprintln!("(more rejections not shown; see --rejects or `liucun quarantine list`)"));
                    }
                    printed_rejections += 1;
                    if let Some(w) = rejects.as_mut() {
                        let res = w
                            .write_all(&r.raw)
                            .and_then(|()| writeln!(w))
                            .and_then(|()| {
                                writeln!(w, "# {} {}: {}", r.source, r.reason, r.detail)
                            });
                        if let Err(e) = res {
                            write_err.get_or_insert(e);
                        }
                    }
                }
            };
            let summary = engine
                .import_file(file, &options, &mut observe)
                .with_context(|| format!("importing {}", file.display()))?;
            bar.finish_and_clear();
            if let Some(e) = write_err {
                return Err(e).context("writing the rejects file");
            }
            summary
        };
        for n in &summary.notes {
            eprintln!("note: {}: {n}", file.display());
        }
        add(&mut total, &summary);
    }
    if let Some(mut w) = rejects {
        w.flush().context("writing the rejects file")?;
    }
    // The first report after an import then finds every segment's dense ids.
    engine.derive_ids();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported into project {}: read {}, accepted {}, rejected {}, duplicates {}, conflicts {}, written {}{} in {:.2}s ({:.0} events/s)",
        project,
        total.read,
        total.accepted,
        total.rejected,
        total.duplicates,
        total.conflicts,
        total.written,
        if args.persons {
            format!(", persons {}", total.persons)
        } else {
            String::new()
        },
        secs,
        total.read as f64 / secs.max(1e-9),
    );
    if total.rejected > 0 && !args.allow_rejects {
        eprintln!(
            "{} rows were rejected (kept in the quarantine); pass --allow-rejects to exit 0",
            total.rejected
        );
        return Ok(EXIT_REJECTS);
    }
    Ok(0)
}

fn add(total: &mut ImportSummary, s: &ImportSummary) {
    total.read += s.read;
    total.accepted += s.accepted;
    total.rejected += s.rejected;
    total.duplicates += s.duplicates;
    total.conflicts += s.conflicts;
    total.written += s.written;
    total.persons += s.persons;
}

fn progress_bar(show: bool, file: &Path) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {human_pos} events, {per_sec}, {elapsed}")
            .expect("template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar.set_message(file.display().to_string());
    bar
}
