//! `/metrics`: the snapshot in the Prometheus text exposition format 0.0.4,
//! written by hand (a few families; every one has HELP and TYPE so
//! `promtool check metrics` passes).
//!
//! Label values are escaped as the format asks (`\\`, `\"`, `\n`). Per-host
//! series are bounded by the hosts with a configuration file plus the
//! supervisor's cap on hosts without one; no series is labelled by anything
//! an observer chooses freely other than its (validated) host name.

use std::fmt::Write as _;

use super::refusal::{HttpCounts, Refusal};
use crate::fleet::{FleetSnapshot, HostStatus, MAX_METRIC_SERIES_PER_HOST};

/// Most metric-event series (`ax436_metric`) in one scrape; past it the
/// rest are omitted and counted in `ax436_metric_series_omitted`. With the
/// per-host cap ([`MAX_METRIC_SERIES_PER_HOST`]) this bounds what a fleet
/// that invents tags can put into Prometheus.
pub const MAX_METRIC_SERIES: usize = 10_000;

/// The content type of the 0.0.4 text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn float(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        // The format spells these NaN, +Inf, -Inf (Rust writes inf).
        let text = if value.is_nan() {
            "NaN".to_string()
        } else if value == f64::INFINITY {
            "+Inf".to_string()
        } else if value == f64::NEG_INFINITY {
            "-Inf".to_string()
        } else {
            value.to_string()
        };
        self.sample(name, labels, text);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Renders every family; `now_ms` is the wall clock of the scrape.
