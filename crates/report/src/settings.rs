//! Project settings (retention.md §2, §5.3, §5.4): what a project sets once and every report of it applies — its
//! time zone, week start, non-activity events and test-account filters.
//!
//! A report never reads settings behind the caller's back: the engine copies them into the report's parameters
//! (`timezone`, `week_start`, and `project_settings` per project) before it plans, so the echoed parameters hold
//! everything `verify` needs, and changing a setting later changes only new reports.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::params::{Filter, WeekStart, check_filters};

/// Non-activity events excluded from "any event" unless a project sets its own list (retention.md §5.4).
pub const DEFAULT_NON_ACTIVITY: [&str; 8] = [
    "$set",
    "$set_once",
    "$create_alias",
    "$merge_dangerously",
    "$groupidentify",
    "payment",
    "$BindID",
    "$UnbindID",
];

/// The most non-activity event names a project sets.
pub const MAX_NON_ACTIVITY: usize = 1000;
/// The most test-account filters a project sets.
pub const MAX_TEST_ACCOUNT_FILTERS: usize = 100;

/// A project's stored settings. Absent fields take the defaults: UTC, Monday weeks, [`DEFAULT_NON_ACTIVITY`], no
/// test-account filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// IANA time zone for reports that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// First day of a week for reports that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_start: Option<WeekStart>,
    /// Events that "any activity event" leaves out; `[]` counts every event, as PostHog's "All events".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_activity_events: Option<Vec<String>>,
    /// Filters an event or person must pass when a report sets `filter_test_accounts` (retention.md §5.3), such as
    /// `{"key": "email", "operator": "not_contains", "value": "@example.com"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_account_filters: Vec<Filter>,
}

impl ProjectSettings {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if let Some(tz) = &self.timezone {
            crate::window::time_zone(tz)?;
        }
        if let Some(names) = &self.non_activity_events {
            check_names("non_activity_events", names)?;
        }
        check_test_filters("test_account_filters", &self.test_account_filters)
    }

    /// What a report applies of these settings.
    pub fn rules(&self) -> ProjectRules {
        ProjectRules {
            non_activity_events: self
                .non_activity_events
                .clone()
                .unwrap_or_else(default_non_activity),
            test_account_filters: self.test_account_filters.clone(),
        }
    }

    /// The settings with every default spelled out, as `liucun projects show` and the API print them.
    pub fn effective_json(&self) -> serde_json::Value {
        let rules = self.rules();
        serde_json::json!({
            "timezone": self.timezone(),
            "week_start": self.week_start(),
            "non_activity_events": rules.non_activity_events,
            "test_account_filters": rules.test_account_filters,
        })
    }

    /// The time zone reports use when they name none.
    pub fn timezone(&self) -> &str {
        self.timezone.as_deref().unwrap_or("UTC")
    }

    /// The week start reports use when they name none.
    pub fn week_start(&self) -> WeekStart {
        self.week_start.unwrap_or_default()
    }
}

/// What one report applies of a project's settings, recorded per project in `project_settings` of its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRules {
    /// Events that "any activity event" leaves out.
    #[serde(default = "default_non_activity")]
    pub non_activity_events: Vec<String>,
    /// Filters added to the global filters when the report sets `filter_test_accounts`.
    #[serde(default)]
    pub test_account_filters: Vec<Filter>,
}

impl Default for ProjectRules {
    fn default() -> Self {
        ProjectRules {
            non_activity_events: default_non_activity(),
            test_account_filters: Vec::new(),
        }
    }
}

impl ProjectRules {
    /// Checks both lists, naming them under `field`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the list.
    pub fn validate(&self, field: &str) -> Result<()> {
        check_names(
            &format!("{field}.non_activity_events"),
            &self.non_activity_events,
        )?;
        check_test_filters(
            &format!("{field}.test_account_filters"),
            &self.test_account_filters,
        )
    }
}

fn default_non_activity() -> Vec<String> {
    DEFAULT_NON_ACTIVITY.iter().map(|s| s.to_string()).collect()
}

fn check_names(field: &str, names: &[String]) -> Result<()> {
    if names.len() > MAX_NON_ACTIVITY {
        return Err(Error::invalid(
            field,
            format!("name at most {MAX_NON_ACTIVITY} events"),
        ));
    }
    if names.iter().any(|n| n.is_empty() || n.len() > 200) {
        return Err(Error::invalid(
            field,
            "an event name has 1 to 200 characters",
        ));
    }
    Ok(())
}

fn check_test_filters(field: &str, filters: &[Filter]) -> Result<()> {
    if filters.len() > MAX_TEST_ACCOUNT_FILTERS {
        return Err(Error::invalid(
            field,
            format!("give at most {MAX_TEST_ACCOUNT_FILTERS} filters"),
        ));
    }
    check_filters(field, filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_settings_give_the_spec_defaults() {
        let s = ProjectSettings::default();
        assert_eq!(s.timezone(), "UTC");
        assert_eq!(s.week_start(), WeekStart::Monday);
        assert_eq!(s.rules(), ProjectRules::default());
        assert_eq!(s.rules().non_activity_events.len(), 8);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let bad: ProjectSettings =
            serde_json::from_str(r#"{"timezone": "Mars/Olympus"}"#).expect("parses");
        assert!(bad.validate().is_err());
        let bad: ProjectSettings =
            serde_json::from_str(r#"{"non_activity_events": [""]}"#).expect("parses");
        let e = bad.validate().expect_err("empty name");
        assert!(e.to_string().contains("non_activity_events"), "{e}");
        let bad: ProjectSettings = serde_json::from_str(
            r#"{"test_account_filters": [{"key": "email", "operator": "regex", "value": "("}]}"#,
        )
        .expect("parses");
        let e = bad.validate().expect_err("bad regex");
        assert!(e.to_string().contains("test_account_filters"), "{e}");
        assert!(serde_json::from_str::<ProjectSettings>(r#"{"zone": "UTC"}"#).is_err());
    }
}
