//! Recovery tests on real files: single-byte damage is always detected, torn tails are cut, and damaged or foreign
//! directories are refused with an error naming the file.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use liucun_wal::{Damage, Error, FORMAT_VERSION, HEADER_LEN, Wal, WalConfig};
use model::{Lsn, Record};

/// A closed log with `n` small records, rotated so that there are several files.
fn write_log(dir: &Path, n: u64, max_file_bytes: u64) -> Vec<(Lsn, Record)> {
    let (wal, _) = Wal::open(dir, WalConfig { max_file_bytes }).expect("open");
    (1..=n)
        .map(|i| {
            let record = common::small_record(i);
            (wal.append(&record).expect("append"), record)
        })
        .collect()
}

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| is_wal(p))
        .collect();
    files.sort();
    files
}

fn is_wal(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wal")
}

fn open(dir: &Path) -> Result<(Wal, liucun_wal::Replay), Error> {
    Wal::open(dir, WalConfig::default())
}

#[test]
fn every_single_byte_flip_is_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let frame_bytes = {
        let probe = tempfile::tempdir().expect("tempdir");
        write_log(probe.path(), 1, 1 << 20);
        fs::metadata(&wal_files(probe.path())[0])
            .expect("stat")
            .len()
            - HEADER_LEN as u64
    };
    // Three frames per file, three files.
    let records = write_log(dir.path(), 9, HEADER_LEN as u64 + 3 * frame_bytes);
    let files = wal_files(dir.path());
    assert_eq!(files.len(), 3);
    let pristine: Vec<Vec<u8>> = files.iter().map(|p| fs::read(p).expect("read")).collect();

    let mut n_torn = 0;
    for (f, path) in files.iter().enumerate() {
        let last_frame_start = pristine[f].len() - frame_bytes as usize;
        for i in 0..pristine[f].len() {
            for mask in [0x01u8, 0xff] {
                let mut bytes = pristine[f].clone();
                bytes[i] ^= mask;
                fs::write(path, &bytes).expect("write damaged");
                let context = format!("byte {i} of {} xor {mask:#x}", path.display());
                match open(dir.path()) {
                    Err(Error::Corruption {
                        path: at,
                        offset,
                        reason,
                    }) => {
                        assert_eq!(&at, path, "{context}: {reason}");
                        assert!(
                            offset <= i as u64,
                            "{context}: reported offset {offset} is past the damage"
                        );
                    }
                    Err(Error::UnsupportedVersion { path: at, .. }) => {
                        assert_eq!(&at, path, "{context}");
                        assert!(
                            (8..10).contains(&i),
                            "{context}: only the version bytes may look like a version"
                        );
                    }
                    Ok((_, replay)) => {
                        let tail = replay
                            .torn_tail
                            .unwrap_or_else(|| panic!("{context}: damage went unnoticed"));
                        assert_eq!(
                            f,
                            files.len() - 1,
                            "{context}: torn tail outside the last file"
                        );
                        assert!(
                            i >= last_frame_start,
                            "{context}: torn tail before the last frame"
                        );
                        assert_eq!(tail.offset, last_frame_start as u64, "{context}");
                        assert_eq!(replay.records, records[..records.len() - 1], "{context}");
                        n_torn += 1;
                    }
                    Err(e) => panic!("{context}: unexpected error {e}"),
                }
                fs::write(path, &pristine[f]).expect("restore");
            }
        }
    }
    assert_eq!(
        n_torn,
        2 * frame_bytes,
        "every flip in the last frame is a torn tail"
    );
    let (_, replay) = open(dir.path()).expect("restored log opens");
    assert_eq!(replay.records, records);
}

