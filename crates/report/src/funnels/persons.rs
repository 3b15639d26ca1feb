//! The persons behind a funnel's numbers (funnels.md §12): who reached a step, who dropped off at it, who entered in
//! a trend period and converted or not, paged and sorted by their smallest distinct id.

use serde_json::{Value, json};

use super::params::{Selection, Viz};
use super::render::{rank_steps, rank_trends, value_json};
use super::{Plan, Prepared, StepAcc};
use crate::activity::format_local_us;
use crate::error::{Error, Result};
use crate::kind::Limits;
use crate::table::EventTable;

/// One listed person.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The project.
    pub project: String,
    /// The person's distinct ids, sorted.
    pub distinct_ids: Vec<String>,
    /// The furthest step (steps and time to convert).
    pub steps_completed: Option<usize>,
    /// The step times of the reported attempt, local RFC 3339.
    pub step_times: Vec<String>,
    /// With trends: whether the entry converted.
    pub converted: Option<bool>,
}

/// A page of persons.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelPersons {
    /// The funnel parameters and the selection, as given after defaults.
    pub parameters: Value,
    /// Matches before paging.
    pub total: u64,
    /// The page.
    pub persons: Vec<Listed>,
}

impl FunnelPersons {
    /// `{kind: "funnel_persons", parameters, total, persons}` (§13.8).
    pub fn to_json(&self) -> Value {
        json!({
            "kind": "funnel_persons",
            "parameters": self.parameters,
            "total": self.total,
            "persons": self.persons.iter().map(|p| {
                let mut o = json!({"project": p.project, "distinct_ids": p.distinct_ids});
                match p.converted {
                    Some(c) => o["converted"] = Value::from(c),
                    None => {
                        o["steps_completed"] = json!(p.steps_completed);
                        o["step_times"] = json!(p.step_times);
                    }
                }
                o
            }).collect::<Vec<_>>(),
        })
    }
}

/// Which breakdown values of one table a selection takes: `None` for all.
fn chosen_values(
    plan: &Plan,
    sel: &Selection,
    values: &[Vec<String>],
    ranked: &[u32],
) -> Option<Vec<u32>> {
    let limit = plan.breakdown()?.limit;
    if sel.other {
        return Some(ranked.iter().skip(limit).copied().collect());
    }
    let want = sel.breakdown_value.as_ref()?;
    Some(
        (0..values.len() as u32)
            .filter(|&v| value_json(plan, &values[v as usize]) == *want)
            .collect(),
    )
}

/// Lists the persons a selection names.
///
/// # Errors
/// [`Error::Invalid`] naming `entrance_period` when it is not a date in the report's periods, [`Error::TimedOut`]
/// past the deadline.
pub fn list(
    plan: &Plan,
    tables: &[&EventTable],
    sel: &Selection,
    limits: &Limits,
) -> Result<FunnelPersons> {
    let from = super::lower_bound(plan, tables)?;
    let trend_window = match plan.params.viz {
        Viz::Trends => Some(plan.trend_window(from)?),
        _ => None,
    };
    let entrance = match (&trend_window, &sel.entrance_period) {
        (Some(w), Some(text)) => {
            let at = crate::window::resolve_date("entrance_period", text, &plan.tz, plan.as_of)?;
            match w.grid.locate(at) {
                kernels::grid::Locate::In(k) => Some(k),
                _ => {
                    return Err(Error::invalid(
                        "entrance_period",
                        "is not in one of the report's periods",
                    ));
                }
            }
        }
        _ => None,
    };
    // (sort key, listed)
    let mut found: Vec<(Vec<String>, Listed)> = Vec::new();
    for t in tables {
        limits.check_time()?;
        let prep = Prepared::new(plan, t, from, trend_window.as_ref())?;
        let ids = |p: usize| -> Vec<String> { t.person_ids.get(p).cloned().unwrap_or_default() };
        let mut listed = vec![false; t.n_persons];
        if let Some(period) = entrance {
            let mut rows = std::collections::HashMap::new();
            if plan.breakdown().is_some() {
                let n_periods = trend_window.as_ref().map_or(0, |w| w.grid.len());
                rows = prep.trend_rows(plan, n_periods);
            }
            let ranked = rank_trends(&prep.values, &rows);
            let chosen = chosen_values(plan, sel, &prep.values, &ranked);
            prep.trend_runs(plan, |person, value, entries| {
                if listed[person] || chosen.as_ref().is_some_and(|c| !c.contains(&value)) {
                    return;
                }
                let hit = entries
                    .iter()
                    .find(|&&(p, c)| p == period && sel.dropped_off.is_none_or(|d| d != c));
                if let Some(&(_, converted)) = hit {
                    listed[person] = true;
                    let distinct_ids = ids(person);
                    found.push((
                        distinct_ids.clone(),
                        Listed {
                            project: t.project.clone(),
                            distinct_ids,
                            steps_completed: None,
                            step_times: Vec::new(),
                            converted: Some(converted),
                        },
                    ));
                }
            });
            continue;
        }
        let step = sel.step.unwrap_or(1);
        let rows: std::collections::HashMap<u32, StepAcc> = match plan.breakdown() {
            Some(_) => prep.step_rows(plan),
            None => std::collections::HashMap::new(),
        };
        let ranked: Vec<u32> = rank_steps(&prep.values, &rows)
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        let chosen = chosen_values(plan, sel, &prep.values, &ranked);
        prep.step_runs(plan, |person, value, outcome| {
            if listed[person] || chosen.as_ref().is_some_and(|c| !c.contains(&value)) {
                return;
            }
            let super::Outcome::Reached { level, times } = outcome else {
                return;
            };
            let hit = if step > 0 {
                level >= step as usize
            } else {
                level + 1 == step.unsigned_abs() as usize
            };
            if hit {
                listed[person] = true;
                let distinct_ids = ids(person);
                found.push((
                    distinct_ids.clone(),
                    Listed {
                        project: t.project.clone(),
                        distinct_ids,
                        steps_completed: Some(level),
                        step_times: times[..level]
                            .iter()
                            .map(|&ts| format_local_us(ts, &plan.tz))
                            .collect(),
                        converted: None,
                    },
                ));
            }
        });
    }
    found.sort_by(|a, b| {
        a.0.first()
            .cmp(&b.0.first())
            .then_with(|| a.1.project.cmp(&b.1.project))
    });
    let total = found.len() as u64;
    let persons = found
        .into_iter()
        .skip(sel.offset)
        .take(sel.limit)
        .map(|(_, l)| l)
        .collect();
    let mut parameters = plan.params.to_json();
    if let Value::Object(m) = &mut parameters {
        m.extend(sel.to_json());
    }
    Ok(FunnelPersons {
        parameters,
        total,
        persons,
    })
}
