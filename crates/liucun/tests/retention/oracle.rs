//! A deliberately naive retention oracle, written straight from retention.md and events.md §5.
//!
//! It shares no code with `report` or `kernels` beyond the parameter types: periods come from jiff's local calendar
//! (truncating civil dates and counting days with a hand-written day number), identity is a plain list of id sets,
//! filters are re-implemented from the operator table, and every cell is counted person by person.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::DateTime};
use report::params::{
    Entity, EventNames, Filter, Operator, Period, Personless, PropertyKind, RetentionParams,
    RetentionType, WeekStart,
};
use serde_json::{Map, Value};

/// One event as the oracle sees it.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub(crate) project: String,
    pub(crate) distinct_id: String,
    pub(crate) name: String,
    /// UTC µs.
    pub(crate) ts: i64,
    pub(crate) uuid: u128,
    pub(crate) props: Map<String, Value>,
}

/// One (project, breakdown value) block: `None` value without breakdown or for Other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) project: String,
    pub(crate) value: Option<String>,
    pub(crate) is_other: bool,
    /// `counts[k][j]`, `None` outside the window.
    pub(crate) counts: Vec<Vec<Option<u64>>>,
}

/// The spec's non-activity events (retention.md §5.4), written out again on purpose.
const NON_ACTIVITY: [&str; 8] = [
    "$set",
    "$set_once",
    "$create_alias",
    "$merge_dangerously",
    "$groupidentify",
    "payment",
    "$BindID",
    "$UnbindID",
];

/// A period, identified so that periods order and subtract naturally: hours by the UTC instant of their start,
/// days/weeks by the civil date of their first day, months by year·12 + month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct P(i64);

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

struct Cal {
    period: Period,
    tz: TimeZone,
    week_start: WeekStart,
}

impl Cal {
    /// The period holding an instant.
    fn of(&self, us: i64) -> P {
        let z = Timestamp::from_microsecond(us)
            .unwrap()
            .to_zoned_datetime(self.tz.clone());
        match self.period {
            Period::Hour => {
                let into = (i64::from(z.minute()) * 60 + i64::from(z.second())) * 1_000_000
                    + us.rem_euclid(1_000_000);
                P(us - into)
            }
            _ => self.of_date(z.date()),
        }
    }

    /// The period holding a local date (days, weeks, months only).
    fn of_date(&self, d: Date) -> P {
        let n = day_number(d);
        match self.period {
            Period::Day => P(n),
            Period::Week => {
                // 1970-01-01 was a Thursday: Monday-based weekday index = (n + 3) mod 7.
                let wd_monday = (n + 3).rem_euclid(7);
                let back = match self.week_start {
                    WeekStart::Monday => wd_monday,
                    WeekStart::Sunday => (wd_monday + 1) % 7,
                };
                P(n - back)
            }
            Period::Month => P(i64::from(d.year()) * 12 + i64::from(d.month()) - 1),
            Period::Hour => unreachable!("hours need an instant"),
        }
    }

    /// Steps between two periods.
    fn diff(&self, a: P, b: P) -> i64 {
        match self.period {
            Period::Hour => (b.0 - a.0) / 3_600_000_000,
            Period::Day | Period::Month => b.0 - a.0,
            Period::Week => (b.0 - a.0) / 7,
        }
    }

    fn add(&self, a: P, n: i64) -> P {
        match self.period {
            Period::Hour => P(a.0 + n * 3_600_000_000),
            Period::Day | Period::Month => P(a.0 + n),
            Period::Week => P(a.0 + 7 * n),
        }
    }

    /// The period holding a date string of §3.2 (absolute forms only).
    fn of_text(&self, text: &str) -> P {
        if let Ok(t) = text.parse::<Timestamp>() {
            return self.of(t.as_microsecond());
        }
        if let Ok(dt) = text.parse::<DateTime>() {
            if self.period != Period::Hour {
                return self.of_date(dt.date());
            }
            return self.of(local_instant(dt, &self.tz));
        }
        let d: Date = text.parse().expect("test date strings are valid");
        if self.period != Period::Hour {
            return self.of_date(d);
        }
        self.of(local_instant(
            d.to_datetime(jiff::civil::Time::midnight()),
            &self.tz,
        ))
    }
}

