//! One run over one person's read events (funnels.md §5–§7, §10): the furthest step reached and its times, or the
//! entry periods with and without conversion. The caller chooses the events and their roles (§4); these functions
//! only follow the procedures.

use std::collections::VecDeque;

use super::params::MAX_STEPS;

/// A read event of a run, with its roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ev {
    /// UTC µs.
    pub ts: i64,
    /// Tie-break among equal timestamps: the event's rank in its person's (timestamp, uuid) order.
    pub tie: u64,
    /// Step roles: bit k − 1 for step k.
    pub steps: u32,
    /// Exclusion roles: bit j − 1 blocks the move to step j.
    pub excl: u32,
    /// The event's breakdown value id (0 without a breakdown).
    pub value: u32,
    /// The event's index in its table.
    pub idx: u32,
    /// The trend period of the event (trends only).
    pub period: u32,
}

/// What a run of §5 or §7 found. The step times live inline: runs are made and consumed one at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Level 0: not in the funnel.
    Out,
    /// Hit by an exclusion: removed from every step (§5.5).
    Removed,
    /// The furthest level and the step times of the reported attempt (the first `level` are set).
    Reached {
        /// 1 to n.
        level: usize,
        /// Step times, UTC µs.
        times: [i64; MAX_STEPS],
    },
}

/// Only an event carrying `value` may fill step `step` (attribution to a step, §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StepValue {
    /// 1-based step.
    pub step: usize,
    /// The run's value id.
    pub value: u32,
}

/// The 1-based roles set in `mask`, highest first (one step per set bit, not per possible role).
fn roles_desc(mask: u32) -> impl Iterator<Item = usize> {
    let mut rest = mask;
    std::iter::from_fn(move || {
        if rest == 0 {
            return None;
        }
        let k = 32 - rest.leading_zeros() as usize;
        rest &= !(1u32 << (k - 1));
        Some(k)
    })
}

/// An attempt of a funnel of at most `N` steps: attempts are copied on every move, so they are sized to the funnel,
/// not to the longest funnel there can be.
#[derive(Debug, Clone, Copy)]
struct Attempt<const N: usize> {
    entry: i64,
    excluded: bool,
    times: [i64; N],
    evs: [u32; N],
}

impl<const N: usize> Attempt<N> {
    fn fresh(entry: i64) -> Attempt<N> {
        Attempt {
            entry,
            excluded: false,
            times: [0; N],
            evs: [u32::MAX; N],
        }
    }
}

struct Ordered<const N: usize> {
    n: usize,
    w: i64,
    only: Option<StepValue>,
    slots: [Option<Attempt<N>>; N],
    best: Option<(usize, Attempt<N>)>,
}

impl<const N: usize> Ordered<N> {
    /// §5.2.
    fn fill(&mut self, k: usize, e: &Ev, mixed: bool) {
        let p = if k == 1 {
            Attempt::fresh(e.ts)
        } else {
            match self.slots[k - 2] {
                Some(p) => p,
                None => return,
            }
        };
        if e.ts - p.entry > self.w || self.slots[k - 1].is_some_and(|s| s.entry == p.entry) {
            return;
        }
        if self.only.is_some_and(|o| o.step == k && o.value != e.value) {
            return;
        }
        if mixed && p.evs[..k - 1].contains(&e.idx) {
            return;
        }
        let mut next = p;
        next.times[k - 1] = e.ts;
        next.evs[k - 1] = e.idx;
        if !p.excluded {
            self.slots[k - 1] = Some(next);
        }
        let replace = match &self.best {
            None => true,
            Some((level, b)) => k > *level || (k == *level && b.excluded),
        };
        if replace {
            self.best = Some((k, next));
        }
    }

    /// §5.3.
    fn exclude(&mut self, j: usize, e: &Ev) {
        if j < 2 || j > self.n {
            return;
        }
        let Some(p) = self.slots[j - 2] else {
            return;
        };
        if e.ts - p.entry > self.w || self.slots[j - 1].is_some_and(|s| s.entry == p.entry) {
            return;
        }
        if !p.excluded {
            if let Some(slot) = &mut self.slots[j - 2] {
                slot.excluded = true;
            }
            if let Some((level, b)) = &mut self.best
                && *level == j - 1
                && e.ts - b.entry <= self.w
            {
                b.excluded = true;
            }
        }
    }
}

