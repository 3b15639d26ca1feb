//! Growth's own parameters (activity.md §4.1): milestones, the metric, the entity that makes a person arrive, and
//! per-project launch dates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::params::{Common, Entity, KindParams, Params, check_filters};

/// Every parameter of a growth report.
pub type GrowthParams = Params<Fields>;

/// The most milestones one report tracks.
pub const MAX_MILESTONES: usize = 100;

/// Growth's own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Person counts to reach, positive.
    #[serde(default = "default_milestones")]
    pub milestones: Vec<u64>,
    /// What is counted each day.
    #[serde(default)]
    pub metric: Metric,
    /// Which events make a person arrive.
    #[serde(default)]
    pub entity: Entity,
    /// Day 0 per project, overriding the first event's day.
    #[serde(default)]
    pub launch_date: Option<LaunchDate>,
}

/// What C(d) counts (activity.md §4.2 rules 2 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Persons whose first matching event falls on or before day d.
    #[default]
    CumulativePersons,
    /// Persons with a matching event in the 30 local days ending with day d.
    Mau,
}

impl Metric {
    /// `cumulative_persons` or `mau`, as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CumulativePersons => "cumulative_persons",
            Metric::Mau => "mau",
        }
    }
}

/// Launch dates: one per project, or a plain date when the report has one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LaunchDate {
    /// `"YYYY-MM-DD"`, for the report's only project.
    One(String),
    /// `{project: "YYYY-MM-DD"}`; projects left out start at their first event.
    PerProject(BTreeMap<String, String>),
}

fn default_milestones() -> Vec<u64> {
    vec![1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            milestones: default_milestones(),
            metric: Metric::default(),
            entity: Entity::default(),
            launch_date: None,
        }
    }
}

impl Fields {
    /// The launch date of `project`, if any.
    pub fn launch_date_of(&self, project: &str, projects: &[String]) -> Option<&str> {
        match &self.launch_date {
            None => None,
            Some(LaunchDate::One(d)) => {
                (projects.len() == 1 && projects[0] == project).then_some(d)
            }
            Some(LaunchDate::PerProject(m)) => m.get(project).map(String::as_str),
        }
    }
}

impl KindParams for Fields {
    const KIND: &'static str = "growth";
    const COMMON: &'static [&'static str] = &[
        "projects",
        "timezone",
        "properties",
        "filter_test_accounts",
        "personless",
        "as_of",
        "project_settings",
        "lang",
    ];
    const SEVERAL_PROJECTS_TIMEZONE: Option<&'static str> = Some("UTC");

    fn validate(&self, common: &Common) -> Result<()> {
        if self.milestones.is_empty() || self.milestones.len() > MAX_MILESTONES {
            return Err(Error::invalid(
                "milestones",
                format!("give 1 to {MAX_MILESTONES} milestones"),
            ));
        }
        if self.milestones.contains(&0) {
            return Err(Error::invalid(
                "milestones",
                "each milestone must be positive",
            ));
        }
        let check_date = |d: &str| -> Result<()> {
            let ok = d.len() == 10 && d.parse::<jiff::civil::Date>().is_ok();
            if ok {
                Ok(())
            } else {
                Err(Error::invalid(
                    "launch_date",
                    format!("{d:?} is not a date YYYY-MM-DD"),
                ))
            }
        };
        match &self.launch_date {
            None => {}
            Some(LaunchDate::One(d)) => {
                if common.projects.len() != 1 {
                    return Err(Error::invalid(
                        "launch_date",
                        "with several projects, give an object {project: \"YYYY-MM-DD\"}",
                    ));
                }
                check_date(d)?;
            }
            Some(LaunchDate::PerProject(m)) => {
                for (project, d) in m {
                    if !common.projects.contains(project) {
                        return Err(Error::invalid(
                            "launch_date",
                            format!("{project:?} is not one of the report's projects"),
                        ));
                    }
                    check_date(d)?;
                }
            }
        }
        check_filters("entity.properties", &self.entity.properties)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let p = GrowthParams::from_json(&json!({"projects": ["a"]})).unwrap();
        assert_eq!(p.milestones, default_milestones());
        assert_eq!(p.metric, Metric::CumulativePersons);
        assert_eq!(p.launch_date, None);
    }

    #[test]
    fn bad_values_name_the_field() {
        let cases = [
            (json!({"projects": ["a"], "milestones": [0]}), "milestones"),
            (json!({"projects": ["a"], "milestones": []}), "milestones"),
            (
                json!({"projects": ["a"], "milestones": [1.5]}),
                "milestones",
            ),
            (json!({"projects": ["a"], "metric": "dau"}), "metric"),
            (
                json!({"projects": ["a"], "launch_date": "2024-13-01"}),
                "launch_date",
            ),
            (
                json!({"projects": ["a", "b"], "launch_date": "2024-01-01"}),
                "launch_date",
            ),
            (
                json!({"projects": ["a"], "launch_date": {"c": "2024-01-01"}}),
                "launch_date",
            ),
            (json!({"projects": ["a"], "launch_date": 3}), "launch_date"),
            (json!({"projects": ["a"], "date_from": "-7d"}), "date_from"),
            (
                json!({"projects": ["a"], "breakdown": {"property": "x"}}),
                "breakdown",
            ),
            (
                json!({"projects": ["a"], "week_start": "sunday"}),
                "week_start",
            ),
        ];
        for (v, field) in cases {
            let err = GrowthParams::from_json(&v).unwrap_err();
            assert!(err.to_string().contains(&format!("`{field}")), "{v}: {err}");
        }
    }

    #[test]
    fn the_echo_reads_back_the_same() {
        let v = json!({"projects": ["a", "b"], "milestones": [5, 10], "metric": "mau",
                       "launch_date": {"b": "2024-03-01"}});
        let p = GrowthParams::from_json(&v).unwrap();
        assert_eq!(
            p.launch_date_of("b", &p.common.projects),
            Some("2024-03-01")
        );
        assert_eq!(p.launch_date_of("a", &p.common.projects), None);
        let echo = p.to_json();
        assert_eq!(echo["metric"], "mau");
        assert!(echo.get("week_start").is_none());
        assert_eq!(GrowthParams::from_json(&echo).unwrap(), p);
    }
}
