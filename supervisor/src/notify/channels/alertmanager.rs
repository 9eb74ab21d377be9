//! `alertmanager URL`: problems pushed to Prometheus Alertmanager's v2 API
//! (`POST URL/api/v2/alerts`), one alert per problem, labelled `alertname`
//! (the check), `host`, `check`, `tags`, `kind` and `severity`. An open
//! problem has `startsAt` and no `endsAt` (the policy re-sends it every
//! `resend=`, below Alertmanager's `resolve_timeout`); a cleared one has
//! `endsAt`, which resolves it.

use std::time::Duration;

use conf::Alertmanager;
use serde_json::{Value, json};

use super::{LazyAgent, Sender, http_send};
use crate::notify::payload::{Notification, NotifyEvent, utc_time};
use crate::notify::queue::Delivery;

/// How long a point alert (log line) stays firing in Alertmanager: it has
/// no clearing of its own.
pub const POINT_ALERT_LIFETIME: Duration = Duration::from_secs(300);

pub struct AlertmanagerSender {
    url: String,
    agent: LazyAgent,
}

impl AlertmanagerSender {
    pub fn new(config: Alertmanager, timeout: Duration) -> Self {
        AlertmanagerSender {
            url: format!("{}/api/v2/alerts", config.url),
            agent: LazyAgent::new(timeout, config.ca_file.clone()),
        }
    }
}

/// The alerts of one notification, as Alertmanager's v2 API takes them.
pub fn alerts(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .items
        .iter()
        .map(|item| {
            let mut alert = json!({
                "labels": {
                    "alertname": item.check,
                    "host": item.host,
                    "check": item.check,
                    "tags": item.tags.join(","),
                    "kind": item.kind,
                    "severity": n.severity,
                },
                "annotations": {
                    "summary": item.message,
                },
                "startsAt": utc_time(item.since_ms),
            });
            let ends = match (n.event, item.duration_s) {
                (NotifyEvent::Cleared, Some(d)) => {
                    Some(item.since_ms.saturating_add(d.saturating_mul(1000)))
                }
                (NotifyEvent::Cleared, None) => Some(n.at_ms),
                (NotifyEvent::Point, _) => Some(
                    n.at_ms
                        .saturating_add(POINT_ALERT_LIFETIME.as_millis() as u64),
                ),
                _ => None,
            };
            if let Some(ends) = ends {
                // Alertmanager refuses an end before the start.
                alert["endsAt"] = json!(utc_time(ends.max(item.since_ms)));
            }
            if !n.url.is_empty() {
                alert["generatorURL"] = json!(n.url);
            }
            alert
        })
        .collect();
    Value::Array(alerts)
}

impl Sender for AlertmanagerSender {
    fn send(&mut self, n: &Notification) -> Delivery {
        let body = alerts(n).to_string();
        let agent = match self.agent.get() {
            Ok(a) => a,
            Err(d) => return d,
        };
        http_send(
            agent,
            false,
            &self.url,
            &[],
            "application/json",
            body.as_bytes(),
        )
    }
}