#[test]
fn a_cut_in_an_older_file_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 4, 1);
    let files = wal_files(dir.path());
    let len = fs::metadata(&files[1]).expect("stat").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .expect("open")
        .set_len(len - 1)
        .expect("cut");
    match open(dir.path()) {
        Err(Error::Corruption {
            path,
            offset,
            reason,
        }) => {
            assert_eq!(
                (path, offset, reason),
                (files[1].clone(), HEADER_LEN as u64, Damage::Truncated)
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_missing_middle_file_is_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 4, 1);
    let files = wal_files(dir.path());
    fs::remove_file(&files[1]).expect("remove");
    match open(dir.path()) {
        Err(Error::Corruption { path, reason, .. }) => {
            assert_eq!(path, files[2]);
            assert_eq!(
                reason,
                Damage::LsnGap {
                    expected: Lsn(2),
                    found: Lsn(3)
                }
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_file_from_an_unknown_version_is_refused_and_left_alone() {
    let future = FORMAT_VERSION + 1;
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 2, 1 << 20);
    let path = wal_files(dir.path()).remove(0);
    let mut bytes = fs::read(&path).expect("read");
    bytes[8..10].copy_from_slice(&future.to_le_bytes());
    bytes.extend_from_slice(b"future frames");
    fs::write(&path, &bytes).expect("write");
    match open(dir.path()) {
        Err(e @ Error::UnsupportedVersion { .. }) => {
            let message = e.to_string();
            let Error::UnsupportedVersion { path: at, version } = e else {
                unreachable!("matched above")
            };
            assert_eq!((at, version), (path.clone(), future));
            assert!(
                message.contains(&format!("unsupported format version {future}")),
                "the message names the version: {message}"
            );
        }
        other => panic!("expected unsupported version, got {other:?}"),
    }
    assert_eq!(
        fs::read(&path).expect("read"),
        bytes,
        "an unknown file is never cut"
    );
}

/// The header version of a log file.
fn file_version(path: &Path) -> u16 {
    let bytes = fs::read(path).expect("read");
    u16::from_le_bytes([bytes[8], bytes[9]])
}

#[test]
fn current_logs_round_trip_the_sensors_merge_sources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records: Vec<(Lsn, Record)> = {
        let (wal, _) = open(dir.path()).expect("open");
        (1..=3)
            .map(|i| {
                let record = common::sensors_record(i);
                (wal.append(&record).expect("append"), record)
            })
            .collect()
    };
    let (_wal, replay) = open(dir.path()).expect("reopen");
    assert_eq!(replay.records, records);
    assert_eq!(
        file_version(&wal_files(dir.path())[0]),
        FORMAT_VERSION,
        "new files carry the current version"
    );
}

#[test]
fn a_version_1_log_still_opens_and_new_records_go_to_a_new_file() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1");
    let dir = tempfile::tempdir().expect("tempdir");
    for path in wal_files(&fixture) {
        fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    let old_file = wal_files(dir.path()).remove(0);
    let old_bytes = fs::read(&old_file).expect("read");
    assert_eq!(file_version(&old_file), 1, "the fixture is a version-1 log");

    let v1_records: Vec<(Lsn, Record)> = (1..).map(Lsn).zip(common::v1_records()).collect();
    let (wal, replay) = open(dir.path()).expect("a version-1 log opens");
    assert_eq!(replay.records, v1_records);
    let next = Lsn(v1_records.len() as u64 + 1);
    assert_eq!(
        wal.append(&common::sensors_record(9)).expect("append"),
        next
    );
    drop(wal);

    let files = wal_files(dir.path());
    assert_eq!(
        files.len(),
        2,
        "appends start a file of the current version"
    );
    assert_eq!(
        fs::read(&files[0]).expect("read"),
        old_bytes,
        "the old file is left as it was"
    );
    assert_eq!(file_version(&files[1]), FORMAT_VERSION);
    let (wal, replay) = open(dir.path()).expect("a mixed log opens");
    let mut all = v1_records.clone();
    all.push((next, common::sensors_record(9)));
    assert_eq!(replay.records, all);

    wal.truncate_through(next).expect("truncate");
    assert_eq!(
        wal_files(dir.path()).len(),
        1,
        "the old file goes with truncation"
    );
    assert_eq!(file_version(&wal_files(dir.path())[0]), FORMAT_VERSION);
}

#[test]
fn an_empty_version_1_file_is_replaced_by_a_current_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()).expect("create"));
    let path = wal_files(dir.path()).remove(0);
    let mut header = fs::read(&path).expect("read");
    header[8..10].copy_from_slice(&1u16.to_le_bytes());
    let crc = crc32fast::hash(&header[..18]);
    header[18..22].copy_from_slice(&crc.to_le_bytes());
    fs::write(&path, &header).expect("write");

    let (wal, replay) = open(dir.path()).expect("open");
    assert!(replay.records.is_empty());
    assert_eq!(wal_files(dir.path()), vec![path.clone()]);
    assert_eq!(file_version(&path), FORMAT_VERSION);
    assert_eq!(
        wal.append(&common::sensors_record(1)).expect("append"),
        Lsn(1)
    );
}

#[test]
fn a_renamed_file_is_caught_by_its_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 1, 1 << 20);
    let path = wal_files(dir.path()).remove(0);
    let renamed = dir.path().join("00000000000000000005.wal");
    fs::rename(&path, &renamed).expect("rename");
    match open(dir.path()) {
        Err(Error::Corruption { path, reason, .. }) => {
            assert_eq!(path, renamed);
            assert_eq!(
                reason,
                Damage::NameMismatch {
                    name: Lsn(5),
                    header: Lsn(1)
                }
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn stray_files_are_handled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = write_log(dir.path(), 2, 1 << 20);
    fs::write(
        dir.path().join("00000000000000000003.wal.tmp"),
        b"half a header",
    )
    .expect("write tmp");
    fs::write(dir.path().join("notes.txt"), b"not ours").expect("write other");
    let (wal, replay) = open(dir.path()).expect("open");
    assert_eq!(replay.records, records);
    assert!(
        !dir.path().join("00000000000000000003.wal.tmp").exists(),
        "unfinished files are removed"
    );
    assert!(
        dir.path().join("notes.txt").exists(),
        "unknown files are left alone"
    );
    drop(wal);

    fs::write(dir.path().join("garbage.wal"), b"").expect("write bad name");
    match open(dir.path()) {
        Err(Error::Corruption { reason, .. }) => assert_eq!(reason, Damage::BadFileName),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn zeros_after_the_last_frame_are_a_torn_tail() {
    // A crash can leave a grown file whose new blocks were never written.
    let dir = tempfile::tempdir().expect("tempdir");
    let records = write_log(dir.path(), 3, 1 << 20);
    let path = wal_files(dir.path()).remove(0);
    let len = fs::metadata(&path).expect("stat").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len + 4096)
        .expect("grow");
    let (wal, replay) = open(dir.path()).expect("open");
    assert_eq!(replay.records, records);
    let tail = replay.torn_tail.expect("torn tail");
    assert_eq!(
        (tail.path, tail.offset, tail.bytes_cut),
        (path.clone(), len, 4096)
    );
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        len,
        "the tail is cut on disk"
    );
    assert_eq!(
        wal.append(&common::small_record(4)).expect("append"),
        Lsn(4)
    );
}
