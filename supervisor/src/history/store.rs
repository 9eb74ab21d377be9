//! The history database's writing side: its schema, ingesting stream
//! lines, the metric roll-ups and retention. Only the history thread (or
//! `supervisor rebuild-history`) holds a [`Store`].
//!
//! Decisions:
//! * Ingesting is idempotent: every event row carries a hash of its stream
//!   line under a unique index, and metric samples are keyed by series and
//!   time, so a line read twice (the catch-up from the stream file re-reads
//!   from a safe earlier point) is stored once. Two byte-identical lines are
//!   one row.
//! * Aggregates are recomputed from the rows below them (minutes from raw
//!   values, hours from minutes) for each bucket a batch touched, never
//!   added to, so re-reading lines cannot count a value twice.
//! * Size: deleted rows leave free pages that later rows reuse, so the file
//!   stops growing once retention deletes as fast as ingest adds; the size
//!   compared with `history_max_mb:` is the pages in use.

use std::collections::BTreeSet;
use std::path::Path;

use conf::StreamFormat;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::parse::{StreamRecord, parse_line};
use super::{HistoryError, Retention};
use crate::protocol::{HOST_ACTIVE_AGAIN, HOST_INACTIVE};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    line_hash INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    host TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    tags TEXT NOT NULL,
    kind TEXT NOT NULL,
    check_id TEXT,
    state TEXT,
    source TEXT,
    message TEXT NOT NULL,
    value REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_line ON events(line_hash);
