//! Retention parameters (retention.md §2): the JSON `parameters` object, its defaults and validation.
//!
//! The same object is accepted by the CLI (`--params FILE`), echoed in every report after defaults are resolved,
//! and read back by `verify`, so a report can always be re-run exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
pub use crate::lang::Lang;

pub use crate::settings::{DEFAULT_NON_ACTIVITY, ProjectRules, ProjectSettings};

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

pub use crate::retention::params::RetentionParams;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
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

/// The parameters every report kind shares (retention.md §2, activity.md): projects, dates, time zone, week start,
/// global filters, breakdown, personless persons and `as_of`. A kind accepts the subset it names in
/// [`KindParams::COMMON`] and adds its own fields; see [`Params`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// Projects compared side by side (liucun addition; at least one).
    #[serde(default)]
    pub projects: Vec<String>,
    /// Start of the window (a date string of retention.md §3.2).
    #[serde(default)]
    pub date_from: Option<String>,
    /// End of the window (a date string of §3.2); defaults to `as_of`.
    #[serde(default)]
    pub date_to: Option<String>,
    /// IANA time zone; `None` until resolved (the project's zone, else UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// First day of a week; `None` until resolved (the project's, else Monday).
    #[serde(default)]
    pub week_start: Option<WeekStart>,
    /// Global filters.
    #[serde(default)]
    pub properties: Vec<Filter>,
    /// Add the project's test-account filters.
    #[serde(default)]
    pub filter_test_accounts: bool,
    /// Breakdown, if any.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
    /// Personless persons.
    #[serde(default)]
    pub personless: Personless,
    /// The moment the report describes (RFC 3339); defaults to now and is always echoed resolved.
    #[serde(default)]
    pub as_of: Option<String>,
    /// What the report applies of each project's settings (non-activity events, test-account filters). Filled from
    /// the stored settings of every project the request leaves out, and echoed, so `verify` needs nothing else.
    #[serde(default)]
    pub project_settings: BTreeMap<String, ProjectRules>,
    /// The language of the report's words (its definition sentence and notes): `en` (the default) or `zh-CN`.
    /// The numbers never depend on it.
    #[serde(default)]
    pub lang: Lang,
}

impl Common {
    /// Every key of the shared core, as written in JSON.
    pub const KEYS: [&'static str; 12] = [
        "projects",
        "date_from",
        "date_to",
        "timezone",
        "week_start",
        "properties",
        "filter_test_accounts",
        "breakdown",
        "personless",
        "as_of",
        "project_settings",
        "lang",
    ];

    /// The resolved time zone name (`UTC` before resolution).
    pub fn timezone(&self) -> &str {
        self.timezone.as_deref().unwrap_or("UTC")
    }

    /// The resolved week start (Monday before resolution).
    pub fn week_start(&self) -> WeekStart {
        self.week_start.unwrap_or_default()
    }

    /// Applies the stored settings of the report's projects: each project the request's `project_settings` leaves
    /// out gets its stored rules (or the defaults), and a request naming no `timezone` or `week_start` takes the
    /// projects' own. Projects compared side by side must agree on those two, or the request must name them.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `timezone` or `week_start` when the projects' settings differ.
    ///
    /// `accepts` lists the shared keys of the report's kind; a setting the kind has no parameter for is left alone.
    /// `several_zone` is the kind's fixed zone for several projects ([`KindParams::SEVERAL_PROJECTS_TIMEZONE`]).
    pub fn apply_settings(
        &mut self,
        stored: &BTreeMap<String, ProjectSettings>,
        accepts: &[&str],
        several_zone: Option<&str>,
    ) -> Result<()> {
        let none = ProjectSettings::default();
        let of = |p: &String| stored.get(p).unwrap_or(&none);
        for p in &self.projects {
            if !self.project_settings.contains_key(p) {
                self.project_settings.insert(p.clone(), of(p).rules());
            }
        }
        if let (None, Some(zone), true) = (&self.timezone, several_zone, self.projects.len() > 1) {
            self.timezone = Some(zone.to_string());
        }
        if self.timezone.is_none() && accepts.contains(&"timezone") {
            self.timezone = agreed(&self.projects, "timezone", |p| of(p).timezone().to_string())?;
        }
        if self.week_start.is_none()
            && accepts.contains(&"week_start")
            && let Some(name) = agreed(&self.projects, "week_start", |p| {
                match of(p).week_start() {
                    WeekStart::Monday => "monday",
                    WeekStart::Sunday => "sunday",
                }
                .to_string()
            })?
        {
            self.week_start = Some(if name == "sunday" {
                WeekStart::Sunday
            } else {
                WeekStart::Monday
            });
        }
        Ok(())
    }

