//! What a report reads: the scan description (the store's projection and the key of the engine's table cache) and
//! the neutral event table the engine builds from it, one per project, which every report kind reads.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::numeric::Num;
use crate::params::Personless;

pub use kernels::{PeriodGrid, PeriodSets};

/// What a report needs loaded: which events (a time range cut at `as_of`) and which columns.
///
/// Two reports with equal scans read the same table, so the engine keys its in-memory cache on it (with the project
/// and the manifest generation): whatever a kind needs must be said here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scan {
    /// Events from this instant on (UTC µs); `None` for all history.
    pub from: Option<i64>,
    /// Events before this instant.
    pub to: i64,
    /// Events after this instant are ignored for every purpose, merges and person properties included.
    pub as_of: i64,
    /// Load event uuids (ties between simultaneous events are broken by uuid).
    pub uuid: bool,
    /// Load event properties (event filters or an event breakdown).
    pub event_properties: bool,
    /// With `event_properties`: keep only these keys of each event's properties (sorted, without duplicates; an
    /// entry ending in `*` keeps every key with that prefix); `None` keeps every key. Parsing skips the rest.
    pub property_keys: Option<Vec<String>>,
    /// With `event_properties` or `numeric`: load properties only for events with these names (sorted, without
    /// duplicates); the others get none. `None` loads them for every event.
    pub property_events: Option<Vec<String>>,
    /// Fold person properties (person filters or a person breakdown).
    pub person_properties: bool,
    /// Event properties read as numbers, sorted and without duplicates (property math).
    pub numeric: Vec<String>,
    /// Load each person's creation instant (lifecycle's `new`).
    pub created_at: bool,
    /// Load each person's distinct ids (persons listings).
    pub person_ids: bool,
    /// Load each `payment` event's payment (economics).
    pub payments: bool,
    /// Load only events with one of these names (sorted, without duplicates); `None` loads every event. A kind
    /// that counts named events only (a funnel of named steps) says so, and the table holds a fraction of the
    /// data. Persons, personless flags and the data fingerprint still cover every event read.
    pub events: Option<Vec<String>>,
    /// Leave personless persons out.
    pub personless: Personless,
    /// Cost every AI event with these price tables (economics): [`EventTable::costs`].
    pub costs: Option<CostScan>,
    /// The kind's answer depends only on which UTC hours each person was active in with which events, so the
    /// engine may load one row per (person, UTC hour, event name), stamped at the hour's start, instead of one per
    /// event (docs/formats/ids.md, activity by hour). Only with no uuids, properties, numbers, payments or costs.
    pub hour_grain: bool,
    /// The kind counts only which persons had which events in which periods of a grid (retention without
    /// breakdowns or filters), so the engine may build [`EventTable::sets`] for these periods instead of one row per
    /// event. An engine that cannot (no dense ids, or sets that would outweigh the rows) loads rows as usual.
    pub periods: Option<PeriodScan>,
}

/// What per-period person sets hold: the periods, and which event names make a person a starter or a returner in
/// one (see [`kernels::PeriodSets`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeriodScan {
    /// Each period's first instant (UTC µs), increasing.
    pub starts: Vec<i64>,
    /// The first instant after the last period.
    pub end: i64,
    /// Start events' names; `None`: any activity event.
    pub start_events: Option<Vec<String>>,
    /// Returning events' names; `None`: any activity event.
    pub returning_events: Option<Vec<String>>,
    /// The events that are not activity (left out of "any activity event").
    pub non_activity: Vec<String>,
}

impl PeriodScan {
    /// The periods as a grid.
    pub fn grid(&self) -> PeriodGrid {
        PeriodGrid::new(self.starts.clone(), self.end)
    }

    /// Per name of `names`: (a start event, a returning event).
    pub fn roles(&self, names: &[String]) -> Vec<(bool, bool)> {
        let is = |list: &Option<Vec<String>>, n: &String| match list {
            Some(list) => list.contains(n),
            None => !self.non_activity.contains(n),
        };
        names
            .iter()
            .map(|n| (is(&self.start_events, n), is(&self.returning_events, n)))
            .collect()
    }
}

/// One hour in µs.
pub const HOUR_US: i64 = 3_600_000_000;

/// The costing a scan asks for: the price tables given with the report (TOML or JSON texts, searched in order before
/// the built-in ones). The engine loads them with [`CostScan::tables`], derives each segment's costs once with
/// [`crate::economics::Tables::cost_events`] and caches them under [`crate::economics::Tables::digest`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CostScan {
    /// The price tables' texts.
    pub prices: Vec<String>,
}

impl CostScan {
    /// The loaded price tables.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming `prices[i]` when a table does not load.
    pub fn tables(&self) -> crate::Result<crate::economics::Tables> {
        crate::economics::Tables::load(&self.prices)
    }
}

