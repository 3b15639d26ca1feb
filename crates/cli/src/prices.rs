//! `liucun prices lookup`: which price-table entry a model string matches, by which stage, and the prices in
//! effect at an instant. `liucun prices import`: a third-party price list as a liucun price file.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Subcommand};
use prices::{Lookup, PriceTable, Pricing};
use serde_json::json;

use crate::Invalid;

/// Price tables: what a model string would be priced with, and why.
///
/// Example: liucun prices lookup claude-sonnet-4-20250514 --at 2025-06-01
#[derive(Debug, Args)]
pub(crate) struct PricesArgs {
    #[command(subcommand)]
    command: PricesCommand,
}

#[derive(Debug, Subcommand)]
enum PricesCommand {
    /// Show the entry a model string matches (table, stage, id), its price version at an instant and its prices.
    ///
    /// Override files are searched first, in the order given, then the built-in table; the first table with any
    /// match decides.
    ///
    /// Example: liucun prices lookup gpt-4o --provider openai --at 2025-06-01 --prices my-prices.toml
    Lookup {
        /// The model string, as sent in `$ai_model`.
        model: String,
        /// The provider, as sent in `$ai_provider`.
        #[arg(long)]
        provider: Option<String>,
        /// The instant to price at: a date (00:00 UTC) or an RFC 3339 instant. Default: now.
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// An override price file (TOML, or JSON of the same structure); may be given several times.
        #[arg(long = "prices", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Convert a downloaded third-party price list into a price file (economics.md §5).
    ///
    /// Prices become exact per-1M decimals and the import date becomes `checked`.
    /// LiteLLM keeps no history: the import date is the `effective_from` of new or changed prices, and with
    /// --previous, unchanged models keep their versions and changed ones gain a version.
    /// genai-prices (its `data.json` or `data_slim.json`) dates its own prices: undated ones apply from 1970-01-01,
    /// dated ones from their start date.
    ///
    /// Example: liucun prices import --from litellm model_prices_and_context_window.json --previous default.toml
    ///
    /// Example: liucun prices import --from genai-prices data.json --source-version 0.2.5 --out genai.toml
    Import {
        /// The format of FILE: `litellm` or `genai-prices`.
        #[arg(long = "from", value_name = "FORMAT")]
        format: String,
        /// The downloaded price list.
        file: PathBuf,
        /// The import date, YYYY-MM-DD. Default: today (UTC).
        #[arg(long)]
        date: Option<String>,
        /// The previous price table, whose history is kept (litellm only).
        #[arg(long, value_name = "TABLE")]
        previous: Option<PathBuf>,
        /// Keep only models of these providers (LiteLLM's `litellm_provider`, genai-prices' provider `id`); may
        /// be given several times.
        #[arg(long = "provider", value_name = "PROVIDER")]
        providers: Vec<String>,
        /// The version or commit of the source, for the file header.
        #[arg(long)]
        source_version: Option<String>,
        /// Write the table here instead of stdout; the summary then goes to stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub(crate) fn run(args: PricesArgs) -> anyhow::Result<u8> {
    match args.command {
        PricesCommand::Lookup {
            model,
            provider,
            at,
            files,
            json,
        } => lookup(&model, provider.as_deref(), at.as_deref(), &files, json),
        PricesCommand::Import {
            format,
            file,
            date,
            previous,
            providers,
            source_version,
            out,
        } => import(&ImportPlan {
            format,
            file,
            date,
            previous,
            providers,
            source_version,
            out,
        }),
    }
}

struct ImportPlan {
    format: String,
    file: PathBuf,
    date: Option<String>,
    previous: Option<PathBuf>,
    providers: Vec<String>,
    source_version: Option<String>,
    out: Option<PathBuf>,
}

fn import(plan: &ImportPlan) -> anyhow::Result<u8> {
    let is_genai = match plan.format.as_str() {
        "litellm" => false,
        "genai-prices" => true,
        other => {
            return Err(Invalid(format!(
                "--from {other:?} is not supported; use --from litellm or --from genai-prices"
            ))
            .into());
        }
    };
    if is_genai && plan.previous.is_some() {
        return Err(Invalid(
            "--previous is for --from litellm, which keeps no price history; genai-prices dates its own prices"
                .to_owned(),
        )
        .into());
    }
    let date = plan.date.clone().unwrap_or_else(today);
    let text = std::fs::read_to_string(&plan.file)
        .with_context(|| format!("reading {}", plan.file.display()))?;
    let previous = match &plan.previous {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                PriceTable::parse(&path.display().to_string(), &text)
                    .map_err(|e| Invalid(e.to_string()))?,
            )
        }
        None => None,
    };
    let providers: Vec<String> = plan.providers.iter().map(|p| p.to_lowercase()).collect();
    let keep = |_key: &str, provider: &str| {
        providers.is_empty() || providers.iter().any(|p| p == provider)
    };
    let (table, summary) = if is_genai {
        let header = genai_header(plan, &date, &providers);
        prices::import_genai_prices(&text, &date, &header, &keep)
    } else {
        let header = litellm_header(plan, &date, &providers);
        prices::import_litellm_filtered(&text, &date, previous.as_ref(), &header, &keep)
    }
    .map_err(|e| Invalid(e.to_string()))?;
    let mut report = format!(
        "models     {} ({} new, {} changed, {} unchanged, {} kept from previous)\n",
        summary.n_models,
        summary.n_new,
        summary.n_changed,
        summary.n_unchanged,
        summary.n_kept_from_previous
    );
    for (reason, n) in &summary.skipped_entries {
        let _ = writeln!(report, "skipped    {n} entries: {reason}");
    }
    for (field, n) in &summary.skipped_fields {
        let _ = writeln!(report, "unpriced   field {field} in {n} entries");
    }
    for (what, n) in &summary.notes {
        let _ = writeln!(report, "noted      {n} entries: {what}");
    }
    let mut stdout = std::io::stdout().lock();
    match &plan.out {
        Some(path) => {
            std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
            std::io::Write::write_all(&mut stdout, report.as_bytes())?;
        }
        None => {
            std::io::Write::write_all(&mut stdout, table.as_bytes())?;
            eprint!("{report}");
        }
    }
    Ok(0)
}

