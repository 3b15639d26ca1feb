//! `liucun retention|trends|stickiness|lifecycle|growth|funnels|economics`, `liucun funnel-persons` and `liucun verify`: one
//! path for every report kind.
//!
//! Each subcommand turns its flags into the kind's flat JSON parameters object (the same object the HTTP API takes
//! and every report echoes), or reads it from `--params FILE`; the engine computes the report and it is rendered in
//! the chosen format.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, ValueEnum};
use liucun::Engine;
use liucun::model::Timestamp;
use report::render::{ChartOptions, Color, TableOptions};
use report::{Kind, Report, Request};
use serde_json::{Map, Value, json};

use crate::clickhouse::{ClickHouseArgs, EngineArg};
use crate::{Invalid, on_snapshot, open_for_reading};

/// Flags every report shares. Unset flags are left to the report's defaults (the project's time zone, say).
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Project to report on; repeat to compare projects side by side.
    #[arg(long, short)]
    project: Vec<String>,
    /// Start of the window: YYYY-MM-DD, a local time, an RFC 3339 instant, or -N[hdwmy] (`--from -7d`).
    #[arg(long, allow_hyphen_values = true)]
    from: Option<String>,
    /// End of the window (default: as_of). For retention, the last cohort period; it also ends the returning
    /// window, so cells after it are empty.
    #[arg(long, allow_hyphen_values = true)]
    to: Option<String>,
    /// IANA time zone of the periods (default: the project's, else UTC).
    #[arg(long)]
    tz: Option<String>,
    /// First day of a week.
    #[arg(long, value_enum)]
    week_start: Option<WeekStartArg>,
    /// Global filter `KEY OP VALUE`, repeatable (AND). KEY may start with `person.`.
    #[arg(long = "where")]
    filters: Vec<String>,
    /// Apply the project's test-account filters.
    #[arg(long)]
    filter_test_accounts: bool,
    /// Break down by a property: `event:KEY` or `person:KEY` (a bare KEY is an event property).
    #[arg(long)]
    breakdown: Option<String>,
    /// Breakdown values kept before "Other" (default 25).
    #[arg(long)]
    breakdown_limit: Option<usize>,
    /// Count personless persons too.
    #[arg(long)]
    include_personless: bool,
    /// The moment the report describes (RFC 3339); default now.
    #[arg(long, allow_hyphen_values = true)]
    as_of: Option<String>,
    /// The language of the report's definition sentence: en (default) or zh-CN.
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
    /// Re-run a report: a JSON file holding a report or its `parameters` object.
    ///
    /// The shared flags given with it (--project, --from, --to, --tz, --week-start, --where,
    /// --filter-test-accounts, --breakdown, --breakdown-limit, --include-personless, --as-of, --lang) override the
    /// file's parameters of the same name; the kind's own flags (--intervals, --series, …) are refused with it:
    /// edit the file instead. Output flags (--format, --chart, --out) apply as usual.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    format: FormatArg,
    /// Which chart `--format svg` draws (each kind names its charts; default its first).
    #[arg(long)]
    chart: Option<String>,
    /// Write the output to this file instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Table: show every period column, however wide. By default a retention table on a terminal fits its width
    /// by showing the columns that matter: periods 1, 2, 3, 7, 14, 30, … and the last (a file or pipe gets all).
    #[arg(long, conflicts_with = "columns")]
    all_columns: bool,
    /// Heatmap: the rate, in percent, at which the colour scale saturates (e.g. 50), so heatmaps drawn with the
    /// same value compare cell for cell; default: from the data, a rounded 95th percentile.
    #[arg(long, value_name = "PERCENT", value_parser = parse_color_max)]
    color_max: Option<f64>,
    /// Table: show exactly these retention period columns, by index (e.g. 1,7,30).
    #[arg(long, value_delimiter = ',', value_name = "J,…")]
    columns: Option<Vec<usize>>,
    /// Which engine computes the report: liucun's own over the data directory, or ClickHouse over the tables
    /// `liucun export clickhouse` fills (every report kind; docs/clickhouse.md).
    #[arg(long, value_enum, default_value_t = EngineArg::Embedded)]
    engine: EngineArg,
    #[command(flatten)]
    clickhouse: ClickHouseArgs,
    /// With --engine clickhouse: print the SQL the report sends, with its bound parameters, instead of running it.
    #[arg(long)]
    explain: bool,
    /// Compute the report N times in one process and print each run's time to stderr; runs after the first read
    /// the engine's in-memory tables (warm).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
}

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
    #[command(flatten)]
    common: CommonArgs,
    /// Period length.
    #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
    period: PeriodArg,
    /// Number of columns (total_intervals).
    #[arg(long, default_value_t = 8)]
    intervals: u32,
    /// Cohort mode.
    #[arg(long = "type", value_enum, default_value_t = TypeArg::Recurring)]
    retention_type: TypeArg,
    /// Start event name(s), comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    target: String,
    /// Returning event name(s), comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    returning: String,
    /// Filter on the start event only, repeatable.
    #[arg(long)]
    target_where: Vec<String>,
    /// Filter on the returning event only, repeatable.
    #[arg(long)]
    returning_where: Vec<String>,
    /// Count a person in every column up to their last return ("on or after").
    #[arg(long)]
    cumulative: bool,
    /// Returning events needed in a period.
    #[arg(long, default_value_t = 1)]
    min_occurrences: u32,
    /// Leave out of the mean the cells whose periods end after the data's last event (history imported up to a
    /// date, then nothing): they are marked `~` either way, and by default count in the mean (retention.md §12.3).
    #[arg(long)]
    exclude_partial_periods: bool,
    /// Custom brackets: comma-separated period counts, e.g. 1,3,10 gives columns Day 1, Day 2-4, Day 5-14.
    #[arg(long, value_delimiter = ',')]
    brackets: Vec<u32>,
    /// Measure periods as fixed windows from each person's first start event (24h) instead of calendar periods.
    #[arg(long, value_enum, default_value_t = WindowArg::Calendar)]
    windows: WindowArg,
}

