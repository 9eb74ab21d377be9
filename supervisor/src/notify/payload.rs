//! What one notification says, as stored in the queue and handed to a
//! channel: the event, and the problems (items) it groups. Also the
//! operator's templates: `{placeholder}` expansion for webhook URLs,
//! headers and bodies, and mail subjects and bodies.
//!
//! A notification can group many problems (everything that opened within a
//! route's `wait`). Placeholders then describe the group: `{host}` is the
//! host when all items share it and `N hosts` otherwise; `{summary}` is one
//! line, `{text}` one line per item.

use std::fmt::Write as _;

use chrono::{Local, SecondsFormat, TimeZone};
use serde::{Deserialize, Serialize};

/// What happened, once per notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    /// Problems opened (after the route's `wait`).
    Opened,
    /// Still open and not acknowledged, after `repeat=`.
    Reminder,
    /// Still open and not acknowledged, after an `escalate=` step.
    Escalated,
    /// Problems cleared; each item says how long it was open.
    Cleared,
    /// Point alerts (log lines), gathered with a count.
    Point,
    /// Everything still open, re-sent to Alertmanager so it does not
    /// resolve the alerts by itself.
    Refresh,
}

impl NotifyEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Opened => "opened",
            NotifyEvent::Reminder => "reminder",
            NotifyEvent::Escalated => "escalated",
            NotifyEvent::Cleared => "cleared",
            NotifyEvent::Point => "point",
            NotifyEvent::Refresh => "refresh",
        }
    }
}

/// One problem (or point alert) in a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub host: String,
    /// The check id; `host` for the host's own state.
    pub check: String,
    pub tags: Vec<String>,
    /// `alert`, `metric`, `system` or `host`.
    pub kind: String,
    /// `open`, `cleared`, `point`, `inactive`, `stopped`.
    pub state: String,
    pub message: String,
    /// When it opened (or the first point alert), ms since the Unix epoch.
    pub since_ms: u64,
    /// How long it was open, on clearings.
    pub duration_s: Option<u64>,
    /// Point alerts: how many were gathered into this item.
    pub count: u64,
}

/// One notification for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Idempotency key: the same notification always carries the same key,
    /// also when it is delivered twice.
    pub key: String,
    pub event: NotifyEvent,
    pub severity: String,
    /// `FILE:LINE` of the route that sent it.
    pub route: String,
    /// When it was made, ms since the Unix epoch.
    pub at_ms: u64,
    pub items: Vec<Item>,
    /// Point alerts gathered beyond the items listed.
    pub more: u64,
    /// Link to the status page, when one is configured.
    pub url: String,
}

/// How placeholder values are written into a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    None,
    /// Inside a JSON string: quotes, backslashes and control characters.
    Json,
    /// Inside a URL: percent-encoded.
    Url,
}

/// Every placeholder, for the documentation and for unknown-name checks.
pub const PLACEHOLDERS: &[&str] = &[
    "host", "check", "tags", "kind", "state", "event", "action", "severity", "message", "since",
    "duration", "count", "summary", "text", "url", "key", "route",
];

impl Notification {
    /// `{host}` etc.: the shared value, or `N hosts` when items differ.
    fn shared(&self, what: &str, value: impl Fn(&Item) -> String) -> String {
        let mut values: Vec<String> = self.items.iter().map(value).collect();
        values.sort();
        values.dedup();
        match values.len() {
            0 => String::new(),
            1 => values.remove(0),
            n => format!("{n} {what}"),
        }
    }

    /// Total point alerts or problems this notification stands for.
    pub fn count(&self) -> u64 {
        self.items.iter().map(|i| i.count.max(1)).sum::<u64>() + self.more
    }

    /// The value of one placeholder; `None` for an unknown name (left as
    /// written, so JSON braces in a body pass through).
    pub fn placeholder(&self, name: &str) -> Option<String> {
        let first = self.items.first();
        Some(match name {
            "host" => self.shared("hosts", |i| i.host.clone()),
            "check" => self.shared("checks", |i| i.check.clone()),
            "tags" => {
                let mut tags: Vec<&str> = self
                    .items
                    .iter()
                    .flat_map(|i| i.tags.iter().map(String::as_str))
                    .collect();
                tags.sort_unstable();
                tags.dedup();
                tags.join(",")
            }
            "kind" => self.shared("kinds", |i| i.kind.clone()),
            "state" => self.shared("states", |i| i.state.clone()),
            "event" => self.event.as_str().to_string(),
            // PagerDuty's word; every other receiver can use {state}.
            "action" => match self.event {
                NotifyEvent::Cleared => "resolve",
                _ => "trigger",
            }
            .to_string(),
            "severity" => self.severity.clone(),
            "message" => match self.items.len() {
                1 => first.map(|i| i.message.clone()).unwrap_or_default(),
                _ => self.summary(),
            },
            "since" => first.map(|i| local_time(i.since_ms)).unwrap_or_default(),
            "duration" => first
                .and_then(|i| i.duration_s)
                .map(human_duration)
                .unwrap_or_default(),
            "count" => self.count().to_string(),
            "summary" => self.summary(),
            "text" => self.text(),
            "url" => self.url.clone(),
            "key" => self.key.clone(),
            "route" => self.route.clone(),
            _ => return None,
        })
    }

