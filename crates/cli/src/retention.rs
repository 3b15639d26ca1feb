//! `liucun retention` and `liucun verify`: compute a cohort retention report, or check a published one.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, ValueEnum};
use liucun::model::Timestamp;
use liucun::report::params::{
    Breakdown, Entity, EventNames, Filter, Operator, Period, Personless, PropertyKind,
    RetentionType, TimeWindowMode, WeekStart,
};
use liucun::report::render::{self, Color};
use liucun::report::{RetentionParams, RetentionReport};
use serde_json::Value;

use crate::{Invalid, open_existing};

/// Compute cohort retention (retention.md): the triangle of cohort sizes and return rates, with 95% intervals,
/// a mean curve, and provenance (definition, parameters, data fingerprint).
///
/// Filters (`--where`, `--target-where`, `--returning-where`) read `KEY OP VALUE`, where KEY may start with
/// `person.` for a person property, OP is one of eq, neq, contains, not_contains, gt, gte, lt, lte, is_set,
/// is_not_set, regex, and VALUE is JSON when it parses (3, true, ["a","b"]) and text otherwise.
///
/// Examples:
///   liucun retention --project chat --type first-time --period day --intervals 31 --from 2025-01-01 --to 2025-03-31
///   liucun retention --project a --project b --target signup --where '$ai_model contains gpt' --format json
///   liucun retention --params report.json --format svg --out chart.svg
#[derive(Debug, Args)]
pub(crate) struct RetentionArgs {
    /// Project to report on; repeat to compare projects side by side.
    #[arg(long, short)]
    project: Vec<String>,
    /// Period length.
    #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
    period: PeriodArg,
    /// Number of columns (total_intervals).
    #[arg(long, default_value_t = 8)]
    intervals: u32,
    /// First cohort period: YYYY-MM-DD, a local time, an RFC 3339 instant, or -N[hdwmy].
    #[arg(long)]
    from: Option<String>,
    /// Last cohort period (default: as_of).
    #[arg(long)]
    to: Option<String>,
    /// IANA time zone of the periods.
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// First day of a week.
    #[arg(long, value_enum, default_value_t = WeekStartArg::Monday)]
    week_start: WeekStartArg,
    /// Cohort mode.
    #[arg(long = "type", value_enum, default_value_t = TypeArg::Recurring)]
    retention_type: TypeArg,
    /// Start event name(s), comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    target: String,
    /// Returning event name(s), comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    returning: String,
    /// Global filter, repeatable (AND).
    #[arg(long = "where")]
    filters: Vec<String>,
    /// Filter on the start event only, repeatable.
    #[arg(long)]
    target_where: Vec<String>,
    /// Filter on the returning event only, repeatable.
    #[arg(long)]
    returning_where: Vec<String>,
    /// Break down by a property: `event:KEY` or `person:KEY` (a bare KEY is an event property).
    #[arg(long)]
    breakdown: Option<String>,
    /// Breakdown values kept before "Other".
    #[arg(long, default_value_t = 25)]
    breakdown_limit: usize,
    /// Count a person in every column up to their last return ("on or after").
    #[arg(long)]
    cumulative: bool,
    /// Returning events needed in a period.
    #[arg(long, default_value_t = 1)]
    min_occurrences: u32,
    /// Custom brackets: comma-separated period counts, e.g. 1,3,10 gives columns Day 1, Day 2-4, Day 5-14.
    #[arg(long, value_delimiter = ',')]
    brackets: Vec<u32>,
    /// Measure periods as fixed windows from each person's first start event (24h) instead of calendar periods.
    #[arg(long, value_enum, default_value_t = WindowArg::Calendar)]
    windows: WindowArg,
    /// Count personless persons too.
    #[arg(long)]
    include_personless: bool,
    /// The moment the report describes (RFC 3339); default now.
    #[arg(long)]
    as_of: Option<String>,
    /// Re-run a report: a JSON file holding a report or its `parameters` object (other report flags are ignored).
    #[arg(long)]
    params: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Compute the report N times in one process and print each run's time to stderr; runs after the first read
    /// the engine's in-memory tables (warm).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PeriodArg {
    Hour,
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WeekStartArg {
    Monday,
    Sunday,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum WindowArg {
    Calendar,
    #[value(name = "24h")]
    Hours24,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Recurring,
    FirstTime,
    FirstEver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// The triangle with sizes and percentages (coloured on a terminal).
    Table,
    /// The documented JSON report, with provenance.
    Json,
    /// One line per cell.
    Csv,
    /// Retention curves with interval bands (SVG).
    Svg,
    /// The triangle as a heatmap (SVG).
    Heatmap,
}

/// Check a published retention report: recompute it from the data directory and compare every number and the
/// data fingerprint. Exit 0 when everything matches, 1 otherwise (each difference is listed).
///
/// Example: liucun retention --project chat --format json | liucun verify -
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The report JSON file, or - for stdin.
    report: PathBuf,
}

pub(crate) fn run(data: &Path, args: RetentionArgs) -> anyhow::Result<u8> {
    let params = match &args.params {
        Some(path) => params_from_file(path)?,
        None => params_from_flags(&args)?,
    };
    let engine = open_existing(data)?;
    let known: std::collections::BTreeSet<String> = engine.with_store(|s| {
        s.manifest()
            .segments
            .iter()
            .map(|seg| seg.project.clone())
            .collect()
    });
    for p in params.projects.iter().filter(|p| !known.contains(*p)) {
        let list: Vec<&str> = known.iter().map(String::as_str).collect();
        eprintln!(
            "warning: project {p:?} has no stored events; its rows will be empty (projects with events: {})",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        );
    }
    let now = now();
    let mut report = None;
    for run in 1..=args.repeat.max(1) {
        let started = std::time::Instant::now();
        report = Some(engine.retention(params.clone(), now)?);
        if args.repeat > 1 {
            eprintln!(
                "run {run}/{}: {:.3} ms",
                args.repeat,
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    let report = report.expect("at least one run");
    let color = if args.out.is_none() && std::io::stdout().is_terminal() {
        Color::Ansi
    } else {
        Color::Plain
    };
    let text = render_as(&report, args.format, color);
    match &args.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(0)
}

fn render_as(report: &RetentionReport, format: FormatArg, color: Color) -> String {
    match format {
        FormatArg::Table => render::to_table(report, color),
        FormatArg::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&render::to_json(report)).expect("json")
        ),
        FormatArg::Csv => render::to_csv(report),
        FormatArg::Svg => liucun::report::svg::curves(report),
        FormatArg::Heatmap => liucun::report::svg::heatmap(report),
    }
}

pub(crate) fn verify(data: &Path, args: VerifyArgs) -> anyhow::Result<u8> {
    let text = if args.report.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the report from stdin")?
    } else {
        std::fs::read_to_string(&args.report)
            .with_context(|| format!("reading {}", args.report.display()))?
    };
    let published: Value =
        serde_json::from_str(&text).map_err(|e| Invalid(format!("the report is not JSON: {e}")))?;
    let engine = open_existing(data)?;
    let v = engine.verify(&published)?;
    if v.matches {
        println!(
            "verified: every number and the data fingerprint match ({})",
            v.recomputed_fingerprint
        );
        Ok(0)
    } else {
        println!(
            "MISMATCH: {} difference(s); recomputed fingerprint {}",
            v.differences.len(),
            v.recomputed_fingerprint
        );
        for d in &v.differences {
            println!("  {d}");
        }
        Ok(crate::EXIT_FAILURE)
    }
}

fn params_from_file(path: &Path) -> anyhow::Result<RetentionParams> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Invalid(format!("{}: not JSON: {e}", path.display())))?;
    let params = v.get("parameters").unwrap_or(&v);
    RetentionParams::from_json(params)
        .map_err(|e| Invalid(format!("{}: {e}", path.display())).into())
}

