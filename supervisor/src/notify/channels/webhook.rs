//! `webhook URL`: an HTTP(S) POST (or PUT) of the notification as JSON, or
//! of the channel's `body:` template, with `header:` lines and an
//! `Idempotency-Key` header.

use std::time::Duration;

use conf::{HttpMethod, Webhook};
use serde_json::json;

use super::{LazyAgent, Sender, http_send};
use crate::notify::payload::{Escape, Notification};
use crate::notify::queue::Delivery;

pub struct WebhookSender {
    config: Webhook,
    agent: LazyAgent,
}

impl WebhookSender {
    pub fn new(config: Webhook, timeout: Duration) -> Self {
        let agent = LazyAgent::new(timeout, config.ca_file.clone());
        WebhookSender { config, agent }
    }

    /// The request body: the template rendered, or the default JSON.
    pub fn body(&self, n: &Notification) -> String {
        match &self.config.body {
            Some(template) => {
                let escape = if self.config.content_type.contains("json") {
                    Escape::Json
                } else {
                    Escape::None
                };
                n.render(template, escape)
            }
            None => default_json(n).to_string(),
        }
    }
}

/// The notification with its one-line summary and text, as the default
/// webhook body and the exec channel's stdin.
pub fn default_json(n: &Notification) -> serde_json::Value {
    json!({
        "key": n.key,
        "event": n.event,
        "severity": n.severity,
        "route": n.route,
        "at_ms": n.at_ms,
        "summary": n.summary(),
        "text": n.text(),
        "count": n.count(),
        "more": n.more,
        "url": n.url,
        "items": n.items,
    })
}

impl Sender for WebhookSender {
    fn send(&mut self, n: &Notification) -> Delivery {
        let url = n.render(&self.config.url, Escape::Url);
        let mut headers: Vec<(String, String)> = self
            .config
            .headers
            .iter()
            // A line break in a value would end the header (or make the
            // request invalid): operator text stays on one line.
            .map(|(name, value)| {
                let value = n.render(value, Escape::None).replace(['\r', '\n'], " ");
                (name.clone(), value)
            })
            .collect();
        headers.push(("Idempotency-Key".to_string(), n.key.clone()));
        let body = self.body(n);
        let agent = match self.agent.get() {
            Ok(a) => a,
            Err(d) => return d,
        };
        http_send(
            agent,
            self.config.method == HttpMethod::Put,
            &url,
            &headers,
            &self.config.content_type,
            body.as_bytes(),
        )
    }
}
