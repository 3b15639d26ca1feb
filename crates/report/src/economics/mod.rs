//! The unit-economics report (economics.md): for each cohort of persons and each age, what serving them cost in
//! inference, what they paid, the gross profit and margin, LTV to date, CAC and payback, with the unattributed line
//! and totals that reconcile with the events.
//!
//! Money is exact ([`money`]): payments in minor units and costs in nano-units become pico-units of the report
//! currency through dated rates, sums are i128, and only ratios and intervals use floats.

mod cost;
mod given;
pub mod money;
pub mod params;
mod render;

use std::collections::{BTreeMap, BinaryHeap};

use jiff::tz::TimeZone;

use kernels::grid::Locate;
use serde_json::{Map, Value};

use self::money::{PICO, Rates, minor_to_pico, parse_decimal, utc_day};
use self::params::{EconomicsParams, FeeTreatment};
use crate::breakdown::{self, Ranked, Values};
use crate::error::{Error, Result};
use crate::filter::{self, Compiled};
use crate::kind::{Limits, ReportKind};
use crate::params::{Filter, PropertyKind};
use crate::table::{EventTable, Scan};
use crate::window::{self, Window};

pub use self::cost::{Coster, Tables};
pub use self::given::Given;
pub use self::render::EconomicsReport;

/// The economics report kind.
#[derive(Debug, Clone, Copy)]
pub struct Economics;

/// A resolved economics request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parameters with defaults resolved.
    pub params: EconomicsParams,
    /// The query time zone.
    pub tz: TimeZone,
    /// Cohort periods F..=L; ages run past L only up to the window's end.
    pub window: Window,
    /// The moment the report describes, UTC µs.
    pub as_of: i64,
}

impl ReportKind for Economics {
    type Fields = params::Fields;
    type Plan = Plan;
    type Output = EconomicsReport;

    fn plan(mut params: EconomicsParams, now_us: i64, limits: &Limits) -> Result<Plan> {
        params.validate()?;
        let r = params.common.resolve(now_us)?;
        let date_to = r.date_to.unwrap_or(r.as_of);
        let window = window::resolve_window(
            params.period,
            &r.tz,
            params.common.week_start(),
            params.total_intervals,
            r.date_from,
            date_to,
        )?;
        limits.check_cells(
            "date_from",
            window.grid.len() as u64
                * u64::from(params.total_intervals)
                * params.common.projects.len() as u64
                * 32,
        )?;
        Ok(Plan {
            params,
            tz: r.tz,
            window,
            as_of: r.as_of,
        })
    }

    fn params(plan: &Plan) -> &EconomicsParams {
        &plan.params
    }

