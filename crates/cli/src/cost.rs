//! `liucun cost train`: what one final training run costs (economics.md §7), from parameters and tokens or a
//! published FLOP figure, a GPU from the hardware table, a utilisation and a price per GPU-hour.
//! `liucun cost hardware`: the hardware table it reads. Neither opens the data directory.
//! `liucun cost export`: the costing record of every AI event of a project (economics.md §3).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use prices::train::{self, Estimate, Field, Hardware, HardwareTable, Inputs};
use serde_json::json;

use crate::Invalid;

/// Training-run cost: GPU-hours, cost and days of one final training run (economics.md §7).
///
/// Example: liucun cost train --params 175B --tokens 300B --gpu a100 --price-per-hour 1.5
#[derive(Debug, Args)]
pub(crate) struct CostArgs {
    #[command(subcommand)]
    command: CostCommand,
}

#[derive(Debug, Subcommand)]
enum CostCommand {
    Train(Box<TrainArgs>),
    Hardware(HardwareArgs),
    Export(ExportArgs),
}

/// Write the costing record of every AI event of a project (economics.md §3): source, matched entry and price
/// version, variant and tier, units, price and cost per bucket, unpriced units and flags, in (time, uuid) order.
///
/// The records are the ones `liucun economics` sums with the same price tables; each carries the costing digest
/// they were derived under.
///
/// Examples:
///   liucun cost export -p lanting --prices my-prices.toml --out costs.ndjson
///   liucun cost export -p lanting --from 2025-01-01 --to 2025-01-31 --format csv > january.csv
#[derive(Debug, Args)]
struct ExportArgs {
    /// The project.
    #[arg(short, long)]
    project: String,
    /// A price table (TOML or JSON) searched before the built-in ones; repeat for several, in search order.
    #[arg(long, value_name = "FILE")]
    prices: Vec<PathBuf>,
    /// First UTC day (YYYY-MM-DD) of events to export.
    #[arg(long, value_name = "DAY")]
    from: Option<String>,
    /// Last UTC day (YYYY-MM-DD, inclusive).
    #[arg(long, value_name = "DAY")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
    format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// One JSON object per event, every field of the record.
    Ndjson,
    /// One row per event, a units and a cost column per bucket.
    Csv,
}

/// Estimate one final training run: C = 6 × N_active × D FLOP, GPU-hours = C ÷ (peak × u × 3600), cost =
/// GPU-hours × price. Experiments, failed runs, data, staff and inference are excluded.
///
/// Numbers take an exponent or a K/M/B/T suffix: 175e9, 1.75e11, 175B, 10T.
///
/// Examples:
///   liucun cost train --params 175B --tokens 300B --gpu a100 --price-per-hour 1.5
///   liucun cost train --params 30B --total-params 200B --tokens 10T --gpu h100 --utilization 0.4 --price-per-hour 2.5 --gpus 2048
///   liucun cost train --flop 3.145e23 --gpu v100 --utilization 0.224 --price-per-hour 1.5 --format json
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("peak").required(true).args(["gpu", "peak_tflops"])))]
struct TrainArgs {
    /// N: parameters; for a mixture of experts, the parameters active per token.
    #[arg(
        long,
        visible_alias = "active-params",
        value_name = "N",
        allow_hyphen_values = true
    )]
    params: Option<String>,
    /// All parameters of a mixture of experts, shown for reference; the estimate uses --params.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    total_params: Option<String>,
    /// D: training tokens.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    tokens: Option<String>,
    /// A published training-compute figure in FLOP, used instead of 6 × N × D (GPT-3: 3.145e23).
    #[arg(long, value_name = "FLOP", allow_hyphen_values = true)]
    flop: Option<String>,
    /// The accelerator, by name or alias (`liucun cost hardware` lists them): v100, a100, h100, h800, b200, 910b, …
    #[arg(long)]
    gpu: Option<String>,
    /// Peak dense TFLOP/s of one GPU, instead of --gpu (never a "with sparsity" figure).
    #[arg(long, value_name = "TFLOPS", allow_hyphen_values = true)]
    peak_tflops: Option<String>,
    /// A hardware table (TOML, the schema of the built-in one) that replaces the built-in table.
    #[arg(long, value_name = "FILE", conflicts_with = "peak_tflops")]
    hardware: Option<PathBuf>,
    /// u: the share of peak FLOP/s achieved, in (0, 1]. The band shows 0.2 and 0.5 too.
    #[arg(
        long,
        visible_alias = "utilisation",
        value_name = "U",
        default_value = "0.3",
        allow_hyphen_values = true
    )]
    utilization: String,
    /// Dollars per GPU-hour; without it the estimate gives GPU-hours but no cost.
    #[arg(long, value_name = "DOLLARS", allow_hyphen_values = true)]
    price_per_hour: Option<String>,
    /// GPUs running at once; gives wall-clock days.
    #[arg(long, value_name = "COUNT", allow_hyphen_values = true)]
    gpus: Option<String>,
    /// Multiplies GPU-hours for reruns and restarts (at least 1); cost and days follow.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    overhead: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// List the hardware table: each accelerator's peak dense TFLOP/s, precision, aliases, source and notes.