/// The header of a table imported from LiteLLM: generator, source, licence, units.
fn litellm_header(plan: &ImportPlan, date: &str, providers: &[String]) -> String {
    let mut header = format!(
        "Generated by `liucun prices import --from litellm` on {date}; edit by re-importing, not by hand.\n\
         Source: BerriAI/litellm, model_prices_and_context_window.json ({}), {}\n\
         Licence: MIT, Copyright (c) 2023 Berri AI; see THIRD_PARTY_NOTICES.\n\
         Prices are per 1M units, converted exactly from LiteLLM's per-token numbers.\n",
        plan.source_version.as_deref().unwrap_or("version unknown"),
        prices::LITELLM_SOURCE,
    );
    if !providers.is_empty() {
        header.push_str(&format!(
            "Filtered to chat/completion models of providers: {}.\n",
            providers.join(", ")
        ));
    }
    header
}

/// The header of a table imported from genai-prices: generator, source, licence, units, dates.
fn genai_header(plan: &ImportPlan, date: &str, providers: &[String]) -> String {
    let file = plan.file.file_name().map_or_else(
        || plan.file.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let mut header = format!(
        "Generated by `liucun prices import --from genai-prices` on {date}; edit by re-importing, not by hand.\n\
         Source: pydantic/genai-prices, {file} ({}), {}\n\
         Licence: MIT, Copyright (c) Pydantic Services Inc. 2025 to present; see THIRD_PARTY_NOTICES.\n\
         Prices are per 1M units as in genai-prices; its per-1K request and web-search prices are multiplied by \
         1,000.\n\
         Undated prices apply from 1970-01-01, as genai-prices applies them at any date.\n",
        plan.source_version.as_deref().unwrap_or("version unknown"),
        prices::GENAI_PRICES_SOURCE,
    );
    if !providers.is_empty() {
        header.push_str(&format!(
            "Filtered to models of providers: {}.\n",
            providers.join(", ")
        ));
    }
    header
}

/// Today's UTC date as `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let z = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn lookup(
    model: &str,
    provider: Option<&str>,
    at: Option<&str>,
    files: &[PathBuf],
    json: bool,
) -> anyhow::Result<u8> {
    let at_us = match at {
        Some(text) => prices::parse_instant(text).ok_or_else(|| {
            Invalid(format!(
                "--at {text:?} is not a date (2025-06-01) or an RFC 3339 instant (2025-06-01T12:00:00Z)"
            ))
        })?,
        None => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
        }
    };
    let mut tables = Vec::with_capacity(files.len());
    for path in files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        tables.push(PriceTable::parse(&name, &text).map_err(|e| Invalid(e.to_string()))?);
    }
    let lookup = Pricing::new(tables.iter().collect()).lookup(model, provider, at_us);
    let out = if json {
        format!("{:#}\n", to_json(&lookup))
    } else {
        render(&lookup, at.unwrap_or("now"))
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes())?;
    Ok(0)
}