CREATE INDEX IF NOT EXISTS events_host ON events(host, id);
CREATE INDEX IF NOT EXISTS events_received ON events(received_ms);
CREATE TABLE IF NOT EXISTS series(
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    tags TEXT NOT NULL,
    UNIQUE(host, tags)
);
CREATE TABLE IF NOT EXISTS metric_raw(
    series INTEGER NOT NULL, t_ms INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY(series, t_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metric_minute(
    series INTEGER NOT NULL, t INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, avg REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY(series, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metric_hour(
    series INTEGER NOT NULL, t INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, avg REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY(series, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS host_states(
    host TEXT NOT NULL, at_ms INTEGER NOT NULL, up INTEGER NOT NULL,
    PRIMARY KEY(host, at_ms, up)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hosts_seen(
    host TEXT PRIMARY KEY, first_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problems(
    host TEXT NOT NULL, check_id TEXT NOT NULL, opened_ms INTEGER NOT NULL,
    cleared_ms INTEGER, message TEXT NOT NULL,
    PRIMARY KEY(host, check_id, opened_ms)) WITHOUT ROWID;
";

/// Raw metric values are kept this long.
pub const RAW_METRICS_MS: i64 = 48 * 3_600_000;
/// Metric aggregates and the host-state and problem history are kept this
/// long.
pub const AGGREGATES_MS: i64 = 90 * 86_400_000;
/// Most metric series kept; values of further series are not recorded (the
/// events themselves still are).
pub const MAX_SERIES: i64 = 100_000;
/// Fewest rows deleted at a time when the database is over its size (else
/// a twentieth of the table).
const SIZE_DELETE_CHUNK: i64 = 100;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// What one ingest did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub lines: u64,
    /// Lines already in the history (read again by a catch-up).
    pub known: u64,
    /// Lines that are not stream lines.
    pub unreadable: u64,
}

/// The history database, opened for writing.
pub struct Store {
    conn: Connection,
    format: StreamFormat,
}

/// Opens `path` with the settings every connection uses.
pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, HistoryError> {
    use rusqlite::OpenFlags;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| HistoryError::db(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| HistoryError::db(path, e))?;
    Ok(conn)
}

impl Store {
    /// Opens (creating) the database at `path` for lines of `format`.
    pub fn open(path: &Path, format: StreamFormat) -> Result<Store, HistoryError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| HistoryError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        }
        let conn = open_connection(path, false)?;
        let setup = || -> rusqlite::Result<()> {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // The bundled SQLite defaults to FULL; NORMAL in WAL mode
            // syncs at checkpoints only: a power loss may lose the last
            // transactions, which the stream (the record) still holds.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            conn.execute_batch(SCHEMA)
        };
        setup().map_err(|e| HistoryError::db(path, e))?;
        Ok(Store { conn, format })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Indexes the whole lines of `lines` (a stream batch or a piece of a
    /// stream file) in one transaction.
    pub fn ingest(&mut self, lines: &[u8]) -> rusqlite::Result<Ingested> {
        let mut done = Ingested::default();
        let mut minutes: BTreeSet<(i64, i64)> = BTreeSet::new();
        // First receive time of each host in this batch: one upsert each.
        let mut first_seen: std::collections::HashMap<String, i64> = Default::default();
        let tx = self.conn.transaction()?;
        {
            let mut insert_event = tx.prepare_cached(
                "INSERT OR IGNORE INTO events(line_hash, received_ms, time_ms, host, event_id, tags,
                 kind, check_id, state, source, message, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut seen = tx.prepare_cached(
                "INSERT INTO hosts_seen(host, first_ms) VALUES (?1, ?2)
                 ON CONFLICT(host) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms)",
            )?;
            for raw in lines.split(|b| *b == b'\n') {
                if raw.is_empty() {
                    continue;
                }
                done.lines += 1;
                let Some(r) = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|l| parse_line(self.format, l))
                else {
                    done.unreadable += 1;
                    continue;
                };
                let hash = line_hash(raw);
                let inserted = insert_event.execute(params![
                    hash,
                    r.received_ms,
                    r.time_ms,
                    r.host,
                    r.event_id as i64,
                    r.tags,
                    r.kind,
                    r.check,
                    r.state,
                    r.source,
                    r.message,
                    r.value,
                ])?;
                if inserted == 0 {
                    done.known += 1;
                    continue;
                }
                first_seen
                    .entry(r.host.clone())
                    .and_modify(|t| *t = (*t).min(r.received_ms))
                    .or_insert(r.received_ms);
                if let (Some(v), "metric") = (r.value, r.kind)
                    && let Some(series) = series_id(&tx, &r.host, &r.tags)?
                {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO metric_raw(series, t_ms, value) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![series, r.time_ms, v])?;
                    minutes.insert((series, r.time_ms.div_euclid(MINUTE_MS)));
                }
                record_state(&tx, &r)?;
            }
            for (host, at) in &first_seen {
                seen.execute(params![host, at])?;
            }
        }
        roll_up(&tx, &minutes)?;
        tx.commit()?;
        Ok(done)
    }

    /// Deletes what is older than `retention` allows at `now_ms`, then the
    /// oldest events (and then the oldest aggregates) while the database
    /// is over its size. Returns the rows deleted.
    pub fn apply_retention(&mut self, retention: &Retention, now_ms: i64) -> rusqlite::Result<u64> {
        let c = &self.conn;
        let mut deleted = 0;
        let events_before = now_ms - i64::from(retention.days) * 86_400_000;
        deleted += c.execute("DELETE FROM events WHERE received_ms < ?1", [events_before])?;
        deleted += c.execute(
            "DELETE FROM metric_raw WHERE t_ms < ?1",
            [now_ms - RAW_METRICS_MS],
        )?;
        let old = now_ms - AGGREGATES_MS;
        deleted += c.execute(
            "DELETE FROM metric_minute WHERE t < ?1",
            [old.div_euclid(MINUTE_MS)],
        )?;
        deleted += c.execute(
            "DELETE FROM metric_hour WHERE t < ?1",
            [old.div_euclid(HOUR_MS)],
        )?;
        deleted += c.execute(
            "DELETE FROM problems WHERE coalesce(cleared_ms, opened_ms) < ?1",
            [old],
        )?;
        // The last state before the window is kept: it says how a host
        // entered it.
        deleted += c.execute(
            "DELETE FROM host_states WHERE at_ms < ?1 AND at_ms < (SELECT max(at_ms) FROM host_states h2
             WHERE h2.host = host_states.host AND h2.at_ms < ?1)",
            [old],
        )?;
        // Over the size: the oldest events go first, then the oldest
        // minute aggregates, then raw values.
        for (table, column) in [
            ("events", "id"),
            ("metric_minute", "t"),
            ("metric_raw", "t_ms"),
        ] {
            let sql = format!(
                "DELETE FROM {table} WHERE {column} <= coalesce(
                     (SELECT {column} FROM {table} ORDER BY {column} LIMIT 1 OFFSET ?1),
                     (SELECT max({column}) FROM {table}))"
            );
            while self.bytes_in_use()? > retention.max_bytes {
                let rows: i64 =
                    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
                let n = c.execute(&sql, [(rows / 20).max(SIZE_DELETE_CHUNK)])?;
                if n == 0 {
                    break;
                }
                deleted += n;
            }
        }
        Ok(deleted as u64)
    }

    /// Bytes of the pages holding data (the file's size less its free
    /// pages).
    pub fn bytes_in_use(&self) -> rusqlite::Result<u64> {
        bytes_in_use(&self.conn)
    }

    /// Lets the WAL be copied back into the database and restarted, so it
    /// does not grow while readers come and go.
    pub fn checkpoint(&self) {
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::debug!("history checkpoint: {e}");
        }
    }
}

pub(crate) fn bytes_in_use(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// The first 8 bytes of the line's SHA-256: a collision between two
/// different lines is out of reach in practice.
fn line_hash(line: &[u8]) -> i64 {
    let digest = Sha256::digest(line);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

fn series_id(conn: &Connection, host: &str, tags: &str) -> rusqlite::Result<Option<i64>> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT id FROM series WHERE host = ?1 AND tags = ?2")?
        .query_row(params![host, tags], |r| r.get(0))
        .optional()?;
    if found.is_some() {
        return Ok(found);
    }
    let count: i64 = conn.query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
    if count >= MAX_SERIES {
        return Ok(None);
    }
    conn.prepare_cached("INSERT INTO series(host, tags) VALUES (?1, ?2)")?
        .execute(params![host, tags])?;
    Ok(Some(conn.last_insert_rowid()))
}

/// Host-state changes from the supervisor's own events, and problems from
/// `state` fields.
fn record_state(conn: &Connection, r: &StreamRecord) -> rusqlite::Result<()> {
    if r.kind == "system" {
        let up = if r.message.starts_with(HOST_INACTIVE) {
            Some(false)
        } else if r.message.starts_with(HOST_ACTIVE_AGAIN) {
            Some(true)
        } else {
            None
        };
        if let Some(up) = up {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO host_states(host, at_ms, up) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![r.host, r.received_ms, up])?;
        }
    }
    if let (Some(check), Some(state)) = (&r.check, &r.state) {
        match state.as_str() {
            "open" => {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO problems(host, check_id, opened_ms, message)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![r.host, check, r.received_ms, r.message])?;
            }
            "cleared" => {
                conn.prepare_cached(
                    "UPDATE problems SET cleared_ms = ?3 WHERE host = ?1 AND check_id = ?2
                     AND opened_ms = (SELECT max(opened_ms) FROM problems
                         WHERE host = ?1 AND check_id = ?2 AND opened_ms <= ?3)",
                )?
                .execute(params![r.host, check, r.received_ms])?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Recomputes the minute buckets touched, then the hours holding them.
fn roll_up(conn: &Connection, minutes: &BTreeSet<(i64, i64)>) -> rusqlite::Result<()> {
    let mut hours = BTreeSet::new();
    let mut minute = conn.prepare_cached(
        "INSERT OR REPLACE INTO metric_minute(series, t, min, max, avg, n)
         SELECT ?1, ?2, min(value), max(value), avg(value), count(*) FROM metric_raw
         WHERE series = ?1 AND t_ms >= ?3 AND t_ms < ?4 HAVING count(*) > 0",
    )?;
    for &(series, m) in minutes {
        minute.execute(params![series, m, m * MINUTE_MS, (m + 1) * MINUTE_MS])?;
        hours.insert((series, (m * MINUTE_MS).div_euclid(HOUR_MS)));
    }
    let mut hour = conn.prepare_cached(
        "INSERT OR REPLACE INTO metric_hour(series, t, min, max, avg, n)
         SELECT ?1, ?2, min(min), max(max), sum(avg * n) / sum(n), sum(n) FROM metric_minute
         WHERE series = ?1 AND t >= ?3 AND t < ?4 HAVING count(*) > 0",
    )?;
    for (series, h) in hours {
        hour.execute(params![series, h, h * 60, (h + 1) * 60])?;
    }
    Ok(())
}
