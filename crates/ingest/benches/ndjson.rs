//! NDJSON validation throughput: `ndjson_chunk` over one synthetic chunk of 100 000 lines.
//!
//! Data: lines like `{"uuid":…,"distinct_id":"u-N","event":"chat_message","timestamp":…,"properties":{"$ai_model":
//! "gpt-4o","$ai_input_tokens":…,…}}`, built deterministically inside the bench (1 000 users, every 10th line
//! without a uuid so the content-derived uuid is exercised). Reports events/s.
//!
//! Run: `cargo bench -p liucun-ingest --bench ndjson`

use divan::counter::ItemsCount;

use liucun_ingest::{Config, ndjson_chunk};
use model::{Project, Timestamp};

const N_LINES: usize = 100_000;

fn main() {
    divan::main();
}

fn chunk() -> Vec<u8> {
    let mut out = Vec::with_capacity(N_LINES * 330);
    for i in 0..N_LINES {
        let uuid = if i % 10 == 0 {
            String::new()
        } else {
            format!(
                r#""uuid":"0195f0c2-{:04x}-7000-8000-{:012x}","#,
                i % 65_536,
                i
            )
        };
        let line = format!(
            r#"{{{uuid}"distinct_id":"u-{user}","event":"chat_message","timestamp":"2025-03-01T10:{min:02}:{sec:02}Z","properties":{{"$ai_model":"gpt-4o","$ai_provider":"openai","$ai_input_tokens":{input},"$ai_output_tokens":{output},"$ai_total_cost_usd":0.00{cost},"conversation":"c-{conv}","plan":"pro"}}}}"#,
            user = i % 1000,
            min = i / 60 % 60,
            sec = i % 60,
            input = 100 + i % 900,
            output = 10 + i % 300,
            cost = 1000 + i % 9000,
            conv = i % 7919,
        );
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn ndjson_100k_lines(bencher: divan::Bencher) {
    let data = chunk();
    let project = Project::new("bench").expect("valid project name");
    let cfg = Config::new(Timestamp(1_740_830_400_000_000));
    bencher.counter(ItemsCount::new(N_LINES)).bench(|| {
        let batch = ndjson_chunk(&project, divan::black_box(&data), "bench.ndjson", 1, &cfg);
        assert_eq!(batch.events().len(), N_LINES);
        batch
    });
}