pub fn render(snapshot: &FleetSnapshot, http: &HttpCounts, now_ms: u64) -> String {
    let mut w = Writer {
        out: String::with_capacity(256 + snapshot.hosts.len() * 256),
    };
    let c = &snapshot.supervisor.counters;
    w.single(
        "ax436_datagrams_received_total",
        "counter",
        "Datagrams received on the supervisor's UDP port.",
        c.datagrams_received,
    );
    w.family(
        "ax436_datagrams_total",
        "counter",
        "Datagrams decoded, by message kind.",
    );
    for (kind, n) in &c.accepted {
        w.sample("ax436_datagrams_total", &[("kind", kind)], n);
    }
    w.family(
        "ax436_datagrams_dropped_total",
        "counter",
        "Datagrams dropped, by reason.",
    );
    for (reason, n) in &c.dropped {
        w.sample("ax436_datagrams_dropped_total", &[("reason", reason)], n);
    }
    w.single(
        "ax436_events_written_total",
        "counter",
        "Observer events appended to the event stream.",
        c.events_written,
    );
    w.single(
        "ax436_duplicate_events_total",
        "counter",
        "Events received again after being written (acknowledged, not written twice).",
        c.duplicates,
    );
    w.single(
        "ax436_system_events_total",
        "counter",
        "Supervisor-raised events written (inactive hosts, configuration errors).",
        c.system_events,
    );
    w.single(
        "ax436_stream_write_failures_total",
        "counter",
        "Failed writes of the event stream.",
        c.stream_write_failures,
    );
    w.single(
        "ax436_acks_sent_total",
        "counter",
        "Acknowledgement datagrams sent.",
        c.acks_sent,
    );
    w.single(
        "ax436_resets_sent_total",
        "counter",
        "Resets sent to observers.",
        c.resets_sent,
    );
    w.single(
        "ax436_config_requests_total",
        "counter",
        "Configuration requests received.",
        c.config_requests,
    );
    w.single(
        "ax436_send_failures_total",
        "counter",
        "Datagrams that could not be sent.",
        c.send_failures,
    );
    w.single(
        "ax436_stream_writable",
        "gauge",
        "1 when the last write of the event stream succeeded.",
        u8::from(snapshot.supervisor.stream_writable),
    );
    if let Some(bytes) = snapshot.supervisor.stream_bytes {
        w.single(
            "ax436_stream_file_bytes",
            "gauge",
            "Size of the event stream file written now.",
            bytes,
        );
    }
    w.family("ax436_hosts", "gauge", "Hosts, by state.");
    for (status, n) in snapshot.counts() {
        w.sample("ax436_hosts", &[("state", status.name())], n);
    }
    w.single(
        "ax436_problems_open",
        "gauge",
        "Open problems over the fleet.",
        snapshot.problems.len(),
    );
    if let Some(channels) = &snapshot.supervisor.notify_channels {
        notify_families(&mut w, channels);
    }

    w.family(
        "ax436_host_up",
        "gauge",
        "1 when the host is up (heard within max_idle), else 0.",
    );
    for h in &snapshot.hosts {
        w.sample(
            "ax436_host_up",
            &[("host", &h.name)],
            u8::from(h.status == HostStatus::Up),
        );
    }
    w.family(
        "ax436_host_last_heard_seconds",
        "gauge",
        "Seconds since the host was last heard (hosts heard since the supervisor started).",
    );
    for h in &snapshot.hosts {
        if let Some(at) = h.last_heard_ms {
            let secs = now_ms.saturating_sub(at) as f64 / 1000.0;
            w.sample("ax436_host_last_heard_seconds", &[("host", &h.name)], secs);
        }
    }
    w.family(
        "ax436_host_spool_backlog",
        "gauge",
        "Events waiting in the host's spool, from its last heartbeat.",
    );
    for h in &snapshot.hosts {
        if let Some(n) = h.spool_backlog {
            w.sample("ax436_host_spool_backlog", &[("host", &h.name)], n);
        }
    }
    w.family(
        "ax436_host_config_errors",
        "gauge",
        "Configuration errors in the host's file.",
    );
    for h in &snapshot.hosts {
        w.sample(
            "ax436_host_config_errors",
            &[("host", &h.name)],
            h.config_errors.len(),
        );
    }
    w.family(
        "ax436_host_open_problems",
        "gauge",
        "Open problems of the host.",
    );
    for h in &snapshot.hosts {
        let n = snapshot
            .problems
            .iter()
            .filter(|p| p.host == h.name)
            .count();
        w.sample("ax436_host_open_problems", &[("host", &h.name)], n);
    }

    w.family(
        "ax436_metric",
        "gauge",
        "Last value of each metric event series (alert_metric, alert_count), by host and tags.",
    );
    let mut written = 0;
    let mut omitted = 0;
    let mut refused = 0;
    for h in &snapshot.hosts {
        refused += h.metric_series_refused;
        for m in &h.metrics {
            if written >= MAX_METRIC_SERIES {
                omitted += 1;
                continue;
            }
            w.float(
                "ax436_metric",
                &[("host", &h.name), ("tags", &m.tags)],
                m.value,
            );
            written += 1;
        }
    }
    w.single(
        "ax436_metric_series_omitted",
        "gauge",
        &format!(
            "Metric event series left out of this scrape (over the cap of {MAX_METRIC_SERIES} a scrape)."
        ),
        omitted,
    );
    w.single(
        "ax436_metric_series_refused_total",
        "counter",
        &format!(
            "New metric event series not kept (over the cap of {MAX_METRIC_SERIES_PER_HOST} per host)."
        ),
        refused,
    );

    w.single(
        "ax436_http_requests_total",
        "counter",
        "HTTP requests answered by the supervisor.",
        http.requests,
    );
    w.family(
        "ax436_http_refusals_total",
        "counter",
        "HTTP requests or connections refused, by reason.",
    );
    for r in Refusal::ALL {
        let n = http.refusals.get(r.reason()).copied().unwrap_or(0);
        w.sample("ax436_http_refusals_total", &[("reason", r.reason())], n);
    }
    w.out
}

