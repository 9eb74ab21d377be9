//! The history against real SQLite files in a temporary folder.

use chrono::{Local, TimeZone};
use conf::{StreamFormat, SupervisorConfig};
use wire::{Event, EventKind};

use super::maintenance::{backup, rebuild, rebuild_into};
use super::query::{EventQuery, HistoryReader, Span};
use super::store::Store;
use super::{Retention, database_path};
use crate::stream::{Received, append_event_line, append_system_line};

const MINUTE: i64 = 60_000;

fn line(format: StreamFormat, at_ms: i64, host: &str, event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    let at = Local.timestamp_millis_opt(at_ms).unwrap();
    append_event_line(&mut out, &Received::new(format, &at), host, event);
    out
}

fn system(format: StreamFormat, at_ms: i64, host: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let at = Local.timestamp_millis_opt(at_ms).unwrap();
    append_system_line(&mut out, &Received::new(format, &at), host, message);
    out
}

fn metric(id: u64, at_ms: i64, value: f64) -> Event {
    Event {
        id,
        time_ms: at_ms,
        tags: "disk,metric".into(),
        source: None,
        kind: EventKind::Metric,
        message: value.to_string(),
        value: Some(value),
    }
}

fn alert(id: u64, at_ms: i64, message: &str) -> Event {
    Event {
        id,
        time_ms: at_ms,
        tags: "web,error".into(),
        source: Some("/var/log/syslog".into()),
        kind: EventKind::Alert,
        message: message.into(),
        value: None,
    }
}

/// A day of a host: a metric every minute, an alert every hour, an
/// inactive spell of 30 minutes, all before `now`.
fn day_of_lines(format: StreamFormat, now: i64) -> Vec<u8> {
    let start = (now - 86_400_000).div_euclid(MINUTE) * MINUTE;
    let mut out = Vec::new();
    for i in 0..1440 {
        let t = start + i * MINUTE;
        out.extend(line(
            format,
            t + 500,
            "web1",
            &metric(i as u64 + 1, t, (i % 100) as f64),
        ));
        if i % 60 == 0 {
            out.extend(line(
                format,
                t + 700,
                "web1",
                &alert(100_000 + i as u64, t, &format!("ERROR number {i}")),
            ));
        }
        if i == 600 {
            out.extend(system(format, t + 900, "web1", "Host is inactive"));
        }
        if i == 630 {
            out.extend(system(format, t + 900, "web1", "Host is active again"));
        }
    }
    out
}

fn config(dir: &std::path::Path, format: StreamFormat) -> SupervisorConfig {
    let mut c = SupervisorConfig::loopback(dir, 9000).unwrap();
    c.stream_format = format;
    c
}

fn dump(path: &std::path::Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT received_ms, time_ms, host, event_id, tags, kind, source, message, value FROM events ORDER BY id",
        "SELECT s.host, s.tags, m.t, m.min, m.max, m.avg, m.n FROM metric_minute m JOIN series s ON s.id = m.series ORDER BY 1, 2, 3",
        "SELECT s.host, s.tags, m.t, m.min, m.max, m.avg, m.n FROM metric_hour m JOIN series s ON s.id = m.series ORDER BY 1, 2, 3",
        "SELECT host, at_ms, up FROM host_states ORDER BY 1, 2",
    ] {
        let mut stmt = c.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut s = String::new();
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    s.push_str(&format!("{v:?}|"));
                }
                Ok(s)
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn ingest_indexes_events_series_and_states_and_is_idempotent() {
    for format in [StreamFormat::Classic, StreamFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let now = crate::now().wall_ms as i64;
        let lines = day_of_lines(format, now);
        let mut store = Store::open(&path, format).unwrap();
        let first = store.ingest(&lines).unwrap();
        assert_eq!(first.lines, 1440 + 24 + 2);
        assert_eq!((first.known, first.unreadable), (0, 0));
        let again = store.ingest(&lines).unwrap();
        assert_eq!(again.known, first.lines, "a line read twice is stored once");

        let reader = HistoryReader::new(path.clone(), None);
        let alerts = reader
            .events(&EventQuery {
                host: Some("web1".into()),
                kind: Some("alert".into()),
                text: Some("number 1380".into()),
                limit: 10,
                ..EventQuery::default()
            })
            .unwrap();
        assert_eq!(alerts.events.len(), 1, "{format:?}");
        assert_eq!(alerts.events[0].message, "ERROR number 1380");
        assert_eq!(alerts.events[0].source.as_deref(), Some("/var/log/syslog"));
        let series = reader.series("web1").unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].tags, "disk,metric");
        let day = reader.points(series[0].id, Span::Day, now).unwrap();
        assert!(
            (719..=720).contains(&day.len()),
            "a day of minutes thinned to MAX_POINTS: {}",
            day.len()
        );
        let week = reader.points(series[0].id, Span::Week, now).unwrap();
        assert!((24..=25).contains(&week.len()), "{}", week.len());
        let a = reader
            .availability("web1", 86_400_000, now)
            .unwrap()
            .unwrap();
        assert!((a - (1.0 - 30.0 / 1440.0)).abs() < 0.002, "{a}");
    }
}

