//! The funnel parameters (funnels.md §2), their checks (§4.4, §14) and the persons-listing selection (§12).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::params::{Common, Entity, EventNames, Filter, KindParams, Params, Period, PropertyKind};

/// Every parameter of a funnel report.
pub type FunnelParams = Params<Fields>;

/// The most steps a funnel has.
pub const MAX_STEPS: usize = 30;

/// How a step's events are chosen among the person's history (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Occurrence {
    /// Every matching event.
    #[default]
    Any,
    /// Only the person's first event of the step's names, when it also passes the step's filters.
    FirstEver,
    /// Only the person's first event passing the step's names and filters.
    FirstTime,
}

/// One step: an entity, a label and an occurrence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A name, a list of names, or null for any activity event.
    #[serde(default)]
    pub event: EventNames,
    /// The step's own filters.
    #[serde(default)]
    pub properties: Vec<Filter>,
    /// A label for the output.
    #[serde(default)]
    pub name: Option<String>,
    /// Which of the person's matching events count.
    #[serde(default)]
    pub occurrence: Occurrence,
}

impl Step {
    /// The step as an entity (names and filters).
    pub fn entity(&self) -> Entity {
        Entity {
            event: self.event.clone(),
            properties: self.properties.clone(),
        }
    }
}

/// Ordered, strict or unordered (§5–§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Steps in order, other events in between allowed.
    #[default]
    Ordered,
    /// Steps in order, no other activity in between.
    Strict,
    /// Different steps in any order.
    Unordered,
}

/// The unit of the conversion window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowUnit {
    /// 1 s.
    Second,
    /// 60 s.
    Minute,
    /// 3 600 s.
    Hour,
    /// 86 400 s.
    Day,
    /// 604 800 s.
    Week,
    /// 31 days.
    Month,
}

impl WindowUnit {
    /// The unit's length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            WindowUnit::Second => 1,
            WindowUnit::Minute => 60,
            WindowUnit::Hour => 3_600,
            WindowUnit::Day => 86_400,
            WindowUnit::Week => 604_800,
            WindowUnit::Month => 2_678_400,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            WindowUnit::Second => "second",
            WindowUnit::Minute => "minute",
            WindowUnit::Hour => "hour",
            WindowUnit::Day => "day",
            WindowUnit::Week => "week",
            WindowUnit::Month => "month",
        }
    }
}

/// The conversion window W.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionWindow {
    /// An integer ≥ 1.
    pub value: u64,
    /// Its unit.
    pub unit: WindowUnit,
}

impl Default for ConversionWindow {
    fn default() -> Self {
        ConversionWindow {
            value: 14,
            unit: WindowUnit::Day,
        }
    }
}

impl ConversionWindow {
    /// W in microseconds; `None` past what an instant can hold.
    pub fn micros(&self) -> Option<i64> {
        i64::try_from(self.value)
            .ok()?
            .checked_mul(self.unit.seconds())?
            .checked_mul(1_000_000)
    }

    /// `1 day`, `14 days`.
    pub fn text(&self) -> String {
        format!(
            "{} {}{}",
            self.value,
            self.unit.noun(),
            if self.value == 1 { "" } else { "s" }
        )
    }
}

/// An exclusion: events that, between two steps, remove the person (§4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// A name, a list of names, or null for any activity event.
    #[serde(default)]
    pub event: EventNames,
    /// Its filters.
    #[serde(default)]
    pub properties: Vec<Filter>,
    /// The step after which it blocks (1-based).
    pub from_step: usize,
    /// The last step it blocks.
    pub to_step: usize,
}

/// How a breakdown attributes a value to a person (§9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The earliest non-empty value.
    #[default]
    FirstTouch,
    /// The latest non-empty value.
    LastTouch,
    /// One run per value.
    AllEvents,
    /// The value of the event that fills `attribution_step`.
    Step,
}

/// One property name or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropertyNames {
    /// One property.
    One(String),
    /// Several, giving list values.
    Many(Vec<String>),
}