/// Trends (activity.md §1): per period, events, distinct persons, rolling DAU/WAU/MAU and DAU/MAU, or property
/// math (sum, avg, min, max, median, p90, p95, p99 of a numeric event property, exact).
///
/// A series is `EVENTS[:MATH[:PROPERTY]]`: EVENTS is a name, names joined by commas, or `any`; MATH is total,
/// unique_persons (default), dau, wau, mau, dau_mau, or a property math with its PROPERTY.
///
/// Examples:
///   liucun trends -p chat --series any:dau --series any:mau --series any:dau_mau --from 2025-01-01 --to 2025-03-31
///   liucun trends -p chat --series '$ai_generation:p95:$ai_latency' --interval day --from -30d
///   liucun trends -p chat --series '$ai_generation:sum:$ai_output_tokens' --breakdown '$ai_model'
#[derive(Debug, Args)]
pub(crate) struct TrendsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Period length.
    #[arg(long, value_enum)]
    interval: Option<PeriodArg>,
    /// A series, repeatable: EVENTS[:MATH[:PROPERTY]].
    #[arg(long)]
    series: Vec<String>,
    /// A filter on every series' events, repeatable (AND).
    #[arg(long)]
    series_where: Vec<String>,
}

/// Stickiness (activity.md §2): persons by the number of periods in which they were active.
///
/// Example: liucun stickiness -p chat --event '$ai_generation' --from 2025-06-02 --to 2025-06-08 --criteria gte:3
#[derive(Debug, Args)]
pub(crate) struct StickinessArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Period length.
    #[arg(long, value_enum)]
    interval: Option<PeriodArg>,
    /// Periods per bucket.
    #[arg(long)]
    interval_count: Option<u32>,
    /// Event name(s), comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    event: String,
    /// A filter on the events, repeatable.
    #[arg(long)]
    event_where: Vec<String>,
    /// Events a bucket needs to count: `gte:N`, `lte:N` or `exact:N`.
    #[arg(long)]
    criteria: Option<String>,
    /// Persons active in at least N buckets, instead of exactly N.
    #[arg(long)]
    cumulative: bool,
}

/// Lifecycle (activity.md §3): per period, persons who are new, returning, resurrecting, and dormant (negative).
///
/// Example: liucun lifecycle -p chat --interval week --from 2025-01-06 --to 2025-03-30
#[derive(Debug, Args)]
pub(crate) struct LifecycleArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Period length.
    #[arg(long, value_enum)]
    interval: Option<PeriodArg>,
    /// Event name(s), comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    event: String,
    /// A filter on the events, repeatable.
    #[arg(long)]
    event_where: Vec<String>,
}

/// Growth milestones (activity.md §4): days from each project's first event until it reaches N persons.
///
/// Example: liucun growth -p lanting -p qiuyue --milestones 1000,10000,100000 --metric cumulative_persons
#[derive(Debug, Args)]
pub(crate) struct GrowthArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Milestones, comma-separated.
    #[arg(long, value_delimiter = ',')]
    milestones: Vec<u64>,
    /// `cumulative_persons` or `mau`.
    #[arg(long)]
    metric: Option<String>,
    /// Event name(s) that make a person arrive, comma-separated; "any" for any activity event.
    #[arg(long, default_value = "any")]
    event: String,
    /// Day 0 of a project instead of its first event: `PROJECT=YYYY-MM-DD`, repeatable.
    #[arg(long)]
    launch_date: Vec<String>,
}

/// Funnels (funnels.md): how many persons did a sequence of steps within a conversion window, where the rest
/// dropped off and how long the survivors took; conversion by entry period (`--viz trends`) and a histogram of
/// conversion times (`--viz time-to-convert`).
///
/// Examples:
///   liucun funnels -p lanting --step signup --step chat_message --step subscription_paid --window 14d
///   liucun funnels -p a -p b --step signup --step 'chat_message' --step-where '2:$ai_model contains gpt' --exclude cancel:1-2
///   liucun funnels -p lanting --step signup --step subscription_paid --viz trends --interval week --format svg --out f.svg
#[derive(Debug, Args)]
pub(crate) struct FunnelsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// A step: event name(s), comma-separated, or "any"; repeat in funnel order (2 to 30 steps).
    #[arg(long)]
    step: Vec<String>,
    /// A filter on one step, `K:KEY OP VALUE` (K is the 1-based step), repeatable.
    #[arg(long)]
    step_where: Vec<String>,
    /// Only the person's first qualifying event counts for step K (`first_time`), repeatable.
    #[arg(long)]
    first_time: Vec<usize>,
    /// The conversion window: N followed by s, min, h, d, w or mo (`14d`, `30min`, `1mo`).
    #[arg(long)]
    window: Option<String>,
    /// The order mode.
    #[arg(long, value_enum)]
    order: Option<OrderArg>,
    /// An exclusion `EVENT:FROM-TO`: anyone who did EVENT between step FROM and step TO is removed (`cancel:1-2`).
    #[arg(long)]
    exclude: Vec<String>,
    /// Which result: steps, conversion by entry period, or the time to convert.
    #[arg(long, value_enum)]
    viz: Option<VizArg>,
    /// The period of `--viz trends`.
    #[arg(long, value_enum)]
    interval: Option<PeriodArg>,
    /// The entering step of `--viz trends` and `--viz time-to-convert` (default 1).
    #[arg(long)]
    from_step: Option<usize>,
    /// The converting step (default the last).
    #[arg(long)]
    to_step: Option<usize>,
    /// Histogram bins of `--viz time-to-convert` (1–90; default automatic).
    #[arg(long)]
    bins: Option<u32>,
    /// How a breakdown value is attributed to a person.
    #[arg(long, value_enum)]
    attribution: Option<AttributionArg>,
    /// The step whose event gives the value with `--attribution step`.
    #[arg(long)]
    attribution_step: Option<usize>,
}

