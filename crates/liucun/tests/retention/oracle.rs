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
    RetentionType, TimeWindowMode, WeekStart,
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

/// One record of a persons import (events.md §5.5), in file order.
#[derive(Debug, Clone)]
pub(crate) struct PersonImport {
    pub(crate) project: String,
    pub(crate) distinct_ids: Vec<String>,
    pub(crate) properties: Map<String, Value>,
    /// UTC µs; `None` means the import time, which is after every `as_of` the tests use.
    pub(crate) updated_at: Option<i64>,
}

/// One (project, breakdown value) block: `None` value without breakdown or for Other.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Block {
    pub(crate) project: String,
    pub(crate) value: Option<String>,
    pub(crate) is_other: bool,
    /// `counts[k][j]`, `None` outside the window.
    pub(crate) counts: Vec<Vec<Option<u64>>>,
    /// Whether a cell can still change (retention.md §12.1), `None` outside the window.
    pub(crate) incomplete: Vec<Vec<Option<bool>>>,
    /// Rates rounded half-even to 6 decimals (§13.3), `None` outside the window or for an empty row.
    pub(crate) rates: Vec<Vec<Option<f64>>>,
    /// Wilson 95% intervals (§12.2), rounded like the rates; `None` for column 0.
    pub(crate) ci95: Vec<Vec<Option<(f64, f64)>>>,
    /// The block's mean curve (§12.3).
    pub(crate) mean: MeanCurve,
}