impl PropertyNames {
    /// The names.
    pub fn names(&self) -> Vec<&str> {
        match self {
            PropertyNames::One(n) => vec![n.as_str()],
            PropertyNames::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A funnel breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelBreakdown {
    /// Event or person property.
    #[serde(rename = "type", default)]
    pub kind: PropertyKind,
    /// A property or a list of properties.
    pub property: PropertyNames,
    /// Values kept before Other.
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// How a person's value is chosen.
    #[serde(default)]
    pub attribution: Attribution,
    /// The step whose event gives the value, with `attribution = step` (1-based).
    #[serde(default)]
    pub attribution_step: Option<usize>,
}

fn default_limit() -> usize {
    25
}

/// Which result the report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Viz {
    /// Counts, rates and times per step (§8).
    #[default]
    Steps,
    /// A histogram of conversion times (§11).
    TimeToConvert,
    /// Conversion rate per entry period (§10).
    Trends,
}

/// The funnel's own fields; the shared ones are in [`Common`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// 2 to 30 steps.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// The order mode.
    #[serde(default)]
    pub order: Order,
    /// W.
    #[serde(default)]
    pub conversion_window: ConversionWindow,
    /// Exclusions.
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
    /// The period of funnel trends; it also decides how `date_to` is rounded.
    #[serde(default)]
    pub interval: Period,
    /// The breakdown, if any.
    #[serde(default)]
    pub breakdown: Option<FunnelBreakdown>,
    /// Which result.
    #[serde(default)]
    pub viz: Viz,
    /// The entering step of trends and time to convert (default 1).
    #[serde(default)]
    pub from_step: Option<usize>,
    /// The converting step (default n).
    #[serde(default)]
    pub to_step: Option<usize>,
    /// Histogram bins (1–90); automatic when absent.
    #[serde(default)]
    pub bin_count: Option<u32>,
}

impl Default for Fields {
    fn default() -> Self {
        serde_json::from_value(Value::Object(Map::new())).expect("every field has a default")
    }
}

impl Fields {
    /// n.
    pub fn n(&self) -> usize {
        self.steps.len()
    }

    /// `from_step`, resolved.
    pub fn from_step(&self) -> usize {
        self.from_step.unwrap_or(1)
    }

    /// `to_step`, resolved.
    pub fn to_step(&self) -> usize {
        self.to_step.unwrap_or(self.steps.len())
    }