    /// One line: `OPEN web1 disk: Root file system nearly full` or
    /// `3 problems opened on 2 hosts: ...`.
    pub fn summary(&self) -> String {
        if let [item] = self.items.as_slice()
            && self.more == 0
        {
            return item_line(self.event, item);
        }
        let hosts = self.shared("hosts", |i| i.host.clone());
        let what = match self.event {
            NotifyEvent::Point => format!("{} alerts", self.count()),
            _ => format!("{} problems", self.items.len()),
        };
        let verb = match self.event {
            NotifyEvent::Opened => "opened",
            NotifyEvent::Reminder => "still open",
            NotifyEvent::Escalated => "open, escalated",
            NotifyEvent::Cleared => "cleared",
            NotifyEvent::Point => "raised",
            NotifyEvent::Refresh => "open",
        };
        let mut line = format!("{what} {verb} on {hosts}:");
        for (i, item) in self.items.iter().take(3).enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            let _ = write!(line, "{sep}{} {}", item.host, item.message);
        }
        if self.items.len() > 3 {
            let _ = write!(line, "; …");
        }
        line
    }

    /// One line per item, for mail bodies and `{text}`.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for item in &self.items {
            text.push_str(&item_line(self.event, item));
            let _ = write!(text, " (since {})", local_time(item.since_ms));
            text.push('\n');
        }
        if self.more > 0 {
            let _ = writeln!(text, "… and {} more", self.more);
        }
        if !self.url.is_empty() {
            let _ = writeln!(text, "{}", self.url);
        }
        text
    }

    /// Expands `{name}` placeholders in `template`; unknown names and lone
    /// braces stay as written.
    pub fn render(&self, template: &str, escape: Escape) -> String {
        let mut out = String::with_capacity(template.len() + 64);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name_len = after
                .bytes()
                .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
                .count();
            match (
                after.as_bytes().get(name_len),
                self.placeholder(&after[..name_len]),
            ) {
                (Some(b'}'), Some(value)) if name_len > 0 => {
                    push_escaped(&mut out, &value, escape);
                    rest = &after[name_len + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

fn item_line(event: NotifyEvent, item: &Item) -> String {
    let word = match (event, item.state.as_str()) {
        (NotifyEvent::Cleared, _) => "CLEARED",
        (NotifyEvent::Point, _) => "ALERT",
        (_, "inactive") => "INACTIVE",
        (_, "stopped") => "STOPPED",
        (NotifyEvent::Reminder, _) => "STILL OPEN",
        _ => "OPEN",
    };
    let mut line = format!("{word} {} {}: {}", item.host, item.check, item.message);
    if let Some(d) = item.duration_s {
        let _ = write!(line, " (open for {})", human_duration(d));
    }
    if item.count > 1 {
        let _ = write!(line, " (×{})", item.count);
    }
    line
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(value),
        Escape::Json => {
            // serde_json writes a quoted string; the quotes are the template's.
            let quoted = serde_json::Value::String(value.to_string()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        Escape::Url => {
            for b in value.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(b as char);
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
    }
}

/// `5m12s`, `3h0m`, `2d4h`: the way the stream writes durations.
pub fn human_duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// RFC 3339 in the supervisor's local time zone.
pub fn local_time(ms: u64) -> String {
    Local
        .timestamp_millis_opt(i64::try_from(ms).unwrap_or(i64::MAX))
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// RFC 3339 in UTC, for Alertmanager.
pub fn utc_time(ms: u64) -> String {
    chrono::Utc
        .timestamp_millis_opt(i64::try_from(ms).unwrap_or(i64::MAX))
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(host: &str, check: &str, message: &str) -> Item {
        Item {
            host: host.into(),
            check: check.into(),
            tags: vec!["disk".into(), "web".into()],
            kind: "alert".into(),
            state: "open".into(),
            message: message.into(),
            since_ms: 0,
            duration_s: None,
            count: 1,
        }
    }

    fn notification(items: Vec<Item>) -> Notification {
        Notification {
            key: "k1".into(),
            event: NotifyEvent::Opened,
            severity: "warning".into(),
            route: "notify.conf:4".into(),
            at_ms: 0,
            items,
            more: 0,
            url: String::new(),
        }
    }

    #[test]
    fn placeholders_in_a_json_body_are_escaped_and_braces_kept() {
        let n = notification(vec![item("web1", "disk", "say \"full\"\n")]);
        let body = n.render(
            "{\"text\": \"{summary}\", \"host\": \"{host}\", \"x\": {unknown}}",
            Escape::Json,
        );
        let v: serde_json::Value = serde_json::from_str(&body.replace("{unknown}", "1")).unwrap();
        assert_eq!(v["text"], "OPEN web1 disk: say \"full\"\n");
        assert_eq!(v["host"], "web1");
    }

    #[test]
    fn grouped_values_name_how_many() {
        let n = notification(vec![item("web1", "disk", "a"), item("web2", "disk", "b")]);
        assert_eq!(
            n.render("{host}/{check}/{count}", Escape::None),
            "2 hosts/disk/2"
        );
        assert!(
            n.summary()
                .starts_with("2 problems opened on 2 hosts: web1 a; web2 b")
        );
    }

    #[test]
    fn url_values_are_percent_encoded_and_durations_human() {
        let mut n = notification(vec![item("web 1", "disk", "a")]);
        n.event = NotifyEvent::Cleared;
        n.items[0].duration_s = Some(312);
        assert_eq!(n.render("/x/{host}", Escape::Url), "/x/web%201");
        assert_eq!(
            n.render("{duration} {action}", Escape::None),
            "5m12s resolve"
        );
        assert_eq!(human_duration(3 * 86_400 + 7200), "3d2h");
        assert_eq!(utc_time(1_000), "1970-01-01T00:00:01.000Z");
    }
}
