//! The window's history parts: the `/events` search form and its query
//! string, the host page's recent events, charts (server-rendered SVG, no
//! JavaScript) and availability, and the history section of
//! `/supervisor`. Rendering is pure; [`HostHistory::gather`] is the one
//! function that asks the database (on the blocking pool).

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use maud::{Markup, html};
use serde::Deserialize;

use super::view::{clock, url_encode};
use crate::history::HistoryReader;
use crate::history::query::{EventQuery, EventRow, HistoryHealth, Point, Series, Span};
use crate::peers::events::{MergedCursor, MergedPage};

/// Events shown on a host page.
pub const HOST_PAGE_EVENTS: usize = 20;
/// Events on one page of `/events` (and the API's default).
pub const EVENTS_PER_PAGE: usize = 50;
/// Availability windows of the host page.
pub const AVAILABILITY_WINDOWS: [(&str, i64); 3] = [
    ("24 h", 86_400_000),
    ("7 d", 7 * 86_400_000),
    ("30 d", 30 * 86_400_000),
];

/// `?host=&tags=&kind=&q=&from=&to=&after=&limit=` of `/events` and
/// `/api/v1/events`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct EventsQuery {
    pub host: Option<String>,
    /// Comma-separated; every one must be on the event.
    pub tags: Option<String>,
    pub kind: Option<String>,
    pub q: Option<String>,
    /// `2026-12-01T13:00` (local time, as a browser's date field sends),
    /// RFC 3339, or Unix seconds.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The cursor of the previous page's `next`.
    pub after: Option<String>,
    pub limit: Option<String>,
    /// `true`: this supervisor's events only, not its peers' (how peers ask).
    pub local: Option<String>,
}

impl EventsQuery {
    /// The search, or what is wrong with the query string.
    pub fn check(&self) -> Result<EventQuery, String> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let kind = nonempty(&self.kind);
        if let Some(k) = &kind
            && !matches!(k.as_str(), "alert" | "metric" | "system")
        {
            return Err(format!(
                "unknown kind `{k}`; kinds are alert, metric, system"
            ));
        }
        let number = |name: &str, v: &Option<String>| -> Result<Option<i64>, String> {
            nonempty(v)
                .map(|s| {
                    s.parse::<i64>()
                        .map_err(|_| format!("`{name}` must be a whole number, found `{s}`"))
                })
                .transpose()
        };
        let limit = number("limit", &self.limit)?.unwrap_or(EVENTS_PER_PAGE as i64);
        if !(1..=crate::history::query::MAX_PAGE as i64).contains(&limit) {
            return Err(format!(
                "`limit` must be from 1 to {}",
                crate::history::query::MAX_PAGE
            ));
        }
        Ok(EventQuery {
            host: nonempty(&self.host),
            tags: nonempty(&self.tags)
                .map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            kind,
            text: nonempty(&self.q),
            from_ms: nonempty(&self.from)
                .map(|t| time_ms("from", &t))
                .transpose()?,
            to_ms: nonempty(&self.to).map(|t| time_ms("to", &t)).transpose()?,
            after: number("after", &self.after)?,
            limit: limit as usize,
        })
    }

    /// `?local=true`: this supervisor's own events only.
    pub fn local(&self) -> Result<bool, String> {
        match self.local.as_deref().map(str::trim) {
            None | Some("" | "false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(format!(
                "`local` must be `true` or `false`, found `{other}`"
            )),
        }
    }

    /// The search of a merged page (`peers:`): the filters, and the cursor
    /// with one position for each of `sources`.
    pub fn check_merged(&self, sources: usize) -> Result<(EventQuery, MergedCursor), String> {
        let search = EventsQuery {
            after: None,
            ..self.clone()
        }
        .check()?;
        let cursor = match self.after.as_deref().map(str::trim) {
            None | Some("") => MergedCursor::start(sources),
            Some(text) => MergedCursor::parse(text, sources)?,
        };
        Ok((search, cursor))
    }

    /// This query string with `after` replaced.
    pub fn with_after(&self, after: &str) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("host", &self.host),
            ("tags", &self.tags),
            ("kind", &self.kind),
            ("q", &self.q),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{name}={}", url_encode(v)));
            }
        }
        parts.push(format!("after={after}"));
        parts.join("&")
    }
}

/// The query string asking a peer for one page of its own events with the
/// filters of `search` (times as RFC 3339 with milliseconds, so none is lost).
pub fn peer_query(search: &EventQuery, after: Option<i64>) -> String {
    let rfc3339 = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let mut parts = vec!["local=true".to_string(), format!("limit={}", search.limit)];
    let tags = search.tags.join(",");
    for (name, value) in [
        ("host", search.host.clone()),
        ("tags", Some(tags).filter(|t| !t.is_empty())),
        ("kind", search.kind.clone()),
        ("q", search.text.clone()),
        ("from", search.from_ms.map(rfc3339)),
        ("to", search.to_ms.map(rfc3339)),
        ("after", after.map(|a| a.to_string())),
    ] {
        if let Some(v) = value {
            parts.push(format!("{name}={}", url_encode(&v)));
        }
    }
    parts.join("&")
}