    /// Every filter the funnel reads (steps, exclusions, globals), for the scan.
    pub fn filters<'a>(&'a self, common: &'a Common) -> impl Iterator<Item = &'a Filter> {
        self.steps
            .iter()
            .flat_map(|s| &s.properties)
            .chain(self.exclusions.iter().flat_map(|e| &e.properties))
            .chain(common.all_global_filters())
    }
}

impl KindParams for Fields {
    const KIND: &'static str = "funnels";
    const COMMON: &'static [&'static str] = crate::params::KEYS_WITHOUT_BREAKDOWN;
    const OWN_KEYS: &'static [&'static str] = &["breakdown"];

    fn validate(&self, common: &Common) -> Result<()> {
        let _ = common;
        let n = self.steps.len();
        if !(2..=MAX_STEPS).contains(&n) {
            return Err(Error::invalid(
                "steps",
                format!("a funnel has 2 to {MAX_STEPS} steps; {n} given"),
            ));
        }
        for (i, s) in self.steps.iter().enumerate() {
            crate::params::check_filters(&format!("steps[{i}].properties"), &s.properties)?;
            check_names(&format!("steps[{i}].event"), &s.event)?;
        }
        if self.conversion_window.value == 0 {
            return Err(Error::invalid(
                "conversion_window.value",
                "must be an integer of at least 1",
            ));
        }
        if self.conversion_window.micros().is_none() || self.conversion_window.value > 1_000_000 {
            return Err(Error::invalid(
                "conversion_window.value",
                "is longer than any history liucun can hold",
            ));
        }
        for (i, x) in self.exclusions.iter().enumerate() {
            let field = format!("exclusions[{i}]");
            crate::params::check_filters(&format!("{field}.properties"), &x.properties)?;
            check_names(&format!("{field}.event"), &x.event)?;
            if x.from_step < 1 || x.from_step > n {
                return Err(Error::invalid(
                    &format!("{field}.from_step"),
                    format!("must be a step number from 1 to {n}"),
                ));
            }
            if x.to_step < 1 || x.to_step > n {
                return Err(Error::invalid(
                    &format!("{field}.to_step"),
                    format!("must be a step number from 1 to {n}"),
                ));
            }
            if x.from_step >= x.to_step {
                return Err(Error::invalid(
                    &format!("{field}.from_step"),
                    "must be smaller than to_step",
                ));
            }
            if self.order == Order::Unordered && (x.from_step != 1 || x.to_step != n) {
                return Err(Error::invalid(
                    &format!("{field}.from_step"),
                    format!(
                        "an unordered funnel excludes over all its steps: from_step 1, to_step {n}"
                    ),
                ));
            }
            for k in x.from_step..=x.to_step {
                if covers(x, &self.steps[k - 1]) {
                    return Err(Error::invalid(
                        &field,
                        format!(
                            "matches every event of step {k}, so nobody could ever pass it; narrow the exclusion"
                        ),
                    ));
                }
            }
        }
        let (from, to) = (self.from_step(), self.to_step());
        if from < 1 || from > n {
            return Err(Error::invalid(
                "from_step",
                format!("must be a step number from 1 to {n}"),
            ));
        }
        if to < 1 || to > n {
            return Err(Error::invalid(
                "to_step",
                format!("must be a step number from 1 to {n}"),
            ));
        }
        if from >= to {
            return Err(Error::invalid("from_step", "must be smaller than to_step"));
        }
        if let Some(c) = self.bin_count
            && !(1..=90).contains(&c)
        {
            return Err(Error::invalid("bin_count", "must be between 1 and 90"));
        }
        if let Some(b) = &self.breakdown {
            if b.limit == 0 || b.limit > crate::params::MAX_BREAKDOWN_LIMIT {
                return Err(Error::invalid(
                    "breakdown.limit",
                    format!(
                        "must be between 1 and {}",
                        crate::params::MAX_BREAKDOWN_LIMIT
                    ),
                ));
            }
            let names = b.property.names();
            if names.is_empty() || names.len() > 10 || names.iter().any(|p| p.is_empty()) {
                return Err(Error::invalid(
                    "breakdown.property",
                    "name a property, or a list of 1 to 10 properties",
                ));
            }
            match (b.attribution, b.attribution_step) {
                (Attribution::Step, None) => {
                    return Err(Error::invalid(
                        "breakdown.attribution_step",
                        "is required with attribution `step`",
                    ));
                }
                (Attribution::Step, Some(s)) if s < 1 || s > n => {
                    return Err(Error::invalid(
                        "breakdown.attribution_step",
                        format!("must be a step number from 1 to {n}"),
                    ));
                }
                (Attribution::Step, Some(s)) if s != 1 && self.order == Order::Unordered => {
                    return Err(Error::invalid(
                        "breakdown.attribution_step",
                        "an unordered funnel attributes only at step 1",
                    ));
                }
                (Attribution::Step, Some(_)) | (_, None) => {}
                (_, Some(_)) => {
                    return Err(Error::invalid(
                        "breakdown.attribution_step",
                        "is only given with attribution `step`",
                    ));
                }
            }
        }
        if common.date_to.as_deref().map(str::trim) == Some("all") {
            return Err(Error::invalid(
                "date_to",
                "`all` is a lower bound; leave date_to out for as_of",
            ));
        }
        Ok(())
    }
}

fn check_names(field: &str, names: &EventNames) -> Result<()> {
    if let EventNames::Many(v) = names
        && (v.is_empty() || v.len() > 100)
    {
        return Err(Error::invalid(field, "a list of 1 to 100 event names"));
    }
    Ok(())
}

/// Whether an exclusion matches every event of a step (§4.4): it is any-event or names all of the step's names,
/// and each of its filters is one of the step's.
fn covers(x: &Exclusion, step: &Step) -> bool {
    let names = match (x.event.names(), step.event.names()) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(xs), Some(ss)) => ss.iter().all(|s| xs.contains(s)),
    };
    names && x.properties.iter().all(|f| step.properties.contains(f))
}