///
/// Example: liucun cost hardware --format json
#[derive(Debug, Args)]
struct HardwareArgs {
    /// A hardware table (TOML) to list instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    hardware: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned text with the formula and every assumption.
    Table,
    /// One JSON object, for scripts.
    Json,
}

pub(crate) fn run(data: &Path, args: CostArgs) -> anyhow::Result<u8> {
    let out = match args.command {
        CostCommand::Export(args) => return export(data, &args),
        CostCommand::Train(args) => {
            let (inputs, format) = plan(&args)?;
            let estimate = train::estimate(&inputs).map_err(invalid)?;
            match format {
                Format::Table => render(&estimate),
                Format::Json => format!("{:#}\n", to_json(&estimate)),
            }
        }
        CostCommand::Hardware(args) => {
            let table = hardware_table(args.hardware.as_deref())?;
            match args.format {
                Format::Table => render_hardware(&table),
                Format::Json => format!("{:#}\n", hardware_json(&table)),
            }
        }
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(0)
}

/// Checks and resolves what the user typed: numbers parsed, the GPU looked up, defaults applied.
fn plan(args: &TrainArgs) -> anyhow::Result<(Inputs, Format)> {
    let quantity = |field, text: &Option<String>| -> anyhow::Result<Option<f64>> {
        text.as_deref()
            .map(|t| train::parse_quantity(field, t).map_err(invalid))
            .transpose()
    };
    let hardware = match (&args.peak_tflops, &args.gpu) {
        (Some(peak), _) => {
            Hardware::custom(train::parse_quantity(Field::PeakTflops, peak).map_err(invalid)?)
                .map_err(invalid)?
        }
        (None, Some(gpu)) => {
            let table = hardware_table(args.hardware.as_deref())?;
            let found = table.find(gpu).map_err(|e| match e {
                train::Error::UnknownGpu { name, known } => Invalid(format!(
                    "--gpu: unknown GPU {name:?}; known: {} (`liucun cost hardware` lists the aliases; \
                     --peak-tflops gives a peak by hand)",
                    known.join(", ")
                ))
                .into(),
                other => invalid(other),
            })?;
            found.clone()
        }
        // clap requires one of the two; this arm only keeps the match total.
        (None, None) => return Err(Invalid("give --gpu or --peak-tflops".to_string()).into()),
    };
    let gpus = args
        .gpus
        .as_deref()
        .map(|t| train::parse_count(Field::Gpus, t).map_err(invalid))
        .transpose()?;
    let inputs = Inputs {
        active_params: quantity(Field::Params, &args.params)?,
        total_params: quantity(Field::TotalParams, &args.total_params)?,
        tokens: quantity(Field::Tokens, &args.tokens)?,
        flop: quantity(Field::Flop, &args.flop)?,
        utilization: train::parse_quantity(Field::Utilization, &args.utilization)
            .map_err(invalid)?,
        price_per_hour: quantity(Field::PricePerHour, &args.price_per_hour)?,
        gpus,
        overhead: train::parse_quantity(Field::Overhead, &args.overhead).map_err(invalid)?,
        ..Inputs::new(hardware)
    };
    Ok((inputs, args.format))
}

/// The built-in table, or the user's file in its place.
fn hardware_table(path: Option<&Path>) -> anyhow::Result<HardwareTable> {
    let Some(path) = path else {
        return Ok(HardwareTable::builtin());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    HardwareTable::parse(&name, &text).map_err(invalid)
}

/// An estimator error as invalid input (exit 2), named by its command-line flag.
fn invalid(e: train::Error) -> anyhow::Error {
    let message = match &e {
        train::Error::Input { field, problem } => format!("{}: {problem}", flag(*field)),
        train::Error::NoCompute => {
            "no training compute: give --flop, or both --params and --tokens".to_string()
        }
        other => other.to_string(),
    };
    Invalid(message).into()
}

fn flag(field: Field) -> String {
    format!("--{}", field.as_str().replace('_', "-"))
}

fn render(e: &Estimate) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        writeln!(out, "{key:<12} {value}").expect("writing to a String cannot fail");
    };
    line(
        "estimate",
        "one final training run (experiments, failed runs, data, staff and inference excluded)",
    );
    line(
        "formula",
        "C = 6 × N_active × D FLOP; GPU-hours = C ÷ (peak × u × 3600) × overhead; cost = GPU-hours × price",
    );
    if let Some(n) = e.active_params {
        let mut text = format!("{} ({})", train::format_scaled(n), train::format_sci(n));
        if let Some(total) = e.total_params {
            write!(text, " active of {} total", train::format_scaled(total))
                .expect("writing to a String cannot fail");
        }
        line("params", &text);
    } else if let Some(total) = e.total_params {
        line("params", &format!("{} total", train::format_scaled(total)));
    }
    if let Some(d) = e.tokens {
        line(
            "tokens",
            &format!("{} ({})", train::format_scaled(d), train::format_sci(d)),
        );
    }
    let flop = match e.compute {
        train::Compute::Formula => format!("{} (6 × N × D)", train::format_sci(e.flop)),
        train::Compute::Given {
            formula_flop: Some(f),
        } => format!(
            "{} (given; 6 × N × D would be {})",
            train::format_sci(e.flop),
            train::format_sci(f)
        ),
        train::Compute::Given { formula_flop: None } => {
            format!("{} (given)", train::format_sci(e.flop))
        }
    };
    line("FLOP", &flop);
    let hw = &e.hardware;
    line(
        "GPU",
        &format!(
            "{}: {} TFLOP/s peak dense, {}",
            hw.name,
            plain(hw.peak_dense_tflops, 1),
            hw.precision
        ),
    );
    line(
        "utilisation",
        &format!(
            "{} → {} TFLOP/s achieved per GPU",
            plain(e.utilization, 3),
            plain(e.achieved_tflops, 1)
        ),
    );
    if e.overhead > 1.0 {
        line("overhead", &format!("× {}", plain(e.overhead, 3)));
    }
    line("GPU-hours", &thousands(e.gpu_hours));
    line("GPU-years", &plain(e.gpu_years, 1));
    match (e.price_per_hour, e.cost) {
        (Some(price), Some(cost)) => {
            line(
                "price",
                &format!("{} per GPU-hour", train::format_price(price)),
            );
            line("cost", &money(cost));
        }
        _ => line("cost", "- (no --price-per-hour)"),
    }
    if let (Some(n), Some(days)) = (e.gpus, e.days) {
        line(
            "days",
            &format!("{} on {} GPUs", plain(days, 1), thousands(n as f64)),
        );
    }

    out.push_str("\nutilisation band\n");
    // The cost and days columns appear only when a price and a GPU count were given.
    let (has_cost, has_days) = (e.cost.is_some(), e.days.is_some());
    let mut header = vec!["u".to_string(), "GPU-hours".to_string()];
    let mut right = vec![false, true];
    if has_cost {
        header.push("cost".to_string());
        right.push(true);
    }
    if has_days {
        header.push("days".to_string());
        right.push(true);
    }
    header.push(String::new());
    right.push(false);
    let mut rows = vec![header];
    for p in &e.band {
        let mut row = vec![plain(p.utilization, 3), thousands(p.gpu_hours)];
        if let Some(cost) = p.cost.filter(|_| has_cost) {
            row.push(money_whole(cost));
        }
        if let Some(days) = p.days.filter(|_| has_days) {
            row.push(plain(days, 1));
        }
        row.push(if p.is_chosen { "(chosen)" } else { "" }.to_string());
        rows.push(row);
    }
    out.push_str(&align(&rows, &right));

    out.push_str("\nassumptions\n");
    for a in &e.assumptions {
        writeln!(out, "  - {a}").expect("writing to a String cannot fail");
    }
    out
}

