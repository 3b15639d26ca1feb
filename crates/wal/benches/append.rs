//! Append throughput of the WAL: events/s and bytes/s of `Wal::append`, each call fsynced.
//!
//! - `append`: one thread, by batch size (events per record: 1, 16, 256, 4096).
//! - `append_concurrent`: 16-event batches from 1, 2, 4 and 8 threads, showing what group commit shares.
//!
//! Data is deterministic, with no RNG: event `i` of a batch has uuid `i`, user `user-{i % 97}`, a 60-byte
//! properties object and AI typed props. The log lives in a temporary directory, which is on the disk of
//! the machine running it. Every 64th append truncates the log so disk use stays bounded; that cost is included.
//!
//! Run: `cargo bench -p liucun-wal --bench append`

use divan::counter::{BytesCount, ItemsCount};
use liucun_wal::{Wal, WalConfig, codec};
use model::{Digest, Event, EventBatch, EventText, Project, Record, Timestamp, TypedProps, Uuid};

fn main() {
    divan::main();
}

#[divan::bench(args = [1, 16, 256, 4096])]
fn append(bencher: divan::Bencher, n_events: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), WalConfig::default()).expect("open");
    let record = batch(n_events);
    bencher
        .counter(ItemsCount::new(n_events))
        .counter(BytesCount::new(encoded_len(&record)))
        .bench_local(|| append_and_trim(&wal, &record));
}

#[divan::bench(threads = [1, 2, 4, 8])]
fn append_concurrent(bencher: divan::Bencher) {
    const N_EVENTS: usize = 16;
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), WalConfig::default()).expect("open");
    let record = batch(N_EVENTS);
    bencher
        .counter(ItemsCount::new(N_EVENTS))
        .counter(BytesCount::new(encoded_len(&record)))
        .bench(|| append_and_trim(&wal, &record));
}

fn append_and_trim(wal: &Wal, record: &Record) {
    let lsn = wal.append(divan::black_box(record)).expect("append");
    if lsn.0.is_multiple_of(64) {
        wal.truncate_through(lsn).expect("truncate");
    }
}

fn encoded_len(record: &Record) -> usize {
    let mut bytes = Vec::new();
    codec::encode(record, &mut bytes);
    bytes.len()
}

fn batch(n_events: usize) -> Record {
    let project = Project::new("bench").expect("valid name");
    let events = (0..n_events as u64)
        .map(|i| Event {
            uuid: Uuid(u128::from(i).to_be_bytes()),
            timestamp: Timestamp(1_700_000_000_000_000 + i as i64 * 1_000_000),
            digest: Digest([(i % 251) as u8; 32]),
            typed: TypedProps {
                ai_model: Some("model-a".into()),
                ai_input_tokens: Some(1200),
                ..TypedProps::default()
            },
            merge: None,
            received_at: Timestamp(1_700_000_000_000_000),
            text: EventText::new(
                &format!("user-{}", i % 97),
                "$ai_generation",
                r#"{"$ai_input_tokens":1200,"$ai_model":"model-a","plan":"pro"}"#,
                &format!("bench.ndjson:{i}"),
                "{}",
            ),
        })
        .collect();
    Record::Events(EventBatch::new(project, events, Vec::new()))
}
