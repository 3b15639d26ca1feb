//! The report error type: everything that makes a report request invalid.

/// An invalid report request; the message names the parameter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A parameter has a bad value.
    #[error("parameter `{field}`: {message}")]
    Invalid {
        /// The parameter, as named in the JSON parameters.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The parameters (or the data under them) would make the report larger than a limit allows.
    #[error("parameter `{field}`: {message}")]
    TooLarge {
        /// The parameter to change.
        field: String,
        /// The size and the limit.
        message: String,
    },
    /// The report ran past its deadline and was stopped ([`crate::Limits::deadline`]).
    #[error("the report ran past its time limit and was stopped")]
    TimedOut,
}

impl Error {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Result alias for reports.
pub type Result<T, E = Error> = std::result::Result<T, E>;