/// The persons behind a funnel's numbers (funnels.md §12): who reached step K, or who dropped off at it, with
/// their distinct ids and step times; paged. Takes the `funnels` flags (or `--params` with a funnel report).
///
/// Examples:
///   liucun funnel-persons -p lanting --step signup --step subscription_paid --dropped-at 2
///   liucun funnel-persons --params funnel.json --reached 3 --limit 20 --format json
#[derive(Debug, Args)]
pub(crate) struct FunnelPersonsArgs {
    #[command(flatten)]
    funnel: FunnelsArgs,
    /// Persons who reached step K.
    #[arg(long, conflicts_with = "dropped_at")]
    reached: Option<i64>,
    /// Persons who dropped off at step K (reached K − 1, not K).
    #[arg(long)]
    dropped_at: Option<i64>,
    /// Only the runs of this breakdown value (JSON for a list value).
    #[arg(long)]
    breakdown_value: Option<String>,
    /// Only the runs of the values merged into Other.
    #[arg(long)]
    other: bool,
    /// With `--viz trends`: the entry period containing this date.
    #[arg(long)]
    entrance_period: Option<String>,
    /// With `--viz trends`: only those who did not convert (`true`) or did (`false`).
    #[arg(long)]
    dropped_off: Option<bool>,
    /// Page size.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Page start.
    #[arg(long, default_value_t = 0)]
    offset: usize,
}