/// The names of entities as a scan's event filter: sorted, without duplicates; `None` when any of them is "any
/// activity event", which needs every event.
pub(crate) fn event_filter<'a>(
    entities: impl IntoIterator<Item = &'a crate::params::Entity> + Clone,
) -> Option<Vec<String>> {
    if entities
        .clone()
        .into_iter()
        .any(|e| e.event.names().is_none())
    {
        return None;
    }
    let mut names = crate::kind::entity_names(entities);
    names.sort();
    Some(names)
}

/// One project's events, as the engine loaded them for a [`Scan`]: one entry per event in every per-event column, or,
/// for a scan with [`Scan::periods`], possibly per-period person sets instead ([`EventTable::sets`]).
#[derive(Debug, Clone, Default)]
pub struct EventTable {
    /// Project name.
    pub project: String,
    /// Dense person index per event.
    pub person: Vec<u32>,
    /// Number of persons.
    pub n_persons: usize,
    /// Event time, UTC µs.
    pub ts: Vec<i64>,
    /// Event uuid as a big-endian integer (only when the scan asks for it).
    pub uuid: Vec<u128>,
    /// Event name id per event, into `names`.
    pub name: Vec<u32>,
    /// Event names.
    pub names: Vec<String>,
    /// Properties per event (only when the scan asks for them).
    pub properties: Vec<Map<String, Value>>,
    /// Current properties per person (only when the scan asks for them).
    pub person_properties: Vec<Map<String, Value>>,
    /// One column per key of [`Scan::numeric`], in that order.
    pub numeric: Vec<NumericColumn>,
    /// Per person, the creation instant (only when the scan asks for it): the imported `created_at`, else the
    /// person's earliest event of any kind up to `as_of`.
    pub created_at: Vec<i64>,
    /// Per person, every distinct id, sorted (only when the scan asks for them).
    pub person_ids: Vec<Vec<String>>,
    /// Per event, an index into `payment_rows`, or [`EventTable::NO_PAYMENT`] for an event that is no payment
    /// (only when the scan asks for payments; read through [`EventTable::payment`]).
    pub payments: Vec<u32>,
    /// The payments `payments` indexes.
    pub payment_rows: Vec<PaymentRow>,
    /// Per event, its cost with the scan's price tables (only when the scan asks for costs).
    pub costs: model::RowCosts,
    /// Where the events came from.
    pub data: DataProvenance,
    /// For a scan with [`Scan::periods`], the engine may load these sets instead of event rows: then every
    /// per-event column is empty, and `n_persons` is the number of persons the sets are sized for (the engine may
    /// number persons with gaps).
    pub sets: Option<PeriodSets>,
    /// The events grouped by person, built on first use and kept with the table, so warm reports reuse it.
    pub by_person: std::sync::OnceLock<kernels::activity::ByPerson>,
    /// The same, each person's events in (timestamp, uuid) order (funnels walk them in time).
    pub by_person_in_time: std::sync::OnceLock<kernels::activity::ByPerson>,
    /// Instants and names in that order, built on first use like it.
    pub in_time: std::sync::OnceLock<InTime>,
}

/// Each event's instant and name in [`EventTable::by_person_in_time`]'s order: position `j` is event
/// `by_person_in_time().events[j]`. A walk over each person's events in time then reads memory in order instead of
/// jumping to every segment the person's events came from.
#[derive(Debug, Clone, Default)]
pub struct InTime {
    /// Event time, UTC µs.
    pub ts: Vec<i64>,
    /// Event name id, into the table's `names`.
    pub name: Vec<u32>,
}

/// Splits `column`, one entry per event in a [`kernels::activity::ByPerson`]'s order (`offsets`), into at most
/// `parts` runs of whole persons, for work in parallel: each person range with its part of the column.
pub(crate) fn person_chunks<'c, T>(
    offsets: &[u32],
    column: &'c mut [T],
    parts: usize,
) -> Vec<(std::ops::Range<usize>, &'c mut [T])> {
    let n = offsets.len().saturating_sub(1);
    let per = n.div_ceil(parts.max(1)).max(1);
    let mut rest = column;
    let mut chunks = Vec::with_capacity(parts);
    for k in 0..parts.max(1) {
        let persons = (k * per).min(n)..((k + 1) * per).min(n);
        let len = match (offsets.get(persons.start), offsets.get(persons.end)) {
            (Some(&a), Some(&b)) => (b - a) as usize,
            _ => 0,
        };
        let (mine, others) = rest.split_at_mut(len.min(rest.len()));
        chunks.push((persons, mine));
        rest = others;
    }
    chunks
}

impl EventTable {
    /// The index of an event that is no payment.
    pub const NO_PAYMENT: u32 = u32::MAX;

    /// The payment of event `i`, if it is one.
    pub fn payment(&self, i: usize) -> Option<&PaymentRow> {
        match self.payments.get(i) {
            Some(&k) if k != Self::NO_PAYMENT => self.payment_rows.get(k as usize),
            _ => None,
        }
    }

