//! Generation throughput of liucun-gen, in events per second.
//!
//! What: the pull interface (`Generator::next_chunk`, owned `GenEvent`s) and `write_files` to Parquet (zstd) and
//! NDJSON, the five default apps written in parallel.
//! Data: `GenConfig::new(n, 42)` (five apps, 90 days from 2025-01-01) for n = 1M and 4M events; files go to a
//! temp dir.
//! Run: `cargo bench -p liucun-gen --bench gen`.

use divan::Bencher;
use divan::counter::ItemsCount;
use liucun_gen::{GenConfig, Generator, write_files};

fn main() {
    divan::main();
}

const SIZES: [u64; 2] = [1_000_000, 4_000_000];

#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn pull_events(bencher: Bencher, n: u64) {
    let cfg = GenConfig::new(n, 42);
    bencher.counter(ItemsCount::new(n)).bench(|| {
        let mut generator = Generator::new(&cfg);
        let mut out = Vec::new();
        let mut total = 0;
        while generator.next_chunk(65_536, &mut out) {
            total += out.len();
        }
        total
    });
}

#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn write_parquet(bencher: Bencher, n: u64) {
    write(bencher, n, "events.parquet");
}

#[divan::bench(args = SIZES, sample_count = 3, sample_size = 1)]
fn write_ndjson(bencher: Bencher, n: u64) {
    write(bencher, n, "events.ndjson");
}

fn write(bencher: Bencher, n: u64, name: &str) {
    let cfg = GenConfig::new(n, 42);
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = dir.path().join(name);
    bencher
        .counter(ItemsCount::new(n))
        .bench(|| write_files(&cfg, &out, &mut |_| {}).expect("files are written"));
}
