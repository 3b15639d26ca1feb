//! Crash test: a child process appends batches through the WAL (flushing now and then) and prints each uuid once
//! its append is acknowledged; the parent SIGKILLs it at random moments, many times. After every kill the data
//! directory reopens and every acknowledged event is present exactly once.
//!
//! The child is this same test binary, re-run with `LIUCUN_CRASH_CHILD` set.

mod fixture;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use liucun::EngineConfig;
use liucun::model::Record;

const CHILD_ENV: &str = "LIUCUN_CRASH_CHILD";

/// The child's loop: append batches of 20 events forever, flushing every 7 batches.
fn child(dir: &str, start: u64) {
    let engine = fixture::open_with(
        std::path::Path::new(dir),
        EngineConfig {
            flush_events: 300,
            wal_file_bytes: 16 << 10,
            ..EngineConfig::default()
        },
    );
    let mut n = start;
    let mut out = std::io::stdout().lock();
    for round in 0u64.. {
        let mut text = String::new();
        let first = n;
        for _ in 0..20 {
            text += &fixture::line(
                n,
                &format!("u{}", n % 13),
                "chat_message",
                1 + (n % 28) as u32,
                "{}",
            );
            text.push('\n');
            n += 1;
        }
        engine
            .append(Record::Events(fixture::batch("chat", &text)))
            .expect("append");
        use std::io::Write;
        writeln!(out, "ack {first} {n}").expect("stdout");
        out.flush().expect("stdout");
        if round % 7 == 6 {
            engine.flush().expect("flush");
        }
    }
}

#[test]
fn acknowledged_events_survive_sigkill_exactly_once() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (dir, start) = spec.split_once('|').expect("dir|start");
        child(dir, start.parse().expect("start"));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut next_start = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let kills = 25;
    for round in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "acknowledged_events_survive_sigkill_exactly_once",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{}|{next_start}", dir.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let life = Duration::from_millis(30 + seed % 400);
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if let Some(rest) = l.strip_prefix("ack ") {
                    let (a, b) = rest.split_once(' ').unwrap();
                    acks.push((a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()));
                }
            }
            acks
        });
        let born = Instant::now();
        while born.elapsed() < life {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        for (a, b) in acks {
            acked.extend(a..b);
        }
        // Each child starts numbering past anything a previous one could have written, acknowledged or not.
        next_start += 1_000_000;
        // Reopen (replaying the WAL) and check.
        let engine = fixture::open(&dir);
        engine.flush().unwrap();
        let stored = fixture::stored(&engine);
        let stored_ids: BTreeSet<u64> = stored
            .keys()
            .map(|(_, u)| u64::from_str_radix(&u.replace('-', "")[20..], 16).unwrap())
            .collect();
        let missing: Vec<&u64> = acked.difference(&stored_ids).take(5).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged events missing after a crash: {missing:?}"
        );
    }
    assert!(
        acked.len() > 1000,
        "the children acknowledged too little to prove anything: {}",
        acked.len()
    );
}