fn render(l: &Lookup, at: &str) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        writeln!(out, "{key:<10} {value}").expect("writing to a String cannot fail");
    };
    line("model", &l.model);
    line("provider", l.provider.as_deref().unwrap_or("-"));
    line("at", at);
    line("searched", &l.searched.join(", "));
    if let Some(table) = &l.table {
        line("table", table);
    }
    for (i, c) in l.candidates.iter().enumerate() {
        let why = format!(
            "{} (stage {} {}: {}; provider {}, priority {})",
            c.id,
            c.stage.number(),
            c.stage.as_str(),
            c.matched,
            c.provider,
            c.priority
        );
        line(if i == 0 { "match" } else { "also" }, &why);
    }
    if let (Some(currency), Some(source), Some(checked)) = (&l.currency, &l.source, &l.checked) {
        line("currency", currency);
        line("source", &format!("{source} (checked {checked})"));
        line("versions", &l.versions.join(", "));
    }
    if let Some(version) = &l.version {
        line("version", version);
        let list = |prices: &[(&str, String)]| {
            prices
                .iter()
                .map(|(k, p)| format!("{k} {p}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        line("per 1M", &list(&l.prices));
        for (above, prices) in &l.tiers {
            line("tier", &format!("input > {above}: {}", list(prices)));
        }
        for v in &l.variants {
            let mut text = format!(
                "service_tier {}: {}",
                v.service_tiers.join("|"),
                list(&v.prices)
            );
            if !v.tiers.is_empty() {
                let tiers: Vec<String> = v.tiers.iter().map(|t| format!("> {t}")).collect();
                write!(text, "; own tiers {}", tiers.join(", "))
                    .expect("writing to a String cannot fail");
            }
            line("variant", &text);
        }
    }
    if let Some(reason) = l.unpriced_reason {
        line("unpriced", reason);
    }
    out
}

fn to_json(l: &Lookup) -> serde_json::Value {
    let prices = |p: &[(&str, String)]| -> serde_json::Map<String, serde_json::Value> {
        p.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()
    };
    json!({
        "model": l.model,
        "provider": l.provider,
        "searched": l.searched,
        "table": l.table,
        "candidates": l.candidates.iter().map(|c| json!({
            "id": c.id, "provider": c.provider, "priority": c.priority,
            "stage": c.stage.number(), "how": c.stage.as_str(), "matched": c.matched,
        })).collect::<Vec<_>>(),
        "currency": l.currency,
        "source": l.source,
        "checked": l.checked,
        "versions": l.versions,
        "version": l.version,
        "prices_per_million": prices(&l.prices),
        "tiers": l.tiers.iter().map(|(above, p)| json!({"above_input_tokens": above, "prices_per_million": prices(p)}))
            .collect::<Vec<_>>(),
        "variants": l.variants.iter().map(|v| json!({
            "service_tier": v.service_tiers, "prices_per_million": prices(&v.prices), "tiers": v.tiers,
        })).collect::<Vec<_>>(),
        "unpriced_reason": l.unpriced_reason,
    })
}
