//! Small durability helpers: fsync a file or a directory, write a file atomically.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Fsyncs a directory so that entries created, renamed or removed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

/// Writes `bytes` to `path` atomically: write a temporary file, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .expect("atomic writes target a file inside the data directory");
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(bytes).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(Error::io(path))?;
    sync_dir(dir)
}

/// Creates a directory and its parents, fsyncing each parent that gained an entry.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source: e,
            });
        }
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Fsyncs files concurrently: a flush writes one file per partition, and waiting for each fsync in turn costs more
/// than the writing.
pub(crate) fn sync_files(paths: &[std::path::PathBuf]) -> Result<()> {
    const THREADS: usize = 16;
    let chunk = paths.len().div_ceil(THREADS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> Result<()> {
                    for p in part {
                        File::open(p)
                            .and_then(|f| f.sync_all())
                            .map_err(Error::io(p))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("fsync threads do not panic")?;
        }
        Ok(())
    })
}