    fn scan(plan: &Plan) -> Scan {
        let p = &plan.params;
        let person = p
            .common
            .all_global_filters()
            .chain(&p.target.properties)
            .any(|f| f.kind == PropertyKind::Person)
            || p.common.breakdown.as_ref().map(|b| b.kind) == Some(PropertyKind::Person);
        // AI events' costs come with the table (derived once per segment and price tables); properties are read
        // only for event filters and an event breakdown, and only their keys.
        let filters = || p.common.all_global_filters().chain(&p.target.properties);
        let event_breakdown = p
            .common
            .breakdown
            .as_ref()
            .filter(|b| b.kind == PropertyKind::Event);
        let mut keys: Vec<String> = filters()
            .filter(|f| f.kind == PropertyKind::Event)
            .map(|f| f.key.clone())
            .chain(event_breakdown.map(|b| b.property.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        // Without event filters, only events that bear money read their breakdown value: AI events, payments and
        // events with a per-event cost.
        let event_filters = filters().any(|f| f.kind == PropertyKind::Event);
        let money_events = (!event_filters).then(|| {
            let mut names: Vec<String> = AI_EVENTS
                .iter()
                .map(|n| (*n).to_string())
                .chain(["payment".to_string()])
                .chain(p.other_costs.per_event.keys().cloned())
                .collect();
            names.sort();
            names.dedup();
            names
        });
        Scan {
            // First-time anchors search all history.
            from: None,
            to: plan.window.end.min(plan.as_of.saturating_add(1)),
            as_of: plan.as_of,
            uuid: false,
            event_properties: !keys.is_empty(),
            property_keys: Some(keys),
            property_events: money_events,
            person_properties: person,
            numeric: Vec::new(),
            created_at: false,
            person_ids: false,
            payments: true,
            events: None,
            personless: p.common.personless,
            hour_grain: false,
            periods: None,
            costs: Some(crate::table::CostScan {
                prices: p.prices.clone(),
            }),
        }
    }

    fn event_names(plan: &Plan) -> Vec<String> {
        crate::kind::entity_names([&plan.params.target])
    }

    fn run(plan: &Plan, tables: &[&EventTable], limits: &Limits) -> Result<EconomicsReport> {
        let price_tables = cost::Tables::load(&plan.params.prices)?;
        let coster = price_tables.coster();
        let rates = Rates::new(&plan.params.fx_rates);
        let mut projects = Vec::new();
        for t in tables {
            limits.check_time()?;
            let decided = Decided::of_table(plan, t)?;
            projects.push(project(plan, t, decided, &price_tables, &rates, limits)?);
        }
        render::build(plan, tables, projects, &coster, &rates)
    }
}

/// An economics report from inputs another engine decided ([`Given`]), one per project in the order of `tables`,
/// which carry each project's provenance: the same money procedures the embedded engine runs over its own tables.
///
/// # Errors
/// [`Error::Invalid`] for price tables that do not load, [`Error::TooLarge`] past the cell limit,
/// [`Error::TimedOut`] past the deadline.
pub fn from_given(
    plan: &Plan,
    tables: &[&EventTable],
    given: Vec<Given>,
    limits: &Limits,
) -> Result<EconomicsReport> {
    let price_tables = cost::Tables::load(&plan.params.prices)?;
    let coster = price_tables.coster();
    let rates = Rates::new(&plan.params.fx_rates);
    let mut projects = Vec::new();
    for (t, g) in tables.iter().zip(given) {
        limits.check_time()?;
        let (table, decided) = g.into_table((*t).clone());
        projects.push(project(
            plan,
            &table,
            decided,
            &price_tables,
            &rates,
            limits,
        )?);
    }
    render::build(plan, tables, projects, &coster, &rates)
}

/// What a report decides about persons and events before any money moves (economics.md §2, §8, §9.9): each
/// person's anchor, which events make their person active, which bear money, and the breakdown values. The embedded
/// engine decides it from its table; another engine hands it over ([`Given`]).
#[derive(Debug)]
pub(crate) struct Decided {
    /// Per person, the time of the first target event passing the target and global filters, over all history up
    /// to `as_of` (`i64::MAX`: none).
    anchor: Vec<i64>,
    /// Rows another engine decided, one per event: `true` for an event that may bear money (and makes no one active),
    /// `false` for a mark that its person did an activity event passing the global filters in that period (and bears
    /// no money). `None`: every event is decided from the table.
    marks: Option<Vec<bool>>,
    /// The breakdown values.
    values: Values,
}

impl Decided {
    /// Decides from the embedded engine's table.
    fn of_table(plan: &Plan, t: &EventTable) -> Result<Decided> {
        let p = &plan.params;
        let c = &p.common;
        let empty = Map::new();
        let global = compile("properties", &c.global_filters(&t.project))?;
        let target = compile("target.properties", &p.target.properties)?;
        let target_name = crate::retention::name_mask(&t.names, &p.target, c, &t.project);
        // Anchors: the time of each person's first target event (names, target and global filters), over all
        // history. Only the time places the cohort, so simultaneous first events need no tie-break.
        let mut anchor = vec![i64::MAX; t.n_persons];
        for i in 0..t.ts.len() {
            if t.ts[i] > plan.as_of
                || !target_name[t.name[i] as usize]
                || !passes(&target, t, i, &empty)
                || !passes(&global, t, i, &empty)
            {
                continue;
            }
            let a = &mut anchor[t.person[i] as usize];
            *a = (*a).min(t.ts[i]);
        }
        Ok(Decided {
            anchor,
            marks: None,
            values: Values::of(c.breakdown.as_ref(), t),
        })
    }
}

/// The money fields of a cell, an unattributed period or the totals, in pico-units of the report currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Money {
    /// Σ (amount − tax) of `new`, `renewal`, `one_time` and `usage` payments.
    pub gross_revenue: i128,
    /// Σ (amount − tax) of refunds and chargebacks.
    pub refunds: i128,
    /// Σ fee when fees are a cost of revenue.
    pub fees: i128,
    /// Σ fee whatever the treatment.
    pub fees_paid: i128,
    /// Σ cost of AI events.
    pub inference_cost: i128,
    /// Other variable costs.
    pub other_variable_cost: i128,
}

impl Money {
    /// gross − refunds, less fees when they are contra-revenue.
    pub fn net_revenue(&self, t: FeeTreatment) -> i128 {
        let contra = match t {
            FeeTreatment::ContraRevenue => self.fees_paid,
            FeeTreatment::Cogs => 0,
        };
        self.gross_revenue - self.refunds - contra
    }