/// Unit economics per cohort (economics.md): revenue, refunds, fees and inference cost per age, gross profit and
/// margin, LTV to date, CAC and payback, with an unattributed line and totals that reconcile with the events.
///
/// Examples:
///   liucun economics -p lanting --from 2025-01-01 --to 2025-03-31 --intervals 3
///   liucun economics -p lanting --spend 2025-01=2400 --spend 2025-02=1800 --fx rates.json --currency CNY
#[derive(Debug, Args)]
pub(crate) struct EconomicsArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Cohort period (default month).
    #[arg(long, value_enum)]
    period: Option<PeriodArg>,
    /// Ages per cohort (default 12).
    #[arg(long)]
    intervals: Option<u32>,
    /// The event whose first occurrence places a person in a cohort, comma-separated names; "any" for any activity.
    #[arg(long, default_value = "any")]
    target: String,
    /// A filter on the target event, repeatable.
    #[arg(long)]
    target_where: Vec<String>,
    /// The report currency (ISO 4217; default USD).
    #[arg(long)]
    currency: Option<String>,
    /// Fees as a cost of revenue (default) or subtracted from revenue.
    #[arg(long, value_enum)]
    fee_treatment: Option<FeeArg>,
    /// Acquisition spend of a cohort: `DATE=AMOUNT[:CURRENCY]`, DATE in the cohort's period; repeatable.
    #[arg(long)]
    spend: Vec<String>,
    /// One CAC per user for every cohort.
    #[arg(long)]
    cac_per_user: Option<String>,
    /// Other variable cost per active user and age.
    #[arg(long)]
    cost_per_active_user: Option<String>,
    /// Other variable cost per event: `EVENT=AMOUNT`, repeatable.
    #[arg(long)]
    cost_per_event: Vec<String>,
    /// Exchange rates: a JSON file holding `[{date, from, to, rate, source}]`, or a `.toml` file of `[[rate]]`
    /// tables with the same keys.
    #[arg(long)]
    fx: Option<PathBuf>,
    /// A price table (TOML or JSON) searched before the built-in one; repeatable.
    #[arg(long)]
    prices: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FeeArg {
    Cogs,
    ContraRevenue,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OrderArg {
    Ordered,
    Strict,
    Unordered,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum VizArg {
    Steps,
    Trends,
    TimeToConvert,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AttributionArg {
    FirstTouch,
    LastTouch,
    AllEvents,
    Step,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PeriodArg {
    Hour,
    Day,
    Week,
    Month,
}

impl PeriodArg {
    fn name(self) -> &'static str {
        match self {
            PeriodArg::Hour => "hour",
            PeriodArg::Day => "day",
            PeriodArg::Week => "week",
            PeriodArg::Month => "month",
        }
    }
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
    /// A text table (coloured on a terminal).
    Table,
    /// The documented JSON report, with provenance.
    Json,
    /// Comma-separated rows.
    Csv,
    /// The kind's chart (SVG); `--chart` picks another.
    Svg,
    /// Retention's triangle as a heatmap (SVG); the same as `--format svg --chart heatmap`.
    Heatmap,
}

/// Check a published report of any kind: recompute it from the data directory and compare every number and the
/// data fingerprint. Exit 0 when everything matches, 1 otherwise (each difference is listed).
///
/// Example: liucun retention --project chat --format json | liucun verify -
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The report JSON file, or - for stdin.
    report: PathBuf,
    /// Recompute on this engine: liucun's own over the data directory, or ClickHouse over the exported tables (a
    /// report computed on either verifies on the other).
    #[arg(long, value_enum, default_value_t = EngineArg::Embedded)]
    engine: EngineArg,
    #[command(flatten)]
    clickhouse: ClickHouseArgs,
}

pub(crate) fn retention(data: &Path, a: RetentionArgs, given: &[String]) -> anyhow::Result<u8> {
    let mut own = Map::new();
    own.insert("period".into(), json!(a.period.name()));
    own.insert("total_intervals".into(), json!(a.intervals));
    own.insert(
        "retention_type".into(),
        json!(match a.retention_type {
            TypeArg::Recurring => "recurring",
            TypeArg::FirstTime => "first_time",
            TypeArg::FirstEver => "first_ever",
        }),
    );
    own.insert(
        "target".into(),
        entity(&a.target, &a.target_where, "target-where")?,
    );
    own.insert(
        "returning".into(),
        entity(&a.returning, &a.returning_where, "returning-where")?,
    );
    own.insert("cumulative".into(), json!(a.cumulative));
    own.insert("minimum_occurrences".into(), json!(a.min_occurrences));
    if a.exclude_partial_periods {
        own.insert("exclude_partial_periods".into(), json!(true));
    }
    if !a.brackets.is_empty() {
        own.insert("custom_brackets".into(), json!(a.brackets));
    }
    if let WindowArg::Hours24 = a.windows {
        own.insert("time_window_mode".into(), json!("24h"));
    }
    run(data, "retention", &a.common, own, given)
}

pub(crate) fn trends(data: &Path, a: TrendsArgs, given: &[String]) -> anyhow::Result<u8> {
    let mut own = Map::new();
    if let Some(i) = a.interval {
        own.insert("interval".into(), json!(i.name()));
    }
    let shared = filters(&a.series_where, "series-where")?;
    if !a.series.is_empty() {
        let series: Vec<Value> = a
            .series
            .iter()
            .map(|s| {
                let mut parts = s.splitn(3, ':');
                let names = parts.next().unwrap_or("any");
                let mut entry = Map::new();
                entry.insert(
                    "entity".into(),
                    json!({"event": event_names(names), "properties": shared}),
                );
                if let Some(math) = parts.next().filter(|m| !m.is_empty()) {
                    entry.insert("math".into(), json!(math));
                }
                if let Some(p) = parts.next() {
                    entry.insert("math_property".into(), json!(p));
                }
                Value::Object(entry)
            })
            .collect();
        own.insert("series".into(), Value::Array(series));
    } else if !shared.is_empty() {
        own.insert(
            "series".into(),
            json!([{"entity": {"event": null, "properties": shared}}]),
        );
    }
    run(data, "trends", &a.common, own, given)
}

pub(crate) fn stickiness(data: &Path, a: StickinessArgs, given: &[String]) -> anyhow::Result<u8> {
    let mut own = Map::new();
    if let Some(i) = a.interval {
        own.insert("interval".into(), json!(i.name()));
    }
    if let Some(k) = a.interval_count {
        own.insert("interval_count".into(), json!(k));
    }
    own.insert(
        "series".into(),
        entity(&a.event, &a.event_where, "event-where")?,
    );
    if let Some(c) = &a.criteria {
        let (op, n) = c
            .split_once(':')
            .ok_or_else(|| Invalid(format!("--criteria {c:?}: expected OP:N, e.g. gte:3")))?;
        let n: Value = serde_json::from_str(n).unwrap_or_else(|_| json!(n));
        own.insert("criteria".into(), json!({"operator": op, "value": n}));
    }
    if a.cumulative {
        own.insert("cumulative".into(), json!(true));
    }
    run(data, "stickiness", &a.common, own, given)
}

pub(crate) fn lifecycle(data: &Path, a: LifecycleArgs, given: &[String]) -> anyhow::Result<u8> {
    let mut own = Map::new();
    if let Some(i) = a.interval {
        own.insert("interval".into(), json!(i.name()));
    }
    own.insert(
        "series".into(),
        entity(&a.event, &a.event_where, "event-where")?,
    );
    run(data, "lifecycle", &a.common, own, given)
}

pub(crate) fn growth(data: &Path, a: GrowthArgs, given: &[String]) -> anyhow::Result<u8> {
    let mut own = Map::new();
    if !a.milestones.is_empty() {
        own.insert("milestones".into(), json!(a.milestones));
    }
    if let Some(m) = &a.metric {
        own.insert("metric".into(), json!(m));
    }
    own.insert("entity".into(), entity(&a.event, &[], "event")?);
    if !a.launch_date.is_empty() {
        let mut dates = Map::new();
        for l in &a.launch_date {
            let (p, d) = l.split_once('=').ok_or_else(|| {
                Invalid(format!("--launch-date {l:?}: expected PROJECT=YYYY-MM-DD"))
            })?;
            dates.insert(p.to_string(), json!(d));
        }
        own.insert("launch_date".into(), Value::Object(dates));
    }
    run(data, "growth", &a.common, own, given)
}

/// `14d`, `30min`, `1mo`, `2 weeks` as a conversion window object.
fn window_json(text: &str) -> anyhow::Result<Value> {
    let t = text.trim();
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let (n, unit) = t.split_at(digits);
    let value: u64 = n.parse().map_err(|_| {
        Invalid(format!(
            "--window {text:?}: expected N followed by a unit, e.g. 14d"
        ))
    })?;
    let unit = match unit.trim() {
        "s" | "sec" | "second" | "seconds" => "second",
        "min" | "minute" | "minutes" => "minute",
        "h" | "hour" | "hours" => "hour",
        "d" | "day" | "days" => "day",
        "w" | "week" | "weeks" => "week",
        "mo" | "month" | "months" => "month",
        other => {
            return Err(Invalid(format!(
                "--window {text:?}: unknown unit {other:?}; use s, min, h, d, w or mo (e.g. 14d)"
            ))
            .into());
        }
    };
    Ok(json!({"value": value, "unit": unit}))
}

fn funnel_json(a: &FunnelsArgs) -> anyhow::Result<Map<String, Value>> {
    let mut own = Map::new();
    if !a.step.is_empty() {
        let mut steps: Vec<Value> = a
            .step
            .iter()
            .map(|s| json!({"event": event_names(s), "properties": []}))
            .collect();
        for w in &a.step_where {
            let (k, f) = w
                .split_once(':')
                .ok_or_else(|| Invalid(format!("--step-where {w:?}: expected K:KEY OP VALUE")))?;
            let k: usize = k
                .trim()
                .parse()
                .ok()
                .filter(|k| (1..=steps.len()).contains(k))
                .ok_or_else(|| {
                    Invalid(format!(
                        "--step-where {w:?}: K is a step number from 1 to {}",
                        steps.len()
                    ))
                })?;
            let filter =
                parse_filter(f).map_err(|m| Invalid(format!("--step-where {w:?}: {m}")))?;
            if let Some(list) = steps[k - 1]["properties"].as_array_mut() {
                list.push(filter);
            }
        }
        for &k in &a.first_time {
            let step = steps
                .get_mut(k.wrapping_sub(1))
                .ok_or_else(|| Invalid(format!("--first-time {k}: not a step number")))?;
            step["occurrence"] = json!("first_time");
        }
        own.insert("steps".into(), Value::Array(steps));
    }
    if let Some(w) = &a.window {
        own.insert("conversion_window".into(), window_json(w)?);
    }
    if let Some(o) = a.order {
        let name = match o {
            OrderArg::Ordered => "ordered",
            OrderArg::Strict => "strict",
            OrderArg::Unordered => "unordered",
        };
        own.insert("order".into(), json!(name));
    }
    if !a.exclude.is_empty() {
        let list: Vec<Value> = a
            .exclude
            .iter()
            .map(|x| {
                let bad = || {
                    Invalid(format!(
                        "--exclude {x:?}: expected EVENT:FROM-TO, e.g. cancel:1-2"
                    ))
                };
                let (event, range) = x.rsplit_once(':').ok_or_else(bad)?;
                let (from, to) = range.split_once('-').ok_or_else(bad)?;
                let from: usize = from.trim().parse().map_err(|_| bad())?;
                let to: usize = to.trim().parse().map_err(|_| bad())?;
                Ok(json!({"event": event_names(event), "from_step": from, "to_step": to}))
            })
            .collect::<Result<_, Invalid>>()?;
        own.insert("exclusions".into(), Value::Array(list));
    }
    if let Some(v) = a.viz {
        let name = match v {
            VizArg::Steps => "steps",
            VizArg::Trends => "trends",
            VizArg::TimeToConvert => "time_to_convert",
        };
        own.insert("viz".into(), json!(name));
    }
    if let Some(i) = a.interval {
        own.insert("interval".into(), json!(i.name()));
    }
    if let Some(k) = a.from_step {
        own.insert("from_step".into(), json!(k));
    }
    if let Some(k) = a.to_step {
        own.insert("to_step".into(), json!(k));
    }
    if let Some(b) = a.bins {
        own.insert("bin_count".into(), json!(b));
    }
    Ok(own)
}

/// Adds the attribution flags to the breakdown of the parameters (`--breakdown` sets it).
fn attribution(a: &FunnelsArgs, params: &mut Map<String, Value>) -> anyhow::Result<()> {
    if a.attribution.is_none() && a.attribution_step.is_none() {
        return Ok(());
    }
    let Some(Value::Object(b)) = params.get_mut("breakdown") else {
        return Err(Invalid("--attribution needs --breakdown".into()).into());
    };
    if let Some(at) = a.attribution {
        let name = match at {
            AttributionArg::FirstTouch => "first_touch",
            AttributionArg::LastTouch => "last_touch",
            AttributionArg::AllEvents => "all_events",
            AttributionArg::Step => "step",
        };
        b.insert("attribution".into(), json!(name));
    }
    if let Some(s) = a.attribution_step {
        b.insert("attribution_step".into(), json!(s));
    }
    Ok(())
}

pub(crate) fn economics(data: &Path, a: EconomicsArgs, given: &[String]) -> anyhow::Result<u8> {
    let mut own = Map::new();
    if let Some(p) = a.period {
        own.insert("period".into(), json!(p.name()));
    }
    if let Some(n) = a.intervals {
        own.insert("total_intervals".into(), json!(n));
    }
    own.insert(
        "target".into(),
        entity(&a.target, &a.target_where, "target-where")?,
    );
    if let Some(c) = &a.currency {
        own.insert("currency".into(), json!(c.to_ascii_uppercase()));
    }
    if let Some(f) = a.fee_treatment {
        let name = match f {
            FeeArg::Cogs => "cogs",
            FeeArg::ContraRevenue => "contra_revenue",
        };
        own.insert("fee_treatment".into(), json!(name));
    }
    if !a.spend.is_empty() {
        let list: Vec<Value> = a
            .spend
            .iter()
            .map(|s| {
                let bad = || {
                    Invalid(format!(
                        "--spend {s:?}: expected DATE=AMOUNT[:CURRENCY], e.g. 2025-01=2400"
                    ))
                };
                let (date, rest) = s.split_once('=').ok_or_else(bad)?;
                let (amount, currency) = match rest.split_once(':') {
                    Some((a, c)) => (a, Some(c.to_ascii_uppercase())),
                    None => (rest, None),
                };
                // A month (`2025-01`) means its first day.
                let date = if date.len() == 7 {
                    format!("{date}-01")
                } else {
                    date.to_string()
                };
                Ok(json!({"period_start": date, "amount": amount, "currency": currency}))
            })
            .collect::<Result<_, Invalid>>()?;
        own.insert("acquisition_spend".into(), Value::Array(list));
    }
    if let Some(c) = &a.cac_per_user {
        own.insert("cac_per_user".into(), json!(c));
    }
    let mut other = Map::new();
    if let Some(c) = &a.cost_per_active_user {
        other.insert("per_active_user".into(), json!(c));
    }
    if !a.cost_per_event.is_empty() {
        let mut per = Map::new();
        for e in &a.cost_per_event {
            let (name, amount) = e
                .rsplit_once('=')
                .ok_or_else(|| Invalid(format!("--cost-per-event {e:?}: expected EVENT=AMOUNT")))?;
            per.insert(name.to_string(), json!(amount));
        }
        other.insert("per_event".into(), Value::Object(per));
    }
    if !other.is_empty() {
        own.insert("other_costs".into(), Value::Object(other));
    }
    if let Some(path) = &a.fx {
        own.insert("fx_rates".into(), fx_rates(path)?);
    }
    if !a.prices.is_empty() {
        own.insert("prices".into(), price_tables(&a.prices)?);
    }
    run(data, "economics", &a.common, own, given)
}

/// The dated exchange rates of an `--fx` file: a JSON list of `{date, from, to, rate, source}`, or an object holding
/// it under `rate` or `fx_rates`; or TOML (a `.toml` file) with one `[[rate]]` table per rate, where the date may be
/// a TOML date and the rate a number (exact up to 15 significant digits: TOML numbers are floats; a string is
/// always exact).
pub(crate) fn fx_rates(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let v: Value = if is_toml {
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| Invalid(format!("--fx {}: not TOML: {e}", path.display())))?;
        toml_rates(toml::Value::Table(table))
    } else {
        serde_json::from_str(&text)
            .map_err(|e| Invalid(format!("--fx {}: not JSON: {e}", path.display())))?
    };
    let list = match v {
        Value::Array(_) => v,
        Value::Object(mut m) => m
            .remove("rate")
            .or_else(|| m.remove("fx_rates"))
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    if !list.is_array() {
        return Err(Invalid(format!(
            "--fx {}: expected a list of {{date, from, to, rate, source}}",
            path.display()
        ))
        .into());
    }
    Ok(list)
}

/// The texts of `--prices` files, as the `prices` parameter of an economics report.
pub(crate) fn price_tables(paths: &[PathBuf]) -> anyhow::Result<Value> {
    let tables: Vec<Value> = paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))
                .map(Value::from)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Value::Array(tables))
}

