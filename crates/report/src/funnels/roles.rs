//! Events whose roles (§4) another engine decided: the ClickHouse back end computes each read event's step and
//! exclusion roles and breakdown value in SQL, and hands them here, person by person, for the procedures of §5–§10.

use std::collections::HashMap;

use crate::table::EventTable;

/// One project's read events with their roles, grouped by person.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    /// The events as a table: `person`, `ts`, `uuid` and `n_persons` (the rest is the provenance shell's).
    pub(crate) person: Vec<u32>,
    pub(crate) ts: Vec<i64>,
    pub(crate) uuid: Vec<u128>,
    /// Step roles: bit k − 1 for step k.
    pub(crate) steps: Vec<u32>,
    /// Exclusion roles: bit j − 1 blocks the move to step j.
    pub(crate) excl: Vec<u32>,
    /// Breakdown value id per event.
    pub(crate) value: Vec<u32>,
    /// Breakdown values by id, one string per breakdown property.
    pub(crate) values: Vec<Vec<String>>,
    ids: HashMap<Vec<String>, u32>,
    last_person: Option<String>,
    n_persons: u32,
    breakdown: bool,
    mask: u32,
}

impl Roles {
    /// No events yet, for a funnel of `steps` steps (roles past them are dropped), with or without a breakdown.
    pub fn new(steps: usize, breakdown: bool) -> Roles {
        let mask = if steps >= 32 {
            u32::MAX
        } else {
            (1u32 << steps) - 1
        };
        Roles {
            // Without a breakdown every event has the one empty value, as in the embedded engine.
            values: if breakdown {
                Vec::new()
            } else {
                vec![Vec::new()]
            },
            breakdown,
            mask,
            ..Roles::default()
        }
    }

    /// Appends one read event. Events come grouped by person: a person other than the previous event's starts the
    /// next person. `value` is the event's breakdown value (empty without a breakdown).
    pub fn push(
        &mut self,
        person: &str,
        ts: i64,
        uuid: u128,
        steps: u32,
        excl: u32,
        value: Vec<String>,
    ) {
        if self.last_person.as_deref() != Some(person) {
            self.n_persons += 1;
            self.last_person = Some(person.to_string());
        }
        let id = if !self.breakdown {
            0
        } else {
            let next = self.values.len() as u32;
            *self.ids.entry(value.clone()).or_insert_with(|| {
                self.values.push(value);
                next
            })
        };
        self.person.push(self.n_persons - 1);
        self.ts.push(ts);
        self.uuid.push(uuid);
        self.steps.push(steps & self.mask);
        self.excl.push(excl & self.mask);
        self.value.push(id);
    }

    /// How many events were pushed.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Moves the events into `shell`, a table carrying only provenance, and returns it (the roles stay).
    pub(crate) fn move_into(&mut self, mut shell: EventTable) -> EventTable {
        shell.n_persons = self.n_persons as usize;
        shell.person = std::mem::take(&mut self.person);
        shell.ts = std::mem::take(&mut self.ts);
        // Every per-event column has an entry per event; the roles stand in for the names here.
        shell.name = vec![0; shell.ts.len()];
        shell.uuid = std::mem::take(&mut self.uuid);
        shell
    }
}