/// An ordered or strict run (§5, §6) over events sorted by (timestamp, uuid).
pub(crate) fn ordered(
    events: &[Ev],
    n: usize,
    w: i64,
    strict: bool,
    only: Option<StepValue>,
) -> Outcome {
    match n {
        0..=4 => ordered_in::<4>(events, n, w, strict, only),
        5..=8 => ordered_in::<8>(events, n, w, strict, only),
        9..=16 => ordered_in::<16>(events, n, w, strict, only),
        _ => ordered_in::<MAX_STEPS>(events, n, w, strict, only),
    }
}

/// [`ordered`] for a funnel of at most `N` steps (`n <= N`).
fn ordered_in<const N: usize>(
    events: &[Ev],
    n: usize,
    w: i64,
    strict: bool,
    only: Option<StepValue>,
) -> Outcome {
    let mut run = Ordered::<N> {
        n,
        w,
        only,
        slots: [None; N],
        best: None,
    };
    let mut i = 0;
    while i < events.len() {
        let t = events[i].ts;
        let end = i + events[i..].iter().take_while(|e| e.ts == t).count();
        let group = &events[i..end];
        let first = group[0];
        if group
            .iter()
            .all(|e| e.steps == first.steps && e.excl == first.excl)
        {
            for e in group {
                for j in roles_desc(e.excl) {
                    run.exclude(j, e);
                }
                for k in roles_desc(e.steps) {
                    if k <= n {
                        run.fill(k, e, false);
                    }
                }
                if strict {
                    for k in 1..=n {
                        if e.steps & (1 << (k - 1)) == 0 {
                            run.slots[k - 1] = None;
                        }
                    }
                }
            }
        } else {
            for k in 1..=n {
                for e in group.iter().filter(|e| e.steps & (1 << (k - 1)) != 0) {
                    run.fill(k, e, true);
                }
            }
        }
        if run.slots[n - 1].is_some() {
            break;
        }
        i = end;
    }
    match run.best {
        None => Outcome::Out,
        Some((_, b)) if b.excluded => Outcome::Removed,
        Some((level, b)) => {
            let mut times = [0; MAX_STEPS];
            times[..N].copy_from_slice(&b.times);
            Outcome::Reached { level, times }
        }
    }
}

/// The queues of an unordered run (§7).
struct Queues {
    n: usize,
    w: i64,
    /// Per step: (time, trend period) of the events placed.
    queues: Vec<VecDeque<(i64, u32)>>,
    m: usize,
}

impl Queues {
    fn new(n: usize, w: i64) -> Queues {
        Queues {
            n,
            w,
            queues: vec![VecDeque::new(); n],
            m: 0,
        }
    }

    /// The queue whose front event is oldest (ties: the lowest step).
    fn oldest(&self) -> Option<usize> {
        (0..self.n)
            .filter(|&q| !self.queues[q].is_empty())
            .min_by_key(|&q| (self.queues[q][0].0, q))
    }

    fn pop(&mut self, q: usize) {
        self.queues[q].pop_front();
        if self.queues[q].is_empty() {
            self.m -= 1;
        }
    }

    /// Rule 1: the oldest front to remove before `t` (it leaves the window, or the run is complete).
    fn expiring(&self, t: i64) -> Option<usize> {
        let q = self.oldest()?;
        let o = self.queues[q][0].0;
        (self.m >= self.n || o.saturating_add(self.w) < t).then_some(q)
    }

    /// Rules 2–4: drop the progress for an exclusion event, or place a step event; `only` is the run's value with
    /// attribution step 1.
    fn place(&mut self, e: &Ev, only: Option<u32>) {
        if e.steps == 0 {
            for q in &mut self.queues {
                q.clear();
            }
            self.m = 0;
            return;
        }
        let Some(q) = (1..=self.n)
            .filter(|k| e.steps & (1 << (k - 1)) != 0)
            .min_by_key(|&k| (self.queues[k - 1].back().map_or(i64::MIN, |b| b.0), k))
        else {
            return;
        };
        if self.m == 0 && only.is_some_and(|v| v != e.value) {
            return;
        }
        let q = &mut self.queues[q - 1];
        if q.is_empty() {
            self.m += 1;
        }
        q.push_back((e.ts, e.period));
    }