/// An `--fx` TOML document as the JSON the report takes: every scalar becomes its text (dates as `YYYY-MM-DD`,
/// numbers in their shortest round-trip form, which is the digits written up to 15 significant digits).
fn toml_rates(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::String(i.to_string()),
        toml::Value::Float(f) => Value::String(f.to_string()),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_rates).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_rates(v))).collect())
        }
    }
}

pub(crate) fn funnels(data: &Path, a: FunnelsArgs, given: &[String]) -> anyhow::Result<u8> {
    let own = funnel_json(&a)?;
    if a.common.params.is_none() && a.step.len() < 2 {
        return Err(Invalid(
            "name the funnel's steps in order: --step A --step B (at least two)".into(),
        )
        .into());
    }
    let mut own = own;
    if a.attribution.is_some() || a.attribution_step.is_some() {
        let mut probe = common_json(&a.common)?;
        attribution(&a, &mut probe)?;
        if let Some(b) = probe.remove("breakdown") {
            own.insert("breakdown".into(), b);
        }
    }
    run(data, "funnels", &a.common, own, given)
}

pub(crate) fn funnel_persons(
    data: &Path,
    a: FunnelPersonsArgs,
    given: &[String],
) -> anyhow::Result<u8> {
    let f = &a.funnel;
    let mut params = match &f.common.params {
        Some(path) => {
            let kind = Kind::parse("funnels").expect("the funnels kind");
            let persons_flags = [
                "reached",
                "dropped_at",
                "breakdown_value",
                "other",
                "entrance_period",
                "dropped_off",
                "limit",
                "offset",
            ];
            let given: Vec<String> = given
                .iter()
                .filter(|g| !persons_flags.contains(&g.as_str()))
                .cloned()
                .collect();
            refuse_own_flags_with_params(kind, &given)?;
            let mut params = params_from_file(kind, path)?;
            params.extend(common_json(&f.common)?);
            params
        }
        None => {
            if f.common.project.is_empty() {
                return Err(Invalid("name at least one --project".into()).into());
            }
            if f.step.len() < 2 {
                return Err(Invalid(
                    "name the funnel's steps in order: --step A --step B (at least two)".into(),
                )
                .into());
            }
            let mut params = common_json(&f.common)?;
            params.extend(funnel_json(f)?);
            params
        }
    };
    attribution(f, &mut params)?;
    let step = match (a.reached, a.dropped_at) {
        (Some(k), _) => Some(k),
        (None, Some(k)) => Some(-k),
        (None, None) => None,
    };
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            params.insert(k.into(), v);
        }
    };
    put("step", step.map(Value::from));
    put(
        "breakdown_value",
        a.breakdown_value.as_ref().map(|v| {
            serde_json::from_str::<Value>(v)
                .ok()
                .filter(Value::is_array)
                .unwrap_or_else(|| json!(v))
        }),
    );
    put("other", a.other.then_some(json!(true)));
    put(
        "entrance_period",
        a.entrance_period.as_ref().map(|v| json!(v)),
    );
    put("dropped_off", a.dropped_off.map(Value::from));
    put("limit", Some(json!(a.limit)));
    put("offset", Some(json!(a.offset)));
    let engine = open_for_reading(data)?;
    let out = on_snapshot(&engine, || {
        engine.funnel_persons(&Value::Object(params.clone()), now(), None)
    })?;
    let text = match f.common.format {
        FormatArg::Json => format!("{}\n", serde_json::to_string_pretty(&out).expect("json")),
        FormatArg::Table => persons_table(&out),
        other => {
            return Err(Invalid(format!(
                "--format {other:?}: a persons listing is written as table or json"
            ))
            .into());
        }
    };
    match &f.common.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(0)
}

