//! Dense distinct ids (docs/formats/ids.md): a project's dictionary of distinct ids (text → `u32`), each segment's
//! rows as runs of dense ids, and the persons of the identity map over dense ids. All of it is derived data: a
//! report that finds it never reads or hashes a distinct id string, and a missing, stale or damaged file is simply
//! derived again.
//!
//! The dictionary only grows, and within one *epoch* a dense id names the same text forever. A damaged dictionary
//! is started again under a new epoch, which makes every file derived under the old one stale. New entries are
//! fsynced before any file that uses them is renamed into place, so a crash never leaves a file naming an id the
//! dictionary lost.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

const DICTIONARY_MAGIC: &[u8; 8] = b"LCDICT1\0";
const RUNS_MAGIC: &[u8; 8] = b"LCRUNS1\0";
const PERSONS_MAGIC: &[u8; 8] = b"LCPERS1\0";
const HOURS_MAGIC: &[u8; 8] = b"LCHOUR1\0";

/// A project's dictionary of distinct ids.
#[derive(Debug)]
pub struct Dictionary {
    /// `None` for a dictionary kept in memory only (a read-only data directory).
    path: Option<PathBuf>,
    epoch: u64,
    index: FxHashMap<Box<str>, u32>,
    /// Entries not yet written, in id order.
    pending: Vec<u32>,
    /// The file's length after its last complete write: a sync starts there, so a write that failed half-way (or
    /// whose fsync failed) is replaced, never repeated after itself.
    synced_len: u64,
    pending_text: Vec<Box<str>>,
}

/// The epoch of the dictionary at `path`, reading only its header; `None` when it is missing or unreadable.
pub fn dictionary_epoch(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut head = [0u8; 16];
    File::open(path).ok()?.read_exact(&mut head).ok()?;
    (&head[..8] == DICTIONARY_MAGIC)
        .then(|| u64::from_le_bytes(head[8..16].try_into().unwrap_or_default()))
}

fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    // 0 is never an epoch, so a zeroed header is never taken for a valid one.
    h.finish().max(1)
}

impl Dictionary {
    /// Reads the dictionary at `path`. A missing or damaged one starts empty under a new epoch; when `writable`,
    /// that new start is written (and fsynced) at once, otherwise it is kept in memory and nothing is written.
    ///
    /// # Errors
    /// IO errors other than a missing file, and errors writing a new start.
    pub fn open(path: &Path, writable: bool) -> Result<Dictionary> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(path)(e)),
        };
        let mut dict = Dictionary {
            path: writable.then(|| path.to_path_buf()),
            epoch: 0,
            index: FxHashMap::default(),
            pending: Vec::new(),
            pending_text: Vec::new(),
            synced_len: bytes.len() as u64,
        };
        let parsed = parse_dictionary(&bytes).filter(|(epoch, ids)| {
            dict.epoch = *epoch;
            dict.index.reserve(ids.len());
            // An id written twice would number two texts alike: damage.
            ids.iter()
                .enumerate()
                .all(|(i, s)| dict.index.insert((*s).into(), i as u32).is_none())
        });
        if parsed.is_none() {
            if !bytes.is_empty() {
                tracing::warn!(path = %path.display(), "distinct-id dictionary damaged; derived again");
            }
            dict.index.clear();
            dict.epoch = new_epoch();
            if writable {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
                }
                let mut head = Vec::with_capacity(16);
                head.extend_from_slice(DICTIONARY_MAGIC);
                head.extend_from_slice(&dict.epoch.to_le_bytes());
                crate::write_atomic(path, &head)?;
                dict.synced_len = head.len() as u64;
            }
        }
        Ok(dict)
    }

    /// The epoch: files derived under another one are stale.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The dense id of `text`, added when it is new.
    pub fn id(&mut self, text: &str) -> u32 {
        if let Some(&d) = self.index.get(text) {
            return d;
        }
        let d = self.index.len() as u32;
        self.index.insert(text.into(), d);
        self.pending.push(d);
        self.pending_text.push(text.into());
        d
    }

    /// The dense id of `text`, if it has one.
    pub fn get(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    /// Appends the ids added since the last call as one checksummed block and fsyncs the file; a no-op in memory.
    /// Call it before writing any file that uses them.
    ///
    /// # Errors
    /// IO errors; the ids stay pending and the next call writes them.
    pub fn sync(&mut self) -> Result<()> {
        let Some(path) = &self.path else {
            self.pending.clear();
            self.pending_text.clear();
            return Ok(());
        };
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut payload = Vec::new();
        for s in &self.pending_text {
            payload.extend_from_slice(&(s.len() as u32).to_le_bytes());
            payload.extend_from_slice(s.as_bytes());
        }
        let mut block = Vec::with_capacity(payload.len() + 12);
        block.extend_from_slice(&(self.pending.len() as u32).to_le_bytes());
        block.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        block.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        block.extend_from_slice(&payload);
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(Error::io(path))?;
        f.set_len(self.synced_len).map_err(Error::io(path))?;
        f.seek(SeekFrom::Start(self.synced_len))
            .map_err(Error::io(path))?;
        f.write_all(&block).map_err(Error::io(path))?;
        f.sync_all().map_err(Error::io(path))?;
        self.synced_len += block.len() as u64;
        self.pending.clear();
        self.pending_text.clear();
        Ok(())
    }
}