/// What `funnel-persons` adds to the funnel parameters (§12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// k > 0: persons with level ≥ k; −k: persons who dropped off at step k.
    #[serde(default)]
    pub step: Option<i64>,
    /// One breakdown value's runs (a string, or a list for a list of properties).
    #[serde(default)]
    pub breakdown_value: Option<Value>,
    /// The runs of the values merged into Other.
    #[serde(default)]
    pub other: bool,
    /// With trends: the period containing this date.
    #[serde(default)]
    pub entrance_period: Option<String>,
    /// With trends: persons who entered and did not convert (`true`) or did (`false`).
    #[serde(default)]
    pub dropped_off: Option<bool>,
    /// Page size.
    #[serde(default = "default_page")]
    pub limit: usize,
    /// Page start.
    #[serde(default)]
    pub offset: usize,
}

fn default_page() -> usize {
    100
}

/// The most persons one page lists.
pub const MAX_PAGE: usize = 10_000;

/// The keys of [`Selection`].
pub const SELECTION_KEYS: [&str; 7] = [
    "step",
    "breakdown_value",
    "other",
    "entrance_period",
    "dropped_off",
    "limit",
    "offset",
];

/// Splits a `funnel-persons` parameters object into the funnel's parameters and the selection.
///
/// # Errors
/// [`Error::Invalid`] naming the field.
pub fn split_persons(v: &Value) -> Result<(FunnelParams, Selection)> {
    let Value::Object(all) = v else {
        return Err(Error::invalid("parameters", "must be a JSON object"));
    };
    let mut funnel = Map::new();
    let mut select = Map::new();
    for (k, v) in all {
        if SELECTION_KEYS.contains(&k.as_str()) {
            if !v.is_null() {
                select.insert(k.clone(), v.clone());
            }
        } else {
            funnel.insert(k.clone(), v.clone());
        }
    }
    let params = FunnelParams::from_json(&Value::Object(funnel))?;
    let selection: Selection =
        serde_path_to_error::deserialize(Value::Object(select)).map_err(|e| {
            let field = e.path().to_string();
            Error::invalid(
                if field == "." { "parameters" } else { &field },
                e.into_inner().to_string(),
            )
        })?;
    selection.validate(&params, params.n())?;
    Ok((params, selection))
}

impl Selection {
    fn validate(&self, params: &FunnelParams, n: usize) -> Result<()> {
        let trends = params.viz == Viz::Trends;
        match self.step {
            Some(k)
                if (k >= 1 && k as usize <= n) || (k <= -2 && k.unsigned_abs() as usize <= n) => {}
            Some(_) => {
                return Err(Error::invalid(
                    "step",
                    format!(
                        "k from 1 to {n} lists persons who reached step k; -k from -2 to -{n} those who dropped off at step k"
                    ),
                ));
            }
            None if !trends => {
                return Err(Error::invalid(
                    "step",
                    "name a step: k lists persons who reached it, -k those who dropped off at it",
                ));
            }
            None => {}
        }
        if trends && self.step.is_some() {
            return Err(Error::invalid(
                "step",
                "a trends listing selects by entrance_period and dropped_off",
            ));
        }
        if !trends && (self.entrance_period.is_some() || self.dropped_off.is_some()) {
            return Err(Error::invalid(
                if self.entrance_period.is_some() {
                    "entrance_period"
                } else {
                    "dropped_off"
                },
                "is given only with viz `trends`",
            ));
        }
        if trends && self.entrance_period.is_none() {
            return Err(Error::invalid(
                "entrance_period",
                "a trends listing names the entry period",
            ));
        }
        if self.other && self.breakdown_value.is_some() {
            return Err(Error::invalid(
                "other",
                "select either one breakdown value or Other",
            ));
        }
        if (self.other || self.breakdown_value.is_some()) && params.breakdown.is_none() {
            return Err(Error::invalid(
                if self.other {
                    "other"
                } else {
                    "breakdown_value"
                },
                "the funnel has no breakdown",
            ));
        }
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if self.offset > 1_000_000_000 {
            return Err(Error::invalid("offset", "must be at most 1000000000"));
        }
        Ok(())
    }

    /// The selection as JSON, echoed with the parameters.
    pub fn to_json(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }
}
