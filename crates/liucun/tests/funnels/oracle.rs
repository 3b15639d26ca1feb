//! A deliberately naive funnel oracle, written straight from the procedures of funnels.md.
//!
//! It shares no code with `report` or `kernels`: its inputs are plain structs (events, steps, exclusions, a
//! breakdown), persons are a plain list of id sets, filters are re-implemented for the few operators the tests use,
//! periods come from jiff's local calendar, and every run is the literal slot-by-slot procedure of §5–§7 and §10.2.
//! Where the summary of §5.6 and the procedure could disagree, the procedure is followed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

/// One event as the oracle sees it (all in one project).
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub(crate) distinct_id: String,
    pub(crate) name: String,
    /// UTC µs.
    pub(crate) ts: i64,
    pub(crate) uuid: u128,
    pub(crate) props: Map<String, Value>,
}

/// A property filter; the tests use only these three operators.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filt {
    pub(crate) person: bool,
    pub(crate) key: String,
    pub(crate) op: Op,
    /// A string value (`eq`, `neq`).
    pub(crate) value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Neq,
    IsSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occurrence {
    Any,
    FirstEver,
    FirstTime,
}

/// A step: event names (`None` is any activity event), filters, occurrence.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) event: Option<Vec<String>>,
    pub(crate) filters: Vec<Filt>,
    pub(crate) occurrence: Occurrence,
}

