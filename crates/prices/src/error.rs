//! Why a price file was refused. Every refusal names the file, the model (when inside one) and the field.

use std::fmt;

/// A price file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not TOML (or JSON, when it starts with `{`).
    #[error("price file {file}: {message}")]
    Syntax { file: String, message: String },
    /// The text parses but breaks a rule of economics.md §4.2 or §4.6.
    #[error("price file {file}: {}{field}: {problem}", in_model(.model))]
    Invalid {
        file: String,
        /// The model's `id`, or `model[i]` when it has none; `None` for top-level fields.
        model: Option<String>,
        /// The field path inside the model (or at top level), e.g. `price[1].effective_from`.
        field: String,
        problem: Problem,
    },
}

/// What is wrong with a field.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Problem {
    /// A required field is absent or blank.
    Missing,
    /// A key the schema does not define.
    UnknownKey,
    /// The value has the wrong type.
    WrongType { expected: &'static str },
    /// `schema_version` is not `1`.
    UnsupportedSchema,
    /// Another model already has this `id`.
    DuplicateId,
    /// This alias (or id) is also a name of another model.
    SharedName { name: String, other: String },
    /// The `match` regex does not compile.
    BadRegex { message: String },
    /// Not a decimal string.
    MalformedDecimal { text: String },
    /// A price below zero.
    NegativeDecimal { text: String },
    /// Not a date or an RFC 3339 instant.
    MalformedDate { text: String },
    /// `effective_from` is not later than the previous version's.
    NotIncreasing { previous: String },
    /// Not an ISO 4217 code.
    UnknownCurrency { code: String },
    /// A `provider` with upper-case letters.
    NotLowercase,
    /// Two variants of one version list the same service tier, or two tiers of one list the same threshold.
    Duplicate { value: String },
}

fn in_model(model: &Option<String>) -> String {
    match model {
        Some(m) => format!("model {m}: "),
        None => String::new(),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "missing"),
            Problem::UnknownKey => write!(f, "unknown key"),
            Problem::WrongType { expected } => write!(f, "expected {expected}"),
            Problem::UnsupportedSchema => {
                write!(f, "unsupported schema version (this liucun reads 1)")
            }
            Problem::DuplicateId => write!(f, "duplicate id"),
            Problem::SharedName { name, other } => {
                write!(f, "{name:?} is also a name of model {other}")
            }
            Problem::BadRegex { message } => write!(f, "regex does not compile: {message}"),
            Problem::MalformedDecimal { text } => write!(f, "{text:?} is not a decimal string"),
            Problem::NegativeDecimal { text } => write!(f, "{text:?} is negative"),
            Problem::MalformedDate { text } => {
                write!(f, "{text:?} is not a date or an RFC 3339 instant")
            }
            Problem::NotIncreasing { previous } => {
                write!(
                    f,
                    "not later than the previous version's effective_from {previous}"
                )
            }
            Problem::UnknownCurrency { code } => {
                write!(f, "{code:?} is not an ISO 4217 currency code")
            }
            Problem::NotLowercase => write!(f, "must be lowercase"),
            Problem::Duplicate { value } => write!(f, "{value} is listed twice"),
        }
    }
}
