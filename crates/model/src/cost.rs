//! What AI events cost, per row of a segment: the costing records a report derives with one set of price tables
//! (economics.md §3), in the form the store caches and the report reads.

/// How a group of AI events was costed: every field of a costing record but the amount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CostKey {
    /// `provided`, `provided_posthog`, `custom`, `table` or `unpriced`.
    pub source: String,
    /// The currency of the amount.
    pub currency: String,
    /// The event's model string.
    pub model: Option<String>,
    /// The matched table entry and price version, `id@effective_from`.
    pub version: Option<String>,
    /// Why the event is unpriced.
    pub reason: Option<String>,
    /// Some bucket had units but no price.
    pub partial: bool,
}

/// The costs of a run of events, one entry per event: which [`CostKey`] and what amount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowCosts {
    /// Per event, an index into `keys`; [`RowCosts::NONE`] for an event that is not costed (not an AI event).
    pub key: Vec<u32>,
    /// Per event, the cost in nano-units (10⁻⁹) of its key's currency; 0 where `key` is [`RowCosts::NONE`].
    pub nano: Vec<i128>,
    /// The distinct keys.
    pub keys: Vec<CostKey>,
}

impl RowCosts {
    /// The key of an event that is not costed.
    pub const NONE: u32 = u32::MAX;

    /// The number of events.
    pub fn len(&self) -> usize {
        self.key.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }

    /// The key and amount of event `i`, when it is costed.
    pub fn get(&self, i: usize) -> Option<(&CostKey, i128)> {
        let k = *self.key.get(i)?;
        let key = self.keys.get(k as usize)?;
        Some((key, self.nano.get(i).copied().unwrap_or(0)))
    }
}
