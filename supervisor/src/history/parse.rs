//! One stream line read back into the fields the history indexes.
//!
//! The `json` format carries every field. The `436` format has no kind and
//! no value: a line tagged `SYSTEM` is a supervisor event, a line whose
//! whole message is a finite number is a metric (that is how observers
//! write `alert_metric` / `alert_count` messages), anything else an alert.
//! Its receive time is the local `ctime` of the line, to the second.
//! Issue-11 fields (`check`, `state`, `duration`) are read when a JSON line
//! has them.

use chrono::{Local, NaiveDateTime, TimeZone};
use conf::StreamFormat;

use crate::stream::SYSTEM_TAGS;

/// A stream line, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    /// When the supervisor received it, ms since the epoch.
    pub received_ms: i64,
    /// When the observer raised it, ms since the epoch.
    pub time_ms: i64,
    pub host: String,
    /// The observer's event id; 0 for supervisor events.
    pub event_id: u64,
    pub tags: String,
    pub kind: &'static str,
    pub check: Option<String>,
    /// `open` or `cleared` on stateful events.
    pub state: Option<String>,
    pub source: Option<String>,
    pub message: String,
    pub value: Option<f64>,
}

/// `None` for a line that is not a stream line of `format`.
pub fn parse_line(format: StreamFormat, line: &str) -> Option<StreamRecord> {
    match format {
        StreamFormat::Classic => parse_classic(line),
        StreamFormat::Json => parse_json(line),
    }
}

fn parse_classic(line: &str) -> Option<StreamRecord> {
    let mut f = line.splitn(7, "%%");
    let (ctime, host, id, ts, tags, source, message) = (
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
        f.next()?,
    );
    let received = NaiveDateTime::parse_from_str(ctime, "%a %b %e %H:%M:%S %Y").ok()?;
    let received_ms = Local
        .from_local_datetime(&received)
        .earliest()?
        .timestamp_millis();
    let time_ms = ts.parse::<i64>().ok()?.checked_mul(1000)?;
    let (kind, value) = if tags == SYSTEM_TAGS {
        ("system", None)
    } else {
        match message.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => ("metric", Some(v)),
            _ => ("alert", None),
        }
    };
    Some(StreamRecord {
        received_ms,
        time_ms,
        host: host.to_string(),
        event_id: id.parse().ok()?,
        tags: tags.to_string(),
        kind,
        check: None,
        state: None,
        source: (source != "NULL").then(|| source.to_string()),
        message: message.to_string(),
        value,
    })
}

/// A JSON line's fields, borrowed where the text has no escapes.
#[derive(serde::Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow)]
    received: std::borrow::Cow<'a, str>,
    host: String,
    id: u64,
    time: f64,
    tags: String,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    source: Option<String>,
    message: String,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    check: Option<serde_json::Value>,
    #[serde(default)]
    state: Option<String>,
}

fn parse_json(line: &str) -> Option<StreamRecord> {
    let v: JsonLine = serde_json::from_str(line).ok()?;
    let received = chrono::DateTime::parse_from_rfc3339(&v.received).ok()?;
    let kind = match &*v.kind {
        "metric" => "metric",
        "system" => "system",
        _ => "alert",
    };
    Some(StreamRecord {
        received_ms: received.timestamp_millis(),
        time_ms: (v.time * 1000.0).round() as i64,
        host: v.host,
        event_id: v.id,
        tags: v.tags,
        kind,
        check: v.check.and_then(|c| match c {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        state: v.state,
        source: v.source,
        message: v.message,
        value: v.value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Received, append_event_line, append_system_line};
    use wire::{Event, EventKind};

    fn metric() -> Event {
        Event {
            id: 7,
            time_ms: 1_763_740_619_000,
            tags: "disk,metric".into(),
            source: None,
            kind: EventKind::Metric,
            message: "91.5".into(),
            value: Some(91.5),
        }
    }

    #[test]
    fn both_formats_read_back_what_was_written() {
        let at = Local.timestamp_millis_opt(1_763_740_620_000).unwrap();
        for format in [StreamFormat::Classic, StreamFormat::Json] {
            let mut out = Vec::new();
            let received = Received::new(format, &at);
            append_event_line(&mut out, &received, "web1", &metric());
            append_system_line(&mut out, &received, "web1", "Host is inactive");
            let text = String::from_utf8(out).unwrap();
            let mut lines = text.lines();
            let m = parse_line(format, lines.next().unwrap()).unwrap();
            assert_eq!(m.host, "web1");
            assert_eq!(m.event_id, 7);
            assert_eq!(m.kind, "metric");
            assert_eq!(m.value, Some(91.5));
            assert_eq!(m.time_ms, 1_763_740_619_000);
            assert_eq!(m.received_ms, 1_763_740_620_000);
            assert_eq!(m.source, None);
            let s = parse_line(format, lines.next().unwrap()).unwrap();
            assert_eq!((s.kind, s.event_id), ("system", 0));
            assert_eq!(s.message, "Host is inactive");
        }
    }

    #[test]
    fn json_state_fields_are_read_and_garbage_is_none() {
        let line = r#"{"received":"2026-11-01T15:57:00.000+00:00","host":"db","id":3,"time":1.5,"tags":"disk","source":null,"kind":"alert","message":"full","check":"disk-root","state":"open"}"#;
        let r = parse_line(StreamFormat::Json, line).unwrap();
        assert_eq!(r.check.as_deref(), Some("disk-root"));
        assert_eq!(r.state.as_deref(), Some("open"));
        assert_eq!(r.time_ms, 1500);
        assert_eq!(parse_line(StreamFormat::Json, "{oops"), None);
        assert_eq!(parse_line(StreamFormat::Classic, "a%%b"), None);
        assert_eq!(parse_line(StreamFormat::Classic, ""), None);
    }
}
