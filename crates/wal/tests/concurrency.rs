//! Group commit under concurrency: appends from several threads get distinct lsns, all replay, and share fsyncs.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::thread;

use liucun_wal::{Wal, WalConfig};
use model::{Lsn, Record};

const THREADS: u64 = 8;
const APPENDS_PER_THREAD: u64 = 64;

#[test]
fn concurrent_appends_share_fsyncs_and_all_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(dir.path(), WalConfig::default()).expect("open");
    let wal = Arc::new(wal);
    let fsyncs_at_open = wal.state().fsyncs;
    let barrier = Arc::new(Barrier::new(THREADS as usize));

    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let wal = Arc::clone(&wal);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                (0..APPENDS_PER_THREAD)
                    .map(|i| {
                        let record = common::small_record(t * 1000 + i);
                        (wal.append(&record).expect("append"), record)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: BTreeMap<Lsn, Record> = BTreeMap::new();
    for handle in handles {
        for (lsn, record) in handle.join().expect("appender thread") {
            assert!(
                acked.insert(lsn, record).is_none(),
                "lsn {lsn} handed out twice"
            );
        }
    }

    let total = THREADS * APPENDS_PER_THREAD;
    let lsns: Vec<u64> = acked.keys().map(|l| l.0).collect();
    assert_eq!(lsns, (1..=total).collect::<Vec<_>>());
    let state = wal.state();
    assert_eq!(state.appends, total);
    let fsyncs = state.fsyncs - fsyncs_at_open;
    assert!(
        fsyncs < total,
        "group commit should share fsyncs: {fsyncs} fsyncs for {total} appends"
    );

    drop(wal);
    let (_, replay) = Wal::open(dir.path(), WalConfig::default()).expect("reopen");
    assert_eq!(replay.records, acked.into_iter().collect::<Vec<_>>());
}

#[test]
fn concurrent_appends_across_rotations_stay_ordered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(
        dir.path(),
        WalConfig {
            max_file_bytes: 512,
        },
    )
    .expect("open");
    let wal = Arc::new(wal);
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let wal = Arc::clone(&wal);
            thread::spawn(move || {
                for i in 0..32 {
                    wal.append(&common::small_record(t * 1000 + i))
                        .expect("append");
                    if i % 8 == 7 {
                        wal.truncate_through(Lsn(t * 8 + i)).expect("truncate");
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("appender thread");
    }
    let state = wal.state();
    assert_eq!(state.next_lsn, Lsn(129));
    drop(wal);
    let (_, replay) = Wal::open(
        dir.path(),
        WalConfig {
            max_file_bytes: 512,
        },
    )
    .expect("reopen");
    let first = replay.records.first().map_or(129, |(lsn, _)| lsn.0);
    let lsns: Vec<u64> = replay.records.iter().map(|(l, _)| l.0).collect();
    assert_eq!(lsns, (first..129).collect::<Vec<_>>());
}
