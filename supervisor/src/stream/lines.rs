//! How an event becomes one line of the stream, and how a line written
//! earlier is read back to its host and id.
//!
//! * `436` — `CTIME%%HOST%%ID%%TIMESTAMP%%TAGS%%SOURCE%%MESSAGE`, compatible
//!   with the Python server. CTIME is the supervisor's local receive time as
//!   Python's `time.ctime()` writes it (`Sat Nov  1 15:57:00 2026`: the day
//!   is padded with a space). TIMESTAMP is the Unix second the observer
//!   raised the event. Control characters (newlines, tabs, …) in the host,
//!   tags, source and message are written as spaces so an event is always
//!   one line. A `%%` *inside* a field is left as it is (as the Python server
//!   did): a reader that splits on `%%` should split at most six times, so
//!   that a message containing `%%` stays whole.
//! * `json` — one object a line: `received` (RFC 3339, local time with
//!   milliseconds), `host`, `id` (0 for supervisor-raised events), `time`
//!   (Unix seconds with a millisecond fraction), `tags`, `source` (null when
//!   none), `kind` (`alert`, `metric`, `system`), `message`, and `value` for
//!   metrics. JSON escaping keeps every line whole, so text is written as
//!   received.
//!
//! Supervisor-raised events (`Host is inactive`, configuration errors, …)
//! have tags `SYSTEM`, id `000000` (0 in JSON) and no source.

use std::fmt::{self, Write as _};
use std::io::Write;

use chrono::{DateTime, Local, SecondsFormat, TimeZone};
use conf::StreamFormat;
use wire::{Event, EventKind};

/// Tags of supervisor-raised events.
pub const SYSTEM_TAGS: &str = "SYSTEM";

/// When the supervisor received a datagram, formatted once for every line
/// of it in the stream's format.
pub struct Received {
    format: StreamFormat,
    /// Milliseconds since the epoch.
    time_ms: i64,
    /// `ctime` (436) or RFC 3339 with milliseconds (JSON), local time.
    text: String,
}

impl Received {
    pub fn new<Tz: TimeZone>(format: StreamFormat, at: &DateTime<Tz>) -> Received
    where
        Tz::Offset: std::fmt::Display,
    {
        let text = match format {
            StreamFormat::Classic => at.format(CTIME).to_string(),
            StreamFormat::Json => at.to_rfc3339_opts(SecondsFormat::Millis, false),
        };
        Received {
            format,
            time_ms: at.timestamp_millis(),
            text,
        }
    }
}

/// One line of the stream, formatted and ending in `\n`, appended to `out`.
pub fn append_event_line(out: &mut Vec<u8>, received: &Received, host: &str, event: &Event) {
    match received.format {
        StreamFormat::Classic => {
            let source = event.source.as_deref().unwrap_or("NULL");
            // Writing into a Vec cannot fail.
            let _ = writeln!(
                out,
                "{}%%{}%%{}%%{}%%{}%%{}%%{}",
                received.text,
                OneLine(host),
                event.id,
                event.time_ms.div_euclid(1000),
                OneLine(&event.tags),
                OneLine(source),
                OneLine(&event.message),
            );
        }
        StreamFormat::Json => {
            let line = JsonLine {
                received: &received.text,
                host,
                id: event.id,
                time: event.time_ms as f64 / 1000.0,
                tags: &event.tags,
                source: event.source.as_deref(),
                kind: event.kind.as_str(),
                message: &event.message,
                value: event.value,
            };
            // Strings and numbers into a Vec: cannot fail (a value that is
            // not finite is written as null).
            if serde_json::to_writer(&mut *out, &line).is_ok() {
                out.push(b'\n');
            }
        }
    }
}

/// The JSON form of one line, fields in the documented order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    received: &'a str,
    host: &'a str,
    id: u64,
    time: f64,
    tags: &'a str,
    source: Option<&'a str>,
    kind: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
}

/// Python's `time.ctime()` layout.
const CTIME: &str = "%a %b %e %H:%M:%S %Y";

/// A supervisor-raised event about `host`: tags `SYSTEM`, id 0, no source.
pub fn append_system_line(out: &mut Vec<u8>, received: &Received, host: &str, message: &str) {
    if received.format == StreamFormat::Classic {
        // The Python server wrote supervisor events with id `000000`.
        let _ = writeln!(
            out,
            "{}%%{}%%000000%%{}%%{}%%NULL%%{}",
            received.text,
            OneLine(host),
            received.time_ms.div_euclid(1000),
            SYSTEM_TAGS,
            OneLine(message),
        );
    } else {
        let event = Event {
            id: 0,
            time_ms: received.time_ms,
            tags: SYSTEM_TAGS.into(),
            source: None,
            kind: EventKind::System,
            message: message.into(),
            value: None,
        };
        append_event_line(out, received, host, &event);
    }
}