/// A wall-clock time to an instant: the earlier of an overlap, and for a gap any instant in the hour after it
/// (only the hour is used).
fn local_instant(dt: DateTime, tz: &TimeZone) -> i64 {
    let naive = dt.to_zoned_datetime(TimeZone::UTC).unwrap().timestamp();
    let naive_us = naive.as_microsecond();
    let mut hits: Vec<i64> = Vec::new();
    for probe_h in [-30i64, 0, 30] {
        let probe = naive_us + probe_h * 3_600_000_000;
        let off = Timestamp::from_microsecond(probe)
            .unwrap()
            .to_zoned_datetime(tz.clone())
            .offset()
            .seconds();
        let t = naive_us - i64::from(off) * 1_000_000;
        let back = Timestamp::from_microsecond(t)
            .unwrap()
            .to_zoned_datetime(tz.clone())
            .datetime();
        if back == dt {
            hits.push(t);
        }
    }
    if let Some(t) = hits.into_iter().min() {
        return t;
    }
    // A gap: the offset after the gap read before it lands inside the hour after the gap.
    let off = Timestamp::from_microsecond(naive_us + 30 * 3_600_000_000)
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .offset()
        .seconds();
    let before = Timestamp::from_microsecond(naive_us - 30 * 3_600_000_000)
        .unwrap()
        .to_zoned_datetime(tz.clone())
        .offset()
        .seconds();
    naive_us - i64::from(off.min(before)) * 1_000_000
}

/// Persons by naive union of id sets, with the guard of events.md §5.3.
struct Persons {
    sets: Vec<BTreeSet<String>>,
    identified: Vec<bool>,
}

impl Persons {
    fn set_of(&mut self, id: &str) -> usize {
        if let Some(i) = self.sets.iter().position(|s| s.contains(id)) {
            return i;
        }
        self.sets.push(BTreeSet::from([id.to_string()]));
        self.identified.push(false);
        self.sets.len() - 1
    }

    fn key(&mut self, id: &str) -> String {
        let i = self.set_of(id);
        self.sets[i].iter().next().unwrap().clone()
    }
}

fn build_persons(events: &[&Ev]) -> (Persons, BTreeSet<String>) {
    let mut persons = Persons {
        sets: Vec::new(),
        identified: Vec::new(),
    };
    let mut mentioned = BTreeSet::new();
    let mut merges: Vec<&Ev> = events
        .iter()
        .copied()
        .filter(|e| {
            matches!(
                e.name.as_str(),
                "$identify" | "$create_alias" | "$merge_dangerously"
            )
        })
        .collect();
    merges.sort_by_key(|e| (e.ts, e.uuid));
    for e in merges {
        let (field, guarded) = match e.name.as_str() {
            "$identify" => ("$anon_distinct_id", true),
            "$create_alias" => ("alias", true),
            _ => ("alias", false),
        };
        // The distinct id of an `$identify` or `$create_alias` is identified even when there is nothing to merge
        // (events.md §5.3.2).
        if guarded {
            let d = persons.set_of(&e.distinct_id);
            persons.identified[d] = true;
        }
        let other = match e.props.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => continue,
        };
        if other == e.distinct_id {
            continue;
        }
        mentioned.insert(e.distinct_id.clone());
        mentioned.insert(other.clone());
        let d = persons.set_of(&e.distinct_id);
        if guarded {
            persons.identified[d] = true;
        }
        let a = persons.set_of(&other);
        if a == d || (guarded && persons.identified[a]) {
            continue;
        }
        let moved = std::mem::take(&mut persons.sets[a]);
        persons.sets[d].extend(moved);
        persons.identified[d] |= persons.identified[a];
        persons.identified[a] = false;
    }
    (persons, mentioned)
}