    /// Net revenue − inference cost − fees − other costs.
    pub fn gross_profit(&self, t: FeeTreatment) -> i128 {
        self.net_revenue(t) - self.inference_cost - self.fees - self.other_variable_cost
    }

    fn add(&mut self, o: &Money) {
        self.gross_revenue += o.gross_revenue;
        self.refunds += o.refunds;
        self.fees += o.fees;
        self.fees_paid += o.fees_paid;
        self.inference_cost += o.inference_cost;
        self.other_variable_cost += o.other_variable_cost;
    }
}

/// A per-user mean with its interval (economics.md §2.2, §9.10), from per-person amounts.
#[derive(Debug, Clone, Default)]
pub struct MeanAcc {
    /// Persons (U₀, counting those with 0).
    pub n: u64,
    /// Σ amounts, pico.
    pub sum: i128,
    /// Σ squares of amounts in nano-units, exact (saturating), so the sum does not depend on the order persons are
    /// added in: two engines numbering persons differently give the same interval.
    sum_sq_nano: u128,
    /// Persons with a non-zero amount.
    nonzero: u64,
    /// The ⌈n/100⌉ largest non-zero amounts (a min-heap), pico; zeros are counted in `n` only.
    top: BinaryHeap<std::cmp::Reverse<i128>>,
    top_k: usize,
}

impl MeanAcc {
    fn new(n: u64) -> MeanAcc {
        MeanAcc {
            n: 0,
            sum: 0,
            sum_sq_nano: 0,
            nonzero: 0,
            top: BinaryHeap::new(),
            top_k: (n as usize).div_ceil(100).max(1),
        }
    }

    fn add(&mut self, v: i128) {
        self.n += 1;
        if v == 0 {
            return;
        }
        self.sum += v;
        self.nonzero += 1;
        let nano = (v / 1000).unsigned_abs();
        self.sum_sq_nano = self.sum_sq_nano.saturating_add(nano.saturating_mul(nano));
        self.top.push(std::cmp::Reverse(v));
        if self.top.len() > self.top_k {
            self.top.pop();
        }
    }

    /// Σ of the ⌈n/100⌉ largest amounts, zeros included.
    fn top_sum(&self) -> i128 {
        let mut desc: Vec<i128> = self.top.iter().map(|r| r.0).collect();
        desc.sort_unstable_by(|a, b| b.cmp(a));
        let zeros = self.n - self.nonzero;
        let positive: Vec<i128> = desc.iter().copied().filter(|&v| v > 0).collect();
        let k = self.top_k.min(self.n as usize);
        let mut sum: i128 = positive.iter().take(k).sum();
        // After the positives come the zeros, then the negatives.
        let rest = k.saturating_sub(positive.len());
        let rest = rest.saturating_sub(usize::try_from(zeros).unwrap_or(usize::MAX));
        sum += desc.iter().filter(|&&v| v < 0).take(rest).sum::<i128>();
        sum
    }

    /// (mean pico, interval in major units, heavy tail).
    pub fn stats(&self) -> (Option<i128>, Option<(f64, f64)>, Option<bool>) {
        if self.n == 0 {
            return (None, None, None);
        }
        let n = self.n as i128;
        let mean = money::div_half_even(self.sum, n);
        if self.n < 2 {
            return (Some(mean), None, None);
        }
        let m = self.sum as f64 / PICO as f64 / self.n as f64;
        if self.sum_sq_nano == u128::MAX {
            // Amounts too large to square exactly: no interval rather than a wrong one.
            return (Some(mean), None, None);
        }
        let sum_sq = self.sum_sq_nano as f64 / 1e18;
        let var = ((sum_sq - self.n as f64 * m * m) / (self.n as f64 - 1.0)).max(0.0);
        let half = 1.96 * var.sqrt() / (self.n as f64).sqrt();
        let heavy = self.sum > 0 && 2 * self.top_sum() > self.sum;
        (Some(mean), Some((m - half, m + half)), Some(heavy))
    }
}

/// One cohort cell (c, k).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Money of the age.
    pub money: Money,
    /// Aₖ.
    pub active: u64,
    /// Pₖ.
    pub paying: u64,
    /// Persons who paid at some age ≤ k.
    pub ever_paid: u64,
    /// AI events of the age without a price.
    pub unpriced: u64,
    /// Per acquired user: net revenue, inference cost, gross profit, gross profit to date, net revenue to date.
    pub revenue: MeanAcc,
    /// Inference cost per person.
    pub cost: MeanAcc,
    /// Gross profit per person.
    pub profit: MeanAcc,
    /// Gross profit to date per person.
    pub ltv: MeanAcc,
    /// Net revenue to date per person.
    pub ltv_revenue: MeanAcc,
}