#[derive(Debug, Clone)]
pub(crate) struct Exclusion {
    pub(crate) event: Option<Vec<String>>,
    pub(crate) filters: Vec<Filt>,
    /// 1-based.
    pub(crate) from_step: usize,
    pub(crate) to_step: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Ordered,
    Strict,
    Unordered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attribution {
    FirstTouch,
    LastTouch,
    AllEvents,
    /// 1-based attribution step.
    Step(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Breakdown {
    pub(crate) person: bool,
    pub(crate) properties: Vec<String>,
    /// Whether `property` is written as a list (the value is then a list too).
    pub(crate) is_list: bool,
    pub(crate) limit: usize,
    pub(crate) attribution: Attribution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    Hour,
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Viz {
    Steps,
    TimeToConvert,
    Trends,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Unit {
    pub(crate) fn seconds(self) -> i64 {
        match self {
            Unit::Second => 1,
            Unit::Minute => 60,
            Unit::Hour => 3_600,
            Unit::Day => 86_400,
            Unit::Week => 604_800,
            Unit::Month => 2_678_400,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
        }
    }
}

/// The funnel parameters the oracle understands. Dates are `YYYY-MM-DD` strings.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) steps: Vec<Step>,
    pub(crate) order: Order,
    pub(crate) window: (i64, Unit),
    pub(crate) exclusions: Vec<Exclusion>,
    pub(crate) date_from: String,
    pub(crate) date_to: String,
    pub(crate) interval: Interval,
    pub(crate) timezone: String,
    pub(crate) week_start_sunday: bool,
    pub(crate) properties: Vec<Filt>,
    pub(crate) breakdown: Option<Breakdown>,
    pub(crate) viz: Viz,
    pub(crate) from_step: usize,
    pub(crate) to_step: usize,
    pub(crate) bin_count: Option<usize>,
    /// UTC µs.
    pub(crate) as_of: i64,
}

/// One step of one series (§8).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepOut {
    pub(crate) count: u64,
    pub(crate) rate_from_first: Option<f64>,
    pub(crate) ci95_from_first: Option<(f64, f64)>,
    pub(crate) rate_from_previous: Option<f64>,
    pub(crate) ci95_from_previous: Option<(f64, f64)>,
    pub(crate) dropped_off: Option<u64>,
    pub(crate) average_time_s: Option<f64>,
    pub(crate) median_time_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// `null`, a string or a list of strings, as in the output.
    pub(crate) breakdown_value: Value,
    pub(crate) is_other: bool,
    pub(crate) steps: Vec<StepOut>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bin {
    pub(crate) from_s: f64,
    pub(crate) to_s: f64,
    pub(crate) count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimeToConvert {
    pub(crate) persons: u64,
    pub(crate) average_s: Option<f64>,
    pub(crate) median_s: Option<f64>,
    pub(crate) bins: Vec<Bin>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrendPeriod {
    /// UTC µs of the period's first instant.
    pub(crate) start: i64,
    pub(crate) entered: u64,
    pub(crate) converted: u64,
    pub(crate) conversion_rate: Option<f64>,
    pub(crate) ci95: Option<(f64, f64)>,
    /// min(the period's last microsecond + W, upper bound) is after as_of (§13.5).
    pub(crate) incomplete: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrendSeries {
    pub(crate) breakdown_value: Value,
    pub(crate) periods: Vec<TrendPeriod>,
}

/// What a person's run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Level 0: not in the funnel.
    Out,
    /// Hit by an exclusion (ordered and strict only): removed from every step.
    Removed,
    /// The level reached and the step times of the reported attempt (µs, one per reached step).
    Level(usize, Vec<i64>),
}

/// The whole answer of the oracle.
#[derive(Debug, Clone)]
pub(crate) struct Funnel {
    /// Range bounds (µs, both inclusive).
    pub(crate) lower: i64,
    pub(crate) upper: i64,
    pub(crate) series: Vec<Series>,
    pub(crate) time_to_convert: TimeToConvert,
    pub(crate) trends: Vec<TrendSeries>,
    /// Without breakdown: each person (smallest distinct id) and the outcome of its run.
    pub(crate) persons: BTreeMap<String, Outcome>,
}

/// The spec's non-activity events (retention.md §5.4), written out again on purpose.
const NON_ACTIVITY: [&str; 6] = [
    "$set",
    "$set_once",
    "$create_alias",
    "$merge_dangerously",
    "$groupidentify",
    "payment",
];

pub(crate) fn is_activity(name: &str) -> bool {
    !NON_ACTIVITY.contains(&name)
}

// ---------------------------------------------------------------------------------------------------------------
// Parameters as the engine's JSON.

fn names_json(names: &Option<Vec<String>>) -> Value {
    match names {
        None => Value::Null,
        Some(v) if v.len() == 1 => json!(v[0]),
        Some(v) => json!(v),
    }
}

fn filters_json(filters: &[Filt]) -> Value {
    Value::Array(
        filters
            .iter()
            .map(|f| {
                let mut o = json!({
                    "type": if f.person { "person" } else { "event" },
                    "key": f.key,
                    "operator": match f.op { Op::Eq => "eq", Op::Neq => "neq", Op::IsSet => "is_set" },
                });
                if let Some(v) = &f.value {
                    o["value"] = json!(v);
                }
                o
            })
            .collect(),
    )
}

fn interval_name(i: Interval) -> &'static str {
    match i {
        Interval::Hour => "hour",
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
    }
}

impl Params {
    /// The parameters object of the `funnels` report for project `p`.
    pub(crate) fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let mut o =
                    json!({"event": names_json(&s.event), "properties": filters_json(&s.filters)});
                match s.occurrence {
                    Occurrence::Any => {}
                    Occurrence::FirstEver => o["occurrence"] = json!("first_ever"),
                    Occurrence::FirstTime => o["occurrence"] = json!("first_time"),
                }
                o
            })
            .collect();
        let exclusions: Vec<Value> = self
            .exclusions
            .iter()
            .map(|x| {
                json!({"event": names_json(&x.event), "properties": filters_json(&x.filters),
                       "from_step": x.from_step, "to_step": x.to_step})
            })
            .collect();
        let breakdown = match &self.breakdown {
            None => Value::Null,
            Some(b) => {
                let mut o = json!({
                    "type": if b.person { "person" } else { "event" },
                    "property": if b.is_list { json!(b.properties) } else { json!(b.properties[0]) },
                    "limit": b.limit,
                });
                match b.attribution {
                    Attribution::FirstTouch => o["attribution"] = json!("first_touch"),
                    Attribution::LastTouch => o["attribution"] = json!("last_touch"),
                    Attribution::AllEvents => o["attribution"] = json!("all_events"),
                    Attribution::Step(s) => {
                        o["attribution"] = json!("step");
                        o["attribution_step"] = json!(s);
                    }
                }
                o
            }
        };
        let mut out = json!({
            "projects": ["p"],
            "steps": steps,
            "order": match self.order { Order::Ordered => "ordered", Order::Strict => "strict", Order::Unordered => "unordered" },
            "conversion_window": {"value": self.window.0, "unit": self.window.1.name()},
            "exclusions": exclusions,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "interval": interval_name(self.interval),
            "timezone": self.timezone,
            "week_start": if self.week_start_sunday { "sunday" } else { "monday" },
            "properties": filters_json(&self.properties),
            "breakdown": breakdown,
            "viz": match self.viz { Viz::Steps => "steps", Viz::TimeToConvert => "time_to_convert", Viz::Trends => "trends" },
            "from_step": self.from_step,
            "to_step": self.to_step,
            "as_of": Timestamp::from_microsecond(self.as_of).unwrap().to_string(),
        });
        if let Some(c) = self.bin_count {
            out["bin_count"] = json!(c);
        }
        out
    }

    fn n(&self) -> usize {
        self.steps.len()
    }

    fn w_us(&self) -> i64 {
        self.window.0 * self.window.1.seconds() * 1_000_000
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Calendar: local periods (copied in spirit from the retention oracle, on purpose not shared with the engine).

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn day_number(d: Date) -> i64 {
    let (y, m, dd) = (
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn date_of_number(n: i64) -> Date {
    Date::new(1970, 1, 1)
        .unwrap()
        .checked_add(jiff::Span::new().days(n))
        .unwrap()
}

pub(crate) struct Cal {
    pub(crate) interval: Interval,
    pub(crate) tz: TimeZone,
    pub(crate) sunday: bool,
}

impl Cal {
    /// The period holding an instant: hours by their UTC start, days and weeks by the day number of their first
    /// day, months by year·12 + month − 1.
    pub(crate) fn of(&self, us: i64) -> i64 {
        let z = Timestamp::from_microsecond(us)
            .unwrap()
            .to_zoned_datetime(self.tz.clone());
        match self.interval {
            Interval::Hour => {
                let into = (i64::from(z.minute()) * 60 + i64::from(z.second())) * 1_000_000
                    + us.rem_euclid(1_000_000);
                us - into
            }
            Interval::Day => day_number(z.date()),
            Interval::Week => {
                let n = day_number(z.date());
                // 1970-01-01 was a Thursday: Monday-based weekday index = (n + 3) mod 7.
                let wd_monday = (n + 3).rem_euclid(7);
                let back = if self.sunday {
                    (wd_monday + 1) % 7
                } else {
                    wd_monday
                };
                n - back
            }
            Interval::Month => i64::from(z.year()) * 12 + i64::from(z.month()) - 1,
        }
    }

    pub(crate) fn next(&self, p: i64) -> i64 {
        match self.interval {
            Interval::Hour => p + 3_600_000_000,
            Interval::Day | Interval::Month => p + 1,
            Interval::Week => p + 7,
        }
    }

    /// The first instant of a period.
    pub(crate) fn start_us(&self, p: i64) -> i64 {
        let date = match self.interval {
            Interval::Hour => return p,
            Interval::Day | Interval::Week => date_of_number(p),
            Interval::Month => Date::new(
                i16::try_from(p.div_euclid(12)).unwrap(),
                i8::try_from(p.rem_euclid(12) + 1).unwrap(),
                1,
            )
            .unwrap(),
        };
        local_midnight(date, &self.tz)
    }
}

/// The first instant of a local date: its midnight, or the first instant of the date when midnight does not exist.
pub(crate) fn local_midnight(d: Date, tz: &TimeZone) -> i64 {
    tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .unwrap()
        .as_microsecond()
}

/// The range of §3.1 for absolute `YYYY-MM-DD` dates: [local midnight of `date_from`, end of `date_to`].
fn range(p: &Params, tz: &TimeZone) -> (i64, i64) {
    let from: Date = p.date_from.parse().unwrap();
    let to: Date = p.date_to.parse().unwrap();
    let lower = local_midnight(from, tz);
    let upper = if p.interval == Interval::Hour {
        // Exact: a date with no time is its local midnight.
        local_midnight(to, tz)
    } else {
        local_midnight(to.tomorrow().unwrap(), tz) - 1
    };
    (lower, upper)
}

// ---------------------------------------------------------------------------------------------------------------
// Persons and properties.

/// Persons by naive union of id sets, `$identify` merges in (timestamp, uuid) order, with the guard of events.md
/// §5.3: an already identified id is never absorbed by an `$identify`.
fn build_persons(events: &[&Ev]) -> Vec<BTreeSet<String>> {
    let mut sets: Vec<BTreeSet<String>> = Vec::new();
    let mut identified: Vec<bool> = Vec::new();
    fn set_of(sets: &mut Vec<BTreeSet<String>>, idf: &mut Vec<bool>, id: &str) -> usize {
        if let Some(i) = sets.iter().position(|s| s.contains(id)) {
            return i;
        }
        sets.push(BTreeSet::from([id.to_string()]));
        idf.push(false);
        sets.len() - 1
    }
    for e in events {
        set_of(&mut sets, &mut identified, &e.distinct_id);
    }
    let mut merges: Vec<&Ev> = events
        .iter()
        .copied()
        .filter(|e| e.name == "$identify")
        .collect();
    merges.sort_by_key(|e| (e.ts, e.uuid));
    for e in merges {
        let d = set_of(&mut sets, &mut identified, &e.distinct_id);
        identified[d] = true;
        let other = match e.props.get("$anon_distinct_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => continue,
        };
        if other == e.distinct_id {
            continue;
        }
        let a = set_of(&mut sets, &mut identified, &other);
        if a == d || identified[a] {
            continue;
        }
        let moved = std::mem::take(&mut sets[a]);
        sets[d].extend(moved);
        identified[a] = false;
    }
    sets.retain(|s| !s.is_empty());
    sets
}

/// A person's current properties: `$set` of its events folded in (timestamp, uuid) order.
fn fold_properties(events: &[&Ev]) -> Map<String, Value> {
    let mut sorted: Vec<&Ev> = events.to_vec();
    sorted.sort_by_key(|e| (e.ts, e.uuid));
    let mut props = Map::new();
    for e in sorted {
        if let Some(Value::Object(set)) = e.props.get("$set") {
            for (k, v) in set {
                props.insert(k.clone(), v.clone());
            }
        }
    }
    props
}

/// The string form of retention.md §5.2 (strings and numbers are all the tests use).
fn string_form(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(format!("{}", n.as_f64().unwrap())),
        other => Some(serde_json::to_string(other).unwrap()),
    }
}

fn filter_matches(f: &Filt, props: &Map<String, Value>) -> bool {
    let v = props.get(&f.key).and_then(string_form);
    match f.op {
        Op::Eq => v.as_deref() == f.value.as_deref(),
        Op::Neq => v.as_deref() != f.value.as_deref(),
        Op::IsSet => v.is_some(),
    }
}

fn all_match(filters: &[Filt], ev: &Map<String, Value>, person: &Map<String, Value>) -> bool {
    filters.iter().all(|f| {
        if f.person {
            filter_matches(f, person)
        } else {
            filter_matches(f, ev)
        }
    })
}

fn names_match(names: &Option<Vec<String>>, name: &str) -> bool {
    match names {
        None => is_activity(name),
        Some(v) => v.iter().any(|n| n == name),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers.

/// Rounds half-even to 6 decimals (formatting works on the exact binary value).
pub(crate) fn round6(x: f64) -> f64 {
    format!("{x:.6}").parse().unwrap()
}

/// The Wilson 95% interval of retention.md §12.2, rounded.
pub(crate) fn wilson(x: u64, n: u64) -> (f64, f64) {
    let z = 1.959964f64;
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (
        round6((center - half).max(0.0)),
        round6((center + half).min(1.0)),
    )
}

/// Average and median of µs durations, in seconds rounded to 6 decimals.
fn average_median(durations_us: &[i64]) -> (Option<f64>, Option<f64>) {
    if durations_us.is_empty() {
        return (None, None);
    }
    let mut d = durations_us.to_vec();
    d.sort_unstable();
    let sum: i128 = d.iter().map(|&x| i128::from(x)).sum();
    let avg = sum as f64 / d.len() as f64 / 1e6;
    let mid = d.len() / 2;
    let median_us = if d.len() % 2 == 1 {
        d[mid] as f64
    } else {
        (d[mid - 1] as f64 + d[mid] as f64) / 2.0
    };
    (Some(round6(avg)), Some(round6(median_us / 1e6)))
}

// ---------------------------------------------------------------------------------------------------------------
// Roles.

/// A read event with its roles and breakdown value.
#[derive(Debug, Clone)]
pub(crate) struct Read {
    pub(crate) ts: i64,
    pub(crate) uuid: u128,
    /// Step roles, 1-based.
    pub(crate) s: BTreeSet<usize>,
    /// Exclusion roles, 1-based.
    pub(crate) x: BTreeSet<usize>,
    pub(crate) value: Vec<String>,
}

fn is_non_empty(v: &[String]) -> bool {
    v.iter().any(|s| !s.is_empty())
}

/// The read events of one person (§4), in (timestamp, uuid) order.
fn read_events(
    p: &Params,
    history: &[&Ev],
    person_props: &Map<String, Value>,
    lower: i64,
    upper: i64,
) -> Vec<Read> {
    let n = p.n();
    // §4.3 anchors over the whole history up to as_of, global filters ignored.
    let anchors: Vec<Option<u128>> = p
        .steps
        .iter()
        .map(|st| {
            let candidate = |e: &&&Ev| match st.occurrence {
                Occurrence::Any => false,
                Occurrence::FirstEver => names_match(&st.event, &e.name),
                Occurrence::FirstTime => {
                    names_match(&st.event, &e.name)
                        && all_match(&st.filters, &e.props, person_props)
                }
            };
            history
                .iter()
                .filter(candidate)
                .min_by_key(|e| (e.ts, e.uuid))
                .map(|e| e.uuid)
        })
        .collect();
    let mut out = Vec::new();
    for e in history {
        if e.ts < lower || e.ts > upper || e.ts > p.as_of {
            continue;
        }
        if !all_match(&p.properties, &e.props, person_props) {
            continue;
        }
        let mut s = BTreeSet::new();
        for (k, st) in p.steps.iter().enumerate() {
            let matches =
                names_match(&st.event, &e.name) && all_match(&st.filters, &e.props, person_props);
            let anchored = match st.occurrence {
                Occurrence::Any => true,
                _ => anchors[k] == Some(e.uuid),
            };
            if matches && anchored {
                s.insert(k + 1);
            }
        }
        let mut x = BTreeSet::new();
        // In unordered funnels an event with a step role has no exclusion role.
        if p.order != Order::Unordered || s.is_empty() {
            for ex in &p.exclusions {
                if names_match(&ex.event, &e.name) && all_match(&ex.filters, &e.props, person_props)
                {
                    x.extend(ex.from_step + 1..=ex.to_step);
                }
            }
        }
        let activity_read = p.order == Order::Strict && is_activity(&e.name);
        if s.is_empty() && x.is_empty() && !activity_read {
            continue;
        }
        debug_assert!(s.iter().all(|&k| k <= n));
        let value = match &p.breakdown {
            None => Vec::new(),
            Some(b) => b
                .properties
                .iter()
                .map(|prop| {
                    let m = if b.person { person_props } else { &e.props };
                    m.get(prop).and_then(string_form).unwrap_or_default()
                })
                .collect(),
        };
        out.push(Read {
            ts: e.ts,
            uuid: e.uuid,
            s,
            x,
            value,
        });
    }
    out.sort_by_key(|r| (r.ts, r.uuid));
    out
}

/// The runs of one person (§9.2): each with its value, the events it reads and its attribution step.
fn runs(p: &Params, reads: &[Read]) -> Vec<(Vec<String>, Vec<Read>, Option<usize>)> {
    let Some(b) = &p.breakdown else {
        return vec![(Vec::new(), reads.to_vec(), None)];
    };
    let empty = vec![String::new(); b.properties.len()];
    match b.attribution {
        Attribution::FirstTouch => {
            let v = reads
                .iter()
                .find(|r| is_non_empty(&r.value))
                .map_or(empty, |r| r.value.clone());
            vec![(v, reads.to_vec(), None)]
        }
        Attribution::LastTouch => {
            let v = reads
                .iter()
                .rev()
                .find(|r| is_non_empty(&r.value))
                .map_or(empty, |r| r.value.clone());
            vec![(v, reads.to_vec(), None)]
        }
        Attribution::AllEvents => {
            let values: BTreeSet<Vec<String>> = reads.iter().map(|r| r.value.clone()).collect();
            values
                .into_iter()
                .map(|v| {
                    let evs = reads.iter().filter(|r| r.value == v).cloned().collect();
                    (v, evs, None)
                })
                .collect()
        }
        Attribution::Step(s) => {
            let values: BTreeSet<Vec<String>> = reads
                .iter()
                .filter(|r| p.order == Order::Unordered || r.s.contains(&s))
                .map(|r| r.value.clone())
                .collect();
            values
                .into_iter()
                .map(|v| (v, reads.to_vec(), Some(s)))
                .collect()
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §5 and §6: ordered and strict runs.

#[derive(Debug, Clone)]
struct Attempt {
    entry: i64,
    events: Vec<u128>,
    times: Vec<i64>,
    excluded: bool,
}

struct OrderedRun<'a> {
    n: usize,
    w: i64,
    attribution: Option<(usize, &'a [String])>,
    /// `slots[k]` for k in 1..=n; index 0 unused.
    slots: Vec<Option<Attempt>>,
    best: Option<(Attempt, usize)>,
}

impl OrderedRun<'_> {
    /// §5.2; `check_used` is the extra skip of a mixed same-instant group (§5.4 rule 2).
    fn fill(&mut self, k: usize, e: &Read, check_used: bool) {
        let t = e.ts;
        let prev = if k == 1 {
            Attempt {
                entry: t,
                events: Vec::new(),
                times: Vec::new(),
                excluded: false,
            }
        } else {
            match &self.slots[k - 1] {
                Some(a) => a.clone(),
                None => return,
            }
        };
        if t - prev.entry > self.w {
            return;
        }
        if self.slots[k]
            .as_ref()
            .is_some_and(|a| a.entry == prev.entry)
        {
            return;
        }
        if let Some((s, v)) = self.attribution
            && s == k
            && e.value != v
        {
            return;
        }
        if check_used && prev.events.contains(&e.uuid) {
            return;
        }
        let mut next = prev.clone();
        next.events.push(e.uuid);
        next.times.push(t);
        if !prev.excluded {
            self.slots[k] = Some(next.clone());
        }
        let (level, best_excluded) = self
            .best
            .as_ref()
            .map_or((0, false), |(a, l)| (*l, a.excluded));
        if k > level || (k == level && best_excluded) {
            self.best = Some((next, k));
        }
    }

    /// §5.3.
    fn exclude(&mut self, j: usize, t: i64) {
        let Some(prev) = self.slots[j - 1].as_ref() else {
            return;
        };
        if t - prev.entry > self.w {
            return;
        }
        if self.slots[j]
            .as_ref()
            .is_some_and(|a| a.entry == prev.entry)
        {
            return;
        }
        if prev.excluded {
            return;
        }
        self.slots[j - 1].as_mut().unwrap().excluded = true;
        if let Some((best, level)) = self.best.as_mut()
            && *level == j - 1
            && t - best.entry <= self.w
        {
            best.excluded = true;
        }
    }
}

/// One ordered or strict run over its events (already in (timestamp, uuid) order).
pub(crate) fn run_ordered(
    n: usize,
    w: i64,
    strict: bool,
    events: &[Read],
    attribution: Option<(usize, &[String])>,
) -> Outcome {
    let mut run = OrderedRun {
        n,
        w,
        attribution,
        slots: vec![None; n + 1],
        best: None,
    };
    let mut i = 0;
    while i < events.len() {
        let mut j = i;
        while j < events.len() && events[j].ts == events[i].ts {
            j += 1;
        }
        let group = &events[i..j];
        let same_roles = group.iter().all(|e| e.s == group[0].s && e.x == group[0].x);
        if same_roles {
            for e in group {
                for &x in e.x.iter().rev() {
                    run.exclude(x, e.ts);
                }
                for &k in e.s.iter().rev() {
                    run.fill(k, e, false);
                }
                if strict {
                    for k in 1..=run.n {
                        if !e.s.contains(&k) {
                            run.slots[k] = None;
                        }
                    }
                }
            }
        } else {
            let mut pairs: Vec<(usize, u128, &Read)> = group
                .iter()
                .flat_map(|e| e.s.iter().map(move |&k| (k, e.uuid, e)))
                .collect();
            pairs.sort_by_key(|&(k, u, _)| (k, u));
            for (k, _, e) in pairs {
                run.fill(k, e, true);
            }
        }
        if run.slots[n].is_some() {
            break;
        }
        i = j;
    }
    match run.best {
        None => Outcome::Out,
        Some((a, _)) if a.excluded => Outcome::Removed,
        Some((a, level)) => Outcome::Level(level, a.times),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §7: unordered runs.

pub(crate) fn run_unordered(
    n: usize,
    w: i64,
    events: &[Read],
    attribution: Option<(usize, &[String])>,
) -> Outcome {
    let mut queues: Vec<VecDeque<i64>> = vec![VecDeque::new(); n];
    let mut m = 0usize;
    let mut best = 0usize;
    let mut times: Vec<i64> = Vec::new();
    let record = |queues: &Vec<VecDeque<i64>>, m: usize, best: &mut usize, times: &mut Vec<i64>| {
        if m > *best {
            *best = m;
            let mut t: Vec<i64> = queues.iter().filter_map(|q| q.front().copied()).collect();
            t.sort_unstable();
            *times = t;
        }
    };
    for (idx, e) in events.iter().enumerate() {
        let t = e.ts;
        // 1. Expire.
        loop {
            let oldest = (0..n)
                .filter_map(|k| queues[k].front().map(|&ft| (ft, k)))
                .min();
            let Some((ot, k)) = oldest else { break };
            if m < n && ot + w >= t {
                break;
            }
            record(&queues, m, &mut best, &mut times);
            queues[k].pop_front();
            if queues[k].is_empty() {
                m -= 1;
            }
        }
        if e.s.is_empty() {
            // 2. Exclusion.
            for q in &mut queues {
                q.clear();
            }
            m = 0;
        } else {
            // 3. Place.
            let step =
                e.s.iter()
                    .map(|&k| (queues[k - 1].back().map_or(i64::MIN, |&b| b), k))
                    .min()
                    .unwrap()
                    .1;
            let skip = matches!(attribution, Some((1, v)) if m == 0 && e.value != v);
            if !skip {
                // 4. Append.
                if queues[step - 1].is_empty() {
                    m += 1;
                }
                queues[step - 1].push_back(t);
            }
        }
        // 5.
        if best == n {
            break;
        }
        if idx + 1 == events.len() {
            record(&queues, m, &mut best, &mut times);
        }
    }
    if best == 0 {
        Outcome::Out
    } else {
        Outcome::Level(best, times)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §10.2: trends of ordered and strict runs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Clean,
    Partial,
    Full,
}

#[derive(Debug, Clone)]
struct TState {
    /// (entry time, excluded) per slot, 1-based.
    slots: Vec<Option<(i64, bool)>>,
    level: usize,
    time: i64,
    status: Status,
}

/// The periods a run entered, each with whether it converted.
#[expect(
    clippy::too_many_arguments,
    reason = "the procedure of §10.2 takes these inputs one by one"
)]
fn trend_run(
    n: usize,
    w: i64,
    strict: bool,
    from_step: usize,
    to_step: usize,
    events: &[Read],
    attribution: Option<(usize, &[String])>,
    cal: &Cal,
) -> BTreeMap<i64, bool> {
    let mut evs: Vec<&Read> = events.iter().collect();
    evs.sort_by_key(|e| {
        (
            e.ts,
            e.s.iter().next().copied().unwrap_or(usize::MAX),
            e.uuid,
        )
    });
    let mut states: BTreeMap<i64, TState> = BTreeMap::new();
    let mut converted: BTreeSet<i64> = BTreeSet::new();
    let unmatched =
        |k: usize, e: &Read| matches!(attribution, Some((s, v)) if s == k && e.value != v);
    for e in evs {
        let t = e.ts;
        let roles: Vec<(usize, bool)> =
            e.x.iter()
                .rev()
                .map(|&j| (j, true))
                .chain(e.s.iter().rev().map(|&k| (k, false)))
                .collect();
        for (k, is_exclusion) in roles {
            if k == 1 && !is_exclusion {
                let period = cal.of(t);
                if unmatched(1, e) || converted.contains(&period) {
                    continue;
                }
                let fresh = match states.get(&period) {
                    None => true,
                    Some(st) => st.level == 1 && st.status != Status::Clean,
                };
                if fresh {
                    let mut slots = vec![None; n + 1];
                    slots[1] = Some((t, false));
                    states.insert(
                        period,
                        TState {
                            slots,
                            level: 1,
                            time: t,
                            status: Status::Clean,
                        },
                    );
                } else {
                    states.get_mut(&period).unwrap().slots[1] = Some((t, false));
                }
                continue;
            }
            let periods: Vec<i64> = states.keys().copied().collect();
            for period in periods {
                let st = states.get_mut(&period).unwrap();
                let Some((entry, excluded)) = st.slots[k - 1] else {
                    continue;
                };
                if t - entry > w {
                    continue;
                }
                if st.slots[k].is_some_and(|(s, _)| s == entry) {
                    continue;
                }
                if is_exclusion {
                    if !excluded {
                        st.slots[k - 1] = Some((entry, true));
                        if st.level == k - 1 && t - st.time <= w {
                            st.status = Status::Partial;
                        }
                    }
                    continue;
                }
                if unmatched(k, e) {
                    continue;
                }
                if !excluded {
                    st.slots[k] = Some((entry, false));
                }
                if st.slots[to_step].is_some() {
                    converted.insert(period);
                    states.remove(&period);
                } else if k > st.level || (k == st.level && st.status == Status::Partial) {
                    st.level = k;
                    st.time = t;
                    st.status = if excluded {
                        Status::Full
                    } else {
                        Status::Clean
                    };
                }
            }
        }
        if strict {
            for st in states.values_mut() {
                for k in 1..=n {
                    if !e.s.contains(&k) {
                        st.slots[k] = None;
                    }
                }
            }
        }
    }
    let mut out: BTreeMap<i64, bool> = converted.iter().map(|&p| (p, true)).collect();
    if !states.values().any(|st| st.status == Status::Full) {
        for (&period, st) in &states {
            if st.level >= from_step && st.status == Status::Clean {
                out.insert(period, false);
            }
        }
    }
    out
}

/// §10.3: the periods an unordered run entered, each with whether it converted.
fn trend_run_unordered(
    n: usize,
    w: i64,
    from_step: usize,
    to_step: usize,
    events: &[Read],
    attribution: Option<(usize, &[String])>,
    cal: &Cal,
) -> BTreeMap<i64, bool> {
    let mut queues: Vec<VecDeque<i64>> = vec![VecDeque::new(); n];
    let mut m = 0usize;
    // The largest m recorded for each period.
    let mut recorded: BTreeMap<i64, usize> = BTreeMap::new();
    // Removes the oldest front event (ties: the lowest step), recording m for its period first.
    let remove_oldest = |queues: &mut Vec<VecDeque<i64>>,
                         m: &mut usize,
                         recorded: &mut BTreeMap<i64, usize>,
                         k: usize| {
        let ot = *queues[k].front().unwrap();
        let r = recorded.entry(cal.of(ot)).or_default();
        *r = (*r).max(*m);
        queues[k].pop_front();
        if queues[k].is_empty() {
            *m -= 1;
        }
    };
    let oldest = |queues: &Vec<VecDeque<i64>>| {
        (0..n)
            .filter_map(|k| queues[k].front().map(|&ft| (ft, k)))
            .min()
    };
    for e in events {
        let t = e.ts;
        while let Some((ot, k)) = oldest(&queues) {
            if m < n && ot + w >= t {
                break;
            }
            remove_oldest(&mut queues, &mut m, &mut recorded, k);
        }
        if e.s.is_empty() {
            for q in &mut queues {
                q.clear();
            }
            m = 0;
            continue;
        }
        let step =
            e.s.iter()
                .map(|&k| (queues[k - 1].back().map_or(i64::MIN, |&b| b), k))
                .min()
                .unwrap()
                .1;
        let skip = matches!(attribution, Some((1, v)) if m == 0 && e.value != v);
        if !skip {
            if queues[step - 1].is_empty() {
                m += 1;
            }
            queues[step - 1].push_back(t);
        }
    }
    while let Some((_, k)) = oldest(&queues) {
        remove_oldest(&mut queues, &mut m, &mut recorded, k);
    }
    recorded
        .into_iter()
        .filter(|&(_, m)| m >= from_step)
        .map(|(period, m)| (period, m >= to_step))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// The report.

fn step_outs(n: usize, outcomes: &[&Outcome], order: Order) -> Vec<StepOut> {
    let level = |o: &Outcome| match o {
        Outcome::Level(l, _) => *l,
        _ => 0,
    };
    let counts: Vec<u64> = (1..=n)
        .map(|k| outcomes.iter().filter(|o| level(o) >= k).count() as u64)
        .collect();
    (1..=n)
        .map(|k| {
            let c = counts[k - 1];
            let first = counts[0];
            let (rate_from_first, ci95_from_first, rate_from_previous, ci95_from_previous) =
                if k == 1 {
                    let r = (first > 0).then_some(1.0);
                    (r, None, r, None)
                } else {
                    let prev = counts[k - 2];
                    (
                        (first > 0).then(|| round6(c as f64 / first as f64)),
                        (first > 0).then(|| wilson(c, first)),
                        (prev > 0).then(|| round6(c as f64 / prev as f64)),
                        (prev > 0).then(|| wilson(c, prev)),
                    )
                };
            let durations: Vec<i64> = if k == 1 {
                Vec::new()
            } else {
                outcomes
                    .iter()
                    .filter_map(|o| match o {
                        Outcome::Level(l, times) if *l >= k => {
                            // Ordered times are per step; unordered times are sorted already.
                            let _ = order;
                            Some(times[k - 1] - times[k - 2])
                        }
                        _ => None,
                    })
                    .collect()
            };
            let (average_time_s, median_time_s) = if k == 1 {
                (None, None)
            } else {
                average_median(&durations)
            };
            StepOut {
                count: c,
                rate_from_first,
                ci95_from_first,
                rate_from_previous,
                ci95_from_previous,
                dropped_off: (k >= 2).then(|| counts[k - 2] - c),
                average_time_s,
                median_time_s,
            }
        })
        .collect()
}

fn value_json(b: &Breakdown, v: &[String]) -> Value {
    if b.is_list { json!(v) } else { json!(v[0]) }
}

/// §11 over the times of the persons who reached `to_step`, in seconds.
pub(crate) fn time_to_convert(times_s: &[f64], bin_count: Option<usize>) -> TimeToConvert {
    let n = times_s.len();
    if n == 0 {
        return TimeToConvert {
            persons: 0,
            average_s: None,
            median_s: None,
            bins: Vec::new(),
        };
    }
    let c = bin_count.unwrap_or_else(|| (1..=60).find(|c| c * c * c >= n).unwrap_or(60));
    let min = times_s.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times_s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lo = min.floor();
    let hi = max.ceil();
    let mut width = ((hi - lo) / c as f64).ceil();
    if width == 0.0 {
        width = 60.0;
    }
    let mut bins: Vec<Bin> = (0..=c)
        .map(|i| Bin {
            from_s: lo + i as f64 * width,
            to_s: lo + (i + 1) as f64 * width,
            count: 0,
        })
        .collect();
    for &t in times_s {
        let i = ((t - lo) / width).floor() as usize;
        bins[i].count += 1;
    }
    let us: Vec<i64> = times_s.iter().map(|t| (t * 1e6).round() as i64).collect();
    let (average_s, median_s) = average_median(&us);
    TimeToConvert {
        persons: n as u64,
        average_s,
        median_s,
        bins,
    }
}

/// Computes the funnel for `events` (one project) under `p`.
pub(crate) fn funnel(events: &[Ev], p: &Params) -> Funnel {
    let tz = TimeZone::get(&p.timezone).unwrap();
    let cal = Cal {
        interval: p.interval,
        tz: tz.clone(),
        sunday: p.week_start_sunday,
    };
    let (lower, upper) = range(p, &tz);
    let n = p.n();
    let w = p.w_us();
    let visible: Vec<&Ev> = events.iter().filter(|e| e.ts <= p.as_of).collect();
    let persons = build_persons(&visible);
    // Per person: the smallest id, and its read events.
    let mut per_person: Vec<(String, Vec<Read>)> = Vec::new();
    for ids in &persons {
        let history: Vec<&Ev> = visible
            .iter()
            .copied()
            .filter(|e| ids.contains(&e.distinct_id))
            .collect();
        let props = fold_properties(&history);
        let reads = read_events(p, &history, &props, lower, upper);
        per_person.push((ids.iter().next().unwrap().clone(), reads));
    }
    let run_one = |evs: &[Read], attribution: Option<(usize, &[String])>| match p.order {
        Order::Ordered => run_ordered(n, w, false, evs, attribution),
        Order::Strict => run_ordered(n, w, true, evs, attribution),
        Order::Unordered => run_unordered(n, w, evs, attribution),
    };
    // Without breakdown: one run per person (also what time to convert and the persons listing use).
    let mut plain: BTreeMap<String, Outcome> = BTreeMap::new();
    for (key, reads) in &per_person {
        plain.insert(key.clone(), run_one(reads, None));
    }
    // Series.
    let series = match &p.breakdown {
        None => {
            let outs: Vec<&Outcome> = plain.values().collect();
            vec![Series {
                breakdown_value: Value::Null,
                is_other: false,
                steps: step_outs(n, &outs, p.order),
            }]
        }
        Some(b) => {
            let mut by_value: BTreeMap<Vec<String>, Vec<Outcome>> = BTreeMap::new();
            for (_, reads) in &per_person {
                for (v, evs, s) in runs(p, reads) {
                    let o = run_one(&evs, s.map(|s| (s, v.as_slice())));
                    by_value.entry(v).or_default().push(o);
                }
            }
            let mut ranked: Vec<(Vec<u64>, Vec<String>)> = by_value
                .iter()
                .map(|(v, outs)| {
                    let refs: Vec<&Outcome> = outs.iter().collect();
                    let counts: Vec<u64> = step_outs(n, &refs, p.order)
                        .iter()
                        .map(|s| s.count)
                        .collect();
                    (counts, v.clone())
                })
                .filter(|(c, _)| c[0] > 0)
                .collect();
            // count(n) desc, …, count(1) desc, then value ascending.
            ranked.sort_by(|(ca, va), (cb, vb)| {
                let ka: Vec<u64> = ca.iter().rev().copied().collect();
                let kb: Vec<u64> = cb.iter().rev().copied().collect();
                kb.cmp(&ka).then_with(|| va.cmp(vb))
            });
            let mut out = Vec::new();
            for (_, v) in ranked.iter().take(b.limit) {
                let refs: Vec<&Outcome> = by_value[v].iter().collect();
                out.push(Series {
                    breakdown_value: value_json(b, v),
                    is_other: false,
                    steps: step_outs(n, &refs, p.order),
                });
            }
            if ranked.len() > b.limit {
                let refs: Vec<&Outcome> = ranked
                    .iter()
                    .skip(b.limit)
                    .flat_map(|(_, v)| by_value[v].iter())
                    .collect();
                out.push(Series {
                    breakdown_value: Value::Null,
                    is_other: true,
                    steps: step_outs(n, &refs, p.order),
                });
            }
            out
        }
    };
    // Time to convert ignores the breakdown.
    let times_s: Vec<f64> = plain
        .values()
        .filter_map(|o| match o {
            Outcome::Level(l, times) if *l >= p.to_step => {
                Some((times[p.to_step - 1] - times[p.from_step - 1]) as f64 / 1e6)
            }
            _ => None,
        })
        .collect();
    let ttc = time_to_convert(&times_s, p.bin_count);
    // Trends.
    let mut trends = Vec::new();
    {
        let mut periods = Vec::new();
        let mut q = cal.of(lower);
        let last = cal.of(upper);
        while q <= last {
            periods.push(q);
            q = cal.next(q);
        }
        let mut by_value: BTreeMap<Vec<String>, BTreeMap<i64, (u64, u64)>> = BTreeMap::new();
        for (_, reads) in &per_person {
            let person_runs = match &p.breakdown {
                None => vec![(Vec::new(), reads.clone(), None)],
                Some(_) => runs(p, reads),
            };
            for (v, evs, s) in person_runs {
                let attribution = s.map(|s| (s, v.as_slice()));
                let entries = match p.order {
                    Order::Unordered => {
                        trend_run_unordered(n, w, p.from_step, p.to_step, &evs, attribution, &cal)
                    }
                    _ => trend_run(
                        n,
                        w,
                        p.order == Order::Strict,
                        p.from_step,
                        p.to_step,
                        &evs,
                        attribution,
                        &cal,
                    ),
                };
                let m = by_value.entry(v).or_default();
                for (period, conv) in entries {
                    let c = m.entry(period).or_default();
                    c.0 += 1;
                    c.1 += u64::from(conv);
                }
            }
        }
        let build = |m: &BTreeMap<i64, (u64, u64)>| -> Vec<TrendPeriod> {
            periods
                .iter()
                .map(|&q| {
                    let (entered, converted) = m.get(&q).copied().unwrap_or_default();
                    TrendPeriod {
                        start: cal.start_us(q),
                        entered,
                        converted,
                        conversion_rate: (entered > 0)
                            .then(|| round6(converted as f64 / entered as f64)),
                        ci95: (entered > 0).then(|| wilson(converted, entered)),
                        incomplete: (cal.start_us(cal.next(q)) - 1 + w).min(upper) > p.as_of,
                    }
                })
                .collect()
        };
        match &p.breakdown {
            None => trends.push(TrendSeries {
                breakdown_value: Value::Null,
                periods: build(by_value.get(&Vec::new()).unwrap_or(&BTreeMap::new())),
            }),
            Some(b) => {
                let mut ranked: Vec<(u64, Vec<String>)> = by_value
                    .iter()
                    .map(|(v, m)| {
                        // Entries in periods outside the range cannot happen: every read event is in it.
                        (m.values().map(|c| c.0).sum::<u64>(), v.clone())
                    })
                    .filter(|(total, _)| *total > 0)
                    .collect();
                ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                for (_, v) in ranked.iter().take(b.limit) {
                    trends.push(TrendSeries {
                        breakdown_value: value_json(b, v),
                        periods: build(&by_value[v]),
                    });
                }
            }
        }
    }
    Funnel {
        lower,
        upper,
        series,
        time_to_convert: ttc,
        trends,
        persons: plain,
    }
}

/// The level of an outcome (removed persons have none).
pub(crate) fn level(o: &Outcome) -> usize {
    match o {
        Outcome::Level(l, _) => *l,
        _ => 0,
    }
}