    fn front_times(&self) -> [i64; MAX_STEPS] {
        let mut times = [0; MAX_STEPS];
        let mut fronts: Vec<i64> = self
            .queues
            .iter()
            .filter_map(|q| q.front().map(|f| f.0))
            .collect();
        fronts.sort_unstable();
        times[..fronts.len()].copy_from_slice(&fronts);
        times
    }
}

/// An unordered run (§7) over events sorted by (timestamp, uuid).
pub(crate) fn unordered(events: &[Ev], n: usize, w: i64, only: Option<u32>) -> Outcome {
    let mut qs = Queues::new(n, w);
    let mut best = 0usize;
    let mut times = [0; MAX_STEPS];
    let record = |qs: &Queues, best: &mut usize, times: &mut [i64; MAX_STEPS]| {
        if qs.m > *best {
            *best = qs.m;
            *times = qs.front_times();
        }
    };
    for (i, e) in events.iter().enumerate() {
        while let Some(q) = qs.expiring(e.ts) {
            record(&qs, &mut best, &mut times);
            qs.pop(q);
        }
        qs.place(e, only);
        if best == n {
            break;
        }
        if i + 1 == events.len() {
            record(&qs, &mut best, &mut times);
        }
    }
    if best == 0 {
        Outcome::Out
    } else {
        Outcome::Reached { level: best, times }
    }
}

/// A person's entries in trend periods (§10): (period, converted).
pub(crate) type Entries = Vec<(u32, bool)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Clean,
    Partial,
    Full,
}

#[derive(Debug, Clone)]
struct TrendState {
    period: u32,
    /// Per step: the entry time of the attempt in the slot and its excluded flag.
    slots: [Option<(i64, bool)>; MAX_STEPS],
    level: usize,
    time: i64,
    status: Status,
}

impl TrendState {
    fn fresh(period: u32, t: i64) -> TrendState {
        let mut slots = [None; MAX_STEPS];
        slots[0] = Some((t, false));
        TrendState {
            period,
            slots,
            level: 1,
            time: t,
            status: Status::Clean,
        }
    }
}

/// The ordered or strict trend run of §10.2 over events sorted by (timestamp, lowest step role, uuid).
pub(crate) fn ordered_trends(
    events: &[Ev],
    n: usize,
    w: i64,
    strict: bool,
    only: Option<StepValue>,
    from_step: usize,
    to_step: usize,
) -> Entries {
    let mut open: Vec<TrendState> = Vec::new();
    let mut converted: Vec<u32> = Vec::new();
    let skip = |k: usize, e: &Ev| only.is_some_and(|o| o.step == k && o.value != e.value);
    for e in events {
        let t = e.ts;
        for j in roles_desc(e.excl).filter(|&j| (2..=n).contains(&j)) {
            for st in &mut open {
                let Some((entry, excluded)) = st.slots[j - 2] else {
                    continue;
                };
                if t - entry > w || st.slots[j - 1].is_some_and(|s| s.0 == entry) || excluded {
                    continue;
                }
                st.slots[j - 2] = Some((entry, true));
                if st.level == j - 1 && t - st.time <= w {
                    st.status = Status::Partial;
                }
            }
        }
        for k in roles_desc(e.steps).filter(|&k| k <= n) {
            if k == 1 {
                if skip(1, e) || converted.contains(&e.period) {
                    continue;
                }
                match open.iter_mut().find(|s| s.period == e.period) {
                    None => open.push(TrendState::fresh(e.period, t)),
                    Some(st) if st.level == 1 && st.status != Status::Clean => {
                        *st = TrendState::fresh(e.period, t);
                    }
                    Some(st) => st.slots[0] = Some((t, false)),
                }
                continue;
            }
            if skip(k, e) {
                continue;
            }
            let mut i = 0;
            while i < open.len() {
                let st = &mut open[i];
                let Some((entry, excluded)) = st.slots[k - 2] else {
                    i += 1;
                    continue;
                };
                if t - entry > w || st.slots[k - 1].is_some_and(|s| s.0 == entry) {
                    i += 1;
                    continue;
                }
                if !excluded {
                    st.slots[k - 1] = Some((entry, false));
                }
                if st.slots[to_step - 1].is_some() {
                    converted.push(st.period);
                    open.swap_remove(i);
                    continue;
                }
                if k > st.level || (k == st.level && st.status == Status::Partial) {
                    st.level = k;
                    st.time = t;
                    st.status = if excluded {
                        Status::Full
                    } else {
                        Status::Clean
                    };
                }
                i += 1;
            }
        }
        if strict {
            for st in &mut open {
                for k in 1..=n {
                    if e.steps & (1 << (k - 1)) == 0 {
                        st.slots[k - 1] = None;
                    }
                }
            }
        }
    }
    let mut out: Entries = converted.into_iter().map(|p| (p, true)).collect();
    if !open.iter().any(|s| s.status == Status::Full) {
        out.extend(
            open.iter()
                .filter(|s| s.level >= from_step && s.status == Status::Clean)
                .map(|s| (s.period, false)),
        );
    }
    out.sort_unstable();
    out
}

