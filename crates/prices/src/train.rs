//! What one final training run costs (economics.md §7, §9 item 13): training compute C = 6 × N_active × D FLOP
//! (or a published figure), divided by a GPU's achieved throughput, gives GPU-hours, GPU-years, cost and
//! wall-clock days, with a utilisation band and every assumption written out.
//!
//! [`estimate`] checks [`Inputs`] and returns an [`Estimate`]; [`HardwareTable`] holds the accelerators' peak dense
//! FLOP/s, editable data embedded from `data/hardware.toml` or read from a user file; [`parse_quantity`] reads
//! numbers such as `175e9` or `175B`. Unlike the rest of the crate this is an order-of-magnitude estimate, so it
//! computes in `f64`; it does no IO either.

use std::collections::HashMap;
use std::fmt;

/// Epoch AI's default utilisation for language models (economics.md §7).
pub const DEFAULT_UTILIZATION: f64 = 0.30;

/// The fixed ends of the utilisation band; the chosen utilisation sits between them (economics.md §7).
pub const BAND_UTILIZATIONS: [f64; 2] = [0.2, 0.5];

/// Hours in a GPU-year (365 days).
pub const HOURS_PER_YEAR: f64 = 8_760.0;

/// The built-in hardware table.
const BUILTIN_HARDWARE: &str = include_str!("../data/hardware.toml");

/// Training FLOP per active parameter per training token: forward ≈ 2, backward ≈ 4.
const FLOP_PER_PARAM_TOKEN: f64 = 6.0;

/// GPU counts above this are refused: beyond it `f64` no longer holds every whole number.
const MAX_GPUS: u64 = 1 << 53;

/// What the estimate starts from. Build it with [`Inputs::new`] and set the fields that apply.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// N: parameters; for a mixture of experts, the parameters active per token.
    pub active_params: Option<f64>,
    /// All parameters of a mixture of experts, shown for reference; at least `active_params`.
    pub total_params: Option<f64>,
    /// D: training tokens.
    pub tokens: Option<f64>,
    /// A published training-compute figure in FLOP, used instead of 6 × N × D.
    pub flop: Option<f64>,
    /// The accelerator and its peak dense throughput.
    pub hardware: Hardware,
    /// u: the share of peak throughput achieved, in (0, 1].
    pub utilization: f64,
    /// Price of one GPU-hour, in dollars; without it the estimate has GPU-hours but no cost.
    pub price_per_hour: Option<f64>,
    /// Number of GPUs running at once; with it the estimate has wall-clock days.
    pub gpus: Option<u64>,
    /// Multiplies GPU-hours (reruns, restarts); at least 1. Cost and days follow.
    pub overhead: f64,
}

/// One accelerator of the hardware table, or a peak given by hand.
#[derive(Clone, PartialEq, Debug)]
pub struct Hardware {
    pub name: String,
    pub aliases: Vec<String>,
    /// Peak dense TFLOP/s of one accelerator at `precision`; never a "with sparsity" figure.
    pub peak_dense_tflops: f64,
    pub precision: String,
    pub source: String,
    pub notes: String,
}

/// A validated hardware table: names and aliases are unique, peaks positive and finite.
#[derive(Clone, Debug)]
pub struct HardwareTable {
    name: String,
    rows: Vec<Hardware>,
    /// Normalised names and aliases to row positions.
    by_key: HashMap<String, usize>,
}

/// The result of [`estimate`]: the inputs as used, the outputs, the band and the assumptions.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// Where the training compute comes from.
    pub compute: Compute,
    /// C: training compute, in FLOP.
    pub flop: f64,
    pub active_params: Option<f64>,
    pub total_params: Option<f64>,
    pub tokens: Option<f64>,
    pub hardware: Hardware,
    pub utilization: f64,
    /// Achieved TFLOP/s per GPU: peak × u.
    pub achieved_tflops: f64,
    pub overhead: f64,
    pub price_per_hour: Option<f64>,
    pub gpus: Option<u64>,
    /// C ÷ (peak × u × 3600) × overhead.
    pub gpu_hours: f64,
    /// GPU-hours ÷ 8,760.
    pub gpu_years: f64,
    /// GPU-hours × price, in dollars, when a price was given.
    pub cost: Option<f64>,
    /// GPU-hours ÷ GPUs ÷ 24, when a GPU count was given.
    pub days: Option<f64>,
    /// GPU-hours and cost at u = 0.2, the chosen u and 0.5, by ascending u (the chosen u once when it is an end).
    pub band: Vec<BandPoint>,
    /// The formula and every assumption behind the numbers, as sentences.
    pub assumptions: Vec<String>,
}

/// Where the training compute of an [`Estimate`] comes from.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Compute {
    /// C = 6 × N_active × D.
    Formula,
    /// A published figure; `formula_flop` is 6 × N × D when N and D were given too, for comparison.
    Given { formula_flop: Option<f64> },
}

/// The estimate at one utilisation.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct BandPoint {
    pub utilization: f64,
    /// This is the utilisation the estimate was made at.
    pub is_chosen: bool,
    pub gpu_hours: f64,
    pub cost: Option<f64>,
    pub days: Option<f64>,
}

/// Why an estimate or a hardware table was refused. Every refusal names the field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One input is unusable.
    #[error("{field}: {problem}")]
    Input { field: Field, problem: Problem },
    /// Neither a FLOP figure nor parameters and tokens.
    #[error("no training compute: give flop, or both params and tokens")]
    NoCompute,
    /// The GPU is in neither the names nor the aliases of the table.
    #[error("gpu: unknown GPU {name:?}; known: {}", .known.join(", "))]
    UnknownGpu { name: String, known: Vec<String> },
    /// The inputs are each valid but their combination leaves the range of `f64`.
    #[error(
        "{quantity} comes out as {value}, not a positive finite number; check the inputs' magnitudes"
    )]
    OutOfRange { quantity: &'static str, value: f64 },
    /// The hardware table is not TOML.
    #[error("hardware table {file}: {message}")]
    HardwareSyntax { file: String, message: String },
    /// The hardware table parses but breaks a rule of its schema.
    #[error("hardware table {file}: {}{field}: {problem}", in_row(.row))]
    HardwareInvalid {
        file: String,
        /// The row's `name`, or `gpu[i]` when it has none; `None` for top-level fields.
        row: Option<String>,
        field: String,
        problem: Problem,
    },
}