    /// The global filters of `project`'s events: `properties`, and with `filter_test_accounts` the project's
    /// test-account filters (retention.md §5.3).
    pub fn global_filters(&self, project: &str) -> Vec<Filter> {
        let mut out = self.properties.clone();
        if self.filter_test_accounts
            && let Some(r) = self.project_settings.get(project)
        {
            out.extend(r.test_account_filters.iter().cloned());
        }
        out
    }

    /// Every global filter of any project: what a scan must load columns for.
    pub fn all_global_filters(&self) -> impl Iterator<Item = &Filter> {
        let test = self
            .project_settings
            .iter()
            .filter(|(p, _)| self.filter_test_accounts && self.projects.contains(p))
            .flat_map(|(_, r)| &r.test_account_filters);
        self.properties.iter().chain(test)
    }

    /// `project`'s non-activity events (left out of "any activity event"): its setting, else the default list.
    pub fn non_activity_events(&self, project: &str) -> Vec<String> {
        match self.project_settings.get(project) {
            Some(r) => r.non_activity_events.clone(),
            None => DEFAULT_NON_ACTIVITY.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Whether `name` is one of `project`'s non-activity events (left out of "any activity event").
    pub fn is_non_activity(&self, project: &str, name: &str) -> bool {
        match self.project_settings.get(project) {
            Some(r) => r.non_activity_events.iter().any(|n| n == name),
            None => DEFAULT_NON_ACTIVITY.contains(&name),
        }
    }

    /// Resolves `as_of` (default `now_us`), the time zone and the dates, and writes the resolved `as_of` and time
    /// zone back so the echo re-runs the same report.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `timezone`, `as_of`, `date_from` or `date_to`.
    pub fn resolve(&mut self, now_us: i64) -> Result<Resolved> {
        let tz_name = self.timezone().to_string();
        let tz = crate::window::time_zone(&tz_name)?;
        let as_of = match &self.as_of {
            Some(t) => crate::window::parse_instant("as_of", t)?,
            None => now_us,
        };
        // An instant jiff cannot represent fails here, naming the field, before any arithmetic uses it.
        crate::window::check_instant("as_of", as_of)?;
        self.as_of = Some(crate::window::format_utc(as_of));
        self.timezone = Some(tz_name);
        self.week_start = Some(self.week_start());
        for p in &self.projects {
            if !self.project_settings.contains_key(p) {
                self.project_settings
                    .insert(p.clone(), ProjectRules::default());
            }
        }
        let date = |field: &str, text: &Option<String>| -> Result<Option<i64>> {
            text.as_deref()
                .map(|t| crate::window::resolve_date(field, t, &tz, as_of))
                .transpose()
        };
        let date_from = date("date_from", &self.date_from)?;
        let date_to = date("date_to", &self.date_to)?;
        if let (Some(from), Some(to)) = (date_from, date_to.or(Some(as_of)))
            && from > to
        {
            return Err(Error::invalid("date_from", "is later than date_to"));
        }
        let unit = |t: &Option<String>| {
            t.as_deref()
                .map(str::trim)
                .filter(|t| t.starts_with('-'))
                .and_then(|t| t.chars().last())
        };
        Ok(Resolved {
            from_relative: unit(&self.date_from),
            to_relative: unit(&self.date_to),
            tz,
            as_of,
            date_from,
            date_to,
        })
    }

    /// Checks the shared fields.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter.
    pub fn validate(&self) -> Result<()> {
        if self.projects.is_empty() {
            return Err(Error::invalid("projects", "name at least one project"));
        }
        if self.projects.len() > MAX_PROJECTS {
            return Err(Error::invalid(
                "projects",
                format!("name at most {MAX_PROJECTS} projects"),
            ));
        }
        for p in &self.projects {
            if p.is_empty() || p.len() > 200 {
                return Err(Error::invalid(
                    "projects",
                    "a project name has 1 to 200 characters",
                ));
            }
        }
        if let Some(b) = &self.breakdown {
            if b.limit == 0 || b.limit > MAX_BREAKDOWN_LIMIT {
                return Err(Error::invalid(
                    "breakdown.limit",
                    format!("must be between 1 and {MAX_BREAKDOWN_LIMIT}"),
                ));
            }
            if b.property.is_empty() {
                return Err(Error::invalid("breakdown.property", "must not be empty"));
            }
        }
        check_filters("properties", &self.properties)?;
        for (p, rules) in &self.project_settings {
            let field = format!("project_settings.{p}");
            if !self.projects.contains(p) {
                return Err(Error::invalid(
                    &field,
                    "is not one of the report's projects",
                ));
            }
            rules.validate(&field)?;
        }
        Ok(())
    }
}

/// The one value every project gives for a setting, or an error naming the field when they differ.
fn agreed(
    projects: &[String],
    field: &str,
    value: impl Fn(&String) -> String,
) -> Result<Option<String>> {
    let mut seen: Vec<(String, &String)> = Vec::new();
    for p in projects {
        let v = value(p);
        if !seen.iter().any(|(s, _)| *s == v) {
            seen.push((v, p));
        }
    }
    match seen.as_slice() {
        [] => Ok(None),
        [(v, _)] => Ok(Some(v.clone())),
        many => Err(Error::invalid(
            field,
            format!(
                "the projects' settings differ ({}); name one for the report",
                many.iter()
                    .map(|(v, p)| format!("{p}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The shared parameters resolved to instants.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The query time zone.
    pub tz: jiff::tz::TimeZone,
    /// The moment the report describes, UTC µs.
    pub as_of: i64,
    /// `date_from` as an instant, if given.
    pub date_from: Option<i64>,
    /// `date_to` as an instant, if given.
    pub date_to: Option<i64>,
    /// The unit of a relative `date_from` (`h`, `d`, `w`, `m`, `y`).
    pub from_relative: Option<char>,
    /// The unit of a relative `date_to`.
    pub to_relative: Option<char>,
}

/// The shared keys of a kind that takes no shared `breakdown` (stickiness, funnels, economics).
pub const KEYS_WITHOUT_BREAKDOWN: &[&str] = &[
    "projects",
    "date_from",
    "date_to",
    "timezone",
    "week_start",
    "properties",
    "filter_test_accounts",
    "personless",
    "as_of",
    "project_settings",
    "lang",
];

/// The most projects one report compares.
pub const MAX_PROJECTS: usize = 50;
/// The most breakdown values a report keeps before Other.
pub const MAX_BREAKDOWN_LIMIT: usize = 1000;

/// Checks every filter of a list, naming the list.
///
/// # Errors
/// [`Error::Invalid`] naming `field`.
pub fn check_filters(field: &str, list: &[Filter]) -> Result<()> {
    for f in list {
        crate::filter::check(f).map_err(|m| Error::invalid(field, m))?;
    }
    Ok(())
}

/// A report kind's own parameters: what it adds to [`Common`].
pub trait KindParams:
    Serialize + serde::de::DeserializeOwned + Clone + PartialEq + std::fmt::Debug
{
    /// The kind's name in the API and in `kind` of its output.
    const KIND: &'static str;
    /// The keys of [`Common`] this kind accepts; any other shared key is refused.
    const COMMON: &'static [&'static str];
    /// The time zone of a report over several projects that names none, when the kind's spec fixes one (growth:
    /// UTC); otherwise the projects' own zone, which they must agree on.
    const SEVERAL_PROJECTS_TIMEZONE: Option<&'static str> = None;
    /// Keys of [`Common`] the kind defines itself, with its own meaning (funnels: `breakdown`).
    const OWN_KEYS: &'static [&'static str] = &[];

    /// Checks ranges and combinations serde cannot, knowing the shared fields.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter.
    fn validate(&self, common: &Common) -> Result<()>;
}

/// Every parameter of a report: the shared core and the kind's own fields, written as one flat JSON object.
/// Unknown keys are refused; `null` or an absent key means the default.
///
/// `Params<K>` dereferences to the kind's own fields, so `params.period` reads as it is written in JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<K> {
    /// The shared core.
    pub common: Common,
    /// The kind's own fields.
    pub fields: K,
}

impl<K> std::ops::Deref for Params<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.fields
    }
}

impl<K> std::ops::DerefMut for Params<K> {
    fn deref_mut(&mut self) -> &mut K {
        &mut self.fields
    }
}

impl<K: KindParams> Default for Params<K> {
    fn default() -> Self {
        Params {
            common: Common::default(),
            fields: serde_json::from_str("{}").expect("every field has a default"),
        }
    }
}

impl<K: KindParams> Params<K> {
    /// Reads a `parameters` object.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the field that does not parse or is out of range.
    pub fn from_json(v: &Value) -> Result<Params<K>> {
        let Value::Object(all) = v else {
            return Err(Error::invalid("parameters", "must be a JSON object"));
        };
        let mut shared = Map::new();
        let mut own = Map::new();
        for (k, v) in all {
            if Common::KEYS.contains(&k.as_str()) && !K::OWN_KEYS.contains(&k.as_str()) {
                if !K::COMMON.contains(&k.as_str()) {
                    return Err(Error::invalid(
                        k,
                        format!("is not a parameter of {} reports", K::KIND),
                    ));
                }
                // `null` means the default, as for an absent key.
                if !v.is_null() {
                    shared.insert(k.clone(), v.clone());
                }
            } else if !v.is_null() {
                own.insert(k.clone(), v.clone());
            }
        }
        let common: Common = parse(shared)?;
        let fields: K = parse(own)?;
        let p = Params { common, fields };
        p.validate()?;
        Ok(p)
    }

    /// The flat JSON object (the echo in every report), holding only the keys the kind accepts.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Ok(Value::Object(shared)) = serde_json::to_value(&self.common) {
            for (k, v) in shared {
                if K::COMMON.contains(&k.as_str()) {
                    out.insert(k, v);
                }
            }
        }
        if let Ok(Value::Object(own)) = serde_json::to_value(&self.fields) {
            out.extend(own);
        }
        Value::Object(out)
    }

    /// Checks ranges and combinations that serde cannot.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the parameter.
    pub fn validate(&self) -> Result<()> {
        self.common.validate()?;
        self.fields.validate(&self.common)
    }
}

impl<K: KindParams> Serialize for Params<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Deserializes one part of a parameters object, naming the field a failure is about (`breakdown.limit`).
fn parse<T: serde::de::DeserializeOwned>(map: Map<String, Value>) -> Result<T> {
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // An unknown key is named in the message; its path is the object that holds it.
        let named = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("unknown field"));
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name.to_string(),
            (".", None) => "parameters".to_string(),
            (p, Some(name)) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_string(),
        };
        Error::Invalid { field, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_key_is_named_once_with_its_path() {
        let bad = serde_json::json!({"projects": ["p"], "series": [{"entity": {"event": null}, "event": "x"}]});
        let e = crate::trends::params::TrendsParams::from_json(&bad).expect_err("unknown key");
        let Error::Invalid { field, .. } = e else {
            panic!("an invalid-parameter error")
        };
        assert_eq!(field, "series[0].event");
        let bad = serde_json::json!({"projects": ["p"], "nonsense": 1});
        let e = crate::trends::params::TrendsParams::from_json(&bad).expect_err("unknown key");
        assert!(e.to_string().contains("nonsense"), "{e}");
    }
}