fn to_json(e: &Estimate) -> serde_json::Value {
    let (flop_source, formula_flop) = match e.compute {
        train::Compute::Formula => ("formula", Some(e.flop)),
        train::Compute::Given { formula_flop } => ("given", formula_flop),
    };
    json!({
        "kind": "training_run_cost",
        "formula": "C = 6 × N_active × D",
        "flop": e.flop,
        "flop_source": flop_source,
        "formula_flop": formula_flop,
        "active_params": e.active_params,
        "total_params": e.total_params,
        "tokens": e.tokens,
        "hardware": hardware_row_json(&e.hardware),
        "utilization": e.utilization,
        "achieved_tflops": e.achieved_tflops,
        "overhead": e.overhead,
        "price_per_gpu_hour": e.price_per_hour,
        "currency": "USD",
        "gpus": e.gpus,
        "gpu_hours": e.gpu_hours,
        "gpu_years": e.gpu_years,
        "cost": e.cost,
        "days": e.days,
        "band": e.band.iter().map(|p| json!({
            "utilization": p.utilization,
            "chosen": p.is_chosen,
            "gpu_hours": p.gpu_hours,
            "cost": p.cost,
            "days": p.days,
        })).collect::<Vec<_>>(),
        "assumptions": e.assumptions,
    })
}

