//! What the window asks the history: event search (newest first, paged by
//! a cursor), metric series and their points, availability, and the
//! database's own health. One read-only connection, used from the
//! blocking pool (WAL lets it read while the history thread writes).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params_from_iter};
use serde::{Deserialize, Serialize};

use super::HistoryError;
use super::store::open_connection;
use super::writer::HistoryStats;

/// Most events one page or API call returns.
pub const MAX_PAGE: usize = 200;
/// Most points of one chart; longer series are averaged into this many.
pub const MAX_POINTS: usize = 720;

/// An event search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    pub host: Option<String>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    /// `alert`, `metric` or `system`.
    pub kind: Option<String>,
    /// Text the message contains (case-insensitive for ASCII).
    pub text: Option<String>,
    /// Received at or after / before, ms since the epoch.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Only events older than this cursor (from the previous page).
    pub after: Option<i64>,
    pub limit: usize,
}

/// One event of the history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventRow {
    /// Cursor of this event.
    pub cursor: i64,
    pub received_ms: i64,
    pub time_ms: i64,
    pub host: String,
    pub id: i64,
    pub tags: String,
    pub kind: String,
    pub check: Option<String>,
    pub state: Option<String>,
    pub source: Option<String>,
    pub message: String,
    pub value: Option<f64>,
    /// With `peers:`: the supervisor it came from (this one's name or the
    /// peer's URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// A page of events, and the cursor of the next (older) one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventPage {
    pub events: Vec<EventRow>,
    pub next: Option<i64>,
}

/// A metric series of a host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Series {
    pub id: i64,
    pub tags: String,
}

/// A chart's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Day,
    Week,
    Quarter,
}

impl Span {
    pub const ALL: [Span; 3] = [Span::Day, Span::Week, Span::Quarter];

    pub fn millis(self) -> i64 {
        match self {
            Span::Day => 86_400_000,
            Span::Week => 7 * 86_400_000,
            Span::Quarter => 90 * 86_400_000,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Span::Day => "24 h",
            Span::Week => "7 d",
            Span::Quarter => "90 d",
        }
    }
}

/// One point of a chart: the bucket's start, average, minimum, maximum.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    pub t_ms: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

/// The database's health, for `/supervisor`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistoryHealth {
    pub path: String,
    /// The database file and its WAL, bytes.
    pub file_bytes: u64,
    /// Pages holding data, bytes (what `history_max_mb:` limits).
    pub bytes_in_use: u64,
    /// Stream bytes written but not yet in the database.
    pub lag_bytes: u64,
    pub dropped_batches: u64,
    pub catch_ups: u64,
    pub lines: u64,
    pub failures: u64,
    pub running: bool,
    /// Writing nothing: its disk has less than
    /// [`MIN_FREE_BYTES`](super::MIN_FREE_BYTES) free.
    pub paused_for_space: bool,
}

/// The window's handle on the history.
pub struct HistoryReader {
    path: PathBuf,
    stats: Option<Arc<HistoryStats>>,
    conn: Mutex<Option<Connection>>,
}

