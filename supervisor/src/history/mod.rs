//! The history: an SQLite database beside the event stream (`history.db`)
//! indexing what the stream holds, for the window's event search, metric
//! charts and availability. The stream stays the record; the database can
//! be deleted and rebuilt from it (`supervisor rebuild-history CONFIG`).
//!
//! * [`parse`] — a stream line read back into its fields.
//! * [`store`] — the schema, ingesting, roll-ups and retention (writing).
//! * [`writer`] — the history thread and the hand-over from the shell.
//! * [`query`] — what the window asks (read-only connection).
//! * [`maintenance`] — rebuilding from the stream files and backups.
//!
//! Decisions:
//! * Written by its own thread, fed by the shell with each stream batch it
//!   has just written, *after* the acknowledgements went out, through a
//!   queue bounded in bytes ([`MAX_QUEUED_BYTES`]). When the queue is full
//!   the batch is not queued: the history falls behind and later re-reads
//!   the stream file from a point known to be at or before the first
//!   missed line ([`writer`] explains how). Nothing on the UDP path ever
//!   waits for SQLite.
//! * A database that cannot be opened stops the history only, never the
//!   supervisor: it is logged and shown on `/supervisor`. A batch that
//!   cannot be written (or is held back because the disk has less than
//!   [`MIN_FREE_BYTES`] free) is left to the catch-up, tried again
//!   [`writer::RETRY_AFTER`] later.

pub mod maintenance;
pub mod parse;
pub mod query;
pub mod store;
pub mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use conf::SupervisorConfig;

pub use query::HistoryReader;
pub use store::Store;
pub use writer::{History, HistoryStats};

/// The database's file name, in the stream's folder.
pub const FILE_NAME: &str = "history.db";
/// Most bytes of stream lines waiting for the history thread; past this
/// the history falls behind and catches up from the stream file.
pub const MAX_QUEUED_BYTES: u64 = 16 * 1024 * 1024;
/// Below this much free space on its disk the history writes nothing: the
/// space left is the event stream's (the record; the history can be
/// rebuilt from it), and an SQLite write-ahead log grows by megabytes
/// before a checkpoint. It catches up from the stream once there is room.
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// Why the history cannot be opened, rebuilt or backed up.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history database {path}: {source}")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("history: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("history: {0}")]
    Other(String),
}

impl HistoryError {
    pub(crate) fn db(path: &Path, source: rusqlite::Error) -> HistoryError {
        HistoryError::Db {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How much the database keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days of events (`history_days:`).
    pub days: u32,
    /// Size limit of the pages in use, bytes (`history_max_mb:`).
    pub max_bytes: u64,
}

impl Retention {
    pub fn from_config(config: &SupervisorConfig) -> Retention {
        Retention {
            days: config.history_days,
            max_bytes: config.history_max_mb.saturating_mul(1_000_000),
        }
    }
}

/// Where the history of this configuration lives: beside the stream.
pub fn database_path(config: &SupervisorConfig) -> PathBuf {
    crate::rolling::folder_of(&config.event_stream).join(FILE_NAME)
}