fn persons_table(out: &Value) -> String {
    let mut s = format!(
        "{} persons match; showing {} from {}\n",
        out["total"],
        out["persons"].as_array().map_or(0, Vec::len),
        out["parameters"]["offset"]
    );
    for p in out["persons"].as_array().into_iter().flatten() {
        let ids: Vec<&str> = p["distinct_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let detail = match p.get("converted") {
            Some(c) => format!("converted: {c}"),
            None => format!(
                "steps: {}  first: {}  last: {}",
                p["steps_completed"],
                p["step_times"][0].as_str().unwrap_or("-"),
                p["step_times"]
                    .as_array()
                    .and_then(|t| t.last())
                    .and_then(Value::as_str)
                    .unwrap_or("-")
            ),
        };
        s.push_str(&format!(
            "  {}  {}  {detail}\n",
            p["project"].as_str().unwrap_or(""),
            ids.join(", ")
        ));
    }
    s
}

/// Builds the request (from `--params` or the flags), computes it, and writes it in the chosen format.
fn run(
    data: &Path,
    kind_name: &str,
    a: &CommonArgs,
    own: Map<String, Value>,
    given: &[String],
) -> anyhow::Result<u8> {
    let kind = Kind::parse(kind_name).ok_or_else(|| {
        Invalid(format!(
            "{kind_name} reports are not computed by this version"
        ))
    })?;
    let request = match &a.params {
        Some(path) => {
            refuse_own_flags_with_params(kind, given)?;
            let mut params = params_from_file(kind, path)?;
            // The shared flags given override the file's parameters of the same name (see `--params`).
            params.extend(common_json(a)?);
            Request::from_json(kind, &Value::Object(params))
                .map_err(|e| Invalid(format!("{}: {e}", path.display())))?
        }
        None => {
            if a.project.is_empty() {
                return Err(Invalid("name at least one --project".into()).into());
            }
            let mut params = common_json(a)?;
            params.extend(own);
            Request::from_json(kind, &Value::Object(params)).map_err(|e| Invalid(e.to_string()))?
        }
    };
    let now = now();
    if a.explain {
        if a.engine != EngineArg::Clickhouse {
            return Err(Invalid("--explain prints the SQL of --engine clickhouse".into()).into());
        }
        print!("{}", crate::clickhouse::explain(data, request, now.0)?);
        return Ok(0);
    }
    let engine = match a.engine {
        EngineArg::Embedded => {
            let engine = open_for_reading(data)?;
            warn_unknown_projects(&engine, &request.common().projects);
            Some(engine)
        }
        EngineArg::Clickhouse => None,
    };
    let mut report = None;
    for run in 1..=a.repeat.max(1) {
        let started = std::time::Instant::now();
        report = Some(match &engine {
            Some(engine) => on_snapshot(engine, || engine.report(request.clone(), now))?,
            None => crate::clickhouse::report(data, request.clone(), &a.clickhouse, now.0)?,
        });
        if a.repeat > 1 {
            eprintln!(
                "run {run}/{}: {:.3} ms",
                a.repeat,
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    let report = report.expect("at least one run");
    let terminal = a.out.is_none() && std::io::stdout().is_terminal();
    let table = TableOptions {
        color: if terminal { Color::Ansi } else { Color::Plain },
        width: if a.all_columns || a.out.is_some() {
            None
        } else {
            table_width(terminal)
        },
        columns: a.columns.clone(),
    };
    let chart = ChartOptions {
        color_max: a.color_max.map(|p| p / 100.0),
    };
    let text = render_as(&report, a.format, a.chart.as_deref(), table, &chart)?;
    match &a.out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(0)
}

fn warn_unknown_projects(engine: &Engine, projects: &[String]) {
    let known = engine.projects_with_events();
    for p in projects.iter().filter(|p| !known.contains(*p)) {
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
}

fn parse_color_max(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a number of percent, such as 50"))?;
    if v.is_finite() && v > 0.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err(format!("{s} must be above 0 and at most 100 (percent)"))
    }
}

/// The width a table fits on a terminal: its size, else `$COLUMNS`. `None` (every column) when stdout is not a
/// terminal: a file or a pipe gets the whole table.
fn table_width(terminal: bool) -> Option<usize> {
    if !terminal {
        return None;
    }
    terminal_size::terminal_size()
        .map(|(w, _)| usize::from(w.0))
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|&w| w >= 20)
}

fn render_as(
    report: &Report,
    format: FormatArg,
    chart: Option<&str>,
    table: TableOptions,
    chart_opts: &ChartOptions,
) -> anyhow::Result<String> {
    Ok(match format {
        FormatArg::Table => report.to_table(table),
        FormatArg::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report.to_json()).expect("json")
        ),
        FormatArg::Csv => report.to_csv(),
        FormatArg::Svg => report
            .to_svg_with(chart, chart_opts)
            .map_err(|e| Invalid(format!("--chart: {e}")))?,
        FormatArg::Heatmap => report
            .to_svg_with(Some("heatmap"), chart_opts)
            .map_err(|e| Invalid(format!("--format heatmap: {e}")))?,
    })
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
    let v = match args.engine {
        EngineArg::Embedded => {
            let engine = open_for_reading(data)?;
            on_snapshot(&engine, || engine.verify(&published))?
        }
        EngineArg::Clickhouse => crate::clickhouse::verify(data, &published, &args.clickhouse)?,
    };
    // The report's notes are part of what it says; show them beside the verdict.
    for n in published["provenance"]["notes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(text) = n["text"].as_str() {
            eprintln!("note: {text}");
        }
    }
    if v.matches {
        println!(
            "verified: every number and the data fingerprint of this {} report match ({})",
            v.kind.name(),
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

/// Argument ids (clap's, the field names) that `--params` combines with: the shared report flags, which override
/// the file, and the output and global flags.
const COMBINE_WITH_PARAMS: [&str; 28] = [
    "engine",
    "explain",
    "clickhouse_url",
    "clickhouse_database",
    "clickhouse_user",
    "clickhouse_password",
    "project",
    "from",
    "to",
    "tz",
    "week_start",
    "filters",
    "filter_test_accounts",
    "breakdown",
    "breakdown_limit",
    "include_personless",
    "as_of",
    "params",
    "format",
    "chart",
    "out",
    "repeat",
    "data",
    "log",
    "all_columns",
    "columns",
    "color_max",
    "lang",
];

/// Refuses a kind's own flags next to `--params`: the file holds those parameters, and which of two differing
/// values wins would be a guess.
fn refuse_own_flags_with_params(kind: Kind, given: &[String]) -> anyhow::Result<()> {
    let own: Vec<String> = given
        .iter()
        .filter(|id| !COMBINE_WITH_PARAMS.contains(&id.as_str()))
        .map(|id| format!("--{}", id.replace('_', "-")))
        .collect();
    if own.is_empty() {
        return Ok(());
    }
    Err(Invalid(format!(
        "{} cannot be combined with --params, which holds the {} parameters: edit the file, or drop --params \
         (the shared flags --project, --from, --to, --where, … do override the file)",
        own.join(", "),
        kind.name()
    ))
    .into())
}

/// The parameters object of a report file (a whole report or its `parameters`), checked to be of `kind`.
fn params_from_file(kind: Kind, path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Invalid(format!("{}: not JSON: {e}", path.display())))?;
    if let Some(k) = v.get("kind").and_then(Value::as_str)
        && k != kind.name()
    {
        return Err(Invalid(format!(
            "{}: holds a {k} report; run `liucun {k} --params` or `liucun verify` instead",
            path.display()
        ))
        .into());
    }
    match v.get("parameters").unwrap_or(&v) {
        Value::Object(m) => Ok(m.clone()),
        _ => Err(Invalid(format!(
            "{}: the parameters are not a JSON object",
            path.display()
        ))
        .into()),
    }
}

/// The shared flags as parameters; only flags that were given, so each kind's and project's defaults apply.
fn common_json(a: &CommonArgs) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    if !a.project.is_empty() {
        m.insert("projects".into(), json!(a.project));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("date_from", a.from.as_ref().map(|v| json!(v)));
    put("date_to", a.to.as_ref().map(|v| json!(v)));
    put("timezone", a.tz.as_ref().map(|v| json!(v)));
    put(
        "week_start",
        a.week_start.map(|w| match w {
            WeekStartArg::Monday => json!("monday"),
            WeekStartArg::Sunday => json!("sunday"),
        }),
    );
    put("as_of", a.as_of.as_ref().map(|v| json!(v)));
    put("lang", a.lang.as_ref().map(|v| json!(v)));
    put(
        "filter_test_accounts",
        a.filter_test_accounts.then_some(json!(true)),
    );
    put("personless", a.include_personless.then(|| json!("include")));
    let properties = filters(&a.filters, "where")?;
    if !properties.is_empty() {
        m.insert("properties".into(), Value::Array(properties));
    }
    if let Some(b) = &a.breakdown {
        let (kind, key) = match b.split_once(':') {
            Some(("person", k)) => ("person", k),
            Some(("event", k)) => ("event", k),
            _ => ("event", b.as_str()),
        };
        let mut bd = json!({"type": kind, "property": key});
        if let Some(l) = a.breakdown_limit {
            bd["limit"] = json!(l);
        }
        m.insert("breakdown".into(), bd);
    } else if a.breakdown_limit.is_some() {
        return Err(Invalid("--breakdown-limit needs --breakdown".into()).into());
    }
    Ok(m)
}

/// `{event, properties}` from a comma-separated name list and filter flags.
fn entity(names: &str, wheres: &[String], flag: &str) -> anyhow::Result<Value> {
    Ok(json!({"event": event_names(names), "properties": filters(wheres, flag)?}))
}

/// A comma-separated list of names as the JSON `event` of an entity: null for "any".
fn event_names(s: &str) -> Value {
    let list: Vec<String> = s
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    match list.as_slice() {
        [] => Value::Null,
        [one] if one == "any" => Value::Null,
        [one] => json!(one),
        _ => json!(list),
    }
}

pub(crate) fn filters(list: &[String], flag: &str) -> anyhow::Result<Vec<Value>> {
    list.iter()
        .map(|f| parse_filter(f).map_err(|m| Invalid(format!("--{flag} {f:?}: {m}")).into()))
        .collect()
}

/// Parses `KEY OP [VALUE]` into a filter object.
fn parse_filter(text: &str) -> Result<Value, String> {
    const OPERATORS: [&str; 11] = [
        "eq",
        "neq",
        "contains",
        "not_contains",
        "gt",
        "gte",
        "lt",
        "lte",
        "is_set",
        "is_not_set",
        "regex",
    ];
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let key = parts
        .next()
        .filter(|k| !k.is_empty())
        .ok_or("expected KEY OP VALUE")?;
    let op = parts.next().ok_or("expected an operator after the key")?;
    if !OPERATORS.contains(&op) {
        return Err(format!(
            "unknown operator {op:?}; expected one of {}",
            OPERATORS.join(", ")
        ));
    }
    let (kind, key) = match key.strip_prefix("person.") {
        Some(k) => ("person", k),
        None => ("event", key),
    };
    let mut f = json!({"type": kind, "key": key, "operator": op});
    if let Some(v) = parts.next() {
        let v = v.trim();
        f["value"] =
            serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()));
    }
    Ok(f)
}

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
    )
}
