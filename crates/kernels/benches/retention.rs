//! Retention kernel throughput (events/s) on synthetic columns.
//!
//! Data: `n` events spread over 90 daily periods for `n / 40` persons, drawn from a fixed-seed SplitMix64 stream;
//! every event is a start and a returning event. Measured: first-time and recurring daily retention with 30 columns,
//! the grid lookup included.
//!
//! Run: `cargo bench -p liucun-kernels --bench retention`

use divan::{Bencher, counter::ItemsCount};
use liucun_kernels::{BucketMode, Mode, PeriodGrid, RetentionColumns, RetentionConfig, retention};

fn main() {
    divan::main();
}

const DAY: i64 = 86_400_000_000;

struct Data {
    person: Vec<u32>,
    ts: Vec<i64>,
    mask: Vec<bool>,
    n_persons: usize,
}

fn data(n: usize) -> Data {
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let n_persons = (n / 40).max(1);
    let mut d = Data {
        person: Vec::with_capacity(n),
        ts: Vec::with_capacity(n),
        mask: vec![true; n],
        n_persons,
    };
    for _ in 0..n {
        d.person.push((next() % n_persons as u64) as u32);
        d.ts.push((next() % (90 * DAY as u64)) as i64);
    }
    d
}

fn run(bencher: Bencher<'_, '_>, n: usize, mode: Mode) {
    let d = data(n);
    let grid = PeriodGrid::new((0..90).map(|k| k * DAY).collect(), 90 * DAY);
    let cfg = RetentionConfig {
        mode,
        columns: 30,
        spans: Vec::new(),
        min_occurrences: 1,
        cumulative: false,
        buckets: BucketMode::None,
        n_buckets: 1,
        n_persons: d.n_persons,
    };
    let cols = RetentionColumns {
        person: &d.person,
        ts: &d.ts,
        uuid: &[],
        start: &d.mask,
        anchor: &d.mask,
        returning: &d.mask,
        event_bucket: &[],
        person_bucket: &[],
    };
    bencher
        .counter(ItemsCount::new(n))
        .bench(|| retention(&cols, &grid, &cfg));
}

#[divan::bench(args = [1_000_000, 10_000_000])]
fn first_time(bencher: Bencher<'_, '_>, n: usize) {
    run(bencher, n, Mode::FirstTime);
}

#[divan::bench(args = [1_000_000, 10_000_000])]
fn recurring(bencher: Bencher<'_, '_>, n: usize) {
    run(bencher, n, Mode::Recurring);
}