/// Person properties: the fold of `$set`, `$set_once`, `$unset` in (timestamp, uuid) order.
fn fold_properties(
    events: &[&Ev],
    person_of: &HashMap<String, String>,
) -> HashMap<String, Map<String, Value>> {
    let mut sorted: Vec<&Ev> = events.to_vec();
    sorted.sort_by_key(|e| (e.ts, e.uuid));
    let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
    for e in sorted {
        let props = out.entry(person_of[&e.distinct_id].clone()).or_default();
        if let Some(Value::Object(set)) = e.props.get("$set") {
            for (k, v) in set {
                props.insert(k.clone(), v.clone());
            }
        }
        if let Some(Value::Object(once)) = e.props.get("$set_once") {
            for (k, v) in once {
                props.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(Value::Array(keys)) = e.props.get("$unset") {
            for k in keys {
                if let Value::String(k) = k {
                    props.remove(k);
                }
            }
        }
    }
    out
}

/// The string form of retention.md §5.2 / §15.6.
pub(crate) fn string_form(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
        Value::Number(n) => {
            let f: f64 = n.to_string().parse().unwrap();
            // Rust's `{}` for f64 is the shortest round-trip form; integral values print without ".0".
            Some(format!("{f}"))
        }
        other => Some(serde_json::to_string(other).unwrap()),
    }
}

fn numeric(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok()?,
        Value::String(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

fn filter_matches(f: &Filter, props: &Map<String, Value>) -> bool {
    let v = props.get(&f.key).filter(|v| !v.is_null());
    let values: Vec<&Value> = match &f.value {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
        None => vec![],
    };
    let eq = |v: &Value| {
        values.iter().any(|w| match (numeric(v), numeric(w)) {
            (Some(a), Some(b)) => a == b,
            _ => string_form(v) == string_form(w),
        })
    };
    let contains = |v: &Value| {
        let hay = string_form(v).unwrap().to_lowercase();
        values
            .iter()
            .filter_map(|w| string_form(w))
            .any(|n| hay.contains(&n.to_lowercase()))
    };
    match f.operator {
        Operator::Eq => v.is_some_and(eq),
        Operator::Neq => !v.is_some_and(eq),
        Operator::Contains => v.is_some_and(contains),
        Operator::NotContains => !v.is_some_and(contains),
        Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
            let (Some(a), Some(b)) = (v.and_then(numeric), values.first().and_then(|w| numeric(w)))
            else {
                return false;
            };
            match f.operator {
                Operator::Gt => a > b,
                Operator::Gte => a >= b,
                Operator::Lt => a < b,
                _ => a <= b,
            }
        }
        Operator::IsSet => v.is_some(),
        Operator::IsNotSet => v.is_none(),
        Operator::Regex => {
            let re = regex_lite(values[0].as_str().unwrap());
            v.and_then(string_form).is_some_and(|s| re(&s))
        }
    }
}

/// The few regex patterns the tests use, matched by hand so that the oracle does not lean on the engine's regex.
fn regex_lite(pattern: &str) -> Box<dyn Fn(&str) -> bool> {
    let p = pattern.to_string();
    match pattern {
        "^p" => Box::new(|s| s.starts_with('p')),
        "(?i)^p" => Box::new(|s| s.to_lowercase().starts_with('p')),
        "o$" => Box::new(|s| s.ends_with('o')),
        "[0-9]" => Box::new(|s| s.chars().any(|c| c.is_ascii_digit())),
        _ => panic!("the oracle does not know the regex {p:?}"),
    }
}

fn names_match(entity: &Entity, name: &str) -> bool {
    match &entity.event {
        EventNames::Any => !NON_ACTIVITY.contains(&name),
        EventNames::One(n) => n == name,
        EventNames::Many(v) => v.iter().any(|n| n == name),
    }
}

fn all_match(filters: &[Filter], ev: &Map<String, Value>, person: &Map<String, Value>) -> bool {
    filters.iter().all(|f| match f.kind {
        PropertyKind::Event => filter_matches(f, ev),
        PropertyKind::Person => filter_matches(f, person),
    })
}

/// The counts blocks of the report, in report order.
pub(crate) fn retention(events: &[Ev], p: &RetentionParams) -> Vec<Block> {
    let as_of = p
        .common
        .as_of
        .as_deref()
        .expect("oracle needs as_of")
        .parse::<Timestamp>()
        .unwrap()
        .as_microsecond();
    let cal = Cal {
        period: p.period,
        tz: TimeZone::get(p.common.timezone()).unwrap(),
        week_start: p.common.week_start(),
    };
    let last = cal.of_text(
        p.common
            .date_to
            .as_deref()
            .unwrap_or(p.common.as_of.as_deref().unwrap()),
    );
    let first = match &p.common.date_from {
        Some(t) => cal.of_text(t),
        None => cal.add(last, -(i64::from(p.total_intervals) - 1)),
    };
    let rows = (cal.diff(first, last) + 1) as usize;
    let cols = p.total_intervals as usize;
    let row_of = |ts: i64| -> Option<usize> {
        let k = cal.diff(first, cal.of(ts));
        let pp = cal.of(ts);
        (pp >= first && pp <= last).then_some(k as usize)
    };
    let empty = Map::new();
    let mut blocks = Vec::new();
    for project in &p.common.projects {
        let evs: Vec<&Ev> = events
            .iter()
            .filter(|e| &e.project == project && e.ts <= as_of)
            .collect();
        let (mut persons, mentioned) = build_persons(&evs);
        let person_of: HashMap<String, String> = evs
            .iter()
            .map(|e| (e.distinct_id.clone(), persons.key(&e.distinct_id)))
            .collect();
        let person_props = fold_properties(&evs, &person_of);
        // Personless persons (§5.4): every event personless and no id in a merge.
        let mut personless: BTreeMap<&str, bool> = BTreeMap::new();
        for e in &evs {
            let flag = e.props.get("$process_person_profile") == Some(&Value::Bool(false))
                && !mentioned.contains(&e.distinct_id);
            let entry = personless
                .entry(person_of[&e.distinct_id].as_str())
                .or_insert(true);
            *entry &= flag;
        }
        let counted: Vec<&Ev> = evs
            .iter()
            .copied()
            .filter(|e| {
                p.common.personless == Personless::Include
                    || !personless[person_of[&e.distinct_id].as_str()]
            })
            .collect();
        let pprops = |e: &Ev| {
            person_props
                .get(&person_of[&e.distinct_id])
                .unwrap_or(&empty)
        };
        let global = |e: &Ev| all_match(&p.common.properties, &e.props, pprops(e));
        let is_start = |e: &Ev| {
            names_match(&p.target, &e.name)
                && global(e)
                && all_match(&p.target.properties, &e.props, pprops(e))
        };
        let is_return = |e: &Ev| {
            names_match(&p.returning, &e.name)
                && global(e)
                && all_match(&p.returning.properties, &e.props, pprops(e))
        };
        let bvalue = |e: &Ev| -> String {
            let b = p.common.breakdown.as_ref().unwrap();
            let m = match b.kind {
                PropertyKind::Event => &e.props,
                PropertyKind::Person => pprops(e),
            };
            m.get(&b.property).and_then(string_form).unwrap_or_default()
        };
        // (bucket value, person) -> rows joined; return events per person.
        let mut cohorts: BTreeMap<String, Vec<Vec<u64>>> = BTreeMap::new();
        let by_person: BTreeMap<&str, Vec<&Ev>> =
            counted.iter().fold(BTreeMap::new(), |mut m, e| {
                m.entry(person_of[&e.distinct_id].as_str())
                    .or_insert_with(Vec::new)
                    .push(*e);
                m
            });
        for pevs in by_person.values() {
            // Each "actor" joins rows; returns are the events that may count for it.
            let mut joins: Vec<(String, usize, Vec<&Ev>)> = Vec::new();
            match p.retention_type {
                RetentionType::Recurring => {
                    let mut seen = BTreeSet::new();
                    for e in pevs.iter().filter(|e| is_start(e)) {
                        let Some(k) = row_of(e.ts) else { continue };
                        let v = if p.common.breakdown.is_some() {
                            bvalue(e)
                        } else {
                            String::new()
                        };
                        if !seen.insert((v.clone(), k)) {
                            continue;
                        }
                        let event_bucket = p
                            .common
                            .breakdown
                            .as_ref()
                            .is_some_and(|b| b.kind == PropertyKind::Event);
                        let rets: Vec<&Ev> = pevs
                            .iter()
                            .copied()
                            .filter(|r| is_return(r) && (!event_bucket || bvalue(r) == v))
                            .collect();
                        joins.push((v, k, rets));
                    }
                }
                RetentionType::FirstTime | RetentionType::FirstEver => {
                    let candidates = |e: &&&Ev| match p.retention_type {
                        RetentionType::FirstTime => is_start(e),
                        _ => names_match(&p.target, &e.name) && global(e),
                    };
                    let anchor = pevs
                        .iter()
                        .filter(candidates)
                        .min_by_key(|e| (e.ts, e.uuid));
                    if let Some(a) = anchor
                        && is_start(a)
                        && let Some(k) = row_of(a.ts)
                    {
                        let v = if p.common.breakdown.is_some() {
                            bvalue(a)
                        } else {
                            String::new()
                        };
                        let rets: Vec<&Ev> =
                            pevs.iter().copied().filter(|r| is_return(r)).collect();
                        joins.push((v, k, rets));
                    }
                }
            }
            for (v, k, rets) in joins {
                let m = cohorts
                    .entry(v)
                    .or_insert_with(|| vec![vec![0; cols]; rows]);
                m[k][0] += 1;
                let qualifies = |j: usize| {
                    k + j < rows
                        && rets.iter().filter(|r| row_of(r.ts) == Some(k + j)).count()
                            >= p.minimum_occurrences as usize
                };
                if p.cumulative {
                    if let Some(mx) = (1..cols).filter(|&j| qualifies(j)).max() {
                        for c in &mut m[k][1..=mx] {
                            *c += 1;
                        }
                    }
                } else {
                    for (j, c) in m[k].iter_mut().enumerate().skip(1) {
                        if qualifies(j) {
                            *c += 1;
                        }
                    }
                }
            }
        }
        let window = |m: &Vec<Vec<u64>>| -> Vec<Vec<Option<u64>>> {
            (0..rows)
                .map(|k| (0..cols).map(|j| (k + j < rows).then(|| m[k][j])).collect())
                .collect()
        };
        match &p.common.breakdown {
            None => {
                let m = cohorts
                    .remove("")
                    .unwrap_or_else(|| vec![vec![0; cols]; rows]);
                blocks.push(Block {
                    project: project.clone(),
                    value: None,
                    is_other: false,
                    counts: window(&m),
                });
            }
            Some(b) => {
                let mut ranked: Vec<(u64, String)> = cohorts
                    .iter()
                    .map(|(v, m)| (m.iter().map(|r| r[0]).sum(), v.clone()))
                    .filter(|(s, _)| *s > 0)
                    .collect();
                ranked.sort_by(|x, y| {
                    y.0.cmp(&x.0)
                        .then_with(|| x.1.as_bytes().cmp(y.1.as_bytes()))
                });
                for (_, v) in ranked.iter().take(b.limit) {
                    blocks.push(Block {
                        project: project.clone(),
                        value: Some(v.clone()),
                        is_other: false,
                        counts: window(&cohorts[v]),
                    });
                }
                if ranked.len() > b.limit {
                    let mut other = vec![vec![0; cols]; rows];
                    for (_, v) in ranked.iter().skip(b.limit) {
                        for k in 0..rows {
                            for j in 0..cols {
                                other[k][j] += cohorts[v][k][j];
                            }
                        }
                    }
                    blocks.push(Block {
                        project: project.clone(),
                        value: None,
                        is_other: true,
                        counts: window(&other),
                    });
                }
            }
        }
    }
    blocks
}
