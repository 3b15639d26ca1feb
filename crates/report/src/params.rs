//! Retention parameters (retention.md §2): the JSON `parameters` object, its defaults and validation.
//!
//! The same object is accepted by the CLI (`--params FILE`), echoed in every report after defaults are resolved,
//! and read back by `verify`, so a report can always be re-run exactly.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Non-activity events excluded from "any event" (retention.md §5.4).
pub const DEFAULT_NON_ACTIVITY: [&str; 6] = [
    "$set",
    "$set_once",
    "$create_alias",
    "$merge_dangerously",
    "$groupidentify",
    "payment",
];

/// A period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One hour.
    Hour,
    /// One local day.
    #[default]
    Day,
    /// One week starting on `week_start`.
    Week,
    /// One calendar month.
    Month,
}

impl Period {
    /// `Day`, `Week`, … for labels.
    pub fn title(self) -> &'static str {
        match self {
            Period::Hour => "Hour",
            Period::Day => "Day",
            Period::Week => "Week",
            Period::Month => "Month",
        }
    }

    /// `day`, `week`, … for sentences.
    pub fn noun(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// The first day of a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeekStart {
    /// ISO 8601 weeks.
    #[default]
    Monday,
    /// US weeks.
    Sunday,
}

/// Which rows a person joins (retention.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RetentionType {
    /// Every period with a start event.
    #[default]
    Recurring,
    /// The period of the first matching start event.
    FirstTime,
    /// The period of the first event of the target names, if it matches the filters.
    FirstEver,
}

/// Whether personless persons are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Personless {
    /// Leave them out (default).
    #[default]
    Exclude,
    /// Count each as a person.
    Include,
}

/// Calendar periods or 24-hour windows from each person's anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TimeWindowMode {
    /// Calendar periods in the query time zone.
    #[default]
    #[serde(rename = "calendar")]
    Calendar,
    /// Fixed windows from each person's anchor (retention.md §14).
    #[serde(rename = "24h")]
    Hours24,
}

/// Whether a filter reads the event or the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PropertyKind {
    /// The event's properties.
    #[default]
    Event,
    /// The person's current properties.
    Person,
}

/// A filter operator (retention.md §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Equal (numeric when both sides are numeric).
    Eq,
    /// Not equal.
    Neq,
    /// Case-insensitive substring.
    Contains,
    /// Not a case-insensitive substring.
    NotContains,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
    /// Present and not null.
    IsSet,
    /// Absent or null.
    IsNotSet,
    /// Rust regex match anywhere.
    Regex,
}

/// One property filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Event or person property.
    #[serde(rename = "type", default)]
    pub kind: PropertyKind,
    /// The property name.
    pub key: String,
    /// The comparison.
    pub operator: Operator,
    /// The value (absent for `is_set` / `is_not_set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// Which events start or return (retention.md §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Entity {
    /// A name, a list of names, or null for any activity event.
    #[serde(default)]
    pub event: EventNames,
    /// Filters AND-ed with the global filters.
    #[serde(default)]
    pub properties: Vec<Filter>,
}

/// Event names of an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum EventNames {
    /// Any activity event.
    #[default]
    Any,
    /// One name.
    One(String),
    /// Any of these names.
    Many(Vec<String>),
}

impl EventNames {
    /// The names, or `None` for any activity event.
    pub fn names(&self) -> Option<Vec<&str>> {
        match self {
            EventNames::Any => None,
            EventNames::One(n) => Some(vec![n.as_str()]),
            EventNames::Many(v) => Some(v.iter().map(String::as_str).collect()),
        }
    }
}

/// A breakdown (retention.md §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Event or person property.
    #[serde(rename = "type", default)]
    pub kind: PropertyKind,
    /// The property name.
    pub property: String,
    /// How many values to keep before Other.
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    25
}

