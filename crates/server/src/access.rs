//! Projects and keys (ingest.md §7): the access registry of a data directory, `access.json`.
//!
//! Write tokens are public (they sit in web pages) and are stored as they are; read and admin keys are stored as
//! SHA-256 only and shown once. The file is replaced atomically and guarded by `access.lock`, so the command line
//! can create keys while a server runs; the server reloads the file when it changes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// File name of the registry inside the data directory.
pub const FILE_NAME: &str = "access.json";
const LOCK_NAME: &str = "access.lock";
const VERSION: u32 = 1;

/// Access registry errors.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Reading or writing the registry failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The registry does not parse.
    #[error("{path} is damaged: {message}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A request that can never succeed (unknown project, bad name, duplicate).
    #[error("{0}")]
    Invalid(String),
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The name or token is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The registry file can be read or written by other users: its write tokens are in clear text.
    #[error(
        "{path} is accessible to other users (mode {mode:o}); it holds write tokens and key hashes: run `chmod 600 {path}`"
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The kinds of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Captures events for one project.
    Write,
    /// Reads reports, events and the quarantine of its projects.
    Read,
    /// Manages projects and keys, and reads everything.
    Admin,
}

impl KeyKind {
    fn prefix(self) -> &'static str {
        match self {
            KeyKind::Write => "lcw_",
            KeyKind::Read => "lcr_",
            KeyKind::Admin => "lca_",
        }
    }

    fn random_chars(self) -> usize {
        match self {
            KeyKind::Write => 32,
            KeyKind::Read | KeyKind::Admin => 40,
        }
    }

    /// Parses `write`, `read` or `admin`.
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "write" => Some(KeyKind::Write),
            "read" => Some(KeyKind::Read),
            "admin" => Some(KeyKind::Admin),
            _ => None,
        }
    }
}

/// A project known to the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectEntry {
    /// The project name (events.md project rules).
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One key. Secrets are never stored for read and admin keys, only their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// The first 8 characters, used to name the key in lists, logs and revocation.
    pub prefix: String,
    /// What it may do.
    pub kind: KeyKind,
    /// The project of a write or read key; `None` for admin keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// A write token in plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Hex SHA-256 of a read or admin key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl KeyEntry {
    fn active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// The registry as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// Format version.
    pub version: u32,
    /// Projects by name.
    pub projects: Vec<ProjectEntry>,
    /// Every key ever created, revoked ones included.
    pub keys: Vec<KeyEntry>,
}

/// Who a presented credential is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A read key of one project.
    Reader {
        /// The project it reads.
        project: String,
        /// Its prefix, for logs.
        prefix: String,
    },
    /// An admin key.
    Admin {
        /// Its prefix, for logs.
        prefix: String,
    },
}

impl Principal {
    /// Whether this principal may read `project`.
    pub fn can_read(&self, project: &str) -> bool {
        match self {
            Principal::Reader { project: p, .. } => p == project,
            Principal::Admin { .. } => true,
        }
    }

    /// The key prefix, for logs.
    pub fn prefix(&self) -> &str {
        match self {
            Principal::Reader { prefix, .. } | Principal::Admin { prefix } => prefix,
        }
    }
}

/// The outcome of checking a bearer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerCheck {
    /// A read or admin key.
    Ok(Principal),
    /// A write token: it can only capture.
    WriteToken,
    /// Unknown or revoked.
    Unknown,
}

/// The registry of a data directory, cached in memory and reloaded when the file changes.
#[derive(Debug)]
pub struct Access {
    dir: PathBuf,
    state: RwLock<Cached>,
    /// SHA-256 of an admin key given through the environment or a file, not stored in the registry.
    extra_admin: Option<[u8; 32]>,
}

#[derive(Debug, Default)]
struct Cached {
    registry: Registry,
    modified: Option<SystemTime>,
    write_tokens: BTreeMap<String, String>,
}

impl Cached {
    fn new(registry: Registry, modified: Option<SystemTime>) -> Cached {
        let write_tokens = registry
            .keys
            .iter()
            .filter(|k| k.kind == KeyKind::Write && k.active())
            .filter_map(|k| Some((k.token.clone()?, k.project.clone()?)))
            .collect();
        Cached {
            registry,
            modified,
            write_tokens,
        }
    }
}