fn render_hardware(table: &HardwareTable) -> String {
    let mut out = format!(
        "hardware table {}: peak dense TFLOP/s per accelerator (never a \"with sparsity\" figure)\n\n",
        table.name()
    );
    let mut rows = vec![vec![
        "name".to_string(),
        "TFLOP/s".to_string(),
        "precision".to_string(),
        "aliases".to_string(),
        "source".to_string(),
    ]];
    for h in table.rows() {
        rows.push(vec![
            h.name.clone(),
            plain(h.peak_dense_tflops, 1),
            h.precision.clone(),
            h.aliases.join(", "),
            h.source.clone(),
        ]);
    }
    out.push_str(&align(&rows, &[false, true, false, false, false]));
    out.push_str("\nnotes\n");
    for h in table.rows().iter().filter(|h| !h.notes.is_empty()) {
        writeln!(out, "  {}: {}", h.name, h.notes).expect("writing to a String cannot fail");
    }
    out
}

fn hardware_json(table: &HardwareTable) -> serde_json::Value {
    json!({
        "table": table.name(),
        "gpus": table.rows().iter().map(hardware_row_json).collect::<Vec<_>>(),
    })
}

fn hardware_row_json(h: &Hardware) -> serde_json::Value {
    json!({
        "name": h.name,
        "aliases": h.aliases,
        "peak_dense_tflops": h.peak_dense_tflops,
        "precision": h.precision,
        "source": h.source,
        "notes": h.notes,
    })
}

/// Columns padded to their widest cell, two spaces apart, each line indented by two; `right` aligns numbers.
fn align(rows: &[Vec<String>], right: &[bool]) -> String {
    let n_columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n_columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut text = String::from(" ");
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            text.push(' ');
            if right[c] {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push(' ');
        }
        writeln!(out, "{}", text.trim_end()).expect("writing to a String cannot fail");
    }
    out
}

/// A number rounded to the nearest whole, with thousands separators: `3,120,040`; beyond 10¹⁵ in scientific
/// notation.
fn thousands(x: f64) -> String {
    if x.abs() >= 1e15 {
        return train::format_sci(x);
    }
    // Below 10^15 in magnitude, so the rounded value fits an i64 exactly.
    let whole = x.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if whole < 0 {
        out.insert(0, '-');
    }
    out
}

/// Dollars, whole, with separators and a short form: `$4,680,060 ($4.68M)`.
fn money(x: f64) -> String {
    if x < 1e3 {
        return format!("${x:.2}");
    }
    let short = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
        .into_iter()
        .find(|(scale, _)| x >= *scale)
        .map(|(scale, suffix)| format!("${:.2}{suffix}", x / scale))
        .expect("x is at least 1e3");
    format!("{} ({short})", money_whole(x))
}

fn money_whole(x: f64) -> String {
    if x < 1e3 {
        return format!("${x:.2}");
    }
    format!("${}", thousands(x))
}

/// A number with up to `decimals` decimals, trailing zeros trimmed, and separators in the whole part: `0.224`,
/// `356.2`, `1,234.5`.
fn plain(x: f64, decimals: usize) -> String {
    let text = format!("{x:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    match text.split_once('.') {
        Some((whole, fraction)) if whole.len() > 3 => {
            format!(
                "{}.{fraction}",
                thousands(whole.parse().unwrap_or(x.trunc()))
            )
        }
        None if text.len() > 3 => thousands(x),
        _ => text.to_string(),
    }
}