/// Every parameter of a retention report. Deserializing fills defaults; `validate` checks ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionParams {
    /// Projects compared side by side (liucun addition; at least one).
    #[serde(default)]
    pub projects: Vec<String>,
    /// Period length.
    #[serde(default)]
    pub period: Period,
    /// Number of columns.
    #[serde(default = "default_intervals")]
    pub total_intervals: u32,
    /// Start of the window (a date string of §3.2).
    #[serde(default)]
    pub date_from: Option<String>,
    /// End of the window (a date string of §3.2); defaults to `as_of`.
    #[serde(default)]
    pub date_to: Option<String>,
    /// IANA time zone.
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// First day of a week.
    #[serde(default)]
    pub week_start: WeekStart,
    /// Cohort mode.
    #[serde(default)]
    pub retention_type: RetentionType,
    /// Start entity.
    #[serde(default)]
    pub target: Entity,
    /// Returning entity.
    #[serde(default)]
    pub returning: Entity,
    /// Global filters.
    #[serde(default)]
    pub properties: Vec<Filter>,
    /// Add the project's test-account filters.
    #[serde(default)]
    pub filter_test_accounts: bool,
    /// "On or after" mode.
    #[serde(default)]
    pub cumulative: bool,
    /// Returning events needed per period.
    #[serde(default = "default_one")]
    pub minimum_occurrences: u32,
    /// Breakdown, if any.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    /// Personless persons.
    #[serde(default)]
    pub personless: Personless,
    /// Calendar or 24-hour windows.
    #[serde(default)]
    pub time_window_mode: TimeWindowMode,
    /// Custom column brackets.
    #[serde(default)]
    pub custom_brackets: Option<Vec<u32>>,
    /// The moment the report describes (RFC 3339); defaults to now and is always echoed resolved.
    #[serde(default)]
    pub as_of: Option<String>,
}

fn default_intervals() -> u32 {
    8
}

fn default_tz() -> String {
    "UTC".to_string()
}

fn default_one() -> u32 {
    1
}

impl Default for RetentionParams {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl RetentionParams {
    /// Reads a `parameters` object.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field that does not parse.
    pub fn from_json(v: &Value) -> Result<RetentionParams> {
        let p: RetentionParams = serde_json::from_value(v.clone()).map_err(|e| {
            let msg = e.to_string();
            let field = msg.split('`').nth(1).unwrap_or("parameters").to_string();
            Error::Invalid {
                field,
                message: msg,
            }
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Checks ranges and combinations that serde cannot.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter.
    pub fn validate(&self) -> Result<()> {
        if self.projects.is_empty() {
            return Err(Error::invalid("projects", "name at least one project"));
        }
        if self.total_intervals == 0 || self.total_intervals > 1000 {
            return Err(Error::invalid(
                "total_intervals",
                "must be between 1 and 1000",
            ));
        }
        if self.minimum_occurrences == 0 {
            return Err(Error::invalid("minimum_occurrences", "must be at least 1"));
        }
        if let Some(b) = &self.breakdown {
            if b.limit == 0 {
                return Err(Error::invalid("breakdown.limit", "must be at least 1"));
            }
            if b.property.is_empty() {
                return Err(Error::invalid("breakdown.property", "must not be empty"));
            }
        }
        if self.time_window_mode == TimeWindowMode::Hours24 {
            if self.cumulative {
                return Err(Error::invalid(
                    "time_window_mode",
                    "24h windows cannot be combined with cumulative mode",
                ));
            }
            if self.custom_brackets.is_some() {
                return Err(Error::invalid(
                    "time_window_mode",
                    "24h windows cannot be combined with custom brackets",
                ));
            }
        }
        if let Some(b) = &self.custom_brackets {
            if b.is_empty() || b.contains(&0) {
                return Err(Error::invalid(
                    "custom_brackets",
                    "give at least one bracket, each of 1 period or more",
                ));
            }
            if b.iter().map(|&x| u64::from(x)).sum::<u64>() > 100_000 {
                return Err(Error::invalid(
                    "custom_brackets",
                    "the brackets cover more than 100000 periods",
                ));
            }
        }
        for (field, list) in [
            ("properties", &self.properties),
            ("target.properties", &self.target.properties),
            ("returning.properties", &self.returning.properties),
        ] {
            for f in list {
                crate::filter::check(f).map_err(|m| Error::invalid(field, m))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let p = RetentionParams::default();
        assert_eq!(p.period, Period::Day);
        assert_eq!(p.total_intervals, 8);
        assert_eq!(p.week_start, WeekStart::Monday);
        assert_eq!(p.retention_type, RetentionType::Recurring);
        assert_eq!(p.target.event, EventNames::Any);
        assert_eq!(p.minimum_occurrences, 1);
    }

    #[test]
    fn unknown_fields_and_bad_values_name_the_field() {
        let err =
            RetentionParams::from_json(&serde_json::json!({"projects": ["a"], "perod": "day"}))
                .unwrap_err();
        assert!(err.to_string().contains("perod"), "{err}");
        let err =
            RetentionParams::from_json(&serde_json::json!({"projects": ["a"], "period": "year"}))
                .unwrap_err();
        assert!(err.to_string().contains("year"), "{err}");
        let err = RetentionParams::from_json(
            &serde_json::json!({"projects": ["a"], "total_intervals": 0}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("total_intervals"), "{err}");
    }
}