fn time_ms(name: &str, text: &str) -> Result<i64, String> {
    if let Ok(secs) = text.parse::<i64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| format!("`{name}` is out of range"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    for layout in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, layout)
            && let Some(t) = Local.from_local_datetime(&t).earliest()
        {
            return Ok(t.timestamp_millis());
        }
    }
    Err(format!(
        "`{name}` must be a time such as 2026-12-01T13:00 (local), RFC 3339 or Unix seconds, found `{text}`"
    ))
}

/// One metric series and its points over each chart span.
pub type SeriesCharts = (Series, Vec<(Span, Vec<Point>)>);

/// What the host page shows from the history.
#[derive(Debug, Default)]
pub struct HostHistory {
    pub events: Vec<EventRow>,
    pub charts: Vec<SeriesCharts>,
    pub availability: Vec<(&'static str, Option<f64>)>,
    /// Why the history could not be read, if it could not.
    pub error: Option<String>,
}

impl HostHistory {
    /// Asks the database; blocking.
    pub fn gather(reader: &HistoryReader, host: &str, now_ms: i64) -> HostHistory {
        let mut out = HostHistory::default();
        let result = (|| -> Result<(), crate::history::HistoryError> {
            out.events = reader
                .events(&EventQuery {
                    host: Some(host.to_string()),
                    limit: HOST_PAGE_EVENTS,
                    ..EventQuery::default()
                })?
                .events;
            for series in reader.series(host)? {
                let mut spans = Vec::new();
                for span in Span::ALL {
                    spans.push((span, reader.points(series.id, span, now_ms)?));
                }
                out.charts.push((series, spans));
            }
            for (label, window) in AVAILABILITY_WINDOWS {
                out.availability
                    .push((label, reader.availability(host, window, now_ms)?));
            }
            Ok(())
        })();
        if let Err(e) = result {
            out.error = Some(e.to_string());
        }
        out
    }
}

fn ms(t: i64) -> String {
    clock(t.max(0) as u64)
}

/// Rows of events, newest first; with a column of where each came from
/// when they are merged from several supervisors.
pub fn events_table(events: &[EventRow]) -> Markup {
    let merged = events.iter().any(|e| e.from.is_some());
    html! {
        @if events.is_empty() {
            p.muted { "No events." }
        } @else {
            table.events {
                tr {
                    th { "Received" } @if merged { th { "From" } }
                    th { "Host" } th { "Kind" } th { "Tags" } th { "Message" } th { "Source" }
                }
                @for e in events {
                    tr {
                        td { (ms(e.received_ms)) }
                        @if merged { td.from { (e.from.clone().unwrap_or_default()) } }
                        td { a href={ "/hosts/" (url_encode(&e.host)) } { (e.host) } }
                        td { (e.kind) @if let Some(s) = &e.state { " (" (s) ")" } }
                        td { (e.tags) }
                        td { (e.message) }
                        td { (e.source.clone().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// The host page's history section.
pub fn host_section(h: &HostHistory, host: &str, now_ms: i64) -> Markup {
    html! {
        @if let Some(e) = &h.error {
            p.err { "The history cannot be read: " (e) }
        }
        h2 { "Availability" }
        table {
            tr { @for (label, _) in &h.availability { th { (label) } } }
            tr { @for (_, a) in &h.availability {
                td { @match a { Some(a) => { (format!("{:.2} %", a * 100.0)) }, None => span.muted { "—" } } }
            } }
        }
        h2 { "Charts" }
        @if h.charts.is_empty() {
            p.muted { "No metric series in the history." }
        }
        @for (series, spans) in &h.charts {
            h3 { (series.tags) }
            div.charts {
                @for (span, points) in spans {
                    figure { (chart(points, *span, now_ms)) figcaption { (span.label()) } }
                }
            }
        }
        h2 { "Recent events" }
        (events_table(&h.events))
        p { a href={ "/events?host=" (url_encode(host)) } { "All events of " (host) } }
    }
}

/// Chart size, SVG user units.
const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 120.0;
const PAD: f64 = 4.0;

/// A line of the averages over a band from minimum to maximum, time on x
/// from `now - span` to `now`; the axis labels are the value range.
pub fn chart(points: &[Point], span: Span, now_ms: i64) -> Markup {
    let start = now_ms - span.millis();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.min), hi.max(p.max))
        });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    let x = |t: i64| PAD + (t - start) as f64 / span.millis() as f64 * (WIDTH - 2.0 * PAD);
    let y = |v: f64| HEIGHT - PAD - (v - lo) / (hi - lo) * (HEIGHT - 2.0 * PAD);
    let mut line = String::new();
    let mut band = String::new();
    for (i, p) in points.iter().enumerate() {
        line.push_str(&format!(
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(p.t_ms),
            y(p.avg)
        ));
        band.push_str(&format!(
            "{}{:.1},{:.1} ",
            if i == 0 { "M" } else { "L" },
            x(p.t_ms),
            y(p.max)
        ));
    }
    for p in points.iter().rev() {
        band.push_str(&format!("L{:.1},{:.1} ", x(p.t_ms), y(p.min)));
    }
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img"
            aria-label={ (span.label()) ": " (points.len()) " points" } {
            rect x="0" y="0" width=(WIDTH) height=(HEIGHT) fill="#fafafa" stroke="#ddd" {}
            @if points.is_empty() {
                text x="10" y="64" fill="#777" { "no data" }
            } @else {
                path.band d=(band.trim_end()) fill="#cfe0f3" stroke="none" {}
                path.line d=(line.trim_end()) fill="none" stroke="#1f5fa8" stroke-width="1.5" {}
                text x="6" y="14" font-size="11" fill="#555" { (fmt_value(hi)) }
                text x="6" y=(HEIGHT - 6.0) font-size="11" fill="#555" { (fmt_value(lo)) }
            }
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The `/events` page body.
pub fn events_body(query: &EventsQuery, result: &Result<MergedPage, String>) -> Markup {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    html! {
        h1 { "Events" }
        form.filter method="get" action="/events" {
            input name="host" placeholder="host" value=(v(&query.host));
            input name="tags" placeholder="tags (a,b)" value=(v(&query.tags));
            select name="kind" {
                option value="" { "any kind" }
                @for k in ["alert", "metric", "system"] {
                    option value=(k) selected[query.kind.as_deref() == Some(k)] { (k) }
                }
            }
            input name="q" placeholder="text" value=(v(&query.q));
            input name="from" type="datetime-local" value=(v(&query.from));
            input name="to" type="datetime-local" value=(v(&query.to));
            button type="submit" { "Search" }
            " " a href="/events" { "clear" }
        }
        @match result {
            Ok(page) => {
                @if !page.unreachable_peers.is_empty() {
                    @for url in &page.unreachable_peers {
                        p.err.peer-down role="alert" {
                            "Peer " code { (url) } " did not answer: its events are not on this page."
                        }
                    }
                }
                (events_table(&page.events))
                @if let Some(next) = &page.next {
                    p { a.next href={ "/events?" (query.with_after(next)) } { "Older events →" } }
                }
            },
            Err(e) => p.err { (e) },
        }
    }
}

/// The history rows of `/supervisor`.
pub fn supervisor_section(h: Option<&HistoryHealth>) -> Markup {
    html! {
        h2 { "History" }
        @match h {
            None => p.muted { "No history database (it could not be opened: see the log)." },
            Some(h) => table {
                tr { th { "Database" } td { code { (h.path) } } }
                tr { th { "Database size" } td { (h.file_bytes) " bytes (" (h.bytes_in_use) " in use)" } }
                tr { th { "History lag" } td {
                    (h.lag_bytes) " bytes of the stream not yet indexed"
                } }
                tr { th { "Lines indexed" } td { (h.lines) } }
                tr { th { "Batches left to the catch-up" } td { (h.dropped_batches) " (" (h.catch_ups) " catch-ups)" } }
                tr { th { "Write failures" } td { (h.failures) } }
                tr { th { "Thread" } td {
                    @if !h.running { span.err { "stopped" } }
                    @else if h.paused_for_space {
                        span.err { "paused: less than " (crate::history::MIN_FREE_BYTES / (1024 * 1024)) " MiB free on its disk" }
                        " (the space is left to the stream; it catches up once there is room)"
                    }
                    @else { span.up { "running" } }
                } }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_draws_a_path_through_every_point() {
        let now = 1_000 * 86_400_000;
        let points: Vec<Point> = (0..3)
            .map(|i| Point {
                t_ms: now - 3_600_000 * (3 - i),
                avg: i as f64,
                min: 0.0,
                max: 2.0,
            })
            .collect();
        let svg = chart(&points, Span::Day, now).into_string();
        assert!(svg.contains("<path class=\"line\" d=\"M"), "{svg}");
        assert_eq!(svg.matches(" L").count() + 1, 3 + 3 + 2, "{svg}");
        assert!(
            chart(&[], Span::Week, now)
                .into_string()
                .contains("no data")
        );
    }

    #[test]
    fn events_query_checks_kind_limit_and_times() {
        let q = EventsQuery {
            tags: Some("web, disk".into()),
            kind: Some("alert".into()),
            from: Some("1700000000".into()),
            ..EventsQuery::default()
        };
        let e = q.check().unwrap();
        assert_eq!(e.tags, ["web", "disk"]);
        assert_eq!(e.from_ms, Some(1_700_000_000_000));
        assert_eq!(e.limit, EVENTS_PER_PAGE);
        assert!(
            EventsQuery {
                kind: Some("x".into()),
                ..EventsQuery::default()
            }
            .check()
            .is_err()
        );
        assert!(
            EventsQuery {
                limit: Some("0".into()),
                ..EventsQuery::default()
            }
            .check()
            .is_err()
        );
        assert!(
            EventsQuery {
                to: Some("yesterday".into()),
                ..EventsQuery::default()
            }
            .check()
            .is_err()
        );
        assert_eq!(
            q.with_after("5"),
            "tags=web%2C%20disk&kind=alert&from=1700000000&after=5"
        );
    }
}