/// One window period of the unattributed line.
#[derive(Debug, Clone, Default)]
pub struct Unattributed {
    /// Its money.
    pub money: Money,
    /// Distinct persons with money in it.
    pub persons: u64,
    /// Events with money in it.
    pub events: u64,
}

/// Amounts that had no rate into the report currency, in their own currency (pico).
#[derive(Debug, Clone, Default)]
pub struct Unconverted {
    /// Events.
    pub events: u64,
    /// As in [`Money`].
    pub gross_revenue: i128,
    /// As in [`Money`].
    pub refunds: i128,
    /// As in [`Money`].
    pub fees_paid: i128,
    /// As in [`Money`].
    pub inference_cost: i128,
}

/// How the report's AI events were costed.
#[derive(Debug, Clone, Default)]
pub struct Costing {
    /// AI events by cost source.
    pub by_source: BTreeMap<String, u64>,
    /// Price versions used: events and cost (pico of the report currency).
    pub versions: BTreeMap<String, (u64, i128)>,
    /// Unpriced events by model string and reason.
    pub unpriced: BTreeMap<(String, String), u64>,
    /// Events with some bucket unpriced.
    pub partially_priced: u64,
}

/// The cohorts of one breakdown value (or of every person, without a breakdown).
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// The value; `None` without a breakdown and for Other.
    pub value: Option<String>,
    /// The values past the breakdown's limit, folded.
    pub is_other: bool,
    /// U₀ per cohort period: the value's persons (a person breakdown), else every cohort person.
    pub users: Vec<u64>,
    /// Cells per cohort and age; `None` past the window's end.
    pub cells: Vec<Vec<Option<Cell>>>,
}

/// One project's cohorts.
#[derive(Debug, Clone, Default)]
pub struct ProjectEconomics {
    /// The project.
    pub project: String,
    /// U₀ per cohort period, every cohort person.
    pub users: Vec<u64>,
    /// One group per kept breakdown value then Other; one group without a breakdown.
    pub groups: Vec<Group>,
    /// Per window period.
    pub unattributed: Vec<Unattributed>,
    /// Over the window.
    pub totals: Money,
    /// Per currency without a rate.
    pub unconverted: BTreeMap<String, Unconverted>,
    /// AI costing.
    pub costing: Costing,
}

fn compile(field: &str, list: &[Filter]) -> Result<Vec<Compiled>> {
    list.iter()
        .map(|f| filter::compile(f).map_err(|m| Error::invalid(field, m)))
        .collect()
}

fn passes(filters: &[Compiled], t: &EventTable, i: usize, empty: &Map<String, Value>) -> bool {
    filters.iter().all(|f| match f.kind {
        PropertyKind::Event => f.matches(t.properties.get(i).unwrap_or(empty)),
        PropertyKind::Person => f.matches(
            t.person_properties
                .get(t.person[i] as usize)
                .unwrap_or(empty),
        ),
    })
}

/// The money of one event, converted, or where it could not be.
enum EventMoney {
    None,
    /// Money, whether it is a payment with positive net revenue, whether it is an unpriced AI event.
    Converted(Money, bool, bool),
    Unconverted(String, Unconverted),
}

const AI_EVENTS: [&str; 2] = ["$ai_generation", "$ai_embedding"];

/// Whether events named `name` are AI events, which economics costs (economics.md §3).
pub fn is_ai_event(name: &str) -> bool {
    AI_EVENTS.contains(&name)
}

/// The names of AI events, sorted.
pub fn ai_event_names() -> Vec<String> {
    let mut names: Vec<String> = AI_EVENTS.iter().map(|n| (*n).to_string()).collect();
    names.sort();
    names
}