/// The unordered trend run of §10.3 over events sorted by (timestamp, uuid).
pub(crate) fn unordered_trends(
    events: &[Ev],
    n: usize,
    w: i64,
    only: Option<u32>,
    from_step: usize,
    to_step: usize,
) -> Entries {
    let mut qs = Queues::new(n, w);
    // Period → the largest m recorded for it.
    let mut seen: Vec<(u32, usize)> = Vec::new();
    let mut record = |qs: &Queues, q: usize| {
        let period = qs.queues[q][0].1;
        match seen.iter_mut().find(|s| s.0 == period) {
            Some(s) => s.1 = s.1.max(qs.m),
            None => seen.push((period, qs.m)),
        }
    };
    for e in events {
        while let Some(q) = qs.expiring(e.ts) {
            record(&qs, q);
            qs.pop(q);
        }
        qs.place(e, only);
    }
    while let Some(q) = qs.oldest() {
        record(&qs, q);
        qs.pop(q);
    }
    let mut out: Entries = seen
        .into_iter()
        .filter(|s| s.1 >= from_step)
        .map(|s| (s.0, s.1 >= to_step))
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn ev(ts: i64, tie: u64, steps: u32, excl: u32) -> Ev {
        Ev {
            ts,
            tie,
            steps,
            excl,
            value: 0,
            idx: tie as u32,
            period: 0,
        }
    }

    fn level(o: Outcome) -> i64 {
        match o {
            Outcome::Out => 0,
            Outcome::Removed => -1,
            Outcome::Reached { level, .. } => level as i64,
        }
    }

    /// Attempts sized to the funnel give the runs attempts sized to the longest funnel give, for every size class.
    #[test]
    fn attempts_sized_to_the_funnel_change_nothing() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..3000 {
            let n = 2 + (next() % (MAX_STEPS as u64 - 1)) as usize;
            let mask = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
            let len = 1 + (next() % 40) as usize;
            let mut t = 0;
            let events: Vec<Ev> = (0..len)
                .map(|i| {
                    t += (next() % 3) as i64 * H;
                    // Mostly one step per event, low steps more often; some exclusions.
                    let k = (next() % n as u64).min(next() % n as u64);
                    let steps = if next() % 8 == 0 {
                        0
                    } else {
                        (1u32 << k) | ((next() % 16 == 0) as u32 * (1 << ((k + 1) % n as u64)))
                    };
                    let excl = if next() % 10 == 0 {
                        (next() as u32) & mask & !1
                    } else {
                        0
                    };
                    ev(t, i as u64, steps & mask, excl)
                })
                .collect();
            let w = (1 + next() % 12) as i64 * H;
            let strict = next() % 3 == 0;
            assert_eq!(
                ordered(&events, n, w, strict, None),
                ordered_in::<MAX_STEPS>(&events, n, w, strict, None),
                "case {case}: n {n}, w {w}, strict {strict}, {events:?}"
            );
        }
    }

    #[test]
    fn roles_come_highest_first() {
        assert_eq!(roles_desc(0).count(), 0);
        assert_eq!(roles_desc(0b1011).collect::<Vec<_>>(), vec![4, 2, 1]);
        assert_eq!(
            roles_desc(u32::MAX).collect::<Vec<_>>(),
            (1..=32).rev().collect::<Vec<_>>()
        );
        assert_eq!(roles_desc(1 << 31).collect::<Vec<_>>(), vec![32]);
    }

    #[test]
    fn example_b_exclusions() {
        // signup = step 1, upgrade = step 2, cancel excludes step 2.
        let (s, u, c) = (1, 2, 2);
        let w = 24 * H;
        let fay = [
            ev(9 * H, 1, s, 0),
            ev(9 * H + H / 2, 2, 0, c),
            ev(10 * H, 3, u, 0),
        ];
        let gus = [ev(9 * H, 1, s, 0), ev(9 * H + H / 2, 2, 0, c)];
        let hal = [ev(9 * H, 1, s, 0), ev(34 * H, 2, 0, c)];
        let ivy = [
            ev(9 * H, 1, s, 0),
            ev(9 * H + H / 2, 2, 0, c),
            ev(12 * H, 3, s, 0),
            ev(13 * H, 4, u, 0),
        ];
        let jon = [
            ev(9 * H, 1, s, 0),
            ev(9 * H + H / 6, 2, u, 0),
            ev(9 * H + H / 3, 3, 0, c),
        ];
        let run = |x: &[Ev]| ordered(x, 2, w, false, None);
        assert_eq!(level(run(&fay)), -1);
        assert_eq!(level(run(&gus)), -1);
        assert_eq!(level(run(&hal)), 1);
        let Outcome::Reached { level: 2, times } = run(&ivy) else {
            panic!("ivy converts")
        };
        assert_eq!(times[1] - times[0], H);
        assert_eq!(level(run(&jon)), 2);
    }

    #[test]
    fn same_instant_events_count_in_funnel_order() {
        let x = [ev(0, 2, 2, 0), ev(0, 1, 1, 0)];
        let mut sorted = x;
        sorted.sort_by_key(|e| (e.ts, e.tie));
        assert_eq!(level(ordered(&sorted, 2, H, false, None)), 2);
        // One event cannot fill two steps of one attempt.
        let both = [ev(0, 1, 0b11, 0)];
        assert_eq!(level(ordered(&both, 2, H, false, None)), 1);
    }

    #[test]
    fn example_d_unordered() {
        let (a, b, c) = (1, 2, 4);
        let w = H;
        let m = |x: i64| x * 60_000_000;
        let lia = [
            ev(m(600), 1, c, 0),
            ev(m(620), 2, a, 0),
            ev(m(640), 3, b, 0),
        ];
        let max = [ev(m(600), 1, a, 0), ev(m(690), 2, b, 0)];
        let ned = [
            ev(m(600), 1, b, 0),
            ev(m(610), 2, 0, 0b110),
            ev(m(620), 3, a, 0),
        ];
        let Outcome::Reached { level: 3, times } = unordered(&lia, 3, w, None) else {
            panic!("lia completes")
        };
        assert_eq!(&times[..3], &[m(600), m(620), m(640)]);
        assert_eq!(level(unordered(&max, 3, w, None)), 1);
        assert_eq!(level(unordered(&ned, 3, w, None)), 1);
    }

    #[test]
    fn example_f_trends() {
        let d = 24 * H;
        let with = |ts: i64, tie: u64, steps: u32, period: u32| Ev {
            period,
            ..ev(ts, tie, steps, 0)
        };
        let oli = [
            with(10 * H, 1, 1, 0),
            with(11 * H, 2, 2, 0),
            with(d + 9 * H, 3, 1, 1),
        ];
        let pia = [with(23 * H, 1, 1, 0), with(d + 20 * H, 2, 2, 1)];
        assert_eq!(
            ordered_trends(&oli, 2, d, false, None, 1, 2),
            vec![(0, true), (1, false)]
        );
        assert_eq!(
            ordered_trends(&pia, 2, d, false, None, 1, 2),
            vec![(0, true)]
        );
    }
}