/// The epoch and ids of a dictionary file, or `None` when any part of it is damaged or torn.
fn parse_dictionary(bytes: &[u8]) -> Option<(u64, Vec<&str>)> {
    if bytes.len() < 16 || &bytes[..8] != DICTIONARY_MAGIC {
        return None;
    }
    let epoch = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    if epoch == 0 {
        return None;
    }
    let mut ids = Vec::new();
    let mut at = 16;
    while at < bytes.len() {
        let head = bytes.get(at..at + 12)?;
        let count = u32::from_le_bytes(head[0..4].try_into().ok()?) as usize;
        let len = u32::from_le_bytes(head[4..8].try_into().ok()?) as usize;
        let crc = u32::from_le_bytes(head[8..12].try_into().ok()?);
        let payload = bytes.get(at + 12..(at + 12).checked_add(len)?)?;
        if crc32fast::hash(payload) != crc {
            return None;
        }
        let mut p = 0;
        for _ in 0..count {
            let n = u32::from_le_bytes(payload.get(p..p + 4)?.try_into().ok()?) as usize;
            let text = std::str::from_utf8(payload.get(p + 4..(p + 4).checked_add(n)?)?).ok()?;
            ids.push(text);
            p += 4 + n;
        }
        if p != payload.len() {
            return None;
        }
        at += 12 + len;
    }
    Some((epoch, ids))
}

/// What a runs file was derived from: a file whose header differs from the one a reader expects is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsSource<'a> {
    /// The segment's `digest_sum` in the manifest.
    pub segment_digest: &'a str,
    /// The segment's row count.
    pub rows: u64,
    /// The dictionary's epoch.
    pub epoch: u64,
}

fn put_header(out: &mut Vec<u8>, magic: &[u8; 8], epoch: u64, tag: &[u8]) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
    out.extend_from_slice(tag);
}

/// Reads the header written by `put_header`, returning the offset after it when it matches.
fn check_header(bytes: &[u8], magic: &[u8; 8], epoch: u64, tag: &[u8]) -> Option<usize> {
    if bytes.len() < 20 || &bytes[..8] != magic {
        return None;
    }
    if u64::from_le_bytes(bytes[8..16].try_into().ok()?) != epoch {
        return None;
    }
    let n = u32::from_le_bytes(bytes[16..20].try_into().ok()?) as usize;
    (bytes.get(20..20 + n)? == tag).then_some(20 + n)
}

/// Splits off and checks the trailing CRC-32 of `bytes`.
fn checked(bytes: &[u8]) -> Option<&[u8]> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    (crc32fast::hash(body) == u32::from_le_bytes(crc.try_into().ok()?)).then_some(body)
}