impl HistoryReader {
    pub fn new(path: PathBuf, stats: Option<Arc<HistoryStats>>) -> HistoryReader {
        HistoryReader {
            path,
            stats,
            conn: Mutex::new(None),
        }
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, HistoryError> {
        let mut slot = self
            .conn
            .lock()
            .map_err(|_| HistoryError::Other("history reader poisoned".into()))?;
        if slot.is_none() {
            *slot = Some(open_connection(&self.path, true)?);
        }
        let conn = slot
            .as_ref()
            .ok_or_else(|| HistoryError::Other("no connection".into()))?;
        f(conn).map_err(|e| HistoryError::db(&self.path, e))
    }

    /// Events matching `q`, newest first.
    pub fn events(&self, q: &EventQuery) -> Result<EventPage, HistoryError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let mut sql = String::from(
            "SELECT id, received_ms, time_ms, host, event_id, tags, kind, check_id, state, source,
             message, value FROM events WHERE 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(h) = &q.host {
            arg(&mut sql, " AND host = ?", h.clone().into());
        }
        for t in &q.tags {
            arg(
                &mut sql,
                " AND (',' || tags || ',') LIKE ? ESCAPE '\\'",
                format!("%,{},%", like_escape(t)).into(),
            );
        }
        if let Some(k) = &q.kind {
            arg(&mut sql, " AND kind = ?", k.clone().into());
        }
        if let Some(text) = &q.text {
            arg(
                &mut sql,
                " AND message LIKE ? ESCAPE '\\'",
                format!("%{}%", like_escape(text)).into(),
            );
        }
        if let Some(from) = q.from_ms {
            arg(&mut sql, " AND received_ms >= ?", from.into());
        }
        if let Some(to) = q.to_ms {
            arg(&mut sql, " AND received_ms < ?", to.into());
        }
        if let Some(after) = q.after {
            arg(&mut sql, " AND id < ?", after.into());
        }
        // One more than asked says whether there is a next page.
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let mut events = self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
                Ok(EventRow {
                    cursor: r.get(0)?,
                    received_ms: r.get(1)?,
                    time_ms: r.get(2)?,
                    host: r.get(3)?,
                    id: r.get(4)?,
                    tags: r.get(5)?,
                    kind: r.get(6)?,
                    check: r.get(7)?,
                    state: r.get(8)?,
                    source: r.get(9)?,
                    message: r.get(10)?,
                    value: r.get(11)?,
                    from: None,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| e.cursor)
        } else {
            None
        };
        Ok(EventPage { events, next })
    }

    /// The metric series of `host`, by tags.
    pub fn series(&self, host: &str) -> Result<Vec<Series>, HistoryError> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, tags FROM series WHERE host = ?1 ORDER BY tags")?;
            let rows = stmt.query_map([host], |r| {
                Ok(Series {
                    id: r.get(0)?,
                    tags: r.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Points of `series` over `span` up to `now_ms`: minute aggregates for
    /// a day, hour aggregates beyond, at most [`MAX_POINTS`].
    pub fn points(&self, series: i64, span: Span, now_ms: i64) -> Result<Vec<Point>, HistoryError> {
        let (table, unit) = match span {
            Span::Day => ("metric_minute", 60_000),
            Span::Week | Span::Quarter => ("metric_hour", 3_600_000),
        };
        let from = (now_ms - span.millis()).div_euclid(unit);
        let points: Vec<Point> = self.with(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT t, avg, min, max FROM {table} WHERE series = ?1 AND t >= ?2 ORDER BY t"
            ))?;
            let rows = stmt.query_map(rusqlite::params![series, from], |r| {
                Ok(Point {
                    t_ms: r.get::<_, i64>(0)? * unit,
                    avg: r.get(1)?,
                    min: r.get(2)?,
                    max: r.get(3)?,
                })
            })?;
            rows.collect()
        })?;
        Ok(thin(points, MAX_POINTS))
    }

    /// The share of `[now - window, now]` the host was up, counted from
    /// when the history first heard of it; `None` if it never did.
    pub fn availability(
        &self,
        host: &str,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<Option<f64>, HistoryError> {
        let start = now_ms - window_ms;
        let (first, before, changes) = self.with(|c| {
            let first: Option<i64> = c
                .query_row("SELECT first_ms FROM hosts_seen WHERE host = ?1", [host], |r| r.get(0))
                .ok();
            let before: Option<bool> = c
                .query_row(
                    "SELECT up FROM host_states WHERE host = ?1 AND at_ms < ?2 ORDER BY at_ms DESC LIMIT 1",
                    rusqlite::params![host, start],
                    |r| r.get(0),
                )
                .ok();
            let mut stmt = c.prepare_cached(
                "SELECT at_ms, up FROM host_states WHERE host = ?1 AND at_ms >= ?2 AND at_ms <= ?3 ORDER BY at_ms",
            )?;
            let changes = stmt
                .query_map(rusqlite::params![host, start, now_ms], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((first, before, changes))
        })?;
        Ok(availability(first, before, &changes, start, now_ms))
    }

    /// Size, lag and counters of the history.
    pub fn health(&self) -> HistoryHealth {
        let file = |suffix: &str| {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            std::fs::metadata(PathBuf::from(p)).map_or(0, |m| m.len())
        };
        let get = |f: fn(&HistoryStats) -> &std::sync::atomic::AtomicU64| {
            self.stats
                .as_ref()
                .map_or(0, |s| f(s).load(Ordering::Relaxed))
        };
        HistoryHealth {
            path: self.path.display().to_string(),
            file_bytes: file("") + file("-wal"),
            bytes_in_use: get(|s| &s.db_bytes),
            lag_bytes: self.stats.as_ref().map_or(0, |s| s.lag_bytes()),
            dropped_batches: get(|s| &s.dropped_batches),
            catch_ups: get(|s| &s.catch_ups),
            lines: get(|s| &s.lines),
            failures: get(|s| &s.failures),
            running: self
                .stats
                .as_ref()
                .is_some_and(|s| s.running.load(Ordering::Relaxed)),
            paused_for_space: self
                .stats
                .as_ref()
                .is_some_and(|s| s.paused_for_space.load(Ordering::Relaxed)),
        }
    }
}

/// Pure availability: `first` heard, the state before the window, the
/// changes inside it.
pub fn availability(
    first_ms: Option<i64>,
    before: Option<bool>,
    changes: &[(i64, bool)],
    start: i64,
    now: i64,
) -> Option<f64> {
    let first = first_ms?;
    let known_from = start.max(first.min(changes.first().map_or(first, |c| c.0)));
    if now <= known_from {
        return None;
    }
    let mut up_ms = 0;
    let mut state = before.unwrap_or(true);
    let mut at = known_from;
    for &(t, up) in changes {
        let t = t.clamp(known_from, now);
        if state {
            up_ms += t - at;
        }
        at = t;
        state = up;
    }
    if state {
        up_ms += now - at;
    }
    Some(up_ms as f64 / (now - known_from) as f64)
}

/// At most `max` points, neighbours averaged together.
fn thin(points: Vec<Point>, max: usize) -> Vec<Point> {
    if points.len() <= max {
        return points;
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| Point {
            t_ms: c[0].t_ms,
            avg: c.iter().map(|p| p.avg).sum::<f64>() / c.len() as f64,
            min: c.iter().map(|p| p.min).fold(f64::INFINITY, f64::min),
            max: c.iter().map(|p| p.max).fold(f64::NEG_INFINITY, f64::max),
        })
        .collect()
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_counts_down_time_inside_the_window() {
        // Known since 0, down from 600 to 800, window 0..1000.
        let a = availability(Some(0), None, &[(600, false), (800, true)], 0, 1000).unwrap();
        assert!((a - 0.8).abs() < 1e-9, "{a}");
        // Down before the window and never back.
        assert_eq!(
            availability(Some(0), Some(false), &[], 500, 1000),
            Some(0.0)
        );
        // First heard in the middle: only known time counts.
        assert_eq!(availability(Some(500), None, &[], 0, 1000), Some(1.0));
        assert_eq!(availability(None, None, &[], 0, 1000), None);
    }
}