fn params_from_flags(a: &RetentionArgs) -> anyhow::Result<RetentionParams> {
    if a.project.is_empty() {
        return Err(Invalid("name at least one --project".into()).into());
    }
    let names = |s: &str| -> EventNames {
        let list: Vec<String> = s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        match list.as_slice() {
            [] => EventNames::Any,
            [one] if one == "any" => EventNames::Any,
            [one] => EventNames::One(one.clone()),
            _ => EventNames::Many(list),
        }
    };
    let filters = |list: &[String], flag: &str| -> anyhow::Result<Vec<Filter>> {
        list.iter()
            .map(|f| parse_filter(f).map_err(|m| Invalid(format!("--{flag} {f:?}: {m}")).into()))
            .collect()
    };
    let breakdown = match &a.breakdown {
        None => None,
        Some(b) => {
            let (kind, key) = match b.split_once(':') {
                Some(("person", k)) => (PropertyKind::Person, k),
                Some(("event", k)) => (PropertyKind::Event, k),
                _ => (PropertyKind::Event, b.as_str()),
            };
            Some(Breakdown {
                kind,
                property: key.to_string(),
                limit: a.breakdown_limit,
            })
        }
    };
    let params = RetentionParams {
        projects: a.project.clone(),
        period: match a.period {
            PeriodArg::Hour => Period::Hour,
            PeriodArg::Day => Period::Day,
            PeriodArg::Week => Period::Week,
            PeriodArg::Month => Period::Month,
        },
        total_intervals: a.intervals,
        date_from: a.from.clone(),
        date_to: a.to.clone(),
        timezone: a.tz.clone(),
        week_start: match a.week_start {
            WeekStartArg::Monday => WeekStart::Monday,
            WeekStartArg::Sunday => WeekStart::Sunday,
        },
        retention_type: match a.retention_type {
            TypeArg::Recurring => RetentionType::Recurring,
            TypeArg::FirstTime => RetentionType::FirstTime,
            TypeArg::FirstEver => RetentionType::FirstEver,
        },
        target: Entity {
            event: names(&a.target),
            properties: filters(&a.target_where, "target-where")?,
        },
        returning: Entity {
            event: names(&a.returning),
            properties: filters(&a.returning_where, "returning-where")?,
        },
        properties: filters(&a.filters, "where")?,
        cumulative: a.cumulative,
        minimum_occurrences: a.min_occurrences,
        breakdown,
        custom_brackets: (!a.brackets.is_empty()).then(|| a.brackets.clone()),
        time_window_mode: match a.windows {
            WindowArg::Calendar => TimeWindowMode::Calendar,
            WindowArg::Hours24 => TimeWindowMode::Hours24,
        },
        personless: if a.include_personless {
            Personless::Include
        } else {
            Personless::Exclude
        },
        as_of: a.as_of.clone(),
        ..RetentionParams::default()
    };
    params.validate().map_err(|e| Invalid(e.to_string()))?;
    Ok(params)
}

/// Parses `KEY OP [VALUE]`.
fn parse_filter(text: &str) -> Result<Filter, String> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let key = parts
        .next()
        .filter(|k| !k.is_empty())
        .ok_or("expected KEY OP VALUE")?;
    let op_text = parts.next().ok_or("expected an operator after the key")?;
    let operator: Operator = serde_json::from_value(Value::String(op_text.to_string()))
        .map_err(|_| format!("unknown operator {op_text:?}"))?;
    let value = parts.next().map(|v| {
        let v = v.trim();
        serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()))
    });
    let (kind, key) = match key.strip_prefix("person.") {
        Some(k) => (PropertyKind::Person, k),
        None => (PropertyKind::Event, key),
    };
    Ok(Filter {
        kind,
        key: key.to_string(),
        operator,
        value,
    })
}

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
    )
}
