//! Mapping instants to period indexes through precomputed period boundaries.
//!
//! Periods are calendar periods in some time zone, so their lengths vary (DST days, months). The caller computes
//! the boundaries once; this module answers "which period holds this instant" with a lookup table at 15-minute
//! granularity when every boundary falls on a 15-minute mark (true for every time zone in use since 2000), and a
//! binary search otherwise.

/// Width of one lookup slot, µs.
const SLOT_US: i64 = 15 * 60 * 1_000_000;
/// Lookup tables larger than this many slots fall back to binary search.
const MAX_SLOTS: usize = 8 << 20;

/// Period boundaries: `starts[i]` is the first instant (UTC µs) of period `i`; `end` is the first instant after the
/// last period.
#[derive(Debug, Clone)]
pub struct PeriodGrid {
    starts: Vec<i64>,
    end: i64,
    base: i64,
    table: Vec<u32>,
}

impl PeriodGrid {
    /// Builds a grid from strictly increasing period starts and the end of the last period.
    ///
    /// # Panics
    /// When `starts` is empty or not strictly increasing, or `end` is not after the last start.
    pub fn new(starts: Vec<i64>, end: i64) -> PeriodGrid {
        assert!(!starts.is_empty(), "a grid needs at least one period");
        assert!(
            starts.windows(2).all(|w| w[0] < w[1]),
            "period starts must increase"
        );
        assert!(
            end > *starts.last().expect("non-empty"),
            "end must follow the last start"
        );
        let base = starts[0];
        let aligned = starts
            .iter()
            .chain([&end])
            .all(|s| (s - base) % SLOT_US == 0);
        let slots = ((end - base) / SLOT_US) as usize;
        let table = if aligned && slots <= MAX_SLOTS {
            let mut t = Vec::with_capacity(slots);
            let mut p = 0usize;
            for slot in 0..slots {
                let at = base + slot as i64 * SLOT_US;
                while p + 1 < starts.len() && starts[p + 1] <= at {
                    p += 1;
                }
                t.push(p as u32);
            }
            t
        } else {
            Vec::new()
        };
        PeriodGrid {
            starts,
            end,
            base,
            table,
        }
    }

    /// Number of periods.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the grid has no periods (never true for a constructed grid).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// First instant of period `i`.
    pub fn start(&self, i: usize) -> i64 {
        self.starts[i]
    }

    /// First instant after period `i`.
    pub fn end_of(&self, i: usize) -> i64 {
        self.starts.get(i + 1).copied().unwrap_or(self.end)
    }

    /// First instant after the last period.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Whether every period boundary is a whole multiple of `step` µs since the Unix epoch.
    pub fn aligned(&self, step: i64) -> bool {
        self.starts
            .iter()
            .chain([&self.end])
            .all(|s| s.rem_euclid(step) == 0)
    }

    /// The period holding `ts`: `Before` the first, `After` the last, or its index.
    #[inline]
    pub fn locate(&self, ts: i64) -> Locate {
        if ts < self.base {
            return Locate::Before;
        }
        if ts >= self.end {
            return Locate::After;
        }
        if !self.table.is_empty() {
            return Locate::In(self.table[((ts - self.base) / SLOT_US) as usize]);
        }
        Locate::In((self.starts.partition_point(|&s| s <= ts) - 1) as u32)
    }
}

/// Where an instant falls relative to a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locate {
    /// Before the first period.
    Before,
    /// Inside period `n`.
    In(u32),
    /// At or after the end.
    After,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_binary_search_agree() {
        let h = 3_600_000_000i64;
        // Days of 24, 23 and 25 hours, then a grid whose second boundary is off the 15-minute marks.
        let aligned = vec![0, 24 * h, 47 * h];
        let unaligned = vec![0, 24 * h + 1_000, 47 * h];
        for starts in [aligned, unaligned] {
            let grid = PeriodGrid::new(starts.clone(), 72 * h);
            assert_eq!(grid.table.is_empty(), starts[1] % SLOT_US != 0);
            for t in (-h..73 * h)
                .step_by(997_000_000)
                .chain([24 * h, 24 * h + 999, 24 * h + 1_000])
            {
                let want = if t < 0 {
                    Locate::Before
                } else if t >= 72 * h {
                    Locate::After
                } else {
                    Locate::In((starts.partition_point(|&s| s <= t) - 1) as u32)
                };
                assert_eq!(grid.locate(t), want, "t={t}");
            }
        }
    }
}
