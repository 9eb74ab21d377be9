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
//! Events of protocol-2 observers carry their check and what they say about
//! its problem. In `436` lines nothing changes but a clearing's message,
//! which becomes `MESSAGE cleared after 5m12s` (see [`duration_text`]). JSON
//! lines of such events gain, after `value`: `check` (the check id, when
//! the event has one), `state` (`open` or `cleared`, on openings, reminders
//! and clearings; a reminder also has `"repeat": true`) and `duration`
//! (whole seconds the problem was open, on `cleared`). The clearing's
//! message has the same suffix in both formats. Protocol-1 events are
//! written exactly as before.
//!
//! Supervisor-raised events (`Host is inactive`, configuration errors, …)
//! have tags `SYSTEM`, id `000000` (0 in JSON) and no source.

use std::fmt::{self, Write as _};
use std::io::Write;

use chrono::{DateTime, Local, SecondsFormat, TimeZone};
use conf::StreamFormat;
use wire::{CheckEvent, Event, EventKind, Transition};

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
    append_line(out, received, host, event, None, None);
}

/// The line of a protocol-2 event: its check and problem state too.
pub fn append_check_event_line(out: &mut Vec<u8>, received: &Received, host: &str, e: &CheckEvent) {
    let cleared;
    let message = match e.transition {
        Transition::Clear { open_ms } => {
            cleared = format!(
                "{} cleared after {}",
                e.event.message,
                duration_text(open_ms / 1000)
            );
            Some(cleared.as_str())
        }
        _ => None,
    };
    append_line(out, received, host, &e.event, message, Some(e));
}

/// `XhYmZs` with leading zero units dropped (`5m12s`, `1h0m3s`, `0s`).
pub fn duration_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn append_line(
    out: &mut Vec<u8>,
    received: &Received,
    host: &str,
    event: &Event,
    message: Option<&str>,
    problem: Option<&CheckEvent>,
) {
    let message = message.unwrap_or(&event.message);
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
                OneLine(message),
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
                message,
                value: event.value,
                check: problem.and_then(|p| p.check.as_deref()),
                state: problem.and_then(|p| p.transition.state()),
                repeat: problem.is_some_and(|p| p.transition == Transition::Repeat),
                duration: match problem.map(|p| p.transition) {
                    Some(Transition::Clear { open_ms }) => Some(open_ms / 1000),
                    _ => None,
                },
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
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    repeat: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<u64>,
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
        append_event_line(out, received, host, &system_event(received, message));
    }
}

/// A supervisor-raised event that opens or clears one of the supervisor's
/// own problems about `host` (its inactivity). The `436` line is the one
/// [`append_system_line`] writes; the JSON line adds `check`, `state` and,
/// on a clearing, `duration`, as for an observer's problem.
pub fn append_system_problem_line(
    out: &mut Vec<u8>,
    received: &Received,
    host: &str,
    message: &str,
    check: &str,
    transition: Transition,
) {
    if received.format == StreamFormat::Classic {
        append_system_line(out, received, host, message);
    } else {
        let e = CheckEvent {
            event: system_event(received, message),
            check: Some(check.to_owned()),
            transition,
        };
        append_line(out, received, host, &e.event, None, Some(&e));
    }
}

fn system_event(received: &Received, message: &str) -> Event {
    Event {
        id: 0,
        time_ms: received.time_ms,
        tags: SYSTEM_TAGS.into(),
        source: None,
        kind: EventKind::System,
        message: message.into(),
        value: None,
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

    fn check_event(transition: Transition) -> CheckEvent {
        let mut e = event();
        e.message = "Root file system nearly full [91]".into();
        CheckEvent {
            event: e,
            check: Some("cmd-1a2b3c4d".into()),
            transition,
        }
    }

    #[test]
    fn durations_drop_leading_zero_units() {
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(312), "5m12s");
        assert_eq!(duration_text(3603), "1h0m3s");
        assert_eq!(duration_text(90_000), "25h0m0s");
    }

    #[test]
    fn classic_clearing_says_how_long_it_was_open_and_opening_is_unchanged() {
        let classic = Received::new(StreamFormat::Classic, &received());
        let mut open = Vec::new();
        append_check_event_line(&mut open, &classic, "web1", &check_event(Transition::Open));
        let mut plain = Vec::new();
        append_event_line(
            &mut plain,
            &classic,
            "web1",
            &check_event(Transition::Open).event,
        );
        assert_eq!(open, plain);
        let mut out = Vec::new();
        let clear = check_event(Transition::Clear { open_ms: 312_400 });
        append_check_event_line(&mut out, &classic, "web1", &clear);
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with(
                "%%/var/log/syslog%%Root file system nearly full [91] cleared after 5m12s\n"
            ),
            "{line}"
        );
    }

    #[test]
    fn json_lines_carry_check_state_repeat_and_duration() {
        let json = Received::new(StreamFormat::Json, &received());
        let line = |t| {
            let mut out = Vec::new();
            append_check_event_line(&mut out, &json, "web1", &check_event(t));
            serde_json::from_slice::<serde_json::Value>(&out).unwrap()
        };
        let open = line(Transition::Open);
        assert_eq!(open["check"], "cmd-1a2b3c4d");
        assert_eq!(open["state"], "open");
        assert!(open.get("repeat").is_none() && open.get("duration").is_none());
        let repeat = line(Transition::Repeat);
        assert_eq!(repeat["state"], "open");
        assert_eq!(repeat["repeat"], true);
        let cleared = line(Transition::Clear { open_ms: 312_999 });
        assert_eq!(cleared["state"], "cleared");
        assert_eq!(cleared["duration"], 312);
        assert_eq!(
            cleared["message"],
            "Root file system nearly full [91] cleared after 5m12s"
        );
        let point = line(Transition::Point);
        assert_eq!(point["check"], "cmd-1a2b3c4d");
        assert!(point.get("state").is_none());
        // Read back like any other line.
        let mut out = Vec::new();
        append_check_event_line(&mut out, &json, "web1", &check_event(Transition::Open));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            host_and_id(StreamFormat::Json, text.trim_end()),
            Some(("web1".to_string(), event().id))
        );
    }

    #[test]
    fn system_problem_lines_carry_the_check_in_json_and_nothing_new_in_436() {
        let line = |format, transition| {
            let mut out = Vec::new();
            let at = Received::new(format, &received());
            append_system_problem_line(
                &mut out,
                &at,
                "db",
                "Host is active again",
                "host-inactive",
                transition,
            );
            String::from_utf8(out).unwrap()
        };
        let cleared = Transition::Clear { open_ms: 125_400 };
        let v: serde_json::Value =
            serde_json::from_str(&line(StreamFormat::Json, cleared)).unwrap();
        assert_eq!(
            (
                &v["check"],
                &v["state"],
                &v["duration"],
                &v["message"],
                &v["id"]
            ),
            (
                &serde_json::json!("host-inactive"),
                &serde_json::json!("cleared"),
                &serde_json::json!(125),
                &serde_json::json!("Host is active again"),
                &serde_json::json!(0)
            )
        );
        let mut plain = Vec::new();
        let at = Received::new(StreamFormat::Classic, &received());
        append_system_line(&mut plain, &at, "db", "Host is active again");
        assert_eq!(line(StreamFormat::Classic, cleared).into_bytes(), plain);
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
