//! Retention's own parameters (retention.md §2): what it adds to the shared core of every report.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::params::{
    Common, Entity, KindParams, Params, Period, RetentionType, TimeWindowMode, check_filters,
};

/// Every parameter of a retention report.
pub type RetentionParams = Params<Fields>;

/// The most columns a retention report has.
pub const MAX_INTERVALS: u32 = 1000;

/// Retention's own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Period length.
    #[serde(default)]
    pub period: Period,
    /// Number of columns.
    #[serde(default = "default_intervals")]
    pub total_intervals: u32,
    /// Cohort mode.
    #[serde(default)]
    pub retention_type: RetentionType,
    /// Start entity.
    #[serde(default)]
    pub target: Entity,
    /// Returning entity.
    #[serde(default)]
    pub returning: Entity,
    /// "On or after" mode.
    #[serde(default)]
    pub cumulative: bool,
    /// Returning events needed per period.
    #[serde(default = "default_one")]
    pub minimum_occurrences: u32,
    /// Calendar or 24-hour windows.
    #[serde(default)]
    pub time_window_mode: TimeWindowMode,
    /// Custom column brackets.
    #[serde(default)]
    pub custom_brackets: Option<Vec<u32>>,
    /// Leave out of the mean the complete cells whose periods end after the project's last stored event (data that
    /// stops before `as_of`, such as imported history); by default they count, as retention.md §12.3 says.
    #[serde(default)]
    pub exclude_partial_periods: bool,
}

fn default_intervals() -> u32 {
    8
}

fn default_one() -> u32 {
    1
}

impl KindParams for Fields {
    const KIND: &'static str = "retention";
    const COMMON: &'static [&'static str] = &Common::KEYS;

    fn validate(&self, _common: &Common) -> Result<()> {
        if self.total_intervals == 0 || self.total_intervals > MAX_INTERVALS {
            return Err(Error::invalid(
                "total_intervals",
                format!("must be between 1 and {MAX_INTERVALS}"),
            ));
        }
        if self.minimum_occurrences == 0 {
            return Err(Error::invalid("minimum_occurrences", "must be at least 1"));
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
            if b.len() > MAX_INTERVALS as usize {
                return Err(Error::invalid(
                    "custom_brackets",
                    format!("give at most {MAX_INTERVALS} brackets"),
                ));
            }
            if b.iter().map(|&x| u64::from(x)).sum::<u64>() > 100_000 {
                return Err(Error::invalid(
                    "custom_brackets",
                    "the brackets cover more than 100000 periods",
                ));
            }
        }
        check_filters("target.properties", &self.target.properties)?;
        check_filters("returning.properties", &self.returning.properties)
    }
}

#[cfg(test)]
mod tests {
    use crate::params::{EventNames, WeekStart};

    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let p = RetentionParams::default();
        assert_eq!(p.period, Period::Day);
        assert_eq!(p.total_intervals, 8);
        assert_eq!(p.common.week_start(), WeekStart::Monday);
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

    #[test]
    fn the_echo_is_one_flat_object_that_reads_back_the_same() {
        let v = serde_json::json!({"projects": ["a"], "period": "week", "timezone": "Asia/Shanghai",
                                   "breakdown": {"type": "person", "property": "plan"}, "cumulative": true});
        let p = RetentionParams::from_json(&v).unwrap();
        let echo = p.to_json();
        assert_eq!(echo["period"], "week");
        assert_eq!(echo["timezone"], "Asia/Shanghai");
        assert_eq!(echo["breakdown"]["limit"], 25);
        assert_eq!(RetentionParams::from_json(&echo).unwrap(), p);
    }
}