fn export(data: &Path, a: &ExportArgs) -> anyhow::Result<u8> {
    let day = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<liucun::model::Day>> {
        text.as_deref()
            .map(|t| {
                liucun::model::Day::parse(t).ok_or_else(|| {
                    Invalid(format!("{flag} {t:?}: expected a day, YYYY-MM-DD")).into()
                })
            })
            .transpose()
    };
    let (from, to) = (day("--from", &a.from)?, day("--to", &a.to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(Invalid(format!("--from {f} is after --to {t}")).into());
    }
    let texts: Vec<String> = match crate::report::price_tables(&a.prices)? {
        serde_json::Value::Array(v) => v
            .into_iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let tables = report::economics::Tables::load(&texts).map_err(|e| Invalid(e.to_string()))?;
    let digest = tables.digest();
    let coster = tables.coster();
    let engine = crate::open_for_reading(data)?;
    let mut out: Box<dyn std::io::Write> = match &a.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if a.format == ExportFormat::Csv {
        let mut header = String::from(
            "uuid,timestamp,distinct_id,event,source,currency,cost,model,table,model_id,price_version,variant,tier,\
             partially_priced,unpriced_reason,flags",
        );
        for b in prices::Bucket::ALL.map(prices::Bucket::as_str) {
            let _ = write!(header, ",{b}_units,{b}_cost");
        }
        writeln!(out, "{header}")?;
    }
    let mut written: std::io::Result<()> = Ok(());
    let n = engine.for_each_ai_event(&a.project, from, to, |e| {
        let mut r = coster.record(&e.properties, e.timestamp.0);
        let ts = report::window::format_utc(e.timestamp.0);
        let line = match a.format {
            ExportFormat::Ndjson => {
                let mut m = serde_json::Map::new();
                m.insert("uuid".into(), e.uuid.to_string().into());
                m.insert("timestamp".into(), ts.into());
                m.insert("distinct_id".into(), e.distinct_id.clone().into());
                m.insert("event".into(), e.event.clone().into());
                if let Some(fields) = r.as_object_mut() {
                    m.append(fields);
                }
                m.insert("costing".into(), digest.clone().into());
                serde_json::Value::Object(m).to_string()
            }
            ExportFormat::Csv => csv_row(e, &ts, &r),
        };
        // The IO error is kept as it is (a closed pipe ends the command quietly); the engine only stops.
        writeln!(out, "{line}").map_err(|err| {
            let stop = liucun::Error::Invalid(format!("writing: {err}"));
            written = Err(err);
            stop
        })
    });
    written?;
    let n = n?;
    out.flush()?;
    eprintln!("{n} costing records (costing {digest})");
    Ok(0)
}

/// One CSV row of a costing record.
fn csv_row(e: &liucun::AiEvent, ts: &str, r: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| -> String {
        match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let quote = |s: &str| -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let flags: Vec<String> = r["flags"]
        .as_array()
        .map(|f| f.iter().map(text).collect())
        .unwrap_or_default();
    let mut cells: Vec<String> = vec![
        e.uuid.to_string(),
        ts.to_string(),
        e.distinct_id.clone(),
        e.event.clone(),
    ];
    for k in [
        "source",
        "currency",
        "cost",
        "model",
        "table",
        "model_id",
        "price_version",
        "variant",
        "tier",
        "partially_priced",
        "unpriced_reason",
    ] {
        cells.push(text(&r[k]));
    }
    cells.push(flags.join(" "));
    for b in prices::Bucket::ALL.map(prices::Bucket::as_str) {
        let priced = r["buckets"]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["bucket"] == b));
        let unpriced = r["unpriced_units"]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["bucket"] == b));
        let units = priced.or(unpriced).map(|x| text(&x["units"]));
        cells.push(units.unwrap_or_default());
        cells.push(priced.map(|x| text(&x["cost"])).unwrap_or_default());
    }
    cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(thousands(3_120_039.68), "3,120,040");
        assert_eq!(thousands(933_333.3), "933,333");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1e16), "1e16");
        assert_eq!(money(4_680_059.5), "$4,680,060 ($4.68M)");
        assert_eq!(money(12.5), "$12.50");
        assert_eq!(plain(0.224, 3), "0.224");
        assert_eq!(plain(356.168, 1), "356.2");
        assert_eq!(plain(25.0, 1), "25");
        assert_eq!(plain(1_234.56, 1), "1,234.6");
        assert_eq!(plain(2_250.0, 1), "2,250");
    }
}
