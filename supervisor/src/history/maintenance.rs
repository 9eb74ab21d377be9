//! `supervisor rebuild-history CONFIG` and `supervisor backup-history
//! CONFIG FILE`, and the list of stream files both the rebuild and the
//! catch-up read.
//!
//! A rebuild writes a new database next to the old one
//! (`history.db.rebuilding`), reading every stream file oldest first, and
//! then renames it over `history.db`: a running supervisor's history thread
//! keeps writing to the file it opened (now unlinked), so rebuild while the
//! supervisor is stopped, or restart it afterwards. A backup uses SQLite's
//! `VACUUM INTO`, a consistent copy taken inside one read transaction, so
//! it can run while the supervisor writes.

use std::path::{Path, PathBuf};

use conf::{StreamRotation, SupervisorConfig};

use super::store::{Ingested, Store};
use super::{HistoryError, Retention, database_path};
use crate::rolling::{folder_of, split_name};

/// Every file of the stream, oldest first: the configured path with
/// `never` rotation, otherwise the dated `PREFIX.DATE.SUFFIX` files (their
/// dates sort in time order).
pub fn stream_files(path: &Path, rotation: StreamRotation) -> Vec<PathBuf> {
    if rotation == StreamRotation::Never {
        return if path.exists() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let (prefix, suffix) = split_name(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder_of(path))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name().to_str().is_some_and(|n| {
                        n.starts_with(&format!("{prefix}."))
                            && n != name
                            && suffix.is_none_or(|s| n.ends_with(&format!(".{s}")))
                    })
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// What a rebuild read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rebuilt {
    pub files: usize,
    pub ingested: Ingested,
    pub bytes: u64,
}

/// Builds the history of `config` anew from its stream files.
pub fn rebuild(config: &SupervisorConfig) -> Result<Rebuilt, HistoryError> {
    let target = database_path(config);
    let mut scratch = target.clone().into_os_string();
    scratch.push(".rebuilding");
    let scratch = PathBuf::from(scratch);
    remove_database(&scratch)?;
    let done = rebuild_into(config, &scratch)?;
    remove_database(&target)?;
    std::fs::rename(&scratch, &target).map_err(|source| HistoryError::Io {
        path: target.clone(),
        source,
    })?;
    Ok(done)
}

/// Reads every stream file of `config` into a new database at `path`.
pub fn rebuild_into(config: &SupervisorConfig, path: &Path) -> Result<Rebuilt, HistoryError> {
    let mut store = Store::open(path, config.stream_format)?;
    let mut done = Rebuilt::default();
    for file in stream_files(&config.event_stream, config.stream_rotation) {
        let bytes = std::fs::read(&file).map_err(|source| HistoryError::Io {
            path: file.clone(),
            source,
        })?;
        // Large files go in pieces of whole lines: one transaction each.
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let cut = rest
                .get(..PIECE.min(rest.len()))
                .and_then(|p| p.iter().rposition(|b| *b == b'\n'))
                .map_or(rest.len(), |i| i + 1);
            let (piece, tail) = rest.split_at(cut);
            let n = store.ingest(piece).map_err(|e| HistoryError::db(path, e))?;
            done.ingested.lines += n.lines;
            done.ingested.known += n.known;
            done.ingested.unreadable += n.unreadable;
            rest = tail;
        }
        done.files += 1;
    }
    store
        .apply_retention(&Retention::from_config(config), crate::now().wall_ms as i64)
        .map_err(|e| HistoryError::db(path, e))?;
    store.checkpoint();
    done.bytes = store
        .bytes_in_use()
        .map_err(|e| HistoryError::db(path, e))?;
    Ok(done)
}

const PIECE: usize = 8 * 1024 * 1024;

/// Deletes a database and its WAL and shared-memory files, if present.
fn remove_database(path: &Path) -> Result<(), HistoryError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.to_path_buf().into_os_string();
        p.push(suffix);
        let p = PathBuf::from(p);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(HistoryError::Io { path: p, source }),
        }
    }
    Ok(())
}

/// A consistent copy of the history of `config` in `to` (which must not
/// exist), taken while the supervisor may be writing.
pub fn backup(config: &SupervisorConfig, to: &Path) -> Result<u64, HistoryError> {
    let from = database_path(config);
    if !from.exists() {
        return Err(HistoryError::Other(format!(
            "{} does not exist (the supervisor has not run, or the history was deleted)",
            from.display()
        )));
    }
    if to.exists() {
        return Err(HistoryError::Other(format!(
            "{} already exists; a backup never overwrites",
            to.display()
        )));
    }
    let to_text = to
        .to_str()
        .ok_or_else(|| HistoryError::Other(format!("{} is not a UTF-8 path", to.display())))?;
    let conn = super::store::open_connection(&from, true)?;
    conn.execute("VACUUM INTO ?1", [to_text])
        .map_err(|e| HistoryError::db(&from, e))?;
    std::fs::metadata(to)
        .map(|m| m.len())
        .map_err(|source| HistoryError::Io {
            path: to.to_path_buf(),
            source,
        })
}