// Cohort, age and person indexes address several parallel arrays at once.
#[allow(clippy::needless_range_loop)]
fn project(
    plan: &Plan,
    t: &EventTable,
    decided: Decided,
    price_tables: &cost::Tables,
    rates: &Rates,
    limits: &Limits,
) -> Result<ProjectEconomics> {
    let p = &plan.params;
    let c = &p.common;
    let empty = Map::new();
    let global = compile("properties", &c.global_filters(&t.project))?;
    let activity: Vec<bool> = t
        .names
        .iter()
        .map(|n| !c.is_non_activity(&t.project, n))
        .collect();
    let is_ai: Vec<bool> = t
        .names
        .iter()
        .map(|n| AI_EVENTS.contains(&n.as_str()))
        .collect();
    let per_event: Vec<i128> = t
        .names
        .iter()
        .map(|n| {
            p.other_costs
                .per_event
                .get(n)
                .and_then(|v| parse_decimal(v))
                .and_then(|d| d.to_pico())
                .unwrap_or(0)
        })
        .collect();
    let per_active = p
        .other_costs
        .per_active_user
        .as_deref()
        .and_then(parse_decimal)
        .and_then(|d| d.to_pico())
        .unwrap_or(0);
    let grid = &plan.window.grid;
    let n_periods = grid.len();
    let ages = p.total_intervals as usize;
    // The engine derives the costs with the table; a table without them is costed from its properties.
    let derived;
    let costs = if t.costs.len() == t.ts.len() {
        &t.costs
    } else {
        derived = price_tables.cost_events((0..t.ts.len()).map(|i| {
            is_ai[t.name[i] as usize].then(|| (t.ts[i], t.properties.get(i).unwrap_or(&empty)))
        }));
        &derived
    };

    let Decided {
        anchor,
        marks,
        mut values,
    } = decided;
    let counts_money = |i: usize| marks.as_ref().is_none_or(|m| m[i]);
    let is_active = |i: usize| match &marks {
        Some(m) => !m[i],
        None => activity[t.name[i] as usize] && passes(&global, t, i, &empty),
    };
    let cohort: Vec<Option<usize>> = anchor
        .iter()
        .map(|&a| match a {
            i64::MAX => None,
            a => match grid.locate(a) {
                Locate::In(k) => Some(k as usize),
                _ => None,
            },
        })
        .collect();
    let mut users = vec![0u64; n_periods];
    for k in cohort.iter().flatten() {
        users[*k] += 1;
    }
    // Breakdown groups (economics.md §8): a person property splits the cohorts, an event property splits the money.
    let mode = c.breakdown.as_ref().map(|b| b.kind);
    // Per event, its window period (`u32::MAX` after `as_of` or outside the window) and name, in one pass over the
    // columns: the per-person walk below then reads one small entry per event instead of several columns.
    let packed: Vec<(u32, u32)> =
        t.ts.iter()
            .zip(&t.name)
            .map(|(&ts, &name)| {
                let period = match grid.locate(ts) {
                    Locate::In(k) if ts <= plan.as_of => k,
                    _ => u32::MAX,
                };
                (period, name)
            })
            .collect();
    // Names whose events carry a payment: only their events' payments are looked up.
    let mut pays = vec![false; t.names.len()];
    for (k, &name) in t.name.iter().enumerate() {
        if t.payments
            .get(k)
            .is_some_and(|&p| p != EventTable::NO_PAYMENT)
        {
            pays[name as usize] = true;
        }
    }
    let bears_money = |i: usize| {
        let name = t.name[i] as usize;
        counts_money(i)
            && ((pays[name] && t.payment(i).is_some()) || is_ai[name] || per_event[name] != 0)
    };
    // An event's window period and, when it lands in a cohort cell, its age (its person's cohort, an age the
    // report shows); `None` after `as_of` or outside the window.
    let period_age_of = |i: usize, person: usize| -> Option<(usize, Option<usize>)> {
        let period = packed[i].0;
        if period == u32::MAX {
            return None;
        }
        let period = period as usize;
        let age = cohort[person]
            .and_then(|h| period.checked_sub(h))
            .filter(|&a| a < ages);
        Some((period, age))
    };
    let period_age = |i: usize| period_age_of(i, t.person[i] as usize);
    // Per-active-user costs belong to no event: under an event breakdown they go to the empty value.
    let mut empty_value = None;
    let ranked = match &c.breakdown {
        None => Ranked {
            groups: vec![(None, false)],
            group_of: vec![0],
        },
        Some(b) => {
            let mut score = vec![0u64; values.values.len()];
            match b.kind {
                PropertyKind::Person => {
                    for (person, h) in cohort.iter().enumerate() {
                        if h.is_some() {
                            score[values.person[person] as usize] += 1;
                        }
                    }
                }
                PropertyKind::Event => {
                    for i in 0..t.ts.len() {
                        // Ranked on what the cells show, as retention ranks on its triangle.
                        if bears_money(i) && matches!(period_age(i), Some((_, Some(_)))) {
                            score[values.event[i] as usize] += 1;
                        }
                    }
                    if per_active != 0 && users.iter().any(|&u| u > 0) {
                        let v = match values.values.iter().position(String::is_empty) {
                            Some(v) => v,
                            None => {
                                values.values.push(String::new());
                                score.push(0);
                                values.values.len() - 1
                            }
                        };
                        score[v] += 1;
                        empty_value = Some(v);
                    }
                }
            }
            breakdown::rank(&values.values, &score, b.limit)
        }
    };
    let n_groups = ranked.groups.len();
    limits.check_cells("breakdown", (n_groups * n_periods * ages) as u64 * 32)?;
    let person_group = |person: usize| -> usize {
        match mode {
            Some(PropertyKind::Person) => ranked.group_of[values.person[person] as usize] as usize,
            _ => 0,
        }
    };
    let event_group = |i: usize, person_group: usize| -> usize {
        match mode {
            Some(PropertyKind::Event) => ranked.group_of[values.event[i] as usize] as usize,
            _ => person_group,
        }
    };
    let active_cost_group = empty_value.map(|v| ranked.group_of[v] as usize);
    let mut groups: Vec<Group> = ranked
        .groups
        .iter()
        .map(|(value, is_other)| Group {
            value: value.clone(),
            is_other: *is_other,
            users: match mode {
                Some(PropertyKind::Person) => vec![0; n_periods],
                _ => users.clone(),
            },
            cells: Vec::new(),
        })
        .collect();
    if mode == Some(PropertyKind::Person) {
        for (person, h) in cohort.iter().enumerate() {
            if let Some(h) = h {
                groups[person_group(person)].users[*h] += 1;
            }
        }
    }
    for g in &mut groups {
        g.cells = (0..n_periods)
            .map(|ci| {
                (0..ages)
                    .map(|k| {
                        (ci + k < n_periods).then(|| Cell {
                            revenue: MeanAcc::new(g.users[ci]),
                            cost: MeanAcc::new(g.users[ci]),
                            profit: MeanAcc::new(g.users[ci]),
                            ltv: MeanAcc::new(g.users[ci]),
                            ltv_revenue: MeanAcc::new(g.users[ci]),
                            ..Cell::default()
                        })
                    })
                    .collect()
            })
            .collect();
    }
    let mut unattributed = vec![Unattributed::default(); n_periods];
    let mut totals = Money::default();
    let mut unconverted: BTreeMap<String, Unconverted> = BTreeMap::new();
    let mut costing = Costing::default();
    let report_currency = p.currency.as_str();

    // Per cost key, decided once rather than per event: whether it is unpriced, whether its currency is the
    // report's; and its tally (events, events converted, converted sum), folded into `costing` at the end.
    let key_unpriced: Vec<bool> = costs.keys.iter().map(|k| k.source == "unpriced").collect();
    let key_same_currency: Vec<bool> = costs
        .keys
        .iter()
        .map(|k| k.currency == report_currency)
        .collect();
    let mut tally = vec![(0u64, 0u64, 0i128); costs.keys.len()];
    let money_of = |i: usize, tally: &mut [(u64, u64, i128)]| -> EventMoney {
        let name = packed[i].1 as usize;
        let day = || utc_day(t.ts[i]);
        if pays[name]
            && let Some(pay) = t.payment(i)
        {
            let day = day();
            let Some(exp) = model::currency_exponent(&pay.currency) else {
                return EventMoney::None;
            };
            let net = minor_to_pico(pay.amount_minor - pay.tax_minor, exp);
            let fee = minor_to_pico(pay.fee_minor, exp);
            let refund = matches!(pay.kind.as_str(), "refund" | "chargeback");
            let conv = |v: i128| rates.convert(v, &pay.currency, report_currency, day);
            return match (conv(net), conv(fee)) {
                (Some(net), Some(fee)) => {
                    let mut m = Money {
                        fees_paid: fee,
                        fees: if p.fee_treatment == FeeTreatment::Cogs {
                            fee
                        } else {
                            0
                        },
                        ..Money::default()
                    };
                    if refund {
                        m.refunds = net;
                    } else {
                        m.gross_revenue = net;
                    }
                    m.other_variable_cost = per_event[t.name[i] as usize];
                    EventMoney::Converted(m, !refund && net > 0, false)
                }
                _ => {
                    let mut u = Unconverted {
                        events: 1,
                        fees_paid: fee,
                        ..Unconverted::default()
                    };
                    if refund {
                        u.refunds = net;
                    } else {
                        u.gross_revenue = net;
                    }
                    EventMoney::Unconverted(pay.currency.clone(), u)
                }
            };
        }
        let other = per_event[name];
        if is_ai[name]
            && let Some((cost, nano)) = costs.get(i)
        {
            let k = costs.key[i] as usize;
            tally[k].0 += 1;
            if key_unpriced[k] {
                return EventMoney::Converted(
                    Money {
                        other_variable_cost: other,
                        ..Money::default()
                    },
                    false,
                    true,
                );
            };
            let pico = nano.saturating_mul(1000);
            let converted = if key_same_currency[k] {
                Some(pico)
            } else {
                rates.convert(pico, &cost.currency, report_currency, day())
            };
            return match converted {
                Some(v) => {
                    tally[k].1 += 1;
                    tally[k].2 += v;
                    EventMoney::Converted(
                        Money {
                            inference_cost: v,
                            other_variable_cost: other,
                            ..Money::default()
                        },
                        false,
                        false,
                    )
                }
                None => EventMoney::Unconverted(
                    cost.currency.clone(),
                    Unconverted {
                        events: 1,
                        inference_cost: pico,
                        ..Unconverted::default()
                    },
                ),
            };
        }
        if other != 0 {
            return EventMoney::Converted(
                Money {
                    other_variable_cost: other,
                    ..Money::default()
                },
                false,
                false,
            );
        }
        EventMoney::None
    };

    let by = t.by_person();
    // Per person: money and unpriced AI events per group and age; paid and active per age; money per age over
    // every group.
    let slots = n_groups.max(1) * ages;
    let mut age_money = vec![Money::default(); slots];
    let mut age_unpriced = vec![0u64; slots];
    let mut is_touched = vec![false; n_groups.max(1)];
    let mut touched_groups: Vec<usize> = Vec::new();
    let mut age_paid = vec![false; ages];
    let mut age_active = vec![false; ages];
    let mut whole = vec![Money::default(); ages];
    // Active, paying and ever-paid persons per cohort and age, for every group but a person breakdown's.
    let mut counts = vec![vec![(0u64, 0u64, 0u64); ages]; n_periods];
    let mut touched: Vec<usize> = Vec::new();
    for person in 0..t.n_persons {
        let home = cohort[person];
        for &g in &touched_groups {
            age_money[g * ages..(g + 1) * ages].fill(Money::default());
            age_unpriced[g * ages..(g + 1) * ages].fill(0);
            is_touched[g] = false;
        }
        touched_groups.clear();
        age_paid.fill(false);
        age_active.fill(false);
        whole.fill(Money::default());
        touched.clear();
        let pg = if home.is_some() {
            person_group(person)
        } else {
            0
        };
        for &ev in by.of(person) {
            let i = ev as usize;
            let Some((period, age)) = period_age_of(i, person) else {
                continue;
            };
            if let Some(a) = age
                && is_active(i)
            {
                age_active[a] = true;
            }
            if !counts_money(i) {
                continue;
            }
            match money_of(i, &mut tally) {
                EventMoney::None => {}
                EventMoney::Unconverted(cur, u) => {
                    let e = unconverted.entry(cur).or_default();
                    e.events += u.events;
                    e.gross_revenue += u.gross_revenue;
                    e.refunds += u.refunds;
                    e.fees_paid += u.fees_paid;
                    e.inference_cost += u.inference_cost;
                }
                EventMoney::Converted(m, paid, unpriced) => {
                    totals.add(&m);
                    match age {
                        Some(a) => {
                            let g = event_group(i, pg);
                            if !is_touched[g] {
                                is_touched[g] = true;
                                touched_groups.push(g);
                            }
                            age_money[g * ages + a].add(&m);
                            age_unpriced[g * ages + a] += u64::from(unpriced);
                            whole[a].add(&m);
                            age_paid[a] |= paid;
                        }
                        None => {
                            let u = &mut unattributed[period];
                            u.money.add(&m);
                            u.events += 1;
                            if !touched.contains(&period) {
                                touched.push(period);
                                u.persons += 1;
                            }
                        }
                    }
                }
            }
        }
        let Some(h) = home else {
            continue;
        };
        // A₀ = U₀ (§9.8).
        age_active[0] = true;
        let mut ever = false;
        for a in 0..ages.min(n_periods - h) {
            if age_active[a] && per_active != 0 {
                let g = active_cost_group.unwrap_or(pg);
                if !is_touched[g] {
                    is_touched[g] = true;
                    touched_groups.push(g);
                }
                age_money[g * ages + a].other_variable_cost += per_active;
                whole[a].other_variable_cost += per_active;
                totals.other_variable_cost += per_active;
            }
            let net = whole[a].net_revenue(p.fee_treatment);
            // Pₖ: net revenue > 0 in the age (a payment of the age makes it so unless refunds outweigh it).
            let paid = net > 0 && (age_paid[a] || whole[a].gross_revenue > 0);
            ever |= paid;
            let (active, paid, ever) = (u64::from(age_active[a]), u64::from(paid), u64::from(ever));
            if mode == Some(PropertyKind::Person) {
                if let Some(cell) = groups[pg].cells[h][a].as_mut() {
                    cell.active += active;
                    cell.paying += paid;
                    cell.ever_paid += ever;
                }
            } else {
                let n = &mut counts[h][a];
                n.0 += active;
                n.1 += paid;
                n.2 += ever;
            }
        }
        // Money per group; a person who touched no group adds zeros, counted when the cells are closed.
        for &g in &touched_groups {
            let (mut to_date, mut revenue_to_date) = (0i128, 0i128);
            for a in 0..ages {
                let Some(cell) = groups[g].cells[h][a].as_mut() else {
                    break;
                };
                let m = age_money[g * ages + a];
                let net = m.net_revenue(p.fee_treatment);
                to_date += m.gross_profit(p.fee_treatment);
                revenue_to_date += net;
                cell.money.add(&m);
                cell.unpriced += age_unpriced[g * ages + a];
                cell.revenue.add(net);
                cell.cost.add(m.inference_cost);
                cell.profit.add(m.gross_profit(p.fee_treatment));
                cell.ltv.add(to_date);
                cell.ltv_revenue.add(revenue_to_date);
            }
        }
    }
    for g in &mut groups {
        for (ci, row) in g.cells.iter_mut().enumerate() {
            for (a, cell) in row.iter_mut().enumerate() {
                let Some(cell) = cell.as_mut() else {
                    continue;
                };
                let zeros = g.users[ci].saturating_sub(cell.revenue.n);
                for acc in [
                    &mut cell.revenue,
                    &mut cell.cost,
                    &mut cell.profit,
                    &mut cell.ltv,
                    &mut cell.ltv_revenue,
                ] {
                    acc.n += zeros;
                }
                if mode != Some(PropertyKind::Person) {
                    (cell.active, cell.paying, cell.ever_paid) = counts[ci][a];
                }
            }
        }
    }
    for (key, &(events, converted, sum)) in costs.keys.iter().zip(&tally) {
        if events == 0 {
            continue;
        }
        *costing.by_source.entry(key.source.clone()).or_default() += events;
        if key.partial {
            costing.partially_priced += events;
        }
        if key.source == "unpriced" {
            let reason = key.reason.clone().unwrap_or_else(|| "unknown_model".into());
            *costing
                .unpriced
                .entry((key.model.clone().unwrap_or_default(), reason))
                .or_default() += events;
        }
        if let Some(version) = &key.version
            && converted > 0
        {
            let e = costing.versions.entry(version.clone()).or_default();
            e.0 += converted;
            e.1 += sum;
        }
    }
    Ok(ProjectEconomics {
        project: t.project.clone(),
        users,
        groups,
        unattributed,
        totals,
        unconverted,
        costing,
    })
}

#[cfg(test)]
mod tests;