/// Writes `bytes` with its CRC-32 to a temporary file renamed over `path` (no fsync: derived data that a crash may
/// lose is derived again).
fn write_checked(path: &Path, mut bytes: Vec<u8>) -> Result<()> {
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    // The whole name and `.tmp`: a segment's runs and hours files never share a temporary file.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}

fn runs_tag(source: &RunsSource<'_>) -> Vec<u8> {
    let mut tag = source.segment_digest.as_bytes().to_vec();
    tag.extend_from_slice(&source.rows.to_le_bytes());
    tag
}

/// Writes a segment's rows as runs of (dense id, rows), in row order.
///
/// # Errors
/// IO errors.
pub fn write_runs(path: &Path, source: &RunsSource<'_>, runs: &[(u32, u32)]) -> Result<()> {
    let mut out = Vec::with_capacity(runs.len() * 8 + 128);
    put_header(&mut out, RUNS_MAGIC, source.epoch, &runs_tag(source));
    out.extend_from_slice(&(runs.len() as u64).to_le_bytes());
    for &(d, n) in runs {
        out.extend_from_slice(&d.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
    }
    write_checked(path, out)
}

/// A segment's runs of dense ids, or `None` when the file is missing, stale (another segment, row count or
/// epoch) or damaged. The runs always cover exactly `source.rows` rows.
pub fn read_runs(path: &Path, source: &RunsSource<'_>) -> Option<Vec<(u32, u32)>> {
    let bytes = std::fs::read(path).ok()?;
    let body = checked(&bytes)?;
    let at = check_header(body, RUNS_MAGIC, source.epoch, &runs_tag(source))?;
    let n = u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?) as usize;
    let data = body.get(at + 8..)?;
    if data.len() != n.checked_mul(8)? {
        return None;
    }
    let runs: Vec<(u32, u32)> = data
        .chunks_exact(8)
        .map(|c| {
            (
                u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let rows: u64 = runs.iter().map(|&(_, n)| u64::from(n)).sum();
    (rows == source.rows && runs.iter().all(|&(_, n)| n > 0)).then_some(runs)
}

/// One entry of a segment's activity by hour: the events of one run (one distinct id) in one UTC hour with one
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourEntry {
    /// Index of the run in the segment's runs.
    pub run: u32,
    /// Hours since the file's `base_hour`.
    pub hour: u8,
    /// Index into the file's names.
    pub name: u8,
    /// Whether every one of these events is personless.
    pub personless: bool,
    /// How many events (at least 1).
    pub count: u16,
}

/// A segment's activity by hour (docs/formats/ids.md): per run, hour and event name, how many events and whether all
/// of them are personless, in run order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hours {
    /// The first hour, as hours since the Unix epoch.
    pub base_hour: i64,
    /// The segment's event names.
    pub names: Vec<String>,
    /// The entries, ordered by run, then hour, then name.
    pub entries: Vec<HourEntry>,
}

/// Most event names an hours file holds (one byte per entry, with the personless bit).
pub const HOURS_MAX_NAMES: usize = 128;

/// Writes a segment's activity by hour.
///
/// # Errors
/// IO errors.
pub fn write_hours(path: &Path, source: &RunsSource<'_>, hours: &Hours) -> Result<()> {
    let mut out = Vec::with_capacity(hours.entries.len() * 8 + 256);
    put_header(&mut out, HOURS_MAGIC, 0, &runs_tag(source));
    out.extend_from_slice(&hours.base_hour.to_le_bytes());
    out.extend_from_slice(&(hours.names.len() as u32).to_le_bytes());
    for n in &hours.names {
        out.extend_from_slice(&(n.len() as u32).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
    }
    out.extend_from_slice(&(hours.entries.len() as u64).to_le_bytes());
    for e in &hours.entries {
        out.extend_from_slice(&e.run.to_le_bytes());
        out.push(e.hour);
        out.push(e.name | if e.personless { 0x80 } else { 0 });
        out.extend_from_slice(&e.count.to_le_bytes());
    }
    write_checked(path, out)
}

/// A segment's activity by hour, or `None` when the file is missing, stale or damaged. The counts always add up to
/// `source.rows`, and every name index is in range.
pub fn read_hours(path: &Path, source: &RunsSource<'_>) -> Option<Hours> {
    let file = open_hours(path, source)?;
    let mut entries = Vec::with_capacity(file.len());
    file.visit(source.rows, |e| entries.push(e))
        .then_some(Hours {
            base_hour: file.base_hour,
            names: file.names,
            entries,
        })
}

/// An activity-by-hour file whose checksum, header and names are checked; its entries are read with
/// [`HoursFile::visit`].
#[derive(Debug)]
pub struct HoursFile {
    /// The first hour, as hours since the Unix epoch.
    pub base_hour: i64,
    /// The segment's event names.
    pub names: Vec<String>,
    bytes: Vec<u8>,
    /// Where the entries start in `bytes`, and how many there are.
    at: usize,
    n: usize,
}

impl HoursFile {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the file has no entries.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Calls `visit` with each entry in file order, and says whether they were all sound: each counting at least
    /// one event with a name in range, in run order, the counts adding up to `rows` (the segment's). When not,
    /// what `visit` saw must be thrown away.
    pub fn visit(&self, rows: u64, mut visit: impl FnMut(HourEntry)) -> bool {
        let Some(data) = self.bytes.get(self.at..self.at + self.n * 8) else {
            return false;
        };
        let (mut counted, mut last_run, names) = (0u64, 0u32, self.names.len());
        for c in data.chunks_exact(8) {
            let e = HourEntry {
                run: u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                hour: c[4],
                name: c[5] & 0x7f,
                personless: c[5] & 0x80 != 0,
                count: u16::from_le_bytes([c[6], c[7]]),
            };
            if e.count == 0 || e.name as usize >= names || e.run < last_run {
                return false;
            }
            last_run = e.run;
            counted += u64::from(e.count);
            visit(e);
        }
        counted == rows
    }
}

/// A segment's activity by hour with its header checked, or `None` when the file is missing, stale or damaged.
pub fn open_hours(path: &Path, source: &RunsSource<'_>) -> Option<HoursFile> {
    let mut bytes = std::fs::read(path).ok()?;
    let body = checked(&bytes)?;
    let mut at = check_header(body, HOURS_MAGIC, 0, &runs_tag(source))?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = body.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let base_hour = i64::from_le_bytes(take(8)?.try_into().ok()?);
    let n_names = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    if n_names > HOURS_MAX_NAMES {
        return None;
    }
    let mut names = Vec::with_capacity(n_names);
    for _ in 0..n_names {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        names.push(std::str::from_utf8(take(len)?).ok()?.to_string());
    }
    let n = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
    let end = at.checked_add(n.checked_mul(8)?)?;
    if end != body.len() {
        return None;
    }
    let entries_at = at;
    bytes.truncate(end);
    Some(HoursFile {
        base_hour,
        names,
        bytes,
        at: entries_at,
        n,
    })
}

/// The identity map's persons over dense ids: for ids below `root.len()`, the smallest dense id of the id's person
/// and whether the id takes part in a merge; an id past them is its own person, in no merge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Persons {
    /// What the identity was built from (the caller's digest of merges and persons imports).
    pub key: [u8; 32],
    /// The latest merge's timestamp (µs): the persons hold for any `as_of` at or after it.
    pub max_merge_ts: i64,
    /// The identity digest of the full merge log.
    pub identity_digest: [u8; 32],
    /// Per dense id, the smallest dense id of its person.
    pub root: Vec<u32>,
    /// Per dense id, whether it takes part in a merge request or persons import.
    pub merged: Vec<bool>,
}

/// Writes the persons derived under dictionary epoch `epoch`.
///
/// # Errors
/// IO errors.
pub fn write_persons(path: &Path, epoch: u64, persons: &Persons) -> Result<()> {
    let n = persons.root.len();
    let mut out = Vec::with_capacity(n * 4 + n / 8 + 128);
    put_header(&mut out, PERSONS_MAGIC, epoch, &persons.key);
    out.extend_from_slice(&persons.max_merge_ts.to_le_bytes());
    out.extend_from_slice(&persons.identity_digest);
    out.extend_from_slice(&(n as u64).to_le_bytes());
    for &r in &persons.root {
        out.extend_from_slice(&r.to_le_bytes());
    }
    let mut bits = vec![0u8; n.div_ceil(8)];
    for (i, _) in persons.merged.iter().enumerate().filter(|(_, m)| **m) {
        bits[i / 8] |= 1 << (i % 8);
    }
    out.extend_from_slice(&bits);
    write_checked(path, out)
}

/// The persons derived under `epoch` from `key`, or `None` when missing, stale or damaged.
pub fn read_persons(path: &Path, epoch: u64, key: &[u8; 32]) -> Option<Persons> {
    let bytes = std::fs::read(path).ok()?;
    let body = checked(&bytes)?;
    let at = check_header(body, PERSONS_MAGIC, epoch, key)?;
    let fixed = body.get(at..at + 48)?;
    let max_merge_ts = i64::from_le_bytes(fixed[0..8].try_into().ok()?);
    let identity_digest: [u8; 32] = fixed[8..40].try_into().ok()?;
    let n = u64::from_le_bytes(fixed[40..48].try_into().ok()?) as usize;
    let data = body.get(at + 48..)?;
    if data.len() != n.checked_mul(4)?.checked_add(n.div_ceil(8))? {
        return None;
    }
    let (roots, bits) = data.split_at(n * 4);
    let root: Vec<u32> = roots
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // A root is the smallest id of its person, so it is never past the id itself.
    if root.iter().enumerate().any(|(i, &r)| r as usize > i) {
        return None;
    }
    let merged = (0..n).map(|i| bits[i / 8] >> (i % 8) & 1 == 1).collect();
    Some(Persons {
        key: *key,
        max_merge_ts,
        identity_digest,
        root,
        merged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_keeps_its_ids_across_opens_and_restarts_when_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/ids");
        let mut d = Dictionary::open(&path, true).unwrap();
        let epoch = d.epoch();
        assert_eq!((d.id("a"), d.id("b"), d.id("a")), (0, 1, 0));
        d.sync().unwrap();
        assert_eq!(d.id("c"), 2);
        d.sync().unwrap();
        // Pending ids are lost with a crash before sync; synced ones stay.
        assert_eq!(d.id("lost"), 3);
        let d = Dictionary::open(&path, true).unwrap();
        assert_eq!(d.epoch(), epoch);
        assert_eq!(dictionary_epoch(&path), Some(epoch));
        assert_eq!(
            (d.get("a"), d.get("b"), d.get("c"), d.get("lost")),
            (Some(0), Some(1), Some(2), None)
        );
        // A torn tail: the whole dictionary starts again under a new epoch.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 1).unwrap();
        let d = Dictionary::open(&path, true).unwrap();
        assert_ne!(d.epoch(), epoch);
        assert!(d.is_empty());
        assert_eq!(dictionary_epoch(&path), Some(d.epoch()));
    }

    #[test]
    fn a_block_written_twice_is_damage_and_a_sync_after_a_failed_one_starts_where_it_did() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids");
        let mut d = Dictionary::open(&path, true).unwrap();
        let epoch = d.epoch();
        d.id("a");
        d.sync().unwrap();
        let one = std::fs::read(&path).unwrap();
        // A write that reached the file but whose sync failed is replaced by the retry, not followed by it.
        d.id("b");
        let before = d.synced_len;
        d.sync().unwrap();
        let two = std::fs::read(&path).unwrap();
        let mut torn = two.clone();
        torn.truncate(two.len() - 2);
        std::fs::write(&path, &torn).unwrap();
        d.synced_len = before;
        d.pending = vec![1];
        d.pending_text = vec!["b".into()];
        d.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), two);
        assert_eq!(Dictionary::open(&path, true).unwrap().epoch(), epoch);
        // The same block twice: two numbers for one id.
        let mut doubled = two.clone();
        doubled.extend_from_slice(&two[one.len()..]);
        std::fs::write(&path, &doubled).unwrap();
        let d = Dictionary::open(&path, true).unwrap();
        assert_ne!(d.epoch(), epoch);
        assert!(d.is_empty());
    }

    #[test]
    fn a_read_only_dictionary_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids");
        let mut d = Dictionary::open(&path, false).unwrap();
        d.id("x");
        d.sync().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn runs_and_persons_are_read_back_only_under_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let source = RunsSource {
            segment_digest: "ab",
            rows: 5,
            epoch: 7,
        };
        write_runs(&path, &source, &[(0, 2), (3, 3)]).unwrap();
        assert_eq!(read_runs(&path, &source), Some(vec![(0, 2), (3, 3)]));
        for stale in [
            RunsSource {
                epoch: 8,
                ..source.clone()
            },
            RunsSource {
                rows: 6,
                ..source.clone()
            },
            RunsSource {
                segment_digest: "ac",
                ..source.clone()
            },
        ] {
            assert_eq!(read_runs(&path, &stale), None);
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 6;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_runs(&path, &source), None);

        let hours = Hours {
            base_hour: 480_000,
            names: vec!["a".into(), "b".into()],
            entries: vec![
                HourEntry {
                    run: 0,
                    hour: 3,
                    name: 1,
                    personless: true,
                    count: 2,
                },
                HourEntry {
                    run: 1,
                    hour: 23,
                    name: 0,
                    personless: false,
                    count: 3,
                },
            ],
        };
        let hours_path = dir.path().join("hours");
        write_hours(&hours_path, &source, &hours).unwrap();
        assert_eq!(read_hours(&hours_path, &source), Some(hours.clone()));
        assert_eq!(
            read_hours(
                &hours_path,
                &RunsSource {
                    rows: 4,
                    ..source.clone()
                }
            ),
            None
        );

        let persons = Persons {
            key: [3; 32],
            max_merge_ts: -5,
            identity_digest: [9; 32],
            root: vec![0, 0, 2, 1, 4, 5, 6, 7, 8],
            merged: vec![true, true, false, true, false, false, false, false, true],
        };
        let path = dir.path().join("persons");
        write_persons(&path, 7, &persons).unwrap();
        assert_eq!(read_persons(&path, 7, &[3; 32]), Some(persons.clone()));
        assert_eq!(read_persons(&path, 8, &[3; 32]), None);
        assert_eq!(read_persons(&path, 7, &[4; 32]), None);
    }
}
