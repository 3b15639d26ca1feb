//! Recovery tests on real files: single-byte damage is always detected, torn tails are cut, and damaged or foreign
//! directories are refused with an error naming the file.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use liucun_wal::{Damage, Error, HEADER_LEN, Wal, WalConfig};
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
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path(), 2, 1 << 20);
    let path = wal_files(dir.path()).remove(0);
    let mut bytes = fs::read(&path).expect("read");
    bytes[8..10].copy_from_slice(&7u16.to_le_bytes());
    bytes.extend_from_slice(b"future frames");
    fs::write(&path, &bytes).expect("write");
    match open(dir.path()) {
        Err(Error::UnsupportedVersion { path: at, version }) => {
            assert_eq!((at, version), (path.clone(), 7))
        }
        other => panic!("expected unsupported version, got {other:?}"),
    }
    assert_eq!(
        fs::read(&path).expect("read"),
        bytes,
        "an unknown file is never cut"
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