/// `ax436_notify_*`: each notification channel's queue and health.
fn notify_families(w: &mut Writer, channels: &[crate::notify::ChannelHealth]) {
    type Field = fn(&crate::notify::ChannelHealth) -> u64;
    let families: [(&str, &str, &str, Field); 5] = [
        (
            "ax436_notify_pending",
            "gauge",
            "Notifications waiting to be delivered, by channel.",
            |c| c.pending,
        ),
        (
            "ax436_notify_delivered_total",
            "counter",
            "Notifications delivered, by channel.",
            |c| c.delivered,
        ),
        (
            "ax436_notify_rejected_total",
            "counter",
            "Notifications the receiver refused for good, by channel.",
            |c| c.rejected,
        ),
        (
            "ax436_notify_expired_total",
            "counter",
            "Notifications given up after retrying too long, by channel.",
            |c| c.expired,
        ),
        (
            "ax436_notify_consecutive_failures",
            "gauge",
            "Failed delivery attempts since the channel's last success (above 0: failing).",
            |c| u64::from(c.consecutive_failures),
        ),
    ];
    for (name, kind, help, field) in families {
        w.family(name, kind, help);
        for c in channels {
            w.sample(name, &[("channel", &c.channel)], field(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{CounterView, HostView};

    fn host(name: &str, status: HostStatus, last_heard_ms: Option<u64>) -> HostView {
        HostView {
            name: name.into(),
            status,
            since_ms: 1_000,
            last_heard_ms,
            address: None,
            has_file: true,
            config_version: Some(7),
            running_version: Some(7),
            config_errors: vec![],
            tags: Default::default(),
            spool_backlog: Some(3),
            uptime_secs: None,
            chosen_supervisor: None,
            protocol: None,
            metrics: vec![],
            metric_series_refused: 0,
            heard_by: Vec::new(),
        }
    }

    fn snapshot() -> FleetSnapshot {
        let mut s = FleetSnapshot::empty("sup");
        s.supervisor.counters = CounterView {
            datagrams_received: 10,
            accepted: vec![("heartbeat".into(), 6), ("events".into(), 3)],
            dropped: vec![("stale".into(), 1)],
            events_written: 5,
            ..CounterView::default()
        };
        s.hosts = vec![
            host("db\"1\\x", HostStatus::Inactive, Some(40_000)),
            host("web1", HostStatus::Up, Some(95_000)),
            host("web2", HostStatus::NeverSeen, None),
        ];
        s.hosts[1].metrics = vec![
            crate::fleet::MetricView {
                tags: "disk,metric".into(),
                value: 91.5,
                at_ms: 1,
            },
            crate::fleet::MetricView {
                tags: "odd".into(),
                value: f64::INFINITY,
                at_ms: 1,
            },
        ];
        s.supervisor.notify_channels = Some(vec![crate::notify::ChannelHealth {
            channel: "ops".into(),
            pending: 2,
            delivered: 7,
            consecutive_failures: 3,
            ..Default::default()
        }]);
        s
    }

    #[test]
    fn notification_channels_have_their_families() {
        let text = render(&snapshot(), &HttpCounts::default(), 100_000);
        assert!(
            text.contains("ax436_notify_pending{channel=\"ops\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("ax436_notify_delivered_total{channel=\"ops\"} 7\n"));
        assert!(text.contains("ax436_notify_consecutive_failures{channel=\"ops\"} 3\n"));
        let mut none = snapshot();
        none.supervisor.notify_channels = None;
        let text = render(&none, &HttpCounts::default(), 100_000);
        assert!(!text.contains("ax436_notify_"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn hosts_have_up_and_age_series() {
        let text = render(&snapshot(), &HttpCounts::default(), 100_000);
        assert!(text.contains("ax436_host_up{host=\"web1\"} 1\n"), "{text}");
        assert!(
            text.contains("ax436_host_up{host=\"db\\\"1\\\\x\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("ax436_host_last_heard_seconds{host=\"web1\"} 5\n"),
            "{text}"
        );
        assert!(
            !text.contains("ax436_host_last_heard_seconds{host=\"web2\"}"),
            "{text}"
        );
        assert!(
            text.contains("ax436_datagrams_total{kind=\"heartbeat\"} 6\n"),
            "{text}"
        );
        assert!(
            text.contains("ax436_datagrams_dropped_total{reason=\"stale\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ax436_hosts{state=\"never seen\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ax436_http_refusals_total{reason=\"cross-site\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn every_sample_belongs_to_a_family_with_help_and_type() {
        let text = render(&snapshot(), &HttpCounts::default(), 100_000);
        let mut helped = std::collections::HashSet::new();
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                helped.insert(rest.split(' ').next().unwrap().to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(helped.contains(name) && typed.contains(name), "{line}");
                let value = line.rsplit(' ').next().unwrap();
                value.parse::<f64>().unwrap();
            }
        }
    }
}
