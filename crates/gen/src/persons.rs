//! The persons file of a generated app: what a CRM export would say about its users, for `liucun import --persons`.
//!
//! One NDJSON record per person, `{"distinct_ids", "properties", "created_at"}`, for a fixed subset of the app's
//! users (about a quarter): the user's login id and anonymous id (the merge their `$identify` makes, when they log
//! in), a `plan` and a `country`, and the start of their signup day. A few records (about one in forty) also carry
//! the login id of the next user, as when one person signed up twice: importing the file merges those two users.
//! Like the events, the file is a pure function of the config and the number of users.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::app::PreparedApp;
use crate::{Error, GenConfig, GenFile, json, rng};

/// Keys the random stream that picks the users in the persons file.
const PERSONS_KEY: u64 = 0x9E25_0F11_E000_0001;

const PLANS: [&str; 3] = ["free", "plus", "pro"];
const COUNTRIES: [&str; 6] = ["CN", "US", "DE", "JP", "BR", "IN"];

/// The persons file beside an app's events file: `persons.<project>.ndjson` in the same directory.
pub fn persons_path(events: &Path, project: &str) -> PathBuf {
    events.with_file_name(format!("persons.{project}.ndjson"))
}

/// Writes the persons file of a generated app (see the module docs) to [`persons_path`]; returns its path and the
/// number of records.
///
/// # Errors
/// An invalid config, an app `file` the config does not name, or an IO failure (the file is removed).
pub fn write_persons(cfg: &GenConfig, file: &GenFile) -> Result<(PathBuf, u64), Error> {
    cfg.validate()?;
    let app = PreparedApp::all(cfg)
        .into_iter()
        .find(|a| a.profile.project == file.project)
        .ok_or_else(|| Error::UnknownApp(file.project.clone()))?;
    let path = persons_path(&file.path, &file.project);
    let mut out = String::new();
    let mut n = 0u64;
    for user_idx in 0..file.n_users {
        if push_person(&app, user_idx, file.n_users, &mut out) {
            n += 1;
        }
    }
    let written = fs::File::create(&path)
        .and_then(|mut f| f.write_all(out.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(Error::io(&path)(e));
    }
    Ok((path, n))
}

/// Appends user `user_idx`'s record when the user is in the file; returns whether it was.
fn push_person(app: &PreparedApp, user_idx: u64, n_users: u64, out: &mut String) -> bool {
    let pick = rng::mix(app.seed ^ PERSONS_KEY, user_idx);
    if !pick.is_multiple_of(4) {
        return false;
    }
    out.push_str("{\"distinct_ids\":[\"u-");
    json::push_u64(out, user_idx + 1);
    out.push_str("\",\"anon-");
    json::push_hex64(out, app.anon_hex(user_idx));
    out.push('"');
    if (pick >> 8).is_multiple_of(10) && user_idx + 1 < n_users {
        // One person, two sign-ups: the next user's login id joins this person.
        out.push_str(",\"u-");
        json::push_u64(out, user_idx + 2);
        out.push('"');
    }
    out.push_str("],\"properties\":{\"plan\":");
    json::push_str(out, PLANS[((pick >> 16) % PLANS.len() as u64) as usize]);
    out.push_str(",\"country\":");
    json::push_str(
        out,
        COUNTRIES[((pick >> 24) % COUNTRIES.len() as u64) as usize],
    );
    out.push_str("},\"created_at\":\"");
    json::push_timestamp(out, app.signup_day_start_us(user_idx));
    out.push_str("\"}\n");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_persons_file_is_seeded_valid_and_holds_a_few_merges() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = GenConfig::new(20_000, 7);
        cfg.apps.truncate(1);
        let files = crate::write_files(&cfg, &tmp.path().join("e.ndjson"), &mut |_| {}).unwrap();
        let (path, n) = write_persons(&cfg, &files[0]).unwrap();
        assert_eq!(
            path,
            tmp.path()
                .join(format!("persons.{}.ndjson", files[0].project))
        );
        let first = std::fs::read(&path).unwrap();
        write_persons(&cfg, &files[0]).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            first,
            "same config, same bytes"
        );
        let text = String::from_utf8(first).unwrap();
        let mut twice = 0;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let ids = v["distinct_ids"].as_array().unwrap();
            assert!(ids[0].as_str().unwrap().starts_with("u-"), "{line}");
            assert!(ids[1].as_str().unwrap().starts_with("anon-"), "{line}");
            twice += usize::from(ids.len() == 3);
            assert!(v["created_at"].as_str().unwrap().ends_with('Z'), "{line}");
        }
        assert_eq!(text.lines().count() as u64, n);
        assert!(
            n > 10 && twice > 0 && twice * 4 < n as usize,
            "{n} records, {twice} merges"
        );
        // The anonymous ids are the ones the events use.
        let events = std::fs::read_to_string(&files[0].path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert!(events.contains(v["distinct_ids"][1].as_str().unwrap()));
    }
}