/// The cohort-size-weighted mean curve of one block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MeanCurve {
    pub(crate) rates: Vec<Option<f64>>,
    pub(crate) ci95: Vec<Option<(f64, f64)>>,
    pub(crate) rows_used: Vec<u64>,
    pub(crate) persons: Vec<u64>,
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

    /// The first instant of a period: its local midnight, or the first instant of its date when midnight does not
    /// exist (retention.md §3.1.2).
    fn start_us(&self, p: P) -> i64 {
        let date = match self.period {
            Period::Hour => return p.0,
            Period::Day | Period::Week => Date::new(1970, 1, 1)
                .unwrap()
                .checked_add(jiff::Span::new().days(p.0))
                .unwrap(),
            Period::Month => Date::new(
                i16::try_from(p.0.div_euclid(12)).unwrap(),
                i8::try_from(p.0.rem_euclid(12) + 1).unwrap(),
                1,
            )
            .unwrap(),
        };
        self.tz
            .to_ambiguous_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .unwrap()
            .as_microsecond()
    }

    /// The instant a period ends (the next one's start).
    fn end_us(&self, p: P) -> i64 {
        self.start_us(self.add(p, 1))
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

fn build_persons(events: &[&Ev], imports: &[&PersonImport]) -> (Persons, BTreeSet<String>) {
    let mut persons = Persons {
        sets: Vec::new(),
        identified: Vec::new(),
    };
    let mut mentioned = BTreeSet::new();
    // Persons imports first, in file order, whatever their `updated_at` (retention.md §15.1–2): every listed id is
    // merged without a guard and the person is identified. Every listed id takes part in a merge, even alone.
    for rec in imports {
        let d = persons.set_of(&rec.distinct_ids[0]);
        persons.identified[d] = true;
        for id in &rec.distinct_ids {
            mentioned.insert(id.clone());
            let d = persons.set_of(&rec.distinct_ids[0]);
            let a = persons.set_of(id);
            if a != d {
                let moved = std::mem::take(&mut persons.sets[a]);
                persons.sets[d].extend(moved);
                persons.identified[d] = true;
                persons.identified[a] = false;
            }
        }
    }
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

/// Person properties: the fold of `$set`, `$set_once`, `$unset` in (timestamp, uuid) order, with each persons
/// import record acting as a `$set` at its `updated_at` (events.md §5.4–5.5). Records with equal `updated_at` apply
/// in file order. An import and an event at the same microsecond are left unordered by the spec; the tests never
/// generate one, and the oracle applies the import first.
fn fold_properties(
    events: &[&Ev],
    imports: &[&PersonImport],
    as_of: i64,
    persons: &mut Persons,
) -> HashMap<String, Map<String, Value>> {
    enum Op<'a> {
        Import(&'a Map<String, Value>),
        Event(&'a Map<String, Value>),
    }
    let mut ops: Vec<((i64, u8, u128), String, Op<'_>)> = Vec::new();
    for (i, rec) in imports.iter().enumerate() {
        if let Some(t) = rec.updated_at.filter(|&t| t <= as_of) {
            let key = persons.key(&rec.distinct_ids[0]);
            ops.push(((t, 0, i as u128), key, Op::Import(&rec.properties)));
        }
    }
    for e in events {
        let key = persons.key(&e.distinct_id);
        ops.push(((e.ts, 1, e.uuid), key, Op::Event(&e.props)));
    }
    ops.sort_by_key(|(order, _, _)| *order);
    let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
    for (_, key, op) in ops {
        let props = out.entry(key).or_default();
        let e = match op {
            Op::Import(set) => {
                for (k, v) in set {
                    props.insert(k.clone(), v.clone());
                }
                continue;
            }
            Op::Event(e) => e,
        };
        if let Some(Value::Object(set)) = e.get("$set") {
            for (k, v) in set {
                props.insert(k.clone(), v.clone());
            }
        }
        if let Some(Value::Object(once)) = e.get("$set_once") {
            for (k, v) in once {
                props.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(Value::Array(keys)) = e.get("$unset") {
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

/// Rounds half-even to 6 decimals. Formatting works on the exact binary value, so a value that is exactly halfway
/// in decimal (such as 1/128) goes to the even neighbour.
fn round6(x: f64) -> f64 {
    format!("{x:.6}").parse().unwrap()
}

/// The Wilson 95% interval of retention.md §12.2, unrounded.
fn wilson(x: u64, n: u64) -> (f64, f64) {
    let z = 1.959964f64;
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((center - half).max(0.0), (center + half).min(1.0))
}

fn rounded_wilson(x: u64, n: u64) -> (f64, f64) {
    let (lo, hi) = wilson(x, n);
    (round6(lo), round6(hi))
}

/// Period length of a 24-hour window (retention.md §14), in µs.
fn fixed_len_us(period: Period) -> i64 {
    let h = 3_600_000_000;
    match period {
        Period::Hour => h,
        Period::Day => 24 * h,
        Period::Week => 7 * 24 * h,
        Period::Month => 30 * 24 * h,
    }
}

/// One person's entry into a row: the bucket value, the row, the anchor instant and the events that may count as
/// its returns.
struct Join<'a> {
    value: String,
    row: usize,
    t0: i64,
    returns: Vec<&'a Ev>,
}

/// The blocks of the report on events alone, in report order.
pub(crate) fn retention(events: &[Ev], p: &RetentionParams) -> Vec<Block> {
    retention_with_persons(events, &[], p)
}

/// The blocks of the report on events and a persons import, in report order.
pub(crate) fn retention_with_persons(
    events: &[Ev],
    imports: &[PersonImport],
    p: &RetentionParams,
) -> Vec<Block> {
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
    let fixed = p.time_window_mode == TimeWindowMode::Hours24;
    // Column j ≥ 1 covers these offsets from the row's start period (retention.md §14 for brackets).
    let offsets: Vec<Vec<usize>> = match &p.custom_brackets {
        None => (0..p.total_intervals as usize).map(|j| vec![j]).collect(),
        Some(b) => {
            let mut out = vec![vec![0]];
            let mut s = 0usize;
            for &len in b {
                out.push((s + 1..=s + len as usize).collect());
                s += len as usize;
            }
            out
        }
    };
    let cols = offsets.len();
    let row_of = |ts: i64| -> Option<usize> {
        let k = cal.diff(first, cal.of(ts));
        let pp = cal.of(ts);
        (pp >= first && pp <= last).then_some(k as usize)
    };
    let start_f = cal.start_us(first);
    let len = fixed_len_us(p.period);
    // Window and incompleteness of every cell, shared by all blocks.
    let in_window = |k: usize, j: usize| k + offsets[j][0] < rows;
    let plain_incomplete = |k: usize, j: usize| -> bool {
        if fixed {
            // A row takes anchors from [F + kP, F + (k+1)P) and column j returns up to P·(j+1) after them: the cell
            // is final once that span has ended (§12.1). The spec does not say whether a span that reaches past the
            // window's end, where returns are ignored, makes the cell incomplete; it does not, as for calendar
            // columns, whose periods never lie outside the window.
            let reach = start_f + (k as i64 + 1 + if j == 0 { 0 } else { j as i64 + 1 }) * len;
            return reach > as_of;
        }
        let start = cal.add(first, k as i64);
        cal.end_us(start) > as_of
            || offsets[j]
                .iter()
                .any(|&o| k + o >= rows || cal.end_us(cal.add(start, o as i64)) > as_of)
    };
    let incomplete: Vec<Vec<Option<bool>>> = (0..rows)
        .map(|k| {
            (0..cols)
                .map(|j| {
                    in_window(k, j).then(|| {
                        if p.cumulative {
                            (j..cols).any(|i| in_window(k, i) && plain_incomplete(k, i))
                        } else {
                            plain_incomplete(k, j)
                        }
                    })
                })
                .collect()
        })
        .collect();
    let empty = Map::new();
    let mut blocks = Vec::new();
    for project in &p.common.projects {
        let evs: Vec<&Ev> = events
            .iter()
            .filter(|e| &e.project == project && e.ts <= as_of)
            .collect();
        let imports: Vec<&PersonImport> =
            imports.iter().filter(|r| &r.project == project).collect();
        let (mut persons, mentioned) = build_persons(&evs, &imports);
        let person_of: HashMap<String, String> = evs
            .iter()
            .map(|e| (e.distinct_id.clone(), persons.key(&e.distinct_id)))
            .collect();
        let person_props = fold_properties(&evs, &imports, as_of, &mut persons);
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
            let Some(b) = p.common.breakdown.as_ref() else {
                return String::new();
            };
            let m = match b.kind {
                PropertyKind::Event => &e.props,
                PropertyKind::Person => pprops(e),
            };
            m.get(&b.property).and_then(string_form).unwrap_or_default()
        };
        let event_bucket = p
            .common
            .breakdown
            .as_ref()
            .is_some_and(|b| b.kind == PropertyKind::Event);
        let mut cohorts: BTreeMap<String, Vec<Vec<u64>>> = BTreeMap::new();
        let by_person: BTreeMap<&str, Vec<&Ev>> =
            counted.iter().fold(BTreeMap::new(), |mut m, e| {
                m.entry(person_of[&e.distinct_id].as_str())
                    .or_insert_with(Vec::new)
                    .push(*e);
                m
            });
        for pevs in by_person.values() {
            let mut pevs = pevs.clone();
            pevs.sort_by_key(|e| (e.ts, e.uuid));
            let mut joins: Vec<Join<'_>> = Vec::new();
            match p.retention_type {
                RetentionType::Recurring => {
                    let mut seen = BTreeSet::new();
                    for e in pevs.iter().filter(|e| is_start(e)) {
                        let Some(k) = row_of(e.ts) else { continue };
                        let v = bvalue(e);
                        // In 24-hour mode a person has one anchor: the first start event in the window.
                        let key = if fixed {
                            (String::new(), 0)
                        } else {
                            (v.clone(), k)
                        };
                        if !seen.insert(key) {
                            continue;
                        }
                        let returns: Vec<&Ev> = pevs
                            .iter()
                            .copied()
                            .filter(|r| is_return(r) && (!event_bucket || bvalue(r) == v))
                            .collect();
                        joins.push(Join {
                            value: v,
                            row: k,
                            t0: e.ts,
                            returns,
                        });
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
                        let returns: Vec<&Ev> =
                            pevs.iter().copied().filter(|r| is_return(r)).collect();
                        joins.push(Join {
                            value: bvalue(a),
                            row: k,
                            t0: a.ts,
                            returns,
                        });
                    }
                }
            }
            for join in joins {
                let Join {
                    value,
                    mut row,
                    t0,
                    returns,
                } = join;
                if fixed {
                    row = usize::try_from((t0 - start_f) / len).unwrap();
                    if row >= rows {
                        continue;
                    }
                }
                let k = row;
                let m = cohorts
                    .entry(value)
                    .or_insert_with(|| vec![vec![0; cols]; rows]);
                m[k][0] += 1;
                let period_qualifies = |o: usize| {
                    k + o < rows
                        && returns
                            .iter()
                            .filter(|r| {
                                if fixed {
                                    row_of(r.ts).is_some()
                                        && r.ts >= t0
                                        && usize::try_from((r.ts - t0) / len).unwrap() == o
                                } else {
                                    row_of(r.ts) == Some(k + o)
                                }
                            })
                            .count()
                            >= p.minimum_occurrences as usize
                };
                let qualifies = |j: usize| offsets[j].iter().any(|&o| period_qualifies(o));
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
        let block = |value: Option<String>, is_other: bool, m: &Vec<Vec<u64>>| {
            finish(project, value, is_other, m, &incomplete)
        };
        match &p.common.breakdown {
            None => {
                let m = cohorts
                    .remove("")
                    .unwrap_or_else(|| vec![vec![0; cols]; rows]);
                blocks.push(block(None, false, &m));
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
                    blocks.push(block(Some(v.clone()), false, &cohorts[v]));
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
                    blocks.push(block(None, true, &other));
                }
            }
        }
    }
    blocks
}

/// Cells, rates, intervals and the mean curve of one block from its raw counts.
fn finish(
    project: &str,
    value: Option<String>,
    is_other: bool,
    m: &[Vec<u64>],
    incomplete: &[Vec<Option<bool>>],
) -> Block {
    let counts: Vec<Vec<Option<u64>>> = m
        .iter()
        .zip(incomplete)
        .map(|(row, inc)| row.iter().zip(inc).map(|(c, i)| i.map(|_| *c)).collect())
        .collect();
    let rates = counts
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, c)| match (c, row[0]) {
                    (Some(_), Some(0)) | (None, _) => None,
                    (Some(_), _) if j == 0 => Some(1.0),
                    (Some(x), Some(n)) => Some(round6(*x as f64 / n as f64)),
                    (Some(_), None) => unreachable!("column 0 is always in the window"),
                })
                .collect()
        })
        .collect();
    let ci95 = counts
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, c)| match (c, row[0]) {
                    (Some(x), Some(n)) if j > 0 && n > 0 => Some(rounded_wilson(*x, n)),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let cols = m.first().map_or(0, Vec::len);
    let mut mean = MeanCurve {
        rates: Vec::new(),
        ci95: Vec::new(),
        rows_used: Vec::new(),
        persons: Vec::new(),
    };
    for j in 0..cols {
        let used: Vec<usize> = (0..m.len())
            .filter(|&k| incomplete[k][j] == Some(false) && m[k][0] > 0)
            .collect();
        let x: u64 = used.iter().map(|&k| m[k][j]).sum();
        let n: u64 = used.iter().map(|&k| m[k][0]).sum();
        mean.rows_used.push(used.len() as u64);
        mean.persons.push(n);
        if n == 0 {
            mean.rates.push(None);
            mean.ci95.push(None);
        } else if j == 0 {
            mean.rates.push(Some(1.0));
            mean.ci95.push(None);
        } else {
            mean.rates.push(Some(round6(x as f64 / n as f64)));
            mean.ci95.push(Some(rounded_wilson(x, n)));
        }
    }
    Block {
        project: project.to_string(),
        value,
        is_other,
        counts,
        incomplete: incomplete.to_vec(),
        rates,
        ci95,
        mean,
    }
}
