//! The WAL model test: random appends, truncations, reopens, torn tails and rotations run against the real log and
//! against a `Vec` of records; after every reopen the replay must match the model.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use liucun_wal::{HEADER_LEN, Replay, TornTail, Wal, WalConfig, codec};
use model::{Lsn, Record};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Record),
    /// Truncate through this lsn modulo the next lsn, so through one handed out so far (or 0).
    Truncate(u64),
    /// Reopen, possibly with another rotation threshold.
    Reopen {
        max_file_bytes: u64,
    },
    /// Close, chop this many bytes (modulo the frame bytes present) off the last file, reopen.
    TearTail(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => common::record().prop_map(Op::Append),
        1 => any::<u64>().prop_map(Op::Truncate),
        1 => max_file_bytes().prop_map(|max_file_bytes| Op::Reopen { max_file_bytes }),
        1 => any::<u16>().prop_map(Op::TearTail),
    ]
}

/// Small enough that most cases rotate several times.
fn max_file_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1), 64u64..2048, Just(1 << 20)]
}

/// What the log must contain.
#[derive(Debug, Default)]
struct Model {
    /// Every acknowledged record that was not torn off, in lsn order.
    records: Vec<(Lsn, Record)>,
    next_lsn: u64,
    /// Records at or below this lsn may be gone; all above must be replayed.
    truncated_through: u64,
}

impl Model {
    #[track_caller]
    fn assert_replay(&self, wal: &Wal, replay: &Replay) {
        let start = replay
            .records
            .first()
            .map_or(self.next_lsn, |(lsn, _)| lsn.0);
        assert!(
            start <= self.truncated_through + 1,
            "lost records after the truncation point: replay starts at {start}"
        );
        let want: Vec<_> = self
            .records
            .iter()
            .filter(|(lsn, _)| lsn.0 >= start)
            .cloned()
            .collect();
        assert_eq!(replay.records, want);
        self.assert_state(wal);
    }

    #[track_caller]
    fn assert_state(&self, wal: &Wal) {
        let state = wal.state();
        assert_eq!(state.next_lsn, Lsn(self.next_lsn));
        assert!(!state.files.is_empty(), "the active file always exists");
        assert_eq!(
            state.total_bytes,
            state.files.iter().map(|f| f.size_bytes).sum::<u64>()
        );
        for pair in state.files.windows(2) {
            let next = pair[0].last_lsn.map_or(pair[0].first_lsn.0, |l| l.0 + 1);
            assert_eq!(pair[1].first_lsn.0, next, "files are contiguous");
        }
        let last = state.files.last().expect("non-empty");
        assert_eq!(
            last.last_lsn.map_or(last.first_lsn.0, |l| l.0 + 1),
            self.next_lsn
        );
    }
}

fn open(dir: &Path, max_file_bytes: u64) -> (Wal, Replay) {
    Wal::open(dir, WalConfig { max_file_bytes })
        .expect("open must succeed: the model never corrupts the log")
}

fn frame_len(record: &Record) -> u64 {
    let mut body = Vec::new();
    codec::encode(record, &mut body);
    16 + body.len() as u64
}

fn run(initial_max_file_bytes: u64, ops: Vec<Op>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut max = initial_max_file_bytes;
    let (mut wal, replay) = open(dir.path(), max);
    let mut model = Model {
        next_lsn: 1,
        ..Model::default()
    };
    model.assert_replay(&wal, &replay);
    assert_eq!(replay.torn_tail, None);

    for op in ops {
        match op {
            Op::Append(record) => {
                let lsn = wal.append(&record).expect("append");
                assert_eq!(lsn, Lsn(model.next_lsn));
                model.records.push((lsn, record));
                model.next_lsn += 1;
                model.assert_state(&wal);
            }
            Op::Truncate(pick) => {
                let through = pick % model.next_lsn;
                wal.truncate_through(Lsn(through)).expect("truncate");
                model.truncated_through = model.truncated_through.max(through);
                model.assert_state(&wal);
                for file in &wal.state().files[..wal.state().files.len() - 1] {
                    let last = file.last_lsn.expect("only the active file may be empty").0;
                    assert!(
                        last > through,
                        "file {} should have been removed",
                        file.name
                    );
                }
            }
            Op::Reopen { max_file_bytes } => {
                drop(wal);
                max = max_file_bytes;
                let (reopened, replay) = open(dir.path(), max);
                wal = reopened;
                assert_eq!(replay.torn_tail, None);
                model.assert_replay(&wal, &replay);
            }
            Op::TearTail(chop) => {
                let state = wal.state();
                drop(wal);
                let last = state.files.last().expect("non-empty");
                let path = dir.path().join(&last.name);
                let frame_bytes = last.size_bytes - HEADER_LEN as u64;
                let chop = u64::from(chop) % (frame_bytes + 1);
                let new_len = last.size_bytes - chop;

                // Walk the frames of the last file to see which survive the chop.
                let mut end = HEADER_LEN as u64;
                let mut next_lsn = last.first_lsn.0;
                for (lsn, record) in model
                    .records
                    .iter()
                    .filter(|(lsn, _)| *lsn >= last.first_lsn)
                {
                    let frame_end = end + frame_len(record);
                    if frame_end > new_len {
                        break;
                    }
                    end = frame_end;
                    next_lsn = lsn.0 + 1;
                }
                let want_torn = (end < new_len).then(|| TornTail {
                    path: path.clone(),
                    offset: end,
                    bytes_cut: new_len - end,
                });
                model.records.retain(|(lsn, _)| lsn.0 < next_lsn);
                model.next_lsn = next_lsn;
                model.truncated_through = model.truncated_through.min(next_lsn - 1);

                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .expect("open last file");
                file.set_len(new_len).expect("chop");
                drop(file);
                let (reopened, replay) = open(dir.path(), max);
                wal = reopened;
                assert_eq!(replay.torn_tail, want_torn);
                model.assert_replay(&wal, &replay);
            }
        }
    }
    drop(wal);
    let (wal, replay) = open(dir.path(), max);
    model.assert_replay(&wal, &replay);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn replay_matches_the_model(max in max_file_bytes(), ops in prop::collection::vec(op(), 0..40)) {
        run(max, ops);
    }
}

#[test]
fn truncating_everything_keeps_the_next_lsn() {
    run(
        1 << 20,
        vec![
            Op::Append(common::small_record(1)),
            Op::Append(common::small_record(2)),
            Op::Truncate(2),
            Op::Reopen {
                max_file_bytes: 1 << 20,
            },
            Op::Append(common::small_record(3)),
        ],
    );
}

#[test]
fn a_torn_record_frees_its_lsn_for_the_next_append() {
    run(
        1,
        vec![
            Op::Append(common::small_record(1)),
            Op::Append(common::small_record(2)),
            Op::TearTail(1),
            Op::Append(common::small_record(3)),
            Op::Reopen { max_file_bytes: 1 },
        ],
    );
}