/// Local time of a wall-clock instant in milliseconds since the epoch.
pub fn local_time(wall_ms: u64) -> DateTime<Local> {
    let ms = i64::try_from(wall_ms).unwrap_or(i64::MAX);
    Local
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| DateTime::<chrono::Utc>::UNIX_EPOCH.with_timezone(&Local))
}

/// Text written on one line: control characters become spaces.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.chars().any(char::is_control) {
            return f.write_str(self.0);
        }
        for c in self.0.chars() {
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

/// The host and id of a line written in `format`; `None` for a line that
/// is not one.
pub fn host_and_id(format: StreamFormat, line: &str) -> Option<(String, u64)> {
    match format {
        StreamFormat::Classic => {
            let mut fields = line.splitn(4, "%%");
            let (_, host, id) = (fields.next()?, fields.next()?, fields.next()?);
            Some((host.to_string(), id.parse().ok()?))
        }
        StreamFormat::Json => {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            Some((v.get("host")?.as_str()?.to_string(), v.get("id")?.as_u64()?))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::FixedOffset;

    pub(crate) fn received() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 1, 15, 57, 0)
            .unwrap()
    }

    pub(crate) fn event() -> Event {
        Event {
            id: 1763740619000004,
            time_ms: 1763740619870,
            tags: "web,error".into(),
            source: Some("/var/log/syslog".into()),
            kind: EventKind::Alert,
            message: "ERROR disk\n/dev/sda1\tfailed".into(),
            value: None,
        }
    }

    #[test]
    fn classic_line_matches_python_ctime_and_flattens_control_characters() {
        let mut out = Vec::new();
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Classic, &received()),
            "web1",
            &event(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Sun Nov  1 15:57:00 2026%%web1%%1763740619000004%%1763740619%%web,error%%/var/log/syslog%%ERROR disk /dev/sda1 failed\n"
        );
    }

    #[test]
    fn classic_system_line_has_id_000000_and_null_source() {
        let mut out = Vec::new();
        append_system_line(
            &mut out,
            &Received::new(StreamFormat::Classic, &received()),
            "web1",
            "Host is inactive",
        );
        let ts = received().timestamp();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "Sun Nov  1 15:57:00 2026%%web1%%000000%%{ts}%%SYSTEM%%NULL%%Host is inactive\n"
            )
        );
    }

    #[test]
    fn json_line_has_every_field() {
        let mut out = Vec::new();
        let mut metric = event();
        metric.kind = EventKind::Metric;
        metric.value = Some(91.0);
        metric.source = None;
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "web1",
            &metric,
        );
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["received"], "2026-11-01T15:57:00.000+00:00");
        assert_eq!(v["host"], "web1");
        assert_eq!(v["id"], 1763740619000004u64);
        assert_eq!(v["time"], 1763740619.87);
        assert_eq!(v["tags"], "web,error");
        assert_eq!(v["source"], serde_json::Value::Null);
        assert_eq!(v["kind"], "metric");
        assert_eq!(v["message"], "ERROR disk\n/dev/sda1\tfailed");
        assert_eq!(v["value"], 91.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"received\":\"2026-11-01T15:57:00.000+00:00\",\"host\":\"web1\",\
             \"id\":1763740619000004,\"time\":1763740619.87,\"tags\":\"web,error\",\
             \"source\":null,\"kind\":\"metric\",\"message\":\"ERROR disk\\n/dev/sda1\\tfailed\",\
             \"value\":91.0}\n",
            "fields in the documented order"
        );
    }

    #[test]
    fn json_alert_has_no_value_and_a_value_that_is_not_finite_is_null() {
        let mut out = Vec::new();
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "web1",
            &event(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v.get("value").is_none());
        let mut metric = event();
        metric.value = Some(f64::NAN);
        out.clear();
        append_event_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "web1",
            &metric,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["value"], serde_json::Value::Null);
    }

    #[test]
    fn json_system_line_has_id_zero() {
        let mut out = Vec::new();
        append_system_line(
            &mut out,
            &Received::new(StreamFormat::Json, &received()),
            "db",
            "Host is active again",
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], 0);
        assert_eq!(v["kind"], "system");
        assert_eq!(v["tags"], "SYSTEM");
        assert!(v.get("value").is_none());
    }
}
