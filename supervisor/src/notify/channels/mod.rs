//! Channels: thin senders that take one notification to one receiver and
//! say how it went ([`Delivery`]). They block (a worker thread per channel
//! calls them) and never retry themselves: the queue does.

pub mod alertmanager;
pub mod email;
pub mod exec;
pub mod webhook;

use conf::{Channel, ChannelKind};

use super::payload::Notification;
use super::queue::Delivery;

/// One channel's sender.
pub trait Sender: Send {
    fn send(&mut self, notification: &Notification) -> Delivery;
}

/// The sender for a configured channel.
pub fn sender_for(channel: &Channel) -> Box<dyn Sender> {
    match &channel.kind {
        ChannelKind::Webhook(w) => {
            Box::new(webhook::WebhookSender::new(w.clone(), channel.timeout))
        }
        ChannelKind::Alertmanager(a) => Box::new(alertmanager::AlertmanagerSender::new(
            a.clone(),
            channel.timeout,
        )),
        ChannelKind::Email(e) => Box::new(email::EmailSender::new(e.clone(), channel.timeout)),
        ChannelKind::Exec(c) => Box::new(exec::ExecSender::new(c.clone(), channel.timeout)),
    }
}

/// What an HTTP status means for the queue: 2xx delivered; 408, 429 and
/// 5xx worth retrying; any other refusal never going to work.
pub(crate) fn http_delivery(status: u16, body: &str) -> Delivery {
    let why = || {
        let body: String = body.chars().take(200).collect();
        format!("HTTP {status}: {}", body.trim())
    };
    match status {
        200..=299 => Delivery::Delivered,
        408 | 429 | 500..=599 => Delivery::Retry(why()),
        _ => Delivery::Rejected(why()),
    }
}

/// An agent with this channel's time-out, not turning HTTP statuses into
/// errors (the queue decides what a status means), trusting only the CAs
/// of `ca_file` when given. The file is read here, so a failure is a
/// delivery to retry: the operator may fix the file meanwhile.
pub(crate) fn http_agent(
    timeout: std::time::Duration,
    ca_file: Option<&std::path::Path>,
) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    if let Some(path) = ca_file {
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&read_ca_file(path)?))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// The certificates of a PEM file; one without any is an error here rather
/// than a silent "unknown issuer" at the first connection.
pub(crate) fn read_ca_file(
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "ca_file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// An agent built at the first delivery (and again after a failure to
/// build it).
pub(crate) struct LazyAgent {
    timeout: std::time::Duration,
    ca_file: Option<std::path::PathBuf>,
    agent: Option<ureq::Agent>,
}

impl LazyAgent {
    pub(crate) fn new(timeout: std::time::Duration, ca_file: Option<std::path::PathBuf>) -> Self {
        LazyAgent {
            timeout,
            ca_file,
            agent: None,
        }
    }

    pub(crate) fn get(&mut self) -> Result<&ureq::Agent, Delivery> {
        if self.agent.is_none() {
            let agent =
                http_agent(self.timeout, self.ca_file.as_deref()).map_err(Delivery::Retry)?;
            self.agent = Some(agent);
        }
        self.agent
            .as_ref()
            .ok_or_else(|| Delivery::Retry("no HTTP agent".into()))
    }
}

/// POSTs (or PUTs) `body`, returning the delivery outcome.
pub(crate) fn http_send(
    agent: &ureq::Agent,
    put: bool,
    url: &str,
    headers: &[(String, String)],
    content_type: &str,
    body: &[u8],
) -> Delivery {
    let mut request = if put { agent.put(url) } else { agent.post(url) };
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match request.content_type(content_type).send(body) {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(4096)
                .read_to_string()
                .unwrap_or_default();
            http_delivery(status, &text)
        }
        // Connection refused, time-out, bad name: the receiver may be back
        // later. A URL that cannot be a request never will.
        Err(ureq::Error::BadUri(e)) => Delivery::Rejected(format!("bad URL: {e}")),
        // A request that cannot be built (a header value it refuses) will
        // not build next time either.
        Err(ureq::Error::Http(e)) => Delivery::Rejected(format!("bad request: {e}")),
        Err(e) => Delivery::Retry(e.to_string()),
    }
}