/// An input of [`Inputs`], named as the command line names it (with `_` for `-`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    Params,
    TotalParams,
    Tokens,
    Flop,
    Utilization,
    PricePerHour,
    Gpus,
    Overhead,
    PeakTflops,
}

/// What is wrong with an input or a hardware-table field.
#[derive(Clone, PartialEq, Debug)]
pub enum Problem {
    /// A required value is absent.
    Missing,
    /// The text is not a number.
    NotANumber { text: String },
    /// A letter suffix other than K, M, B or T.
    UnknownSuffix { text: String },
    /// Both an exponent and a suffix, as in `1e3B`.
    ExponentAndSuffix { text: String },
    /// NaN or infinite, including a number too large for `f64`.
    NotFinite,
    /// Zero or negative.
    NotPositive { value: f64 },
    /// Outside the allowed range, described by `expected`.
    OutOfRange { value: f64, expected: &'static str },
    /// A count with a fractional part.
    NotWhole { value: f64 },
    /// Total parameters below the active ones.
    BelowActive { active: f64 },
    /// A key the hardware schema does not define.
    UnknownKey,
    /// The value has the wrong type.
    WrongType { expected: &'static str },
    /// `schema_version` is not `1`.
    UnsupportedSchema,
    /// This name or alias is also a name of another row.
    SharedName { name: String, other: String },
    /// The table has no rows.
    NoRows,
}

impl Inputs {
    /// Inputs with the defaults of economics.md §7 (u = 0.30, overhead 1) and nothing else set.
    pub fn new(hardware: Hardware) -> Inputs {
        Inputs {
            active_params: None,
            total_params: None,
            tokens: None,
            flop: None,
            hardware,
            utilization: DEFAULT_UTILIZATION,
            price_per_hour: None,
            gpus: None,
            overhead: 1.0,
        }
    }
}

impl Hardware {
    /// An accelerator known only by its peak, as given on the command line.
    ///
    /// # Errors
    /// `peak_tflops` is not positive and finite.
    pub fn custom(peak_tflops: f64) -> Result<Hardware, Error> {
        let peak = positive(Field::PeakTflops, peak_tflops)?;
        Ok(Hardware {
            name: "custom".to_string(),
            aliases: Vec::new(),
            peak_dense_tflops: peak,
            precision: "as given".to_string(),
            source: "--peak-tflops".to_string(),
            notes: String::new(),
        })
    }
}

impl HardwareTable {
    /// The built-in table, `data/hardware.toml`.
    pub fn builtin() -> HardwareTable {
        HardwareTable::parse("hardware.toml", BUILTIN_HARDWARE)
            .expect("the built-in hardware table is valid; a unit test parses it")
    }

    /// Parses and validates a hardware table (the schema of `data/hardware.toml`).
    ///
    /// # Errors
    /// The text is not TOML, or a row lacks a field, has an unknown key or a wrong type, a peak is not positive and
    /// finite, or two rows share a name or alias; the error names `name`, the row and the field.
    pub fn parse(name: &str, text: &str) -> Result<HardwareTable, Error> {
        let root: toml::Table = toml::from_str(text).map_err(|e| Error::HardwareSyntax {
            file: name.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |row: Option<String>, field: &str, problem: Problem| Error::HardwareInvalid {
            file: name.to_string(),
            row,
            field: field.to_string(),
            problem,
        };
        for key in root.keys() {
            if key != "schema_version" && key != "gpu" {
                return Err(invalid(None, key, Problem::UnknownKey));
            }
        }
        match root.get("schema_version") {
            None => return Err(invalid(None, "schema_version", Problem::Missing)),
            Some(toml::Value::Integer(1)) => {}
            Some(toml::Value::Integer(_)) => {
                return Err(invalid(None, "schema_version", Problem::UnsupportedSchema));
            }
            Some(_) => {
                let expected = "an integer";
                return Err(invalid(
                    None,
                    "schema_version",
                    Problem::WrongType { expected },
                ));
            }
        }
        let gpus = match root.get("gpu") {
            None => return Err(invalid(None, "gpu", Problem::NoRows)),
            Some(toml::Value::Array(rows)) => rows,
            Some(_) => {
                let expected = "an array of tables";
                return Err(invalid(None, "gpu", Problem::WrongType { expected }));
            }
        };
        if gpus.is_empty() {
            return Err(invalid(None, "gpu", Problem::NoRows));
        }
        let mut rows = Vec::with_capacity(gpus.len());
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (i, value) in gpus.iter().enumerate() {
            let position = format!("gpu[{i}]");
            let Some(row) = value.as_table() else {
                let expected = "a table";
                return Err(invalid(None, &position, Problem::WrongType { expected }));
            };
            let label = match row.get("name") {
                Some(toml::Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => position,
            };
            let hardware = parse_row(row)
                .map_err(|(field, problem)| invalid(Some(label.clone()), &field, problem))?;
            for alias in std::iter::once(&hardware.name).chain(&hardware.aliases) {
                match by_key.get(&key(alias)) {
                    Some(&other) if other != i => {
                        let other: &Hardware = &rows[other];
                        let problem = Problem::SharedName {
                            name: alias.clone(),
                            other: other.name.clone(),
                        };
                        return Err(invalid(Some(label), "aliases", problem));
                    }
                    Some(_) => {}
                    None => {
                        by_key.insert(key(alias), i);
                    }
                }
            }
            rows.push(hardware);
        }
        Ok(HardwareTable {
            name: name.to_string(),
            rows,
            by_key,
        })
    }

    /// The name the table was parsed under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rows, in file order.
    pub fn rows(&self) -> &[Hardware] {
        &self.rows
    }

    /// The row whose name or alias is `gpu`, ignoring case, spaces, `-` and `_`.
    ///
    /// # Errors
    /// No row matches; the error lists the known names.
    pub fn find(&self, gpu: &str) -> Result<&Hardware, Error> {
        match self.by_key.get(&key(gpu)) {
            Some(&i) => Ok(&self.rows[i]),
            None => Err(Error::UnknownGpu {
                name: gpu.to_string(),
                known: self.rows.iter().map(|r| r.name.clone()).collect(),
            }),
        }
    }
}

/// Estimates one final training run.
///
/// # Errors
/// An input is not positive and finite (u must lie in (0, 1], the overhead be at least 1, total parameters at least
/// the active ones), neither `flop` nor both `active_params` and `tokens` are given, or a result overflows.
pub fn estimate(inputs: &Inputs) -> Result<Estimate, Error> {
    let active_params = optional_positive(Field::Params, inputs.active_params)?;
    let total_params = optional_positive(Field::TotalParams, inputs.total_params)?;
    let tokens = optional_positive(Field::Tokens, inputs.tokens)?;
    let given_flop = optional_positive(Field::Flop, inputs.flop)?;
    if let (Some(total), Some(active)) = (total_params, active_params)
        && total < active
    {
        let problem = Problem::BelowActive { active };
        return Err(Error::Input {
            field: Field::TotalParams,
            problem,
        });
    }
    let utilization = positive(Field::Utilization, inputs.utilization)?;
    if utilization > 1.0 {
        let problem = Problem::OutOfRange {
            value: utilization,
            expected: "in (0, 1]",
        };
        return Err(Error::Input {
            field: Field::Utilization,
            problem,
        });
    }
    let overhead = positive(Field::Overhead, inputs.overhead)?;
    if overhead < 1.0 {
        let problem = Problem::OutOfRange {
            value: overhead,
            expected: "at least 1 (it multiplies GPU-hours for reruns)",
        };
        return Err(Error::Input {
            field: Field::Overhead,
            problem,
        });
    }
    let price_per_hour = optional_positive(Field::PricePerHour, inputs.price_per_hour)?;
    let gpus = match inputs.gpus {
        Some(0) => {
            return Err(Error::Input {
                field: Field::Gpus,
                problem: Problem::NotPositive { value: 0.0 },
            });
        }
        Some(n) if n > MAX_GPUS => {
            let problem = Problem::OutOfRange {
                value: n as f64,
                expected: "at most 2^53",
            };
            return Err(Error::Input {
                field: Field::Gpus,
                problem,
            });
        }
        other => other,
    };
    let peak_tflops = positive(Field::PeakTflops, inputs.hardware.peak_dense_tflops)?;

    let formula_flop = match (active_params, tokens) {
        (Some(n), Some(d)) => Some(finite("6 × N × D", FLOP_PER_PARAM_TOKEN * n * d)?),
        _ => None,
    };
    let (flop, compute) = match (given_flop, formula_flop) {
        (Some(c), _) => (c, Compute::Given { formula_flop }),
        (None, Some(c)) => (c, Compute::Formula),
        (None, None) => {
            return Err(match (active_params, tokens) {
                (Some(_), None) => Error::Input {
                    field: Field::Tokens,
                    problem: Problem::Missing,
                },
                (None, Some(_)) => Error::Input {
                    field: Field::Params,
                    problem: Problem::Missing,
                },
                _ => Error::NoCompute,
            });
        }
    };

    let at = |u: f64| -> Result<BandPoint, Error> {
        let gpu_hours = finite(
            "GPU-hours",
            flop / (peak_tflops * 1e12 * u * 3600.0) * overhead,
        )?;
        let cost = price_per_hour
            .map(|p| finite("cost", gpu_hours * p))
            .transpose()?;
        let days = gpus.map(|n| gpu_hours / n as f64 / 24.0);
        Ok(BandPoint {
            utilization: u,
            is_chosen: u == utilization,
            gpu_hours,
            cost,
            days,
        })
    };
    let chosen = at(utilization)?;
    let mut band = vec![chosen];
    for u in BAND_UTILIZATIONS {
        if u != utilization {
            band.push(at(u)?);
        }
    }
    band.sort_by(|a, b| a.utilization.total_cmp(&b.utilization));

    let hardware = inputs.hardware.clone();
    let mut estimate = Estimate {
        compute,
        flop,
        active_params,
        total_params,
        tokens,
        achieved_tflops: peak_tflops * utilization,
        hardware,
        utilization,
        overhead,
        price_per_hour,
        gpus,
        gpu_hours: chosen.gpu_hours,
        gpu_years: chosen.gpu_hours / HOURS_PER_YEAR,
        cost: chosen.cost,
        days: chosen.days,
        band,
        assumptions: Vec::new(),
    };
    estimate.assumptions = assumptions(&estimate);
    Ok(estimate)
}

/// Reads a number as typed on a command line: `175e9`, `1.75e11`, `0.3`, or a number with one of the suffixes
/// K (10³), M (10⁶), B (10⁹) and T (10¹²), in either case: `175B`, `10t`, `1.5 M`. Signs are kept, so that
/// [`estimate`] can say that a value must be positive.
///
/// # Errors
/// The text is not a number, has another suffix, has both an exponent and a suffix, or is too large for `f64`; the
/// error names `field`.
pub fn parse_quantity(field: Field, text: &str) -> Result<f64, Error> {
    let err = |problem| Error::Input { field, problem };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
        .unwrap_or(trimmed.len());
    let (number, suffix) = (&trimmed[..split], trimmed[split..].trim_start());
    let not_a_number = || {
        err(Problem::NotANumber {
            text: text.to_string(),
        })
    };
    if number.is_empty() || number.parse::<f64>().is_err() {
        return Err(not_a_number());
    }
    let value = if suffix.is_empty() {
        number.parse::<f64>().map_err(|_| not_a_number())?
    } else {
        if !suffix.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(not_a_number());
        }
        let exponent = match suffix.to_ascii_uppercase().as_str() {
            "K" => 3,
            "M" => 6,
            "B" => 9,
            "T" => 12,
            _ => {
                let text = text.to_string();
                return Err(err(Problem::UnknownSuffix { text }));
            }
        };
        if number.contains(['e', 'E']) {
            return Err(err(Problem::ExponentAndSuffix {
                text: text.to_string(),
            }));
        }
        // Parsing "1.75e9" rounds once; 1.75 × 1e9 in floating point would round twice.
        format!("{number}e{exponent}")
            .parse::<f64>()
            .map_err(|_| not_a_number())?
    };
    if !value.is_finite() {
        return Err(err(Problem::NotFinite));
    }
    Ok(value)
}

/// Reads a count (a GPU count) like [`parse_quantity`]: `2048`, `2K`.
///
/// # Errors
/// As [`parse_quantity`], and the value is not a positive whole number up to 2^53.
pub fn parse_count(field: Field, text: &str) -> Result<u64, Error> {
    let value = positive(field, parse_quantity(field, text)?)?;
    if value.fract() != 0.0 {
        return Err(Error::Input {
            field,
            problem: Problem::NotWhole { value },
        });
    }
    if value > MAX_GPUS as f64 {
        let problem = Problem::OutOfRange {
            value,
            expected: "at most 2^53",
        };
        return Err(Error::Input { field, problem });
    }
    // Whole, positive and at most 2^53, so the conversion is exact.
    Ok(value as u64)
}

/// Writes `x` in scientific notation with up to four significant digits: `3.15e23`, `3.145e23`, `1.8e24`, `1e24`.
pub fn format_sci(x: f64) -> String {
    let text = format!("{x:.3e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if mantissa.contains('.') => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
        _ => text,
    }
}

/// Writes a count with a K/M/B/T suffix and up to three decimals: `175B`, `1.75T`, `117M`, `512`.
pub fn format_scaled(x: f64) -> String {
    let (scaled, suffix) = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")]
        .into_iter()
        .find(|(scale, _)| x.abs() >= *scale)
        .map_or((x, ""), |(scale, suffix)| (x / scale, suffix));
    if scaled.abs() >= 1e6 {
        return format_sci(x);
    }
    let text = format!("{scaled:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{suffix}")
}

/// Writes a price in dollars with at least two decimals and up to four: `$1.50`, `$1.475`.
pub fn format_price(price: f64) -> String {
    if price < 0.01 {
        return format!("${}", format_sci(price));
    }
    let text = format!("{price:.4}");
    let (whole, fraction) = text.split_once('.').expect("{:.4} writes a decimal point");
    let fraction = fraction.trim_end_matches('0');
    format!("${whole}.{fraction:0<2}")
}

impl Field {
    /// The field's name, as the command line's flag without `--` and with `_` for `-`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Params => "params",
            Field::TotalParams => "total_params",
            Field::Tokens => "tokens",
            Field::Flop => "flop",
            Field::Utilization => "utilization",
            Field::PricePerHour => "price_per_hour",
            Field::Gpus => "gpus",
            Field::Overhead => "overhead",
            Field::PeakTflops => "peak_tflops",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "missing"),
            Problem::NotANumber { text } => {
                write!(
                    f,
                    "{text:?} is not a number (write e.g. 175e9, 1.75e11 or 175B)"
                )
            }
            Problem::UnknownSuffix { text } => {
                write!(f, "{text:?} has an unknown suffix (use K, M, B or T)")
            }
            Problem::ExponentAndSuffix { text } => {
                write!(
                    f,
                    "{text:?} has both an exponent and a suffix; use one (175e9 or 175B)"
                )
            }
            Problem::NotFinite => write!(f, "must be a finite number"),
            Problem::NotPositive { value } => write!(f, "must be positive, got {value}"),
            Problem::OutOfRange { value, expected } => write!(f, "must be {expected}, got {value}"),
            Problem::NotWhole { value } => write!(f, "must be a whole number, got {value}"),
            Problem::BelowActive { active } => {
                write!(
                    f,
                    "less than the active parameters ({})",
                    format_scaled(*active)
                )
            }
            Problem::UnknownKey => write!(f, "unknown key"),
            Problem::WrongType { expected } => write!(f, "expected {expected}"),
            Problem::UnsupportedSchema => {
                write!(f, "unsupported schema version (this liucun reads 1)")
            }
            Problem::SharedName { name, other } => write!(f, "{name:?} is also a name of {other}"),
            Problem::NoRows => write!(f, "no [[gpu]] rows"),
        }
    }
}

/// The formula and every assumption behind an estimate, as sentences.
fn assumptions(e: &Estimate) -> Vec<String> {
    let mut out = Vec::new();
    let method =
        "forward pass ≈ 2 and backward pass ≈ 4 FLOP per parameter per token (Epoch AI's method)";
    let params = |p: Option<f64>| p.map_or_else(|| "-".to_string(), format_scaled);
    match e.compute {
        Compute::Formula => out.push(format!(
            "C = 6 × N_active × D = 6 × {} × {} = {} FLOP: {method}",
            params(e.active_params),
            params(e.tokens),
            format_sci(e.flop)
        )),
        Compute::Given {
            formula_flop: Some(formula),
        } => out.push(format!(
            "C = {} FLOP, the published figure given, instead of 6 × N_active × D = {}; {method}",
            format_sci(e.flop),
            format_sci(formula)
        )),
        Compute::Given { formula_flop: None } => out.push(format!(
            "C = {} FLOP, the published figure given, in place of 6 × N_active × D",
            format_sci(e.flop)
        )),
    }
    if let Some(total) = e.total_params {
        out.push(match e.active_params {
            Some(active) => format!(
                "mixture of experts: N_active is the {} parameters active per token, not the {} in total",
                format_scaled(active),
                format_scaled(total)
            ),
            None => format!("{} total parameters, shown for reference only", format_scaled(total)),
        });
    }
    let hw = &e.hardware;
    out.push(format!(
        "peak {} TFLOP/s dense, {}, per GPU ({}; source: {}); never a \"with sparsity\" figure",
        format_plain(hw.peak_dense_tflops),
        hw.precision,
        hw.name,
        hw.source
    ));
    out.push(format!(
        "utilisation u = {}: {} TFLOP/s achieved per GPU; GPU-hours = C ÷ (peak × u × 3,600 s)",
        format_plain(e.utilization),
        format_plain(e.achieved_tflops)
    ));
    out.push(if e.overhead > 1.0 {
        format!(
            "overhead × {}: GPU-hours multiplied for reruns and restarts; cost and days follow",
            format_plain(e.overhead)
        )
    } else {
        "no overhead for reruns and restarts (× 1)".to_string()
    });
    out.push(match e.price_per_hour {
        Some(price) => format!(
            "cost = GPU-hours × {} per GPU-hour, in dollars",
            format_price(price)
        ),
        None => "no price per GPU-hour given: GPU-hours only, no cost".to_string(),
    });
    if let Some(n) = e.gpus {
        out.push(format!(
            "wall-clock days = GPU-hours ÷ {n} GPUs ÷ 24: every GPU busy for the whole run"
        ));
    }
    out.push("a GPU-year is 8,760 GPU-hours (365 days)".to_string());
    out.push(
        "one final training run: experiments, failed runs, data, staff and inference excluded"
            .to_string(),
    );
    out
}

/// Writes a plain number with up to three decimals: `0.224`, `28`, `989`.
fn format_plain(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn in_row(row: &Option<String>) -> String {
    match row {
        Some(r) => format!("gpu {r}: "),
        None => String::new(),
    }
}

/// The lookup key of a name or alias: lower case, without spaces, `-` and `_`.
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn positive(field: Field, value: f64) -> Result<f64, Error> {
    if !value.is_finite() {
        return Err(Error::Input {
            field,
            problem: Problem::NotFinite,
        });
    }
    if value <= 0.0 {
        return Err(Error::Input {
            field,
            problem: Problem::NotPositive { value },
        });
    }
    Ok(value)
}

fn optional_positive(field: Field, value: Option<f64>) -> Result<Option<f64>, Error> {
    value.map(|v| positive(field, v)).transpose()
}

/// Refuses a derived quantity that overflowed to infinity or underflowed to zero.
fn finite(quantity: &'static str, value: f64) -> Result<f64, Error> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(Error::OutOfRange { quantity, value })
    }
}

/// One row of a hardware table; the error is the field and its problem.
fn parse_row(row: &toml::Table) -> Result<Hardware, (String, Problem)> {
    const KEYS: [&str; 6] = [
        "name",
        "aliases",
        "peak_dense_tflops",
        "precision",
        "source",
        "notes",
    ];
    let fail = |field: &str, problem: Problem| (field.to_string(), problem);
    if let Some(unknown) = row.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(fail(unknown, Problem::UnknownKey));
    }
    let string = |field: &str, required: bool| -> Result<String, (String, Problem)> {
        match row.get(field) {
            Some(toml::Value::String(s)) if !(required && s.trim().is_empty()) => Ok(s.clone()),
            Some(toml::Value::String(_)) | None if required => Err(fail(field, Problem::Missing)),
            None => Ok(String::new()),
            Some(_) => Err(fail(
                field,
                Problem::WrongType {
                    expected: "a string",
                },
            )),
        }
    };
    let name = string("name", true)?;
    let precision = string("precision", true)?;
    let source = string("source", true)?;
    let notes = string("notes", false)?;
    let bad_aliases = || {
        fail(
            "aliases",
            Problem::WrongType {
                expected: "an array of non-empty strings",
            },
        )
    };
    let aliases = match row.get("aliases") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => {
            let mut aliases = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::String(s) if !s.trim().is_empty() => aliases.push(s.clone()),
                    _ => return Err(bad_aliases()),
                }
            }
            aliases
        }
        Some(_) => return Err(bad_aliases()),
    };
    let field = "peak_dense_tflops";
    let peak = match row.get(field) {
        None => return Err(fail(field, Problem::Missing)),
        // TOML integers are i64; every peak a table could sensibly hold is exact in f64.
        Some(toml::Value::Integer(i)) => *i as f64,
        Some(toml::Value::Float(x)) => *x,
        Some(_) => {
            return Err(fail(
                field,
                Problem::WrongType {
                    expected: "a number",
                },
            ));
        }
    };
    if !peak.is_finite() {
        return Err(fail(field, Problem::NotFinite));
    }
    if peak <= 0.0 {
        return Err(fail(field, Problem::NotPositive { value: peak }));
    }
    Ok(Hardware {
        name,
        aliases,
        peak_dense_tflops: peak,
        precision,
        source,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(name: &str) -> Hardware {
        HardwareTable::builtin().find(name).unwrap().clone()
    }

    /// Inputs on a built-in GPU at utilisation `u`, with nothing else set.
    fn on(name: &str, u: f64) -> Inputs {
        Inputs {
            utilization: u,
            ..Inputs::new(gpu(name))
        }
    }

    /// GPT-3 as a published figure (3,640 PF/s-days), with N and D given too (economics.md §7 checks 2–3).
    fn gpt3_published(name: &str, u: f64, price: f64) -> Inputs {
        Inputs {
            active_params: Some(175e9),
            tokens: Some(300e9),
            flop: Some(3.145e23),
            price_per_hour: Some(price),
            ..on(name, u)
        }
    }

    /// The spec's worked checks must reproduce within 3% (economics.md §7).
    #[track_caller]
    fn assert_within_3pct(got: f64, want: f64) {
        let error = (got - want).abs() / want.abs();
        assert!(
            error <= 0.03,
            "got {got}, want {want} within 3% (off by {:.2}%)",
            error * 100.0
        );
    }

    #[track_caller]
    fn input_error(inputs: &Inputs) -> (Field, Problem) {
        match estimate(inputs) {
            Err(Error::Input { field, problem }) => (field, problem),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn check_1_gpt3_compute_is_6_n_d() {
        let inputs = Inputs {
            active_params: Some(175e9),
            tokens: Some(300e9),
            ..on("v100", 0.3)
        };
        let e = estimate(&inputs).unwrap();
        assert_eq!(e.compute, Compute::Formula);
        assert_within_3pct(e.flop, 3.15e23);
        assert_eq!(format_sci(e.flop), "3.15e23");
        // The paper's 3,640 PF/s-days.
        assert_within_3pct(3_640.0 * 1e15 * 86_400.0, 3.145e23);
    }

    #[test]
    fn check_2_gpt3_on_v100_at_28_tflops_costs_4_68m() {
        let e = estimate(&gpt3_published("v100", 28.0 / 125.0, 1.50)).unwrap();
        assert_eq!(
            e.compute,
            Compute::Given {
                formula_flop: Some(3.15e23)
            }
        );
        assert_eq!(e.flop, 3.145e23);
        assert_within_3pct(e.achieved_tflops, 28.0);
        assert_within_3pct(e.gpu_hours, 3.12e6);
        assert_within_3pct(e.gpu_years, 356.0);
        assert_within_3pct(e.cost.unwrap(), 4.68e6);
        // Lambda's cited $4.6M is about $1.48 per hour.
        let cited = estimate(&gpt3_published("v100", 28.0 / 125.0, 1.48)).unwrap();
        assert_within_3pct(cited.cost.unwrap(), 4.6e6);
    }

    #[test]
    fn check_3_gpt3_on_a100_at_u_0_3_costs_1_40m() {
        let e = estimate(&gpt3_published("a100", 0.30, 1.50)).unwrap();
        assert_within_3pct(e.gpu_hours, 933_333.0);
        assert_within_3pct(e.cost.unwrap(), 1.40e6);
        // The cited figure fixes only price ÷ u; other pairs give the same answer.
        for (price, u, want) in [(1.10, 0.213, 1.45e6), (2.30, 0.462, 1.39e6)] {
            let e = estimate(&gpt3_published("a100", u, price)).unwrap();
            assert_within_3pct(e.cost.unwrap(), want);
        }
    }

    #[test]
    fn check_5_moe_counts_active_parameters() {
        let inputs = Inputs {
            active_params: Some(30e9),
            total_params: Some(200e9),
            tokens: Some(10e12),
            price_per_hour: Some(2.50),
            gpus: Some(2_048),
            ..on("h100", 0.4)
        };
        let e = estimate(&inputs).unwrap();
        assert_within_3pct(e.flop, 1.8e24);
        assert_within_3pct(e.gpu_hours, 1.26e6);
        assert_within_3pct(e.cost.unwrap(), 3.16e6);
        assert_within_3pct(e.days.unwrap(), 25.7);
        assert_eq!(e.total_params, Some(200e9));
        assert!(
            e.assumptions[1].contains("30B parameters active per token, not the 200B"),
            "{:?}",
            e.assumptions
        );
    }

    #[test]
    fn the_band_spans_0_2_the_chosen_u_and_0_5() {
        let inputs = Inputs {
            flop: Some(3.145e23),
            price_per_hour: Some(1.5),
            gpus: Some(1_000),
            ..on("a100", 0.3)
        };
        let e = estimate(&inputs).unwrap();
        let us: Vec<(f64, bool)> = e
            .band
            .iter()
            .map(|p| (p.utilization, p.is_chosen))
            .collect();
        assert_eq!(us, [(0.2, false), (0.3, true), (0.5, false)]);
        assert_eq!(e.band[1].gpu_hours, e.gpu_hours);
        assert_eq!(e.band[1].cost, e.cost);
        assert_within_3pct(e.band[0].gpu_hours, 1.5 * e.gpu_hours);
        assert_within_3pct(e.band[2].gpu_hours, 0.6 * e.gpu_hours);
        assert_within_3pct(e.band[0].cost.unwrap(), 1.5 * e.band[0].gpu_hours);
        assert_within_3pct(
            e.band[0].days.unwrap(),
            e.band[0].gpu_hours / 1_000.0 / 24.0,
        );

        let at_an_end = estimate(&Inputs {
            utilization: 0.5,
            ..inputs.clone()
        })
        .unwrap();
        let us: Vec<(f64, bool)> = at_an_end
            .band
            .iter()
            .map(|p| (p.utilization, p.is_chosen))
            .collect();
        assert_eq!(us, [(0.2, false), (0.5, true)]);
        let above = estimate(&Inputs {
            utilization: 0.7,
            ..inputs
        })
        .unwrap();
        let us: Vec<f64> = above.band.iter().map(|p| p.utilization).collect();
        assert_eq!(us, [0.2, 0.5, 0.7]);
    }

    #[test]
    fn the_overhead_multiplies_gpu_hours_and_cost_and_days_follow() {
        let base = Inputs {
            flop: Some(1e24),
            price_per_hour: Some(2.0),
            gpus: Some(512),
            ..on("h100", 0.4)
        };
        let once = estimate(&base).unwrap();
        let twice = estimate(&Inputs {
            overhead: 1.25,
            ..base
        })
        .unwrap();
        assert_within_3pct(twice.gpu_hours, 1.25 * once.gpu_hours);
        assert_within_3pct(twice.gpu_years, 1.25 * once.gpu_years);
        assert_within_3pct(twice.cost.unwrap(), 1.25 * once.cost.unwrap());
        assert_within_3pct(twice.days.unwrap(), 1.25 * once.days.unwrap());
        assert_within_3pct(twice.band[0].gpu_hours, 1.25 * once.band[0].gpu_hours);
        assert!(
            twice
                .assumptions
                .iter()
                .any(|a| a.starts_with("overhead × 1.25")),
            "{:?}",
            twice.assumptions
        );
    }

    #[test]
    fn without_a_price_there_are_gpu_hours_but_no_cost_and_without_gpus_no_days() {
        let e = estimate(&Inputs {
            flop: Some(1e23),
            ..on("a100", 0.3)
        })
        .unwrap();
        assert!(e.gpu_hours > 0.0);
        assert_eq!(e.cost, None);
        assert_eq!(e.days, None);
        assert!(e.band.iter().all(|p| p.cost.is_none() && p.days.is_none()));
        assert!(
            e.assumptions
                .iter()
                .any(|a| a.contains("no price per GPU-hour given"))
        );
    }

    #[test]
    fn the_assumptions_name_the_formula_the_hardware_and_what_is_excluded() {
        let e = estimate(&gpt3_published("v100", 28.0 / 125.0, 1.5)).unwrap();
        let all = e.assumptions.join("\n");
        for want in [
            "C = 3.145e23 FLOP, the published figure given, instead of 6 × N_active × D = 3.15e23",
            "forward pass ≈ 2 and backward pass ≈ 4 FLOP per parameter per token",
            "peak 125 TFLOP/s dense, FP16 tensor, per GPU (V100 SXM2; source: NVIDIA Tesla V100 GPU datasheet)",
            "utilisation u = 0.224: 28 TFLOP/s achieved per GPU",
            "cost = GPU-hours × $1.50 per GPU-hour",
            "one final training run: experiments, failed runs, data, staff and inference excluded",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }

    #[test]
    fn a_custom_peak_replaces_the_table() {
        let hardware = Hardware::custom(400.0).unwrap();
        let e = estimate(&Inputs {
            flop: Some(400e12 * 0.5 * 3600.0 * 10.0),
            ..Inputs::new(hardware)
        })
        .unwrap();
        assert_eq!(
            e.band
                .iter()
                .find(|p| p.utilization == 0.5)
                .unwrap()
                .gpu_hours,
            10.0
        );
        assert!(matches!(
            Hardware::custom(f64::NAN),
            Err(Error::Input {
                field: Field::PeakTflops,
                problem: Problem::NotFinite
            })
        ));
        assert!(matches!(
            Hardware::custom(0.0),
            Err(Error::Input {
                field: Field::PeakTflops,
                problem: Problem::NotPositive { .. }
            })
        ));
    }

    #[test]
    fn every_input_must_be_positive_and_finite() {
        let base = Inputs {
            active_params: Some(175e9),
            tokens: Some(300e9),
            price_per_hour: Some(1.5),
            gpus: Some(8),
            ..on("a100", 0.3)
        };
        assert!(estimate(&base).is_ok());
        type Edit = fn(&mut Inputs);
        let cases: [(Edit, Field, &str); 19] = [
            (
                |i| i.active_params = Some(0.0),
                Field::Params,
                "must be positive, got 0",
            ),
            (
                |i| i.active_params = Some(-1e9),
                Field::Params,
                "must be positive, got -1000000000",
            ),
            (
                |i| i.tokens = Some(f64::NAN),
                Field::Tokens,
                "must be a finite number",
            ),
            (
                |i| i.tokens = Some(f64::INFINITY),
                Field::Tokens,
                "must be a finite number",
            ),
            (
                |i| i.flop = Some(-3e23),
                Field::Flop,
                "must be positive, got -300000000000000000000000",
            ),
            (
                |i| i.total_params = Some(1e9),
                Field::TotalParams,
                "less than the active parameters (175B)",
            ),
            (
                |i| i.utilization = 0.0,
                Field::Utilization,
                "must be positive, got 0",
            ),
            (
                |i| i.utilization = 1.5,
                Field::Utilization,
                "must be in (0, 1], got 1.5",
            ),
            (
                |i| i.utilization = f64::NAN,
                Field::Utilization,
                "must be a finite number",
            ),
            (
                |i| i.overhead = 0.0,
                Field::Overhead,
                "must be positive, got 0",
            ),
            (
                |i| i.overhead = 0.5,
                Field::Overhead,
                "must be at least 1 (it multiplies GPU-hours for reruns), got 0.5",
            ),
            (
                |i| i.overhead = f64::INFINITY,
                Field::Overhead,
                "must be a finite number",
            ),
            (
                |i| i.price_per_hour = Some(0.0),
                Field::PricePerHour,
                "must be positive, got 0",
            ),
            (
                |i| i.price_per_hour = Some(-2.0),
                Field::PricePerHour,
                "must be positive, got -2",
            ),
            (|i| i.gpus = Some(0), Field::Gpus, "must be positive, got 0"),
            (
                |i| i.gpus = Some(u64::MAX),
                Field::Gpus,
                "must be at most 2^53, got 18446744073709552000",
            ),
            (|i| i.tokens = None, Field::Tokens, "missing"),
            (|i| i.active_params = None, Field::Params, "missing"),
            (
                |i| i.hardware.peak_dense_tflops = -1.0,
                Field::PeakTflops,
                "must be positive, got -1",
            ),
        ];
        for (edit, want_field, want_message) in cases {
            let mut inputs = base.clone();
            edit(&mut inputs);
            let (field, problem) = input_error(&inputs);
            assert_eq!(
                (field, problem.to_string().as_str()),
                (want_field, want_message),
                "{inputs:?}"
            );
        }
        let nothing = Inputs {
            active_params: None,
            tokens: None,
            ..base
        };
        assert!(matches!(estimate(&nothing), Err(Error::NoCompute)));
    }

    #[test]
    fn huge_inputs_that_overflow_are_refused_not_printed_as_inf() {
        let huge = Inputs {
            active_params: Some(1e200),
            tokens: Some(1e200),
            ..on("a100", 0.3)
        };
        let err = estimate(&huge).unwrap_err();
        assert!(
            matches!(
                err,
                Error::OutOfRange {
                    quantity: "6 × N × D",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "6 × N × D comes out as inf, not a positive finite number; check the inputs' magnitudes"
        );
        let costly = Inputs {
            flop: Some(1e300),
            price_per_hour: Some(1e300),
            ..on("v100", 0.3)
        };
        assert!(matches!(
            estimate(&costly),
            Err(Error::OutOfRange {
                quantity: "cost",
                ..
            })
        ));
        let tiny = Inputs {
            flop: Some(f64::MIN_POSITIVE),
            ..Inputs::new(Hardware::custom(1e300).unwrap())
        };
        assert!(matches!(
            estimate(&tiny),
            Err(Error::OutOfRange {
                quantity: "GPU-hours",
                ..
            })
        ));
    }

    #[test]
    fn gpus_are_found_by_name_or_alias_ignoring_case_spaces_and_dashes() {
        let table = HardwareTable::builtin();
        for (typed, name) in [
            ("v100", "V100 SXM2"),
            ("V100-PCIe", "V100 PCIe"),
            ("a100", "A100"),
            ("A100_80GB", "A100"),
            ("h100", "H100 SXM"),
            ("h100 sxm", "H100 SXM"),
            ("H100-PCIE", "H100 PCIe"),
            ("h200", "H200 SXM"),
            ("b200", "B200"),
            ("a800", "A800"),
            ("h800", "H800 SXM"),
            ("H20", "H20"),
            ("ascend 910b", "Ascend 910B"),
            ("910B", "Ascend 910B"),
        ] {
            assert_eq!(
                table.find(typed).map(|h| h.name.as_str()).ok(),
                Some(name),
                "{typed}"
            );
        }
    }

    #[test]
    fn an_unknown_gpu_lists_the_known_names() {
        let err = HardwareTable::builtin().find("x100").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("gpu: unknown GPU \"x100\"; known: V100 SXM2, V100 PCIe, A100,"),
            "{message}"
        );
        assert!(
            message.contains("H100 SXM") && message.contains("Ascend 910B"),
            "{message}"
        );
    }

    #[test]
    fn the_builtin_table_holds_dense_peaks_with_a_source_and_precision() {
        let table = HardwareTable::builtin();
        let peaks: Vec<(&str, f64)> = table
            .rows()
            .iter()
            .map(|h| (h.name.as_str(), h.peak_dense_tflops))
            .collect();
        assert_eq!(
            peaks,
            [
                ("V100 SXM2", 125.0),
                ("V100 PCIe", 112.0),
                ("A100", 312.0),
                ("A800", 312.0),
                ("H100 SXM", 989.0),
                ("H100 PCIe", 756.0),
                ("H200 SXM", 989.0),
                ("H800 SXM", 989.0),
                ("H20", 148.0),
                ("B200", 2_250.0),
                ("Ascend 910B", 320.0),
            ]
        );
        for h in table.rows() {
            assert!(!h.source.is_empty() && !h.precision.is_empty(), "{h:?}");
        }
        assert!(BUILTIN_HARDWARE.contains("DENSE PEAKS ONLY"));
    }

    #[test]
    fn a_hardware_file_is_refused_with_file_row_and_field() {
        let row = "[[gpu]]\nname = \"X1\"\npeak_dense_tflops = 100\nprecision = \"BF16\"\nsource = \"s\"\n";
        let ok = HardwareTable::parse("mine.toml", &format!("schema_version = 1\n{row}")).unwrap();
        assert_eq!(ok.find("x1").unwrap().peak_dense_tflops, 100.0);
        assert_eq!(ok.name(), "mine.toml");
        let floats = HardwareTable::parse(
            "mine.toml",
            &format!("schema_version = 1\n{}", row.replace("100", "98.5")),
        );
        assert_eq!(floats.unwrap().rows()[0].peak_dense_tflops, 98.5);
        for (text, want) in [
            (
                "schema_version = 1\n[[gpu]\n",
                "hardware table mine.toml: TOML parse error",
            ),
            (row, "hardware table mine.toml: schema_version: missing"),
            (
                &format!("schema_version = 2\n{row}"),
                "schema_version: unsupported schema version",
            ),
            (
                "schema_version = 1\n",
                "hardware table mine.toml: gpu: no [[gpu]] rows",
            ),
            (
                &format!("schema_version = 1\ncolour = 1\n{row}"),
                "mine.toml: colour: unknown key",
            ),
            (
                &format!("schema_version = 1\n{row}sparse = true\n"),
                "mine.toml: gpu X1: sparse: unknown key",
            ),
            (
                "schema_version = 1\n[[gpu]]\nname = \"X1\"\nprecision = \"BF16\"\nsource = \"s\"\n",
                "gpu X1: peak_dense_tflops: missing",
            ),
            (
                &format!("schema_version = 1\n{}", row.replace("100", "-5")),
                "gpu X1: peak_dense_tflops: must be positive, got -5",
            ),
            (
                &format!("schema_version = 1\n{}", row.replace("100", "nan")),
                "gpu X1: peak_dense_tflops: must be a finite number",
            ),
            (
                &format!("schema_version = 1\n{}", row.replace("100", "\"100\"")),
                "gpu X1: peak_dense_tflops: expected a number",
            ),
            (
                &format!("schema_version = 1\n{}", row.replace("name = \"X1\"\n", "")),
                "gpu[0]: name: missing",
            ),
            (
                &format!(
                    "schema_version = 1\n{row}{}aliases = [\"x-1\"]\n",
                    row.replace("X1", "X2")
                ),
                "gpu X2: aliases: \"x-1\" is also a name of X1",
            ),
            (
                &format!("schema_version = 1\n{row}aliases = \"x\"\n"),
                "aliases: expected an array of non-empty strings",
            ),
        ] {
            let err = HardwareTable::parse("mine.toml", text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{text}\nwant {want:?}\ngot  {err:?}");
        }
    }

    #[test]
    fn quantities_read_exponents_and_k_m_b_t_suffixes() {
        for (text, want) in [
            ("175e9", 175e9),
            ("1.75e11", 1.75e11),
            ("175B", 175e9),
            ("175b", 175e9),
            ("300e9", 300e9),
            ("10T", 10e12),
            ("10t", 10e12),
            ("1.5 M", 1.5e6),
            ("2K", 2e3),
            ("0.3", 0.3),
            ("0.3B", 3e8),
            (" 1024 ", 1024.0),
            ("3.145e23", 3.145e23),
            ("1E5", 1e5),
            ("-5", -5.0),
        ] {
            assert_eq!(
                parse_quantity(Field::Params, text).ok(),
                Some(want),
                "{text:?}"
            );
        }
    }

    #[test]
    fn quantities_that_are_not_numbers_are_refused_naming_the_field() {
        for (text, want) in [
            (
                "",
                "tokens: \"\" is not a number (write e.g. 175e9, 1.75e11 or 175B)",
            ),
            ("abc", "tokens: \"abc\" is not a number"),
            ("NaN", "tokens: \"NaN\" is not a number"),
            ("inf", "tokens: \"inf\" is not a number"),
            ("1,000", "tokens: \"1,000\" is not a number"),
            ("1..5", "tokens: \"1..5\" is not a number"),
            ("B", "tokens: \"B\" is not a number"),
            (
                "175X",
                "tokens: \"175X\" has an unknown suffix (use K, M, B or T)",
            ),
            ("175GB", "tokens: \"175GB\" has an unknown suffix"),
            ("1e3B", "tokens: \"1e3B\" has both an exponent and a suffix"),
            ("1e400", "tokens: must be a finite number"),
            (
                "1e400T",
                "tokens: \"1e400T\" has both an exponent and a suffix",
            ),
        ] {
            let err = parse_quantity(Field::Tokens, text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn counts_are_positive_whole_numbers() {
        assert_eq!(parse_count(Field::Gpus, "2048").ok(), Some(2_048));
        assert_eq!(parse_count(Field::Gpus, "2K").ok(), Some(2_000));
        for (text, want) in [
            ("0", "gpus: must be positive, got 0"),
            ("-8", "gpus: must be positive, got -8"),
            ("1.5", "gpus: must be a whole number, got 1.5"),
            (
                "1e30",
                "gpus: must be at most 2^53, got 1000000000000000000000000000000",
            ),
            ("many", "gpus: \"many\" is not a number"),
        ] {
            let err = parse_count(Field::Gpus, text).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn numbers_are_written_compactly() {
        assert_eq!(format_sci(3.15e23), "3.15e23");
        assert_eq!(format_sci(3.145e23), "3.145e23");
        assert_eq!(format_sci(1.8e24), "1.8e24");
        assert_eq!(format_sci(1e24), "1e24");
        assert_eq!(format_scaled(175e9), "175B");
        assert_eq!(format_scaled(1.75e12), "1.75T");
        assert_eq!(format_scaled(117e6), "117M");
        assert_eq!(format_scaled(512.0), "512");
        assert_eq!(format_scaled(3e20), "3e20");
        assert_eq!(format_price(1.5), "$1.50");
        assert_eq!(format_price(1.475), "$1.475");
        assert_eq!(format_price(2.0), "$2.00");
    }
}
