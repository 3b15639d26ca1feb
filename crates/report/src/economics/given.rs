//! Economics inputs another engine decided: the ClickHouse back end computes in SQL each person's anchor, the
//! periods in which they were active and the events that bear money, and hands them here row by row. The money
//! procedures of economics.md §4–§9 then run over them exactly as over the embedded engine's table.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Coster, Decided};
use crate::breakdown::Values;
use crate::table::{EventTable, PaymentRow};

/// One project's decided inputs, built row by row. Persons are named by any string that identifies them in the
/// other engine; their order does not change the report.
#[derive(Debug, Default)]
pub struct Given {
    persons: HashMap<String, u32>,
    anchor: Vec<i64>,
    /// Per person, the breakdown value id (a person breakdown).
    person_value: Vec<u32>,
    table: EventTable,
    /// Per row: an event that may bear money (`true`) or an activity mark (`false`).
    money: Vec<bool>,
    /// Per event, the breakdown value id (an event breakdown).
    event_value: Vec<u32>,
    values: Vec<String>,
    value_ids: HashMap<String, u32>,
    names: HashMap<String, u32>,
    cost_keys: HashMap<model::CostKey, u32>,
}

impl Given {
    /// Nothing yet.
    pub fn new() -> Given {
        let mut given = Given::default();
        // Rows that only mark activity carry this name; the mask, not the name, keeps their money out.
        given.name_id("");
        given.value_id(String::new());
        given
    }

    fn person(&mut self, person: &str) -> usize {
        if let Some(&p) = self.persons.get(person) {
            return p as usize;
        }
        let p = self.anchor.len();
        self.persons.insert(person.to_string(), p as u32);
        self.anchor.push(i64::MAX);
        self.person_value.push(0);
        p
    }

    fn value_id(&mut self, value: String) -> u32 {
        let next = self.values.len() as u32;
        *self.value_ids.entry(value).or_insert_with_key(|v| {
            self.values.push(v.clone());
            next
        })
    }

    fn name_id(&mut self, name: &str) -> u32 {
        if let Some(&n) = self.names.get(name) {
            return n;
        }
        let n = self.table.names.len() as u32;
        self.names.insert(name.to_string(), n);
        self.table.names.push(name.to_string());
        n
    }

    /// A person's first target event passing the filters, at `ts` (UTC µs), with the person's breakdown value (a
    /// person breakdown). A later call for the same person keeps the earlier time.
    pub fn anchor(&mut self, person: &str, ts: i64, person_value: Option<String>) {
        let p = self.person(person);
        self.anchor[p] = self.anchor[p].min(ts);
        if let Some(v) = person_value {
            self.person_value[p] = self.value_id(v);
        }
    }

    /// An activity event passing the global filters, at `ts`; one per person and period is enough.
    pub fn active(&mut self, person: &str, ts: i64) {
        self.push(person, ts, 0, false, None, 0);
    }

    /// An event that may bear money (economics.md §4): a payment, an AI event (costed here from its `$ai_`
    /// properties at `ts`), or an event with a per-event cost; with its breakdown value (an event breakdown).
    #[allow(clippy::too_many_arguments)]
    pub fn money(
        &mut self,
        coster: &Coster<'_>,
        person: &str,
        ts: i64,
        name: &str,
        ai: Option<&Map<String, Value>>,
        payment: Option<PaymentRow>,
        event_value: Option<String>,
    ) {
        let name = self.name_id(name);
        let value = event_value.map_or(0, |v| self.value_id(v));
        let cost = ai.map(|props| coster.cost(props, ts));
        self.push(person, ts, name, true, payment, value);
        let costs = &mut self.table.costs;
        let Some(c) = cost else {
            costs.key.push(model::RowCosts::NONE);
            costs.nano.push(0);
            return;
        };
        // Keys as the embedded engine's costing records have them.
        let key = model::CostKey {
            source: c.source.to_string(),
            currency: c.currency,
            model: c.model,
            version: c.version,
            reason: c.reason.map(str::to_string),
            partial: c.partial,
        };
        let next = costs.keys.len() as u32;
        let id = *self.cost_keys.entry(key).or_insert_with_key(|k| {
            costs.keys.push(k.clone());
            next
        });
        costs.key.push(id);
        costs.nano.push(c.nano);
    }

    fn push(
        &mut self,
        person: &str,
        ts: i64,
        name: u32,
        money: bool,
        payment: Option<PaymentRow>,
        value: u32,
    ) {
        let p = self.person(person) as u32;
        self.table.person.push(p);
        self.table.ts.push(ts);
        self.table.name.push(name);
        self.table.push_payment(payment);
        if !money {
            self.table.costs.key.push(model::RowCosts::NONE);
            self.table.costs.nano.push(0);
        }
        self.money.push(money);
        self.event_value.push(value);
    }

    /// The rows as a table over `shell` (which carries the project's provenance), and what was decided.
    pub(crate) fn into_table(self, mut shell: EventTable) -> (EventTable, Decided) {
        let t = self.table;
        shell.n_persons = self.anchor.len();
        shell.person = t.person;
        shell.ts = t.ts;
        shell.name = t.name;
        shell.names = t.names;
        shell.payments = t.payments;
        shell.payment_rows = t.payment_rows;
        shell.costs = t.costs;
        let values = Values {
            values: self.values,
            event: self.event_value,
            person: self.person_value,
        };
        let decided = Decided {
            anchor: self.anchor,
            marks: Some(self.money),
            values,
        };
        (shell, decided)
    }
}