impl Access {
    /// Opens the registry of `dir` (an absent file is an empty registry).
    ///
    /// # Errors
    /// [`AccessError::Damaged`] when the file does not parse.
    pub fn open(dir: &Path, extra_admin: Option<&str>) -> Result<Access, AccessError> {
        let path = dir.join(FILE_NAME);
        let (registry, modified) = load(&path)?;
        Ok(Access {
            dir: dir.to_path_buf(),
            state: RwLock::new(Cached::new(registry, modified)),
            extra_admin: extra_admin.map(|k| sha256(k.trim())),
        })
    }

    /// Checks that the registry file, if any, is private to its owner (no permission bits for group or others), as
    /// the server requires before it starts.
    ///
    /// # Errors
    /// [`AccessError::Exposed`] naming the file and its mode; [`AccessError::Io`] when it cannot be inspected.
    pub fn check_private(&self) -> Result<(), AccessError> {
        let path = self.dir.join(FILE_NAME);
        match std::fs::metadata(&path) {
            Ok(m) => private_mode(&path, &m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// Whether any admin key can be used.
    pub fn has_admin(&self) -> bool {
        self.extra_admin.is_some()
            || self
                .read()
                .registry
                .keys
                .iter()
                .any(|k| k.kind == KeyKind::Admin && k.active())
    }

    /// The project of an active write token.
    pub fn project_of_token(&self, token: &str) -> Option<String> {
        if let Some(p) = self.read().write_tokens.get(token) {
            return Some(p.clone());
        }
        self.refresh();
        self.read().write_tokens.get(token).cloned()
    }

    /// Whether `token` is a read or admin key (sent where a write token belongs).
    pub fn is_secret_key(&self, token: &str) -> bool {
        matches!(self.check_bearer(token), BearerCheck::Ok(_))
    }

    /// Checks a bearer key by hash, in constant time per stored key.
    pub fn check_bearer(&self, key: &str) -> BearerCheck {
        let found = self.find_bearer(key);
        if !matches!(found, BearerCheck::Unknown) {
            return found;
        }
        if self.refresh() {
            self.find_bearer(key)
        } else {
            found
        }
    }

    fn find_bearer(&self, key: &str) -> BearerCheck {
        let hash = sha256(key);
        let hex = hex(&hash);
        let prefix: String = key.chars().take(8).collect();
        if let Some(admin) = &self.extra_admin
            && bool::from(admin.ct_eq(&hash))
        {
            return BearerCheck::Ok(Principal::Admin { prefix });
        }
        let state = self.read();
        let mut found = BearerCheck::Unknown;
        for k in state.registry.keys.iter().filter(|k| k.active()) {
            // Every active key is compared, whatever matched before, so the time does not tell which one did.
            match (k.kind, &k.sha256, &k.token) {
                (KeyKind::Write, _, Some(t)) if bool::from(t.as_bytes().ct_eq(key.as_bytes())) => {
                    found = BearerCheck::WriteToken;
                }
                (KeyKind::Read, Some(h), _) if bool::from(h.as_bytes().ct_eq(hex.as_bytes())) => {
                    found = BearerCheck::Ok(Principal::Reader {
                        project: k.project.clone().unwrap_or_default(),
                        prefix: prefix.clone(),
                    });
                }
                (KeyKind::Admin, Some(h), _) if bool::from(h.as_bytes().ct_eq(hex.as_bytes())) => {
                    found = BearerCheck::Ok(Principal::Admin {
                        prefix: prefix.clone(),
                    });
                }
                _ => {}
            }
        }
        found
    }

    /// A copy of the registry as it is now.
    pub fn registry(&self) -> Registry {
        self.refresh();
        self.read().registry.clone()
    }

    /// Registers a project.
    ///
    /// # Errors
    /// [`AccessError::Invalid`] for a bad or taken name; IO errors.
    pub fn create_project(&self, name: &str) -> Result<ProjectEntry, AccessError> {
        model::Project::new(name).map_err(|e| AccessError::Invalid(e.to_string()))?;
        self.update(|r| {
            if r.projects.iter().any(|p| p.name == name) {
                return Err(AccessError::Conflict(format!(
                    "project {name:?} already exists"
                )));
            }
            let entry = ProjectEntry {
                name: name.to_string(),
                created_at: now_text(),
            };
            r.projects.push(entry.clone());
            Ok(entry)
        })
    }

    /// Creates a key and returns it with its secret, which is not kept for read and admin keys.
    ///
    /// # Errors
    /// [`AccessError::NotFound`] for an unknown project; [`AccessError::Invalid`] for an admin key with a project or
    /// a write/read key without one; IO errors.
    pub fn create_key(
        &self,
        kind: KeyKind,
        project: Option<&str>,
    ) -> Result<(String, KeyEntry), AccessError> {
        let secret = new_secret(kind)?;
        self.add_key(kind, project, secret)
    }

    /// Registers an existing write token (such as a `phc_…` one) so deployed apps only change their host.
    ///
    /// # Errors
    /// As [`Access::create_key`]; [`AccessError::Invalid`] for a token of the wrong shape or already in use.
    pub fn import_token(&self, project: &str, token: &str) -> Result<KeyEntry, AccessError> {
        ingest::http::check_token(&serde_json::Value::String(token.to_string()))
            .map_err(|e| AccessError::Invalid(e.detail))?;
        for p in ["lcr_", "lca_"] {
            if token.starts_with(p) {
                return Err(AccessError::Invalid(format!(
                    "a write token cannot start with {p}"
                )));
            }
        }
        self.add_key(KeyKind::Write, Some(project), token.trim().to_string())
            .map(|(_, e)| e)
    }

    fn add_key(
        &self,
        kind: KeyKind,
        project: Option<&str>,
        secret: String,
    ) -> Result<(String, KeyEntry), AccessError> {
        match (kind, project) {
            (KeyKind::Admin, Some(_)) => {
                return Err(AccessError::Invalid(
                    "an admin key belongs to no project".to_string(),
                ));
            }
            (KeyKind::Write | KeyKind::Read, None) => {
                return Err(AccessError::Invalid(
                    "a write or read key needs a project".to_string(),
                ));
            }
            _ => {}
        }
        let secret_kept = secret.clone();
        let entry = KeyEntry {
            prefix: secret.chars().take(8).collect(),
            kind,
            project: project.map(str::to_string),
            token: (kind == KeyKind::Write).then(|| secret.clone()),
            sha256: (kind != KeyKind::Write).then(|| hex(&sha256(&secret))),
            created_at: now_text(),
            revoked_at: None,
        };
        let added = entry.clone();
        self.update(move |r| {
            if let Some(p) = project
                && !r.projects.iter().any(|e| e.name == p)
            {
                return Err(AccessError::NotFound(format!(
                    "project {p:?} does not exist; create it first"
                )));
            }
            if kind == KeyKind::Write
                && r.keys
                    .iter()
                    .any(|k| k.active() && k.token.as_deref() == Some(secret_kept.as_str()))
            {
                return Err(AccessError::Conflict(
                    "this write token is already in use".to_string(),
                ));
            }
            r.keys.push(entry);
            Ok(())
        })?;
        Ok((secret, added))
    }

    /// Revokes every active key whose prefix is `prefix`; returns how many.
    ///
    /// # Errors
    /// [`AccessError::NotFound`] when no active key has that prefix; IO errors.
    pub fn revoke(&self, prefix: &str) -> Result<usize, AccessError> {
        self.update(|r| {
            let now = now_text();
            let mut n = 0;
            for k in r
                .keys
                .iter_mut()
                .filter(|k| k.active() && k.prefix == prefix)
            {
                k.revoked_at = Some(now.clone());
                n += 1;
            }
            if n == 0 {
                return Err(AccessError::NotFound(format!(
                    "no active key has the prefix {prefix:?}"
                )));
            }
            Ok(n)
        })
    }

    /// Reloads the file when its modification time changed; returns whether it did.
    fn refresh(&self) -> bool {
        let path = self.dir.join(FILE_NAME);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if modified == self.read().modified {
            return false;
        }
        match load(&path) {
            Ok((registry, modified)) => {
                *self.write() = Cached::new(registry, modified);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the access registry; keeping the one in memory");
                false
            }
        }
    }

    /// Applies `f` to the registry under the file lock and writes it back atomically.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut Registry) -> Result<T, AccessError>,
    ) -> Result<T, AccessError> {
        create_private_dir(&self.dir).map_err(|e| io(&self.dir, e))?;
        let lock_path = self.dir.join(LOCK_NAME);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        lock.lock().map_err(|e| io(&lock_path, e))?;
        let path = self.dir.join(FILE_NAME);
        let (mut registry, _) = load(&path)?;
        let out = f(&mut registry)?;
        registry.version = VERSION;
        store_atomically(&path, &registry)?;
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        *self.write() = Cached::new(registry, modified);
        drop(lock);
        Ok(out)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn load(path: &Path) -> Result<(Registry, Option<SystemTime>), AccessError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            let registry: Registry =
                serde_json::from_slice(&bytes).map_err(|e| AccessError::Damaged {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            if registry.version != VERSION {
                return Err(AccessError::Damaged {
                    path: path.to_path_buf(),
                    message: format!("unknown version {}", registry.version),
                });
            }
            Ok((registry, modified))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            Registry {
                version: VERSION,
                ..Registry::default()
            },
            None,
        )),
        Err(e) => Err(io(path, e)),
    }
}

/// Write a temporary file, fsync it, rename it over `path`, fsync the directory.
fn store_atomically(path: &Path, registry: &Registry) -> Result<(), AccessError> {
    let tmp = path.with_extension("json.tmp");
    let mut bytes = serde_json::to_vec_pretty(registry).map_err(|e| AccessError::Damaged {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    let mut f = private_file(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(dir, e))?;
    }
    Ok(())
}

/// Creates `dir` (and missing parents) readable by its owner only, whatever the umask; an existing directory is
/// left as it is.
///
/// # Errors
/// What the OS says.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates (or truncates) a file readable by its owner only, whatever the umask.
fn private_file(path: &Path) -> std::io::Result<File> {
    let mut o = File::options();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o.open(path)?;
    // A file left by an earlier run keeps its mode through `open`: set it.
    #[cfg(unix)]
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(f)
}

#[cfg(unix)]
fn private_mode(path: &Path, m: &std::fs::Metadata) -> Result<(), AccessError> {
    let mode = std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777;
    if mode & 0o077 != 0 {
        return Err(AccessError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_mode(_: &Path, _: &std::fs::Metadata) -> Result<(), AccessError> {
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> AccessError {
    AccessError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn new_secret(kind: KeyKind) -> Result<String, AccessError> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let n = kind.random_chars();
    let mut out = String::from(kind.prefix());
    while out.len() < kind.prefix().len() + n {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf).map_err(|e| AccessError::Io {
            path: PathBuf::from("<system random source>"),
            source: std::io::Error::other(e.to_string()),
        })?;
        // 62 * 4 = 248: bytes at or above it are dropped so every character is equally likely.
        for b in buf.into_iter().filter(|b| *b < 248) {
            if out.len() == kind.prefix().len() + n {
                break;
            }
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    Ok(out)
}

/// SHA-256 of a key.
pub fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_text() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_18_imported_tokens_are_printable_ascii_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = Access::open(dir.path(), None).unwrap();
        a.create_project("p1").unwrap();
        for bad in ["phc_a\nINFO forged line", "phc_a b", "phc_\u{1b}[31m"] {
            let e = a.import_token("p1", bad).unwrap_err();
            assert!(matches!(e, AccessError::Invalid(_)), "{bad:?}: {e:?}");
        }
        a.import_token("p1", "phc_Abc-123_x.y").unwrap();
    }

    #[test]
    fn keys_round_trip_and_secrets_are_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let a = Access::open(dir.path(), None).unwrap();
        a.create_project("p1").unwrap();
        let (w, _) = a.create_key(KeyKind::Write, Some("p1")).unwrap();
        assert!(w.starts_with("lcw_") && w.len() == 36);
        assert_eq!(a.project_of_token(&w).as_deref(), Some("p1"));
        let (r, entry) = a.create_key(KeyKind::Read, Some("p1")).unwrap();
        assert!(r.starts_with("lcr_") && r.len() == 44);
        let stored = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!stored.contains(&r), "read keys are stored hashed");
        assert!(stored.contains(&w), "write tokens are public");
        assert!(
            matches!(a.check_bearer(&r), BearerCheck::Ok(Principal::Reader { ref project, .. }) if project == "p1")
        );
        assert_eq!(a.check_bearer(&w), BearerCheck::WriteToken);
        assert_eq!(a.check_bearer("lcr_nope"), BearerCheck::Unknown);
        a.revoke(&entry.prefix).unwrap();
        assert_eq!(a.check_bearer(&r), BearerCheck::Unknown);
        assert!(a.create_key(KeyKind::Write, Some("nope")).is_err());
    }

    #[test]
    fn a_second_handle_sees_keys_created_by_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let server = Access::open(dir.path(), None).unwrap();
        let cli = Access::open(dir.path(), None).unwrap();
        cli.create_project("p").unwrap();
        let (w, _) = cli.create_key(KeyKind::Write, Some("p")).unwrap();
        assert_eq!(server.project_of_token(&w).as_deref(), Some("p"));
    }
}
