//! Project settings on disk: `settings.json` in the data directory, one [`ProjectSettings`] per project.
//!
//! The file is small and replaced atomically (write, fsync, rename, fsync the directory) under `settings.lock`, so it
//! can be changed while a server runs: the next report reads the new settings, and every report records what it
//! applied in its own parameters.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use report::settings::ProjectSettings;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const FILE_NAME: &str = "settings.json";
const LOCK_NAME: &str = "settings.lock";
const VERSION: u32 = 1;
/// A settings file past this size is refused rather than read.
const MAX_FILE_BYTES: u64 = 16 << 20;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    version: u32,
    #[serde(default)]
    projects: BTreeMap<String, ProjectSettings>,
}

/// Every project's stored settings (an absent file holds none).
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Store`] with a corruption naming the file when it does
/// not parse: the data directory's fault, not the request's, so the server answers it as an internal error.
pub fn load(dir: &Path) -> Result<BTreeMap<String, ProjectSettings>> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            return Err(damaged(
                &path,
                format!(
                    "{} bytes is more than a settings file holds ({MAX_FILE_BYTES})",
                    m.len()
                ),
            ));
        }
        Ok(_) => std::fs::read(&path).map_err(|e| io(&path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io(&path, e)),
    };
    let file: SettingsFile =
        serde_json::from_slice(&bytes).map_err(|e| damaged(&path, e.to_string()))?;
    if file.version != VERSION {
        return Err(damaged(
            &path,
            format!(
                "version {} is not one this liucun reads ({VERSION})",
                file.version
            ),
        ));
    }
    Ok(file.projects)
}

/// One project's stored settings (the defaults when it has none).
///
/// # Errors
/// [`Error::Invalid`] for a name no project can have; as [`load`].
pub fn get(dir: &Path, project: &str) -> Result<ProjectSettings> {
    model::Project::new(project).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(load(dir)?.remove(project).unwrap_or_default())
}

/// Changes one project's settings with `change`, validates the result and stores it; returns the new settings.
/// Concurrent updates are serialised by a lock file, so none is lost.
///
/// # Errors
/// [`Error::Report`] naming the field when the new settings are invalid (nothing is written), IO errors.
pub fn update(
    dir: &Path,
    project: &str,
    change: impl FnOnce(&mut ProjectSettings),
) -> Result<ProjectSettings> {
    model::Project::new(project).map_err(|e| Error::Invalid(e.to_string()))?;
    let lock_path = dir.join(LOCK_NAME);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io(&lock_path, e))?;
    lock.lock().map_err(|e| io(&lock_path, e))?;
    let mut all = load(dir)?;
    let mut settings = all.remove(project).unwrap_or_default();
    change(&mut settings);
    settings.validate()?;
    if settings != ProjectSettings::default() {
        all.insert(project.to_string(), settings.clone());
    }
    let file = SettingsFile {
        version: VERSION,
        projects: all,
    };
    let mut bytes = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::Invalid(format!("settings do not serialise: {e}")))?;
    bytes.push(b'\n');
    store::write_atomic(&dir.join(FILE_NAME), &bytes)?;
    drop(lock);
    Ok(settings)
}

fn damaged(path: &Path, reason: String) -> Error {
    Error::Store(store::Error::Corruption {
        path: PathBuf::from(path),
        offset: 0,
        reason,
    })
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::from(path),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_invalid_ones_write_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("absent file").is_empty());
        let s = update(dir.path(), "chat", |s| {
            s.timezone = Some("Asia/Shanghai".into());
        })
        .expect("valid");
        assert_eq!(s.timezone(), "Asia/Shanghai");
        assert_eq!(get(dir.path(), "chat").expect("reads"), s);
        let e = update(dir.path(), "chat", |s| {
            s.timezone = Some("Nowhere/Special".into());
        })
        .expect_err("invalid zone");
        assert!(e.to_string().contains("timezone"), "{e}");
        assert_eq!(get(dir.path(), "chat").expect("reads"), s, "unchanged");
        update(dir.path(), "chat", |s| *s = ProjectSettings::default()).expect("reset");
        assert!(load(dir.path()).expect("reads").is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").expect("write");
        let e = load(dir.path()).expect_err("damaged");
        assert!(e.to_string().contains("settings.json"), "{e}");
        assert!(
            matches!(e, Error::Store(_)),
            "the directory's fault, not the request's: {e}"
        );
        assert!(matches!(get(dir.path(), ".."), Err(Error::Invalid(_))));
    }
}