    /// Appends event `i`'s payment (`None` for an event that is no payment).
    pub fn push_payment(&mut self, payment: Option<PaymentRow>) {
        match payment {
            None => self.payments.push(Self::NO_PAYMENT),
            Some(p) => {
                self.payments.push(self.payment_rows.len() as u32);
                self.payment_rows.push(p);
            }
        }
    }
    /// The events grouped by person (built once; the table must not change after its first use).
    pub fn by_person(&self) -> &kernels::activity::ByPerson {
        self.by_person
            .get_or_init(|| kernels::activity::ByPerson::new(&self.person, self.n_persons))
    }

    /// The events grouped by person, each person's in (timestamp, uuid) order (built once, like
    /// [`EventTable::by_person`]).
    pub fn by_person_in_time(&self) -> &kernels::activity::ByPerson {
        self.by_person_in_time.get_or_init(|| {
            use rayon::prelude::*;
            let mut by = self.by_person().clone();
            // Ranges of persons sorted in parallel, each over its own part of the events.
            let parts = if self.ts.len() >= 1 << 16 {
                rayon::current_num_threads() * 4
            } else {
                1
            };
            let offsets = &by.offsets;
            let slices = person_chunks(offsets, &mut by.events, parts);
            slices.into_par_iter().for_each(|(persons, events)| {
                let base = offsets[persons.start] as usize;
                for p in persons {
                    let (lo, hi) = (offsets[p] as usize - base, offsets[p + 1] as usize - base);
                    events[lo..hi].sort_unstable_by_key(|&i| {
                        let i = i as usize;
                        (self.ts[i], self.uuid.get(i).copied().unwrap_or(0))
                    });
                }
            });
            by
        })
    }

    /// Instants and names in [`EventTable::by_person_in_time`]'s order (built once, like it).
    pub fn in_time(&self) -> &InTime {
        self.in_time.get_or_init(|| {
            use rayon::prelude::*;
            let order = &self.by_person_in_time().events;
            InTime {
                ts: order
                    .par_iter()
                    .with_min_len(1 << 14)
                    .map(|&i| self.ts[i as usize])
                    .collect(),
                name: order
                    .par_iter()
                    .with_min_len(1 << 14)
                    .map(|&i| self.name[i as usize])
                    .collect(),
            }
        })
    }

    /// The numeric column of a property, if the scan loaded it.
    pub fn numeric(&self, key: &str) -> Option<&NumericColumn> {
        self.numeric.iter().find(|c| c.key == key)
    }
}

/// The payment of a `payment` event (events.md §7), validated at ingest: amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    /// Gross amount including tax, ≥ 0.
    pub amount_minor: i64,
    /// ISO 4217 code, uppercase.
    pub currency: String,
    /// `new`, `renewal`, `one_time`, `usage`, `refund` or `chargeback`.
    pub kind: String,
    /// Tax contained in the amount.
    pub tax_minor: i64,
    /// Processor or store fee.
    pub fee_minor: i64,
}

/// A numeric event property: its value per event, `None` where the event has no numeric value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumericColumn {
    /// The property key.
    pub key: String,
    /// One value per event.
    pub values: Vec<Option<Num>>,
}

/// What the engine read, for the fingerprint and the provenance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataProvenance {
    /// First and last UTC day read (`YYYY-MM-DD`), if any.
    pub days: Option<(String, String)>,
    /// Events stored in those days.
    pub events_in_scope: u64,
    /// Sum modulo 2²⁵⁶ of their event digests.
    pub digest_sum: [u8; 32],
    /// Digest of the identity map used.
    pub identity_digest: [u8; 32],
    /// Persons left out as personless.
    pub personless_persons: u64,
    /// Their events.
    pub personless_events: u64,
    /// The project's first stored event at or before `as_of` (UTC µs), if any.
    pub first_event: Option<i64>,
    /// The project's last stored event at or before `as_of`.
    pub last_event: Option<i64>,
    /// The end (exclusive, UTC µs) of the range the report read.
    pub read_until: i64,
    /// Events of any name in the range read, when the scan kept only some names (`None`: the table holds them all).
    pub in_range: Option<u64>,
}

impl DataProvenance {
    /// The `lc1` data fingerprint (retention.md §13.6).
    pub fn fingerprint(&self, project: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"lc1");
        put(&mut h, project.as_bytes());
        let (from, to) = self.days.clone().unwrap_or_default();
        put(&mut h, from.as_bytes());
        put(&mut h, to.as_bytes());
        h.update(self.events_in_scope.to_be_bytes());
        h.update(self.digest_sum);
        h.update(self.identity_digest);
        format!("lc1:sha256:{}", hex(&h.finalize()))
    }
}

pub(crate) fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u32).to_be_bytes());
    h.update(bytes);
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