#[test]
fn aggregates_are_min_max_and_mean_of_their_minute_and_hour() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut store = Store::open(&path, StreamFormat::Json).unwrap();
    let hour = 1_000 * 3_600_000;
    let mut lines = Vec::new();
    for (i, (offset, v)) in [(0, 1.0), (10_000, 3.0), (MINUTE, 10.0)]
        .into_iter()
        .enumerate()
    {
        lines.extend(line(
            StreamFormat::Json,
            hour + offset,
            "db",
            &metric(i as u64 + 1, hour + offset, v),
        ));
    }
    // In two batches: the second recomputes the first minute, not adds.
    let (a, b) = lines.split_at(lines.iter().position(|c| *c == b'\n').unwrap() + 1);
    store.ingest(a).unwrap();
    store.ingest(b).unwrap();
    let c = store.connection();
    let minute: (f64, f64, f64, i64) = c
        .query_row(
            "SELECT min, max, avg, n FROM metric_minute WHERE t = ?1",
            [hour / MINUTE],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(minute, (1.0, 3.0, 2.0, 2));
    let h: (f64, f64, f64, i64) = c
        .query_row(
            "SELECT min, max, avg, n FROM metric_hour WHERE t = 1000",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(h, (1.0, 10.0, 14.0 / 3.0, 3));
}

#[test]
fn retention_drops_old_events_and_raw_values_and_keeps_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let now = crate::now().wall_ms as i64;
    let mut store = Store::open(&path, StreamFormat::Json).unwrap();
    let mut lines = Vec::new();
    for (i, age_days) in [10, 3, 1].into_iter().enumerate() {
        let t = now - age_days * 86_400_000;
        lines.extend(line(
            StreamFormat::Json,
            t,
            "web1",
            &metric(i as u64 + 1, t, 5.0),
        ));
    }
    store.ingest(&lines).unwrap();
    store
        .apply_retention(
            &Retention {
                days: 7,
                max_bytes: 1 << 30,
            },
            now,
        )
        .unwrap();
    let count = |store: &Store, sql: &str| -> i64 {
        store.connection().query_row(sql, [], |r| r.get(0)).unwrap()
    };
    assert_eq!(
        count(&store, "SELECT count(*) FROM events"),
        2,
        "older than 7 days goes"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM metric_raw"),
        1,
        "raw values stay 48 hours"
    );
    assert_eq!(
        count(&store, "SELECT count(*) FROM metric_hour"),
        3,
        "aggregates stay 90 days"
    );

    // Size: 5,000 alerts with long messages, then a limit of 200 kB.
    let mut lines = Vec::new();
    for i in 0..5_000u64 {
        let t = now - 1_000 + i as i64;
        lines.extend(line(
            StreamFormat::Json,
            t,
            "web1",
            &alert(10 + i, t, &"x".repeat(200)),
        ));
    }
    store.ingest(&lines).unwrap();
    assert!(store.bytes_in_use().unwrap() > 1_000_000);
    store
        .apply_retention(
            &Retention {
                days: 7,
                max_bytes: 200_000,
            },
            now,
        )
        .unwrap();
    assert!(store.bytes_in_use().unwrap() <= 200_000);
    let left = count(&store, "SELECT count(*) FROM events");
    assert!(left > 0 && left < 5_000, "{left}");
    let oldest_left: i64 = count(
        &store,
        "SELECT min(event_id) FROM events WHERE kind = 'alert'",
    );
    assert!(oldest_left > 10, "the oldest go first");
}

#[test]
fn rebuild_from_the_stream_file_gives_the_same_index() {
    for format in [StreamFormat::Classic, StreamFormat::Json] {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), format);
        let now = crate::now().wall_ms as i64;
        let lines = day_of_lines(format, now);
        std::fs::create_dir_all(config.event_stream.parent().unwrap()).unwrap();
        std::fs::write(&config.event_stream, &lines).unwrap();
        // As the running supervisor would: in batches of a few lines.
        let live = dir.path().join("live.db");
        let mut store = Store::open(&live, format).unwrap();
        for chunk in lines
            .split_inclusive(|b| *b == b'\n')
            .collect::<Vec<_>>()
            .chunks(7)
        {
            store.ingest(&chunk.concat()).unwrap();
        }
        drop(store);
        let rebuilt = rebuild(&config).unwrap();
        assert_eq!(rebuilt.files, 1);
        assert_eq!(rebuilt.ingested.lines, 1440 + 24 + 2);
        assert_eq!(dump(&live), dump(&database_path(&config)), "{format:?}");
        let scratch = dir.path().join("other.db");
        rebuild_into(&config, &scratch).unwrap();
        assert_eq!(dump(&scratch), dump(&live));

        let copy = dir.path().join("backup.db");
        assert!(backup(&config, &copy).unwrap() > 0);
        assert_eq!(dump(&copy), dump(&live));
        assert!(backup(&config, &copy).is_err(), "never overwrites");
    }
}
